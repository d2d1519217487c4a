"""Read XRootD proxy-file-cache `.cinfo` files, versions 2, 3 and 4 (XRootD 4.6 to 5.x).

A file is accepted exactly when XRootD's own reader (XrdPfcInfo.cc) accepts it, so "bad" here means the
cache itself would refuse the file. Field names in `as_json()` follow `xrdpfc_print -j`; times are Unix
seconds instead of its localtime strings.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import crc32c

VERSION = 4
# v4 Store: buffer_size, file_size, creation_time, no_cksum_time, access_cnt, status, astat count.
STORE = struct.Struct("<qqqqQIi")
# v3 and v4 access record: attach, detach, n_ios, duration, n_merged, reserved, bytes hit/missed/bypassed.
ASTAT = struct.Struct("<qqiiiiqqq")
ASTAT_V2 = struct.Struct("<qqqqq")  # attach, detach, bytes hit/missed/bypassed
_I32 = struct.Struct("<i")
_U32 = struct.Struct("<I")
_V3_HEAD = struct.Struct("<qq")  # buffer_size, file_size
_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
CKSUM_STATES = ("none", "cache", "net", "both")
_ONE_YEAR = 3600 * 24 * 365  # v2/v3 records before this are garbage seen in production; XRootD skips them


class CinfoError(ValueError):
    """A .cinfo file XRootD would refuse; str() is a one-line reason."""


@dataclass(frozen=True, slots=True)
class Access:
    attach: int
    detach: int  # 0 while the file is still open
    n_ios: int
    duration: int
    n_merged: int
    bytes_hit: int
    bytes_missed: int
    bytes_bypassed: int


@dataclass(frozen=True, slots=True)
class Cinfo:
    version: int
    buffer_size: int
    file_size: int
    created: int
    no_cksum_time: int
    access_count: int
    cksum: str
    bitvec: bytes
    accesses: tuple[Access, ...]

    @property
    def n_blocks(self) -> int:
        return n_blocks(self.file_size, self.buffer_size)

    @property
    def n_blocks_done(self) -> int:
        # Complete files have the bitvec's padding bits set too: count only real blocks.
        bits = int.from_bytes(self.bitvec, "little") & ((1 << self.n_blocks) - 1)
        return bits.bit_count()

    @property
    def complete(self) -> bool:
        return self.n_blocks_done == self.n_blocks

    @property
    def percentage(self) -> float:
        return 100.0 * self.n_blocks_done / self.n_blocks

    # Merged records add up their bytes, so these sums cover every access the file still records.
    @property
    def bytes_hit(self) -> int:
        return sum(a.bytes_hit for a in self.accesses)

    @property
    def bytes_missed(self) -> int:
        return sum(a.bytes_missed for a in self.accesses)

    @property
    def bytes_bypassed(self) -> int:
        return sum(a.bytes_bypassed for a in self.accesses)

    @property
    def last_access(self) -> int:
        """As XRootD's purge sees it (Info::GetLatestDetachTime)."""
        if not self.accesses:
            return self.created
        last = self.accesses[-1]
        return last.detach or last.attach + last.duration

    def as_json(self, blocks: bool = False) -> dict[str, Any]:
        """xrdpfc_print -j's fields; blocks adds its -v "block_array" (one 0/1 per block)."""
        total = self.n_blocks
        out: dict[str, Any] = {
            "version": self.version,
            "created": self.created,
            "no_cksum_time": self.no_cksum_time,
            "cksum": self.cksum,
            "buffer_size": self.buffer_size,
            "file_size": self.file_size,
            "n_blocks": total,
            "n_blocks_done": self.n_blocks_done,
            "state_complete": "complete" if self.complete else "incomplete",
            "state_percentage": self.percentage,
            "n_acc_total": self.access_count,
            "accesses": [
                {
                    "record": i,
                    "attach": a.attach,
                    "detach": a.detach or None,
                    "duration": a.duration,
                    "n_ios": a.n_ios,
                    "n_mrg": a.n_merged,
                    "B_hit": a.bytes_hit,
                    "B_miss": a.bytes_missed,
                    "B_bypass": a.bytes_bypassed,
                }
                for i, a in enumerate(self.accesses, 1)
            ],
        }
        if blocks:
            out["block_array"] = [self.bitvec[i >> 3] >> (i & 7) & 1 for i in range(total)]
        return out


