"""Where outgoing bytes go: a real SMTP server, or a local Maildir for the embedded default."""
from __future__ import annotations

import logging
import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, cast

from base.maildir import open_maildir
from base.oauth import (OAuth2Error, Token, TokenProvider, explain_smtp_refusal, smtp_auth_disabled,
                        xoauth2)

log = logging.getLogger("pioniers.mailer")
_UNSENDABLE = re.compile(r"[\x00-\x20\x7f<>]")


class SendError(Exception):
    """One message could not be handed over; temporary ones are retried later."""

    def __init__(self, reply: str, *, temporary: bool, connection: bool = False) -> None:
        super().__init__(reply)
        self.reply = reply
        self.temporary = temporary
        self.connection = connection  # the connection itself failed: stop this batch


# Answers about the sender's own limits at the provider, not about the recipient: a rate or a daily quota
# (Exchange Online, Gmail, Microsoft 365's outbound spam limits). Every message would get the same answer now
# and none once the window passes: the whole send pauses, nobody is marked failed.
_PROVIDER_LIMIT = re.compile(
    r"SubmissionQuotaExceeded|\b5\.4\.5\b|\b4\.4\.2\b.*(rate|limit)|\b4\.5\.3\b|sending\s+(quota|limit)"
    r"|\b4\.7\.\d+\b.*(rate|limit|quota|too\s+many|try\s+again\s+later)|rate\s+limit|too\s+many\s+messages"
    r"|message\s+submission\s+rate|RecipientRateLimit|daily\s+(user\s+)?sending",
    re.IGNORECASE,
)


LIMIT_SAID = "the provider's sending limit: "  # how a SendError for a provider's limit begins


def provider_limit(reply: str) -> bool:
    """Is this answer the provider saying the sender is over a rate or a quota (for a while), not that this
    recipient cannot get mail?"""
    return bool(_PROVIDER_LIMIT.search(reply))


def refusal(code: int, text: bytes | str) -> SendError:
    """The one SendError for a server's answer: readable text, a provider limit pauses the whole send."""
    said = text.decode(errors="replace") if isinstance(text, bytes) else str(text)
    reply = f"{code} {said}".strip()
    if provider_limit(reply):
        return SendError(f"{LIMIT_SAID}{reply}", temporary=True, connection=True)
    return SendError(reply, temporary=400 <= code < 500, connection=code == 421)


class Transport(Protocol):
    def send(self, mail_from: str, rcpt: str, data: bytes) -> None: ...
    def close(self) -> None: ...
    def abort(self) -> None: ...  # drop the connection without a goodbye: its state is unknown


