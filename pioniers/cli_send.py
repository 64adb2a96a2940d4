"""Sending at once, from the command that queued the mail: a meeting's updates, or a held announcement (or
discarding it when the organiser says no), with progress on stderr (pioniers/progress.py). Used by cli.py,
cli_list.py and cli_network.py.
"""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from db.app import App
from db.models import Announcement, OutboundMessage
from mailer import states
from network import announcements as ann_ops
from pioniers.progress import Progress


def send_now(app: App, queued: int, label: str = "sending") -> None:
    """Deliver what is due (the mail the command just queued, and anything waiting) and say how it went; with
    progress on stderr when there is much to send or the relay is slow (pioniers/progress.py)."""
    from mailer.outbox import DeliveryStats
    from mailer.sending import deliver
    from pioniers.service import make_transport

    with app.sm.begin() as session:  # the total: everything still to go, not only what this command queued
        due = session.scalar(select(func.count(OutboundMessage.id))
                             .where(OutboundMessage.status.in_(states.UNSENT))) or 0
    transport = make_transport(app)

    def show(stats: DeliveryStats) -> None:
        bar.update(stats.sent + stats.failed + stats.retry, f"sent {stats.sent}, failed {stats.failed}")

    try:
        with Progress(label, max(due, queued)) as bar:
            stats = deliver(app, transport, progress=show)
            bar.finish(stats.sent + stats.failed + stats.retry, f"sent {stats.sent}, failed {stats.failed}")
    finally:
        transport.close()
    print(f"{queued} message(s) queued; sent {stats.sent}, retry later {stats.retry}, failed {stats.failed}")


def _progress_bar(app: App, ann_id: int, bar: Progress) -> Callable[[object], None]:
    def show(stats: object) -> None:
        if stats is not None and not bar.due():
            return  # counting is a query over every delivery: only when a line is drawn
        with app.sm.begin() as session:
            (row,) = ann_ops.counts(session, ann_id)
        bar.total = row.announcement.recipients or 0
        bar.update(row.sent + row.failed, f"sent {row.sent}, failed {row.failed}")

    return show


def send_held_now(app: App, ann_id: int) -> None:
    """Release a held announcement and deliver it from this process, with progress on stderr."""
    from mailer.fanout import deliver_announcements
    from pioniers.service import make_transport

    with app.sm.begin() as session:
        ann = session.get(Announcement, ann_id)
        assert ann is not None
        ann_ops.start_sending(session, app, ann)
        recipients = ann.recipients or 0
    with Progress("sending to the list", recipients) as bar:
        show = _progress_bar(app, ann_id, bar)
        deliver_announcements(app, lambda: make_transport(app), progress=show)
        with app.sm.begin() as session:
            (row,) = ann_ops.counts(session, ann_id)
        bar.finish(row.sent + row.failed, f"sent {row.sent}, failed {row.failed}")


def discard_held(app: App, ann_id: int) -> None:
    """The organiser said no: the held announcement is never sent."""
    with app.sm.begin() as session:
        ann = session.get(Announcement, ann_id)
        if ann is not None:
            ann_ops.discard(ann)
