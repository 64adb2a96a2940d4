"""Where outgoing bytes go: a real SMTP server, or a local Maildir for the embedded default."""
from __future__ import annotations

import mailbox
import smtplib
import socket
import ssl
from pathlib import Path
from typing import Protocol


class SendError(Exception):
    """One message could not be handed over; temporary ones are retried later."""

    def __init__(self, reply: str, *, temporary: bool, connection: bool = False) -> None:
        super().__init__(reply)
        self.reply = reply
        self.temporary = temporary
        self.connection = connection  # the connection itself failed: stop this batch


class Transport(Protocol):
    def send(self, mail_from: str, rcpt: str, data: bytes) -> None: ...
    def close(self) -> None: ...


class SmtpTransport:
    """One SMTP connection reused for many messages, reopened when the server drops it."""

    def __init__(self, host: str, port: int, *, use_ssl: bool = False, starttls: bool = False,
                 username: str = "", password: str = "", timeout: float = 30) -> None:
        self.host, self.port = host, port
        self.use_ssl, self.starttls = use_ssl, starttls
        self.username, self.password = username, password
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                conn: smtplib.SMTP = smtplib.SMTP_SSL(self.host, self.port, timeout=self.timeout,
                                                      context=ssl.create_default_context())
            else:
                conn = smtplib.SMTP(self.host, self.port, timeout=self.timeout)
                if self.starttls:
                    conn.starttls(context=ssl.create_default_context())
            if self.username:
                conn.login(self.username, self.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise SendError(f"SMTP login refused by {self.host}:{self.port}: {exc.smtp_code}",
                            temporary=True, connection=True) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"cannot reach SMTP server {self.host}:{self.port}: {exc}",
                            temporary=True, connection=True) from None
        return conn

    def send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        for attempt in (1, 2):  # a reused connection may have been closed by the server meanwhile
            if self._conn is None:
                self._conn = self._connect()
            try:
                refused = self._conn.sendmail(mail_from, [rcpt], data)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                raise SendError(f"{code} {text.decode(errors='replace')}", temporary=400 <= code < 500) from None
            except smtplib.SMTPResponseException as exc:
                if exc.smtp_code == 421:
                    self._drop()
                    raise SendError(f"{exc.smtp_code} {exc.smtp_error!r}", temporary=True, connection=True) from None
                raise SendError(f"{exc.smtp_code} {exc.smtp_error.decode(errors='replace')}",
                                temporary=400 <= exc.smtp_code < 500) from None
            except (smtplib.SMTPServerDisconnected, OSError, socket.timeout) as exc:
                self._drop()
                if attempt == 2:
                    raise SendError(f"connection lost: {exc}", temporary=True, connection=True) from None
                continue
            if refused:
                code, text = next(iter(refused.values()))
                raise SendError(f"{code} {text!r}", temporary=400 <= code < 500)
            return

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:
                pass
        self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except Exception:
                pass
        self._drop()


class MaildirTransport:
    """The embedded default: every outgoing message lands in a Maildir you can open with any mail client."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.box = mailbox.Maildir(path, create=True)

    def send(self, mail_from: str, rcpt: str, data: bytes) -> None:
        envelope = f"Return-Path: <{mail_from}>\r\nDelivered-To: {rcpt}\r\n".encode()
        self.box.add(envelope + data)

    def close(self) -> None:
        pass
