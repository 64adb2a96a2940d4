"""Files holding tokens or personal data are the service's alone: created 0600 / 0700, checked at start-up.

The database, its WAL and sent log, the embedded Maildirs and the installation secret hold live approval and
unsubscribe tokens and people's mail. The CLI sets the umask once, so every file the process creates is private
whatever creates it (SQLite, mailbox.Maildir, our own writes); what an earlier version or another tool created
looser is reported at start-up.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

from sqlalchemy.engine import make_url

from base.config import Config

PRIVATE_UMASK = 0o077


def keep_private() -> None:
    os.umask(PRIVATE_UMASK)


def private_paths(cfg: Config) -> list[Path]:
    """What the service writes that holds personal data or tokens (each path may not exist yet)."""
    paths: list[Path] = []
    url = make_url(cfg.database.url)
    if url.get_backend_name() == "sqlite" and url.database and url.database != ":memory:":
        db = cfg.path(url.database)
        paths += [db.parent, db] + [Path(f"{db}{suffix}") for suffix in ("-wal", "-shm", "-sent")]
    paths.append(cfg.path(cfg.network.secret_file))
    if not cfg.imap.host:
        paths.append(cfg.path(cfg.embedded.inbox))
    if not cfg.smtp.host:
        paths.append(cfg.path(cfg.embedded.outbox))
    return list(dict.fromkeys(paths))


def readable_by_others(cfg: Config) -> list[str]:
    """One line per private path that group or others may read or enter, with the command that fixes it."""
    found = []
    for path in private_paths(cfg):
        try:
            mode = path.stat().st_mode
        except OSError:
            continue  # not there (yet): it will be created private
        if mode & 0o077:
            fix = "700" if stat.S_ISDIR(mode) else "600"
            found.append(f"{path} is readable by others (mode {stat.S_IMODE(mode):o}): chmod {fix} {path}")
    return found
