"""The command line as other tools drive it: a real subprocess, real exit codes, one-line errors."""
from __future__ import annotations

import datetime as dt
import os
import signal
import smtplib
import subprocess
import sys
import time
from email.message import EmailMessage
from pathlib import Path

from helpers import REG, mail, write_config
from servers import free_port

ROOT = Path(__file__).resolve().parent.parent


def pioniers(*args: str, config: Path, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=120, cwd=config.parent)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_meeting_commands_and_exports(tmp_path, db_url, mailbox, smtp_sink):
    cfg = write_config(tmp_path / "config.toml", db_url,
                       imap={"host": mailbox.host, "port": mailbox.port, "user": mailbox.user,
                             "password": mailbox.password}, smtp={"host": smtp_sink.host, "port": smtp_sink.port})
    pioniers("init", config=cfg)
    pioniers("init", config=cfg)  # safe to run twice
    pioniers("meeting", "add", "2099-03-18", "--start", "14:00", "--end", "17:00", "--location", "Stadhuis",
             "--host", "Gemeente Schiedam", "--theme", "Open data", "--capacity", "1", config=cfg)
    mailbox.append(mail(subject="Pioniersnetwerk 18 maart 2099", sender="=Jan <jan@schiedam.nl>"))
    mailbox.append(mail(subject="Pioniersnetwerk 18 maart 2099", sender="Piet <piet@utrecht.nl>"))
    out = pioniers("poll", "--once", config=cfg).stdout
    assert "2 processed" in out
    smtp_sink.wait_for(2)
    listing = pioniers("meeting", "list", config=cfg).stdout
    assert "2099-03-18" in listing and "Gemeente Schiedam" in listing
    row = [line for line in listing.splitlines() if "2099-03-18" in line][0].split()
    assert row[3:6] == ["1", "1", "1"]  # confirmed, waitlisted, capacity
    csv = subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(cfg), "attendees", "2099-03-18",
                          "--csv"], capture_output=True, timeout=60).stdout
    assert csv.startswith("\ufeff".encode())
    lines = csv.decode("utf-8-sig").splitlines()
    # the scripts' columns, exactly as they always were (needs only in files for people)
    assert lines[0].split(",") == ["name", "organisation", "email", "status", "registered_at", "partstat", "role"]
    assert lines[1].startswith("'=Jan,") and ",confirmed," in lines[1]  # formula neutralised
    assert ",waitlisted," in lines[2]
    msgs = pioniers("messages", config=cfg).stdout
    assert "jan@schiedam.nl" in msgs and "confirmed for 2099-03-18" in msgs
    xlsx = tmp_path / "deelnemers.xlsx"
    pioniers("attendees", "2099-03-18", "--xlsx", str(xlsx), config=cfg)
    from openpyxl import load_workbook

    ws = load_workbook(xlsx).active
    assert [c.value for c in ws[1]] == ["Naam", "Organisatie", "E-mailadres", "Status", "Aangemeld op",
                                        "Antwoord in agenda", "Rol", "Wensen (dieet, toegankelijkheid)"]
    assert all(c.font.bold for c in ws[1]) and ws.freeze_panes == "A2" and ws.auto_filter.ref == "A1:H3"
    assert [ws.cell(row, 4).value for row in (2, 3)] == ["aangemeld", "wachtlijst"]
    assert ws.cell(2, 1).value == "'=Jan" and ws.cell(2, 6).value == "nog geen antwoord"
    registered = ws.cell(2, 5)
    assert isinstance(registered.value, dt.datetime) and registered.number_format == "dd-mm-yyyy hh:mm"
    assert ws.column_dimensions["C"].width >= len("jan@schiedam.nl")

    excel = tmp_path / "deelnemers.csv"
    pioniers("attendees", "2099-03-18", "--excel-csv", str(excel), config=cfg)
    data = excel.read_bytes()
    assert data.startswith("\ufeff".encode())
    rows = data.decode("utf-8-sig").splitlines()
    assert rows[0].startswith("Naam;Organisatie;E-mailadres;Status;Aangemeld op")
    assert ";aangemeld;" in rows[1] and ";wachtlijst;" in rows[2]
    assert rows[1].split(";")[4].count("-") == 2 and rows[1].split(";")[4][2] == "-"  # dd-mm-yyyy hh:mm

    nowhere = pioniers("attendees", "2099-03-18", "--xlsx", str(tmp_path / "nope" / "x.xlsx"), config=cfg,
                       check=False)
    assert nowhere.returncode == 2 and nowhere.stderr.count("\n") == 1 and "cannot write" in nowhere.stderr

    pioniers("members", "add", "zoë@schiedam.nl", "--name", "Zoë de Wit", config=cfg)
    members_xlsx = tmp_path / "leden.xlsx"
    assert "member(s) written" in pioniers("members", "export", "--xlsx", str(members_xlsx), config=cfg).stdout
    sheet = load_workbook(members_xlsx).active
    assert [c.value for c in sheet[1]] == ["E-mailadres", "Naam", "Lid sinds"]
    assert any(row[1] == "Zoë de Wit" for row in sheet.iter_rows(min_row=2, values_only=True))
    members_csv = tmp_path / "leden.csv"
    pioniers("members", "export", "--excel-csv", str(members_csv), config=cfg)
    assert "Zoë de Wit" in members_csv.read_bytes().decode("utf-8-sig")
    assert pioniers("members", "export", config=cfg).stdout.startswith("email,name")  # the import format stays


