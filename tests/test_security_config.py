"""Settings that cannot be bent: loopback means loopback, folders stay where they belong, a capped embedded server."""
from __future__ import annotations

import smtplib
import socket
import threading
from pathlib import Path

import pytest

from base.config import ConfigError, load_config
from helpers import REG, mail, write_config
from pioniers.embedded import start_embedded_server
from servers import LOOPBACK, free_port


def _config(tmp_path: Path, extra: str) -> Path:
    return write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path}/p.db", extra=extra)


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "localhost.attacker.example", "127.0.0.1.nip.io"])
def test_embedded_server_beyond_loopback_needs_the_explicit_setting(tmp_path, host):
    with pytest.raises(ConfigError, match="not a loopback address"):
        load_config(_config(tmp_path, f'\n[embedded]\nsmtp_host = "{host}"\n'))
    cfg = load_config(_config(tmp_path, f'\n[embedded]\nsmtp_host = "{host}"\nlisten_beyond_loopback = true\n'))
    assert cfg.embedded.smtp_host == host


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "::1", "127.0.0.2"])
def test_loopback_hosts_are_accepted(tmp_path, host):
    assert load_config(_config(tmp_path, f'\n[embedded]\nsmtp_host = "{host}"\n')).embedded.smtp_host == host


@pytest.mark.parametrize("url", ["http://localhost.attacker.example/token", "http://127.0.0.1.evil.example/t",
                                 "http://example.org/token", "ftp://localhost/x", "https:///nohost"])
def test_token_url_must_be_https_or_exactly_loopback(tmp_path, url):
    extra = (f'\n[oauth2]\ntoken_url = "{url}"\nclient_id = "c"\nclient_secret = "s"\n')
    text = _config(tmp_path, extra).read_text().replace('[smtp]\nhost = ""', '[smtp]\nhost = "smtp.example"\n'
                                                        'username = "a@b.nl"\nauth = "oauth2"')
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match="token_url must be an https"):
        load_config(tmp_path / "config.toml")


def test_token_url_on_loopback_and_https_are_accepted(tmp_path):
    for url in ("http://127.0.0.1:8080/token", "http://localhost/token", "https://login.example/token"):
        extra = f'\n[oauth2]\ntoken_url = "{url}"\nclient_id = "c"\nclient_secret = "s"\n'
        text = _config(tmp_path, extra).read_text().replace(
            '[smtp]\nhost = ""', '[smtp]\nhost = "smtp.example"\nusername = "a@b.nl"\nauth = "oauth2"')
        (tmp_path / "config.toml").write_text(text)
        assert load_config(tmp_path / "config.toml").oauth2.token_url == url


@pytest.mark.parametrize("name", ["/../../x", "../x", "a/b", "..", ".hidden", "a\\b", " Verwerkt"])
def test_embedded_folders_stay_inside_the_inbox(tmp_path, name):
    text = _config(tmp_path, "").read_text().replace("[imap]\n", f'[imap]\nprocessed_folder = "{name}"\n'.replace(
        "\\", "\\\\"))
    (tmp_path / "config.toml").write_text(text)
    with pytest.raises(ConfigError, match="plain folder name"):
        load_config(tmp_path / "config.toml")


def test_imap_folders_may_have_a_hierarchy(tmp_path):
    path = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path}/p.db",
                        imap={"host": "imap.example", "user": "a@b.nl"})
    path.write_text(path.read_text().replace("[imap]\n", '[imap]\nprocessed_folder = "INBOX/Verwerkt"\n'))
    assert load_config(path).imap.processed_folder == "INBOX/Verwerkt"


def test_the_embedded_server_caps_simultaneous_connections(tmp_path):
    port = free_port()
    inbox = tmp_path / "inbox"
    server = start_embedded_server(LOOPBACK, port, inbox, frozenset({REG}), threading.Event(), max_connections=3)
    try:
        held = [socket.create_connection((LOOPBACK, port), timeout=10) for _ in range(3)]
        assert all(s.recv(100).startswith(b"220") for s in held)
        extra = socket.create_connection((LOOPBACK, port), timeout=10)
        assert extra.recv(100).startswith(b"421")
        extra.close()
        for s in held:
            s.close()
        for _ in range(50):  # the slots come back once those sessions are gone
            try:
                with smtplib.SMTP(LOOPBACK, port, timeout=10) as client:
                    client.sendmail("jan@schiedam.nl", [REG], mail())
                break
            except smtplib.SMTPConnectError:
                threading.Event().wait(0.1)
        assert len(list((inbox / "new").iterdir())) == 1
    finally:
        server.stop()


def test_the_run_banner_says_where_replies_go(tmp_path):
    from db.migrate import upgrade
    from db.app import App
    from pioniers.service import _embedded_banner

    for smtp, expected in (({}, "written to"), ({"host": "relay.example", "port": 587}, "relay.example:587")):
        path = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path}/p.db", smtp=smtp)
        app = App.from_config(load_config(path))
        upgrade(app.sm.kw["bind"])
        banner = _embedded_banner(app)
        assert expected in banner and ("var/outbox" in banner) == (not smtp)
        app.sm.kw["bind"].dispose()


def test_members_export_neutralises_formulas_and_reimports_exactly(world, tmp_path):
    from network.members import add_member, export_csv, import_csv, list_members

    people = [("=cmd@schiedam.nl", "=HYPERLINK(\"http://evil\")"), ("gewoon@utrecht.nl", "'=al een quote"),
              ("plus@utrecht.nl", "+31 10 123"), ("jan@schiedam.nl", "'t Hart")]
    for address, name in people:
        add_member(world.app, address, name)
    exported = export_csv(world.app)
    for line in exported.splitlines()[1:]:
        assert all(not cell.startswith(("=", "+", "-", "@")) for cell in line.split(","))
    with world.app.sm.begin() as s:  # empty the list, then bring it back from the export
        for m in list_members(world.app):
            s.delete(s.merge(m))
    path = tmp_path / "leden.csv"
    path.write_text(exported, encoding="utf-8")
    assert import_csv(world.app, path)[0] == len(people)
    assert sorted((m.email, m.name) for m in list_members(world.app)) == sorted(people)


def test_pioniers_messages_shows_no_live_token(world, capsys):
    from helpers import ORGANISER
    from list_helpers import post, received, reply_to, token_of
    from pioniers.cli import main

    world.deliver(post(subject="Nieuws"))
    world.poll()
    (preview,) = [m for _, m, _ in received(world, 0) if "[#" in str(m["Subject"])]
    token = token_of(preview)
    world.deliver(reply_to(preview, f"Organisatie <{ORGANISER}>", body="Nee, toch niet.\n"))
    world.poll()
    capsys.readouterr()
    assert main(["--config", str(world.config_path), "messages"]) == 0
    out = capsys.readouterr().out
    assert "Nieuws" in out and len(out.splitlines()) == 2
    assert token not in out and token[:8] not in out
