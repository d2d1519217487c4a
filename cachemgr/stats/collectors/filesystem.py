"""Bytes and inodes, total and free, of every data and meta disk (statvfs at scrape time: it is cheap).

Inodes matter as much as bytes: XRootD's purge only looks at bytes, and a cache out of inodes wedges.
A disk statvfs fails on (unmounted, I/O errors) is itself news, per disk: cachemgr_filesystem_up says which one,
and the other disks are still reported.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

from prometheus_client.core import Metric

from cachemgr.stats.collectors import Collector, Family
from cachemgr.stats.settings import Settings

LABELS = ("path", "role")
SIZE = Family("cachemgr_filesystem_size_bytes", "Filesystem size.", LABELS)
AVAIL = Family("cachemgr_filesystem_avail_bytes", "Bytes free for the unprivileged xrootd user.", LABELS)
FILES = Family("cachemgr_filesystem_files", "Inodes in the filesystem.", LABELS)
FILES_FREE = Family("cachemgr_filesystem_files_free", "Free inodes.", LABELS)
UP = Family("cachemgr_filesystem_up", "1 when statvfs works on the disk.", LABELS)


class FilesystemCollector(Collector):
    FAMILIES = (SIZE, AVAIL, FILES, FILES_FREE, UP)

    def __init__(self, disks: dict[str, list[str]]):
        """disks: role ("data", "meta") -> mount points."""
        self.disks = disks

    @classmethod
    def from_settings(cls, settings: Settings) -> FilesystemCollector:
        data = settings.data_disks or (settings.cache_root,)
        return cls({"data": [str(d) for d in data], "meta": [str(d) for d in settings.meta_disks]})

    def collect(self) -> Iterator[Metric]:
        size, avail, files, files_free, up = SIZE(), AVAIL(), FILES(), FILES_FREE(), UP()
        for role, paths in self.disks.items():
            for path in paths:
                try:
                    st = os.statvfs(path)
                except OSError:
                    up.add_metric([path, role], 0)
                    continue
                up.add_metric([path, role], 1)
                size.add_metric([path, role], st.f_blocks * st.f_frsize)
                avail.add_metric([path, role], st.f_bavail * st.f_frsize)
                files.add_metric([path, role], st.f_files)
                files_free.add_metric([path, role], st.f_favail)
        yield from (size, avail, files, files_free, up)
