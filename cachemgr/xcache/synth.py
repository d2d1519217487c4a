"""Synthetic v4 .cinfo files and cache trees, as XRootD 5.x writes them, and monitoring packets as XRootD 5.5.3 (the
hosts' Debian 12) and 5.8.1 (the image's Debian 13) send them (for tests and bench/)."""

from __future__ import annotations

import os
import random
from pathlib import Path

from cachemgr.xcache.cinfo import CKSUM_STATES, VERSION, Access, Cinfo, encode, n_blocks

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


# Captured from xrootd 5.5.3 (`xrd.report ... all`), trimmed; note <hits>0></hits>.
SUMMARY = (
    '<statistics tod="{tod}" ver="v5.5.3" src="vm:47641" tos="{tos}" pgm="xrootd" ins="noauth" pid="{pid}" '
    'site="EXAMPLE_T2"><stats id="info"><host>vm</host><port>47641</port><name>noauth</name></stats>'
    '<stats id="link"><num>0</num><maxn>1</maxn><tot>{tot}</tot><in>{rx}</in><out>{tx}</out><ctime>0</ctime>'
    '<tmo>0</tmo><stall>0</stall><sfps>0</sfps></stats><stats id="proc"><usr><s>{us}</s><u>{uu}</u></usr>'
    '<sys><s>0</s><u>18369</u></sys></stats><stats id="pss"><open>1<errs>0</errs></open></stats>'
    '<stats id="cache" type="pfc"><rd><in>0</in><out>0</out><hits>0></hits><miss>0</miss></rd></stats>'
    '<stats id="sched"><jobs>11</jobs><inq>2</inq><maxinq>2</maxinq><threads>7</threads><idle>4</idle><tcr>7</tcr>'
    "<tde>0</tde><tlimr>0</tlimr></stats></statistics>\0"
)
# A g-stream packet from the same server (pfc.gstream): its header and three file_close events.
GSTREAM = (
    '{"code":"g","pseq":  1,"stod":1795321240,"sid":92332744343524,"src":{"site":"EXAMPLE_T2","host":"vm",'
    '"port":47641,"inst":"noauth"},"gs":{"type":"C","tbeg":1795321240,"tend":1795321240}}\n'
    '{"event":"file_close","lfn":"/user/ligo/frames/a.gwf","size":5242880,"blk_size":4194304,"n_blks":2,'
    '"n_blks_done":2,"access_cnt":1,"attach_t":1795321240,"detach_t":1795321240,"remotes":["127.0.0.1:53739"],'
    '"b_hit":100,"b_miss":5242780,"b_bypass":0,"n_cks_errs":0}\n'
    '{"event":"file_close","lfn":"/user/ligo/b.gwf","size":10,"blk_size":4194304,"n_blks":1,"n_blks_done":1,'
    '"access_cnt":2,"attach_t":1795321241,"detach_t":1795321241,"remotes":[],"b_hit":10,"b_miss":0,"b_bypass":3,'
    '"n_cks_errs":0}\n'
    '{"event":"file_close","lfn":"/top.bin","size":10,"blk_size":4194304,"n_blks":1,"n_blks_done":1,'
    '"access_cnt":1,"attach_t":1795321241,"detach_t":1795321241,"remotes":[],"b_hit":0,"b_miss":10,"b_bypass":0,'
    '"n_cks_errs":0}\0'
)

# Captured from xrootd 5.8.1 (the image's), same directives, trimmed alike: the stray `>` of <hits> is gone, and the
# cache section's store/size and mem/size read 0 (5.5.3 sends the disk's and pfc.ram's sizes there).
SUMMARY_5_8 = (
    '<statistics tod="{tod}" ver="v5.8.1" src="vm:32773" tos="{tos}" pgm="xrootd" ins="noauth" pid="{pid}" '
    'site="EXAMPLE_T2"><stats id="info"><host>vm</host><port>32773</port><name>noauth</name></stats>'
    '<stats id="link"><num>0</num><maxn>1</maxn><tot>{tot}</tot><in>{rx}</in><out>{tx}</out><ctime>0</ctime>'
    '<tmo>0</tmo><stall>0</stall><sfps>0</sfps></stats><stats id="proc"><usr><s>{us}</s><u>{uu}</u></usr>'
    '<sys><s>0</s><u>42487</u></sys></stats><stats id="pss"><open>2<errs>0</errs></open>'
    '<close>2<errs>0</errs></close></stats><stats id="cache" type="pfc"><prerd><in>0</in><hits>0</hits>'
    "<miss>0</miss></prerd><rd><in>0</in><out>0</out><hits>0</hits><miss>0</miss></rd><store><size>0</size>"
    "<used>0</used><min>0</min><max>0</max></store><mem><size>0</size><used>0</used><wq>0</wq></mem></stats>"
    '<stats id="sched"><jobs>45</jobs><inq>0</inq><maxinq>2</maxinq><threads>5</threads><idle>2</idle><tcr>5</tcr>'
    "<tde>0</tde><tlimr>0</tlimr></stats></statistics>\0"
)
# A 5.8.1 g-stream packet: file_close gains b_todisk (bytes written to disk) and b_prefetch (bytes prefetched)
# before n_cks_errs. This first read of a 5 MiB file was served from prefetched blocks: all b_hit, b_miss 0 (5.5.3
# counts the same read alike, without the two fields that tell the fetch).
GSTREAM_5_8 = (
    '{"code":"g","pseq":  1,"stod":1796694342,"sid":68893603944613,"src":{"site":"EXAMPLE_T2","host":"vm",'
    '"port":32773,"inst":"noauth"},"gs":{"type":"C","tbeg":1796694344,"tend":1796694344}}\n'
    '{"event":"file_close","lfn":"/a/f.bin","size":5242880,"blk_size":4194304,"n_blks":2,"n_blks_done":2,'
    '"access_cnt":1,"attach_t":1796694344,"detach_t":1796694344,"remotes":["127.0.0.1:58235"],"b_hit":5242880,'
    '"b_miss":0,"b_bypass":0,"b_todisk":5242880,"b_prefetch":5242880,"n_cks_errs":0}\0'
)


def summary_packet(
    pid: int = 9151, tos: int = 1000, tod: int = 1010, tot=1, rx=226, tx=5250718, us=0, uu=25717, template=SUMMARY
) -> bytes:
    """SUMMARY (or SUMMARY_5_8) with these values: tod its time, tos the server's start, tot connections, rx/tx bytes,
    us/uu the user CPU time (seconds, microseconds)."""
    return template.format(pid=pid, tos=tos, tod=tod, tot=tot, rx=rx, tx=tx, us=us, uu=uu).encode()
