"""`cachemgr cinfo` against XRootD's own reader: files written by a real cache, compared with `xrdpfc_print -j`."""

from __future__ import annotations

import hashlib
import json
import os
import random
import shutil
import struct
import subprocess
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support import cachemgr
from support.clients import curl, xrdcp
from support.demo import add_origin_file, start
from support.wait import eventually

from cachemgr.xcache import cinfo, synth

pytestmark = pytest.mark.usefixtures("xrootd_installed")

BLOCK = 4 << 20  # the example node's pfc.blocksize
# The fuzz tests run FUZZ_EXAMPLES inputs each: CACHEMGR_FUZZ_EXAMPLES=100000 for the long run.
FUZZ_EXAMPLES = int(os.environ.get("CACHEMGR_FUZZ_EXAMPLES", "300"))


def xrdpfc_print(files: list[Path]) -> dict[str, dict]:
    """xrdpfc_print -j -v output by file; it prints nothing for a file it refuses."""
    out = subprocess.run(["xrdpfc_print", "-j", "-v", *map(str, files)], capture_output=True, text=True, timeout=120)
    return {d["file"]: d for d in map(json.loads, out.stdout.splitlines())}


def ours(files: list[Path]) -> dict[str, dict]:
    out = cachemgr("cinfo", "--json", "--blocks", *map(str, files))
    assert out.returncode == 0, out.stderr
    return {d["file"]: d for d in map(json.loads, out.stdout.splitlines())}


def as_printed(d: dict) -> dict:
    """Our JSON in xrdpfc_print's notation: local time strings, H:MM:SS durations."""

    def stamp(t: int | None) -> str:
        return time.strftime("%y%m%d:%H%M%S", time.localtime(t)) if t else "------:------"

    return {
        **{k: d[k] for k in ("version", "buffer_size", "file_size", "n_blocks", "cksum", "n_acc_total", "block_array")},
        "state_complete": d["state_complete"],
        "state_percentage": d["state_percentage"],
        "created": time.strftime("%c", time.localtime(d["created"])),
        "accesses": [
            {
                **{k: a[k] for k in ("record", "n_ios", "n_mrg", "B_hit", "B_miss", "B_bypass")},
                "attach": stamp(a["attach"]),
                "detach": stamp(a["detach"]),
                "duration": f"{a['duration'] // 3600}:{a['duration'] // 60 % 60:02d}:{a['duration'] % 60:02d}",
            }
            for a in d["accesses"]
        ],
    }


def assert_same_as_xrdpfc_print(files: list[Path]) -> dict[str, dict]:
    theirs, mine = xrdpfc_print(files), ours(files)
    assert sorted(theirs) == sorted(mine) == sorted(map(str, files))
    for name, printed in theirs.items():
        printed = {k: v for k, v in printed.items() if k != "file"}
        assert as_printed(mine[name]) == printed, name
    return mine


@pytest.fixture(scope="module")
def cached(tmp_path_factory) -> dict[str, Path]:
    """cinfo files a real cache wrote: read twice, empty, and partly read (a range over HTTP)."""
    demo = start()
    try:
        cache = Path(demo.env["CACHE_DIR"])
        out = tmp_path_factory.mktemp("fetched")
        add_origin_file(demo, "/t/full.bin", os.urandom(3 * 1024 * 1024 + 17))
        add_origin_file(demo, "/t/empty.bin", b"")
        big = add_origin_file(demo, "/t/partial.bin", b"")
        # Sparse, 30 blocks of 4 MiB: more than pfc.prefetch (20) fetches, so a range read leaves it partial.
        with open(big, "r+b") as f:
            f.truncate(30 * BLOCK)

        def written(name: str) -> bool:
            """A finished access is on disk. How many records XRootD has written by then varies (it writes
            them when a reader detaches, which it defers); the comparison below reads the same copy either way."""
            try:
                info = cinfo.read(cache / f"t/{name}.cinfo")
            except (OSError, cinfo.CinfoError):
                return False
            return bool(info.accesses) and all(a.detach for a in info.accesses)

        for name in ("full.bin", "full.bin", "empty.bin"):
            assert xrdcp(f"{demo.env['CACHE_XROOT']}//t/{name}", out / name).returncode == 0
        eventually(lambda: written("full.bin") and written("empty.bin"), 240, message="no xroot cinfo files")
        ranged = curl(
            f"{demo.env['CACHE_HTTP']}/t/partial.bin", out / "r", byte_range=f"{25 * BLOCK}-{25 * BLOCK + 99}"
        )
        assert ranged.status == 206, ranged.body

        # XRootD writes the cinfo when the client detaches: ~30 s after an HTTP range read here (with
        # prefetches in flight), and more than 90 s once on a loaded machine.
        eventually(lambda: written("partial.bin"), 240, message="the HTTP client did not detach")
        keep = tmp_path_factory.mktemp("cinfo")
        return {p.name: Path(shutil.copy2(p, keep / p.name)) for p in cache.rglob("*.cinfo")}
    finally:
        demo.stop()


