"""The inbox, behind one small interface: a real IMAP mailbox, or the embedded Maildir.

Both hand out (uidvalidity, uid, bytes) and move messages to a named folder; neither ever deletes one.
"""
from __future__ import annotations

import mailbox
import os
import socket
import ssl
import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError, LoginError

from base.config import ImapConfig
from base.errors import PioniersError
from base.maildir import open_maildir
from base.oauth import OAuth2Error, Token, TokenProvider, explain_imap_refusal

FETCH_CHUNK = 500
RESYNC = 0.1  # seconds into each IDLE: one NOOP catches mail that arrived just before IDLE began
log = logging.getLogger("pioniers.inbox")


class InboxUnavailable(PioniersError):
    """The mailbox cannot be reached or refused us; one line says what to fix."""


@dataclass(frozen=True)
class RawMessage:
    uid: str
    data: bytes


class Source(Protocol):
    name: str

    def open(self) -> None: ...
    def pending(self, uidvalidity: int, last_uid: int) -> tuple[int, list[str]]: ...
    def fetch(self, uids: list[str]) -> list[RawMessage]: ...
    def move(self, uids: list[str], folder: str) -> None: ...
    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool: ...
    def close(self) -> None: ...


class ImapSource:
    def __init__(self, cfg: ImapConfig, timeout: float = 60, tokens: TokenProvider | None = None) -> None:
        self.cfg = cfg
        self.name = f"imap://{cfg.username}@{cfg.host}:{cfg.port}/{cfg.folder}"
        self.timeout = timeout
        self.client: IMAPClient | None = None
        self._has_move = False
        self.tokens = tokens  # set: SASL XOAUTH2 with tokens from [oauth2] ([imap] auth = "oauth2")
        self._token: Token | None = None  # the token this connection logged in with

    def _connect(self) -> IMAPClient:
        cfg = self.cfg
        try:
            client = IMAPClient(cfg.host, port=cfg.port, ssl=cfg.ssl, timeout=self.timeout,
                                ssl_context=ssl.create_default_context() if cfg.ssl else None)
            if cfg.starttls and not cfg.ssl:
                client.starttls(ssl.create_default_context())
        except (OSError, socket.error, IMAPClientError, ssl.SSLError) as exc:
            raise InboxUnavailable(f"cannot reach IMAP server {cfg.host}:{cfg.port} ({exc}): "
                                   "check [imap] host, port and ssl") from None
        return client

    def _login(self) -> IMAPClient:
        cfg = self.cfg
        if self.tokens is not None:
            return self._oauth2_login()
        client = self._connect()
        try:
            client.login(cfg.username, cfg.password)
        except LoginError:
            caps = _capabilities(client)
            _shutdown(client)
            if b"LOGINDISABLED" in caps or (b"AUTH=XOAUTH2" in caps and b"AUTH=PLAIN" not in caps):
                raise InboxUnavailable(f"IMAP server {cfg.host} refuses password login (LOGINDISABLED, it wants "
                                       'XOAUTH2): set [imap] auth = "oauth2" and fill in [oauth2] (README, '
                                       "'Microsoft 365 and Google Workspace (OAuth2)')") from None
            raise InboxUnavailable(f"IMAP login refused for {cfg.username} at {cfg.host}:{cfg.port}: "
                                   "check [imap] username and password") from None
        except (OSError, IMAPClientError, ssl.SSLError) as exc:
            _shutdown(client)
            raise InboxUnavailable(f"cannot reach IMAP server {cfg.host}:{cfg.port} ({exc}): "
                                   "check [imap] host, port and ssl") from None
        return client

    def _oauth2_login(self) -> IMAPClient:
        """XOAUTH2 with the cached token; when refused, once more on a new connection with a fresh token."""
        cfg, tokens = self.cfg, self.tokens
        assert tokens is not None
        for attempt in (1, 2):
            try:
                token = tokens.current()
            except OAuth2Error as exc:
                raise InboxUnavailable(str(exc)) from None
            client = self._connect()
            try:
                client.oauth2_login(cfg.username, token.value)
            except LoginError as exc:
                _shutdown(client)
                tokens.invalidate(token.value)  # expired or revoked at the server: the next one is fresh
                if attempt == 2:
                    raise InboxUnavailable(explain_imap_refusal(tokens, cfg.username, cfg.host, token.value,
                                                                str(exc).strip()[:120])) from None
                continue
            except (OSError, IMAPClientError, ssl.SSLError) as exc:
                _shutdown(client)
                raise InboxUnavailable(f"cannot reach IMAP server {cfg.host}:{cfg.port} ({exc}): "
                                       "check [imap] host, port and ssl") from None
            self._token = token
            return client
        raise AssertionError("unreachable")

    def open(self) -> None:
        """Connect, log in, create our folders and select the inbox; does nothing when already open."""
        if self.client is not None:
            return
        cfg = self.cfg
        client = self._login()
        self.client = client
        self._has_move = b"MOVE" in client.capabilities()
        existing = {name for _flags, _delim, name in client.list_folders()}
        for folder in (cfg.processed_folder, cfg.attention_folder):
            if folder not in existing:
                client.create_folder(folder)
        client.select_folder(cfg.folder)

    def _client(self) -> IMAPClient:
        if self.client is not None and self._token is not None and self.tokens is not None \
                and self._token.due(self.tokens.clock()):
            # The token this session logged in with is about to expire (Exchange Online then ends the session):
            # log in again with a fresh one. UIDs stay valid across sessions, so this is safe between any calls.
            log.info("imap: access token due for renewal, logging in again")
            self.close()
        if self.client is None:
            self.open()
        assert self.client is not None
        return self.client

    def erase(self, folders: Iterable[str], criteria: list[str | bytes | object]) -> dict[str, int]:
        """Delete the messages matching an IMAP SEARCH in each folder: only those UIDs are expunged
        (UID EXPUNGE), never anything else flagged \\Deleted. For forget and the retention purge only."""
        client = self._client()
        counts: dict[str, int] = {}
        try:
            for folder in folders:
                client.select_folder(folder)
                uids = client.search(criteria)
                if uids:
                    client.add_flags(uids, [b"\\Deleted"])
                    client.expunge(uids)  # imapclient sends UID EXPUNGE for these UIDs (UIDPLUS)
                counts[folder] = len(uids)
        finally:
            client.select_folder(self.cfg.folder)
        return counts

    def pending(self, uidvalidity: int, last_uid: int) -> tuple[int, list[str]]:
        client = self._client()
        info = client.select_folder(self.cfg.folder)
        current = int(info.get(b"UIDVALIDITY", 0))
        if current != uidvalidity:
            last_uid = 0  # a new mailbox generation: rescan all, deduplication keeps it safe
        # "UID n:*" always matches the newest message, even when its UID is below n: filter ourselves.
        uids = [u for u in client.search(["UID", f"{last_uid + 1}:*"]) if u > last_uid]
        return current, [str(u) for u in sorted(uids)]

    def fetch(self, uids: list[str]) -> list[RawMessage]:
        client = self._client()
        out: list[RawMessage] = []
        for i in range(0, len(uids), FETCH_CHUNK):
            chunk = [int(u) for u in uids[i:i + FETCH_CHUNK]]
            data = client.fetch(chunk, ["BODY.PEEK[]"])
            for uid in chunk:
                item = data.get(uid)
                if item is not None and b"BODY[]" in item:
                    out.append(RawMessage(str(uid), item[b"BODY[]"]))
        return out

    def move(self, uids: list[str], folder: str) -> None:
        if not uids:
            return
        client = self._client()
        ids = [int(u) for u in uids]
        if self._has_move:
            client.move(ids, folder)
        else:
            client.copy(ids, folder)
            client.add_flags(ids, [b"\\Deleted"])
            client.uid_expunge(ids)  # only these UIDs: never someone else's deleted mail

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """IDLE until the server reports new mail, timeout passes or stop is set; True when there may be new mail."""
        client = self._client()
        # Mail that arrived since the last command is not announced when IDLE starts (Dovecot reports only
        # changes it sees while idling): ask first, or it would wait for the next timeout.
        _, untagged = client.noop()
        if any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in untagged):
            return True
        client.idle()
        deadline = time.monotonic() + timeout
        if self._token is not None:  # end IDLE in time to log in again before the token expires
            deadline = min(deadline, self._token.renew_at)
        news = False
        bye: tuple | None = None
        idling, resync_at = True, time.monotonic() + RESYNC
        try:
            while not news and time.monotonic() < deadline and not (stop and stop.is_set()):
                step = min(1.0, resync_at - time.monotonic()) if resync_at else 1.0
                responses = client.idle_check(timeout=min(max(step, 0.01), max(deadline - time.monotonic(), 0.01)))
                news = any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
                bye = next((r for r in responses if r and r[0] == b"BYE"), None)
                if bye is not None:
                    break
                if not news and resync_at and time.monotonic() >= resync_at:
                    # Once per wait: mail appended between the NOOP and the start of IDLE is in neither; look.
                    resync_at, idling = 0.0, False
                    _, responses = client.idle_done()
                    responses = [*responses, *client.noop()[1]]
                    news = any(len(r) > 1 and r[1] in (b"EXISTS", b"RECENT") for r in responses)
                    if not news:
                        client.idle()
                        idling = True
        finally:
            if bye is None and idling:
                client.idle_done()
        if bye is not None:
            # The server ended the session (Exchange Online: "Session invalidated - AccessTokenExpired"):
            # the next call logs in again, with a fresh token if the old one is refused.
            log.info("imap: server ended the session (%s); logging in again",
                     b" ".join(x for x in bye[1:] if isinstance(x, bytes)).decode(errors="replace"))
            _shutdown(client)
            self.client, self._token = None, None
            return True
        return news

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.logout()
            except Exception:
                pass
            self.client = None
        self._token = None


