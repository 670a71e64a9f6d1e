"""The webhook sender against a real local socket server: keep-alive, a stale connection, timeouts, secrets."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from booking_core.notify import HttpSender, parse_webhook

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"


class RawServer:
    """Answers by a script per connection: for the n-th request on a connection, `answer(n)` is the
    bytes to send, or None to close the connection without answering."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.requests: list[tuple[int, bytes]] = []  # (connection number, request head)
        self.connections = 0
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.sock.getsockname()[1]}/hooks/secret-token"

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connection, args=(conn, self.connections), daemon=True).start()

    def _connection(self, conn: socket.socket, number: int) -> None:
        with conn, contextlib.suppress(OSError):  # the client may hang up first (a timeout)
            for n in range(1, 100):
                head = _read_request(conn)
                if head is None:
                    return
                self.requests.append((number, head))
                reply = self.answer(n)  # type: ignore[operator]
                if reply is None:
                    return
                conn.sendall(reply)

    def close(self) -> None:
        self.sock.close()


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    while len(body) < length:
        body += conn.recv(65536)
    return head


@pytest.fixture
def serve() -> Iterator[list[RawServer]]:
    servers: list[RawServer] = []
    yield servers
    for s in servers:
        s.close()


def _sender(server: RawServer, timeout: float = 2.0) -> HttpSender:
    return HttpSender(parse_webhook(server.url), timeout=timeout)


def test_messages_share_one_kept_alive_connection_with_the_headers_the_receiver_needs(serve) -> None:
    server = RawServer(lambda n: OK)
    serve.append(server)
    sender = _sender(server)
    results = [sender.post(b'{"n": %d}' % i, {"Idempotency-Key": f"k{i}"}) for i in range(3)]
    sender.close()
    assert [(r.ok, r.status) for r in results] == [(True, 200)] * 3
    assert [number for number, _ in server.requests] == [1, 1, 1]
    head = server.requests[0][1].decode().lower()
    assert "post /hooks/secret-token http/1.1" in head and "content-type: application/json" in head
    assert "idempotency-key: k0" in head and "user-agent: booking-core-notify/" in head


def test_a_reused_connection_the_receiver_dropped_is_resent_once_on_a_new_one(serve) -> None:
    server = RawServer(lambda n: OK if n == 1 else None)  # answers the first request of each connection only
    serve.append(server)
    sender = _sender(server)
    first, second = sender.post(b"{}", {}), sender.post(b"{}", {})
    sender.close()
    assert (first.ok, second.ok) == (True, True)
    assert [number for number, _ in server.requests] == [1, 1, 2]


def test_a_new_connection_dropped_without_an_answer_is_a_failed_attempt_not_resent(serve) -> None:
    server = RawServer(lambda n: None)
    serve.append(server)
    sender = _sender(server)
    result = sender.post(b"{}", {})
    sender.close()
    assert not result.ok and result.status is None and result.error
    assert len(server.requests) == 1
    assert "secret-token" not in result.error


def test_a_slow_receiver_is_a_timeout_and_an_error_status_is_a_failure(serve) -> None:
    def never_answers(_n: int) -> None:
        time.sleep(3)  # past the client's timeout, then hang up

    silent = RawServer(never_answers)
    failing = RawServer(lambda n: b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n")
    serve.extend([silent, failing])
    senders = [_sender(silent, timeout=0.3), _sender(failing)]
    slow, refused = (sender.post(b"{}", {}) for sender in senders)
    for sender in senders:
        sender.close()
    assert (slow.ok, slow.status, slow.error) == (False, None, "timed out after 0.3s")
    assert (refused.ok, refused.status, refused.error) == (False, 503, "HTTP 503")


def test_a_closed_port_is_a_one_line_failure_without_the_secret_path() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = HttpSender(parse_webhook(f"http://127.0.0.1:{port}/hooks/secret-token"), timeout=2).post(b"{}", {})
    assert not result.ok and result.status is None
    assert result.error is not None and "\n" not in result.error and "secret-token" not in result.error
