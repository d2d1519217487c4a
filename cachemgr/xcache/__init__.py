"""The cache as XRootD keeps it on disk: .cinfo files, the namespace and multi-disk layout, walking it, and
removing files from it safely while xrootd runs."""
