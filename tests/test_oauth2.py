"""OAuth2 (XOAUTH2) against real servers on 127.0.0.1: a token endpoint, Dovecot's oauth2 passdb, aiosmtpd.

Microsoft 365 is played by FakeOAuthServer's Entra dialect (msal talks to it through MsalHttp), Google Workspace by
its JWT-bearer grant, and any other OAuth2 server by plain client credentials (token_url).
"""
from __future__ import annotations

import datetime as dt
import email
import json
import re
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

from base import oauth
from base.config import ConfigError, ImapConfig, OAuth2Config, load_config
from base.oauth import OAuth2Error, TokenProvider
from db.app import App
from db.migrate import upgrade
from db.models import InboundMessage, OutboundMessage
from inbox.sources import ImapSource, InboxUnavailable
from mailer.transport import SendError, SmtpTransport
from pioniers import cli
from pioniers.service import run

try:
    from helpers import REG, Clock, mail, write_config
    from oauth_servers import FakeOAuthServer, MsalHttp, OAuthDovecot, XOAuthSmtpSink
except ImportError:  # tests/ turned into a package
    from tests.helpers import REG, Clock, mail, write_config
    from tests.oauth_servers import FakeOAuthServer, MsalHttp, OAuthDovecot, XOAuthSmtpSink

TENANT = "0c6d3b1e-5a2f-4f7e-9d4a-1b2c3d4e5f60"


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fake() -> FakeOAuthServer:
    server = FakeOAuthServer()
    yield server
    server.close()


@pytest.fixture(autouse=True)
def _token_lifetime(fake):
    fake.lifetime = 3600.0
    yield
    fake.lifetime = 3600.0


@pytest.fixture(scope="module")
def odovecot(tmp_path_factory, fake) -> OAuthDovecot:
    with OAuthDovecot(tmp_path_factory.mktemp("odovecot"), fake) as server:
        yield server


@pytest.fixture
def obox(odovecot):
    odovecot.start()
    return odovecot.new_mailbox()


@pytest.fixture
def refused(odovecot):
    """For tests that provoke refused logins: Dovecot's per-IP auth penalty (2, 4, 8, 15 s for each further
    failure, kept by its anvil process) would slow every later login; a restart forgets it."""
    yield
    odovecot.restart()


@pytest.fixture
def osink(fake) -> XOAuthSmtpSink:
    with XOAuthSmtpSink(fake) as sink:
        yield sink


@pytest.fixture
def msal_local(fake, monkeypatch):
    """Route msal's requests for login.microsoftonline.com to the fake server."""
    monkeypatch.setattr(oauth, "MSAL_HTTP_CLIENT", MsalHttp(fake))


def generic(fake: FakeOAuthServer, client, **kw) -> OAuth2Config:
    return OAuth2Config(token_url=f"{fake.url}/token", client_id=client.client_id, client_secret=client.secret, **kw)


def microsoft(client, **kw) -> OAuth2Config:
    return OAuth2Config(tenant_id=client.tenant, client_id=client.client_id, client_secret=client.secret, **kw)


def imap_cfg(box, **kw) -> ImapConfig:
    return ImapConfig(host=box.host, port=box.port, ssl=False, username=box.user, auth="oauth2", **kw)


def xoauth2_logins(dovecot: OAuthDovecot, user: str) -> int:
    return len(re.findall(rf"Login: user=<{re.escape(user)}>, method=XOAUTH2",
                          dovecot.log_path.read_text(errors="replace")))


