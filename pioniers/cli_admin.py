"""Running it: `init` writing the shipped config, `check` (is every part reachable?), `status` (is it running,
how far behind?) and `backup`."""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sqlite3
import sys
import zoneinfo
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from base.config import Config, ConfigError, load_config
from base.errors import PioniersError
from db.app import App
from db.locks import STALE
from db.models import Announcement, Delivery, InboundMessage, OutboundMessage, ServiceLock
from db.session import explain, place
from db.states import AnnouncementStatus, OutboundStatus
from mailer.states import UNSENT, OutboxState

SHIPPED_CONFIG = Path(__file__).resolve().parent / "shipped_config.toml"


def write_shipped_config(path: Path) -> bool:
    """Write the shipped, commented config.toml where none exists yet (private: it may come to hold passwords).
    True when written."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(SHIPPED_CONFIG, path)
    path.chmod(0o600)
    print(f"config written: {path}")
    return True


# -- check -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    name: str
    ok: bool
    line: str  # what was found, or what is wrong and what to do


def _try(name: str, probe: Callable[[], str]) -> Part:
    """One part of the check: a user-fixable problem is its one line; anything else is shown as it is."""
    try:
        return Part(name, True, probe())
    except PioniersError as exc:
        return Part(name, False, str(exc))
    except Exception as exc:  # noqa: BLE001 - a check reports every failure, it never stops at one
        return Part(name, False, f"{type(exc).__name__}: {exc}")


def _timezone(cfg: Config) -> str:
    zone = zoneinfo.ZoneInfo(cfg.network.timezone)
    return f"{cfg.network.timezone}, now {dt.datetime.now(zone):%Y-%m-%d %H:%M %Z}"


def _database(app: App) -> str:
    from db.migrate import current_revision, head_revision

    engine = app.sm.kw["bind"]
    try:
        current, head = current_revision(engine), head_revision()
    except DBAPIError as exc:
        raise ConfigError(explain(exc, place(app.cfg.database.url, app.cfg.base_dir))) from None
    shown = make_url(app.cfg.database.url).render_as_string(hide_password=True)
    if current is None:
        raise ConfigError(f"{shown} has no schema yet: run 'pioniers init'")
    if current != head:
        raise ConfigError(f"{shown} has schema {current}, this version needs {head}: run 'pioniers init'")
    return f"{shown}, schema {head} (up to date)"


def _inbox(app: App) -> str:
    from inbox.sources import ImapSource
    from pioniers.service import make_source

    source = make_source(app)
    try:
        source.open()
        _, waiting = source.pending(0, 0)
    finally:
        source.close()
    folders = f"{app.cfg.imap.processed_folder}, {app.cfg.imap.attention_folder}"
    how = "logged in, " if isinstance(source, ImapSource) else "embedded, "
    return f"{source.name}: {how}{len(waiting)} message(s) waiting; folders {folders} present"


def _smtp(app: App) -> str:
    from mailer.transport import SendError, SmtpTransport
    from pioniers.service import make_transport

    transport = make_transport(app)
    if not isinstance(transport, SmtpTransport):
        return f"embedded: outgoing mail is written to {app.cfg.path(app.cfg.embedded.outbox)} (nothing is sent)"
    try:
        features = transport.probe()
    except SendError as exc:
        raise ConfigError(exc.reply) from None
    offers = [name.upper() for name in ("smtputf8", "pipelining", "8bitmime", "size") if name in features]
    login = f"logged in as {app.cfg.smtp.username}" if app.cfg.smtp.username else "no login"
    return f"{app.cfg.smtp.host}:{app.cfg.smtp.port}: {login}; offers {', '.join(offers) or 'none of SMTPUTF8, PIPELINING'}"


def _oauth2(cfg: Config) -> str:
    """A token from the configured OAuth2 server, before any mailbox is tried with it."""
    from base.oauth import imap_tokens, smtp_tokens

    said = []
    for what, tokens in (("imap", imap_tokens(cfg)), ("smtp", smtp_tokens(cfg))):
        if tokens is not None:
            token = tokens.current()
            minutes = int((token.expires_at - tokens.clock()) / 60)
            said.append(f"{what}: a token for {tokens.subject} from {tokens.endpoint}, valid {minutes} min")
    return "; ".join(said)


def _secret(cfg: Config) -> str:
    if os.environ.get("PIONIERS_SECRET"):
        return "from PIONIERS_SECRET"
    path = cfg.path(cfg.network.secret_file)
    if not path.exists():
        raise ConfigError(f"{path} does not exist: run 'pioniers init' (workers elsewhere: set PIONIERS_SECRET)")
    if path.stat().st_mode & 0o077:
        raise ConfigError(f"{path} can be read by others: chmod 600 {path}")
    return f"{path} (0600)"


def dns_advice(cfg: Config) -> list[str]:
    """What the From domain needs in DNS so that replies are not taken for spam. Printed, not looked up: this
    machine may not see the domain's public DNS."""
    domain, host = cfg.domain, cfg.smtp.host.lower()
    include = ("include:spf.protection.outlook.com" if host.endswith(("office365.com", "outlook.com"))
               else "include:_spf.google.com" if host.endswith(("gmail.com", "google.com"))
               else f"the include or ip4: your relay ({host}) asks for" if host else "")
    dkim = ("Microsoft 365: enable DKIM signing for the domain (Defender portal > Email authentication)"
            if "include:spf.protection" in include else
            "Google Workspace: Admin console > Gmail > Authenticate email" if "_spf.google" in include else
            "your relay must sign with d=" + domain)
    if not host:
        return [f"dns: nothing is sent yet (embedded); before going live the From domain {domain} needs SPF, DKIM "
                "and DMARC for the relay you choose"]
    return [f"dns: SPF   {domain} TXT \"v=spf1 {include} -all\" (or add the include to the record you have)",
            f"dns: DKIM  {dkim}",
            f"dns: DMARC _dmarc.{domain} TXT \"v=DMARC1; p=quarantine; adkim=r; aspf=r\" (p=none while testing)"]


