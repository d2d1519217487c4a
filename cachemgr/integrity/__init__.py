"""Cache integrity: what fsck, evict and verify-origin share. A stable interface; import from these modules.

target.py    which cache: `add_arguments(parser, origin=False)` adds --config/--root/--data/--meta/--user
             (and --origin); `from_args(args) -> Target` (raises TargetError: exit 2). Target has roots
             (namespace roots), disks (data/meta disks), user/uid, origin(root), run (RunDir or None).
layout.py    the 5.5.3 on-disk layout: `cached_files(target, prefix="/") -> Iterator[CachedFile]` (root, path;
             .data and .cinfo: names in the namespace, links on multi-disk nodes); `normalize(prefix)`
             (ValueError when not absolute), `matches(path, prefix)`, TEMP_SUFFIXES.
openfiles.py which files xrootd has open: `open_inodes() -> set[(dev, ino)]` from /proc/<pid>/fd of every
             xrootd (raises OpenFilesUnknown when it cannot tell), `inode(path)`.
remove.py    `Remover(target, quarantine, dry_run=False).remove(cached_file) -> Outcome` (files, bytes,
             skipped: the reason when the file is open), race-safe against xrootd opening it meanwhile;
             `prune(target, max_bytes, max_age)` keeps the quarantine bounded.
"""
