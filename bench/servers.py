"""The real servers the benchmarks run against: Dovecot (from tests/servers.py), Postfix's smtp-sink and
smtp-source, and a private PostgreSQL database. Plain classes; nothing here is specific to one case."""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from servers import Dovecot, free_port  # noqa: E402  (the tests' private Dovecot, reused as is)

LOOPBACK = "127.0.0.1"
PG_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
SHM = Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())

__all__ = ["Dovecot", "Sink", "Dump", "PgDatabase", "smtp_source", "run_measured"]


@dataclass
class Dump:
    """What smtp-sink captured: every transaction's recipients, plus a few header values per message."""

    messages: int = 0
    bytes: int = 0
    rcpts: Counter = field(default_factory=Counter)
    headers: dict[str, list[str]] = field(default_factory=dict)  # rcpt -> values of the wanted headers
    marks: Counter = field(default_factory=Counter)  # rcpt -> messages containing `mark`


class Sink:
    """`smtp-sink` on a free loopback port, dumping every transaction to one file in /dev/shm (tmpfs), so
    each recipient can be counted. Runs as nobody (smtp-sink refuses to run as root without -u)."""

    def __init__(self) -> None:
        self.host, self.port = LOOPBACK, free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pioniers-bench-sink-", dir=SHM))
        self.dump_path = self.dir / "dump"
        self.proc: subprocess.Popen | None = None

    def start(self) -> "Sink":
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody")
        binary = shutil.which("smtp-sink") or "/usr/sbin/smtp-sink"
        self.proc = subprocess.Popen([binary, *user, "-D", str(self.dump_path), f"{self.host}:{self.port}", "1000"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if not greets(self.host, self.port, 10):
            raise RuntimeError("smtp-sink did not start")
        return self

    def clear(self) -> None:
        self.dump_path.unlink(missing_ok=True)

    def read(self, headers: tuple[str, ...] = (), mark: bytes | None = None) -> Dump:
        """Parse the dump: a transaction starts with smtp-sink's own X-Client-Addr line."""
        out = Dump()
        if not self.dump_path.exists():
            return out
        wanted = tuple(h.lower().encode() + b":" for h in headers)
        rcpts: list[str] = []
        in_head, marked = False, False
        with self.dump_path.open("rb") as f:
            for line in f:
                if line.startswith(b"X-Client-Addr: "):
                    if rcpts and marked:
                        out.marks.update(rcpts)
                    out.messages += 1
                    rcpts, in_head, marked = [], True, False
                    continue
                out.bytes += len(line)
                if line.startswith(b"X-Rcpt-Args: "):
                    m = re.match(rb"X-Rcpt-Args: <([^>]*)>", line)
                    rcpt = m.group(1).decode().lower() if m else ""
                    rcpts.append(rcpt)
                    out.rcpts[rcpt] += 1
                elif in_head and line in (b"\n", b"\r\n"):
                    in_head = False
                elif in_head and wanted and line.lower().startswith(wanted):
                    for r in rcpts:
                        out.headers.setdefault(r, []).append(line.decode(errors="replace").strip())
                if mark is not None and not marked and mark in line:
                    marked = True
        if rcpts and marked:
            out.marks.update(rcpts)
        return out

    def seen(self, needle: bytes, offset: int) -> tuple[bool, int]:
        """Whether `needle` appears in the dump after byte `offset` (for the latency case)."""
        try:
            with self.dump_path.open("rb") as f:
                f.seek(max(offset - len(needle), 0))
                data = f.read()
        except FileNotFoundError:
            return False, offset
        return needle in data, offset

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "Sink":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def smtp_source(sink: Sink, messages: int, length: int, *, sessions: int = 4, reuse: bool = False) -> float:
    """Postfix's smtp-source into the same sink: the raw ceiling, in messages per second."""
    binary = shutil.which("smtp-source") or "/usr/sbin/smtp-source"
    args = [binary, "-s", str(sessions), "-m", str(messages), "-l", str(length), "-f", "bounces@bench.test",
            "-t", "ceiling@bench.test", *(["-d"] if reuse else []), f"{sink.host}:{sink.port}"]
    start = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    rate = messages / (time.perf_counter() - start)
    sink.clear()
    return rate


@dataclass
class Measured:
    seconds: float
    peak_rss_mb: float
    returncode: int
    output: str


def start_process(args: list[str], cwd: Path, log: Path) -> subprocess.Popen:
    out = log.open("ab")
    return subprocess.Popen(args, cwd=cwd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)


def wait_measured(proc: subprocess.Popen, started: float, timeout: float = 1800) -> tuple[float, float, int]:
    """Wait for a child with wait4: (seconds, peak RSS in MB of that child alone, exit code)."""
    deadline = time.monotonic() + timeout
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            seconds = time.perf_counter() - started
            proc.returncode = os.waitstatus_to_exitcode(status)
            return seconds, usage.ru_maxrss / 1024, proc.returncode
        if time.monotonic() > deadline:
            proc.kill()
            raise TimeoutError(f"{proc.args} did not finish")
        time.sleep(0.005)


def run_measured(args: list[str], cwd: Path, log: Path, timeout: float = 1800) -> Measured:
    start = time.perf_counter()
    proc = start_process(args, cwd, log)
    seconds, rss, code = wait_measured(proc, start, timeout)
    return Measured(seconds, rss, code, log.read_text(errors="replace")[-2000:])


class PgDatabase:
    """A private database on the local PostgreSQL, dropped afterwards (never tables in `test`)."""

    def __init__(self) -> None:
        self.name = f"pioniers_bench_{uuid.uuid4().hex[:10]}"
        self.url = PG_ADMIN.rsplit("/", 1)[0] + "/" + self.name

    def __enter__(self) -> "PgDatabase":
        from sqlalchemy import create_engine, text
        self.admin = create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{self.name}"'))
        return self

    def __exit__(self, *exc: object) -> None:
        from sqlalchemy import text
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
        self.admin.dispose()


def greets(host: str, port: int, seconds: float) -> bool:
    """Whether an SMTP server at host:port says 220 within seconds (it is starting up meanwhile)."""
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1) as s:
                if s.recv(100).startswith(b"220"):
                    return True
        except OSError:
            time.sleep(0.02)
    return False
