"""One inbox consumer at a time: a lock row in the database with a heartbeat."""
from __future__ import annotations

import datetime as dt

from sqlalchemy.exc import IntegrityError

from base.errors import PioniersError
from base.process import dead_here
from db.app import App
from db.models import ServiceLock

STALE = dt.timedelta(minutes=3)  # a holder silent this long is presumed dead


class ServiceBusy(PioniersError):
    """Another service holds the inbox lock."""


def acquire_lock(app: App, name: str, holder: str) -> None:
    try:
        with app.sm.begin() as session:
            lock = session.get(ServiceLock, name, with_for_update=True)
            now = app.now()
            if lock is None:
                session.add(ServiceLock(name=name, holder=holder, heartbeat_at=now))
            elif lock.holder == holder or now - lock.heartbeat_at > STALE or dead_here(lock.holder):
                lock.holder, lock.heartbeat_at = holder, now  # a killed holder on this host frees it at once
            else:
                raise ServiceBusy(f"another pioniers service ({lock.holder}) is already reading this inbox; "
                                  "stop it first (on another machine: or wait 3 minutes if it was killed)")
    except IntegrityError:
        raise ServiceBusy("another pioniers service started at the same moment; try again") from None


def refresh_lock(app: App, name: str, holder: str) -> None:
    with app.sm.begin() as session:
        lock = session.get(ServiceLock, name)
        if lock is not None and lock.holder == holder:
            lock.heartbeat_at = app.now()


def release_lock(app: App, name: str, holder: str) -> None:
    with app.sm.begin() as session:
        lock = session.get(ServiceLock, name)
        if lock is not None and lock.holder == holder:
            session.delete(lock)
