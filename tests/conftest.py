# Shared fixtures. The lead will add database fixtures to this file later.
#
# Real servers, never mocks and never skipped (see tests/servers.py):
#   dovecot   session-wide private Dovecot (IMAP, plaintext, 127.0.0.1, free port)
#   mailbox   a fresh, empty account on it for this test: .host .port .user .password,
#             .append(raw, folder) .messages(folder) .folders() .connect()
#   smtp_sink an aiosmtpd sink recording every message (.messages, .wait_for(n), .fail_with)
from __future__ import annotations

import pytest

try:
    from servers import Dovecot, Mailbox, SmtpSink
except ImportError:  # tests/ turned into a package
    from tests.servers import Dovecot, Mailbox, SmtpSink


@pytest.fixture(scope="session")
def dovecot(tmp_path_factory) -> Dovecot:
    with Dovecot(tmp_path_factory.mktemp("dovecot")) as server:
        yield server


@pytest.fixture
def mailbox(dovecot: Dovecot) -> Mailbox:
    dovecot.start()  # no-op when running; revives it if an earlier test stopped it
    return dovecot.new_mailbox()


@pytest.fixture
def smtp_sink() -> SmtpSink:
    with SmtpSink() as sink:
        yield sink
