"""`cachemgr fsck` on caches a real xrootd wrote (files read through it), with each fault injected by hand."""

from __future__ import annotations

import os
import pwd
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import cachemgr
from support.cache import Cache, PausedRead, running

from cachemgr.integrity.fsck import Checks, Finding, confirm
from cachemgr.integrity.fsck import check as fsck_check
from cachemgr.integrity.target import Target
from cachemgr.runtime.selftest import plant
from cachemgr.stats.collectors.fsck import FsckCollector
from cachemgr.stats.scan import CacheScan
from cachemgr.xcache import openfiles
from cachemgr.xcache.layout import QUARANTINE

pytestmark = pytest.mark.usefixtures("xrootd_installed")

SIZE = 9 * 1024 * 1024 + 123  # several blocks, the last one short
FAULTS = ("truncated", "flipped", "no_data", "no_cinfo", "wrong_size", "beyond_end", "foreign")


def content(name: str) -> bytes:
    return name.encode() * (SIZE // len(name)) + b"!" * (SIZE % len(name))


@pytest.fixture(scope="module")
def cache() -> Iterator[Cache]:
    files = {f"/faults/{k}.bin": content(k) for k in FAULTS}
    with running(files) as c:
        for path, data in files.items():
            assert c.read(path) == data
        yield c


def fsck(cache: Cache, *args: str):
    return cachemgr("fsck", "--root", str(cache.root), *args)


def _flip(p: Path) -> None:
    data = bytearray(p.read_bytes())
    data[12] ^= 0x01  # inside the Store (file_size): its crc32c no longer matches
    p.write_bytes(bytes(data))


def _append(p: Path) -> None:
    with open(p, "ab") as f:
        f.write(b"extra")


def _halve(p: Path) -> None:
    os.truncate(p, SIZE // 2)


FAULTS: dict[str, tuple[Callable[[Cache, Path], None], str, str]] = {
    # name: (inject(cache, data file), kind, detail)
    "truncated": (lambda c, d: os.truncate(f"{d}.cinfo", 20), "cinfo_bad", "truncated: 20 of 56 bytes"),
    "flipped": (lambda c, d: _flip(Path(f"{d}.cinfo")), "cinfo_bad", "store checksum (crc32c) mismatch"),
    "no_data": (lambda c, d: d.unlink(), "no_data", "no data file beside its .cinfo"),
    "no_cinfo": (lambda c, d: Path(f"{d}.cinfo").unlink(), "no_cinfo", "no .cinfo beside it"),
    "wrong_size": (lambda c, d: _append(d), "size_mismatch", f"data {SIZE + 5} B, .cinfo says {SIZE} B"),
    "beyond_end": (lambda c, d: _halve(d), "blocks_beyond_end", f"data ends at {SIZE // 2} B"),
    "foreign": (lambda c, d: os.chown(d, 0, 0), "foreign_owner", "not owned by uid"),
}


def test_clean_cache_exits_0_from_the_pod_config_and_from_its_root():
    with running({"/clean/a.bin": content("a"), "/clean/deep/b.bin": content("b")}) as c:
        assert c.read("/clean/a.bin") == content("a") and c.read("/clean/deep/b.bin") == content("b")
        for args in (("--config", str(c.config)), ("--root", str(c.root))):
            result = cachemgr("fsck", *args)
            assert result.returncode == 0, result.stdout + result.stderr
            assert result.stdout.startswith("fsck: 2 cached files under / in 1 root(s), 0 finding(s)"), result.stdout


@pytest.mark.parametrize("fault", FAULTS)
def test_each_fault_is_found_once_with_its_kind(cache: Cache, fault: str):
    if fault == "foreign" and os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    inject, kind, detail = FAULTS[fault]
    path = f"/faults/{fault}.bin"
    inject(cache, cache.root / path.lstrip("/"))
    result = fsck(cache, "--prefix", path)
    assert result.returncode == 1, result.stdout + result.stderr
    (line, summary) = result.stdout.splitlines()
    assert line.startswith(f"{kind}: {cache.root}:{path}: ") and detail in line, line
    assert f"1 finding(s) ({kind} 1)" in summary


def test_stale_temporaries_are_found_and_fresh_ones_are_not(cache: Cache):
    old, new = cache.root / "faults" / "x.anew", cache.root / "faults" / "y.anew"
    old.write_bytes(b"left over")
    new.write_bytes(b"being written")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    result = fsck(cache, "--prefix", "/faults")
    assert f"stale_temp: {old}: 2.0 h old" in result.stdout.splitlines()
    assert str(new) not in result.stdout


def test_what_no_longer_holds_at_the_second_look_is_not_reported(tmp_path: Path):
    """What the walk saw of a file xrootd was creating, linking or purging as it passed is looked at again."""
    user = pwd.getpwuid(os.getuid()).pw_name
    healthy, _ = plant(tmp_path, 1 << 20, user)
    broken, _ = plant(tmp_path, 1 << 20, user)
    os.truncate(tmp_path / f"{broken.lstrip('/')}.cinfo", 20)
    target = Target(roots=(tmp_path,), disks=(), user=None, origins={}, run=None)
    (real,) = fsck_check(target).findings  # the walk and the second look agree on it
    assert (real.kind, real.path) == ("cinfo_bad", broken)
    temp, fresh, orphan = tmp_path / "t.anew", tmp_path / "u.anew", tmp_path / "data" / "00" / "orphan%"
    orphan.parent.mkdir(parents=True)
    for p in (temp, fresh, orphan):
        p.write_bytes(b"")
    os.utime(temp, (time.time() - 7200, time.time() - 7200))  # fresh: written again since the walk saw it stale
    seen = [Finding(kind, 0, healthy, "as the walk saw it") for kind in ("no_cinfo", "size_mismatch", "cinfo_bad")]
    seen += [Finding("stale_temp", -1, str(p), "2.0 h old") for p in (temp, fresh, tmp_path / "gone.anew")]
    seen += [Finding("orphan", -1, str(orphan), "no namespace link points to it")]
    walk_began_after_it = Checks(None, 3600, time.time() + 60, False, target.reserved)
    assert confirm(target, [real, *seen], walk_began_after_it) == ([real, seen[3], seen[6]], 0)
    made_during_the_walk = Checks(None, 3600, time.time() - 60, False, target.reserved)  # xrootd links it next
    assert confirm(target, [real, *seen], made_during_the_walk) == ([real, seen[3]], 0)


def test_bad_usage_exits_2(tmp_path: Path):
    for args in (["--root", str(tmp_path / "none")], ["--root", str(tmp_path), "--prefix", "rel"], ["--config", "/x"]):
        result = cachemgr("fsck", *args)
        assert result.returncode == 2 and result.stderr.startswith("cachemgr fsck: "), (args, result.stderr)
        assert len(result.stderr.splitlines()) == 1


def test_repair_quarantines_bad_pairs_and_the_next_read_refetches_origin_bytes(tmp_path: Path):
    names = ("flipped", "wrong_size", "beyond_end", "no_cinfo")
    files = {f"/r/{n}.bin": content(n) for n in names}
    with running(files) as c:
        for path, data in files.items():
            assert c.read(path) == data
            FAULTS[path[3:-4]][0](c, c.root / path.lstrip("/"))
        state = tmp_path / "fsck.json"
        result = fsck(c, "--repair", "--state", str(state))
        assert result.returncode == 1, result.stdout + result.stderr
        for path in files:
            assert f"quarantined {c.root}:{path} (" in result.stdout, result.stdout
            assert not (c.root / path.lstrip("/")).exists()
        quarantined = sorted(p.name for p in (c.root / QUARANTINE).rglob("*.bin*"))
        assert quarantined == sorted([f"{n}.bin" for n in names] + [f"{n}.bin.cinfo" for n in names if n != "no_cinfo"])
        again = fsck(c)
        assert again.returncode == 0, again.stdout  # the quarantine is not part of the cache
        scan = CacheScan(c.root, 1)
        try:
            assert scan.scan().by_prefix == {}  # nor of the exporter's scan (the quarantine holds 3 cinfo files)
        finally:
            scan.close()
        for path, data in files.items():
            assert c.read(path) == data
        assert fsck(c).returncode == 0  # refetched whole and consistent
        samples = {
            (m.name, tuple(s.labels.items()), s.value) for m in FsckCollector(state).collect() for s in m.samples
        }
        assert ("cachemgr_fsck_findings", (("kind", "cinfo_bad"),), 1.0) in samples
        assert ("cachemgr_fsck_findings", (("kind", "no_cinfo"),), 1.0) in samples
        assert ("cachemgr_fsck_repaired", (), 4.0) in samples and ("cachemgr_fsck_skipped", (), 0.0) in samples


def test_repair_skips_a_file_xrootd_has_open_and_the_read_completes():
    data = os.urandom(32 * 1024 * 1024)
    with running({"/o/open.bin": data}) as c:
        assert c.read("/o/open.bin") == data
        cached = c.root / "o" / "open.bin"
        _append(cached)  # a finding (bytes past the file's end: reads never reach them)
        reader = PausedRead(c, "/o/open.bin")
        assert openfiles.inode(cached) in openfiles.open_inodes()
        result = fsck(c, "--repair")
        assert result.returncode == 1
        assert f"skipped {c.root}:/o/open.bin: open by xrootd" in result.stdout, result.stdout
        assert "0 repaired, 1 skipped" in result.stdout
        assert cached.exists() and Path(f"{cached}.cinfo").exists()
        assert reader.finish() == data


def test_multidisk_node_orphans_on_its_disks_and_the_scheduled_task_publishes_results():
    files = {"/m/kept.bin": content("kept"), "/m/lost.bin": content("lost")}
    with running(files, node="stashcache-7disk") as c:
        for path, data in files.items():
            assert c.read(path) == data
        clean = cachemgr("fsck", "--config", str(c.config))
        assert clean.returncode == 0, clean.stdout + clean.stderr
        lost = c.root / "m" / "lost.bin"
        space_files = sorted(os.readlink(p) for p in (lost, Path(f"{lost}.cinfo")))
        lost.unlink()
        Path(f"{lost}.cinfo").unlink()  # the namespace forgets it; its disks still hold both files
        task = cachemgr("task", "fsck", "--config", str(c.config), "--repair")
        assert task.returncode == 0, task.stdout + task.stderr
        for space_file in space_files:
            assert f"orphan: {space_file}: no namespace link points to it" in task.stdout
            assert not os.path.exists(space_file)
            disk = Path(space_file).parents[2]
            assert list((disk / QUARANTINE).rglob(Path(space_file).name)), "quarantined on its own disk"
        state = c.box.values["paths.run"] + "/fsck.json"
        samples = {
            (m.name, tuple(s.labels.items())): s.value for m in FsckCollector(Path(state)).collect() for s in m.samples
        }
        assert samples[("cachemgr_fsck_findings", (("kind", "orphan"),))] == 2
        assert samples[("cachemgr_fsck_files", ())] == 1 and samples[("cachemgr_fsck_repaired", ())] == 2
        assert cachemgr("fsck", "--config", str(c.config)).returncode == 0
        assert c.read("/m/lost.bin") == files["/m/lost.bin"]
