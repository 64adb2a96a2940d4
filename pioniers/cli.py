"""The `pioniers` command. Every user mistake ends in one line on stderr and exit code 2, never a traceback."""
from __future__ import annotations

import argparse
import datetime as dt
import gc
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.exc import OperationalError, ProgrammingError

from base.config import load_config
from base.errors import PioniersError
from base.text import redact_tokens
from db.app import App
from db.session import explain, place
from db.models import InboundMessage, OutboundMessage
from mailer.states import OutboxState, state_of
from network.meetings import parse_day
from pioniers.cli_admin import ADMIN_COMMANDS
from pioniers.cli_admin import add_parsers as add_admin_parsers
from pioniers.cli_history import add_parser as add_history_parser
from pioniers.cli_history import import_history_file
from pioniers.cli_host import HOST_COMMANDS
from pioniers.cli_host import add_parsers as add_host_parsers
from pioniers.cli_desk import DESK_COMMANDS, add_message_parsers, desk_messages
from pioniers.cli_desk import add_parsers as add_desk_parsers
from pioniers.cli_list import LIST_COMMANDS, cmd_deliver_only, sheet_options
from pioniers.cli_list import add_parsers as add_list_parsers
from pioniers.cli_network import NETWORK_COMMANDS
from pioniers.cli_network import add_parsers as add_network_parsers
from pioniers.cli_send import send_now
from pioniers.filemodes import keep_private, readable_by_others
from pioniers.progress import Progress
from pioniers.prompt import agreed


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="pioniers", description="Registration and mailing list by email.")
    p.add_argument("--config", default="config.toml", help="path to config.toml (default: ./config.toml)")
    p.add_argument("-v", "--verbose", action="store_true", help="log debug detail")
    sub = p.add_subparsers(dest="command", required=True)

    sub.add_parser("init", help="write config.toml where none exists, create or upgrade the database")
    add_admin_parsers(sub)

    meeting = sub.add_parser("meeting", help="add, list, update or cancel meetings")
    msub = meeting.add_subparsers(dest="action", required=True)
    add = msub.add_parser("add", help="schedule a meeting")
    add.add_argument("date")
    add.add_argument("--start", required=True)
    add.add_argument("--end", required=True)
    add.add_argument("--location", required=True)
    add.add_argument("--host", required=True)
    add.add_argument("--theme", default="")
    add.add_argument("--capacity", type=int)
    add.add_argument("--host-contact", default="", metavar="EMAIL", help="who at the host gets the attendee list")
    msub.add_parser("list", help="meetings with confirmed / waitlisted / capacity")
    upd = msub.add_parser("update", help="change a meeting; attendees get an updated invite")
    upd.add_argument("date")
    for opt in ("--start", "--end", "--location", "--host", "--theme"):
        upd.add_argument(opt)
    upd.add_argument("--date", dest="new_date")
    upd.add_argument("--capacity", type=int)
    upd.add_argument("--host-contact", metavar="EMAIL", help="who at the host gets the attendee list (mails nobody)")
    upd.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    can = msub.add_parser("cancel", help="cancel a meeting; everyone registered is told")
    can.add_argument("date")
    can.add_argument("--reason", required=True)
    can.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    add_history_parser(msub)

    poll = sub.add_parser("poll", help="process the inbox and send what is due")
    poll.add_argument("--once", action="store_true", required=True)
    run_cmd = sub.add_parser("run", help="run the service until stopped")
    run_cmd.add_argument("--deliver-only", action="store_true",
                         help="an extra worker: only send mailing-list deliveries, never read the inbox")
    add_list_parsers(sub)
    add_network_parsers(sub)
    add_host_parsers(sub)
    add_desk_parsers(sub)

    att = sub.add_parser("attendees", help="export the attendees of a meeting")
    att.add_argument("date")
    fmt = att.add_mutually_exclusive_group(required=True)
    fmt.add_argument("--csv", action="store_true", help="CSV on stdout for scripts (fixed English columns)")
    sheet_options(fmt)

    forget = sub.add_parser("forget", help="remove everything about a person (AVG); they are never mailed again")
    forget.add_argument("email")
    forget.add_argument("--yes", action="store_true", help="do not ask (for scripts)")
    sub.add_parser("purge", help="remove personal data past its retention period (the service does this daily)")

    msgs = sub.add_parser("messages", help="recent incoming messages and what happened to them")
    which = msgs.add_mutually_exclusive_group()
    which.add_argument("--attention", action="store_true", help="only those that need a human")
    which.add_argument("--failed", action="store_true",
                       help="outgoing mail that failed or waits, with the server's answer (replies and list copies)")
    msgs.add_argument("--limit", type=int, default=50)
    add_message_parsers(msgs)
    return p


