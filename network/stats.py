"""Figures for the initiators' reports to the ministry: per meeting, who hosted, and how the network grows.

Only organisations and counts, never a person. Registrations are removed retention_days after a meeting
(network/privacy.py), so before that the purge calls archive_meetings(): each meeting's figures are kept in
meeting_summaries, and stats over years of meetings read those. "Attended" means checked in (`pioniers checkin`)
where any check-in was recorded for a meeting, otherwise confirmed for a meeting that has taken place; the figures
say which. A municipality is an organisation "Gemeente X".
"""
from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from db.app import App
from db.models import Meeting, MeetingSummary, Person, Registration
from db.states import MeetingStatus, RegistrationStatus
from network.meetings import UserError

ROLE_ORDER = ("pioneer", "learner", "meedenker", "")


def org_key(name: str) -> str:
    """'Gemeente  Den Haag' and 'den haag' are the same organisation."""
    key = " ".join(name.split()).casefold()
    return key.removeprefix("gemeente ").strip()


def is_municipality(organisation: str) -> bool:
    return " ".join(organisation.split()).casefold().startswith("gemeente ")


@dataclass
class MeetingFigures:
    date: dt.date
    host: str
    location: str
    held: bool  # the meeting has taken place
    registrations: int  # everyone who registered, also those who cancelled later
    attended: int  # checked in where recorded (checked_in), else confirmed
    roles: dict[str, int] = field(default_factory=dict)  # the attended, by role ('' = not said)
    organisations: dict[str, int] = field(default_factory=dict)  # the attended, by organisation ('' = unknown)
    archived: bool = False
    checked_in: bool = False  # attendance as recorded at the door, not the confirmed registrations

    @property
    def municipalities(self) -> list[str]:
        return sorted(o for o in self.organisations if is_municipality(o))


# In a summary's roles JSON: the figures count check-ins (no migration for one flag; figures() takes it out).
CHECKED_IN = "(checked in)"


def live_figures(session: Session, meeting: Meeting) -> tuple[int, int, Counter[str], Counter[str], bool]:
    """(registrations, attended, attended by role, by organisation, whether attended counts check-ins)."""
    rows = session.execute(select(Registration.status, Registration.attended_at, Person.role, Person.organisation)
                           .join(Person, Person.id == Registration.person_id)
                           .where(Registration.meeting_id == meeting.id)).all()
    checked_in = any(came is not None for _, came, _, _ in rows)
    attended = [(role or "", " ".join((org or "").split())) for status, came, role, org in rows
                if (came is not None if checked_in else status == RegistrationStatus.CONFIRMED)]
    return (len(rows), len(attended), Counter(r for r, _ in attended), Counter(o for _, o in attended),
            checked_in)


def archive_meetings(session: Session, meeting_ids: Any, now: dt.datetime) -> int:
    """Keep the figures of these meetings (a select of ids) before their registrations are removed."""
    done = select(MeetingSummary.meeting_id)
    meetings = list(session.scalars(select(Meeting).where(Meeting.id.in_(meeting_ids), Meeting.id.not_in(done))))
    for meeting in meetings:
        keep_figures(session, meeting, *live_figures(session, meeting), now)
    session.flush()
    return len(meetings)


def keep_figures(session: Session, meeting: Meeting, registrations: int, attended: int, roles: Counter[str],
                 organisations: Counter[str], checked_in: bool, now: dt.datetime) -> None:
    """A meeting's summary: counts per role and per organisation, no names (the purge, and an old history)."""
    session.add(MeetingSummary(meeting_id=meeting.id, registrations=registrations, attended=attended,
                               roles=json.dumps(dict(roles) | ({CHECKED_IN: 1} if checked_in else {}),
                                                sort_keys=True),
                               organisations=json.dumps(dict(organisations), sort_keys=True),
                               archived_at=now))


