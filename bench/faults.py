"""`python -m bench.faults [--short] [--only NAME]`: the fault suite on real servers.

Each experiment drives `pioniers` through its command line (a fresh process, a config file pointing at real
servers: a private Dovecot, a misbehaving aiosmtpd server in its own process, SQLite or a private PostgreSQL
cluster), breaks something on purpose, and counts per recipient what the SMTP server received. One table row
per experiment (and database): registered, confirmations once / twice / missing, stuck, recovered, notes.
The full run writes bench/FAULTS.md; `--short` (small sizes, a few experiments) is what tests/test_faults_short.py
runs.
"""
from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from bench import cases
from bench.cases import PIONIERS, meeting_day, registration, rows, scalar
from bench.faultservers import FaultSmtp, PrivatePg
from bench.servers import Dovecot
from servers import _live_group_members  # noqa: E402  (tests/servers.py, on the path via bench.servers)

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


@dataclass
class Row:
    experiment: str
    database: str
    registered: str = ""
    once: int = 0
    twice: int = 0
    missing: int = 0
    stuck: int = 0
    recovered: str = ""
    notes: str = ""
    facts: dict = field(default_factory=dict)  # for the short test's assertions

    def line(self) -> str:
        return (f"| {self.experiment} | {self.database} | {self.registered} | {self.once} | {self.twice} | "
                f"{self.missing} | {self.stuck} | {self.recovered} | {self.notes} |")


HEADER = ["| experiment | db | registered | once | twice+ | missing | stuck | recovered | notes |",
          "|---|---|---|---:|---:|---:|---:|---|---|"]


# --- the command line, in its own process group ------------------------------------------------------------


class Cli:
    def __init__(self, work: Path, config: Path) -> None:
        self.work, self.config, self.log = work, config, work / "pioniers.log"

    def start(self, *words: str) -> subprocess.Popen:
        env = dict(os.environ, PYTHONPATH=str(ROOT))
        with self.log.open("ab") as out:
            out.write(f"\n$ pioniers {' '.join(words)}\n".encode())
            out.flush()
            return subprocess.Popen([*PIONIERS, "--config", str(self.config), *words], cwd=self.work, env=env,
                                    stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                    start_new_session=True)

    def run(self, *words: str, timeout: float = 600) -> tuple[int | None, float]:
        """(exit code, seconds); None when it did not return within timeout (it is then killed)."""
        started = time.perf_counter()
        proc = self.start(*words)
        try:
            code: int | None = proc.wait(timeout)
        except subprocess.TimeoutExpired:
            kill_group(proc)
            code = None
        return code, time.perf_counter() - started

    def ok(self, *words: str, timeout: float = 600) -> float:
        code, seconds = self.run(*words, timeout=timeout)
        if code != 0:
            raise RuntimeError(f"pioniers {' '.join(words)} exited {code}: {self.tail()}")
        return seconds

    def tail(self, n: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-n:]