def check(cfg_path: Path) -> tuple[list[Part], list[str]]:
    """Every part of an installation, each tried on its own: (parts, DNS advice)."""
    try:
        cfg = load_config(cfg_path)
    except PioniersError as exc:
        return [Part("config", False, str(exc))], []
    parts = [Part("config", True, str(cfg_path.resolve())),
             _try("timezone", lambda: _timezone(cfg)),
             _try("secret", lambda: _secret(cfg))]
    app = App.from_config(cfg)
    parts.append(_try("database", lambda: _database(app)))
    if "oauth2" in (cfg.imap.auth if cfg.imap.host else "", cfg.smtp.auth if cfg.smtp.host else ""):
        parts.append(_try("oauth2", lambda: _oauth2(cfg)))
    parts.append(_try("inbox", lambda: _inbox(app)))
    parts.append(_try("smtp", lambda: _smtp(app)))
    return parts, dns_advice(cfg)


def cmd_check(args: argparse.Namespace) -> None:
    parts, advice = check(Path(args.config))
    for part in parts:
        print(f"{'ok  ' if part.ok else 'FAIL'}  {part.name:<9} {part.line}")
    for line in advice:
        print(line)
    if not all(part.ok for part in parts):
        sys.exit(1)


# -- status ------------------------------------------------------------------------------------------------------


def status(app: App) -> dict[str, object]:
    """Is the service running, how far behind is it, what waits: plain values (`pioniers status --json`)."""
    now = app.now()
    with app.sm.begin() as session:
        lock = session.get(ServiceLock, "inbox")
        service: dict[str, object] = {"running": False, "holder": None, "last_pass": None}
        if lock is not None:
            age = now - lock.heartbeat_at
            service = {"running": age <= STALE, "holder": lock.holder, "last_pass": lock.heartbeat_at.isoformat(),
                       "seconds_since_last_pass": int(age.total_seconds())}
        replies = {state: n for state, n in session.execute(
            select(OutboundMessage.status, func.count()).where(OutboundMessage.status != OutboundStatus.SENT)
            .group_by(OutboundMessage.status))}
        for state, n in session.execute(select(OutboundMessage.status, func.count()).where(
                OutboundMessage.status.in_(UNSENT), OutboundMessage.claimed_by.is_not(None),
                OutboundMessage.next_attempt_at > now).group_by(OutboundMessage.status)):
            # being sent by a process right now: named held (mailer/states.py), not counted twice
            replies[state] -= n
            replies[OutboxState.HELD.value] = replies.get(OutboxState.HELD.value, 0) + n
        replies = {state: n for state, n in replies.items() if n}
        replies["sent_last_24h"] = session.scalar(select(func.count()).where(
            OutboundMessage.status == OutboundStatus.SENT, OutboundMessage.sent_at >= now - dt.timedelta(days=1))) or 0
        sending = []
        for ann in session.scalars(select(Announcement).where(Announcement.status == AnnouncementStatus.SENDING)):
            counts = {state: n for state, n in session.execute(
                select(Delivery.status, func.count()).where(Delivery.announcement_id == ann.id)
                .group_by(Delivery.status))}
            sending.append({"id": ann.id, "subject": ann.subject, **counts})
        attention = session.scalar(select(func.count()).where(  # what nobody resolved yet: the work list
            InboundMessage.outcome == "attention", InboundMessage.resolved_at.is_(None))) or 0
    return {"service": service, "inbox_waiting": _waiting(app), "replies": replies, "list_sends": sending,
            "attention_waiting": attention}


