"""prometheus_client custom collectors, one concern each; they yield metric families from a snapshot at scrape time."""


def prefix(path: str, depth: int) -> str:
    """The namespace prefix of a file path, at most depth directories deep: label values stay bounded."""
    parts = [p for p in path.split("/")[:-1] if p][:depth]
    return "/" + "/".join(parts)
