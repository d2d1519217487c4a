"""Bytes and inodes, total and free, of every data and meta disk (statvfs at scrape time: it is cheap).

Inodes matter as much as bytes: XRootD's purge only looks at bytes, and a cache out of inodes wedges.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric


class FilesystemCollector:
    def __init__(self, disks: dict[str, list[str]]):
        """disks: role ("data", "meta") -> mount points."""
        self.disks = disks

    def collect(self) -> Iterator[Metric]:
        labels = ["path", "role"]
        families = {
            "size": GaugeMetricFamily("cachemgr_filesystem_size_bytes", "Filesystem size.", labels=labels),
            "avail": GaugeMetricFamily(
                "cachemgr_filesystem_avail_bytes", "Bytes free for the unprivileged xrootd user.", labels=labels
            ),
            "files": GaugeMetricFamily("cachemgr_filesystem_files", "Inodes in the filesystem.", labels=labels),
            "files_free": GaugeMetricFamily("cachemgr_filesystem_files_free", "Free inodes.", labels=labels),
            "up": GaugeMetricFamily("cachemgr_filesystem_up", "1 when statvfs works on the disk.", labels=labels),
        }
        for role, paths in self.disks.items():
            for path in paths:
                try:
                    st = os.statvfs(path)
                except OSError:
                    families["up"].add_metric([path, role], 0)
                    continue
                families["up"].add_metric([path, role], 1)
                families["size"].add_metric([path, role], st.f_blocks * st.f_frsize)
                families["avail"].add_metric([path, role], st.f_bavail * st.f_frsize)
                families["files"].add_metric([path, role], st.f_files)
                families["files_free"].add_metric([path, role], st.f_favail)
        yield from families.values()
