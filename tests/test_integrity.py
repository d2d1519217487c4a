"""The integrity foundation (cachemgr/integrity/) on real xrootd-written caches: layout, open files, removal."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
from support.cache import PausedRead, running, wait_closed

from cachemgr.integrity import target
from cachemgr.xcache import layout, openfiles
from cachemgr.xcache.layout import QUARANTINE
from cachemgr.xcache.remove import Remover, prune

pytestmark = pytest.mark.usefixtures("xrootd_installed")


def _target(*argv: str) -> target.Target:
    p = argparse.ArgumentParser()
    target.add_arguments(p, origin=True)
    return target.from_args(p.parse_args(argv))


def test_multidisk_node_links_data_and_cinfo_into_its_disks_and_quarantine_stays_on_each_disk():
    files = {"/a/big.bin": os.urandom(9 * 1024 * 1024 + 5), "/a/b/small.txt": b"hello\n"}
    with running(files, node="stashcache-7disk") as cache:
        for path, content in files.items():
            assert cache.read(path) == content
        t = _target("--config", str(cache.config))
        assert t.roots == (cache.root,) and len(t.disks) == 8 and t.user == cache.box.values["xrootd.user"]
        assert t.origins[cache.root] == cache.instance.origin
        found = sorted(layout.cached_files(t))
        assert [f.path for f in found] == ["/a/b/small.txt", "/a/big.bin"]
        data_disks = {d for d in t.disks if d.name.startswith("data")}
        for f in found:  # 5.5.3's layout: namespace links to <disk>/data/.. and <meta disk>/meta/..
            assert f.data.is_symlink() and f.cinfo.is_symlink()
            assert Path(os.readlink(f.data)).parents[2] in data_disks
            assert Path(os.readlink(f.cinfo)).parents[2].name == "meta1"
        assert [f.path for f in layout.cached_files(t, "/a/b")] == ["/a/b/small.txt"]

        big = next(f for f in found if f.path == "/a/big.bin")
        space_data, space_cinfo = Path(os.readlink(big.data)), Path(os.readlink(big.cinfo))
        (out,) = Remover(t, quarantine=True).remove([big])
        assert out.skipped is None and out.files == 2 and out.bytes >= len(files["/a/big.bin"])
        assert not os.path.lexists(big.data) and not os.path.lexists(big.cinfo) and not space_data.exists()
        moved = [p for p in (t.roots[0] / QUARANTINE).rglob("*") if p.is_symlink()]
        assert sorted(p.name for p in moved) == ["big.bin", "big.bin.cinfo"]
        for space_file in (space_data, space_cinfo):  # quarantined on its own disk
            disk = space_file.parents[2]
            assert [p.stat().st_size for p in (disk / QUARANTINE).rglob(space_file.name)]
        assert cache.read("/a/big.bin") == files["/a/big.bin"]  # refetched


def test_a_file_being_read_is_open_and_is_not_removed():
    content = os.urandom(32 * 1024 * 1024)
    with running({"/slow/f.bin": content}) as cache:
        assert cache.read("/slow/f.bin") == content  # cached whole
        t = _target("--root", str(cache.root))
        (cf,) = layout.cached_files(t, "/slow/f.bin")
        reader = PausedRead(cache, "/slow/f.bin")
        assert {openfiles.inode(cf.data), openfiles.inode(cf.cinfo)} <= openfiles.open_inodes()
        (out,) = Remover(t, quarantine=False).remove([cf])
        assert out.skipped == "open by xrootd" and cf.data.exists() and cf.cinfo.exists()
        assert reader.finish() == content
        wait_closed(cf.data)
        (out,) = Remover(t, quarantine=False).remove([cf])
        assert out.skipped is None and out.files == 2 and not cf.data.exists() and not cf.cinfo.exists()
        assert not (cache.root / QUARANTINE).exists() or not any((cache.root / QUARANTINE).rglob("f.*"))
        assert cache.read("/slow/f.bin") == content


def test_usage_errors_name_the_problem(tmp_path: Path):
    with pytest.raises(target.TargetError, match="not a directory"):
        _target("--root", str(tmp_path / "nope"))
    with pytest.raises(target.TargetError, match="exclude"):
        _target("--root", str(tmp_path), "--config", str(tmp_path))
    with pytest.raises(target.TargetError, match=r"runtime\.json"):
        _target("--config", str(tmp_path))
    with pytest.raises(ValueError, match="starts with /"):
        layout.normalize("a/b")


def test_prune_drops_old_quarantine_runs_then_the_oldest_over_the_cap(tmp_path: Path):
    t = target.Target(roots=(tmp_path,), disks=(), user=None, origins={}, run=None)
    now = 1_800_000_000
    for name, age, size in (("20270101T000000Z-1", 30 * 86400, 1 << 20), ("20270102T000000Z-1", 3600, 2 << 20),
                            ("20270103T000000Z-1", 60, 3 << 20)):  # fmt: skip
        batch = tmp_path / QUARANTINE / name
        (batch / "a").mkdir(parents=True)
        (batch / "a" / "f.bin").write_bytes(os.urandom(size))
        os.utime(batch, (now - age, now - age))
    runs = lambda: sorted(p.name for p in (tmp_path / QUARANTINE).iterdir())  # noqa: E731
    assert prune(t, max_bytes=100 << 20, max_age=7 * 86400, now=now) == (1, 1 << 20)  # too old
    assert runs() == ["20270102T000000Z-1", "20270103T000000Z-1"]
    assert prune(t, max_bytes=4 << 20, max_age=7 * 86400, now=now) == (1, 2 << 20)  # over the cap: the oldest
    assert runs() == ["20270103T000000Z-1"]
