"""Cache integrity: what fsck, evict and verify-origin share. A stable interface; import from these modules.

target.py    which cache: `add_arguments(parser, origin=False)` adds --config/--root/--data/--meta/--user
             (and --origin); `from_args(args) -> Target` (raises TargetError: exit 2); `from_config(dir)`;
             `default_config()`: without flags, the installed config the pod's mounted ConfigMap names.
             Target has roots (namespace roots), disks (data/meta disks), user/uid, origins (root -> the instance's
             pss.origin host:port, or --origin), configs (root -> the instance's rendered xrootd config, with
             --config), run (RunDir or None), reserved (names that are not cache files).
fsck.py      `check(target, prefix) -> Report` (findings by FINDINGS), `repair(target, report)`.
commands.py  the fsck and evict commands (output lines, exit codes, fsck's state file paths.run/fsck.json).
origin.py    asking an instance's origin with its own login: `Origin.probe()`, `Origin.stat(path) -> Stat | None`.
verify.py    the verify-origin command: cached files compared with the origin, mismatches evicted.

The on-disk cache they work on (layout, open files, the race-safe remover, the walker) is cachemgr/xcache.
"""
