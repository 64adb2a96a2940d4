"""The list's commands as organisers run them (real subprocesses), and several workers sharing one send."""
from __future__ import annotations

import subprocess
import sys
import threading
from collections import Counter

from helpers import REG
from list_helpers import add_members, list_copies, text_part
from mailer.fanout import Fanout, finish_announcements
from network import announcements as ann_ops
from pioniers.service import make_transport


def pioniers(world, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-m", "pioniers.cli", "--config", str(world.config_path), *args],
                          capture_output=True, text=True, timeout=120, cwd=world.config_path.parent, input=stdin)
    if check:
        assert proc.returncode == 0, proc.stderr
    return proc


def test_members_commands_and_announce(world):
    csv = world.config_path.parent / "leden.csv"
    csv.write_text("email,name\nanna@utrecht.nl,Anna de Vries\nBERT@schiedam.nl,Bert\n\n", encoding="utf-8")
    assert "2 added" in pioniers(world, "members", "import", str(csv)).stdout
    assert "0 added, 2 already" in pioniers(world, "members", "import", str(csv)).stdout
    pioniers(world, "members", "add", "carla@rijk.example", "--name", "Carla")
    pioniers(world, "members", "remove", "anna@utrecht.nl")
    assert "1 skipped" in pioniers(world, "members", "import", str(csv)).stdout  # her "no" stays
    listing = pioniers(world, "members", "list").stdout
    assert "anna@utrecht.nl" in listing and "unsubscribed" in listing and "2 active" in listing
    export = pioniers(world, "members", "export").stdout
    assert export.splitlines() == ["email,name", "bert@schiedam.nl,Bert", "carla@rijk.example,Carla"]
    bad = world.config_path.parent / "bad.csv"
    bad.write_text("adres;naam\nx@y.nl;X\n", encoding="utf-8")
    out = pioniers(world, "members", "import", str(bad), check=False)
    assert out.returncode == 2 and "header 'email,name'" in out.stderr and out.stderr.count("\n") == 1

    pioniers(world, "meeting", "add", "2099-06-17", "--start", "13:30", "--end", "16:30", "--location",
             "Stadskantoor Utrecht", "--host", "Gemeente Utrecht", "--theme", "Open data")
    no = pioniers(world, "announce", "2099-06-17", stdin="n\n", check=False)  # piped: no terminal to ask at
    assert no.returncode == 2 and "add --yes" in no.stderr and no.stderr.count("\n") == 1
    assert "Stadskantoor Utrecht" in no.stdout and list_copies(world) == []
    yes = pioniers(world, "announce", "2099-06-17", "--yes")
    # piped and quick: no progress on stderr (pioniers/progress.py: a line only every few seconds of a long send)
    assert "sent 2, failed 0" in yes.stdout and yes.stderr == ""
    copies = list_copies(world)
    assert sorted(r for r, _, _ in copies) == ["bert@schiedam.nl", "carla@rijk.example"]
    msg = copies[0][1]
    assert "Pioniersnetwerk 17 juni 2099" in str(msg["Subject"]) and str(msg["Reply-To"]) == REG
    text = text_part(msg)
    assert "Gemeente Utrecht" in text and "Open data" in text and REG in text
    table = pioniers(world, "announcements").stdout
    assert "discarded" in table and "sent" in table.splitlines()[1]
    out = pioniers(world, "announce", "2099-01-01", "--yes", check=False)
    assert out.returncode == 2 and "no meeting on 2099-01-01" in out.stderr
    again = pioniers(world, "announce", "2099-06-17", "--yes")  # said before it goes, not after
    assert "note: this meeting was announced before" in again.stdout and "every member gets it again" in again.stdout


def test_two_workers_share_one_send_without_duplicates(world):
    people = [(f"lid{i:03d}@example.org", "") for i in range(120)]
    add_members(world, *people)
    world.meeting("2027-03-18")
    with world.app.sm.begin() as s:
        from db.models import Meeting
        from sqlalchemy import select

        ann = ann_ops.draft_for_meeting(s, world.app, s.scalar(select(Meeting)))
        ann_ops.start_sending(s, world.app, ann)
    fanouts = [Fanout(world.app, lambda: make_transport(world.app), connections=2) for _ in range(2)]
    for f in fanouts:
        f.claim_size = 10  # small claims, so both workers get some
    results = [None, None]

    def work(i: int) -> None:
        results[i] = fanouts[i].run()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for f in fanouts:
        f.close()
    finish_announcements(world.app.sm, world.app.now())
    assert Counter(r for r, _, _ in list_copies(world)) == Counter(a for a, _ in people)
    assert results[0].sent + results[1].sent == len(people) and results[0].sent and results[1].sent
