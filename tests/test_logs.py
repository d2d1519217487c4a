"""The log relay: every program's lines reach stdout once, in order, across supervisord's rotations."""

from __future__ import annotations

import io
import time
from pathlib import Path

from cachemgr.runtime.logs import Relay


def relayed(log_dir: Path, steps, skip_existing: bool = False) -> list[str]:
    out = io.StringIO()
    relay = Relay(log_dir, out, interval=0.01, skip_existing=skip_existing)
    relay.start()
    try:
        for step in steps:
            step()
            time.sleep(0.1)  # several relay rounds
    finally:
        relay.stop.set()
        relay.join(5)
    return out.getvalue().splitlines()


def test_lines_written_before_a_rotation_are_not_lost(tmp_path: Path):
    log = tmp_path / "xrootd-noauth.log"

    def write(text: str):
        return lambda: log.open("a").write(text)

    def rotate():  # as supervisord does: rename, then a new file (the old one got more lines in between)
        log.rename(tmp_path / "xrootd-noauth.log.1")
        with open(tmp_path / "xrootd-noauth.log.1", "a") as old:
            old.write("last full line\nunfinished")
        log.write_text("first of the new file\n")

    lines = relayed(tmp_path, [write("one\n"), write("two\nhalf"), write(" done\n"), rotate, write("after\n")])
    assert lines == [
        "[xrootd-noauth] one",
        "[xrootd-noauth] two",
        "[xrootd-noauth] half done",
        "[xrootd-noauth] last full line",
        "[xrootd-noauth] unfinished",
        "[xrootd-noauth] first of the new file",
        "[xrootd-noauth] after",
    ]


def test_lines_from_before_the_relay_started_are_not_repeated(tmp_path: Path):
    """A node started again in the same log dir (demo --fleet's SIGUSR1) relays only what its new run writes."""
    log = tmp_path / "cmsd-noauth.log"
    log.write_text("from the last run\n")

    def more():
        return lambda: log.open("a").write("from this run\n")

    assert relayed(tmp_path, [more()], skip_existing=True) == ["[cmsd-noauth] from this run"]
    # A relay started after its programs (the demo fleet's redirector) relays what they wrote before it.
    lines = ["from the last run", "from this run", "from this run"]
    assert relayed(tmp_path, [more()]) == [f"[cmsd-noauth] {x}" for x in lines]