def test_real_cache_files_match_xrdpfc_print(cached: dict[str, Path]):
    mine = assert_same_as_xrdpfc_print(list(cached.values()))
    full, empty, partial = (mine[str(cached[f"{n}.bin.cinfo"])] for n in ("full", "empty", "partial"))
    assert (
        full["state_complete"] == "complete" and full["n_acc_total"] >= 1 and full["file_size"] == 3 * 1024 * 1024 + 17
    )
    assert empty["file_size"] == 0 and empty["n_blocks"] == 1
    # PFC may prefetch the rest before the reader detaches: either state must agree with its percentage.
    assert (partial["state_complete"] == "incomplete") == (0 < partial["state_percentage"] < 100)
    assert partial["block_array"][25] == 1, "the block the range read must be cached"


def test_text_output_names_each_file(cached: dict[str, Path]):
    out = cachemgr("cinfo", *map(str, cached.values()))
    assert out.returncode == 0 and out.stderr == ""
    assert sorted(line.split(":")[0] for line in out.stdout.splitlines()) == sorted(map(str, cached.values()))


def test_every_truncation_and_bit_flip_is_one_line_exit_1(cached: dict[str, Path], tmp_path: Path):
    good = cached["full.bin.cinfo"].read_bytes()
    bad = []
    for n in range(len(good)):
        bad.append(tmp_path / f"trunc{n}.cinfo")
        bad[-1].write_bytes(good[:n])
    for bit in range(len(good) * 8):
        flipped = bytearray(good)
        flipped[bit // 8] ^= 1 << (bit % 8)
        bad.append(tmp_path / f"flip{bit}.cinfo")
        bad[-1].write_bytes(flipped)
    assert xrdpfc_print(bad) == {}, "XRootD's reader refuses them all too"
    out = cachemgr("cinfo", str(cached["full.bin.cinfo"]), *map(str, bad))
    assert out.returncode == 1
    assert len(out.stdout.splitlines()) == 1, "the good file is still printed"
    lines = out.stderr.splitlines()
    assert [line.split(": ", 1)[0] for line in lines] == list(map(str, bad)), "one line per bad file, in order"
    assert all("Traceback" not in line and line.split(": ", 1)[1] for line in lines)
    assert f"{bad[10]}: truncated: 10 of 56 bytes (store)" in lines
    assert any(line.endswith("store checksum (crc32c) mismatch") for line in lines)
    assert any(line.endswith("blocks/access records checksum (crc32c) mismatch") for line in lines)


def test_unreadable_and_unknown_version(tmp_path: Path):
    (tmp_path / "v9.cinfo").write_bytes(struct.pack("<i", 9) + bytes(100))
    out = cachemgr("cinfo", str(tmp_path / "missing.cinfo"), str(tmp_path / "v9.cinfo"))
    assert out.returncode == 1
    assert out.stderr.splitlines() == [
        f"{tmp_path / 'missing.cinfo'}: No such file or directory",
        f"{tmp_path / 'v9.cinfo'}: unsupported version 9",
    ]


def old_cinfo(version: int, bits: list[int], records: list[tuple], extra: bytes = b"") -> bytes:
    """A v2 or v3 file from the layout in REFERENCE.md section 4, written independently of the parser."""
    buffer_size, file_size = 1 << 20, len(bits) * (1 << 20) - 5
    bitvec = bytearray((len(bits) + 7) // 8)
    for i, b in enumerate(bits):
        bitvec[i // 8] |= b << (i % 8)
    out = struct.pack("<iqq", version, buffer_size, file_size) + bitvec + hashlib.md5(bitvec).digest()
    out += struct.pack("<qQ", 1_600_000_000, 7)
    fmt = "<qqiiiiqqq" if version == 3 else "<qqqqq"
    return out + b"".join(struct.pack(fmt, *r) for r in records) + extra


V3_RECORDS = [
    (1_600_000_100, 1_600_000_160, 2, 60, 1, 0, 1000, 2000, 30),
    (5, 1_600_000_200, 1, 0, 0, 0, 1, 1, 1),  # attach within a year of the epoch: XRootD skips it
    (1_600_000_300, 1_600_000_200, 1, 0, 0, 0, 1, 1, 1),  # detach before attach: skipped
    (1_600_000_400, 1_600_000_400, 0, 0, 0, 0, 1, 1, 1),  # no IO: skipped
    (1_600_000_500, 0, 1, 12, 0, 0, 4096, 0, 0),  # still open
]
V2_RECORDS = [
    (1_600_000_100, 1_600_000_160, 1000, 2000, 30),
    (1_600_000_300, 1_600_000_200, 1, 1, 1),  # detach before attach: skipped
    (1_600_000_500, 1_600_000_777, 4096, 0, 5),
]


def test_v2_and_v3_files_match_xrdpfc_print(tmp_path: Path):
    files = {
        "v3.cinfo": old_cinfo(3, [1, 0, 1, 1, 0, 0, 0, 0, 1, 1], V3_RECORDS),
        "v3-complete.cinfo": old_cinfo(3, [1] * 9, V3_RECORDS[:1]),
        "v2.cinfo": old_cinfo(2, [0, 1, 1], V2_RECORDS, extra=b"\0" * 17),  # a short tail is ignored, as XRootD does
        "v2-no-accesses.cinfo": old_cinfo(2, [1], [])[:-8],  # ends after the creation time: access count 0
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    mine = assert_same_as_xrdpfc_print([tmp_path / n for n in files])
    v3, v2 = mine[str(tmp_path / "v3.cinfo")], mine[str(tmp_path / "v2.cinfo")]
    assert [a["B_hit"] for a in v3["accesses"]] == [1000, 4096] and v3["accesses"][1]["detach"] is None
    assert [a["duration"] for a in v2["accesses"]] == [60, 277]
    assert mine[str(tmp_path / "v2-no-accesses.cinfo")]["n_acc_total"] == 0


def test_v3_md5_mismatch_is_refused(tmp_path: Path):
    data = bytearray(old_cinfo(3, [1, 0, 1], V3_RECORDS))
    data[20] ^= 0x02  # the bitvec
    (tmp_path / "bad.cinfo").write_bytes(data)
    out = cachemgr("cinfo", str(tmp_path / "bad.cinfo"))
    assert (out.returncode, out.stderr) == (1, f"{tmp_path / 'bad.cinfo'}: blocks checksum (md5) mismatch\n")


def test_synthetic_tree_is_accepted_by_xrdpfc_print(tmp_path: Path):
    synth.write_tree(tmp_path, 40, seed=3, fanout=4, data=False)
    assert_same_as_xrdpfc_print(sorted(tmp_path.rglob("*.cinfo")))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([2, 3, 4]), st.binary(max_size=400))
def test_fuzz_random_bytes_only_raise_cinfo_error(version: int, body: bytes):
    """Random bytes behind a version the parser knows: otherwise they all stop at "unsupported version"."""
    try:
        cinfo.parse(struct.pack("<i", version) + body)
    except cinfo.CinfoError as e:
        assert str(e) and "\n" not in str(e)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None)
@given(st.integers(0, 2**32 - 1), st.lists(st.tuples(st.integers(0, 10_000), st.integers(0, 255)), max_size=8))
def test_fuzz_mutated_files_only_raise_cinfo_error(seed: int, edits: list[tuple[int, int]]):
    rng = random.Random(seed)
    data = bytearray(
        rng.choice(
            [
                cinfo.encode(synth.random_cinfo(rng, 1_700_000_000, max_size=1 << 26)),
                old_cinfo(3, [1, 0, 1], V3_RECORDS),
                old_cinfo(2, [1, 1], V2_RECORDS),
            ]
        )
    )
    for pos, value in edits:
        data[pos % len(data)] = value
    try:
        info = cinfo.parse(bytes(data[: rng.randrange(len(data) + 1)] if rng.random() < 0.3 else data))
    except cinfo.CinfoError as e:
        assert str(e) and "\n" not in str(e)
    else:
        assert 0 <= info.n_blocks_done <= info.n_blocks