class OAuthWorld:
    """Like tests/helpers.World, with [imap] and [smtp] auth = "oauth2" and an [oauth2] section."""

    def __init__(self, tmp: Path, db_url: str, box, sink, oauth2: str) -> None:
        path = write_config(tmp / "config.toml", db_url,
                            imap={"host": box.host, "port": box.port, "user": box.user, "password": ""},
                            smtp={"host": sink.host, "port": sink.port}, extra="\n[oauth2]\n" + oauth2)
        text = path.read_text()
        text = text.replace("[imap]\n", '[imap]\nauth = "oauth2"\n', 1)
        text = text.replace("[smtp]\n", f'[smtp]\nauth = "oauth2"\nusername = "{box.user}"\n', 1)
        path.write_text(text)
        self.path, self.box, self.sink = path, box, sink
        self.clock = Clock()
        self.app = App.from_config(load_config(path), self.clock)
        upgrade(self.app.sm.kw["bind"])

    def meeting(self) -> None:
        from network.meetings import add_meeting

        add_meeting(self.app, dt.date(2027, 3, 18), "14:00", "17:00", "Stadskantoor, Stadserf 1, Schiedam",
                    "Gemeente Schiedam", "Open data", None)

    def close(self) -> None:
        self.app.sm.kw["bind"].dispose()


def registration(n: int) -> bytes:
    return mail(sender=f"Deelnemer {n} <deelnemer{n}@schiedam.nl>")


@pytest.fixture
def oworld(tmp_path, db_url, fake, obox, osink):
    client = fake.add_client(obox.user)
    w = OAuthWorld(tmp_path, db_url, obox, osink,
                   f'token_url = "{fake.url}/token"\nclient_id = "{client.client_id}"\n'
                   f'client_secret = "{client.secret}"\n')
    w.client = client
    w.meeting()
    yield w
    w.close()


# --------------------------------------------------------------------------- the XOAUTH2 round trip


def test_imap_xoauth2_login_fetch_move(fake, odovecot, obox):
    client = fake.add_client(obox.user)
    obox.append(registration(1))
    source = ImapSource(imap_cfg(obox), tokens=TokenProvider(generic(fake, client)))
    try:
        source.open()
        uidvalidity, uids = source.pending(0, 0)
        assert len(uids) == 1
        [raw] = source.fetch(uids)
        assert b"deelnemer1@schiedam.nl" in raw.data
        source.move(uids, "Verwerkt")
    finally:
        source.close()
    assert obox.messages("INBOX") == [] and len(obox.messages("Verwerkt")) == 1
    assert xoauth2_logins(odovecot, obox.user) == 1
    assert fake.issued_to(client) == 1


def test_smtp_xoauth2_send(fake, osink):
    client = fake.add_client("aanmelden@pioniers.test")
    tokens = TokenProvider(generic(fake, client))
    transport = SmtpTransport(osink.host, osink.port, username="aanmelden@pioniers.test", tokens=tokens)
    try:
        transport.send(REG, "jan@schiedam.nl", b"Subject: hallo\r\n\r\nhoi\r\n")
        transport.send(REG, "piet@schiedam.nl", b"Subject: hallo\r\n\r\nhoi\r\n")
    finally:
        transport.close()
    assert [m.rcpt_tos for m in osink.wait_for(2)] == [["jan@schiedam.nl"], ["piet@schiedam.nl"]]
    assert osink.auth_attempts == ["aanmelden@pioniers.test"]  # one connection, one AUTH, one token
    assert fake.issued_to(client) == 1


def test_smtp_server_refuses_mail_without_xoauth2(osink):
    transport = SmtpTransport(osink.host, osink.port)  # no credentials at all
    with pytest.raises(SendError) as err:
        transport.send(REG, "jan@schiedam.nl", b"Subject: x\r\n\r\nx\r\n")
    transport.close()
    assert err.value.reply.startswith("530") and osink.messages == []


def test_poll_once_reads_and_replies_over_xoauth2(oworld, odovecot, capsys):
    oworld.box.append(registration(1))
    assert cli.main(["--config", str(oworld.path), "poll", "--once"]) == 0
    assert "1 processed" in capsys.readouterr().out
    [reply] = oworld.sink.wait_for(1)
    assert reply.rcpt_tos == ["deelnemer1@schiedam.nl"]
    assert "Pioniersnetwerk" in email.message_from_bytes(reply.data)["Subject"]
    assert oworld.sink.auth_attempts == [oworld.box.user]
    assert xoauth2_logins(odovecot, oworld.box.user) == 1


