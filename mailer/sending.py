"""Sending as this installation sends: the outbox within its [limits], and the organisers told when sending
waits for the provider."""
from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import func, select

from db.app import App
from db.models import Delivery, OutboundMessage
from mailer import states
from mailer.letters import send_letter_to
from mailer.outbox import DeliveryStats, deliver_due
from mailer.transport import LIMIT_SAID, Transport


def deliver(app: App, transport: Transport,
            progress: Callable[[DeliveryStats], None] | None = None) -> DeliveryStats:
    """deliver_due as this installation sends: from the registration address, within its [limits]. A send that
    pauses for the provider's limit is told to the organisers, once a day. progress: after each message."""
    limits = app.cfg.limits
    stats = deliver_due(app.sm, transport, app.cfg.network.registration_address, app.now,
                        replies_per_hour=limits.replies_per_hour,
                        provider=states.ProviderLimits(limits.messages_per_minute, limits.recipients_per_day),
                        progress=progress)
    if stats.paused:
        tell_paused(app, stats.paused)
    return stats


# Why sending waits, in the organiser's words: (our own [limits], the provider's answer). The server's answer itself
# is English jargon; it stays in `pioniers messages --failed` and the log.
_PAUSED = {"nl": ("de grens per minuut of per dag die voor het versturen is ingesteld, is bereikt",
                  "de grens van je mailprovider voor versturen is bereikt"),
           "en": ("the limit per minute or per day set for sending has been reached",
                  "the provider says its sending limit has been reached")}


def paused_reason(why: str, lang: str) -> str:
    ours, theirs = _PAUSED.get(lang, _PAUSED["en"])
    return theirs if why.startswith(LIMIT_SAID) else ours


def tell_paused(app: App, why: str) -> None:
    """One mail a day to the organisers: sending waits for the provider; how much waits; nothing is lost."""
    with app.sm.begin() as session:
        waiting = sum(session.scalar(select(func.count(model.id)).where(model.status.in_(states.UNSENT))) or 0
                      for model in (OutboundMessage, Delivery))
        for organiser in app.cfg.network.organisers:
            send_letter_to(session, app.cfg, key=f"send-paused:{app.today().isoformat()}:{organiser}",
                         template="send_paused", to=organiser, name="", now=app.now(), auto_reply=False,
                         count=waiting, reason=paused_reason(why, app.cfg.network.language))