def _app(args: argparse.Namespace) -> App:
    return App.from_config(load_config(args.config))


def cmd_init(args: argparse.Namespace) -> None:
    from pioniers.cli_admin import write_shipped_config

    written = write_shipped_config(Path(args.config))
    app = _app(args)
    from db.migrate import upgrade  # Alembic is only needed here: every other command starts faster

    before, after = upgrade(app.sm.kw["bind"])
    state = (f"created (schema {after})" if before is None else f"up to date (schema {after})" if before == after
             else f"upgraded (schema {before} -> {after})")
    print(f"database {state}: {app.cfg.database.url}")
    secret_path = app.cfg.path(app.cfg.network.secret_file)
    existed = secret_path.exists()
    app.cfg.secret  # noqa: B018 - read, or created on first use
    if not existed and not os.environ.get("PIONIERS_SECRET"):
        print(f"installation secret created: {secret_path} (keep it with your backups, never share it)")
    for line in readable_by_others(app.cfg):
        print(f"warning: {line}")
    if written:
        print(f"next: edit {args.config} ([network] registration_address and organisers; [imap] and [smtp] for a "
              "real mailbox), then 'pioniers check'")


def cmd_meeting(args: argparse.Namespace) -> None:
    from network import meetings

    app = _app(args)
    if args.action == "add":
        m = meetings.add_meeting(app, parse_day(args.date), args.start, args.end, args.location, args.host,
                                 args.theme, args.capacity, host_contact=args.host_contact)
        print(f"meeting added: {m.date} {m.start}-{m.end} at {m.location} (host {m.host}"
              + (f", attendee list to {m.host_contact})" if m.host_contact else ")"))
    elif args.action == "list":
        from network.profiles import role_counts

        with app.sm.begin() as session:
            roles = role_counts(session)  # confirmed: pioneer / learner / meedenker / not said
        print(f"{'date':<10}  {'time':<11}  {'status':<9}  {'confirmed':>9}  {'waitlist':>8}  {'capacity':>8}  "
              f"{'came':>4}  {'roles P/L/M/?':>13}  host / location / theme")
        for row in meetings.list_meetings(app):
            m = row.meeting
            cap = str(m.capacity) if m.capacity else "-"
            r: dict[str, int] = roles.get(m.id, {})
            mix = "/".join(str(r.get(k, 0)) for k in ("pioneer", "learner", "meedenker", ""))
            came = "-" if row.came is None else str(row.came)  # checked in, once recorded
            print(f"{m.date.isoformat():<10}  {m.start}-{m.end}  {m.status:<9}  {row.confirmed:>9}  "
                  f"{row.waitlisted:>8}  {cap:>8}  {came:>4}  {mix:>13}  {m.host} / {m.location} / {m.theme or '-'}")
    elif args.action == "update":
        confirmed, _ = meetings.audience(app, parse_day(args.date))
        mails = any(getattr(args, k) is not None for k in ("start", "end", "location", "host", "theme", "new_date",
                                                          "capacity"))  # --host-contact alone mails nobody
        if confirmed and mails and not agreed(f"Change the meeting on {args.date}? Its {confirmed} confirmed attendee(s) get "
                                    "an updated invite", args.yes):
            print("nothing changed")
            return
        with Progress("preparing updates", confirmed) as bar:
            update = meetings.update_meeting(
                app, parse_day(args.date), start=args.start, end=args.end, location=args.location, host=args.host,
                theme=args.theme, new_date=parse_day(args.new_date) if args.new_date else None,
                capacity=args.capacity, host_contact=args.host_contact, progress=bar.update)
        lines = [*update.changes]
        if update.host_contact is not None:
            lines.append(f"host contact {update.host_contact[0] or '-'} -> {update.host_contact[1] or '-'}")
        if update.capacity is not None:
            lines.append(f"capacity {update.capacity[0] or 'unlimited'} -> {update.capacity[1]}")
        print("no changes" if not lines else "changed: " + " ".join(lines))
        if update.promoted:
            print(f"moved up from the waiting list (they get the invite): {', '.join(update.promoted)}")
        send_now(app, update.queued + len(update.promoted), "sending updates")
    elif args.action == "import":
        import_history_file(app, args)
    elif args.action == "cancel":
        confirmed, waiting = meetings.audience(app, parse_day(args.date))
        if not agreed(f"Cancel the meeting on {args.date} and tell its {confirmed} confirmed and {waiting} waiting "
                      "people?", args.yes):
            print("nothing changed")
            return
        with Progress("preparing cancellations", confirmed + waiting) as bar:
            queued = meetings.cancel_meeting(app, parse_day(args.date), args.reason, progress=bar.update)
        print(f"meeting on {args.date} cancelled")
        send_now(app, queued, "sending cancellations")