def encode(info: Cinfo) -> bytes:
    """The v4 bytes of info, as Info::Write lays them out: version, Store, crc32c, bitvec, records, crc32c."""
    store = STORE.pack(
        info.buffer_size,
        info.file_size,
        info.created,
        info.no_cksum_time,
        info.access_count,
        CKSUM_STATES.index(info.cksum),
        len(info.accesses),
    )
    body = info.bitvec + b"".join(
        ASTAT.pack(
            a.attach, a.detach, a.n_ios, a.duration, a.n_merged, 0, a.bytes_hit, a.bytes_missed, a.bytes_bypassed
        )
        for a in info.accesses
    )
    return b"".join(
        (VERSION.to_bytes(4, "little"), store, crc32c.crc32c(store).to_bytes(4, "little"), body),
    ) + crc32c.crc32c(body).to_bytes(4, "little")


def n_blocks(file_size: int, buffer_size: int) -> int:
    # XRootD's C expression (file_size - 1) / buffer_size + 1 truncates towards zero: an empty file has 1 block.
    return (file_size - 1) // buffer_size + 1 if file_size > 0 else 1


def read(path: Path | str) -> Cinfo:
    """Parse one file; raises CinfoError for a bad one and OSError when it cannot be read."""
    with open(path, "rb") as f:
        return parse(f.read())


def parse(data: bytes) -> Cinfo:
    if len(data) < _I32.size:
        raise CinfoError(f"truncated: {len(data)} bytes, no version")
    (version,) = _I32.unpack_from(data)
    if version == 4:
        return _parse_v4(data)
    if version in (2, 3):
        return _parse_v2_v3(data, version)
    raise CinfoError(f"unsupported version {version}")


def _need(data: bytes, end: int, what: str) -> None:
    if len(data) < end:
        raise CinfoError(f"truncated: {len(data)} of {end} bytes ({what})")


def _bitvec_size(buffer_size: int, file_size: int) -> int:
    if buffer_size <= 0:
        raise CinfoError(f"bad buffer_size {buffer_size}")
    if file_size < 0:
        raise CinfoError(f"bad file_size {file_size}")
    return (n_blocks(file_size, buffer_size) + 7) // 8


def _v4_frame(data: bytes) -> tuple[tuple[int, ...], int, int, int]:
    """Check a v4 file's framing and both CRC32Cs: (Store fields, bitvec start, bitvec bytes, records end)."""
    head = 4 + STORE.size
    if len(data) < head + 4:  # the f-strings only on failure: this runs once per file per scan
        _need(data, head + 4, "store")
    store = STORE.unpack_from(data, 4)
    if crc32c.crc32c(memoryview(data)[4:head]) != _U32.unpack_from(data, head)[0]:
        raise CinfoError("store checksum (crc32c) mismatch")
    n_astat = store[6]
    if n_astat < 0:
        raise CinfoError(f"bad access record count {n_astat}")
    nbytes = _bitvec_size(store[0], store[1])
    body = head + 4
    end = body + nbytes + n_astat * ASTAT.size
    if len(data) < end + 4:
        _need(data, end + 4, f"{nbytes} B of blocks, {n_astat} access records")
    if crc32c.crc32c(memoryview(data)[body:end]) != _U32.unpack_from(data, end)[0]:
        raise CinfoError("blocks/access records checksum (crc32c) mismatch")
    return store, body, nbytes, end


def _parse_v4(data: bytes) -> Cinfo:
    (bs, fs, created, no_cks, acc_cnt, status, _), body, nbytes, end = _v4_frame(data)
    accesses = tuple(
        Access(at, dt, ios, dur, mrg, hit, miss, byp)
        for at, dt, ios, dur, mrg, _, hit, miss, byp in ASTAT.iter_unpack(data[body + nbytes : end])
    )
    # f_cksum_check is a signed 3-bit field: values 4-7 read as negative in C, "unknown" to xrdpfc_print.
    cksum = status & 7
    return Cinfo(
        4,
        bs,
        fs,
        created,
        no_cks,
        acc_cnt,
        CKSUM_STATES[cksum] if cksum < len(CKSUM_STATES) else "unknown",
        data[body : body + nbytes],
        accesses,
    )