def _capabilities(client: IMAPClient) -> tuple[bytes, ...]:
    try:
        return tuple(client.capabilities())
    except Exception:
        return ()


def _shutdown(client: IMAPClient) -> None:
    try:
        client.shutdown()
    except Exception:
        pass


class MaildirSource:
    """The embedded inbox: var/inbox as a Maildir, with processed/attention subfolders."""

    def __init__(self, path: Path, processed: str, attention: str, wakeup: threading.Event | None = None) -> None:
        self.path = path
        self.name = f"maildir:{path}"
        self.folders = (processed, attention)
        self.wakeup = wakeup or threading.Event()
        self.box: mailbox.Maildir | None = None

    def open(self) -> None:
        if self.box is not None:
            return
        self.box = open_maildir(self.path)
        for folder in self.folders:
            if folder not in self.box.list_folders():
                self.box.add_folder(folder)

    def _box(self) -> mailbox.Maildir:
        if self.box is None:
            self.open()
        assert self.box is not None
        return self.box

    def pending(self, uidvalidity: int, last_uid: int) -> tuple[int, list[str]]:
        box = self._box()
        box._refresh()  # type: ignore[attr-defined]  # noqa: SLF001 - the embedded server adds files while we run
        keys = list(box.keys())
        keys.sort(key=lambda k: (_mtime(box, k), k))  # delivery order
        return 0, keys

    def fetch(self, uids: list[str]) -> list[RawMessage]:
        box = self._box()
        out = []
        for key in uids:
            try:
                out.append(RawMessage(key, box.get_bytes(key)))
            except KeyError:
                continue
        return out

    def move(self, uids: list[str], folder: str) -> None:
        box = self._box()
        target = box.get_folder(folder)
        for key in uids:
            # _lookup and _refresh: private Maildir API, not in typeshed
            src = os.path.join(str(self.path), box._lookup(key))  # type: ignore[attr-defined]  # noqa: SLF001
            os.rename(src, os.path.join(str(self.path), "." + folder, "cur", os.path.basename(src)))
        box._refresh()  # type: ignore[attr-defined]  # noqa: SLF001
        del target

    def wait(self, timeout: float, stop: threading.Event | None = None) -> bool:
        deadline = time.monotonic() + timeout
        while not self.wakeup.is_set() and time.monotonic() < deadline and not (stop and stop.is_set()):
            self.wakeup.wait(min(0.5, max(deadline - time.monotonic(), 0.01)))
        woke = self.wakeup.is_set()
        self.wakeup.clear()
        return woke

    def close(self) -> None:
        self.box = None


def _mtime(box: mailbox.Maildir, key: str) -> float:
    try:
        # _lookup: private Maildir API, not in typeshed
        return os.path.getmtime(os.path.join(box._path, box._lookup(key)))  # type: ignore[attr-defined]  # noqa: SLF001
    except (OSError, KeyError):
        return 0.0


