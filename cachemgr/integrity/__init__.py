"""Cache integrity: what fsck, evict and verify-origin share. A stable interface; import from these modules.

target.py    which cache: `add_arguments(parser, origin=False)` adds --config/--root/--data/--meta/--user
             (and --origin); `from_args(args) -> Target` (raises TargetError: exit 2); `from_config(dir)`;
             `default_config()`: without flags, the installed config the pod's mounted ConfigMap names.
             Target has roots (namespace roots), disks (data/meta disks), user/uid, origins (root -> the instance's
             pss.origin host:port, or --origin), configs (root -> the instance's rendered xrootd config, with
             --config), run (RunDir or None), reserved (names that are not cache files).
layout.py    the 5.5.3 on-disk layout: `cached_files(target, prefix="/") -> Iterator[CachedFile]` (root, path;
             .data and .cinfo: names in the namespace, links on multi-disk nodes); `normalize(prefix)`
             (ValueError when not absolute), `matches(path, prefix)`, TEMP_SUFFIXES.
openfiles.py which files xrootd has open: `open_inodes() -> set[(dev, ino)]` from /proc/<pid>/fd of every
             xrootd (raises OpenFilesUnknown when it cannot tell), `inode(path)`.
remove.py    `Remover(target, quarantine, dry_run=False).remove(cached_files) -> Iterator[Outcome]` (files,
             bytes, skipped: the reason when the file is open), race-safe against xrootd opening it meanwhile,
             a chunk of files at a time; `.remove_strays(paths)` for files outside the namespace;
             quarantine=False deletes (evict). `prune(target, max_bytes, max_age)` keeps the quarantine bounded.
fsck.py      `check(target, prefix) -> Report` (findings by KINDS), `repair(target, report)`.
commands.py  the fsck and evict commands (output lines, exit codes, fsck's state file paths.run/fsck.json).
origin.py    asking an instance's origin with its own login: `Origin.probe()`, `Origin.stat(path) -> Stat | None`.
verify.py    the verify-origin command: cached files compared with the origin, mismatches evicted with remove.py.
"""

QUARANTINE = ".cachemgr-quarantine"  # per disk: fsck --repair moves bad files here (a rename stays on the disk)