def test_user_errors_are_one_line(tmp_path):
    missing = pioniers("meeting", "list", config=tmp_path / "nope.toml", check=False)
    assert missing.returncode == 2 and missing.stderr.count("\n") == 1 and "not found" in missing.stderr
    bad = tmp_path / "bad.toml"
    write_config(bad, f"sqlite:///{tmp_path}/x.db")
    bad.write_text(bad.read_text().replace('timezone = "Europe/Amsterdam"', "timezone = 5"))
    out = pioniers("init", config=bad, check=False)
    assert out.returncode == 2 and "[network] timezone" in out.stderr and "Traceback" not in out.stderr
    cfg = write_config(tmp_path / "ok.toml", f"sqlite:///{tmp_path}/ok.db")
    pioniers("init", config=cfg)
    unknown = pioniers("attendees", "2030-01-01", "--csv", config=cfg, check=False)
    assert unknown.returncode == 2 and "no meeting on 2030-01-01" in unknown.stderr
    unreachable = write_config(tmp_path / "imap.toml", f"sqlite:///{tmp_path}/ok.db",
                               imap={"host": "127.0.0.1", "port": free_port(), "user": "x"})
    out = pioniers("poll", "--once", config=unreachable, check=False)
    assert out.returncode == 2 and "cannot reach IMAP server" in out.stderr and "Traceback" not in out.stderr
    nodb = write_config(tmp_path / "nodb.toml", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    out = pioniers("meeting", "list", config=nodb, check=False)
    assert out.returncode == 2 and "database" in out.stderr and "Traceback" not in out.stderr


def test_shipped_config_runs_embedded(tmp_path):
    """The shipped config.toml, only the port changed: run, mail a registration, read the reply in var/outbox."""
    port = free_port()
    cfg = tmp_path / "config.toml"
    cfg.write_text((ROOT / "config.toml").read_text().replace("smtp_port = 2525", f"smtp_port = {port}"))
    pioniers("init", config=cfg)
    pioniers("meeting", "add", "2099-06-17", "--start", "13:30", "--end", "16:30", "--location", "Utrecht",
             "--host", "Gemeente Utrecht", config=cfg)
    proc = subprocess.Popen([sys.executable, "-m", "pioniers.cli", "--config", str(cfg), "run"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        banner = ""
        deadline = time.time() + 30
        while "Replies are written" not in banner and time.time() < deadline:
            banner += proc.stdout.readline()
        assert f"127.0.0.1:{port}" in banner
        msg = EmailMessage()
        msg["From"] = "Anna <anna@utrecht.nl>"
        msg["To"] = "aanmelden@pioniers.localhost"
        msg["Subject"] = "Pioniersnetwerk 17 juni 2099"
        msg.set_content("Ik meld me aan.")
        with smtplib.SMTP("127.0.0.1", port) as smtp:
            smtp.send_message(msg)
            try:
                smtp.sendmail("x@y.nl", ["someone@else.example"], b"Subject: x\r\n\r\nx")
                relayed = True
            except smtplib.SMTPRecipientsRefused:
                relayed = False
        assert not relayed, "the embedded server is no open relay"
        outbox = tmp_path / "var" / "outbox" / "new"
        deadline = time.time() + 20
        while time.time() < deadline and not (outbox.exists() and any(outbox.iterdir())):
            time.sleep(0.1)
        (reply,) = list(outbox.iterdir())
        data = reply.read_bytes()
        assert b"To: anna@utrecht.nl" in data and b"text/calendar" in data
        assert b"Aanmelding bevestigd: Pioniersnetwerk 17 juni 2099" in data
    finally:
        proc.send_signal(signal.SIGTERM)
        rest = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, rest
    assert "service stopped" in rest


def test_half_made_inbox_folder_and_unreachable_smtp(tmp_path):
    """A user who made only var/inbox/new, and an SMTP server that is down: mail is processed and queued."""
    port = free_port()
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path}/p.db", smtp={"host": "127.0.0.1", "port": port})
    pioniers("init", config=cfg)
    pioniers("meeting", "add", "2099-01-14", "--start", "10:00", "--end", "12:00", "--location", "Delft",
             "--host", "Gemeente Delft", config=cfg)
    inbox_new = tmp_path / "var" / "inbox" / "new"
    inbox_new.mkdir(parents=True)
    (inbox_new / "1.eml").write_bytes(mail(subject="Pioniersnetwerk 14 januari 2099", to=REG))
    out = pioniers("poll", "--once", config=cfg)
    assert "1 processed" in out.stdout and "retry later: 1" in out.stdout
    assert f"cannot reach SMTP server 127.0.0.1:{port}" in out.stderr and "Traceback" not in out.stderr


def _at_terminal(config: Path, answer: str, *args: str) -> subprocess.CompletedProcess:
    """The command run with a terminal as its input (a pty), the organiser typing answer."""
    import pty

    master, slave = pty.openpty()
    try:
        os.write(master, answer.encode() + b"\n")
        return subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(config), *args], stdin=slave,
                              capture_output=True, text=True, timeout=120, cwd=config.parent)
    finally:
        os.close(master)
        os.close(slave)


