"""Servers that misbehave on purpose, for bench/faults.py: an SMTP server (aiosmtpd in its own process, steered
by a JSON control file read on every command, logging every event as one JSON line) and a private PostgreSQL
cluster on a free port that may be restarted or crashed. Real servers, never mocks; a missing binary raises."""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from bench.servers import LOOPBACK, free_port, greets

# The server itself, run as `python -c SERVER PORT CONTROL LOG`. Control file keys:
#   mode: ok | 421 | 451 | hang_mail | hang_data | drop_data | rate | quota_data | quota_rcpt
#   hang: seconds to hang; per_minute: the rate limit; quota: accepted messages before the quota replies
SERVER = r'''
import asyncio, json, sys, time
from aiosmtpd.controller import Controller

port, control, logpath = int(sys.argv[1]), sys.argv[2], sys.argv[3]
logf = open(logpath, "a", buffering=1)
accepted_times = []
accepted_total = [0]

def ctl():
    try:
        with open(control) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {"mode": "ok"}

def log(event, **kw):
    logf.write(json.dumps({"t": time.time(), "event": event, **kw}) + "\n")

class Handler:
    async def handle_MAIL(self, server, session, envelope, address, options):
        c = ctl(); mode = c.get("mode", "ok")
        if mode == "421":
            log("reply", at="MAIL", code=421)
            return "421 4.3.2 Service not available, closing transmission channel"
        if mode == "451":
            log("reply", at="MAIL", code=451)
            return "451 4.3.0 Temporary server error, try again later"
        if mode == "hang_mail":
            log("hang", at="MAIL")
            await asyncio.sleep(float(c.get("hang", 3600)))
        if mode == "rate":
            now = time.time()
            while accepted_times and accepted_times[0] < now - 60:
                accepted_times.pop(0)
            if len(accepted_times) >= int(c.get("per_minute", 30)):
                log("reply", at="MAIL", code=421)
                return ("421 4.4.2 Message submission rate for this client has exceeded the configured limit")
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 Sender OK"

    async def handle_RCPT(self, server, session, envelope, address, options):
        c = ctl()
        if c.get("mode") == "quota_rcpt" and accepted_total[0] >= int(c.get("quota", 0)):
            log("reply", at="RCPT", code=550, rcpt=address.lower())
            return "550 5.4.5 Daily user sending quota exceeded"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Recipient OK"

    async def handle_DATA(self, server, session, envelope):
        c = ctl(); mode = c.get("mode", "ok")
        rcpts = [r.lower() for r in envelope.rcpt_tos]
        if mode == "hang_data":
            log("hang", at="DATA", rcpts=rcpts)
            await asyncio.sleep(float(c.get("hang", 3600)))
        if mode == "drop_data":
            # the whole message was received: a real server may well deliver it; the client never hears so
            log("accepted", rcpts=rcpts, ambiguous=True)
            server.transport.close()
            return "250 2.0.0 (never sent: the connection is closed)"
        if mode == "quota_data" and accepted_total[0] >= int(c.get("quota", 0)):
            log("reply", at="DATA", code=554, rcpts=rcpts)
            return ("554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException; Failed to process "
                    "message due to a permanent exception with message Cannot submit message.")
        accepted_times.append(time.time())
        accepted_total[0] += 1
        log("accepted", rcpts=rcpts)
        return "250 2.0.0 OK queued"


c = Controller(Handler(), hostname="127.0.0.1", port=port, ready_timeout=20)
c.start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
finally:
    c.stop()
'''


class FaultSmtp:
    """The misbehaving SMTP server: set(mode=...) changes it at once; stop()/start() take it down and up on the
    same port; copies() counts every message the server received per recipient (ambiguous drops included)."""

    def __init__(self, base: Path) -> None:
        self.host, self.port = LOOPBACK, free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="faultsmtp-", dir=base))
        self.control, self.log = self.dir / "control.json", self.dir / "events.jsonl"
        self.proc: subprocess.Popen | None = None
        self.set(mode="ok")

    def set(self, **control: object) -> None:
        tmp = self.control.with_suffix(".tmp")
        tmp.write_text(json.dumps(control))
        tmp.replace(self.control)

    def start(self) -> "FaultSmtp":
        self.proc = subprocess.Popen([sys.executable, "-c", SERVER, str(self.port), str(self.control),
                                      str(self.log)], stdout=subprocess.PIPE, stderr=(self.dir / "stderr").open("ab"),
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        if not greets(self.host, self.port, 20):
            raise RuntimeError(f"fault SMTP server did not start: {(self.dir / 'stderr').read_text()[-1000:]}")
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None

    def events(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.strip()]

    def copies(self) -> Counter:
        out: Counter = Counter()
        for e in self.events():
            if e["event"] == "accepted":
                out.update(e["rcpts"])
        return out

    def first_accepted(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for e in self.events():
            if e["event"] == "accepted":
                for r in e["rcpts"]:
                    out.setdefault(r, e["t"])
        return out

    def clear(self) -> None:
        self.log.unlink(missing_ok=True)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "FaultSmtp":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _pgbin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/initdb)")
    return found[-1].parent


class PrivatePg:
    """A private PostgreSQL cluster on a free port (never the machine's own), as the postgres user; restart()
    with -m fast or -m immediate (a crash); the whole cluster is removed at the end."""

    def __init__(self) -> None:
        self.bin = _pgbin()
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="faults-pg-", dir="/tmp"))
        shutil.chown(self.dir, "postgres", "postgres")
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/pioniers"

    def _ctl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "pg_ctl"), "-D",
                               str(self.dir / "data"), *args], check=check, capture_output=True, text=True,
                              timeout=120)

    def start(self) -> "PrivatePg":
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "initdb"), "-D", str(self.dir / "data"),
                        "-A", "trust", "-U", "postgres", "--no-sync"], check=True, capture_output=True, timeout=120)
        with (self.dir / "data" / "postgresql.conf").open("a") as f:
            f.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{self.dir}'\n"
                    "fsync = off\n")
        self._ctl("-l", str(self.dir / "server.log"), "-w", "start")
        subprocess.run(["runuser", "-u", "postgres", "--", str(self.bin / "createdb"), "-h", "127.0.0.1", "-p",
                        str(self.port), "pioniers"], check=True, capture_output=True, timeout=60)
        return self

    def restart(self, mode: str = "fast") -> float:
        started = time.perf_counter()
        self._ctl("-m", mode, "-w", "restart", "-l", str(self.dir / "server.log"))
        return time.perf_counter() - started

    def close(self) -> None:
        if (self.dir / "data" / "postmaster.pid").exists():
            self._ctl("-m", "immediate", "-w", "stop", check=False)
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> "PrivatePg":
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(self, *exc: object) -> None:
        self.close()
