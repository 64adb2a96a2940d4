"""`pioniers meeting import FILE`: the network's history from CSV or XLSX, on both databases; and progress on stderr
for the commands that send or process many items (pioniers/progress.py)."""
from __future__ import annotations

import datetime as dt
import io

import openpyxl
import pytest
from sqlalchemy import func, select

from db.models import Meeting, MeetingSummary, Member, OutboundMessage, Person, Registration
from network.privacy import forget
from pioniers import cli, cli_list, cli_network, progress

# The world's clock is 1 February 2027; retention_days 90: meetings before 3 November 2026 keep only figures.
HEADER = "Datum;Gastgemeente;Locatie;Thema;Start;Eind;E-mail;Naam;Organisatie"
ROWS = [
    "18-9-2018;Gemeente Utrecht;Stadskantoor Utrecht;Open data;14:00;17:00;an@utrecht.nl;An de Vries;Gemeente Utrecht",
    "18-09-2018;;;;;;bo@zeist.nl;Bo Bakker;Gemeente Zeist",
    "2018-12-13;Gemeente Schiedam;Stadserf 1;Algoritmes;;;bo@zeist.nl;Bo Bakker;Gemeente Zeist",
    "13-12-2018;;;;;;cas@houten.nl;Cas Smit;Gemeente Houten",
    "10-12-2026;Gemeente Gouda;Huis van de Stad;Participatie;13.30;16.30;dirk@gouda.nl;Dirk Ëlberts;Gemeente Gouda",
    "10-12-2026;;;;;;bo@zeist.nl;Bo Bakker;Gemeente Zeist",
    "10-12-2026;;;;;;jan@;Jan;Gemeente Gouda",  # row 8: not an address
    "10-12-2026;;;;;;DIRK@gouda.nl;Dirk;Gemeente Gouda",  # row 9: listed twice
    "10-12-2026;;;;;;weg@delft.nl;Weg;Gemeente Delft",  # row 10: asked to be forgotten
    "10-12-2026;;;;;;cas@houten.nl;Cas Smit;Gemeente Houten",
    "2019-03-14;Gemeente Zwolle;Stadhuis;;;;;;",  # a meeting without attendees
]


