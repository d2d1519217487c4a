"""Cache statistics: .cinfo files, monitoring streams and the Prometheus exporter built on them."""