def cmd_poll(args: argparse.Namespace) -> None:
    from pioniers.service import poll_once

    result = poll_once(_app(args))
    print(f"inbox: {result.inbox.processed} processed, {result.inbox.attention} need attention; "
          f"reminders queued: {result.reminders}; sent: {result.outbox.sent}, "
          f"retry later: {result.outbox.retry}, failed: {result.outbox.failed}"
          + (f"; the rest waits for {result.outbox.paused}" if result.outbox.paused else ""))


def cmd_run(args: argparse.Namespace) -> None:
    from pioniers.service import run

    if args.deliver_only:
        cmd_deliver_only(args)
        return
    run(_app(args))


def cmd_attendees(args: argparse.Namespace) -> None:
    from network.exports import attendee_rows, attendee_sheet, to_csv, write_sheet

    app, day = _app(args), parse_day(args.date)
    if args.csv:
        sys.stdout.buffer.write(to_csv(attendee_rows(app, day)))
        sys.stdout.flush()
        return
    sheet = attendee_sheet(app, day)
    print(f"{len(sheet.rows)} attendee(s) written to {write_sheet(sheet, args.xlsx, args.excel_csv)}")


def cmd_messages(args: argparse.Namespace) -> None:
    if desk_messages(args):  # the work list (--attention) and `messages resolve`: pioniers/cli_desk.py
        return
    app = _app(args)
    if args.failed:
        _undelivered(app, args.limit)
        return
    with app.sm.begin() as session:
        query = select(InboundMessage).order_by(InboundMessage.id.desc()).limit(args.limit)
        if args.attention:
            query = query.where(InboundMessage.outcome == "attention")
        shown = list(session.scalars(query))
        replies = {r.key: _reply_state(r.status, r.claimed_by, r.next_attempt_at, r.last_error, app.now())
                   for r in session.execute(select(  # a reply is keyed reply:<inbound id>
                       OutboundMessage.key, OutboundMessage.status, OutboundMessage.claimed_by,
                       OutboundMessage.next_attempt_at, OutboundMessage.last_error)
                       .where(OutboundMessage.key.in_([f"reply:{m.id}" for m in shown])))}
        for m in shown:
            when = m.received_at.astimezone(app.tz).strftime("%Y-%m-%d %H:%M")
            subject, reason = redact_tokens(m.subject), redact_tokens(m.reason)  # never a live token on screen
            print(f"#{m.id:<5} {when}  {m.sender or '?':<32}  {m.outcome:<9}  {subject[:50]!r}  -> {reason}"
                  + replies.get(f"reply:{m.id}", "") + (f"  resolved: {m.resolution}" if m.resolved_at else ""))