def _waiting(app: App) -> int | str:
    """Messages in the inbox not yet read by the service; the reason when the mailbox cannot be asked."""
    from db.models import FolderState
    from pioniers.service import make_source

    source = make_source(app)
    try:
        with app.sm.begin() as session:
            state = session.get(FolderState, source.name)  # where the service has read up to
            seen = (state.uidvalidity, state.last_uid) if state is not None else (0, 0)
        source.open()
        return len(source.pending(*seen)[1])
    except PioniersError as exc:
        return f"unknown: {exc}"
    finally:
        source.close()


def cmd_status(args: argparse.Namespace) -> None:
    app = App.from_config(load_config(args.config))
    report = status(app)
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        return
    service = report["service"]
    assert isinstance(service, dict)
    if service["running"]:
        print(f"service    running ({service['holder']}), last pass {service['seconds_since_last_pass']} s ago")
    elif service["holder"]:
        print(f"service    NOT running: last pass at {service['last_pass']} by {service['holder']}")
    else:
        print("service    NOT running (never started here)")
    print(f"inbox      {report['inbox_waiting']} message(s) waiting to be read")
    replies = report["replies"]
    assert isinstance(replies, dict)
    waiting = ", ".join(f"{n} {state}" for state, n in sorted(replies.items()) if state != "sent_last_24h")
    print(f"replies    {waiting or 'nothing waiting'}; {replies['sent_last_24h']} sent in the last 24 hours")
    sends = report["list_sends"]
    assert isinstance(sends, list)
    for send in sends:
        counts = ", ".join(f"{n} {k}" for k, n in send.items() if k not in ("id", "subject"))
        print(f"list       announcement #{send['id']} {send['subject']!r}: {counts}")
    if not sends:
        print("list       no announcement being sent")
    print(f"attention  {report['attention_waiting']} message(s) wait for a person (pioniers messages --attention)")


# -- backup ------------------------------------------------------------------------------------------------------


def backup(cfg: Config, target: Path) -> int:
    """A consistent copy of the SQLite database while the service runs (SQLite's online backup); its size."""
    url = make_url(cfg.database.url)
    if url.get_backend_name() != "sqlite":
        raise ConfigError("pioniers backup copies SQLite only; for PostgreSQL use pg_dump, e.g. "
                          f"pg_dump -Fc -d '{url.database}' -f {target}")
    source = cfg.path(url.database or "")
    if not source.exists():
        raise ConfigError(f"no database at {source}: check [database] url")
    if target.exists():
        raise ConfigError(f"{target} exists already: choose a new file name")
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    try:
        src.backup(dst)
    finally:
        dst.close()
        src.close()
    target.chmod(0o600)
    return target.stat().st_size


def cmd_backup(args: argparse.Namespace) -> None:
    cfg = load_config(args.config)
    size = backup(cfg, Path(args.file))
    print(f"backup written: {args.file} ({size / 1e6:.1f} MB); keep {cfg.path(cfg.network.secret_file)} with it")


ADMIN_COMMANDS = {"check": cmd_check, "status": cmd_status, "backup": cmd_backup}


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("check", help="try every part (config, database, mailbox, SMTP): one line each, exit 1 on a fault")
    stat = sub.add_parser("status", help="is the service running, what waits, what failed")
    stat.add_argument("--json", action="store_true", help="the same as JSON")
    back = sub.add_parser("backup", help="copy the SQLite database while the service runs")
    back.add_argument("file")
