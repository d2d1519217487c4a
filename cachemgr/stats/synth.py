"""Synthetic v4 .cinfo files and cache trees, as XRootD 5.x writes them (for tests and bench/)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from cachemgr.stats.cinfo import CKSUM_STATES, VERSION, Access, Cinfo, encode, n_blocks

MAX_RECORDS = 20  # pfc.acchistorysize default: XRootD merges older records beyond it


def random_cinfo(rng: random.Random, now: int, buffer_size: int = 1 << 20, max_size: int = 1 << 30) -> Cinfo:
    """A plausible cached file: some complete, some partial, up to MAX_RECORDS access records."""
    size = rng.randrange(0, max_size)
    nblk = n_blocks(size, buffer_size)
    bits = (1 << nblk) - 1 if rng.random() < 0.6 else rng.getrandbits(nblk)
    bitvec = bits.to_bytes((nblk + 7) // 8, "little")
    created = now - rng.randrange(1, 90 * 86400)
    count = rng.randrange(1, 50)
    t = created
    accesses = []
    for _ in range(min(count, MAX_RECORDS)):
        t = rng.randrange(t, now + 1)
        duration = rng.randrange(0, 600)
        read = rng.randrange(0, size + 1)
        hit = rng.randrange(0, read + 1)
        accesses.append(Access(t, t + duration, 1, duration, 0, hit, read - hit, 0))
    return Cinfo(VERSION, buffer_size, size, created, 0, count, rng.choice(CKSUM_STATES), bitvec, tuple(accesses))


def write_tree(
    root: Path, files: int, seed: int = 0, fanout: int = 32, data: bool = True, start: int = 0, step: int = 1
) -> list[Path]:
    """files cinfo files spread over directories root/dNN/dNN/..., each beside a sparse data file.

    Data files are truncated to their logical size, so st_blocks stays near zero as on a partial cache.
    start/step write only files start, start+step, ... (for writing one tree from several processes).
    Returns the data file paths.
    """
    rng = random.Random(seed)
    now = 1_700_000_000
    paths = []
    for i in range(start, files, step):
        d = root / f"d{i % fanout:02d}" / f"d{i // fanout % fanout:02d}"
        if i < fanout * fanout:
            d.mkdir(parents=True, exist_ok=True)
        path = d / f"f{i}.root"
        info = random_cinfo(rng, now)
        Path(f"{path}.cinfo").write_bytes(encode(info))
        if data:
            with open(path, "wb") as f:
                os.ftruncate(f.fileno(), info.file_size)
        paths.append(path)
    return paths
