"""The network's commands: `themes open|results|close`, `hosts`, `stats [--png FILE]`.

Hooked into pioniers/cli.py by add_parsers() and NETWORK_COMMANDS.
"""
from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from base.config import load_config
from db import registry
from db.app import App
from db.models import Poll
from db.states import PollStatus
from network import announcements as ann_ops
from network import polls
from network import stats as network_stats
from network.meetings import UserError, audience, parse_day
from pioniers.cli_send import discard_held, send_held_now, send_now
from pioniers.progress import Progress
from pioniers.prompt import agreed


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    themes = sub.add_parser("themes", help="choose a meeting's theme together: a poll members answer by reply")
    tsub = themes.add_subparsers(dest="action", required=True)
    opn = tsub.add_parser("open", help="open a theme poll and send it to the list")
    opn.add_argument("date", help="the meeting, YYYY-MM-DD")
    opn.add_argument("--option", action="append", required=True, metavar="TEXT", help="a theme (repeat: 2 or more)")
    opn.add_argument("--closes", metavar="YYYY-MM-DD", help="last day to vote (default: [network] poll_close_days "
                                                            "before the meeting)")
    opn.add_argument("--yes", action="store_true", help="send without asking")
    res = tsub.add_parser("results", help="the tally and the members' proposals")
    res.add_argument("date")
    cls = tsub.add_parser("close", help="close the poll now; the winning theme is set on the meeting")
    cls.add_argument("date")

    sub.add_parser("hosts", help="past and planned hosts, and municipalities that could host next")
    stats = sub.add_parser("stats", help="per meeting: registrations, attendance by role, municipalities; "
                                         "and the network's growth per quarter")
    stats.add_argument("--png", metavar="FILE", help="also draw the growth as a chart (PNG)")


def _app(args: argparse.Namespace) -> App:
    return App.from_config(load_config(args.config))


def _themes_open(app: App, args: argparse.Namespace) -> None:
    cfg = app.cfg
    day = parse_day(args.date)
    closes = parse_day(args.closes) if args.closes else None
    with app.sm.begin() as session:
        meeting = registry.meeting_on(session, day, lock=True)
        if meeting is None:
            raise UserError(f"no meeting on {day}: see 'pioniers meeting list'")
        warnings = [n.english for n in ann_ops.before_announcing(session, meeting, poll=True)]
        poll, ann = polls.create_poll(session, app, meeting, args.option, closes, created_by="")
        sample = ann_ops.sample(session, cfg, ann, cfg.network.registration_address)
        count = ann_ops.active_count(session)
        poll_id, ann_id, closes_on = poll.id, ann.id, poll.closes_on
    print(f"Subject:  {sample['Subject']}\nReply-To: {sample['Reply-To']} (replies are votes)\n"
          f"To:       {sample['To']} (one of {count} members; each gets their own copy)\n")
    print(ann_ops.text_of(sample))

    def drop() -> None:
        discard_held(app, ann_id)
        with app.sm.begin() as session:
            dropped = session.get(Poll, poll_id)
            if dropped is not None:
                dropped.status = PollStatus.DISCARDED

    if count == 0:
        drop()
        raise UserError("the list has no active members: nobody to vote (see 'pioniers members')")
    try:
        for line in warnings:  # a second poll, or a theme set by hand: closing this one replaces it with the winner
            print(f"warning: {line}")
        send = agreed(f"Send this poll to {count} members{' anyway' if warnings else ''}?", args.yes)
    except UserError:
        drop()
        raise
    if not send:
        drop()
        print("not sent; no poll opened")
        return
    send_held_now(app, ann_id)
    print(f"theme poll #{poll_id} for {day} open until and including {closes_on}; "
          f"results: pioniers themes results {day}")


def cmd_themes(args: argparse.Namespace) -> None:
    app = _app(args)
    if args.action == "open":
        _themes_open(app, args)
        return
    day = parse_day(args.date)
    with app.sm.begin() as session:
        poll = polls.find_poll(session, day)
        poll_id, status = poll.id, poll.status
        text = polls.format_tally(app.cfg, polls.tally(session, poll))
    if args.action == "results":
        print(text)
        return
    if status == PollStatus.CLOSED:
        raise UserError(f"the theme poll for {day} is already closed: see 'pioniers themes results {day}'")
    if status == PollStatus.DISCARDED:
        raise UserError(f"the theme poll for {day} was discarded")
    confirmed, _ = audience(app, day)  # who get the updated invite: the progress while they are written
    with Progress("preparing updated invites", confirmed) as bar:
        t, changes, queued = polls.close_poll(app, poll_id, progress=bar.update)
    print(polls.format_tally(app.cfg, t))
    if t.winner is None:
        print("nobody voted: the meeting's theme is unchanged")
        return
    print(f"theme set: {t.winner.text}" if changes else f"theme was already: {t.winner.text}")
    send_now(app, queued, "sending updated invites")


def cmd_hosts(args: argparse.Namespace) -> None:
    print(network_stats.format_hosts(network_stats.hosts_report(_app(args))))


def cmd_stats(args: argparse.Namespace) -> None:
    app = _app(args)
    figs, quarters = network_stats.report(app)
    print(network_stats.format_stats(figs, quarters))
    if args.png:
        network_stats.growth_png(quarters, Path(args.png), app.cfg.network.language, app.cfg.network.title)
        print(f"chart written to {args.png}")


NETWORK_COMMANDS: dict[str, Callable[[argparse.Namespace], None]] = {
    "themes": cmd_themes,
    "hosts": cmd_hosts,
    "stats": cmd_stats,
}
