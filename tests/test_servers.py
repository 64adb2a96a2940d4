"""The real-servers test infrastructure itself: Dovecot (IMAP) and the SMTP sink."""
from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

import pytest
from imapclient.exceptions import LoginError

try:
    import servers
except ImportError:  # tests/ turned into a package
    from tests import servers

from servers import Dovecot, SmtpSink


def raw_message(subject: str = "Aanmelding", sender: str = "jan@example.test") -> bytes:
    msg = EmailMessage()
    msg["From"] = sender
    msg["To"] = "inbox@pioniers.test"
    msg["Subject"] = subject
    msg["Message-ID"] = f"<{time.time_ns()}@example.test>"
    msg.set_content("Graag aanmelden.\n")
    return msg.as_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def test_append_and_fetch_via_imapclient(mailbox):
    raw = raw_message()
    mailbox.append(raw)
    assert mailbox.messages("INBOX") == [raw]
    with mailbox.connect() as client:
        client.select_folder("INBOX")
        uids = client.search("ALL")
        assert len(uids) == 1
        assert client.fetch(uids, ["RFC822"])[uids[0]][b"RFC822"] == raw


def test_each_test_gets_an_isolated_account(dovecot, mailbox):
    other = dovecot.new_mailbox()
    mailbox.append(raw_message())
    assert other.messages("INBOX") == []
    assert other.messages("Missing") == []
    assert (mailbox.host, mailbox.port) == (dovecot.host, dovecot.port)
    wrong = dovecot.mailbox(mailbox.user, "wrong-password")
    with pytest.raises(LoginError):
        wrong.connect()


def test_idle_returns_on_new_message(mailbox):
    with mailbox.connect() as client:
        assert b"IDLE" in client.capabilities()
        client.select_folder("INBOX")
        client.idle()
        try:
            assert client.idle_check(timeout=0.2) == []
            mailbox.append(raw_message())
            responses = client.idle_check(timeout=10)
        finally:
            client.idle_done()
    assert (1, b"EXISTS") in responses


def test_create_folder_and_move(mailbox):
    raw = raw_message()
    mailbox.append(raw)
    with mailbox.connect() as client:
        assert b"MOVE" in client.capabilities()
        client.create_folder("Verwerkt")
        client.select_folder("INBOX")
        client.move(client.search("ALL"), "Verwerkt")
    assert mailbox.messages("INBOX") == []
    assert mailbox.messages("Verwerkt") == [raw]
    assert set(mailbox.folders()) >= {"INBOX", "Verwerkt"}


def test_append_creates_missing_folder(mailbox):
    raw = raw_message()
    mailbox.append(raw, "Fouten")
    assert "Fouten" in mailbox.folders()
    assert mailbox.messages("Fouten") == [raw]


def test_restart_keeps_messages_and_port(tmp_path):
    with Dovecot(tmp_path) as server:
        raw = raw_message()
        server.append(raw)
        port = server.port
        client = server.connect()
        client.select_folder("INBOX")
        server.restart()
        assert server.port == port and server.running
        # The open connection did not survive; a new one sees the old mail.
        with pytest.raises(Exception):
            client.noop()
        client.shutdown()
        assert server.messages("INBOX") == [raw]
        assert server.log_errors() == []
    assert not server.running


def test_missing_dovecot_is_an_error_not_a_skip(monkeypatch, tmp_path):
    monkeypatch.setattr(servers, "DOVECOT_CANDIDATES", ("/nonexistent/dovecot",))
    with pytest.raises(RuntimeError, match="apt-get install dovecot-imapd"):
        servers.Dovecot(tmp_path)


def test_sink_records_messages(smtp_sink):
    raw = raw_message()
    with smtplib.SMTP(smtp_sink.host, smtp_sink.port, timeout=10) as smtp:
        smtp.sendmail("noreply@pioniers.test", ["a@example.test", "b@example.test"], raw)
    [msg] = smtp_sink.wait_for(1)
    assert msg.mail_from == "noreply@pioniers.test"
    assert msg.rcpt_tos == ["a@example.test", "b@example.test"]
    assert msg.data == raw
    assert msg.received_at <= time.time()
    smtp_sink.clear()
    assert smtp_sink.messages == []


def test_sink_wait_for_times_out(smtp_sink):
    with pytest.raises(TimeoutError):
        smtp_sink.wait_for(1, timeout=0.1)


def test_sink_fail_with_451_is_a_temporary_data_error():
    with SmtpSink(fail_with=451) as sink:
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
            with pytest.raises(smtplib.SMTPDataError) as excinfo:
                smtp.sendmail("noreply@pioniers.test", ["a@example.test"], raw_message())
        assert excinfo.value.smtp_code == 451
        assert 400 <= excinfo.value.smtp_code < 500
        assert sink.messages == [] and len(sink.rejected) == 1

        sink.fail_with = None  # the retry succeeds
        with smtplib.SMTP(sink.host, sink.port, timeout=10) as smtp:
            smtp.sendmail("noreply@pioniers.test", ["a@example.test"], raw_message())
        assert len(sink.wait_for(1)) == 1
