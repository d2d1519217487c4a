"""Is an xrootd answering the xroot protocol? A handshake, without xrdfs' two minutes of retries."""

from __future__ import annotations

import socket
import struct

# Client handshake: four zero words, then 4 and 2012 (XRootD protocol, "Protocol Specification" 2.1).
HANDSHAKE = struct.pack(">iiiii", 0, 0, 0, 4, 2012)


def answers(port: int, host: str = "127.0.0.1", timeout: float = 3) -> str | None:
    """None when the server answered the handshake, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as s:
            s.sendall(HANDSHAKE)
            reply = s.recv(16)
    except OSError as e:
        return f"xroot port {port}: {e.strerror or e}"
    if len(reply) < 8 or reply[:4] != b"\0\0\0\0":
        return f"xroot port {port}: not an xroot handshake reply"
    return None
