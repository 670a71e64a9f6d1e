"""A local webhook receiver for `booking demo`: notifications are delivered somewhere real, offline.

It answers 200 and counts each delivery id once, as a receiver that honours the
Idempotency-Key should. Set BOOKING_WEBHOOK_URL to deliver to a real endpoint instead.
"""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class DemoReceiver:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.seen: set[str] = set()
        self.posts = 0
        lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with lock:
                    receiver.posts += 1
                    receiver.seen.add(self.headers.get("Idempotency-Key") or "")
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:  # quiet: the demo prints its own summary
                return

        self.server = ThreadingHTTPServer((host, 0), Handler)
        self.url = f"http://{host}:{self.server.server_address[1]}/hooks/booking"
        self.thread = threading.Thread(target=self.server.serve_forever, name="demo-receiver", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
