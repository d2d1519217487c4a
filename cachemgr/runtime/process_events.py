"""`cachemgr process-events`: a supervisord event listener counting every program exit.

Counting from supervisord's own PROCESS_STATE_EXITED events is exact, where sampling pids would miss a
crash-and-restart that happens between two looks. The exporter publishes the counts.
Protocol: stdout belongs to supervisord (READY / RESULT), so nothing else may be printed there.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from supervisor import childutils

from cachemgr.core import files


def record(counts: dict[str, dict[str, Any]], headers: dict[str, str]) -> None:
    entry = counts.setdefault(headers["processname"], {"exits": 0, "unexpected_exits": 0, "last_exit": None})
    entry["exits"] += 1
    entry["unexpected_exits"] += headers.get("expected") == "0"
    entry["last_exit"] = time.time()


def listen(state: Path) -> int:
    counts: dict[str, dict[str, Any]] = {}
    files.install_json(state, {"programs": counts})
    while True:
        headers, payload = childutils.listener.wait(sys.stdin, sys.stdout)
        if headers["eventname"] == "PROCESS_STATE_EXITED":
            record(counts, childutils.get_headers(payload))
            files.install_json(state, {"programs": counts})
        childutils.listener.ok(sys.stdout)
