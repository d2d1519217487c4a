"""A file server on 127.0.0.1 for tests: optional delay per request, and a count of concurrent requests."""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
import time
from pathlib import Path


class Server:
    def __init__(self, directory: Path, delay: float = 0):
        self.delay = delay
        self.active = 0
        self.peak = 0
        self.requests = 0
        self._lock = threading.Lock()
        outer = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):
                with outer._lock:
                    outer.active += 1
                    outer.requests += 1
                    outer.peak = max(outer.peak, outer.active)
                try:
                    time.sleep(outer.delay)
                    super().do_GET()
                finally:
                    with outer._lock:
                        outer.active -= 1

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextlib.contextmanager
def serve(directory: Path, delay: float = 0):
    server = Server(directory, delay)
    server.thread.start()
    try:
        yield server
    finally:
        server.stop()
