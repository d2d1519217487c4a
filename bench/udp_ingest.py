"""UDP ingest on one core: the exporter's listeners and stream collectors against increasing packet rates.

python bench/udp_ingest.py [--seconds 2] [--events 10]

A child process pinned to one core runs the real UdpListener with SummaryTotals.handle and
GstreamTotals.handle; this process, pinned to the other core, sends a 5.5.3 summary packet
(cachemgr/xcache/synth.py's, counters rising) or a g-stream packet (header + --events file_close lines) at
each rate for --seconds, then compares packets handled with packets sent. Reported: the highest rate without
loss. Targets (issue 5): >= 20k summary packets/s and >= 50k g-stream events/s.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

from cachemgr.xcache import synth

REPO = Path(__file__).resolve().parents[1]

SUMMARY_RATES = [5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000, 60_000, 80_000]
GSTREAM_EVENT_RATES = [10_000, 25_000, 40_000, 50_000, 60_000, 75_000, 100_000, 150_000, 200_000, 300_000]


def serve() -> None:
    """The child: listeners on 127.0.0.1; prints the ports, then the counts for each line read on stdin."""
    os.sched_setaffinity(0, {0})
    from cachemgr.stats.streams import GstreamTotals, SummaryTotals
    from cachemgr.stats.udp import UdpListener

    summary, gstream = SummaryTotals(), GstreamTotals(depth=2)
    listeners = [UdpListener(0, summary.handle), UdpListener(0, gstream.handle)]
    rcvbuf = listeners[0].sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
    print(listeners[0].port, listeners[1].port, rcvbuf, flush=True)
    for _ in sys.stdin:
        print(summary.packets, summary.bad, gstream.packets, gstream.bad, gstream.events, flush=True)


def summary_packets(n: int) -> list[bytes]:
    return [
        synth.summary_packet(tod=1000 + i, tot=i, rx=226 * i, tx=5250718 * i, us=i // 100, uu=i % 100 * 1000)
        for i in range(n)
    ]


def gstream_packet(events: int, seq: int) -> bytes:
    """synth.GSTREAM's header (sequence number seq) and events copies of its first file_close, each another file."""
    header, first, *_ = synth.GSTREAM.rstrip("\0").split("\n")
    lines = [header.replace('"pseq":  1', f'"pseq":{seq % 256:3d}')]
    lines += [first.replace("/user/ligo/frames/a.gwf", f"/user/ligo/run{i % 7}/f{seq}-{i}.gwf") for i in range(events)]
    return ("\n".join(lines) + "\0").encode()


def send(sock: socket.socket, port: int, packets: list[bytes], rate: float, seconds: float) -> tuple[int, float]:
    """Paced sends at rate packets/s for seconds: (packets sent, seconds taken)."""
    total = int(rate * seconds)
    batch = max(1, int(rate / 2000))  # sleep granularity is ~0.1 ms: send in small bursts
    addr = ("127.0.0.1", port)
    t0 = time.perf_counter()
    sent = 0
    while sent < total:
        for _ in range(min(batch, total - sent)):
            sock.sendto(packets[sent % len(packets)], addr)
            sent += 1
        ahead = t0 + sent / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    return sent, time.perf_counter() - t0


class Child:
    def __init__(self) -> None:
        code = f"import sys; sys.path.insert(0, {str(REPO / 'bench')!r}); import udp_ingest; udp_ingest.serve()"
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        self.summary_port, self.gstream_port, self.rcvbuf = map(int, self.proc.stdout.readline().split())

    def counts(self) -> list[int]:
        self.proc.stdin.write("\n")
        self.proc.stdin.flush()
        return list(map(int, self.proc.stdout.readline().split()))

    def settled(self) -> list[int]:
        """Counts once the child has drained its socket buffer (no change for 0.3 s)."""
        last = self.counts()
        while True:
            time.sleep(0.3)
            now = self.counts()
            if now == last:
                return now
            last = now

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.kill()
        self.proc.wait()


def ladder(child: Child, name: str, rates: list[int], per_packet: int, packets: list[bytes], seconds: float) -> int:
    """Sends at each rate (in events/s; per_packet events a packet) until one loses packets; the best lossless."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    port = child.summary_port if name == "summary" else child.gstream_port
    index = 0 if name == "summary" else 2
    best = 0
    for rate in rates:
        before = child.settled()
        sent, took = send(sock, port, packets, rate / per_packet, seconds)
        after = child.settled()
        handled = after[index] - before[index]
        bad = after[index + 1] - before[index + 1]
        offered = sent * per_packet / took
        lost = sent - handled
        print(
            f"{name}: offered {offered:,.0f} events/s ({sent / took:,.0f} packets/s), sent {sent}, handled {handled}, "
            f"lost {lost}, bad {bad}",
            flush=True,
        )
        assert bad == 0
        if lost > 0:
            break
        if offered < 0.95 * rate:  # the sender could not keep up: this is as far as we can measure
            best = max(best, int(offered))
            print(f"{name}: sender saturated at {offered:,.0f}/s", flush=True)
            break
        best = rate
    sock.close()
    return best


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=2.0)
    ap.add_argument("--events", type=int, default=10, help="file_close events per g-stream packet")
    args = ap.parse_args()
    os.sched_setaffinity(0, {1})
    child = Child()
    try:
        print(f"load average {os.getloadavg()[0]:.1f}; receive buffer {child.rcvbuf} B", flush=True)
        s = ladder(child, "summary", SUMMARY_RATES, 1, summary_packets(10_000), args.seconds)
        g_packets = [gstream_packet(args.events, i) for i in range(1000)]
        g = ladder(child, "gstream", GSTREAM_EVENT_RATES, args.events, g_packets, args.seconds)
    finally:
        child.close()
    print(f"summary: {s:,} packets/s without loss, target>=20k ({'met' if s >= 20_000 else 'MISSED'})")
    print(
        f"gstream: {g:,} events/s without loss ({args.events} events a packet), target>=50k "
        f"({'met' if g >= 50_000 else 'MISSED'})"
    )


if __name__ == "__main__":
    main()