def test_mass_mail_and_deletion_ask_first(tmp_path, smtp_sink):
    """meeting update / cancel and forget ask at a terminal; without one they need --yes (one line says so)."""
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{tmp_path}/p.db",
                       smtp={"host": smtp_sink.host, "port": smtp_sink.port})
    pioniers("init", config=cfg)
    pioniers("meeting", "add", "2099-03-18", "--start", "14:00", "--end", "17:00", "--location", "Stadhuis",
             "--host", "Gemeente Schiedam", config=cfg)
    from base.config import load_config
    from db.app import App
    from db import registry

    app = App.from_config(load_config(cfg))
    with app.sm.begin() as s:
        meeting = registry.meeting_on(s, dt.date(2099, 3, 18))
        person = registry.upsert_person(s, "jan@schiedam.nl", "Jan", "", app.now())
        registry.register(s, meeting, person, app.now())

    for args in (("meeting", "update", "2099-03-18", "--start", "13:30"),
                 ("meeting", "cancel", "2099-03-18", "--reason", "ziek"), ("forget", "jan@schiedam.nl")):
        refused = pioniers(*args, config=cfg, check=False)
        assert refused.returncode == 2 and "add --yes" in refused.stderr and refused.stderr.count("\n") == 1
        said_no = _at_terminal(cfg, "n", *args)
        assert said_no.returncode == 0 and ("nothing changed" in said_no.stdout or "nothing removed" in said_no.stdout)
    assert "14:00-17:00" in pioniers("meeting", "list", config=cfg).stdout and smtp_sink.messages == []

    said_yes = _at_terminal(cfg, "ja", "meeting", "update", "2099-03-18", "--start", "13:30")
    assert said_yes.returncode == 0 and "changed" in said_yes.stdout, said_yes.stderr
    assert "13:30-17:00" in pioniers("meeting", "list", config=cfg).stdout
    pioniers("meeting", "cancel", "2099-03-18", "--reason", "ziek", "--yes", config=cfg)
    assert "cancelled" in pioniers("meeting", "list", config=cfg).stdout
