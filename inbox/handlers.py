"""Handlers act on a decision: they change the database and queue replies, inside the caller's transaction.

HANDLERS has one function per action, from the four handler modules; inbox/runner.py looks each decision up here.
"""
from __future__ import annotations

from collections.abc import Callable

from inbox.desk_handlers import DESK_HANDLERS  # the organisers' desk by mail
from inbox.job import Job
from inbox.list_handlers import LIST_HANDLERS  # the mailing list's actions
from inbox.network_handlers import NETWORK_HANDLERS  # theme polls and who is who
from inbox.registration_handlers import REGISTRATION_HANDLERS  # registering, cancelling, calendar replies

HANDLERS: dict[str, Callable[[Job], tuple[str, str]]] = {
    **REGISTRATION_HANDLERS, **LIST_HANDLERS, **NETWORK_HANDLERS, **DESK_HANDLERS}
