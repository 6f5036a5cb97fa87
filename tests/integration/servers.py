"""Real servers for the team tier: a PostgreSQL cluster and an `mlflow server` backed by
it (artifacts proxied), on loopback ports in a temporary directory. No mocks.

PostgreSQL's initdb/pg_ctl refuse to run as root: as root they run as the `postgres`
user (Debian's package creates it), otherwise as the current user.
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
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


def pg_bin(name: str) -> str | None:
    found = shutil.which(name) or sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return found if isinstance(found, str) else (found[-1] if found else None)


def _as_db_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


class Postgres:
    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pruning-pg-", dir="/tmp"))
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.dir, user.pw_uid, user.pw_gid)
        self.data = self.dir / "data"
        subprocess.run(_as_db_owner([pg_bin("initdb"), "-D", str(self.data), "-U", "postgres",
                                     "--auth=trust", "-E", "UTF8"]),
                       check=True, capture_output=True)
        self.start()
        for db in ("mlflow", "optuna"):
            subprocess.run(["psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres",
                            "-c", f"CREATE DATABASE {db}"], check=True, capture_output=True)

    def url(self, db: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{db}"

    def _ctl(self, *args: str) -> None:
        subprocess.run(_as_db_owner([pg_bin("pg_ctl"), "-D", str(self.data), "-w",
                                     "-l", str(self.dir / "log"), *args]),
                       check=True, capture_output=True)

    def start(self) -> None:
        self._ctl("-o", f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                        "-c max_connections=200", "start")

    def restart(self) -> None:
        self._ctl("-m", "fast", "restart")

    def down_for(self, seconds: float) -> None:
        """Stopped, then started again on its port: long enough that a call meets it gone."""
        self._ctl("-m", "fast", "stop")
        time.sleep(seconds)
        self.start()

    def stop(self) -> None:
        self._ctl("-m", "fast", "stop")
        shutil.rmtree(self.dir, ignore_errors=True)


class MlflowServer:
    def __init__(self, backend: str, artifacts: Path):
        self.backend, self.artifacts = backend, artifacts
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = artifacts.parent / f"mlflow-server-{self.port}.log"
        self.proc = None
        self.start()

    def start(self, timeout: float = 120) -> None:
        cmd = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", self.backend,
               "--artifacts-destination", str(self.artifacts), "--host", "127.0.0.1",
               "--port", str(self.port), "--workers", "2"]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mlflow server exited: {self.log.read_text()[-2000:]}")
            try:
                with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                    if r.status == 200:
                        return
            except OSError:
                time.sleep(0.5)
        raise RuntimeError(f"mlflow server did not answer in {timeout} s")

    def stop(self) -> None:
        """The server down and its port free. `mlflow server` exits on SIGTERM while its
        uvicorn child may still be draining: a restart on the same port before that can
        find the old workers answering /health while the new server fails to bind."""
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self._kill()
        for _ in range(2):  # drained, or killed
            deadline = time.time() + 30
            while _listening(self.port) and time.time() < deadline:
                time.sleep(0.2)
            if not _listening(self.port):
                return
            self._kill()
        raise RuntimeError(f"port {self.port} still answers after the server was killed")

    def _kill(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def errors(self) -> int:
        """Server-side errors in its log (5xx answers and tracebacks)."""
        text = self.log.read_text(errors="replace")
        return text.count("Traceback") + text.count('" 500 ')


class StorageProxy:
    """`pruning storage-proxy` in front of `storage`, on a fixed loopback port so that a
    restart comes back where the workers look for it."""

    def __init__(self, storage: str, log: Path, pool_size: int = 4):
        self.storage, self.log, self.pool_size = storage, log, pool_size
        self.port = free_port()
        self.url = f"grpc://127.0.0.1:{self.port}"
        self.proc = None
        self.start()

    def start(self, timeout: float = 60) -> None:
        cmd = [sys.executable, "-m", "pruning", "storage-proxy", "--storage", self.storage,
               "--host", "127.0.0.1", "--port", str(self.port),
               "--pool-size", str(self.pool_size)]
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"storage proxy exited: {self.log.read_text()[-2000:]}")
            if _listening(self.port):
                return
            time.sleep(0.2)
        raise RuntimeError(f"storage proxy did not listen in {timeout} s")

    def stop(self) -> int:
        """SIGTERM, as Kubernetes stops a pod; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode
