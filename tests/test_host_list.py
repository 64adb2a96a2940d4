"""The host's list, needs as personal data, check-in and attendance, on real servers and both databases.

The host contact gets the attendee list (XLSX, with the needs people wrote) exactly host_list_days before the
meeting, once, also after a restart; an updated list the day before when it changed; `pioniers hostlist` sends
it at once. Needs are never in a mail's text, nor on the participant list, and go with the purge.
"""
from __future__ import annotations

import datetime as dt
import io
from pathlib import Path

import openpyxl
from sqlalchemy import select

from base.config import load_config
from db.app import App
from db.models import Meeting, OutboundMessage, Registration
from helpers import ORGANISER, authenticated, mail
from list_helpers import html_part, received, text_part
from network import checkin as checkin_ops
from network import stats
from network.privacy import forget, purge_expired
from pioniers import cli, cli_host
from pioniers.service import poll_once

DAY = dt.date(2027, 3, 18)
HOST = "gastheer@schiedam.nl"
NEEDS = ("vegetarisch", "rolstoel")
PEOPLE = [  # (sender, body): the first three get a place, the fourth waits
    ("Anna de Vries <anna@utrecht.nl>", "Graag meld ik me aan. Ik ben vegetarisch.\n"),
    ("Bert Bakker <bert@schiedam.nl>", "Graag aanmelden. Ik kom met mijn rolstoel.\n"),
    ("Carla Smit <carla@zwolle.nl>", "Graag meld ik me aan.\n"),
    ("Dirk Jansen <dirk@delft.nl>", "Graag meld ik me aan.\n"),
]
SHARING = PEOPLE[:3]  # then say "ja, deel mijn gegevens": on the participant list


def _cli(world, monkeypatch, *argv: str) -> int:
    for module in (cli, cli_host):
        monkeypatch.setattr(module, "_app", lambda args: world.app)
    return cli.main(["--config", str(world.config_path), *argv])


def _at(world, local: str) -> None:
    """The clock at a local time in Amsterdam (CET in March 2027: UTC+1)."""
    world.clock.now = dt.datetime.fromisoformat(local).replace(tzinfo=dt.timezone(dt.timedelta(hours=1)))


def _host_lists(world, since: int = 0) -> list:
    return [m for rcpt, m, _ in received(world, since) if rcpt == HOST]


def _sheet(msg) -> openpyxl.worksheet.worksheet.Worksheet:
    (xlsx,) = [p for p in msg.iter_attachments() if p.get_filename() == "deelnemers-2027-03-18.xlsx"]
    assert xlsx.get_content_type() == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    return openpyxl.load_workbook(io.BytesIO(xlsx.get_content())).active


def _setup(world, monkeypatch, capsys) -> None:
    assert _cli(world, monkeypatch, "meeting", "add", DAY.isoformat(), "--start", "14:00", "--end", "17:00",
                "--location", "Stadskantoor, Stadserf 1, Schiedam", "--host", "Gemeente Schiedam",
                "--capacity", "3", "--host-contact", "Gastheer@Schiedam.nl") == 0
    assert "attendee list to gastheer@schiedam.nl" in capsys.readouterr().out
    world.meeting("2027-03-17", host="Gemeente Gouda")  # no host contact: no list, ever
    for sender, body in PEOPLE:
        world.deliver(mail(sender=sender, body=body, headers=authenticated(sender.rpartition("<")[2].rstrip(">"))))
    world.deliver(mail(subject="Pioniersnetwerk 17 maart 2027", sender="Eva <eva@gouda.nl>",
                       body="Graag aanmelden. Ik ben vegetarisch.\n"))
    world.poll()
    for sender, _ in SHARING:
        world.deliver(mail(sender=sender, body="Ja, deel mijn gegevens.\n",
                           headers=authenticated(sender.rpartition("<")[2].rstrip(">"))))
    world.poll()
    with world.app.sm.begin() as s:
        notes = {r.person.email: r.note for r in s.scalars(select(Registration))}
    assert "vegetarisch" in notes["anna@utrecht.nl"] and "rolstoel" in notes["bert@schiedam.nl"]


def test_the_host_gets_the_list_exactly_host_list_days_before_once(world, monkeypatch, capsys):
    _setup(world, monkeypatch, capsys)
    _at(world, "2027-03-14T23:59")  # four days before: not yet
    world.poll()
    assert not _host_lists(world)
    with world.app.sm.begin() as s:
        assert s.scalar(select(Meeting.host_list_sent_at).where(Meeting.date == DAY)) is None
    _at(world, "2027-03-15T00:00")  # three days before
    world.poll()
    world.poll()
    restarted = App.from_config(load_config(world.config_path), world.clock)  # a restart: a new process
    poll_once(restarted)
    restarted.sm.kw["bind"].dispose()
    (letter,) = _host_lists(world)
    assert letter["Subject"] == "Deelnemerslijst Pioniersnetwerk 18 maart 2027"
    assert str(letter["Reply-To"]) == ORGANISER  # a question from the host reaches a person
    text, html = text_part(letter), html_part(letter)
    assert text.startswith("Beste gastheer,") and "Fijn dat de gemeente Schiedam de bijeenkomst" in text
    assert "14.00" in text and "Stadskantoor, Stadserf 1, Schiedam" in text
    assert "Aangemeld: 3 deelnemers en 1 op de wachtlijst." in text
    assert "persoonsgegevens" in text and "verwijder hem na afloop" in text
    for need in NEEDS:  # the needs travel only in the attachment
        assert need not in text.lower() and need not in html.lower()
    ws = _sheet(letter)
    header = [c.value for c in ws[1]]
    assert header == ["Naam", "Organisatie", "Rol", "Status", "Wensen (dieet, toegankelijkheid)"]
    assert all(c.font.bold for c in ws[1]) and ws.freeze_panes == "A2"
    rows = [[c.value or "" for c in row] for row in ws.iter_rows(min_row=2)]
    assert [r[0] for r in rows] == ["Anna de Vries", "Bert Bakker", "Carla Smit", "Dirk Jansen"]
    assert [r[3] for r in rows] == ["aangemeld", "aangemeld", "aangemeld", "wachtlijst"]
    assert "vegetarisch" in rows[0][4] and "rolstoel" in rows[1][4] and rows[2][4] == ""
    assert not any("@" in str(v) for r in rows for v in r)  # the host gets no addresses
    with world.app.sm.begin() as s:
        sent_at = s.scalar(select(Meeting.host_list_sent_at).where(Meeting.date == DAY))
        assert sent_at is not None
        kinds = {m.recipient for m in s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "host_list"))}
    assert kinds == {HOST}  # the meeting without a host contact: nothing

    # A place comes free after the list went out: nothing at once, one updated list the day before.
    world.deliver(mail(sender="Carla Smit <carla@zwolle.nl>", subject="Afmelden Pioniersnetwerk 18 maart 2027",
                       body="Ik kan helaas niet, graag afmelden.\n", headers=authenticated("carla@zwolle.nl")))
    _at(world, "2027-03-16T09:00")
    world.poll()
    assert len(_host_lists(world)) == 1
    _at(world, "2027-03-17T07:00")
    world.poll()
    world.poll()
    first, update = _host_lists(world)
    assert update["Subject"] == "Deelnemerslijst Pioniersnetwerk 18 maart 2027 (bijgewerkt)"
    assert "bijgewerkte deelnemerslijst" in text_part(update)
    assert "Aangemeld: 3 deelnemers." in text_part(update)
    names = [row[0].value for row in _sheet(update).iter_rows(min_row=2)]
    assert "Carla Smit" not in names and "Dirk Jansen" in names

    # `pioniers hostlist`: the current list now; without --yes from a script it refuses in one line.
    assert _cli(world, monkeypatch, "hostlist", DAY.isoformat()) == 2
    assert "--yes" in capsys.readouterr().err
    assert _cli(world, monkeypatch, "hostlist", DAY.isoformat(), "--yes") == 0
    assert "queued for gastheer@schiedam.nl" in capsys.readouterr().out
    assert len(_host_lists(world)) == 3
    assert _cli(world, monkeypatch, "hostlist", "2027-03-17", "--yes") == 2
    assert "no host contact" in capsys.readouterr().err