def _cli(monkeypatch, world, capsys, *args: str) -> tuple[int, str, str]:
    """The command in-process on the world's app (its clock), stdout and stderr apart."""
    monkeypatch.setattr(cli, "_app", lambda _args: world.app)
    monkeypatch.setattr(cli_network, "_app", lambda _args: world.app)
    code = cli.main(["--config", str(world.config_path), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _counts(world) -> tuple[int, ...]:
    with world.app.sm.begin() as s:
        return tuple(s.scalar(select(func.count()).select_from(model))
                     for model in (Meeting, Person, Registration, MeetingSummary, Member, OutboundMessage))


def _csv(tmp_path, lines, *, bom=True):
    path = tmp_path / "geschiedenis.csv"
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    return path


def test_csv_with_semicolons_bom_and_dutch_headers_imports_once(world, tmp_path, monkeypatch, capsys):
    world.meeting("2026-12-10", location="Gouda, Huis van de Stad", host="Gemeente Gouda", theme="")
    forget(world.app, "weg@delft.nl")
    path = _csv(tmp_path, [HEADER, *ROWS])

    code, out, err = _cli(monkeypatch, world, capsys, "meeting", "import", str(path))
    assert code == 0, err
    assert "meetings: 3 added, 1 already there" in out
    assert "attendees: 7 added, 0 already recorded" in out  # 2 + 2 (2018), 3 (2026); Zwolle has none
    assert "kept location 'Gouda, Huis van de Stad' (the file says 'Huis van de Stad')" in out
    assert "kept start '14:00' (the file says '13:30')" in out
    assert "3 meeting(s) before 2026-11-03 are older than the retention (90 days): only their figures" in out
    assert "rows skipped: 3" in out
    assert "row 8: 'jan@' is not an e-mail address" in out
    assert "row 9: listed before for 2026-12-10 (row 6)" in out
    assert "row 10: this person asked to be forgotten" in out and "weg@delft.nl" not in out
    assert "nobody was mailed" in out
    assert err == ""  # a few rows: no progress

    with world.app.sm.begin() as s:
        meetings = {m.date: m for m in s.scalars(select(Meeting))}
        assert set(meetings) == {dt.date(2018, 9, 18), dt.date(2018, 12, 13), dt.date(2019, 3, 14),
                                 dt.date(2026, 12, 10)}
        utrecht = meetings[dt.date(2018, 9, 18)]
        assert (utrecht.host, utrecht.location, utrecht.theme, utrecht.start, utrecht.end) == (
            "Gemeente Utrecht", "Stadskantoor Utrecht", "Open data", "14:00", "17:00")
        assert utrecht.status == "scheduled"  # as every meeting that took place is stored
        schiedam = meetings[dt.date(2018, 12, 13)]
        assert (schiedam.start, schiedam.end) == ("14:00", "17:00")  # the usual afternoon when the file is silent
        gouda = meetings[dt.date(2026, 12, 10)]
        assert gouda.location == "Gouda, Huis van de Stad"  # merged: the non-empty field is kept ...
        assert gouda.theme == "Participatie"  # ... an empty one filled
        # Older than the retention: figures only, no person and no registration.
        summaries = {m.date: sm for m, sm in s.execute(
            select(Meeting, MeetingSummary).join(MeetingSummary, MeetingSummary.meeting_id == Meeting.id))}
        assert set(summaries) == {dt.date(2018, 9, 18), dt.date(2018, 12, 13), dt.date(2019, 3, 14)}
        assert (summaries[dt.date(2018, 9, 18)].registrations, summaries[dt.date(2018, 9, 18)].attended) == (2, 2)
        assert summaries[dt.date(2019, 3, 14)].attended == 0
        assert s.scalar(select(Person).where(Person.email == "an@utrecht.nl")) is None
        assert s.scalar(select(func.count(Registration.id)).where(
            Registration.meeting_id.in_([m.id for d, m in meetings.items() if d.year < 2020]))) == 0
        # Within the retention: confirmed registrations, attended at the meeting's start (its own 14.00, not the
        # file's 13.30: 13.00 UTC).
        regs = {r.person.email: r for r in s.scalars(select(Registration).where(Registration.meeting_id == gouda.id))}
        assert set(regs) == {"dirk@gouda.nl", "bo@zeist.nl", "cas@houten.nl"}
        assert {r.status for r in regs.values()} == {"confirmed"}
        assert {r.attended_at for r in regs.values()} == {dt.datetime(2026, 12, 10, 13, 0, tzinfo=dt.timezone.utc)}
        assert regs["dirk@gouda.nl"].person.name == "Dirk Ëlberts"  # the BOM and the ë read right
        assert s.scalar(select(func.count(Member.id))) == 0  # nobody subscribed
        assert s.scalar(select(func.count(OutboundMessage.id))) == 0  # nobody mailed
    assert world.sink.messages == []

    before = _counts(world)
    code, out, err = _cli(monkeypatch, world, capsys, "meeting", "import", str(path))
    assert code == 0, err
    assert "meetings: 0 added, 4 already there" in out and "attendees: 0 added, 7 already recorded" in out
    assert _counts(world) == before


def test_hosts_and_stats_read_the_imported_history(world, tmp_path, monkeypatch, capsys):
    forget(world.app, "weg@delft.nl")
    assert _cli(monkeypatch, world, capsys, "meeting", "import", str(_csv(tmp_path, [HEADER, *ROWS])))[0] == 0

    code, out, _ = _cli(monkeypatch, world, capsys, "hosts")
    assert code == 0
    past, suggested = out.split("planned:")[0], out.split("suggested next hosts")[1]
    for line in ("2018-09-18  Gemeente Utrecht", "2018-12-13  Gemeente Schiedam", "2019-03-14  Gemeente Zwolle",
                 "2026-12-10  Gemeente Gouda"):
        assert line in past
    # Zeist came three times (twice as figures only), Houten twice: both never hosted.
    assert "Gemeente Zeist" in suggested and "took part in 3 meeting(s), last on 2026-12-10" in suggested
    assert "Gemeente Houten" in suggested and "took part in 2 meeting(s)" in suggested
    assert "Gemeente Utrecht" not in suggested

    code, out, _ = _cli(monkeypatch, world, capsys, "stats")
    assert code == 0
    rows = {line[:10]: line.split() for line in out.splitlines() if line[:4] in ("2018", "2019", "2026")}
    assert rows["2018-09-18"][-8:-6] == ["2", "2"]  # registered, attended (from the summary)
    assert rows["2026-12-10"][-8:-6] == ["3", "3"]  # from the registrations
    assert rows["2019-03-14"][-8:-6] == ["0", "0"]
    # the file says who came: counted as attendance, in the summary as in the registrations
    assert rows["2018-09-18"][-2] == rows["2026-12-10"][-2] == "came"
    assert rows["2018-09-18"][-1] == "2"  # municipalities: Utrecht, Zeist
    quarters = out.split("per quarter:")[1]
    assert "2018 Q3" in quarters.splitlines()[2] and "2026 Q4" in quarters


def test_xlsx_with_real_dates_and_times(world, tmp_path, monkeypatch, capsys):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Date", "Host", "Location", "Theme", "Start", "End", "Email", "Name", "Organisation", "Rol"])
    sheet.append([dt.datetime(2025, 6, 12), "Gemeente Zwolle", "Stadhuis", "AI", dt.time(13, 30), dt.time(17, 0),
                  "a@zwolle.nl", "Anna", "Gemeente Zwolle"])
    sheet.append([dt.datetime(2025, 6, 12), "Zwolle", None, None, None, None, None, None, None])
    sheet.append([dt.date(2026, 12, 3), "Gemeente Delft", "Stadskantoor", "", dt.time(14, 0), None,
                  "b@delft.nl", "Bram", "Gemeente Delft"])
    sheet.append([dt.date(2026, 12, 3), None, None, None, None, None, "c@leiden.nl", "Cleo", "Gemeente Leiden"])
    path = tmp_path / "historie.xlsx"
    book.save(path)

    code, out, err = _cli(monkeypatch, world, capsys, "meeting", "import", str(path))
    assert code == 0, err
    assert "meetings: 2 added" in out and "attendees: 3 added" in out
    assert "row 3: host 'Zwolle' for 2025-06-12 differs from row 2; kept 'Gemeente Zwolle'" in out
    assert "columns not read: Rol" in out
    with world.app.sm.begin() as s:
        zwolle = s.scalar(select(Meeting).where(Meeting.date == dt.date(2025, 6, 12)))
        delft = s.scalar(select(Meeting).where(Meeting.date == dt.date(2026, 12, 3)))
        assert (zwolle.start, zwolle.end, zwolle.theme) == ("13:30", "17:00", "AI")
        assert (delft.start, delft.end) == ("14:00", "17:00")  # no end: three hours
        assert s.scalar(select(func.count(Registration.id)).where(Registration.meeting_id == delft.id)) == 2
        assert s.get(MeetingSummary, zwolle.id).organisations == '{"Gemeente Zwolle": 1}'


@pytest.mark.parametrize("lines, said", [
    ([HEADER, *ROWS[:5], "31-02-2019;;;;;;x@y.nl;X;Y", *ROWS[5:]], "row 7: '31-02-2019' is not a date"),
    ([HEADER, *ROWS[:5], "10-12-2026;;;;25:00;;x@y.nl;X;Y"], "row 7: '25:00' is not a time"),
    ([HEADER, *ROWS[:5], "10-12-2026;;;;17:00;14.00;x@y.nl;X;Y"], "row 7: the end 14:00 is not after the start 17:00"),
    ([HEADER, *ROWS[:5], "18-03-2027;;;;;;x@y.nl;X;Y"], "row 7: 2027-03-18 has not taken place yet"),
    ([HEADER, *ROWS[:5], ";;;;;;x@y.nl;X;Y"], "row 7: no date"),
    (["Gastgemeente;Naam", "Gemeente Gouda;Piet"], "no date column in the first row (found: Gastgemeente, Naam)"),
])
def test_a_bad_row_is_one_line_and_imports_nothing(world, tmp_path, monkeypatch, capsys, lines, said):
    before = _counts(world)
    code, out, err = _cli(monkeypatch, world, capsys, "meeting", "import", str(_csv(tmp_path, lines, bom=False)))
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and said in err and "Traceback" not in err
    assert _counts(world) == before


def test_a_missing_file_is_one_line(world, tmp_path, monkeypatch, capsys):
    code, _, err = _cli(monkeypatch, world, capsys, "meeting", "import", str(tmp_path / "nee.csv"))
    assert code == 2 and err.strip() == f"pioniers: cannot read {tmp_path / 'nee.csv'}: no such file"


def test_comma_csv_from_windows_excel(world, tmp_path, monkeypatch, capsys):
    path = tmp_path / "oud.csv"
    path.write_bytes("date,host,location,e-mail,name,organisation\r\n"
                     "2026-11-26,Gemeente Ede,Raadhuis,e@ede.nl,Eva Müller,Gemeente Ede\r\n".encode("cp1252"))
    code, out, err = _cli(monkeypatch, world, capsys, "meeting", "import", str(path))
    assert code == 0, err
    with world.app.sm.begin() as s:
        assert s.scalar(select(Person.name).where(Person.email == "e@ede.nl")) == "Eva Müller"


# --- progress ------------------------------------------------------------------------------------


def _attendees(world, day: dt.date, n: int) -> None:
    now = world.app.now()
    with world.app.sm.begin() as s:
        meeting = s.scalar(select(Meeting).where(Meeting.date == day))
        for i in range(n):
            person = Person(email=f"p{i}@gemeente{i % 40}.nl", name=f"P {i}", organisation="Gemeente X",
                            created_at=now)
            s.add(Registration(meeting_id=meeting.id, person=person, status="confirmed", registered_at=now,
                               updated_at=now))


def test_meeting_update_shows_progress_at_a_terminal(world, monkeypatch, capsys):
    world.meeting("2027-03-18")
    _attendees(world, dt.date(2027, 3, 18), 250)
    monkeypatch.setattr(progress, "is_terminal", lambda: True)
    code, out, err = _cli(monkeypatch, world, capsys, "meeting", "update", "2027-03-18", "--start", "13:30", "--yes")
    assert code == 0, err
    assert "250 message(s) queued; sent 250, retry later 0, failed 0" in out
    assert "\r" not in out  # stdout is the result, for scripts
    preparing, sending = err.rstrip("\n").split("\n")  # one line each, redrawn in place
    assert preparing.startswith("\rpreparing updates [") and sending.startswith("\rsending updates [")
    assert preparing.rsplit("\r", 1)[1].startswith("preparing updates [" + "#" * progress.WIDTH + "] 250/250")
    final = sending.rsplit("\r", 1)[1]
    assert final.startswith("sending updates [" + "#" * progress.WIDTH + "] 250/250 (sent 250, failed 0)")
    assert sending.count("\r") >= 2 and "] 1/250 (sent 1, failed 0)" in sending  # it moved along the way
    assert len(world.sink.messages) == 250


def test_members_import_shows_progress_at_a_terminal(world, tmp_path, monkeypatch, capsys):
    path = tmp_path / "leden.csv"
    path.write_text("email,name\n" + "".join(f"lid{i}@gemeente.nl,Lid {i}\n" for i in range(2500)))
    monkeypatch.setattr(progress, "is_terminal", lambda: True)
    monkeypatch.setattr(cli_list, "_app", lambda _args: world.app)
    code, out, err = _cli(monkeypatch, world, capsys, "members", "import", str(path))
    assert code == 0 and out.startswith("2500 added")
    draws = [d.removesuffix("\x1b[K").split("] ")[1] for d in err.rstrip("\n").split("\r") if d]
    assert draws[0] == "1000/2500" and draws[-1] == "2500/2500"  # from the first chunk on, to the last count
    assert set(draws) <= {"1000/2500", "2000/2500", "2500/2500"}  # redrawn at most five times a second


def test_no_progress_without_a_terminal_for_a_quick_send(world, monkeypatch, capsys):
    world.meeting("2027-03-18")
    _attendees(world, dt.date(2027, 3, 18), 250)
    monkeypatch.setattr(progress, "is_terminal", lambda: False)
    code, out, err = _cli(monkeypatch, world, capsys, "meeting", "cancel", "2027-03-18", "--reason", "ziek", "--yes")
    assert code == 0 and "sent 250" in out
    assert err == ""  # a log gets a line only every QUIET_EVERY seconds of a long send


def test_progress_without_a_terminal_is_a_line_every_few_seconds():
    now = [0.0]
    out = io.StringIO()
    with progress.Progress("sending", 1000, terminal=False, clock=lambda: now[0], stream=out) as bar:
        for done in range(1, 1001):
            now[0] += 0.036  # a slow relay: 36 s for 1,000
            bar.update(done, f"sent {done}")
    lines = out.getvalue().splitlines()
    assert len(lines) == 4  # after 10, 20 and 30 s, and the last count
    assert lines[0].startswith("sending: 278/1000 (sent 278), 10 s")
    assert lines[-1] == "sending: 1000/1000 (sent 1000), 36 s"
    short = io.StringIO()
    with progress.Progress("sending", 150, terminal=True, clock=lambda: 0.0, stream=short) as bar:
        bar.update(150)
    assert short.getvalue() == ""  # a few at a terminal, quickly: nothing


def test_a_theme_poll_to_the_list_shows_the_announce_bar_at_a_terminal(world, tmp_path, monkeypatch, capsys):
    from network.members import import_csv

    world.meeting("2027-03-18")
    path = tmp_path / "leden.csv"
    path.write_text("email,name\n" + "".join(f"lid{i}@gemeente.nl,Lid {i}\n" for i in range(220)))
    import_csv(world.app, path)
    monkeypatch.setattr(progress, "is_terminal", lambda: True)
    code, out, err = _cli(monkeypatch, world, capsys, "themes", "open", "2027-03-18", "--option", "Open data",
                          "--option", "Algoritmes", "--yes")
    assert code == 0, err
    assert err.startswith("\rsending to the list [") and err.endswith("\n") and err.count("\n") == 1
    final = err.rstrip("\n").rsplit("\r", 1)[1]
    assert final.startswith("sending to the list [" + "#" * progress.WIDTH + "] 220/220 (sent 220, failed 0)")
    assert len(world.sink.messages) == 220
