"""The organiser's desk on the command line: `register EMAIL DATE`, `cancel EMAIL DATE`, and
`messages --attention` as a work list acted on with `messages resolve ID register DATE|cancel DATE|done`.

Hooked into pioniers/cli.py by add_parsers(), add_message_parsers(), desk_messages() and DESK_COMMANDS; the work
is network/desk.py's, shared with the desk by mail.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable

from base.config import load_config
from base.text import redact_tokens
from db.app import App
from network import desk
from network.meetings import parse_day
from network.members import check_address
from pioniers.cli_send import send_now

HOW_TO_ACT = "pioniers messages resolve ID register DATE|cancel DATE|done"


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    reg = sub.add_parser("register", help="register someone for a meeting; they get the usual confirmation "
                                          "(or waiting-list letter) with the invite")
    reg.add_argument("email")
    reg.add_argument("date", help="the meeting, YYYY-MM-DD")
    reg.add_argument("--name", default="")
    reg.add_argument("--organisation", default="")
    can = sub.add_parser("cancel", help="cancel someone's registration; they are told, the waiting list moves up")
    can.add_argument("email")
    can.add_argument("date", help="the meeting, YYYY-MM-DD")


def add_message_parsers(msgs: argparse.ArgumentParser) -> None:
    """`messages resolve ID register DATE | cancel DATE | done`, beside `messages [--attention | --failed]`."""
    acts = msgs.add_subparsers(dest="messages_action", metavar="resolve")
    res = acts.add_parser("resolve", help="act on a message that waits for a person; it leaves the work list")
    res.add_argument("id", type=int, help="the message's ID (pioniers messages --attention)")
    res.add_argument("action", choices=desk.ACTIONS, help="register or cancel its sender for DATE, or done")
    res.add_argument("date", nargs="?", help="the meeting, YYYY-MM-DD (for register and cancel)")


def _app(args: argparse.Namespace) -> App:
    return App.from_config(load_config(args.config))


def _report(app: App, outcome: desk.Outcome) -> None:
    print(outcome.said)
    if outcome.told:
        print(f"mailed: {', '.join(outcome.told)}")
        send_now(app, len(outcome.told))


def cmd_register(args: argparse.Namespace) -> None:
    email, day = check_address(args.email), parse_day(args.date)  # before the database: a typo exits 2 at once
    app = _app(args)
    with app.sm.begin() as session:
        outcome = desk.register_for(session, app.cfg, email=email, day=day, now=app.now(), name=args.name,
                                    organisation=args.organisation)
    _report(app, outcome)


def cmd_cancel(args: argparse.Namespace) -> None:
    # One person, who asked for it (by phone, in a mail): no prompt, but what happened is printed.
    email, day = check_address(args.email), parse_day(args.date)
    app = _app(args)
    with app.sm.begin() as session:
        outcome = desk.cancel_for(session, app.cfg, email=email, day=day, now=app.now())
    _report(app, outcome)


def _work_list(app: App) -> None:
    with app.sm.begin() as session:
        waiting = desk.waiting_for_person(session)
    if not waiting:
        print("nothing waits for a person")
        return
    print(f"{'ID':<6} {'received':<16}  {'sender':<32}  {'subject':<42}  reason")
    for w in waiting:
        when = w.received_at.astimezone(app.tz).strftime("%Y-%m-%d %H:%M")
        subject = redact_tokens(w.subject)[:40]  # never a live token on screen
        print(f"#{w.id:<5} {when}  {w.sender or '?':<32}  {subject!r:<42}  {redact_tokens(w.reason)}")
    print(f"{len(waiting)} message(s) wait for a person; act with: {HOW_TO_ACT}")


def _resolve(app: App, args: argparse.Namespace) -> None:
    day = parse_day(args.date) if args.date and args.action != "done" else None
    with app.sm.begin() as session:
        outcome = desk.resolve(session, app.cfg, message_id=args.id, action=args.action, day=day, now=app.now())
    _report(app, outcome)


def desk_messages(args: argparse.Namespace) -> bool:
    """`messages --attention` (the work list) and `messages resolve`: True when done here."""
    if getattr(args, "messages_action", None) == "resolve":
        _resolve(_app(args), args)
        return True
    if args.attention:
        _work_list(_app(args))
        return True
    return False


DESK_COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "register": cmd_register,
    "cancel": cmd_cancel,
}