# --------------------------------------------------------------------------- Microsoft 365 (msal)


def test_msal_client_credentials_then_imap(fake, odovecot, obox, msal_local):
    client = fake.add_client(obox.user, tenant=TENANT)
    tokens = TokenProvider(microsoft(client))
    assert tokens.scope == "https://outlook.office365.com/.default"
    source = ImapSource(imap_cfg(obox), tokens=tokens)
    try:
        source.open()
        assert source.pending(0, 0)[1] == []
    finally:
        source.close()
    assert f"POST /{TENANT}/oauth2/v2.0/token" in fake.requests
    assert tokens.roles(tokens.token()) == {"IMAP.AccessAsApp", "SMTP.SendAsApp"}


def _certificate(tmp_path: Path):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "pioniers")])
    now = dt.datetime.now(dt.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    path = tmp_path / "pioniers.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()) + cert.public_bytes(serialization.Encoding.PEM))
    return path, cert.fingerprint(hashes.SHA1()).hex().upper(), key


def test_msal_certificate_credential(tmp_path, fake, odovecot, obox, msal_local):
    path, thumbprint, key = _certificate(tmp_path)
    client = fake.add_client(obox.user, tenant=TENANT, public_key=key.public_key())
    cfg = OAuth2Config(tenant_id=TENANT, client_id=client.client_id, certificate_path=str(path),
                       certificate_thumbprint=thumbprint)
    source = ImapSource(imap_cfg(obox), tokens=TokenProvider(cfg))
    try:
        source.open()
    finally:
        source.close()
    assert xoauth2_logins(odovecot, obox.user) == 1

    (tmp_path / "other").mkdir()
    other, _, _ = _certificate(tmp_path / "other")  # a key the app registration does not know
    wrong = OAuth2Config(tenant_id=TENANT, client_id=client.client_id, certificate_path=str(other),
                         certificate_thumbprint=thumbprint)
    with pytest.raises(OAuth2Error, match="AADSTS700027"):
        TokenProvider(wrong).token()


@pytest.mark.parametrize("mistake, expected", [
    ("tenant", "tenant_id 'nergens.onmicrosoft.com' is not a Microsoft Entra tenant (AADSTS90002)"),
    ("client", "is not an application in tenant"),
    ("secret", "client_secret is wrong (AADSTS7000215)"),
    ("scope", "is not valid for an app-only token"),
])
def test_msal_mistakes_are_one_line(fake, msal_local, mistake, expected):
    client = fake.add_client("x@pioniers.test", tenant=TENANT)
    cfg = microsoft(client)
    if mistake == "tenant":
        cfg = OAuth2Config(tenant_id="nergens.onmicrosoft.com", client_id=client.client_id,
                           client_secret=client.secret)
    elif mistake == "client":
        cfg = OAuth2Config(tenant_id=TENANT, client_id="11111111-2222-3333-4444-555555555555",
                           client_secret=client.secret)
    elif mistake == "secret":
        cfg = OAuth2Config(tenant_id=TENANT, client_id=client.client_id, client_secret="Ab~secret-id-not-value")
    else:
        cfg = microsoft(client, scope="https://outlook.office.com/IMAP.AccessAsUser.All")
    with pytest.raises(OAuth2Error) as err:
        TokenProvider(cfg).token()
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_missing_consent_names_the_permission(fake, obox, msal_local, refused):
    client = fake.add_client(obox.user, tenant=TENANT, roles=())  # permission added, admin consent not granted
    source = ImapSource(imap_cfg(obox), tokens=TokenProvider(microsoft(client)))
    with pytest.raises(InboxUnavailable) as err:
        source.open()
    assert "no IMAP.AccessAsApp permission" in str(err.value) and "Grant admin consent" in str(err.value)


def test_missing_mailbox_permission_names_the_powershell_step(fake, obox, msal_local, refused):
    client = fake.add_client("other@pioniers.test", tenant=TENANT)  # Add-MailboxPermission for another mailbox
    tokens = TokenProvider(microsoft(client))
    source = ImapSource(imap_cfg(obox), tokens=tokens)
    with pytest.raises(InboxUnavailable) as err:
        source.open()
    text = str(err.value)
    assert f"Add-MailboxPermission -Identity {obox.user}" in text and "New-ServicePrincipal" in text
    assert client.client_id in text and "\n" not in text
    assert fake.issued_to(client) == 2  # the cached token was refused: tried once more with a fresh one


def test_smtp_auth_disabled_is_explained(fake, osink, msal_local):
    client = fake.add_client("aanmelden@pioniers.test", tenant=TENANT)
    client.smtp_auth_disabled = True
    transport = SmtpTransport(osink.host, osink.port, username="aanmelden@pioniers.test",
                              tokens=TokenProvider(microsoft(client)))
    with pytest.raises(SendError) as err:
        transport.send(REG, "jan@schiedam.nl", b"Subject: x\r\n\r\nx\r\n")
    assert "Set-CASMailbox" in err.value.reply and "SmtpClientAuthenticationDisabled $false" in err.value.reply
    assert "5.7.139" in err.value.reply
    assert len(osink.auth_attempts) == 1  # not retried with another token: that cannot help


def test_smtp_without_send_permission(fake, osink, msal_local):
    client = fake.add_client("aanmelden@pioniers.test", tenant=TENANT, roles=("IMAP.AccessAsApp",))
    transport = SmtpTransport(osink.host, osink.port, username="aanmelden@pioniers.test",
                              tokens=TokenProvider(microsoft(client)))
    with pytest.raises(SendError) as err:
        transport.send(REG, "jan@schiedam.nl", b"Subject: x\r\n\r\nx\r\n")
    assert "SMTP.SendAsApp" in err.value.reply and err.value.temporary


def test_smtp_password_refused_with_5_7_30_is_explained():
    from base.oauth import smtp_auth_disabled

    text = smtp_auth_disabled(535, "5.7.30 Basic authentication is not supported for Client Submission")
    assert text is not None and '[smtp] auth = "oauth2"' in text


# --------------------------------------------------------------------------- Google Workspace


def _service_account(tmp_path: Path, fake: FakeOAuthServer, mailbox: str):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    email_addr = f"pioniers@project-{id(key) % 10000}.iam.gserviceaccount.com"
    client = fake.add_client(mailbox, public_key=key.public_key())
    fake.clients[email_addr] = client
    path = tmp_path / "google-key.json"
    path.write_text(json.dumps({
        "type": "service_account", "client_email": email_addr, "private_key_id": "k1", "client_id": "1234",
        "private_key": key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()).decode(),
        "token_uri": f"{fake.url}/token"}))
    return path, client