def kill_group(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> list[int]:
    """kill -9 the process group; returns orphans still alive afterwards (there should be none)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(10)
    time.sleep(0.1)
    return _live_group_members(proc.pid)


UNSENT_DELIVERIES = "SELECT count(*) FROM deliveries WHERE status IN ('queued', 'waiting')"
LAST_DUE = "SELECT max(next_attempt_at) FROM outbound_messages WHERE status IN ('queued', 'waiting')"


def write_config(work: Path, db_url: str, smtp: FaultSmtp, mailbox=None, shipped_limits: bool = False,  # type: ignore[no-untyped-def]
                 extra: str = "") -> Path:
    path = cases.write_config(work, db_url, smtp, mailbox)  # type: ignore[arg-type]
    text = path.read_text()
    if shipped_limits:  # the shipped [limits]: no pace (replies_per_hour = 0)
        text = text.replace("replies_per_hour = 1000000", "replies_per_hour = 0")
    path.write_text(text + extra)
    return path


class Env:
    """One experiment's world: a work folder, a database (SQLite file or a fresh database in the private
    PostgreSQL cluster), a fault SMTP server and optionally a Dovecot mailbox."""

    counter = 0

    def __init__(self, base: Path, name: str, database: str, pg: PrivatePg | None, dovecot: Dovecot | None,
                 shipped_limits: bool = False, work: Path | None = None) -> None:
        Env.counter += 1
        self.work = work or base / f"{name}-{database}-{Env.counter}"
        self.work.mkdir(parents=True, exist_ok=True)
        if database == "postgresql":
            assert pg is not None
            dbname = f"f{Env.counter}"
            subprocess.run(["runuser", "-u", "postgres", "--", str(pg.bin / "createdb"), "-h", "127.0.0.1", "-p",
                            str(pg.port), dbname], check=True, capture_output=True, timeout=60)
            self.db = pg.url.rsplit("/", 1)[0] + "/" + dbname
        else:
            self.db = f"sqlite:///{self.work / 'pioniers.db'}"
        self.smtp = FaultSmtp(base).start()
        self.mailbox = dovecot.new_mailbox() if dovecot else None
        self.cli = Cli(self.work, write_config(self.work, self.db, self.smtp, self.mailbox, shipped_limits))
        self.cli.ok("init")
        self.cli.ok("meeting", "add", meeting_day().isoformat(), "--start", "14:00", "--end", "17:00", "--location",
                    "Stadskantoor, Stadserf 1, Schiedam", "--host", "Gemeente Schiedam", "--theme", "Open data")
        self.addresses: list[str] = []

    def append(self, count: int) -> list[str]:
        """count registrations appended to the mailbox (new addresses each call)."""
        assert self.mailbox is not None
        day, start, new, batch = meeting_day(), len(self.addresses), [], []
        with self.mailbox.connect(timeout=120) as client:
            for i in range(start, start + count):
                address, raw = registration(i, day)
                new.append(address)
                batch.append(raw)
                if len(batch) == 500 or i == start + count - 1:
                    client.multiappend("INBOX", batch)
                    batch = []
        self.addresses += new
        return new

    def registered(self) -> int:
        return scalar(self.db, "SELECT count(*) FROM registrations") or 0

    def outbox(self) -> dict[str, int]:
        """Rows by status, and "unsent": queued or waiting for the provider (both still to go)."""
        found = {s: n for s, n in rows(self.db, "SELECT status, count(*) FROM outbound_messages GROUP BY status")}
        return {**found, "unsent": found.get("queued", 0) + found.get("waiting", 0)}

    def fill(self, row: Row, addresses: list[str] | None = None) -> Row:
        addresses = self.addresses if addresses is None else addresses
        copies = self.smtp.copies()
        row.registered = f"{self.registered()}/{len(addresses)}"
        row.once = sum(1 for a in addresses if copies.get(a) == 1)
        row.twice = sum(1 for a in addresses if copies.get(a, 0) > 1)
        row.missing = sum(1 for a in addresses if not copies.get(a))
        box = self.outbox()
        row.stuck = sum(n for s, n in box.items() if s != "sent")
        per = rows(self.db, "SELECT recipient, count(*) FROM outbound_messages GROUP BY recipient")
        row.facts.update(rows_max=max([k for _, k in per] or [0]), rows=sum(k for _, k in per))
        row.facts.update(registered=self.registered(), total=len(addresses), twice=row.twice, missing=row.missing,
                         outbox=box, max_copies=max([copies.get(a, 0) for a in addresses] or [0]))
        return row

    def close(self) -> None:
        self.smtp.close()


@contextlib.contextmanager
def env(*args, **kw) -> Iterator[Env]:  # type: ignore[no-untyped-def]
    e = Env(*args, **kw)
    try:
        yield e
    finally:
        e.close()


@dataclass
class Ctx:
    base: Path
    dovecot: Dovecot
    pg: PrivatePg
    short: bool
    report: Callable[[str], None]

    def databases(self) -> tuple[str, ...]:
        return ("sqlite",) if self.short else ("sqlite", "postgresql")


def wait_until(cond: Callable[[], bool], timeout: float, step: float = 0.2) -> float | None:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if cond():
            return time.monotonic() - started
        time.sleep(step)
    return None


# --- 1. burst ------------------------------------------------------------------------------------------------


def exp_burst(ctx: Ctx) -> list[Row]:
    n = 300 if ctx.short else 3000
    out = []
    for database in ctx.databases():
        with env(ctx.base, "burst", database, ctx.pg, ctx.dovecot, shipped_limits=True) as e:
            e.append(n)
            code, seconds = e.cli.run("poll", "--once", timeout=600)
            row = e.fill(Row("1 burst", database))
            queued = e.outbox()["unsent"]
            row.recovered = "n/a"
            row.notes = (f"{n} registrations, one `poll --once`: exit {code}, {seconds:.1f} s; shipped [limits] "
                         f"(no pace)" + (f": {queued} still wait" if queued else ": every confirmation sent"))
            row.facts.update(code=code, seconds=seconds)
            out.append(row)
    return out


# --- 2. kill -9 of poll --once ---------------------------------------------------------------------------


def exp_kill_poll(ctx: Ctx) -> list[Row]:
    n = 300 if ctx.short else 2000
    trials = 2 if ctx.short else 3
    rng = random.Random(7)
    out = []
    for database in ctx.databases():
        for trial in range(trials):
            with env(ctx.base, "killpoll", database, ctx.pg, ctx.dovecot) as e:
                e.append(n)
                proc = e.cli.start("poll", "--once")
                # a random moment once replies are going out (the burst is being read and answered)
                wait_until(lambda: bool(e.smtp.copies()) or proc.poll() is not None, 120, 0.02)
                delay = rng.uniform(0.0, 0.4 if ctx.short else 1.5)
                time.sleep(delay)
                finished = proc.poll() is not None
                orphans = kill_group(proc)
                before = sum(1 for a in e.addresses if e.smtp.copies().get(a))
                code, seconds = e.cli.run("poll", "--once", timeout=600)
                leased = rows(e.db, "SELECT count(*), max(next_attempt_at) FROM outbound_messages "
                                    "WHERE status IN ('queued', 'waiting')")[0]
                waited = ""
                if leased[0]:
                    until = leased[1] if isinstance(leased[1], dt.datetime) else dt.datetime.fromisoformat(leased[1])
                    if until.tzinfo is None:
                        until = until.replace(tzinfo=dt.timezone.utc)
                    left = (until - dt.datetime.now(dt.timezone.utc)).total_seconds()
                    waited = f"{leased[0]} rows wait on the dead process's lease, {left:.0f} s more"
                    if not ctx.short and trial == 0 and database == "sqlite":  # once: wait the lease out, resume
                        time.sleep(max(left, 0) + 1)
                        e.cli.run("poll", "--once", timeout=600)
                        waited += f"; after it, a third `poll --once`: {e.outbox()['unsent']} still queued"
                row = e.fill(Row("2 kill -9 poll --once", database))
                row.recovered = "yes" if row.missing == 0 and row.stuck == 0 else "no"
                row.notes = (f"trial {trial + 1}: killed {delay:.2f} s after the first reply{' (already finished)' if finished else ''}, "
                             f"{before} had a reply then; resume exit {code} in {seconds:.1f} s"
                             + (f"; {waited}" if waited else "") + (f"; ORPHANS {orphans}" if orphans else ""))
                row.facts.update(code=code, orphans=orphans)
                out.append(row)
    return out


# --- 3. kill -9 of announce ------------------------------------------------------------------------------


def exp_kill_announce(ctx: Ctx) -> list[Row]:
    n = 300 if ctx.short else 2000
    rng = random.Random(11)
    out = []
    for database, trial in [(d, t) for d in ctx.databases() for t in range(2 if ctx.short else 3)]:
        with env(ctx.base, "killann", database, ctx.pg, None) as e:
            csv = e.work / "members.csv"
            members = [f"lid{i:06d}@gemeente{i % 97}.bench.test" for i in range(n)]
            csv.write_text("email,name\n" + "".join(f"{m},Lid {i}\n" for i, m in enumerate(members)))
            e.cli.ok("members", "import", str(csv))
            e.smtp.set(mode="ok")
            proc = e.cli.start("announce", meeting_day().isoformat(), "--yes")
            # kill once sending has started: after the first accepted message, plus a random moment
            wait_until(lambda: bool(e.smtp.copies()), 60, 0.02)
            delay = rng.uniform(0.0, 0.1 if ctx.short else 0.5)
            time.sleep(delay)
            orphans = kill_group(proc)
            before = len(e.smtp.copies())
            started = time.perf_counter()
            worker = e.cli.start("run", "--deliver-only")
            took = wait_until(lambda: not scalar(e.db, UNSENT_DELIVERIES),
                              300, 0.2)
            kill_group(worker, signal.SIGTERM)
            copies = e.smtp.copies()
            row = Row("3 kill -9 announce", database, registered=f"{n} members")
            row.once = sum(1 for m in members if copies.get(m) == 1)
            row.twice = sum(1 for m in members if copies.get(m, 0) > 1)
            row.missing = sum(1 for m in members if not copies.get(m))
            row.stuck = scalar(e.db, "SELECT count(*) FROM deliveries WHERE status != 'sent'") or 0
            row.recovered = "yes" if row.missing == 0 and row.stuck == 0 else "no"
            row.notes = (f"trial {trial + 1}: killed {delay:.2f} s after the first message, {before} sent then; `run --deliver-only` "
                         f"finished the rest in {took if took is None else round(time.perf_counter() - started, 1)} s; "
                         f"[list] connections = 4, the promise: at most one repeat per connection"
                         + (f"; ORPHANS {orphans}" if orphans else ""))
            row.facts.update(twice=row.twice, missing=row.missing, orphans=orphans, stuck=row.stuck,
                             deliveries=scalar(e.db, "SELECT count(*) FROM deliveries"), total=n,
                             max_copies=max([copies.get(m, 0) for m in members] or [0]))
            out.append(row)
    return out


# --- 4. PostgreSQL restart under `run` ---------------------------------------------------------------------


def start_run(e: Env) -> subprocess.Popen:
    proc = e.cli.start("run")
    if wait_until(lambda: b"service started" in e.cli.log.read_bytes() or proc.poll() is not None, 30) is None \
            or proc.poll() is not None:
        raise RuntimeError(f"pioniers run did not start: {e.cli.tail()}")
    return proc


def exp_pg_restart(ctx: Ctx) -> list[Row]:
    n = 100 if ctx.short else 1000
    out = []
    for mode in ("fast", "immediate"):
        with env(ctx.base, f"pgrestart-{mode}", "postgresql", ctx.pg, ctx.dovecot) as e:
            proc = start_run(e)
            e.append(n // 2)
            time.sleep(0.5)
            took = ctx.pg.restart(mode)
            e.append(n - n // 2)
            done = wait_until(lambda: len(e.smtp.copies()) >= n, 120, 0.5)
            alive = proc.poll() is None
            if alive:
                kill_group(proc, signal.SIGTERM)
            row = e.fill(Row(f"4 pg_ctl restart -m {mode}", "postgresql"))
            row.recovered = "yes" if row.missing == 0 and row.stuck == 0 else "no"
            row.notes = (f"`run` {'still running' if alive else f'DIED, exit {proc.returncode}'}; restart took "
                         f"{took:.1f} s; all replied {'after %.0f s' % done if done is not None else 'NOT within 120 s'}")
            row.facts.update(alive=alive, code=proc.returncode)
            out.append(row)
    return out


# --- 5. restarted `run` after kill -9 ----------------------------------------------------------------------


def exp_kill_run(ctx: Ctx) -> list[Row]:
    out = []
    for database in ctx.databases():
        with env(ctx.base, "killrun", database, ctx.pg, ctx.dovecot) as e:
            proc = start_run(e)
            e.append(20)
            wait_until(lambda: len(e.smtp.copies()) >= 20, 60)
            kill_group(proc)
            killed_at = time.monotonic()
            e.append(20)
            code, seconds = e.cli.run("run", timeout=20)
            refused = "already reading this inbox" in e.cli.tail(600)
            line = next((ln for ln in e.cli.tail(600).splitlines() if "already reading" in ln), "")
            waited = ""
            if not ctx.short and refused and database == "sqlite":  # retry every 20 s until a `run` starts
                while time.monotonic() - killed_at < 240:
                    time.sleep(20)
                    proc = e.cli.start("run")
                    time.sleep(4)
                    if proc.poll() is None:
                        waited = f"a new `run` started {time.monotonic() - killed_at - 4:.0f} s after the kill"
                        wait_until(lambda: len(e.smtp.copies()) >= 40, 60)
                        kill_group(proc, signal.SIGTERM)
                        break
                else:
                    waited = "still refused after 240 s"
            row = e.fill(Row("5 kill -9 run, restart", database))
            row.recovered = "yes" if row.missing == 0 else "no (refused)"
            row.notes = (f"restart at once: exit {code} after {seconds:.1f} s, "
                         f"{'refused: `' + line.strip()[:160] + '`' if refused else 'not refused'}"
                         + (f"; {waited}" if waited else ""))
            row.facts.update(refused=refused, code=code)
            out.append(row)
    return out


# --- 6. SMTP faults --------------------------------------------------------------------------------------


SMTP_MODES = [("down", "server stopped"), ("421", "421 at MAIL"), ("451", "451 at MAIL"),
              ("hang_mail", "hangs at MAIL"), ("hang_data", "hangs after DATA"),
              ("drop_data", "reads DATA, closes without reply")]


def exp_smtp(ctx: Ctx) -> list[Row]:
    n = 40 if ctx.short else 200
    # the short run leaves out the hangs: each costs two 30 s SMTP timeouts
    modes = [m for m in SMTP_MODES if m[0] in ("down", "drop_data")] if ctx.short else SMTP_MODES
    out = []
    for mode, what in modes:
        with env(ctx.base, f"smtp-{mode}", "sqlite", ctx.pg, ctx.dovecot) as e:
            if mode == "down":
                e.smtp.stop()
            else:
                e.smtp.set(mode=mode, hang=3600)
            e.append(n)
            recorded: list[float] = []
            proc = e.cli.start("poll", "--once")
            started = time.perf_counter()
            while proc.poll() is None and time.perf_counter() - started < 120:
                if not recorded and e.registered() >= n:
                    recorded.append(time.perf_counter() - started)
                time.sleep(0.2)
            returned = proc.poll() is not None
            poll_s = time.perf_counter() - started
            if not returned:
                kill_group(proc)
            if not recorded and e.registered() >= n:
                recorded.append(poll_s)
            first = e.fill(Row("", ""))
            # the server is well again; the outbox retries after its backoff (30 s for a first failure)
            if mode == "down":
                e.smtp.start()
            e.smtp.set(mode="ok")
            wait = 0.0
            if not ctx.short:
                due = rows(e.db, LAST_DUE)[0][0]
                if due is not None:
                    due = due if isinstance(due, dt.datetime) else dt.datetime.fromisoformat(due)
                    due = due.replace(tzinfo=due.tzinfo or dt.timezone.utc)
                    wait = min(max((due - dt.datetime.now(dt.timezone.utc)).total_seconds() + 1, 0), 200)
                    time.sleep(wait)
            code, seconds = e.cli.run("poll", "--once", timeout=300)
            row = e.fill(Row(f"6 SMTP {what}", "sqlite"))
            row.recovered = "yes" if row.missing == 0 and row.stuck == 0 else (
                "not tried (backoff)" if ctx.short else "no")
            row.notes = (f"{n} registrations; `poll --once` {'returned' if returned else 'DID NOT RETURN'} in "
                         f"{poll_s:.1f} s, all recorded after "
                         f"{'%.1f s' % recorded[0] if recorded else 'NEVER'}; during the fault: "
                         f"{first.once} once, {first.twice} twice, outbox {first.facts['outbox']}; "
                         f"server well again, {'waited %.0f s, ' % wait if wait else ''}`poll --once` exit {code} "
                         f"({seconds:.1f} s)")
            hung: dict[str, int] = {}
            for ev in e.smtp.events():
                if ev["event"] == "hang" and ev.get("at") == "DATA":
                    for r in ev["rcpts"]:
                        hung[r] = hung.get(r, 0) + 1
            if hung:
                row.notes += (f"; the server received the whole message and hung before replying: "
                              f"{len(hung)} recipient(s), up to {max(hung.values())} time(s) each (not counted "
                              "above: a real server may or may not deliver those)")
            row.facts.update(returned=returned, poll_s=poll_s, recorded_s=recorded[0] if recorded else None,
                             during=first.facts)
            out.append(row)
    return out


# --- 7. provider limits ----------------------------------------------------------------------------------


def exp_provider(ctx: Ctx) -> list[Row]:
    n = 45 if ctx.short else 90
    out = []
    cases_ = [("rate", {"mode": "rate", "per_minute": 30}, "421 4.4.2 beyond 30/min"),
              ("quota_data", {"mode": "quota_data", "quota": 20}, "554 5.2.0 SubmissionQuotaExceeded after 20"),
              ("quota_rcpt", {"mode": "quota_rcpt", "quota": 20}, "550 5.4.5 daily quota after 20")]
    for name, control, what in cases_:
        with env(ctx.base, f"provider-{name}", "sqlite", ctx.pg, ctx.dovecot) as e:
            e.smtp.set(**control)
            e.append(n)
            code, seconds = e.cli.run("poll", "--once", timeout=300)
            first = e.fill(Row("", ""))
            failed = first.facts["outbox"].get("failed", 0)
            # the quota resets (the control file), the outbox retries what is due after its backoff
            e.smtp.set(mode="ok")
            time.sleep(0 if ctx.short else 31)
            e.cli.run("poll", "--once", timeout=300)
            row = e.fill(Row(f"7 provider: {what}", "sqlite"))
            row.recovered = "yes" if row.missing == 0 and row.stuck == 0 else "no"
            row.notes = (f"{n} registrants; first `poll --once` exit {code} ({seconds:.1f} s): {first.once} sent, "
                         f"outbox {first.facts['outbox']}, **{failed} failed for the sender's quota**; after the "
                         f"reset{'' if ctx.short else ' and 31 s'}, another `poll --once`: outbox {row.facts['outbox']}")
            row.facts.update(failed_first=failed)
            out.append(row)
    if not ctx.short:  # the same quota on the list's fan-out
        with env(ctx.base, "provider-list", "sqlite", ctx.pg, None) as e:
            m = 100
            csv = e.work / "members.csv"
            members = [f"lid{i:06d}@gemeente{i % 97}.bench.test" for i in range(m)]
            csv.write_text("email,name\n" + "".join(f"{x},Lid {i}\n" for i, x in enumerate(members)))
            e.cli.ok("members", "import", str(csv))
            e.smtp.set(mode="quota_data", quota=40)
            code, seconds = e.cli.run("announce", meeting_day().isoformat(), "--yes", timeout=300)
            st = dict(rows(e.db, "SELECT status, count(*) FROM deliveries GROUP BY status"))
            e.smtp.set(mode="ok")
            time.sleep(31)
            worker = e.cli.start("run", "--deliver-only")
            time.sleep(15)
            kill_group(worker, signal.SIGTERM)
            st2 = dict(rows(e.db, "SELECT status, count(*) FROM deliveries GROUP BY status"))
            copies = e.smtp.copies()
            row = Row("7 provider: 554 5.2.0 on a list", "sqlite", registered=f"{m} members",
                      once=sum(1 for x in members if copies.get(x) == 1),
                      twice=sum(1 for x in members if copies.get(x, 0) > 1),
                      missing=sum(1 for x in members if not copies.get(x)),
                      stuck=sum(v for k, v in st2.items() if k != "sent"))
            row.recovered = "yes" if row.missing == 0 else "no"
            row.notes = (f"quota 40; `announce --yes` exit {code} ({seconds:.1f} s): deliveries {st}; after the "
                         f"reset, 31 s and 15 s of `run --deliver-only`: {st2}")
            out.append(row)
    return out


# --- 8. IMAP login failing -------------------------------------------------------------------------------


def exp_imap_login(ctx: Ctx) -> list[Row]:
    n = 30
    with env(ctx.base, "imaplogin", "sqlite", ctx.pg, ctx.dovecot) as e:
        e.smtp.set(mode="451")  # the replies are queued, not sent
        e.append(n)
        e.cli.run("poll", "--once", timeout=120)
        queued = e.outbox()["unsent"]
        assert e.mailbox is not None
        ctx.dovecot._add_user_line(e.mailbox.user, "changed-password")  # the login now fails
        e.smtp.set(mode="ok")
        due = rows(e.db, LAST_DUE)[0][0]
        wait = 0.0
        if due is not None:
            due = due if isinstance(due, dt.datetime) else dt.datetime.fromisoformat(due)
            due = due.replace(tzinfo=due.tzinfo or dt.timezone.utc)
            wait = max((due - dt.datetime.now(dt.timezone.utc)).total_seconds() + 1, 0)
            time.sleep(min(wait, 200))
        code, seconds = e.cli.run("poll", "--once", timeout=120)
        line = next((ln for ln in reversed(e.cli.tail(2000).splitlines()) if "login" in ln.lower()
                     or "authenticat" in ln.lower()), "")
        after_poll = e.outbox()["unsent"]
        proc = e.cli.start("run")
        sent_by_run = wait_until(lambda: not e.outbox()["unsent"], 40, 0.5)
        alive = proc.poll() is None
        kill_group(proc, signal.SIGTERM)
        row = e.fill(Row("8 IMAP login failing", "sqlite"))
        row.recovered = "yes" if row.missing == 0 and row.stuck == 0 else "no"
        row.notes = (f"{queued} replies queued (SMTP 451), then the password changed; waited {wait:.0f} s for the "
                     f"backoff; `poll --once` exit {code}, {after_poll} still queued after it (`{line.strip()[:140]}`);"
                     f" `run`: {'sent them in %.0f s' % sent_by_run if sent_by_run is not None else 'did NOT send them in 40 s'}"
                     f", {'still running' if alive else f'exited {proc.returncode}'}")
        return [row]


# --- 9. disk full ----------------------------------------------------------------------------------------


def exp_disk_full(ctx: Ctx) -> list[Row]:
    mnt = Path(tempfile.mkdtemp(prefix="faults-tmpfs-", dir=ctx.base))
    res = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=20m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if res.returncode != 0:
        return [Row("9 disk full", "sqlite", notes=f"not run: `mount -t tmpfs` failed here: {res.stderr.strip()}")]
    try:
        with env(ctx.base, "diskfull", "sqlite", ctx.pg, ctx.dovecot, work=mnt / "work") as e:
            e.cli.log = ctx.base / "diskfull.log"  # the output must not land on the full disk itself
            e.append(20)
            e.cli.ok("poll", "--once")
            filler = mnt / "filler"
            subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1M", "count=30"], capture_output=True)
            e.append(50)
            code, seconds = e.cli.run("poll", "--once", timeout=120)
            lines = [ln for ln in e.cli.tail(4000).splitlines()[-40:]
                     if "space" in ln.lower() or "disk" in ln.lower() or "full" in ln.lower() or "error" in ln.lower()]
            try:
                during: object = e.registered()
            except Exception as exc:  # noqa: BLE001 - the harness reads the same full disk
                during = f"? (the harness's own read: {str(exc).splitlines()[0][:80]})"
            filler.unlink()
            code2, seconds2 = e.cli.run("poll", "--once", timeout=120)
            row = e.fill(Row("9 disk full (tmpfs 20 MB)", "sqlite"))
            row.recovered = "yes" if row.missing == 0 and row.stuck == 0 else "no"
            row.notes = (f"20 registered, disk filled, 50 more: `poll --once` exit {code} ({seconds:.1f} s), "
                         f"{during} recorded, shown: `{(lines[-1] if lines else '(no error line)').strip()[:200]}`; "
                         f"space freed: `poll --once` exit {code2} ({seconds2:.1f} s)")
            return [row]
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


EXPERIMENTS: dict[str, Callable[[Ctx], list[Row]]] = {
    "burst": exp_burst, "kill-poll": exp_kill_poll, "kill-announce": exp_kill_announce,
    "pg-restart": exp_pg_restart, "kill-run": exp_kill_run, "smtp": exp_smtp, "provider": exp_provider,
    "imap-login": exp_imap_login, "disk-full": exp_disk_full,
}
SHORT = ("burst", "kill-poll", "kill-announce", "smtp", "kill-run", "pg-restart")


def run(short: bool, only: list[str] | None, report: Callable[[str], None] = print) -> list[Row]:
    names = only or (list(SHORT) if short else list(EXPERIMENTS))
    base = Path(tempfile.mkdtemp(prefix="pioniers-faults-"))
    os.chmod(base, 0o755)
    results: list[Row] = []
    try:
        with Dovecot(base / "dovecot") as dovecot, PrivatePg() as pg:
            ctx = Ctx(base, dovecot, pg, short, report)
            for name in names:
                started = time.perf_counter()
                try:
                    rows_ = EXPERIMENTS[name](ctx)
                except Exception as exc:  # noqa: BLE001 - one experiment's crash is a row, the others still run
                    if short:
                        raise
                    rows_ = [Row(name, "", notes=f"EXPERIMENT FAILED: {type(exc).__name__}: {str(exc)[:300]}")]
                for r in rows_:
                    report(r.line())
                report(f"({name}: {time.perf_counter() - started:.0f} s)")
                results += rows_
    finally:
        if os.environ.get("FAULTS_KEEP"):
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    parser.add_argument("--short", action="store_true", help="a few experiments at small sizes (CI, < 90 s)")
    parser.add_argument("--only", choices=list(EXPERIMENTS), action="append")
    parser.add_argument("--out", default=str(HERE / "FAULTS.md"))
    args = parser.parse_args()
    started = time.perf_counter()
    print("\n".join(HEADER), flush=True)
    results = run(args.short, args.only, lambda s: print(s, flush=True))
    if args.short or args.only:
        return 0
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    head = [f"# Fault suite results", "",
            f"Command: `python -m bench.faults` ({time.perf_counter() - started:.0f} s). "
            f"{dt.datetime.now(dt.timezone.utc):%Y-%m-%d %H:%M UTC}, {os.cpu_count()} cores (shared), Python "
            f"{platform.python_version()}, {platform.system()} {platform.release()}. Code measured: commit `{commit}` "
            "(branch `faults`).", "",
            "Real servers: a private Dovecot (IMAP), an aiosmtpd server in its own process that misbehaves on "
            "purpose (bench/faultservers.py: a control file read on every command, every accepted message logged "
            "with its recipients, ambiguous drops counted as received), SQLite, and a private PostgreSQL cluster "
            "on a free port. `once`/`twice+`/`missing`: copies per registrant (or member) the SMTP server received. "
            "`stuck`: outbox rows (or deliveries) not `sent` at the end.", ""]
    out = Path(args.out)
    kept = ""  # the hand-written findings below the tables survive a new run
    if out.exists() and "\n## Findings" in out.read_text():
        kept = "\n## Findings" + out.read_text().split("\n## Findings", 1)[1]
    out.write_text("\n".join(head + HEADER + [r.line() for r in results]) + "\n" + kept)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
