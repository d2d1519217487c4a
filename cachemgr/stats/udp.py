"""A UDP listener thread on 127.0.0.1 handing each datagram to a parser (summary and g-stream share it)."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable

RCVBUF = 8 << 20  # bursts from several instances must not overflow the socket between reads


class UdpListener:
    def __init__(self, port: int, handle: Callable[[bytes], None], host: str = "127.0.0.1"):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RCVBUF)
        self.sock.bind((host, port))
        self.port = self.sock.getsockname()[1]
        self.handle = handle
        self.thread = threading.Thread(target=self._loop, name=f"udp-{self.port}", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        # recv_into one buffer: recv(65536) would allocate 64 KiB per datagram, then shrink it.
        buf = bytearray(65536)
        view = memoryview(buf)
        while True:
            try:
                n = self.sock.recv_into(buf)
            except OSError:
                return  # closed
            self.handle(bytes(view[:n]))

    def close(self) -> None:
        # shutdown() wakes the blocked recv(); close() alone does not on Linux.
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self.thread.join(5)
