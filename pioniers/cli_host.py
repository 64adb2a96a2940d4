"""The host and the door: `hostlist DATE` (the attendee list to the host contact now) and `checkin DATE`
(record who came, or print the sign-in sheet).

Hooked into pioniers/cli.py by add_parsers() and HOST_COMMANDS.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from base.config import load_config
from db import registry
from db.app import App
from mailer import format as fmt
from mailer.letters import meeting_ref
from network import checkin, hostlist
from network.exports import save, sign_in_sheet, write_sign_in
from network.meetings import UserError, in_text, parse_day
from network.signin_pdf import sign_in_pdf
from pioniers.cli_send import send_now
from pioniers.prompt import agreed


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hl = sub.add_parser("hostlist", help="send the host contact the current attendee list (XLSX, with needs) now")
    hl.add_argument("date")
    hl.add_argument("--yes", action="store_true", help="do not ask (for scripts)")

    ci = sub.add_parser("checkin", help="record who came to a meeting, or print the sign-in sheet")
    ci.add_argument("date")
    ci.add_argument("emails", nargs="*", metavar="EMAIL", help="addresses of those who came")
    ci.add_argument("--from", dest="file", metavar="FILE",
                    help="a text file (one address a line), or a CSV/XLSX with an email column (the filled "
                         "sign-in sheet: only rows ticked under 'Aanwezig' count)")
    ci.add_argument("--undo", nargs="+", metavar="EMAIL", help="a mistake: mark these addresses as not come")
    ci.add_argument("--sheet", metavar="FILE.xlsx|FILE.pdf", help="write the sign-in sheet to print (name, "
                    "organisation, signature): an Excel file, or a PDF by the file's extension")


def _app(args: argparse.Namespace) -> App:
    return App.from_config(load_config(args.config))


def cmd_hostlist(args: argparse.Namespace) -> None:
    app, day = _app(args), parse_day(args.date)
    now = hostlist.list_counts(app, day)
    if not now.to:
        raise UserError(f"the meeting on {day} has no host contact: pioniers meeting update {day} --host-contact EMAIL")
    if not agreed(f"Send the attendee list of {day} ({now.confirmed} confirmed, {now.waiting} waiting, with their "
                  f"needs) to {now.to}?", args.yes):
        print("nothing sent")
        return
    sent = hostlist.send_host_list(app, day)
    print(f"attendee list of {day} ({sent.confirmed} confirmed, {sent.waiting} waiting) queued for {sent.to}")
    send_now(app, 1)


def cmd_checkin(args: argparse.Namespace) -> None:
    day = parse_day(args.date)
    if args.sheet:
        if args.emails or args.file or args.undo:
            raise UserError("--sheet writes the sign-in sheet: give no addresses, --from or --undo with it")
        path = Path(args.sheet)
        if path.suffix.lower() not in (".xlsx", ".pdf"):
            raise UserError(f"--sheet writes an .xlsx or a .pdf file, not {path.name}")
        app = _app(args)
        sheet = sign_in_sheet(app, day)
        lang = app.cfg.network.language
        with app.sm.begin() as session:
            meeting = registry.meeting_on(session, day)
            host = in_text(meeting.host) if meeting is not None else ""
            # Time and place under the heading of the PDF (the XLSX's page header has room for one line)
            details = ", ".join(p for p in (fmt.when(day, meeting.start, meeting.end, lang), meeting.location) if p) \
                if meeting is not None else ""
        heading = f"{meeting_ref(app.cfg, day)}{f', {host}' if host else ''}"
        if path.suffix.lower() == ".pdf":
            data = sign_in_pdf(sheet, heading, details, lang)
            save(path, lambda p: p.write_bytes(data))
        else:
            write_sign_in(sheet, path, heading)
        people = len(sheet.rows) - sheet.rows.count(["", "", "", "", ""])
        print(f"sign-in sheet for {day} ({people} confirmed, and empty rows) written to {args.sheet}")
        return
    if args.undo and (args.emails or args.file):
        raise UserError("--undo takes its own addresses: give no others or --from with it")
    addresses = list(args.undo or args.emails)
    if args.file:
        found = checkin.read_addresses(Path(args.file))
        if not found:
            raise UserError(f"no addresses in {args.file} (on the sign-in sheet: put an x under 'Aanwezig' for who "
                            "came)")
        addresses += found
    if not addresses:
        raise UserError("name who came: pioniers checkin DATE EMAIL... or --from FILE (or --sheet FILE to print)")
    report = checkin.check_in(_app(args), day, addresses, undo=bool(args.undo))
    done = "not come" if args.undo else "came"
    print(f"{len(report.recorded)} recorded as {done}" + (f": {', '.join(report.recorded)}" if report.recorded else ""))
    if report.already:
        print(f"{len(report.already)} already recorded as {done}: {', '.join(report.already)}")
    if report.not_confirmed:
        print(f"recorded although not confirmed: {', '.join(report.not_confirmed)}")
    if report.unknown:
        print(f"{len(report.unknown)} not registered for {day} (nothing recorded): {', '.join(report.unknown)}")


HOST_COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "hostlist": cmd_hostlist,
    "checkin": cmd_checkin,
}
