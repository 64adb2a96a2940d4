"""A realistic network for the hosts / stats tests: quarterly meetings over four years, 40 municipalities that
join over time, a few other public bodies, people with roles, cancellations and waiting lists.

Deterministic (a seeded Random), written straight into the database, and it returns what the figures must be,
computed here independently of network/stats.py.
"""
from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass, field

from db.models import Meeting, Person, Registration

MUNICIPALITIES = [
    "Utrecht", "Schiedam", "Zwolle", "Delft", "Zeist", "Amersfoort", "Apeldoorn", "Arnhem",  # the founders
    "Breda", "Deventer", "Eindhoven", "Enschede", "Groningen", "Haarlem", "Den Haag", "Leeuwarden", "Leiden",
    "Maastricht", "Nijmegen", "Rotterdam", "Tilburg", "Zaanstad", "Houten", "Almere", "Alkmaar", "Amstelveen",
    "Assen", "Dordrecht", "Ede", "Emmen", "Gouda", "Heerlen", "Helmond", "Hengelo", "Hilversum", "Lelystad",
    "Middelburg", "Purmerend", "Venlo", "Westland",
]
OTHERS = ["Ministerie van BZK", "Provincie Utrecht", "Rijkswaterstaat", "Waterschap Rivierenland"]
# Hosts rotate; Zeist and Houten take part (nearly) every time but never host: the suggestions.
HOSTS = ["Utrecht", "Schiedam", "Zwolle", "Delft", "Amersfoort", "Apeldoorn", "Arnhem", "Breda", "Deventer",
         "Eindhoven", "Enschede", "Groningen", "Haarlem", "Den Haag", "Leiden", "Utrecht"]
ROLES = ["pioneer", "learner", "meedenker", ""]
FIRST_YEAR, YEARS = 2019, 4


def third_thursday(year: int, month: int) -> dt.date:
    day = dt.date(year, month, 1)
    day += dt.timedelta(days=(3 - day.weekday()) % 7)
    return day + dt.timedelta(days=14)


@dataclass
class Expected:
    meetings: list[dict] = field(default_factory=list)  # date, host, registrations, attended, roles, municipalities
    joined: dict[tuple[int, int], set[str]] = field(default_factory=dict)  # quarter -> municipalities first seen
    participation: Counter = field(default_factory=Counter)  # municipality -> meetings attended


def populate(session, now: dt.datetime, *, planned: list[dt.date] = (), seed: int = 7) -> Expected:
    rng = random.Random(seed)
    expected = Expected()
    dates = [third_thursday(FIRST_YEAR + y, m) for y in range(YEARS) for m in (3, 6, 9, 12)]
    # The 8 founders come from the first meeting; the other 32 join over the next 15, two or so at a time.
    join_at = {name: (0 if i < 8 else 1 + (i - 8) * 15 // 32) for i, name in enumerate(MUNICIPALITIES)}
    people: dict[str, list[Person]] = {}
    for org in [f"Gemeente {m}" for m in MUNICIPALITIES] + OTHERS:
        slug = org.lower().replace("gemeente ", "").replace(" ", "")
        people[org] = []
        for n in range(3):
            person = Person(email=f"p{n}@{slug}.nl", name=f"Deelnemer {n + 1} {org}", organisation=org,
                            role=ROLES[rng.randrange(4)], topic="", share_consent=rng.random() < 0.5, created_at=now)
            session.add(person)
            people[org].append(person)
    session.flush()
    seen: set[str] = set()
    for i, day in enumerate(dates):
        host = f"Gemeente {HOSTS[i]}"
        meeting = Meeting(date=day, start="13:30", end="17:00", location=f"Stadhuis {HOSTS[i]}", host=host,
                          theme=f"Thema {i + 1}", capacity=None, uid=f"gen-{day}@pioniers.test", sequence=0,
                          status="scheduled", created_at=now)
        session.add(meeting)
        session.flush()
        registrations, roles, municipalities = 0, Counter(), set()
        for name in MUNICIPALITIES:
            if join_at[name] > i:
                continue
            always = name in ("Zeist", "Houten") or i == join_at[name]  # a newcomer comes to its first meeting
            if not always and rng.random() > 0.55:
                continue
            org = f"Gemeente {name}"
            chosen = rng.sample(people[org], rng.randint(1, 3))
            if always and people[org][0] not in chosen:  # the first contact person always comes (and stays)
                chosen[0] = people[org][0]
            for person in chosen:
                status = "confirmed"
                if person is not people[org][0] and rng.random() < 0.12:
                    status = rng.choice(["cancelled", "waitlisted"])
                session.add(Registration(meeting_id=meeting.id, person_id=person.id, status=status,
                                         registered_at=now, updated_at=now))
                registrations += 1
                if status == "confirmed":
                    roles[person.role] += 1
                    municipalities.add(org)
        for org in OTHERS:
            if rng.random() < 0.5:
                person = people[org][rng.randrange(3)]
                session.add(Registration(meeting_id=meeting.id, person_id=person.id, status="confirmed",
                                         registered_at=now, updated_at=now))
                registrations += 1
                roles[person.role] += 1
        quarter = (day.year, (day.month - 1) // 3 + 1)
        new = {m for m in municipalities if m not in seen}
        seen |= new
        if new:
            expected.joined[quarter] = new
        for m in municipalities:
            expected.participation[m] += 1
        expected.meetings.append({"date": day, "host": host, "registrations": registrations,
                                  "attended": sum(roles.values()), "roles": dict(roles),
                                  "municipalities": len(municipalities)})
    for day in planned:
        session.add(Meeting(date=day, start="13:30", end="17:00", location="Stadhuis Zwolle", host="Gemeente Zwolle",
                            theme="", capacity=None, uid=f"gen-{day}@pioniers.test", sequence=0, status="scheduled",
                            created_at=now))
    # A cancelled meeting counts nowhere.
    session.add(Meeting(date=dt.date(2020, 4, 2), start="13:30", end="17:00", location="Online", host="Gemeente Ede",
                        theme="", capacity=None, uid="gen-cancelled@pioniers.test", sequence=1, status="cancelled",
                        created_at=now))
    session.flush()
    return expected
