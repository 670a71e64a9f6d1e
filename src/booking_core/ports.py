"""Listening ports for the CLI's servers: a bind test that a restart passes at once, and who holds a busy port.

The probe binds with SO_REUSEADDR, as the servers themselves do (http.server, Tornado under
Streamlit): a socket left in TIME_WAIT by the previous process does not make the port look
taken; only a socket that listens does. When one does, the error names its process where
the system lets us see it (psutil; else /proc/net/tcp and /proc/*/fd; else just the port).
"""

from __future__ import annotations

import errno
import os
import socket
from pathlib import Path

from booking_core.domain.errors import InvalidInput

MIN_PORT, MAX_PORT = 1, 65535


class PortInUse(InvalidInput):
    """Another process listens on the port (context: host, port, pid when known)."""


def require_free(host: str, port: int, *, flag: str = "--port") -> None:
    """Raise PortInUse (naming the holder where it can) unless `host:port` can be bound now."""
    if not MIN_PORT <= port <= MAX_PORT:
        raise InvalidInput(f"{flag} {port} is not a port: use {MIN_PORT} to {MAX_PORT}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise busy(host, port, exc, flag=flag) from None


def busy(host: str, port: int, exc: OSError, *, flag: str = "--port") -> InvalidInput:
    """The one-line error for a failed bind: who holds the port, or why the address is refused."""
    if exc.errno != errno.EADDRINUSE:
        return InvalidInput(f"cannot listen on {host}:{port}: {exc.strerror or exc}: check the address or {flag}")
    pid, name = holder(port)
    who = f" by {name or 'process'} (pid {pid})" if pid else ""
    return PortInUse(
        f"port {port} on {host} is in use{who}: stop it or pass {flag} with a free port", host=host, port=port, pid=pid
    )


def holder(port: int) -> tuple[int | None, str | None]:
    """(pid, process name) of the process listening on TCP `port`, or (None, None) when unknown."""
    pid = _holder_psutil(port)
    if pid is None:
        pid = _holder_proc(port)
    if pid is None:
        return None, None
    return pid, _process_name(pid)


def _holder_psutil(port: int) -> int | None:
    try:
        import psutil  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - psutil is a dependency, but stay useful without it
        return None
    try:
        connections = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for c in connections:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
            return int(c.pid)
    return None


def _holder_proc(port: int) -> int | None:
    """Linux without psutil's view: the listening socket's inode in /proc/net/tcp*, then its owner's fd."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            # local_address is HEX_IP:HEX_PORT; state 0A is LISTEN
            if len(fields) > 9 and fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                inodes.add(fields[9])
    if not inodes:
        return None
    wanted = {f"socket:[{i}]" for i in inodes}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            for fd in (proc / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    return int(proc.name)
        except OSError:
            continue
    return None


def _process_name(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() or None
    except OSError:
        try:
            import psutil

            return str(psutil.Process(pid).name())
        except Exception:
            return None


__all__ = ["PortInUse", "busy", "holder", "require_free"]