def _parse_v2_v3(data: bytes, version: int) -> Cinfo:
    _need(data, 4 + _V3_HEAD.size, "header")
    bs, fs = _V3_HEAD.unpack_from(data, 4)
    nbytes = _bitvec_size(bs, fs)
    pos = 4 + _V3_HEAD.size
    _need(data, pos + nbytes + 16 + _I64.size, f"{nbytes} B of blocks, md5 and creation time")
    bitvec = data[pos : pos + nbytes]
    pos += nbytes
    if hashlib.md5(bitvec).digest() != data[pos : pos + 16]:
        raise CinfoError("blocks checksum (md5) mismatch")
    pos += 16
    (created,) = _I64.unpack_from(data, pos)
    pos += _I64.size
    # XRootD reads the access count and whole records while they last; a short tail is ignored, not an error.
    acc_cnt = _U64.unpack_from(data, pos)[0] if len(data) >= pos + _U64.size else 0
    pos += _U64.size
    record = ASTAT if version == 3 else ASTAT_V2
    usable = max(0, (len(data) - pos) // record.size * record.size)
    accesses = []
    for fields in record.iter_unpack(data[pos : pos + usable]):
        if version == 3:
            at, dt, ios, dur, mrg, _, hit, miss, byp = fields
        else:
            at, dt, hit, miss, byp = fields
            # XRootD stores detach - attach even for an open record (a huge negative duration): keep 0.
            ios, dur, mrg = 1, dt - at if dt else 0, 0
        if ios <= 0 or at < _ONE_YEAR or (dt != 0 and (dt < _ONE_YEAR or dt < at)):
            continue
        accesses.append(Access(at, dt, ios, dur, mrg, hit, miss, byp))
    return Cinfo(version, bs, fs, created, 0, acc_cnt, "none", bitvec, tuple(accesses))


# The scan's fast path: the sums the exporter needs, without building a Cinfo and its Access records.
_HIT_MISS_BYPASS: dict[int, struct.Struct] = {}
_LAST = struct.Struct("<qqii")  # attach, detach, n_ios, duration of one v4 record


def _sums(n: int) -> struct.Struct:
    # One unpack for all records: skip attach..reserved (32 B) and take hit, miss, bypass of each.
    s = _HIT_MISS_BYPASS.get(n)
    if s is None:
        s = _HIT_MISS_BYPASS[n] = struct.Struct("<" + "32xqqq" * n)
    return s


def summary(data: bytes) -> tuple[int, bool, int, int, int, int, int]:
    """(file_size, complete, access_count, bytes hit, missed, bypassed, last_access) of a file's bytes.

    Equal to the same properties of parse(data), and raises CinfoError for the same files; v4 without objects.
    """
    if len(data) < 4 or _I32.unpack_from(data)[0] != 4:
        info = parse(data)
        return (info.file_size, info.complete, info.access_count, info.bytes_hit, info.bytes_missed,
                info.bytes_bypassed, info.last_access)  # fmt: skip
    (bs, fs, created, _, acc_cnt, _, n_astat), body, nbytes, end = _v4_frame(data)
    nblk = n_blocks(fs, bs)
    full, rest = divmod(nblk, 8)
    # Complete: every real block's bit set (padding bits of the last byte may be anything).
    complete = data.count(255, body, body + full) == full and (
        rest == 0 or data[body + full] | (0xFF << rest) & 0xFF == 0xFF
    )
    if n_astat:
        v = _sums(n_astat).unpack_from(data, body + nbytes)
        hit, miss, byp = sum(v[0::3]), sum(v[1::3]), sum(v[2::3])
        at, dt, _, dur = _LAST.unpack_from(data, end - ASTAT.size)
        last = dt or at + dur
    else:
        hit = miss = byp = 0
        last = created
    return fs, complete, acc_cnt, hit, miss, byp, last


def present_end(data: bytes) -> tuple[int, int]:
    """(file_size, where the blocks marked present end: what the data file's size must reach, 0 with none) of a
    file's bytes; raises CinfoError for the same files as parse(). fsck's check, without building a Cinfo."""
    if len(data) >= 4 and _I32.unpack_from(data)[0] == 4:
        (bs, fs, *_), body, nbytes, _ = _v4_frame(data)
        bits = int.from_bytes(data[body : body + nbytes], "little")
    else:
        info = parse(data)
        bs, fs, bits = info.buffer_size, info.file_size, int.from_bytes(info.bitvec, "little")
    last = (bits & ((1 << n_blocks(fs, bs)) - 1)).bit_length()  # blocks 0 .. last-1 hold the last present one
    return fs, min(last * bs, fs)
