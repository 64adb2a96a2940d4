"""The three benchmark cases. Each drives the product through its command line (`pioniers ...` in a
subprocess, on a config file pointing at the real servers) and checks exactly-once delivery afterwards."""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import signal
import statistics
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

from bench.servers import (Dovecot, PgDatabase, Sink, run_measured, smtp_source, start_process,
                           wait_measured)

PIONIERS = [sys.executable, "-m", "pioniers.cli"]
REG = "aanmelden@bench.test"
MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
          "november", "december"]


def meeting_day() -> dt.date:
    return dt.date.today() + dt.timedelta(days=60)


def ref(day: dt.date) -> str:
    return f"Pioniersnetwerk {day.day} {MONTHS[day.month - 1]} {day.year}"


def write_config(work: Path, db_url: str, sink: Sink, mailbox=None) -> Path:  # type: ignore[no-untyped-def]
    imap = (f'host = "{mailbox.host}"\nport = {mailbox.port}\nssl = false\nusername = "{mailbox.user}"\n'
            f'password = "{mailbox.password}"\npoll_seconds = 60\n') if mailbox else 'host = ""\n'
    path = work / "config.toml"
    path.write_text(textwrap.dedent(f"""\
        [network]
        name = "Pioniersnetwerk"
        title = "Pioniersnetwerk Open Overheid"
        registration_address = "{REG}"
        organisers = ["organisatie@bench.test"]
        timezone = "Europe/Amsterdam"
        language = "nl"

        [database]
        url = "{db_url}"

        [smtp]
        host = "{sink.host}"
        port = {sink.port}
        starttls = false

        [limits]
        # a burst of 10,000 registrations in one hour is the point of this benchmark, not a flood
        replies_per_hour = 1000000

        [imap]
        """) + imap, encoding="utf-8")
    return path


class Pioniers:
    """The command line on one config file; every call a fresh process, like an operator's."""

    def __init__(self, work: Path, config: Path) -> None:
        self.work, self.config, self.log = work, config, work / "pioniers.log"

    def args(self, *words: str) -> list[str]:
        return [*PIONIERS, "--config", str(self.config), *words]

    def __call__(self, *words: str, timeout: float = 1800):  # type: ignore[no-untyped-def]
        m = run_measured(self.args(*words), self.work, self.log, timeout)
        if m.returncode != 0:
            raise RuntimeError(f"pioniers {' '.join(words)} exited {m.returncode}:\n{m.output}")
        return m

    def start(self, *words: str):  # type: ignore[no-untyped-def]
        return start_process(self.args(*words), self.work, self.log)


def engine(db_url: str):  # type: ignore[no-untyped-def]
    from sqlalchemy import create_engine
    return create_engine(db_url)


def scalar(db_url: str, sql: str, **params):  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    eng = engine(db_url)
    try:
        with eng.connect() as conn:
            return conn.execute(text(sql), params).scalar()
    finally:
        eng.dispose()


def rows(db_url: str, sql: str, **params):  # type: ignore[no-untyped-def]
    from sqlalchemy import text
    eng = engine(db_url)
    try:
        with eng.connect() as conn:
            return list(conn.execute(text(sql), params))
    finally:
        eng.dispose()


def setup(work: Path, db_url: str, sink: Sink, mailbox=None) -> Pioniers:  # type: ignore[no-untyped-def]
    work.mkdir(parents=True, exist_ok=True)
    p = Pioniers(work, write_config(work, db_url, sink, mailbox))
    p("init")
    p("meeting", "add", meeting_day().isoformat(), "--start", "14:00", "--end", "17:00", "--location",
      "Stadskantoor, Stadserf 1, Schiedam", "--host", "Gemeente Schiedam", "--theme", "Open data")
    return p


# --- 1. fan-out ------------------------------------------------------------------------------------------


def member_name(i: int) -> str:
    if i % 11 == 0:
        return ""
    if i % 7 == 0:
        return f"Jörgen van 't Hoëk {i}"
    return f"Lid {i}"


def add_members(p: Pioniers, start: int, stop: int) -> None:
    csv = p.work / f"members-{start}-{stop}.csv"
    with csv.open("w", encoding="utf-8") as f:
        f.write("email,name\n")
        for i in range(start, stop):
            f.write(f"lid{i:06d}@gemeente{i % 97}.bench.test,{member_name(i)}\n")
    p("members", "import", str(csv))
    csv.unlink()


