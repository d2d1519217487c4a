"""`cachemgr evict PATH|PREFIX [--dry-run]` on real caches: what it frees, what it refuses, what a reader sees."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import cachemgr
from support.cache import PausedRead, running, wait_closed

from cachemgr.integrity.target import Target
from cachemgr.xcache.layout import QUARANTINE, cached_files
from cachemgr.xcache.remove import CHUNK, Remover

pytestmark = pytest.mark.usefixtures("xrootd_installed")


def test_evict_a_prefix_frees_its_files_only_and_the_next_read_refetches():
    files = {"/ev/a.bin": os.urandom(5 * 1024 * 1024 + 1), "/ev/sub/b.bin": b"small\n", "/keep/c.bin": b"stays\n"}
    with running(files) as c:
        for path, data in files.items():
            assert c.read(path) == data
        cached = {p: c.root / p.lstrip("/") for p in files}
        disk = {p: sum(os.stat(q).st_blocks * 512 for q in (cached[p], f"{cached[p]}.cinfo")) for p in files}
        used = disk["/ev/a.bin"] + disk["/ev/sub/b.bin"]

        dry = cachemgr("evict", "--config", str(c.config), "--dry-run", "/ev")
        assert dry.returncode == 0, dry.stderr
        lines = dry.stdout.splitlines()
        evicted = ("/ev/a.bin", "/ev/sub/b.bin")
        assert sorted(lines[:-1]) == [f"would evict {c.root}:{p} (2 files, {disk[p]} B)" for p in evicted]
        assert lines[-1] == f"evict: would free 4 files, {used} B (2 cached files under /ev); 0 skipped"
        assert all(cached[p].exists() for p in files)

        done = cachemgr("evict", "--config", str(c.config), "/ev/")
        assert done.returncode == 0, done.stdout + done.stderr
        summary = done.stdout.splitlines()[-1]
        assert summary == f"evict: freed 4 files, {used} B (2 cached files under /ev); 0 skipped"
        for p in evicted:
            assert not os.path.lexists(cached[p]) and not os.path.lexists(f"{cached[p]}.cinfo")
        assert cached["/keep/c.bin"].exists() and not (c.root / QUARANTINE).exists()

        one = cachemgr("evict", "--root", str(c.root), "/keep/c.bin")
        assert one.returncode == 0 and not cached["/keep/c.bin"].exists(), one.stdout
        for path, data in files.items():  # fetched again from the origin
            assert c.read(path) == data and Path(f"{cached[path]}.cinfo").exists()
        assert cachemgr("fsck", "--config", str(c.config)).returncode == 0


def test_evict_while_a_read_of_the_same_file_runs_skips_it_and_the_read_completes():
    data = os.urandom(32 * 1024 * 1024)
    with running({"/busy/f.bin": data, "/busy/idle.bin": b"idle\n"}) as c:
        assert c.read("/busy/f.bin") == data and c.read("/busy/idle.bin") == b"idle\n"
        cached, idle = c.root / "busy" / "f.bin", c.root / "busy" / "idle.bin"
        idle_bytes = sum(os.stat(p).st_blocks * 512 for p in (idle, f"{idle}.cinfo"))
        reader = PausedRead(c, "/busy/f.bin")  # mid-transfer: xrootd has the file open
        result = cachemgr("evict", "--root", str(c.root), "/busy")
        assert result.returncode == 1, result.stdout + result.stderr
        assert sorted(result.stdout.splitlines()[:-1]) == [  # one chunk: the open file skipped, its sibling freed
            f"evicted {c.root}:/busy/idle.bin (2 files, {idle_bytes} B)",
            f"skipped {c.root}:/busy/f.bin: open by xrootd",
        ]
        assert result.stdout.splitlines()[-1] == (
            f"evict: freed 2 files, {idle_bytes} B (1 cached files under /busy); 1 skipped"
        )
        assert cached.exists() and Path(f"{cached}.cinfo").exists() and not os.path.lexists(idle)
        assert reader.finish() == data
        wait_closed(cached)
        again = cachemgr("evict", "--root", str(c.root), "/busy")
        assert again.returncode == 0 and not cached.exists(), again.stdout
        assert c.read("/busy/f.bin") == data


def test_evict_on_a_multidisk_node_frees_the_files_on_its_disks():
    data = os.urandom(3 * 1024 * 1024)
    with running({"/md/f.bin": data}, node="stashcache-7disk") as c:
        assert c.read("/md/f.bin") == data
        link = c.root / "md" / "f.bin"
        space_files = [Path(os.readlink(p)) for p in (link, Path(f"{link}.cinfo"))]
        result = cachemgr("evict", "--config", str(c.config), "/md/f.bin")
        assert result.returncode == 0, result.stdout + result.stderr
        assert "freed 2 files" in result.stdout
        assert not any(os.path.lexists(p) for p in (link, f"{link}.cinfo", *space_files))
        assert not any((d / QUARANTINE).exists() for d in {c.root, *(p.parents[2] for p in space_files)})
        assert c.read("/md/f.bin") == data


def test_evict_refuses_a_relative_path_and_a_missing_root(tmp_path: Path):
    for args in (["--root", str(tmp_path), "rel/path"], ["--root", str(tmp_path / "no"), "/x"]):
        result = cachemgr("evict", *args)
        assert result.returncode == 2 and result.stderr.startswith("cachemgr evict: ")


def test_evict_of_more_files_than_a_chunk_reports_each_once(tmp_path: Path):
    """Removal goes a chunk of files at a time (three reads of /proc a chunk): every file of every chunk, the last
    one partial, is removed and reported once."""
    root = tmp_path / "cache"
    names = [f"/many/{i // 100:02d}/f{i:04d}.bin" for i in range(2 * CHUNK + 7)]
    for name in names:
        data = root / name.lstrip("/")
        data.parent.mkdir(parents=True, exist_ok=True)
        data.write_bytes(b"x" * 5000)
        Path(f"{data}.cinfo").write_bytes(b"c" * 100)
    result = cachemgr("evict", "--root", str(root), "/many")
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert sorted(line.split()[1].split(":", 1)[1] for line in lines[:-1]) == names
    assert lines[-1].startswith(f"evict: freed {2 * len(names)} files, ") and not any(root.rglob("*.bin*"))


def test_a_file_opened_between_its_renames_is_put_back_and_the_read_completes():
    """The race the renames close: a client opens the file after its .cinfo was renamed away, before the check."""
    data = os.urandom(32 * 1024 * 1024)
    with running({"/race/f.bin": data}) as c:
        assert c.read("/race/f.bin") == data
        cached = c.root / "race" / "f.bin"

        class OpenedMidway(Remover):
            reader: PausedRead | None = None

            def _move(self, item, name):
                super()._move(item, name)
                if name.name.endswith(".cinfo"):  # between the .cinfo step and its read of the open files
                    self.reader = PausedRead(c, "/race/f.bin")

        remover = OpenedMidway(Target(roots=(c.root,), disks=(), user=None, origins={}, run=None), quarantine=False)
        (out,) = remover.remove(cached_files(remover.target, "/race"))
        assert out.skipped and out.skipped.startswith("opened by xrootd while being moved"), out
        assert remover.reader is not None and remover.reader.finish() == data
        assert cached.exists() and Path(f"{cached}.cinfo").exists()  # put back, or made again by xrootd
        wait_closed(cached)
        assert c.read("/race/f.bin") == data
        assert cachemgr("fsck", "--root", str(c.root)).returncode == 0
