"""Sending at once, from the command that queued the mail: a meeting's updates, or a held announcement with a
progress bar on stderr (or discarding it when the organiser says no). Used by cli.py, cli_list.py and cli_network.py.
"""
from __future__ import annotations

import sys
import time
from collections.abc import Callable

from db.app import App
from db.models import Announcement
from network import announcements as ann_ops


def send_now(app: App, queued: int) -> None:
    """Deliver what is due (the mail the command just queued, and anything waiting) and say how it went."""
    from mailer.sending import deliver
    from pioniers.service import make_transport

    transport = make_transport(app)
    try:
        stats = deliver(app, transport)
    finally:
        transport.close()
    print(f"{queued} message(s) queued; sent {stats.sent}, retry later {stats.retry}, failed {stats.failed}")


def _progress_bar(app: App, ann_id: int) -> Callable[[object], None]:
    shown = [0.0]

    def show(stats: object) -> None:
        if stats is not None and time.monotonic() - shown[0] < 0.5:
            return  # counting is a query over every delivery: twice a second is enough for a progress bar
        shown[0] = time.monotonic()
        with app.sm.begin() as session:
            (row,) = ann_ops.counts(session, ann_id)
        total = row.announcement.recipients or 1
        done = row.sent + row.failed
        width = 30
        filled = int(width * done / total)
        sys.stderr.write(f"\r[{'#' * filled}{'-' * (width - filled)}] {done}/{row.announcement.recipients} "
                         f"(sent {row.sent}, failed {row.failed})")
        sys.stderr.flush()

    return show


def send_held_now(app: App, ann_id: int) -> None:
    """Release a held announcement and deliver it from this process, with a progress bar on stderr."""
    from mailer.fanout import deliver_announcements
    from pioniers.service import make_transport

    with app.sm.begin() as session:
        ann = session.get(Announcement, ann_id)
        assert ann is not None
        ann_ops.start_sending(session, app, ann)
    show = _progress_bar(app, ann_id)
    show(None)
    deliver_announcements(app, lambda: make_transport(app), progress=show)
    show(None)
    sys.stderr.write("\n")


def discard_held(app: App, ann_id: int) -> None:
    """The organiser said no: the held announcement is never sent."""
    with app.sm.begin() as session:
        ann = session.get(Announcement, ann_id)
        if ann is not None:
            ann_ops.discard(ann)