@dataclass
class FanoutResult:
    database: str
    workers: int
    members: int
    seconds: float
    rate: float
    peak_rss_mb: float
    size: int
    ceiling: float
    ceiling_reuse: float
    checked: str


def _stop(proc) -> float:  # type: ignore[no-untyped-def]
    os.kill(proc.pid, signal.SIGTERM)
    _, rss, _ = wait_measured(proc, time.perf_counter(), 60)
    return rss


def fanout_once(p: Pioniers, db_url: str, sink: Sink, database: str, members: int, workers: int) -> FanoutResult:
    sink.clear()
    day = meeting_day().isoformat()
    before = scalar(db_url, "SELECT coalesce(max(id), 0) FROM announcements")
    start = time.perf_counter()
    announce = p.start("announce", day, "--yes")
    extra = []
    if workers > 1:  # more workers join once the deliveries are queued, as an operator would start them
        while not scalar(db_url, "SELECT count(*) FROM announcements WHERE id > :b AND status != 'held'", b=before):
            time.sleep(0.01)
        extra = [p.start("run", "--deliver-only") for _ in range(workers - 1)]
    seconds, rss, code = wait_measured(announce, start)
    if code != 0:
        raise RuntimeError(f"announce exited {code}: {p.log.read_text()[-2000:]}")
    ann_id = scalar(db_url, "SELECT max(id) FROM announcements")
    while scalar(db_url, "SELECT count(*) FROM deliveries WHERE announcement_id = :a"
                 " AND status IN ('queued', 'waiting')", a=ann_id):  # not sent yet (mailer/states.py)
        time.sleep(0.02)
    seconds = time.perf_counter() - start
    rss = max([rss] + [_stop(w) for w in extra])
    # the rate: from approval (deliveries queued) to the last row marked sent
    approved, last = rows(db_url, "SELECT a.approved_at, max(d.sent_at) FROM announcements a JOIN deliveries d "
                                  "ON d.announcement_id = a.id WHERE a.id = :a GROUP BY a.approved_at", a=ann_id)[0]
    if isinstance(approved, str):
        approved, last = dt.datetime.fromisoformat(approved), dt.datetime.fromisoformat(last)
    sending = (last - approved).total_seconds()
    # exactly once: every member's address exactly once at the sink, with their own unsubscribe token
    tokens = {e: t for e, t in rows(db_url, "SELECT email, token FROM list_members WHERE status = 'active'")}
    dump = sink.read(headers=("List-Unsubscribe",))
    problems = []
    if dump.messages != members or len(tokens) != members:
        problems.append(f"{dump.messages} messages for {len(tokens)} members")
    twice = [a for a, n in dump.rcpts.items() if n != 1]
    missing = [a for a in tokens if dump.rcpts.get(a) != 1]
    wrong = [a for a, t in tokens.items() if not any(f"+unsubscribe-{t}@" in h for h in dump.headers.get(a, []))]
    sent = scalar(db_url, "SELECT count(*) FROM deliveries WHERE announcement_id = :a AND status = 'sent'", a=ann_id)
    if twice or missing or wrong or sent != members:
        problems.append(f"{len(twice)} twice, {len(missing)} missing, {len(wrong)} wrong token, {sent} rows sent")
    if problems:
        raise AssertionError(f"fan-out {database} x{workers} {members}: " + "; ".join(problems))
    size = max(dump.bytes // max(dump.messages, 1) - 330, 100)  # minus smtp-sink's own X-/Received lines
    sink.clear()
    ceiling = smtp_source(sink, members, size)
    ceiling_reuse = smtp_source(sink, members, size, reuse=True)
    return FanoutResult(database, workers, members, seconds, members / sending, rss, size, ceiling, ceiling_reuse,
                        "each member exactly once, own token")


@contextlib.contextmanager
def database_url(database: str, work: Path) -> Iterator[str]:
    """SQLite in the case's folder, or a private PostgreSQL database dropped afterwards."""
    if database != "postgresql":
        yield f"sqlite:///{work / 'pioniers.db'}"
        return
    with PgDatabase() as pg:
        yield pg.url


def fanout(base: Path, sizes: list[int], report) -> list[FanoutResult]:  # type: ignore[no-untyped-def]
    results: list[FanoutResult] = []
    for database in ("sqlite", "postgresql"):
        work = base / f"fanout-{database}"
        with Sink() as sink, database_url(database, work) as db_url:
            p = setup(work, db_url, sink)
            have = 0
            for size in sizes:
                add_members(p, have, size)
                have = size
                for workers in ((1, 2) if database == "postgresql" else (1,)):
                    r = fanout_once(p, db_url, sink, database, size, workers)
                    report(f"fan-out {database} x{workers} {size}: {r.rate:.0f}/s (ceiling {r.ceiling:.0f}/s), "
                           f"RSS {r.peak_rss_mb:.0f} MB")
                    results.append(r)
    return results


# --- 2. inbound burst ------------------------------------------------------------------------------------


_MONTHS = ["januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober",
           "november", "december"]
_OUTLOOK_HTML = """<html xmlns:o="urn:schemas-microsoft-com:office:office"><head>
<meta http-equiv="Content-Type" content="text/html; charset=utf-8"><style><!--
p.MsoNormal {{margin:0cm; font-size:11.0pt; font-family:"Calibri",sans-serif;}}
--></style></head><body lang="NL" link="#0563C1"><div class="WordSection1">
{paragraphs}
</div></body></html>"""


def registration(i: int, day: dt.date) -> tuple[str, bytes]:
    """One of the ways people register, as their clients write it: the flyer's subject, "Aanmelding ...", a reply
    to the announcement with Outlook's quote, the short date, the date without its year; plain text or Outlook's
    multipart with HTML, a signature and a disclaimer."""
    address = f"deelnemer{i:06d}@gemeente{i % 89}.bench.test"
    name = f"Ambtenaar {i}" if i % 5 else f"Siënna de Vries-Çelik {i}"
    form = i % 5
    month = _MONTHS[day.month - 1]
    subject = [ref(day), f"Aanmelding {ref(day)}", f"RE: {ref(day)}", f"Pioniersnetwerk {day.day}/{day.month}",
               f"Inschrijving Pioniersnetwerk {day.day} {month}"][form]
    own = ["Graag meld ik me aan voor de bijeenkomst.", "Hierbij meld ik mij aan.", "Ik kom graag, tot dan!",
           "Ik meld me aan.", "Graag schrijf ik mij in voor deze bijeenkomst."][form]
    signature = (f"Met vriendelijke groet,\n\n{name}\nAdviseur informatiebeheer\nGemeente {i % 89}\n"
                 "T 010 123 45 67\n\nDit bericht kan informatie bevatten die niet voor u is bestemd. Indien u niet "
                 "de geadresseerde bent, wordt u verzocht de afzender te informeren en het bericht te verwijderen.")
    text = f"Beste organisatie,\n\n{own}\n\n{signature}\n"
    if form == 2:  # a reply to the announcement, quoted as Outlook quotes
        text += ("\nVan: Pioniersnetwerk Open Overheid <aanmelden@pioniers.bench.test>\n"
                 f"Verzonden: maandag 1 februari 2027 10:00\nAan: {address}\nOnderwerp: {ref(day)}\n\n"
                 "Beste pioniers,\n\nOp de volgende bijeenkomst praten we over open data. Meld je aan door te "
                 "antwoorden op deze mail. Kun je niet? Dan horen we dat graag.\n")
    msg = EmailMessage()
    msg["From"] = f"{name} <{address}>"
    msg["To"] = REG
    msg["Subject"] = subject
    msg["Date"] = format_datetime(dt.datetime.now(dt.timezone.utc))
    msg["Message-ID"] = make_msgid(domain=f"client{i}.bench.test")
    msg.set_content(text)
    if form in (1, 2, 4):  # Outlook: the same in HTML beside it
        paragraphs = "\n".join(f'<p class="MsoNormal">{line or "&nbsp;"}</p>' for line in text.splitlines())
        msg.add_alternative(_OUTLOOK_HTML.format(paragraphs=paragraphs), subtype="html")
    return address, msg.as_bytes()


@dataclass
class InboundResult:
    database: str
    registrations: int
    capacity: int | None  # the meeting's places; None: room for all
    seconds: float
    rate: float
    peak_rss_mb: float
    checked: str


FULL_MEETING = 100  # places in the second burst: the rest of it lands on the waiting list


def check_replies(db_url: str, sink: Sink, addresses: list[str], places: int | None = None) -> str:
    """The first `places` in arrival order (all when None) confirmed with invite, every other one waiting, and
    exactly one reply each."""
    places = len(addresses) if places is None else min(places, len(addresses))
    confirmed = {r[0] for r in rows(db_url, "SELECT p.email FROM registrations r JOIN people p ON p.id = r.person_id"
                                            " WHERE r.status = 'confirmed'")}
    waiting = scalar(db_url, "SELECT count(*) FROM registrations WHERE status = 'waitlisted'")
    dump = sink.read(mark=b'text/calendar; method="REQUEST"')
    twice = [a for a in addresses if dump.rcpts.get(a) != 1]
    invited = {a for a, n in dump.marks.items() if n}
    if (confirmed != set(addresses[:places]) or waiting != len(addresses) - places or twice
            or invited != confirmed or dump.messages != len(addresses)):
        raise AssertionError(f"{len(confirmed)} confirmed, {waiting} waiting, {dump.messages} messages, "
                             f"{len(twice)} not exactly once, {len(invited)} invites, of {len(addresses)}")
    if places == len(addresses):
        return "each registered, one confirmation with invite"
    return f"first {places} confirmed with invite, the rest waiting; one reply each"


def inbound(base: Path, dovecot: Dovecot, count: int, report) -> list[InboundResult]:  # type: ignore[no-untyped-def]
    results = []
    for database in ("sqlite", "postgresql"):
        for capacity in (None, FULL_MEETING):
            results.append(inbound_once(base, dovecot, count, database, capacity))
            r = results[-1]
            report(f"inbound {database} {count} (places: {capacity or 'all'}): {r.seconds:.1f} s, {r.rate:.0f}/s")
    return results


def inbound_once(base: Path, dovecot: Dovecot, count: int, database: str, capacity: int | None) -> InboundResult:
    work = base / f"inbound-{database}-{capacity or 'open'}"
    with Sink() as sink, database_url(database, work) as db_url:
        mailbox = dovecot.new_mailbox()
        p = setup(work, db_url, sink, mailbox)
        if capacity:
            p("meeting", "update", meeting_day().isoformat(), "--capacity", str(capacity), "--yes")
        day = meeting_day()
        addresses = []
        with mailbox.connect(timeout=120) as client:
            batch = []
            for i in range(count):
                address, raw = registration(i, day)
                addresses.append(address)
                batch.append(raw)
                if len(batch) == 500 or i == count - 1:
                    client.multiappend("INBOX", batch)
                    batch = []
        sink.clear()
        m = p("poll", "--once")
        checked = check_replies(db_url, sink, addresses, capacity)
        return InboundResult(database, count, capacity, m.seconds, count / m.seconds, m.peak_rss_mb, checked)


# --- 3. latency ------------------------------------------------------------------------------------------


@dataclass
class LatencyResult:
    database: str
    registrations: int
    p50: float
    p95: float
    max: float
    checked: str


def latency(base: Path, dovecot: Dovecot, count: int, report) -> LatencyResult:  # type: ignore[no-untyped-def]
    with Sink() as sink:
        work = base / "latency"
        db_url = f"sqlite:///{work / 'pioniers.db'}"
        mailbox = dovecot.new_mailbox()
        p = setup(work, db_url, sink, mailbox)
        service = p.start("run")
        try:
            deadline = time.monotonic() + 30
            while b"service started" not in p.log.read_bytes():
                if time.monotonic() > deadline or service.poll() is not None:
                    raise RuntimeError(f"pioniers run did not start: {p.log.read_text()[-2000:]}")
                time.sleep(0.05)
            time.sleep(1.0)  # let it settle into IDLE
            day = meeting_day()
            waits, addresses = [], []
            with mailbox.connect(timeout=60) as client:
                offset = 0
                for i in range(count):
                    address, raw = registration(100000 + i, day)
                    addresses.append(address)
                    needle = f"X-Rcpt-Args: <{address}>".encode()
                    start = time.perf_counter()
                    client.append("INBOX", raw)
                    while True:
                        data, end = b"", offset
                        if sink.dump_path.exists():
                            with sink.dump_path.open("rb") as f:
                                f.seek(max(offset - len(needle), 0))
                                data = f.read()
                                end = f.tell()
                        if needle in data:
                            offset = end
                            break
                        offset = end
                        if time.perf_counter() - start > 30:
                            raise TimeoutError(f"no confirmation for {address} within 30 s")
                        time.sleep(0.001)
                    waits.append(time.perf_counter() - start)
        finally:
            os.kill(service.pid, signal.SIGTERM)
            wait_measured(service, time.perf_counter(), 60)
        checked = check_replies(db_url, sink, addresses)
    waits.sort()
    r = LatencyResult("sqlite", count, statistics.median(waits), waits[max(int(len(waits) * 0.95) - 1, 0)],
                      waits[-1], checked)
    report(f"latency: p50 {r.p50 * 1000:.0f} ms, p95 {r.p95 * 1000:.0f} ms, max {r.max * 1000:.0f} ms")
    return r