def figures(session: Session, today: dt.date) -> list[MeetingFigures]:
    """Every meeting that was not cancelled, oldest first."""
    summaries = {s.meeting_id: s for s in session.scalars(select(MeetingSummary))}
    out = []
    for m in session.scalars(select(Meeting).where(Meeting.status == MeetingStatus.SCHEDULED).order_by(Meeting.date)):
        s = summaries.get(m.id)
        if s is not None:
            roles = json.loads(s.roles)
            checked_in = bool(roles.pop(CHECKED_IN, 0))
            f = MeetingFigures(m.date, m.host, m.location, m.date <= today, s.registrations, s.attended,
                               roles, json.loads(s.organisations), archived=True, checked_in=checked_in)
        else:
            registrations, attended, live_roles, organisations, checked_in = live_figures(session, m)
            f = MeetingFigures(m.date, m.host, m.location, m.date <= today, registrations, attended,
                               dict(live_roles), dict(organisations), checked_in=checked_in)
        out.append(f)
    return out


# --- growth ----------------------------------------------------------------------------------------


@dataclass
class Quarter:
    year: int
    quarter: int
    new: list[str]  # municipalities first seen at a meeting in this quarter
    total: int  # municipalities in the network by the end of it

    def label(self, lang: str = "en") -> str:
        return f"{self.year} {'K' if lang == 'nl' else 'Q'}{self.quarter}"