class SmtpTransport:
    """One SMTP connection reused for many messages, reopened when the server drops it."""

    def __init__(self, host: str, port: int, *, use_ssl: bool = False, starttls: bool = False,
                 username: str = "", password: str = "", timeout: float = 30,
                 tokens: TokenProvider | None = None) -> None:
        self.host, self.port = host, port
        self.use_ssl, self.starttls = use_ssl, starttls
        self.username, self.password = username, password
        self.timeout = timeout
        self.tokens = tokens  # set: AUTH XOAUTH2 with tokens from [oauth2] ([smtp] auth = "oauth2")
        self._token: Token | None = None  # the token the open connection authenticated with
        self._conn: smtplib.SMTP | None = None

    def _open(self) -> smtplib.SMTP:
        if self.use_ssl:
            return smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout, context=ssl.create_default_context())
        conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
        try:
            if self.starttls:
                conn.starttls(context=ssl.create_default_context())
        except BaseException:
            conn.close()
            raise
        return conn

    def _connect(self) -> smtplib.SMTP:
        if self.tokens is not None:
            return self._connect_oauth2()
        try:
            conn = self._open()
            if self.username:
                try:
                    conn.login(self.username, self.password)
                except BaseException:
                    conn.close()
                    raise
        except smtplib.SMTPAuthenticationError as exc:
            reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc)
            text = smtp_auth_disabled(exc.smtp_code, reply) or f"{exc.smtp_code}"
            log.warning("smtp: login refused by %s:%s: %s", self.host, self.port, text)
            raise SendError(f"SMTP login refused by {self.host}:{self.port}: {text}",
                            temporary=True, connection=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"cannot reach SMTP server {self.host}:{self.port}: {exc}",
                            temporary=True, connection=True) from None
        return conn

    def _connect_oauth2(self) -> smtplib.SMTP:
        """AUTH XOAUTH2 with the cached token; when refused, once more with a fresh token."""
        tokens = self.tokens
        assert tokens is not None
        for attempt in (1, 2):
            try:
                token = tokens.current()
            except OAuth2Error as exc:
                log.warning("smtp: %s", exc)
                raise SendError(str(exc), temporary=True, connection=True) from None
            try:
                conn = self._open()
            except (OSError, smtplib.SMTPException) as exc:
                raise SendError(f"cannot reach SMTP server {self.host}:{self.port}: {exc}",
                                temporary=True, connection=True) from None
            try:
                conn.ehlo_or_helo_if_needed()
                if "XOAUTH2" not in conn.esmtp_features.get("auth", "").upper().split():
                    raise SendError(f"SMTP server {self.host}:{self.port} does not offer AUTH XOAUTH2 "
                                    "(check [smtp] host and port, and starttls: many servers offer AUTH only "
                                    "after STARTTLS)", temporary=True, connection=True)
                initial = xoauth2(self.username, token.value)
                # After a refusal some servers (Google) send a JSON error as a challenge: answer it empty.
                conn.auth("XOAUTH2", lambda challenge=None: initial if challenge is None else "",
                          initial_response_ok=True)
            except smtplib.SMTPAuthenticationError as exc:
                conn.close()
                reply = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc)
                tokens.invalidate(token.value)
                if attempt == 1 and not smtp_auth_disabled(exc.smtp_code, reply):
                    continue  # expired or revoked at the server: try a fresh token
                text = explain_smtp_refusal(tokens, self.username, self.host, token.value, exc.smtp_code, reply)
                log.warning("smtp: %s", text)
                raise SendError(text, temporary=True, connection=True) from None
            except SendError:
                conn.close()
                raise
            except (OSError, smtplib.SMTPException) as exc:
                conn.close()
                raise SendError(f"cannot reach SMTP server {self.host}:{self.port}: {exc}",
                                temporary=True, connection=True) from None
            self._token = token
            return conn
        raise AssertionError("unreachable")

    def send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        for attempt in (1, 2):  # a reused connection may have been closed by the server meanwhile
            if self._conn is not None and self._token is not None and self.tokens is not None \
                    and self._token.due(self.tokens.clock()):
                self.close()  # its token is about to expire: say goodbye, and authenticate again with a new one
            if self._conn is None:
                self._conn = self._connect()
            options = self._international(mail_from, rcpt)
            stage = _Stage()
            try:
                refused = _sendmail(self._conn, mail_from, rcpt, data, options, stage)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                error = refusal(code, text)
                if error.connection:
                    self._drop()
                raise error from None
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == 421 and attempt == 1 and self._token is not None:
                    # The server ended the session (Exchange Online does when the session's token expires):
                    # nothing was accepted, so authenticate again with a fresh token and send once more.
                    self.tokens.invalidate(self._token.value)  # type: ignore[union-attr]
                    self._drop()
                    continue
                error = refusal(exc.smtp_code, exc.smtp_error)  # smtplib gives the server's reply as bytes
                if error.connection:
                    self._drop()
                raise error from None
            except (smtplib.SMTPServerDisconnected, OSError, socket.timeout) as exc:
                self._drop()
                if stage.sent:
                    # lost after the message was handed over: it may have arrived. Never resent at once (a
                    # server that drops every time would get it again and again); it waits its backoff.
                    raise SendError(f"connection lost after the message was sent, it may have arrived: {exc}",
                                    temporary=True, connection=True) from None
                if attempt == 2:
                    raise SendError(f"connection lost: {exc}", temporary=True, connection=True) from None
                continue
            if refused:
                code, text = next(iter(refused.values()))
                raise refusal(code, text)
            return

    def _international(self, mail_from: str, rcpt: str) -> list[str]:
        """A non-ASCII address (RFC 6531) goes out only with SMTPUTF8; a server without it cannot take it, so
        that message fails alone, with the reason (the address is never rewritten). An address with a control
        character or a space never reaches the wire: pipelined commands are written raw."""
        for address in (mail_from, rcpt):
            if _UNSENDABLE.search(address):
                raise SendError(f"not a usable address: {address!r}", temporary=False)
        if mail_from.isascii() and rcpt.isascii():
            return []
        assert self._conn is not None
        self._conn.ehlo_or_helo_if_needed()
        if not self._conn.has_extn("smtputf8"):
            raise SendError(f"the address {rcpt if not rcpt.isascii() else mail_from} has non-ASCII characters "
                            f"and {self.host}:{self.port} does not offer SMTPUTF8", temporary=False)
        return ["SMTPUTF8"]

    def abort(self) -> None:
        self._drop()

    def probe(self) -> dict[str, str]:
        """Connect and log in as sending would, then leave: what the server offers after EHLO (`pioniers check`)."""
        conn = self._connect()
        try:
            conn.ehlo_or_helo_if_needed()
            return dict(conn.esmtp_features)
        finally:
            conn.close()

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None
        self._token = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except Exception:
                pass
        self._drop()


