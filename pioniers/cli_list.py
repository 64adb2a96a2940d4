"""The mailing list's commands: `members`, `announce`, `announcements`, and `run --deliver-only`.

Hooked into pioniers/cli.py by add_parsers() and LIST_COMMANDS.
"""
from __future__ import annotations

import argparse
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from base.config import load_config
from db import registry
from db.app import App
from db.states import MeetingStatus, MemberStatus
from network import announcements as ann_ops
from network import members as member_ops
from network.meetings import UserError, parse_day
from pioniers.cli_send import discard_held, send_held_now
from pioniers.progress import Progress
from pioniers.prompt import agreed


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    members = sub.add_parser("members", help="the mailing list's members")
    msub = members.add_subparsers(dest="action", required=True)
    msub.add_parser("list", help="every member with status (active, pending, unsubscribed, disabled)")
    add = msub.add_parser("add", help="add a member (active at once)")
    add.add_argument("email")
    add.add_argument("--name", default="")
    rm = msub.add_parser("remove", help="take a member off the list")
    rm.add_argument("email")
    imp = msub.add_parser("import", help="add members from a CSV file with a header row email,name")
    imp.add_argument("file")
    exp = msub.add_parser("export", help="active members: CSV (email,name) on stdout, the import format")
    sheet_options(exp.add_mutually_exclusive_group())

    ann = sub.add_parser("announce", help="draft, preview and send the standard announcement of a meeting")
    ann.add_argument("date")
    ann.add_argument("--yes", action="store_true", help="send without asking")

    sub.add_parser("announcements", help="announcements with queued / waiting / sent / failed counts")


def _app(args: argparse.Namespace) -> App:
    return App.from_config(load_config(args.config))


def sheet_options(group: argparse._MutuallyExclusiveGroup) -> None:
    """--xlsx FILE | --excel-csv FILE: a list as a file for people (network/exports.write_sheet)."""
    group.add_argument("--xlsx", metavar="FILE", help="an Excel file: header, filter, real dates")
    group.add_argument("--excel-csv", metavar="FILE", help="CSV as Dutch Excel opens it (';' and a BOM)")


def cmd_members(args: argparse.Namespace) -> None:
    app = _app(args)
    if args.action == "list":
        rows = member_ops.list_members(app)
        print(f"{'email':<40}  {'status':<24}  {'source':<12}  {'since':<10}  name")
        for m in rows:
            status = m.status
            if m.status == MemberStatus.DISABLED:
                status = f"disabled ({m.bounces} bounces)"
            elif m.bounces:
                status = f"{m.status} ({m.bounces} bounces)"
            since = m.created_at.astimezone(app.tz).strftime("%Y-%m-%d")
            print(f"{m.email:<40}  {status:<24}  {m.source:<12}  {since:<10}  {m.name}")
        active = sum(1 for m in rows if m.status == MemberStatus.ACTIVE)
        disabled = sum(1 for m in rows if m.status == MemberStatus.DISABLED)
        print(f"{active} active, {disabled} disabled by bounces, {len(rows)} in all")
    elif args.action == "add":
        print(member_ops.add_member(app, args.email, args.name))
    elif args.action == "remove":
        print(member_ops.remove_member(app, args.email))
    elif args.action == "import":
        with Progress("importing members", 0) as bar:
            def show(done: int, total: int) -> None:
                bar.total = total
                bar.update(done)

            added, already, skipped, forgotten = member_ops.import_csv(app, Path(args.file), progress=show)
        print(f"{added} added, {already} already members, {skipped} skipped (they unsubscribed or bounced), "
              f"{forgotten} skipped (they asked to be forgotten)")
    elif args.action == "export" and (args.xlsx or args.excel_csv):
        from network.exports import member_sheet, write_sheet

        sheet = member_sheet(app)
        print(f"{len(sheet.rows)} member(s) written to {write_sheet(sheet, args.xlsx, args.excel_csv)}")
    elif args.action == "export":
        sys.stdout.write(member_ops.export_csv(app))
        sys.stdout.flush()


def cmd_announce(args: argparse.Namespace) -> None:
    app = _app(args)
    cfg = app.cfg
    day = parse_day(args.date)
    with app.sm.begin() as session:
        meeting = registry.meeting_on(session, day)
        if meeting is None:
            raise UserError(f"no meeting on {day}: see 'pioniers meeting list'")
        if meeting.status != MeetingStatus.SCHEDULED:
            raise UserError(f"the meeting on {day} is cancelled")
        if day < app.today():
            raise UserError(f"the meeting on {day} has taken place: nothing to announce")
        warnings = [n.english for n in ann_ops.before_announcing(session, meeting)]
        ann = ann_ops.draft_for_meeting(session, app, meeting)
        sample = ann_ops.sample(session, cfg, ann, cfg.network.registration_address)
        count = ann_ops.active_count(session)
        ann_id = ann.id
    print(f"Subject:  {sample['Subject']}\nFrom:     {sample['From']}\nReply-To: {sample['Reply-To']}\n"
          f"To:       {sample['To']} (one of {count} members; each gets their own copy)\n")
    print(ann_ops.text_of(sample))
    for warning in warnings:
        print(f"note: {warning}")
    if count == 0:
        discard_held(app, ann_id)
        raise UserError("the list has no active members: nothing to send (see 'pioniers members')")
    try:
        send = agreed(f"Send this to {count} members?", args.yes)
    except UserError:
        discard_held(app, ann_id)
        raise
    if not send:
        discard_held(app, ann_id)
        print("not sent")
        return
    send_held_now(app, ann_id)
    with app.sm.begin() as session:
        (row,) = ann_ops.counts(session, ann_id)
    print(f"announcement #{ann_id}: sent {row.sent}, failed {row.failed}, queued {row.queued}, waiting {row.waiting}"
          + (" (retried by 'pioniers run')" if row.queued or row.waiting else ""))


def cmd_announcements(args: argparse.Namespace) -> None:
    app = _app(args)
    with app.sm.begin() as session:
        rows = ann_ops.counts(session)
    print(f"{'#':>4}  {'created':<16}  {'status':<9}  {'queued':>6}  {'waiting':>7}  {'sent':>6}  {'failed':>6}  "
          "subject")
    for r in rows:
        a = r.announcement
        when = a.created_at.astimezone(app.tz).strftime("%Y-%m-%d %H:%M")
        print(f"{a.id:>4}  {when:<16}  {a.status:<9}  {r.queued:>6}  {r.waiting:>7}  {r.sent:>6}  {r.failed:>6}  "
              f"{a.subject[:60]}")


def cmd_deliver_only(args: argparse.Namespace) -> None:
    """`pioniers run --deliver-only`: share the list's deliveries with other workers; the inbox is not read."""
    import signal

    from mailer.fanout import run_delivery_worker
    from pioniers.service import make_transport

    app = _app(args)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    run_delivery_worker(app, stop, lambda: make_transport(app))


LIST_COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "members": cmd_members,
    "announce": cmd_announce,
    "announcements": cmd_announcements,
}