def growth(figs: list[MeetingFigures]) -> list[Quarter]:
    """Municipalities joining the network (their first meeting attended), per quarter, with no gaps."""
    held = [f for f in figs if f.held]
    if not held:
        return []
    first: dict[tuple[int, int], list[str]] = {}
    seen: set[str] = set()
    for f in held:
        for name in f.municipalities:
            if org_key(name) not in seen:
                seen.add(org_key(name))
                first.setdefault((f.date.year, (f.date.month - 1) // 3 + 1), []).append(name)
    start, end = held[0].date, held[-1].date
    year, q = start.year, (start.month - 1) // 3 + 1
    out: list[Quarter] = []
    total = 0
    while (year, q) <= (end.year, (end.month - 1) // 3 + 1):
        new = first.get((year, q), [])
        total += len(new)
        out.append(Quarter(year, q, new, total))
        year, q = (year + 1, 1) if q == 4 else (year, q + 1)
    return out


# --- hosts -----------------------------------------------------------------------------------------


@dataclass
class Suggestion:
    name: str
    meetings: int  # meetings it took part in
    last: dt.date


@dataclass
class HostsReport:
    held: list[MeetingFigures]
    planned: list[MeetingFigures]
    suggestions: list[Suggestion]


def hosts(figs: list[MeetingFigures], *, limit: int = 5, at_least: int = 2) -> HostsReport:
    """Past and planned hosts, and the municipalities that took part most often without ever hosting
    (a planned meeting counts as hosting: it is already arranged)."""
    hosted = {org_key(f.host) for f in figs if f.host.strip()}
    count: Counter[str] = Counter()
    last: dict[str, dt.date] = {}
    names: dict[str, str] = {}
    for f in figs:
        if not f.held:
            continue
        for name in f.municipalities:
            key = org_key(name)
            count[key] += 1
            last[key] = f.date
            names.setdefault(key, name)
    candidates = [Suggestion(names[k], n, last[k]) for k, n in count.items() if k not in hosted and n >= at_least]
    candidates.sort(key=lambda s: (-s.meetings, -s.last.toordinal(), s.name))
    return HostsReport([f for f in figs if f.held], [f for f in figs if not f.held], candidates[:limit])


# --- as text and as a chart ------------------------------------------------------------------------


def format_hosts(report: HostsReport) -> str:
    lines = ["past hosts:"]
    lines += [f"  {f.date}  {f.host or '-':<32}  {f.location}" for f in report.held] or ["  (none)"]
    lines.append("planned:")
    lines += [f"  {f.date}  {f.host or '-':<32}  {f.location}" for f in report.planned] or ["  (none)"]
    lines.append("suggested next hosts (take part often, never hosted):")
    lines += [f"  {s.name:<32}  took part in {s.meetings} meeting(s), last on {s.last}"
              for s in report.suggestions] or ["  (none)"]
    return "\n".join(lines)


def format_stats(figs: list[MeetingFigures], quarters: list[Quarter]) -> str:
    head = (f"{'meeting':<11}  {'host':<28}  {'registered':>10}  {'attended':>8}  {'pioneer':>7}  {'learner':>7}  "
            f"{'meedenker':>9}  {'unknown':>7}  {'counted':<9}  {'municipalities':>14}")
    lines = [head]
    for f in figs:
        when = f.date.isoformat() + ("" if f.held else "*")
        roles = [f.roles.get(r, 0) for r in ROLE_ORDER]
        counted = "came" if f.checked_in else "confirmed"
        lines.append(f"{when:<11}  {f.host[:28]:<28}  {f.registrations:>10}  {f.attended:>8}  {roles[0]:>7}  "
                     f"{roles[1]:>7}  {roles[2]:>9}  {roles[3]:>7}  {counted:<9}  {len(f.municipalities):>14}")
    if any(not f.held for f in figs):
        lines.append("* planned: registrations so far")
    lines.append("counted: 'came' = checked in at the door (pioniers checkin), 'confirmed' = no check-in recorded")
    lines.append("")
    lines.append("municipalities joining the network, per quarter:")
    lines.append(f"{'quarter':<8}  {'new':>4}  {'total':>5}")
    lines += [f"{q.label():<8}  {len(q.new):>4}  {q.total:>5}" for q in quarters]
    return "\n".join(lines)


def growth_png(quarters: list[Quarter], path: Path, lang: str, title: str) -> None:
    """Bars: municipalities joining per quarter; line: the network's size. For reports to the ministry."""
    if not quarters:
        raise UserError("no meetings have taken place yet: nothing to draw")
    import matplotlib

    matplotlib.use("Agg")  # no display: files only
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    nl = lang == "nl"
    labels = [q.label(lang) for q in quarters]
    fig, ax = plt.subplots(figsize=(10, 5), dpi=120)
    try:
        x = range(len(quarters))
        ax.bar(x, [len(q.new) for q in quarters], color="#4c8bbf",
               label="nieuwe gemeenten" if nl else "municipalities joining")
        ax.set_ylabel("nieuw per kwartaal" if nl else "new per quarter")
        ax.set_ylim(0, max(len(q.new) for q in quarters) * 1.35 + 1)  # room for the legend
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_xticks(list(x), labels, rotation=60, ha="right", fontsize=8)
        total = ax.twinx()
        total.plot(list(x), [q.total for q in quarters], color="#d0661c", marker="o",
                   label="gemeenten in het netwerk" if nl else "municipalities in the network")
        total.set_ylabel("totaal" if nl else "total")
        total.set_ylim(0, quarters[-1].total * 1.1 + 1)
        total.yaxis.set_major_locator(MaxNLocator(integer=True))
        handles = ax.get_legend_handles_labels()
        more = total.get_legend_handles_labels()
        ax.legend(handles[0] + more[0], handles[1] + more[1], loc="upper left")
        ax.set_title(f"{title}: {'groei in gemeenten' if nl else 'growth in municipalities'}")
        fig.tight_layout()
        try:
            fig.savefig(path, format="png")
        except OSError as exc:
            raise UserError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        plt.close(fig)


def report(app: App) -> tuple[list[MeetingFigures], list[Quarter]]:
    with app.sm.begin() as session:
        figs = figures(session, app.today())
    return figs, growth(figs)


def hosts_report(app: App) -> HostsReport:
    with app.sm.begin() as session:
        return hosts(figures(session, app.today()))
