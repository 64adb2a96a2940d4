"""Running it: `init` in an empty folder, `check` against real servers (and each failure's one line), `status`,
`backup`."""
from __future__ import annotations

import json
import logging
import sqlite3
import textwrap
from pathlib import Path

import pytest

from base.config import load_config
from db.locks import acquire_lock
from db.models import OutboundMessage
from helpers import REG, mail, write_config
from pioniers.cli import main
from pioniers.cli_admin import check, status
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent



def test_init_in_an_empty_folder_writes_the_shipped_config_and_the_database(tmp_path, capsys, caplog):
    caplog.set_level(logging.INFO)
    config = tmp_path / "config.toml"
    assert main(["--config", str(config), "init"]) == 0
    out = capsys.readouterr().out
    assert config.read_bytes() == (ROOT / "config.toml").read_bytes()  # the commented one, as shipped
    assert config.stat().st_mode & 0o077 == 0  # it may come to hold passwords
    assert (tmp_path / "var" / "pioniers.db").exists()
    assert "config written" in out and "database created" in out and "next: edit" in out
    assert not [r for r in caplog.records if r.name.startswith("alembic")]  # one line per thing done, no INFO chatter
    assert len(out.splitlines()) == 4

    assert main(["--config", str(config), "init"]) == 0  # again: nothing written, the database is up to date
    again = capsys.readouterr().out
    assert "config written" not in again and "database up to date" in again


def test_check_passes_on_real_servers(world, capsys):
    world.app.cfg.secret  # noqa: B018 - made on first use, as `pioniers init` does
    world.deliver(mail())
    world.deliver(mail(sender="Piet <piet@gouda.nl>"))
    parts, advice = check(world.config_path)
    assert [p.name for p in parts] == ["config", "timezone", "secret", "database", "inbox", "smtp"]
    assert all(p.ok for p in parts), parts
    inbox = next(p for p in parts if p.name == "inbox")
    assert "logged in" in inbox.line and "2 message(s) waiting" in inbox.line
    smtp = next(p for p in parts if p.name == "smtp")
    assert f"{world.sink.host}:{world.sink.port}" in smtp.line
    assert any("DMARC" in line and "_dmarc.pioniers.test" in line for line in advice)
    assert main(["--config", str(world.config_path), "check"]) == 0


def _fails(config: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    with pytest.raises(SystemExit) as stop:
        main(["--config", str(config), "check"])
    assert stop.value.code == 1
    lines = capsys.readouterr().out.splitlines()
    return {line.split()[1]: line for line in lines if line.startswith("FAIL")}


def test_check_names_each_broken_part_in_one_line(tmp_path, mailbox, capsys):
    config = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path / 'p.db'}",
                          imap={"host": mailbox.host, "port": mailbox.port, "user": mailbox.user,
                                "password": "wrong"},
                          smtp={"host": "127.0.0.1", "port": free_port()})
    failed = _fails(config, capsys)
    assert set(failed) == {"secret", "database", "inbox", "smtp"}
    assert "run 'pioniers init'" in failed["database"] and "run 'pioniers init'" in failed["secret"]
    assert "IMAP login refused" in failed["inbox"] and "[imap] username and password" in failed["inbox"]
    assert "cannot reach SMTP server" in failed["smtp"]
    assert "Traceback" not in failed["smtp"]


def test_check_names_an_unreachable_database_server(tmp_path, capsys):
    config = write_config(tmp_path / "config.toml", f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/test")
    failed = _fails(config, capsys)
    assert "database problem" in failed["database"] and "check [database] url" in failed["database"]
    assert "Traceback" not in failed["database"]


def test_check_reports_a_config_it_cannot_read(tmp_path, capsys):
    config = tmp_path / "config.toml"
    config.write_text("[network]\nname = 'x'\n[oops]\n")
    failed = _fails(config, capsys)
    assert list(failed) == ["config"] and "[oops] is not a known section" in failed["config"]


def test_status_tells_running_waiting_and_failed(world, capsys):
    report = status(world.app)
    assert report["service"] == {"running": False, "holder": None, "last_pass": None}
    assert report["inbox_waiting"] == 0
    world.deliver(mail())
    assert status(world.app)["inbox_waiting"] == 1
    acquire_lock(world.app, "inbox", "host:1")  # what a running service holds, with its heartbeat
    world.clock.advance(seconds=20)
    with world.app.sm.begin() as session:
        for i, state in enumerate(["queued", "failed", "failed"]):
            session.add(OutboundMessage(key=f"k{i}", recipient="a@b.nl", kind="confirmation", raw=b"x",
                                        status=state, next_attempt_at=world.clock(), created_at=world.clock()))
    report = status(world.app)
    assert report["service"]["running"] is True and report["service"]["seconds_since_last_pass"] == 20
    assert report["replies"] == {"queued": 1, "failed": 2, "sent_last_24h": 0}
    world.clock.advance(minutes=10)  # silent for longer than a pass can take: not running
    assert status(world.app)["service"]["running"] is False

    assert main(["--config", str(world.config_path), "status", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["replies"]["failed"] == 2


def test_backup_copies_sqlite_while_open_and_points_postgresql_to_pg_dump(world, tmp_path, capsys):
    target = tmp_path / "backup.db"
    code = main(["--config", str(world.config_path), "backup", str(target)])
    out, err = capsys.readouterr()
    if world.app.sm.kw["bind"].dialect.name == "sqlite":
        assert code == 0 and "backup written" in out
        with sqlite3.connect(target) as conn:
            assert conn.execute("SELECT count(*) FROM alembic_version").fetchone() == (1,)
        assert target.stat().st_mode & 0o077 == 0
    else:
        assert code == 2 and "pg_dump" in err and err.count("\n") == 1


def test_oauth2_smtp_username_defaults_to_the_imap_mailbox(tmp_path):
    config = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path / 'p.db'}",
                          imap={"host": "outlook.office365.com", "user": "aanmelden@gemeente.nl"},
                          smtp={"host": "smtp.office365.com", "port": 587},
                          extra=textwrap.dedent("""
                              [oauth2]
                              tenant_id = "gemeente.onmicrosoft.com"
                              client_id = "c"
                              client_secret = "s"
                              """))
    text = config.read_text().replace("[imap]\n", '[imap]\nauth = "oauth2"\n', 1)
    config.write_text(text.replace("[smtp]\n", '[smtp]\nauth = "oauth2"\n', 1))
    assert load_config(config).smtp.username == "aanmelden@gemeente.nl"
    assert REG != load_config(config).smtp.username


def test_database_errors_are_explained_in_one_line(tmp_path, capsys):
    from sqlalchemy.exc import OperationalError

    from db.session import explain, place

    full = OperationalError("INSERT", {}, sqlite3.OperationalError("database or disk is full"))
    where = place("sqlite:///var/pioniers.db", tmp_path)
    line = explain(full, where)
    assert "disk holding the database is full" in line and str(tmp_path / "var") in line and "\n" not in line
    config = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path / 'leeg.db'}")
    assert main(["--config", str(config), "meeting", "list"]) == 2  # never initialised
    err = capsys.readouterr().err
    assert "no schema yet" in err and "run 'pioniers init'" in err and err.count("\n") == 1


def test_the_shipped_config_paces_nothing() -> None:
    """A busy day is no flood: as shipped, every confirmation of a burst goes out in the same run (a provider's
    limits are set where there is one; the per-address guard against loops stays)."""
    shipped = load_config(ROOT / "config.toml")
    assert shipped.limits.replies_per_hour == 0 and shipped.limits.replies_per_address_per_day == 10
