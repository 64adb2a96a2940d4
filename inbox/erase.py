"""Forget and the retention purge for the mail the service keeps outside the database: the embedded Maildirs
(inbox with its processed/attention folders, the outbox) and the IMAP processed and attention folders."""
from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

from base.config import Config
from base.mentions import mentions
from base.oauth import imap_tokens
from inbox.sources import ImapSource


def _maildirs(cfg: Config) -> list[Path]:
    return [cfg.path(cfg.embedded.inbox), cfg.path(cfg.embedded.outbox)]


def _message_files(root: Path) -> list[Path]:
    """Every message file of a Maildir and its subfolders (.Verwerkt, .Aandacht): files in cur/new/tmp."""
    if not root.is_dir():
        return []
    return [Path(d) / f for d, _dirs, files in os.walk(root) if os.path.basename(d) in ("cur", "new", "tmp")
            for f in files]


def _imap(cfg: Config) -> ImapSource | None:
    return ImapSource(cfg.imap, tokens=imap_tokens(cfg)) if cfg.imap.host else None


def forget_mail(cfg: Config, address: str) -> dict[str, int]:
    """Delete every stored message that mentions the address: forget overrides 'nothing is deleted'."""
    counts: dict[str, int] = {}
    for root in _maildirs(cfg):
        removed = 0
        for path in _message_files(root):
            try:
                if mentions(path.read_bytes(), address):
                    path.unlink()
                    removed += 1
            except FileNotFoundError:  # moved or delivered meanwhile
                continue
        counts[f"files in {root.name}"] = removed
    if (source := _imap(cfg)) is not None:
        try:
            # SEARCH TEXT: the server searches headers and decoded bodies.
            for folder, n in source.erase((cfg.imap.processed_folder, cfg.imap.attention_folder),
                                          ["TEXT", address]).items():
                counts[f"IMAP {folder}"] = n
        finally:
            source.close()
    return counts


def purge_mail(cfg: Config, now: dt.datetime, imap: ImapSource | None = None) -> dict[str, int]:
    """Remove kept mail older than retention_days: the Maildirs' processed folder and outbox (by file time),
    the IMAP processed folder (by INTERNALDATE). Unprocessed mail and the attention folder wait for a person.
    imap: the service's own open connection, reused (no extra login per day); else one is made here."""
    cutoff = now - dt.timedelta(days=cfg.network.retention_days)
    cutoff_ts = cutoff.replace(tzinfo=cutoff.tzinfo or dt.timezone.utc).timestamp()  # app time is UTC
    counts: dict[str, int] = {}
    roots = {"processed": cfg.path(cfg.embedded.inbox) / f".{cfg.imap.processed_folder}",
             "outbox": cfg.path(cfg.embedded.outbox)}
    for name, root in roots.items():
        removed = 0
        for path in _message_files(root):
            if name == "outbox" and path.parent.parent != root:
                continue  # only the outbox itself, not folders a user made in it
            try:
                if path.stat().st_mtime < cutoff_ts:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        counts[f"files in {name}"] = removed
    source = imap if imap is not None or not cfg.imap.host else _imap(cfg)
    if source is not None:
        try:
            counts.update({f"IMAP {f}": n for f, n in source.erase(
                (cfg.imap.processed_folder,), ["BEFORE", cutoff.date()]).items()})
        finally:
            if source is not imap:
                source.close()
    return counts