def test_google_service_account_imap(tmp_path, fake, odovecot, obox):
    path, client = _service_account(tmp_path, fake, obox.user)
    tokens = TokenProvider(OAuth2Config(service_account_file=str(path)), subject=obox.user)
    assert tokens.scope == "https://mail.google.com/"
    source = ImapSource(imap_cfg(obox), tokens=tokens)
    try:
        source.open()
    finally:
        source.close()
    assert xoauth2_logins(odovecot, obox.user) == 1

    other = TokenProvider(OAuth2Config(service_account_file=str(path)), subject="someone@else.test")
    with pytest.raises(OAuth2Error, match="Domain-wide delegation"):
        other.token()


# --------------------------------------------------------------------------- configuration and the CLI


def test_wrong_client_secret_is_one_line_from_the_cli(oworld, capsys, monkeypatch):
    monkeypatch.setenv("PIONIERS_OAUTH2_CLIENT_SECRET", "wrong")
    oworld.box.append(registration(1))
    assert cli.main(["--config", str(oworld.path), "poll", "--once"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("pioniers: [oauth2] the token endpoint")
    assert "invalid_client" in err and "client_id and client_secret" in err


@pytest.mark.parametrize("oauth2, imap_auth, message", [
    ("", "oauth2", "[oauth2] tenant_id (Microsoft 365) or token_url"),
    ('tenant_id = "t"\n', "oauth2", "[oauth2] client_id is missing"),
    ('tenant_id = "t"\nclient_id = "c"\n', "oauth2", "[oauth2] client_secret is missing"),
    ('tenant_id = "t"\ntoken_url = "https://x/token"\nclient_id = "c"\nclient_secret = "s"\n', "oauth2",
     "not both"),
    ('tenant_id = "t"\nclient_id = "c"\ncertificate_path = "nope.pem"\n', "oauth2", "certificate_path 'nope.pem'"),
    ("", "kerberos", '[imap] auth must be "password" or "oauth2"'),
])
def test_config_mistakes(tmp_path, oauth2, imap_auth, message):
    path = write_config(tmp_path / "config.toml", "sqlite://", imap={"host": "imap.example", "user": "a@b.nl"},
                        extra="\n[oauth2]\n" + oauth2)
    path.write_text(path.read_text().replace("[imap]\n", f'[imap]\nauth = "{imap_auth}"\n', 1))
    with pytest.raises(ConfigError) as err:
        load_config(path)
    assert message in str(err.value)


def test_config_defaults_and_secret_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("PIONIERS_OAUTH2_CLIENT_SECRET", "from-env")
    path = write_config(tmp_path / "config.toml", "sqlite://", imap={"host": "outlook.office365.com",
                                                                     "user": "aanmelden@gemeente.nl"},
                        extra='\n[oauth2]\ntenant_id = "gemeente.onmicrosoft.com"\nclient_id = "c"\n')
    path.write_text(path.read_text().replace("[imap]\n", '[imap]\nauth = "oauth2"\n', 1))
    cfg = load_config(path)
    assert cfg.smtp.auth == "password" and cfg.oauth2.client_secret == "from-env"
    tokens = oauth.imap_tokens(cfg)
    assert tokens is not None and tokens.kind == "microsoft"
    assert tokens.scope == "https://outlook.office365.com/.default"
    assert oauth.smtp_tokens(cfg) is None


# --------------------------------------------------------------------------- renewal and expiry


def test_token_is_cached_and_renewed_before_it_expires(fake):
    fake.lifetime = 400.0
    client = fake.add_client("x@pioniers.test")
    now = [1000.0]
    tokens = TokenProvider(generic(fake, client), clock=lambda: now[0])
    first = tokens.current()
    assert tokens.token() == first.value and fake.issued_to(client) == 1
    assert first.renew_at == pytest.approx(1000 + 400 - 100)  # a quarter of a short lifetime
    now[0] = 1299.0
    assert tokens.token() == first.value
    now[0] = 1300.0
    assert tokens.token() != first.value and fake.issued_to(client) == 2
    tokens.invalidate("not-this-one")
    assert fake.issued_to(client) == 2
    tokens.invalidate()
    tokens.token()
    assert fake.issued_to(client) == 3


def test_smtp_fan_out_survives_token_expiry(fake, osink):
    client = fake.add_client("aanmelden@pioniers.test")
    transport = SmtpTransport(osink.host, osink.port, username="aanmelden@pioniers.test",
                              tokens=TokenProvider(generic(fake, client)))
    try:
        for i in range(6):
            if i == 3:
                fake.expire_all()  # every token runs out in the middle of the fan-out
            transport.send(REG, f"p{i}@schiedam.nl", b"Subject: x\r\n\r\nx\r\n")
    finally:
        transport.close()
    assert [m.rcpt_tos[0] for m in osink.wait_for(6)] == [f"p{i}@schiedam.nl" for i in range(6)]
    assert len(osink.messages) == 6 and osink.rejected == []
    assert len(osink.auth_attempts) == 2 and fake.issued_to(client) == 2


def test_smtp_renews_before_the_token_expires(fake, osink):
    fake.lifetime = 2.0
    client = fake.add_client("aanmelden@pioniers.test")
    transport = SmtpTransport(osink.host, osink.port, username="aanmelden@pioniers.test",
                              tokens=TokenProvider(generic(fake, client)))
    try:
        transport.send(REG, "a@schiedam.nl", b"Subject: x\r\n\r\nx\r\n")
        time.sleep(1.6)  # past renew_at (1.5 s), before expiry: a new session with a new token, no 421 needed
        transport.send(REG, "b@schiedam.nl", b"Subject: x\r\n\r\nx\r\n")
    finally:
        transport.close()
    assert len(osink.wait_for(2)) == 2 and len(osink.auth_attempts) == 2 and fake.issued_to(client) == 2


def _wait(predicate, timeout: float = 20.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _run_in_thread(app):
    stop = threading.Event()
    errors: list[BaseException] = []

    def target():
        try:
            run(app, stop, install_signals=False)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return stop, thread, errors


def _each_once(w: OAuthWorld, n: int) -> None:
    with w.app.sm.begin() as session:
        rows = session.execute(select(InboundMessage.sender, InboundMessage.outcome)).all()
        outbound = session.scalar(select(func.count()).select_from(OutboundMessage))
    assert sorted(rows) == sorted((f"deelnemer{i}@schiedam.nl", "processed") for i in range(1, n + 1))
    assert outbound == n
    recipients = [m.rcpt_tos[0] for m in w.sink.messages]
    assert sorted(recipients) == sorted(f"deelnemer{i}@schiedam.nl" for i in range(1, n + 1))  # each once
    assert w.box.messages("INBOX") == [] and len(w.box.messages("Verwerkt")) == n


def test_token_expiry_in_the_middle_of_run(oworld, fake, odovecot):
    """Tokens die while the service IDLEs; Exchange then ends the IMAP session. Nothing is lost or doubled."""
    w = oworld
    stop, thread, errors = _run_in_thread(w.app)
    try:
        w.box.append(registration(1))
        w.sink.wait_for(1, timeout=20)
        _wait(lambda: xoauth2_logins(odovecot, w.box.user) == 1, what="first login")
        time.sleep(1.5)  # the service is IDLE now

        fake.expire_all()  # the token runs out during IDLE ...
        odovecot.kick(w.box.user)  # ... and the server ends the session, as Exchange Online does
        w.box.append(registration(2))
        w.box.append(registration(3))
        w.sink.wait_for(3, timeout=30)
        time.sleep(2)  # time enough for a second copy to show up, if one would
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and errors == []
    _each_once(w, 3)
    assert xoauth2_logins(odovecot, w.box.user) == 2  # logged in again, with a fresh token
    assert fake.issued_to(w.client) >= 3  # IMAP and SMTP each renewed their expired token
    assert len(w.sink.auth_attempts) == 2  # SMTP: 421 on the dead session, then a new session
    assert odovecot.log_errors() == []


def test_short_lived_tokens_renewed_during_a_long_run(oworld, fake, odovecot):
    """Tokens that live 3 s: the service logs in again before each expires, and keeps every message once."""
    w = oworld
    fake.lifetime = 3.0
    stop, thread, errors = _run_in_thread(w.app)
    try:
        for i in range(1, 5):
            w.box.append(registration(i))
            w.sink.wait_for(i, timeout=20)
            time.sleep(1.5)
    finally:
        stop.set()
        thread.join(30)
    assert not thread.is_alive() and errors == []
    _each_once(w, 4)
    assert xoauth2_logins(odovecot, w.box.user) >= 3
    assert fake.issued_to(w.client) >= 4
    assert odovecot.log_errors() == []


def test_check_fetches_a_token_and_logs_in_with_it(oworld, fake):
    """`pioniers check` with OAuth2: a token from the server on its own line, then the mailbox and SMTP with it."""
    from pioniers.cli_admin import check

    oworld.app.cfg.secret  # noqa: B018 - made on first use, as `pioniers init` does
    parts = {p.name: p for p in check(oworld.path)[0]}
    assert all(p.ok for p in parts.values()), parts
    assert "a token for" in parts["oauth2"].line and f"{fake.url}/token" in parts["oauth2"].line
    assert "logged in" in parts["inbox"].line and "logged in as" in parts["smtp"].line
