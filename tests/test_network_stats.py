"""`hosts` and `stats` (and the PNG) on four years of quarterly meetings with 40 municipalities."""
from __future__ import annotations

import datetime as dt
import struct
import subprocess
import sys

from sqlalchemy import func, select

from db.models import MeetingSummary, Registration
from network import stats as network_stats
from network.privacy import purge_expired
from network_data import MUNICIPALITIES, populate

PLANNED = dt.date(2027, 3, 18)  # after the world's clock (1 February 2027)


def _populate(world, planned=(PLANNED,)):
    with world.app.sm.begin() as s:
        return populate(s, world.app.now(), planned=list(planned))


def _figures_as_dicts(figs):
    return [{"date": f.date, "host": f.host, "registrations": f.registrations, "attended": f.attended,
             "roles": {k: v for k, v in f.roles.items() if v}, "municipalities": len(f.municipalities)}
            for f in figs if f.held]


def test_stats_hosts_and_growth_survive_the_purge(world):
    expected = _populate(world)
    figs, quarters = network_stats.report(world.app)
    assert _figures_as_dicts(figs) == expected.meetings
    assert [f.date for f in figs if not f.held] == [PLANNED]
    assert len(figs) == 17  # the cancelled meeting counts nowhere
    # Growth: first-seen municipalities per quarter, every quarter from the first meeting to the last held one.
    assert quarters[0].label() == "2019 Q1" and quarters[-1].label() == "2022 Q4" and len(quarters) == 16
    assert {(q.year, q.quarter): set(q.new) for q in quarters if q.new} == expected.joined
    assert quarters[-1].total == len(MUNICIPALITIES) == 40
    assert all(a.total <= b.total for a, b in zip(quarters, quarters[1:]))
    assert len(quarters[0].new) == 8  # the founders

    report = network_stats.hosts_report(world.app)
    assert [f.host for f in report.held][:3] == ["Gemeente Utrecht", "Gemeente Schiedam", "Gemeente Zwolle"]
    assert [(f.date, f.host) for f in report.planned] == [(PLANNED, "Gemeente Zwolle")]
    names = [s.name for s in report.suggestions]
    assert names[:2] == ["Gemeente Zeist", "Gemeente Houten"]  # at nearly every meeting, never hosted
    assert report.suggestions[0].meetings == expected.participation["Gemeente Zeist"] == 16
    hosted = {f.host for f in figs}
    assert not hosted & set(names)
    text = network_stats.format_hosts(report)
    assert "Gemeente Zeist" in text.split("suggested next hosts")[1] and "2027-03-18" in text

    # The purge removes registrations 90 days after each meeting; the figures stay.
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Registration.id))) > 500
    purge_expired(world.app)
    with world.app.sm.begin() as s:
        assert s.scalar(select(func.count(Registration.id))) == 0
        assert s.scalar(select(func.count(MeetingSummary.meeting_id))) == 16 + 1  # and the cancelled one
    figs_after, quarters_after = network_stats.report(world.app)
    assert _figures_as_dicts(figs_after) == expected.meetings
    assert [(q.label(), len(q.new), q.total) for q in quarters_after] == [(q.label(), len(q.new), q.total)
                                                                          for q in quarters]
    assert [s.name for s in network_stats.hosts_report(world.app).suggestions] == names


def test_growth_chart_is_a_png(world, tmp_path):
    _populate(world)
    _, quarters = network_stats.report(world.app)
    path = tmp_path / "groei.png"
    network_stats.growth_png(quarters, path, "nl", "Pioniersnetwerk Open Overheid")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (1200, 600)
    assert 15_000 < len(data) < 2_000_000
    assert data.rstrip()[-8:-4] == b"IEND"


def test_hosts_and_stats_commands(world, tmp_path):
    """The real command line (its own clock: the data lie between 2019 and 2022, and in 2099)."""
    _populate(world, planned=(dt.date(2099, 3, 19),))
    run = [sys.executable, "-m", "pioniers.cli", "--config", str(world.config_path)]
    hosts = subprocess.run([*run, "hosts"], capture_output=True, text=True, timeout=120)
    assert hosts.returncode == 0, hosts.stderr
    suggestions = hosts.stdout.split("suggested next hosts")[1]
    assert suggestions.splitlines()[1].split()[:2] == ["Gemeente", "Zeist"]
    assert "2099-03-19  Gemeente Zwolle" in hosts.stdout.split("planned:")[1]
    png = tmp_path / "groei.png"
    stats = subprocess.run([*run, "stats", "--png", str(png)], capture_output=True, text=True, timeout=120)
    assert stats.returncode == 0, stats.stderr
    lines = stats.stdout.splitlines()
    assert lines[0].split()[:5] == ["meeting", "host", "registered", "attended", "pioneer"]
    first = next(line for line in lines if line.startswith("2019-03-21"))
    assert first.split()[-1] == "8"  # the founders
    assert "2099-03-19*" in stats.stdout and "* planned" in stats.stdout
    growth = lines[lines.index("municipalities joining the network, per quarter:") + 2:]
    assert growth[0].split() == ["2019", "Q1", "8", "8"] and growth[-2].split()[-1] == "40"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    bad = subprocess.run([*run, "stats", "--png", str(tmp_path / "nope" / "x.png")], capture_output=True, text=True,
                         timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("pioniers: cannot write") and len(bad.stderr.splitlines()) == 1