def _undelivered(app: App, limit: int) -> None:
    """Outgoing mail that failed or still waits (not the fresh queue), newest first, with the server's answer."""
    from db.models import Delivery

    now, unsent = app.now(), (OutboxState.FAILED, OutboxState.WAITING)
    with app.sm.begin() as session:
        replies = session.execute(
            select(OutboundMessage.recipient, OutboundMessage.kind, OutboundMessage.status, OutboundMessage.claimed_by,
                   OutboundMessage.next_attempt_at, OutboundMessage.last_error, OutboundMessage.attempts)
            .where(OutboundMessage.status.in_(unsent)).order_by(OutboundMessage.id.desc()).limit(limit)).all()
        copies = session.execute(
            select(Delivery.email, Delivery.announcement_id, Delivery.status, Delivery.claimed_by,
                   Delivery.next_attempt_at, Delivery.last_error, Delivery.attempts)
            .where(Delivery.status.in_(unsent)).order_by(Delivery.id.desc()).limit(limit)).all()
    if not replies and not copies:
        print("nothing failed or waiting")
    for label, rows in (("reply {}", replies), ("announcement #{}", copies)):
        for row in rows:
            state = _reply_state(row.status, row.claimed_by, row.next_attempt_at, row.last_error, now)
            print(f"{row[0]:<40} {label.format(row[1]):<28} {row.attempts} attempt(s){state.replace('[reply ', '[')}")


def _reply_state(status: str, claimed_by: str | None, next_attempt_at: dt.datetime, last_error: str,
                 now: dt.datetime) -> str:
    """The answer's state in the outbox's words (queued, held, waiting, sent, failed), with the server's answer
    when it waits or failed."""
    state = state_of(status, claimed_by, next_attempt_at, now)
    why = f": {redact_tokens(last_error)[:80]}" if state in (OutboxState.WAITING, OutboxState.FAILED) else ""
    return f"  [reply {state}{why}]"


def cmd_forget(args: argparse.Namespace) -> None:
    from inbox.erase import forget_mail
    from network.privacy import check_address, forget

    email = check_address(args.email)  # before anything is touched: "" or a typo exits 2
    app = _app(args)
    if not agreed(f"Remove everything about {email}? This cannot be undone", args.yes):
        print("nothing removed")
        return
    report = forget(app, email)
    report.removed.update(forget_mail(app.cfg, email))
    if not report.found:
        # Nothing known, yet they may ask never to be mailed: the hash is kept all the same.
        print(f"no data found for {email}; added to the do-not-mail list")
        sys.exit(1)
    print(f"forgot {email}; removed " + ", ".join(report.lines()))


def cmd_purge(args: argparse.Namespace) -> None:
    from network.privacy import purge_expired

    from inbox.erase import purge_mail

    app = _app(args)
    r = purge_expired(app)
    mail = purge_mail(app.cfg, app.now())
    print(f"removed {r.registrations} registration(s), {r.people} person(s), {r.raw_messages} stored message(s), "
          f"{r.outgoing} sent message(s); " + ", ".join(f"{k}: {v}" for k, v in mail.items()))


COMMANDS = {
    "forget": cmd_forget,
    "purge": cmd_purge,
    "init": cmd_init,
    "meeting": cmd_meeting,
    "poll": cmd_poll,
    "run": cmd_run,
    "attendees": cmd_attendees,
    "messages": cmd_messages,
}
COMMANDS.update(LIST_COMMANDS)
COMMANDS.update(ADMIN_COMMANDS)
COMMANDS.update(NETWORK_COMMANDS)
COMMANDS.update(HOST_COMMANDS)
COMMANDS.update(DESK_COMMANDS)


def _quiet_gc() -> None:
    """The modules loaded at start live for the whole run: gc.freeze() keeps the cycle collector from walking
    them again and again, and a larger first generation lets a burst's short-lived rows go by refcount alone
    (a 10,000-message burst spent 1.5 s collecting; 0.5 s so)."""
    gc.freeze()
    gc.set_threshold(20_000, 20, 20)


def _place(config: str) -> str:
    try:
        cfg = load_config(config)
    except PioniersError:
        return ""
    return place(cfg.database.url, cfg.base_dir)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("mail.log").setLevel(logging.WARNING)  # aiosmtpd logs every SMTP command at INFO
    _quiet_gc()
    keep_private()  # everything this process creates (database, WAL, Maildirs, secret) is 0600 / 0700
    try:
        COMMANDS[args.command](args)
    except PioniersError as exc:  # configuration, typing, mailbox, lock, OAuth2: one line says what to fix
        print(f"pioniers: {exc}", file=sys.stderr)
        return 2
    except (OperationalError, ProgrammingError) as exc:
        print(f"pioniers: {explain(exc, _place(args.config))}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
