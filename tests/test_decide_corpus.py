"""The decide corpus: real-looking mail as Outlook, Gmail, Apple Mail, iPhone and Thunderbird write it, each with
the decision it must get (tests/corpus/decide.toml). One table, run in CI, with the harmful mistakes counted.

Harmful: a registration, a cancellation or a post the sender did not ask for, or a human left without an action,
a question back or a person. A question back or a person where the mail was clear is not harmful, only not right.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from inbox import decision as d
from inbox.decide import decide
from inbox.message import parse_message

CORPUS = Path(__file__).parent / "corpus"
# Two corpora: decide/ written beside the reader, written/ by someone who read only how people write; each with
# a part kept aside (_holdout) while the reader was tuned.
TABLE = [case for name in ("decide.toml", "written.toml")
         for case in tomllib.loads((CORPUS / name).read_text(encoding="utf-8"))["case"]]
PARTS = ["decide/", "decide_holdout/", "written/", "written_holdout/"]
TODAY = dt.date(2027, 2, 15)  # the clock of the corpus: the mails were written in February 2027
MEETINGS = [d.MeetingInfo(day, f"pioniers-{day:%Y%m%d}@pioniers.test") for day in
            (dt.date(2026, 12, 10), dt.date(2027, 3, 18), dt.date(2027, 6, 17), dt.date(2027, 9, 16),
             dt.date(2027, 12, 9))]
CTX = d.Context(network_name="Pioniersnetwerk", own_addresses=frozenset({"aanmelden@pioniers.test",
                "nieuws@pioniers.test", "bounces@pioniers.test"}), own_domain="pioniers.test", meetings=MEETINGS,
                today=TODAY, authserv_id="mx.pioniers.test", post_address="nieuws@pioniers.test",
                bounce_address="bounces@pioniers.test", organisers=frozenset({"organisatie@pioniers.test"}),
                secret=b"corpus-secret")
POWERFUL = {d.REGISTER, d.CANCEL, "list_token_yes", "list_post"}  # acts for the sender, or for the whole list
SILENT = {d.IGNORE, d.ATTENTION}  # nothing goes back to the sender
MAX_HARMFUL = 0  # harmful mistakes allowed: none


@dataclass(frozen=True)
class Outcome:
    file: str
    expected: list[str]
    got: str
    date: dt.date | None
    right: bool
    harmful: bool


def _judge(case: dict) -> Outcome:
    decision = decide(parse_message((CORPUS / case["file"]).read_bytes()), CTX)
    expected, want = case["expect"], case.get("date")
    about = want is None or decision.action not in (d.REGISTER, d.CANCEL)  # a date matters to these two
    right = decision.action in expected and (about or decision.meeting_date == dt.date.fromisoformat(want))
    machine = set(expected) <= {d.IGNORE, "calendar_reply"}
    harmful = not right and case["harmful"] and (
        decision.action in POWERFUL  # acted where it should not have, or on the wrong meeting
        or (decision.action in SILENT and not machine))  # a human left without an answer
    return Outcome(case["file"], expected, decision.action, decision.meeting_date, right, harmful)


def _report(outcomes: list[Outcome], title: str) -> str:
    wrong = [o for o in outcomes if not o.right]
    person = sum(o.got in (d.PERSON, d.ATTENTION) for o in outcomes)
    lines = [f"{title}: {len(outcomes)} mails, {len(outcomes) - len(wrong)} right, "
             f"{sum(o.harmful for o in outcomes)} harmful mistakes, "
             f"{100 * (len(outcomes) - person) / len(outcomes):.0f}% decided without a person "
             f"({100 * _without_person(outcomes):.0f}% of those that need none)"]
    lines += [f"  {'HARMFUL' if o.harmful else 'wrong  '} {o.file}: {o.got} {o.date or ''} (expected "
              f"{'|'.join(o.expected)})" for o in wrong]
    return "\n".join(lines)


def _without_person(outcomes: list[Outcome]) -> float:
    """Of the mails that need no person (their expected outcomes hold none), the share decided without one."""
    clear = [o for o in outcomes if d.PERSON not in o.expected]
    return sum(o.got not in (d.PERSON, d.ATTENTION) for o in clear) / len(clear)


def test_the_corpus_is_whole() -> None:
    files = [c["file"] for c in TABLE]
    on_disk = {str(p.relative_to(CORPUS)) for part in PARTS for p in (CORPUS / part).glob("*.eml")}
    assert set(files) == on_disk and len(files) == len(on_disk) and len(TABLE) >= 150
    known = {v for m in (d, __import__("inbox.listrules", fromlist=["x"]), __import__("inbox.network_rules",
             fromlist=["x"])) for k, v in vars(m).items() if k.isupper() and isinstance(v, str)}
    assert {a for c in TABLE for a in c["expect"]} <= known  # every expected action is one the decider has


@pytest.mark.parametrize("part", PARTS)
def test_decide_corpus(part: str) -> None:
    outcomes = [_judge(c) for c in TABLE if c["file"].startswith(part)]
    report = _report(outcomes, part.rstrip("/"))
    print("\n" + report)
    assert sum(o.harmful for o in outcomes) <= MAX_HARMFUL, report
    assert _without_person(outcomes) >= 0.95, report