def test_needs_never_reach_members_and_go_with_the_purge(world, monkeypatch, capsys):
    _setup(world, monkeypatch, capsys)
    _at(world, "2027-03-15T08:00")  # participant lists and the host's list
    world.poll()
    participant_lists = [m for r, m, _ in received(world) if str(m["Subject"]).startswith("Wie komen er")]
    assert len(participant_lists) == 3  # Anna, Bert, Carla consented
    assert "Bert Bakker" in text_part(participant_lists[0]) + text_part(participant_lists[1])
    for rcpt, msg, _ in received(world):
        if rcpt == HOST:
            continue
        for part in msg.walk():  # every mail to a person who registered: text, HTML and attachments
            if part.is_multipart():
                continue
            body = part.get_content()
            body = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
            for need in NEEDS:
                assert need not in body.lower(), f"{need!r} in a mail to {rcpt}"
    assert len(_host_lists(world)) == 1

    # forget: the host's list naming them goes (its attachment is not searchable for an address).
    forget(world.app, "dirk@delft.nl")
    with world.app.sm.begin() as s:
        assert not s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "host_list")).all()

    # Retention: registrations (with their notes) and any host's list, even one sent late, go together.
    _at(world, "2027-03-25T08:00")  # sent again after the meeting: younger than the registrations' retention
    assert _cli(world, monkeypatch, "hostlist", DAY.isoformat(), "--yes") == 0
    world.clock.now = dt.datetime(2027, 6, 17, 8, 0, tzinfo=dt.timezone.utc)  # 91 days after
    report = purge_expired(world.app)
    assert report.registrations == 3 + 1  # 18 March: Anna, Bert, Carla; 17 March: Eva
    with world.app.sm.begin() as s:
        assert not s.scalars(select(Registration.note)).all()
        assert not s.scalars(select(OutboundMessage).where(OutboundMessage.kind == "host_list")).all()
        assert all(need.encode() not in raw for raw in s.scalars(select(OutboundMessage.raw)) for need in NEEDS)


def test_checkin_by_address_and_by_file_the_sheet_and_attendance_in_stats(world, monkeypatch, capsys, tmp_path):
    _setup(world, monkeypatch, capsys)
    # The sign-in sheet: the confirmed by name, a signature column, set up for paper.
    sheet = tmp_path / "presentielijst.xlsx"
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--sheet", str(sheet)) == 0
    assert "3 confirmed" in capsys.readouterr().out
    ws = openpyxl.load_workbook(sheet).active
    assert [c.value for c in ws[1]] == ["Naam", "Organisatie", "Handtekening", "Aanwezig", "E-mailadres"]
    assert all(c.font.bold for c in ws[1]) and ws.freeze_panes == "A2"
    assert [ws.cell(row=r, column=1).value for r in (2, 3, 4)] == ["Anna de Vries", "Bert Bakker", "Carla Smit"]
    assert ws.cell(row=2, column=3).value in (None, "")  # room to sign
    assert ws.page_setup.orientation == "landscape" and ws.page_setup.fitToWidth == 1
    assert ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.print_title_rows == "$1:$1" and ws.print_options.gridLines
    assert ws.column_dimensions["E"].hidden and "$E" not in str(ws.print_area)  # addresses never on paper
    assert "Pioniersnetwerk 18 maart 2027, de gemeente Schiedam" in ws.oddHeader.center.text
    assert "vegetarisch" not in " ".join(str(c.value) for row in ws.iter_rows() for c in row)

    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--from", str(sheet)) == 2  # nobody ticked yet
    assert "Aanwezig" in capsys.readouterr().err
    # By address: one unknown address is reported, the others recorded.
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "Anna@Utrecht.nl", "niemand@example.org") == 0
    out = capsys.readouterr().out
    assert "1 recorded as came: anna@utrecht.nl" in out and "not registered for 2027-03-18" in out
    assert "niemand@example.org" in out
    # By file: the filled sign-in sheet, ticked under "Aanwezig" (Bert and Carla; a walk-in row without address).
    ws.cell(row=3, column=4).value = "x"
    ws.cell(row=4, column=4).value = "x"
    ws.cell(row=5, column=1).value, ws.cell(row=5, column=4).value = "Iemand Zonder Adres", "x"
    filled = tmp_path / "ingevuld.xlsx"
    ws.parent.save(filled)
    assert checkin_ops.read_addresses(filled) == ["bert@schiedam.nl", "carla@zwolle.nl"]
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--from", str(filled)) == 0
    assert "2 recorded as came" in capsys.readouterr().out
    # A text file with one address a line, and --undo.
    listed = tmp_path / "gekomen.txt"
    listed.write_text("# wie er waren\ncarla@zwolle.nl\n\ndirk@delft.nl\n", encoding="utf-8")
    assert checkin_ops.read_addresses(listed) == ["carla@zwolle.nl", "dirk@delft.nl"]
    csv_file = tmp_path / "gekomen.csv"
    csv_file.write_text("\ufeffNaam;E-mailadres\nBert;bert@schiedam.nl\n", encoding="utf-8")
    assert checkin_ops.read_addresses(csv_file) == ["bert@schiedam.nl"]
    report = checkin_ops.check_in(world.app, DAY, checkin_ops.read_addresses(listed))
    assert report.already == ["carla@zwolle.nl"] and report.recorded == ["dirk@delft.nl"]
    assert report.not_confirmed == ["dirk@delft.nl (waitlisted)"]  # he came all the same
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--undo", "carla@zwolle.nl") == 0
    assert "1 recorded as not come" in capsys.readouterr().out
    assert _cli(world, monkeypatch, "checkin", DAY.isoformat(), "--from", str(tmp_path / "nope.xlsx")) == 2
    err = capsys.readouterr().err
    assert err.startswith("pioniers: cannot read") and len(err.splitlines()) == 1

    # Attendance: Anna, Bert, Dirk came (Carla did not); the other meeting counts its confirmed.
    assert _cli(world, monkeypatch, "meeting", "list") == 0
    listing = capsys.readouterr().out.splitlines()
    assert listing[0].split()[6] == "came"
    assert listing[2].split()[6] == "3"  # 2027-03-18 (after 2027-03-17)
    assert listing[1].split()[6] == "-"
    world.clock.now = dt.datetime(2027, 3, 20, 9, 0, tzinfo=dt.timezone.utc)
    figs = {f.date: f for f in stats.report(world.app)[0]}
    assert (figs[DAY].attended, figs[DAY].checked_in) == (3, True)
    assert figs[DAY].organisations == {"Gemeente Utrecht": 1, "Gemeente Schiedam": 1, "Gemeente Delft": 1}
    assert (figs[dt.date(2027, 3, 17)].attended, figs[dt.date(2027, 3, 17)].checked_in) == (1, False)
    assert _cli(world, monkeypatch, "stats") == 0
    out = capsys.readouterr().out
    line = next(x for x in out.splitlines() if x.startswith("2027-03-18"))
    assert line.split()[4] == "3" and "came" in line.split()
    # The purge keeps the figures as they were counted, and says how.
    world.clock.now = dt.datetime(2027, 6, 20, 9, 0, tzinfo=dt.timezone.utc)
    purge_expired(world.app)
    figs = {f.date: f for f in stats.report(world.app)[0]}
    assert figs[DAY].archived and (figs[DAY].attended, figs[DAY].checked_in) == (3, True)
    assert "(checked in)" not in figs[DAY].roles
    assert not figs[dt.date(2027, 3, 17)].checked_in