@dataclass
class _Stage:
    sent: bool = False  # the message's content went out: a lost connection from here on is ambiguous


def _sendmail(conn: smtplib.SMTP, mail_from: str, rcpt: str, data: bytes, options: list[str],
              stage: _Stage) -> dict[str, tuple[int, bytes]]:
    """smtplib's sendmail for one recipient, with ESMTP PIPELINING (RFC 2920) when the server offers it:
    MAIL, RCPT and DATA go out in one write and their replies are read together, then the message. Two round
    trips instead of four; the same exceptions as sendmail, so callers cannot tell the difference. stage
    tells the caller whether the content had gone out when something failed."""
    conn.ehlo_or_helo_if_needed()
    if not conn.has_extn("pipelining") or options:
        return _sendmail_stepwise(conn, mail_from, rcpt, data, options, stage)
    conn.send(f"MAIL FROM:{smtplib.quoteaddr(mail_from)}\r\nRCPT TO:{smtplib.quoteaddr(rcpt)}\r\nDATA\r\n")
    mail_code, mail_reply = conn.getreply()
    rcpt_code, rcpt_reply = conn.getreply()
    data_code, data_reply = conn.getreply()
    if data_code == 354 and (mail_code != 250 or rcpt_code not in (250, 251)):
        conn.send(b".\r\n")  # a server that accepted DATA anyway: end the empty message before RSET
        conn.getreply()
    if mail_code != 250:
        if mail_code == 421:
            conn.close()
        else:
            conn._rset()  # type: ignore[attr-defined]  # noqa: SLF001 - as smtplib.sendmail does
        raise smtplib.SMTPSenderRefused(mail_code, mail_reply, mail_from)
    if rcpt_code not in (250, 251):
        if rcpt_code == 421:
            conn.close()
        else:
            conn._rset()  # type: ignore[attr-defined]  # noqa: SLF001 - private, as in sendmail
        raise smtplib.SMTPRecipientsRefused({rcpt: (rcpt_code, rcpt_reply)})
    if data_code != 354:
        if data_code == 421:
            conn.close()
        else:
            conn._rset()  # type: ignore[attr-defined]  # noqa: SLF001 - private, as in sendmail
        raise smtplib.SMTPDataError(data_code, data_reply)
    body = smtplib._quote_periods(data)  # type: ignore[attr-defined]  # noqa: SLF001 - exactly what SMTP.data() sends
    if body[-2:] != b"\r\n":
        body += b"\r\n"
    stage.sent = True
    conn.send(body + b".\r\n")
    code, reply = conn.getreply()
    if code != 250:
        if code == 421:
            conn.close()
        else:
            conn._rset()  # type: ignore[attr-defined]  # noqa: SLF001 - private, as in sendmail
        raise smtplib.SMTPDataError(code, reply)
    return {}


def _abandon(conn: smtplib.SMTP, code: int) -> None:
    """After a refusal, as sendmail does: a 421 ends the session, anything else resets the transaction."""
    if code == 421:
        conn.close()
    else:
        conn._rset()  # type: ignore[attr-defined]  # noqa: SLF001 - private, as in sendmail


def _sendmail_stepwise(conn: smtplib.SMTP, mail_from: str, rcpt: str, data: bytes, options: list[str],
                       stage: _Stage) -> dict[str, tuple[int, bytes]]:
    """What smtplib.sendmail does for one recipient, one command at a time, marking when the content goes out
    (sendmail cannot say whether a lost connection came before or after it)."""
    esmtp = [f"size={len(data)}"] if conn.does_esmtp and conn.has_extn("size") else []
    code, reply = conn.mail(mail_from, esmtp + options if conn.does_esmtp else [])
    if code != 250:
        _abandon(conn, code)
        raise smtplib.SMTPSenderRefused(code, reply, mail_from)
    code, reply = conn.rcpt(rcpt)
    if code not in (250, 251):
        _abandon(conn, code)
        raise smtplib.SMTPRecipientsRefused({rcpt: (code, reply)})
    stage.sent = True  # DATA goes out now: from here a lost connection may have delivered it
    code, reply = conn.data(data)
    if code != 250:
        _abandon(conn, code)
        raise smtplib.SMTPDataError(code, reply)
    return {}


class MaildirTransport:
    """The embedded default: every outgoing message lands in a Maildir you can open with any mail client."""

    def __init__(self, path: Path) -> None:
        self.box = open_maildir(path)

    def send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        envelope = f"Return-Path: <{mail_from}>\r\nDelivered-To: {rcpt}\r\n".encode()
        try:
            self.box.add(envelope + data)
        except OSError as exc:  # a full disk or a removed folder: every message waits, none is given up
            raise SendError(f"cannot write to the local outbox: {exc}", temporary=True, connection=True) from None

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass
