"""Fuzzing the exporter's parsers: no input makes a packet handler raise, and bad input is counted.

Each fuzz test runs FUZZ_EXAMPLES inputs: CACHEMGR_FUZZ_EXAMPLES=100000 for the long run (bench/README.md).
Also checks the cache scan's fast paths (cinfo.summary, the worker processes) against the plain parser.
"""

from __future__ import annotations

import json
import os
import random
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.metrics import collect

from cachemgr.stats.collectors.gstream import GstreamCollector
from cachemgr.stats.collectors.summary import SummaryCollector
from cachemgr.stats.scan import CacheScan, Totals
from cachemgr.stats.streams import BadPacket, GstreamTotals, SummaryTotals, parse_summary, prefix
from cachemgr.xcache import cinfo, synth
from cachemgr.xcache.synth import GSTREAM, summary_packet

FUZZ_EXAMPLES = int(os.environ.get("CACHEMGR_FUZZ_EXAMPLES", "200"))
FUZZ = settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))

# What breaks parsers: markup, escapes, numbers out of range, deep nesting, NULs, bad UTF-8.
TOKENS = [
    b"<", b">", b"/>", b"&", b"&amp;", b"&#0;", b"]]>", b"<![CDATA[", b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;",
    b'"', b"'", b"=", b"\0", b"\n", b"\xff", b"\xc3", b"-1", b"1e309", b"-0", b"NaN", b"Infinity", b"-Infinity",
    b"9" * 400, b"0.5", b"null", b"true", b"[]", b"{}", b"[" * 5000, b"{" * 5000, b'{"a":' * 3000, b",", b":",
    b'"lfn"', b'"b_hit"', b'"file_close"', b"<stats>", b"</stats>", b"<statistics>", b"\\u0000", b"\\ud800",
]  # fmt: skip
EDITS = st.lists(
    st.tuples(st.integers(0, 1 << 16), st.one_of(st.integers(0, 255), st.sampled_from(TOKENS)), st.booleans()),
    max_size=6,
)


def mutate(data: bytes, edits: list[tuple[int, int | bytes, bool]], cut: int | None) -> bytes:
    """Overwrite a byte, or insert/replace a token, at each position; then maybe truncate."""
    out = bytearray(data)
    for pos, what, insert in edits:
        pos %= len(out) + 1
        if isinstance(what, int):
            out[pos : pos + 1] = bytes([what])
        else:
            out[pos : pos if insert else pos + len(what)] = what
    return bytes(out if cut is None else out[: cut % (len(out) + 1)])


def check_summary(data: bytes) -> None:
    try:
        parse_summary(data)
        bad = 0
    except BadPacket as e:
        assert str(e)
        bad = 1
    totals = SummaryTotals()
    totals.handle(data)
    totals.handle(summary_packet(tod=99_999))  # a good packet after it still counts
    m = collect(SummaryCollector(totals))
    assert m["cachemgr_report_bad_packets_total", ()] == bad
    assert m["xrootd_monitoring_packets_received_total", ()] == 2


def check_gstream(data: bytes) -> None:
    totals = GstreamTotals(depth=2)
    totals.handle(data)
    totals.handle(GSTREAM.encode())
    m = collect(GstreamCollector(totals))
    assert m["cachemgr_gstream_packets_total", ()] == 2
    assert m["cachemgr_gstream_bad_packets_total", ()] in (0, 1)
    if m["cachemgr_gstream_bad_packets_total", ()] == 0:
        assert m["cachemgr_gstream_file_close_events_total", ()] >= 3


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_summary_random_bytes(data: bytes):
    check_summary(data)


@FUZZ
@given(st.integers(0, 2**32 - 1), EDITS, st.one_of(st.none(), st.integers(0, 1 << 16)))
def test_fuzz_summary_mutated_packets(seed: int, edits, cut: int | None):
    rng = random.Random(seed)
    good = summary_packet(pid=rng.randrange(1, 1 << 22), tod=rng.randrange(1 << 31), rx=rng.randrange(1 << 62))
    check_summary(mutate(good, edits, cut))


@FUZZ
@given(st.binary(max_size=2000))
def test_fuzz_gstream_random_bytes(data: bytes):
    check_gstream(data)


@FUZZ
@given(EDITS, st.one_of(st.none(), st.integers(0, 1 << 16)))
def test_fuzz_gstream_mutated_packets(edits, cut: int | None):
    check_gstream(mutate(GSTREAM.encode(), edits, cut))


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


@FUZZ
@given(
    st.lists(st.dictionaries(st.sampled_from(["event", "lfn", "b_hit", "b_miss", "b_bypass"]), JSON), max_size=4),
    st.lists(st.booleans(), min_size=4, max_size=4),
)
def test_fuzz_gstream_events_with_any_json_values(events: list[dict], closes: list[bool]):
    """Well-formed JSON lines whose fields have any type or value (json.dumps writes Infinity and NaN)."""
    for e, close in zip(events, closes, strict=False):  # most events with an "event" key become file_close
        if "event" in e and close:
            e["event"] = "file_close"
    data = "\n".join(json.dumps(e) for e in [{"code": "g"}, *events]).encode() + b"\0"
    totals = GstreamTotals(depth=2)
    totals.handle(data)
    m = collect(GstreamCollector(totals))
    closes = [e for e in events if e.get("event") == "file_close"]
    good = all(
        isinstance(e.get("lfn"), str)
        and all(isinstance(e.get(k), (int, float, str)) for k in ("b_hit", "b_miss", "b_bypass"))
        for e in closes
    )
    assert m["cachemgr_gstream_packets_total", ()] == 1
    if not good:
        assert m["cachemgr_gstream_bad_packets_total", ()] == 1
        assert m["cachemgr_gstream_file_close_events_total", ()] == 0


def test_deep_nesting_and_huge_numbers_are_bad_packets():
    c = GstreamTotals(depth=2)
    for data in (
        b"[" * 100_000,
        b'{"code":"g"}\n' + b'{"a":' * 50_000,
        b'{"code":"g"}\n{"event":"file_close","lfn":"/a/b","b_hit":Infinity,"b_miss":0,"b_bypass":0}',
        b'{"code":"g"}\n{"event":"file_close","lfn":"/a/b","b_hit":1e999,"b_miss":0,"b_bypass":0}',
        b'{"code":"g"}\n{"event":"file_close","lfn":"/a/b","b_hit":' + b"9" * 5000 + b',"b_miss":0,"b_bypass":0}',
    ):
        c.handle(data)
    assert (c.packets, c.bad, c.events) == (5, 5, 0)
    # Found by the fuzzer: a lone surrogate in the label part of an lfn made every later scrape fail.
    c.handle(b'{"code":"g"}\n{"event":"file_close","lfn":"/a\\ud800/b/c","b_hit":1,"b_miss":0,"b_bypass":0}')
    assert (c.bad, collect(GstreamCollector(c))["cachemgr_gstream_bad_packets_total", ()]) == (6, 6)
    # And a byte count too big for a float (scrapes failed with OverflowError): outside int64, a bad packet.
    for n in (b"9" * 400, b"-1", str(1 << 63).encode()):
        c.handle(b'{"code":"g"}\n{"event":"file_close","lfn":"/a/b","b_hit":' + n + b',"b_miss":0,"b_bypass":0}')
    assert (c.bad, collect(GstreamCollector(c))["cachemgr_gstream_bad_packets_total", ()]) == (9, 9)
    s = SummaryTotals()
    s.handle(b"<statistics>" + b"<a>" * 100_000)
    s.handle(b'<statistics tod="1"><stats id="link"><in>1e999</in></stats>' + b"<b>" * 50_000 + b"</statistics>")
    assert (s.packets, s.bad) == (2, 2)


def plain_summary(data: bytes) -> tuple:
    info = cinfo.parse(data)
    return (info.file_size, info.complete, info.access_count, info.bytes_hit, info.bytes_missed,
            info.bytes_bypassed, info.last_access)  # fmt: skip


@FUZZ
@given(st.integers(0, 2**32 - 1), EDITS, st.one_of(st.none(), st.integers(0, 1 << 12)))
def test_fuzz_cinfo_summary_equals_parse(seed: int, edits, cut: int | None):
    """The scan's fast path accepts exactly the files parse() accepts, with the same sums."""
    rng = random.Random(seed)
    data = cinfo.encode(synth.random_cinfo(rng, 1_700_000_000, max_size=1 << rng.randrange(1, 34)))
    data = mutate(data, edits, cut) if edits or cut is not None else data
    try:
        want = plain_summary(data)
    except cinfo.CinfoError:
        with pytest.raises(cinfo.CinfoError):
            cinfo.summary(data)
    else:
        assert cinfo.summary(data) == want


def expected(root: Path, depth: int) -> dict[str, Totals]:
    """The scan's totals computed the slow way: cinfo.parse on every file, one by one."""
    out: dict[str, Totals] = {}
    for path in root.rglob("*.cinfo"):
        t = out.setdefault(prefix("/" + str(path.relative_to(root)), depth), Totals())
        data = path.with_suffix("")
        disk = data.stat().st_blocks * 512 if data.exists() else 0  # a bad cinfo's data file still takes space
        try:
            fs, complete, acc, hit, miss, byp, last = plain_summary(path.read_bytes())
        except cinfo.CinfoError:
            t.add(Totals(disk_bytes=disk, bad=1))
            continue
        t.add(Totals(1, complete, disk, fs, acc, hit, miss, byp, last))
    return out


@pytest.mark.parametrize("workers", [1, 2])
def test_scan_matches_plain_parse_through_changes(tmp_path: Path, workers: int):
    """Full scan, rescans after edits, corruption, purges, new files and directories: always what parse() says."""
    root = tmp_path / "ns"
    paths = synth.write_tree(root / "user" / "ligo", 300, seed=5, fanout=4)
    synth.write_tree(root / "store", 40, seed=6, fanout=2, data=False)
    (root / "top.root.cinfo").write_bytes(cinfo.encode(synth.random_cinfo(random.Random(1), 1_700_000_000)))
    for p in paths[:20]:  # some data on disk: st_blocks > 0
        p.write_bytes(os.urandom(5000))
    for depth in (1, 2, 4):
        scan = CacheScan(root, depth, workers=workers)
        try:
            snap = scan.scan()
            assert snap.by_prefix == expected(root, depth) and snap.parsed == 341
            assert scan.scan().parsed == 0 and scan.snapshot.by_prefix == snap.by_prefix
        finally:
            scan.close()
    scan = CacheScan(root, 2, workers=workers)
    try:
        scan.scan()
        # Blocks written to partial files before xrootd next syncs their cinfo: counted at once. (Complete files
        # get no more blocks, so the scan does not stat their data files again while their cinfo is unchanged.)
        partial = [p for p in paths if p.exists() and not plain_summary(Path(f"{p}.cinfo").read_bytes())[1]]
        for p in partial[:6]:
            with open(p, "r+b") as f:
                f.write(os.urandom(70_000))
        rng = random.Random(7)
        for p in rng.sample(paths, 10):  # rewritten by xrootd
            Path(f"{p}.cinfo").write_bytes(cinfo.encode(synth.random_cinfo(rng, 1_700_000_100)))
        for p in rng.sample(paths, 5):  # corrupt
            with open(f"{p}.cinfo", "r+b") as f:
                f.seek(60)
                f.write(b"\xff\xfe")
        for p in rng.sample(paths, 8):  # purged: the data file, then its cinfo (XrdPfc unlinks both at once)
            p.unlink(missing_ok=True)
            Path(f"{p}.cinfo").unlink(missing_ok=True)
        synth.write_tree(root / "user" / "new", 12, seed=8, fanout=3)
        shutil.rmtree(root / "store" / "d01")
        snap = scan.scan()
        assert snap.by_prefix == expected(root, 2)
        assert 0 < snap.parsed <= 10 + 5 + 12
        assert snap.by_prefix["/user/ligo"].bad == 5
        assert scan.scan().parsed == 0 and scan.snapshot.by_prefix == snap.by_prefix
        assert scan.errors == 0
    finally:
        scan.close()