def test_host_contact_is_checked_and_a_change_mails_nobody(world, monkeypatch, capsys):
    world.meeting("2027-03-18")
    world.deliver(mail(sender="Anna <anna@utrecht.nl>"))
    world.poll()
    before = len(world.sink.messages)
    assert _cli(world, monkeypatch, "meeting", "update", DAY.isoformat(), "--host-contact", "geen adres") == 2
    err = capsys.readouterr().err
    assert err == "pioniers: --host-contact 'geen adres' is not an email address\n"
    assert _cli(world, monkeypatch, "meeting", "add", "2027-04-01", "--start", "14:00", "--end", "17:00",
                "--location", "Stadhuis", "--host", "Gemeente Gouda", "--host-contact", "x@") == 2
    capsys.readouterr()
    # No --yes needed: a new host contact mails no attendee.
    assert _cli(world, monkeypatch, "meeting", "update", DAY.isoformat(), "--host-contact", HOST) == 0
    assert "host contact - -> gastheer@schiedam.nl" in capsys.readouterr().out
    world.poll()
    assert len(world.sink.messages) == before
    with world.app.sm.begin() as s:
        assert s.scalar(select(Meeting.host_contact).where(Meeting.date == DAY)) == HOST
    # Within host_list_days the list goes at the next round.
    _at(world, "2027-03-16T10:00")
    world.poll()
    assert len(_host_lists(world, before)) == 1


def test_host_list_days_zero_sends_nothing(tmp_path, db_url, mailbox, smtp_sink):
    from helpers import World

    w = World.create(tmp_path, db_url, mailbox, smtp_sink)
    try:
        text = Path(w.config_path).read_text().replace('language = "nl"\n', 'language = "nl"\nhost_list_days = 0\n')
        Path(w.config_path).write_text(text)
        app = App.from_config(load_config(w.config_path), w.clock)
        from network.hostlist import queue_host_lists
        from network.meetings import update_meeting

        w.meeting("2027-03-18")
        update_meeting(app, DAY, host_contact=HOST)
        w.clock.now = dt.datetime(2027, 3, 17, 9, 0, tzinfo=dt.timezone.utc)
        assert queue_host_lists(app) == 0
        app.sm.kw["bind"].dispose()
        bad = Path(w.config_path).read_text().replace("host_list_days = 0", "host_list_days = -1")
        Path(w.config_path).write_text(bad)
        try:
            load_config(w.config_path)
        except Exception as exc:  # noqa: BLE001
            assert "host_list_days" in str(exc)
        else:
            raise AssertionError("a negative host_list_days was accepted")
    finally:
        w.close()
