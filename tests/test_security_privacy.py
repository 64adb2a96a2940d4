"""Forget means gone: after `pioniers forget` the address is nowhere under var/ nor in any database column;
the do-not-mail list is a keyed hash that imports and list subscriptions respect; the retention purge also
empties the kept Maildirs and the IMAP processed folder."""
from __future__ import annotations

import datetime as dt
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from sqlalchemy import LargeBinary, String, Text, select

from base.hashing import address_hash, legacy_address_hash
from base.mentions import mentions
from db.models import Base, Forgotten, Member
from helpers import ORGANISER, mail, write_config
from list_helpers import post

JAN = "jan.jansen@schiedam.nl"
PIET = "piet@utrecht.nl"


def cli(cfg: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(cfg), *args],
                          capture_output=True, text=True, timeout=120, cwd=cfg.parent)


def ok(cfg: Path, *args: str) -> str:
    proc = cli(cfg, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _files_mentioning(root: Path, address: str) -> list[str]:
    return [str(p.relative_to(root)) for p in root.rglob("*") if p.is_file() and mentions(p.read_bytes(), address)]


def _db_mentions(db: Path, address: str) -> list[str]:
    """Every text and blob column of every table, case-insensitively."""
    found = []
    with sqlite3.connect(db) as conn:
        for table in Base.metadata.sorted_tables:
            for column in table.columns:
                if not isinstance(column.type, (String, Text, LargeBinary)):
                    continue
                for (value,) in conn.execute(f'SELECT "{column.name}" FROM "{table.name}"'):  # noqa: S608
                    data = value if isinstance(value, bytes) else str(value or "").encode()
                    if mentions(data, address):
                        found.append(f"{table.name}.{column.name}")
    return found


def _embedded(tmp_path: Path) -> tuple[Path, Path]:
    var = tmp_path / "var"
    cfg = write_config(tmp_path / "config.toml", f"sqlite:///{var}/pioniers.db")
    ok(cfg, "init")
    ok(cfg, "meeting", "add", "2099-03-18", "--start", "14:00", "--end", "17:00", "--location", "Stadhuis",
       "--host", "Gemeente Schiedam")
    return cfg, var


def _drop(var: Path, name: str, raw: bytes) -> None:
    new = var / "inbox" / "new"
    new.mkdir(parents=True, exist_ok=True)
    (new / name).write_bytes(raw)


def test_forget_leaves_the_address_nowhere_under_var_or_in_the_database(tmp_path):
    cfg, var = _embedded(tmp_path)
    csv = tmp_path / "leden.csv"
    csv.write_text(f"email,name\n{JAN},Jan Jansen\n", encoding="utf-8")
    ok(cfg, "members", "import", str(csv))  # Jan is the only member: the organiser's preview carries his copy
    _drop(var, "1.eml", mail(subject="Pioniersnetwerk 18 maart 2099", sender=f"Jan Jansen <{JAN}>"))
    _drop(var, "2.eml", mail(subject="Pioniersnetwerk 18 maart 2099", sender=f"Piet <{PIET}>",
                             body=f"Ik kom met mijn collega {JAN.upper()}.\n"))
    _drop(var, "3.eml", post())
    ok(cfg, "poll", "--once")
    # Something a mail client might send: the address only quoted-printable encoded (soft line break inside).
    raw = (f"From: {PIET}\r\nTo: x@pioniers.test\r\nSubject: doorgestuurd\r\nMIME-Version: 1.0\r\n"
           "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
           f"groeten van {JAN[:6]}=\r\n{JAN[6:]}\r\n").encode()
    attention = var / "inbox" / ".Aandacht" / "cur"
    attention.mkdir(parents=True, exist_ok=True)
    (attention / "4.eml").write_bytes(raw)
    before = _files_mentioning(var, JAN)
    assert any(p.startswith("outbox") for p in before) and any(".Verwerkt" in p for p in before), before
    assert any(p.startswith("pioniers.db") for p in before), before

    out = ok(cfg, "forget", JAN.upper(), "--yes")
    assert f"forgot {JAN}" in out and "files in outbox" in out, out
    assert _files_mentioning(var, JAN) == [], _files_mentioning(var, JAN)
    for variant in (JAN, JAN.upper(), JAN.title()):
        assert variant.lower().encode() not in b"".join(
            p.read_bytes().lower() for p in var.rglob("*") if p.is_file())
    assert _db_mentions(var / "pioniers.db", JAN) == []

    # An old CSV does not bring him back; members add refuses; he is not mailed.
    out = ok(cfg, "members", "import", str(csv))
    assert "0 added" in out and "1 skipped (they asked to be forgotten)" in out, out
    refused = cli(cfg, "members", "add", JAN)
    assert refused.returncode != 0 and "do-not-mail" in (refused.stdout + refused.stderr)
    assert _db_mentions(var / "pioniers.db", JAN) == []


def test_forget_refuses_what_is_not_an_address_and_says_when_nothing_was_found(tmp_path):
    cfg, var = _embedded(tmp_path)
    for bad in ("", "   ", "not-an-email", "jan@", "@schiedam.nl"):
        proc = cli(cfg, "forget", bad)
        assert proc.returncode == 2 and "not an email address" in proc.stderr + proc.stdout, (bad, proc)
        assert len((proc.stderr + proc.stdout).strip().splitlines()) == 1
    proc = cli(cfg, "forget", "niemand@schiedam.nl", "--yes")
    assert proc.returncode == 1 and "no data found for niemand@schiedam.nl" in proc.stdout, proc
    assert "added to the do-not-mail list" in proc.stdout


def test_the_do_not_mail_list_is_keyed_and_old_unkeyed_rows_still_count(world):
    from network.members import import_csv
    from db.registry import is_forgotten
    from network.privacy import forget

    forget(world.app, "kees@schiedam.nl")
    secret = world.app.cfg.secret
    with world.app.sm.begin() as s:
        stored = set(s.scalars(select(Forgotten.address_hash)))
        assert stored == {address_hash(secret, "kees@schiedam.nl")}
        assert legacy_address_hash("kees@schiedam.nl") not in stored  # not reversible by hashing known addresses
        s.add(Forgotten(address_hash=legacy_address_hash("oud@schiedam.nl"), forgotten_at=world.app.now()))
    with world.app.sm.begin() as s:
        assert is_forgotten(s, secret, "OUD@schiedam.nl") and is_forgotten(s, secret, "kees@schiedam.nl")
    path = world.config_path.parent / "l.csv"
    path.write_text("email,name\noud@schiedam.nl,Oud\nkees@schiedam.nl,Kees\nnieuw@schiedam.nl,Nieuw\n")
    assert import_csv(world.app, path) == (1, 0, 0, 2)
    with world.app.sm.begin() as s:
        assert set(s.scalars(select(Member.email))) == {"nieuw@schiedam.nl"}


def test_forget_removes_the_address_from_the_imap_processed_and_attention_folders(world):
    from inbox.erase import forget_mail

    world.meeting()
    world.deliver(mail(sender=f"Jan <{JAN}>"))
    world.deliver(mail(sender=f"Piet <{PIET}>"))
    world.poll()
    cfg = world.app.cfg
    encoded = (f"From: {PIET}\r\nSubject: x\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n"
               f"Content-Transfer-Encoding: base64\r\n\r\n"
               + __import__("base64").encodebytes(f"van {JAN}\n".encode()).decode()).encode()
    world.mailbox.append(encoded, folder=cfg.imap.attention_folder)
    assert any(JAN.encode() in m for m in world.mailbox.messages(cfg.imap.processed_folder))
    counts = forget_mail(cfg, JAN)
    assert counts[f"IMAP {cfg.imap.processed_folder}"] == 1 and counts[f"IMAP {cfg.imap.attention_folder}"] == 1
    for folder in (cfg.imap.processed_folder, cfg.imap.attention_folder, "INBOX"):
        assert not [m for m in world.mailbox.messages(folder) if mentions(m, JAN)], folder
    assert any(PIET.encode() in m for m in world.mailbox.messages(cfg.imap.processed_folder)), "others stay"


def test_purge_removes_old_mail_from_the_maildirs_and_the_imap_processed_folder(world):
    from inbox.erase import purge_mail

    cfg = world.app.cfg
    client = world.mailbox.connect()
    if not client.folder_exists(cfg.imap.processed_folder):
        client.create_folder(cfg.imap.processed_folder)
    old = dt.datetime.now() - dt.timedelta(days=cfg.network.retention_days + 10)
    client.append(cfg.imap.processed_folder, mail(subject="oud"), msg_time=old)
    client.append(cfg.imap.processed_folder, mail(subject="nieuw"))
    client.logout()
    processed = cfg.path(cfg.embedded.inbox) / f".{cfg.imap.processed_folder}" / "cur"
    outbox = cfg.path(cfg.embedded.outbox) / "new"
    for folder in (processed, outbox):
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "old").write_bytes(mail(subject="oud"))
        (folder / "new").write_bytes(mail(subject="nieuw"))
        stamp = time.time() - (cfg.network.retention_days + 10) * 86400
        os.utime(folder / "old", (stamp, stamp))
    counts = purge_mail(cfg, dt.datetime.now(dt.timezone.utc))
    assert counts["files in processed"] == 1 and counts["files in outbox"] == 1
    assert counts[f"IMAP {cfg.imap.processed_folder}"] == 1
    assert sorted(p.name for p in processed.iterdir()) == ["new"] and sorted(p.name for p in outbox.iterdir()) == ["new"]
    assert [b"nieuw" in m for m in world.mailbox.messages(cfg.imap.processed_folder)] == [True]


def test_a_list_subscription_request_from_a_forgotten_address_is_not_stored(world):
    from network.privacy import forget

    forget(world.app, "els@utrecht.nl")
    world.deliver(mail(sender="Els <els@utrecht.nl>", subject="Aanmelden nieuwsbrief", body="Graag!\n"))
    world.poll()
    with world.app.sm.begin() as s:
        assert s.scalar(select(Member).where(Member.email == "els@utrecht.nl")) is None
    assert world.sink.messages == [], "no confirmation request to a forgotten address"
