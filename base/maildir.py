"""Maildir folders on disk: the embedded inbox the SMTP server fills, and the outbox of the embedded default."""
from __future__ import annotations

import mailbox
from pathlib import Path


def open_maildir(path: Path) -> mailbox.Maildir:
    """A Maildir at path, created as needed, also when a user made only part of it (e.g. just new/)."""
    for sub in ("new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return mailbox.Maildir(path, create=False)
