"""Which cache files the running xrootd has open, from /proc/<pid>/fd of its processes.

XrdPfc keeps a file's data and .cinfo open (File::Open, one fd each) from the first client's attach until the last
detaches and its blocks are synced, also while it writes the blocks it fetches: "open" means an fd of an xrootd
process refers to the file's inode (data or cinfo). Inodes, not names: a file renamed while open is still open.
The cache's processes are found by name (comm "xrootd"); every xrootd on the host counts, so another cache's
open files are also left alone, which is never unsafe. Reading another user's /proc/<pid>/fd needs root or
that user: an xrootd whose fds cannot be read raises OpenFilesUnknown, and nothing is moved.
"""

from __future__ import annotations

import os

Inode = tuple[int, int]  # (st_dev, st_ino)


class OpenFilesUnknown(Exception):
    """An xrootd process's open files cannot be read: which files are open is unknown."""


def xrootd_pids(proc: str = "/proc") -> list[int]:
    pids = []
    for name in os.listdir(proc):
        if not name.isdigit():
            continue
        try:
            with open(f"{proc}/{name}/comm") as f:
                if f.read().strip() == "xrootd":
                    pids.append(int(name))
        except OSError:  # gone meanwhile
            continue
    return pids


def open_inodes(proc: str = "/proc") -> set[Inode]:
    """The (dev, inode) of every regular file an xrootd process has open now."""
    inodes: set[Inode] = set()
    for pid in xrootd_pids(proc):
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except FileNotFoundError:
            continue  # exited: it holds nothing
        except PermissionError:
            raise OpenFilesUnknown(f"cannot read {fd_dir} (run as root or as xrootd's user)") from None
        for fd in fds:
            try:
                st = os.stat(f"{fd_dir}/{fd}")  # follows the magic link to the open file itself
            except OSError:
                continue  # closed meanwhile, or a socket/pipe without a stat-able target
            inodes.add((st.st_dev, st.st_ino))
    return inodes


def inode(path: os.PathLike | str) -> Inode | None:
    """The inode path leads to (through links); None when nothing is there."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None
    return (st.st_dev, st.st_ino)
