"""Every letter is written twice (text and HTML) in two languages; these tests keep the copies saying the same.

For each letter and language the .txt and the .html are rendered with the same context, in a few variants that
take the templates' branches (a name or none, a theme or none, each poll problem, ...). The HTML is turned into
text the way a mail reader would show it; then both must have the same words in the same order. Punctuation,
whitespace and markup may differ; the words may not.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from base.html import html_to_text
from mailer import format as fmt
from mailer.compose import environment, render

ROOT = Path(__file__).resolve().parent.parent
TEMPLATES = ROOT / "templates"
LANGS = ("nl", "en")


def _letters(lang: str) -> set[str]:
    """Letter names: templates/<lang>/<name>.txt and .html; partials (_name) are included by letters."""
    return {p.stem for p in (TEMPLATES / lang).iterdir() if p.suffix in {".txt", ".html"}}


LETTERS = sorted(n for n in _letters("nl") if not n.startswith("_"))
PIECES = sorted(_letters("nl"))  # the letters and the partials they, listmail.py and polls.py include


def test_both_languages_have_the_same_letters() -> None:
    files = {lang: sorted(p.name for p in (TEMPLATES / lang).iterdir()) for lang in LANGS}
    assert files["nl"] == files["en"]
    for lang in LANGS:
        for name in _letters(lang):
            assert (TEMPLATES / lang / f"{name}.txt").is_file(), f"{lang}/{name}.html has no .txt"
            assert (TEMPLATES / lang / f"{name}.html").is_file(), f"{lang}/{name}.txt has no .html"


def test_both_languages_print_the_same_values() -> None:
    """A letter in English shows what its Dutch original shows (the words in quotes may differ)."""
    def printed(path: Path) -> set[str]:
        return {re.sub(r'"[^"]*"', '""', e) for e in re.findall(r"\{\{\s*(.*?)\s*\}\}", path.read_text("utf-8"))}
    for nl in sorted((TEMPLATES / "nl").iterdir()):
        en = TEMPLATES / "en" / nl.name
        assert printed(nl) == printed(en), f"{nl.name}: nl prints {printed(nl) - printed(en)}, en {printed(en) - printed(nl)}"


def _names_in_code() -> set[str]:
    """Template names the code passes: template="x", render(lang, "x", ...), get_template(f"x.{kind}"), and the
    helpers that take a template name as their first string argument."""
    call = r'\b(?:_reply|_letter|ask_to_confirm|ask_confirmation|render)\([^"()]*(?:\([^()]*\)[^"()]*)*"([a-z_]+)"'
    found: set[str] = set()
    for folder in ("mailer", "network", "inbox", "pioniers"):
        for path in (ROOT / folder).rglob("*.py"):
            src = path.read_text(encoding="utf-8")
            found.update(re.findall(r'\btemplate="([a-z_]+)"', src))
            found.update(re.findall(r'get_template\(f?"([a-z_]+)\.', src))
            found.update(re.findall(call, src))
    return found


def test_every_template_the_code_uses_exists_in_both_languages() -> None:
    used = _names_in_code()
    assert {"reminder", "poll_results", "list_preview", "_list_footer", "_greeting"} <= used, "the patterns find the uses"
    for lang in LANGS:
        shared = {p.stem for p in TEMPLATES.glob("*.*")}  # templates/layout.html and shared partials
        missing = sorted(n for n in used if n not in _letters(lang) | shared)
        assert not missing, f"templates/{lang} lacks {missing}"


def test_every_letter_is_sent_by_the_code() -> None:
    """A letter nobody sends is a letter nobody keeps up to date."""
    unused = sorted(set(LETTERS) - _names_in_code())
    assert not unused, f"letters no code names: {unused}"


# --- the same words in text and HTML -------------------------------------------------------------------------

def _meeting(theme: str = "Open data in de gemeente", host: str = "Gemeente Utrecht") -> dict[str, Any]:
    return dict(date=dt.date(2026, 3, 12), when=fmt.when(dt.date(2026, 3, 12), "14:00", "17:00", "nl"),
                when_date="12 maart 2026", location="Stadskantoor, Utrecht", host=host,
                host_in_text=fmt.in_text(host, "nl"), theme=theme, capacity=40,
                ref="Pioniersnetwerk 12 maart 2026")


NETWORK = SimpleNamespace(name="pioniers", title="Pioniersnetwerk Open Overheid",
                          registration_address="aanmelden@pioniers.test", language="nl")
OPTIONS = [dict(position=1, text="Open data"), dict(position=2, text="Woo-verzoeken")]


def _base() -> dict[str, Any]:
    return dict(
        network=NETWORK, name="Anna", meeting=_meeting(), registration_address="aanmelden@pioniers.test",
        unsubscribe_address="afmelden@pioniers.test", post_address="leden@pioniers.test",
        open_meetings=[_meeting(), _meeting(theme="")], options=OPTIONS, closes="19 februari 2026",
        list_options=True, with_invite=True, consent=True, role="beleidsadviseur", topic="open data",
        list_subscribed=True, count=123, subject="Nieuws uit het netwerk", token="ab12cd34", expires="20 februari 2026",
        preview="De eerste regels van het bericht.", reply_to_members=True, reason="de zaal is niet beschikbaar",
        changes=["de plaats is nu Stadskantoor, Utrecht", "het thema is nu Open data"], days=3,
        participants=[dict(name="Anna de Vries", organisation="Gemeente Utrecht", role="adviseur", topic="Woo"),
                      dict(name="Bert Jansen", organisation="", role="", topic="")],
        example="Pioniersnetwerk 12 maart 2026", asked="12 maart", position=4,
        proposal="Algoritmeregister", proposer="Carla", proposer_email="carla@example.org",
        problem="", option=OPTIONS[1], previous=OPTIONS[0], winner="Open data", number=7,
        closed=False, voters=5, rows=[dict(position=1, text="Open data", votes=3),
                                      dict(position=2, text="Woo-verzoeken", votes=1)],
        proposals=[dict(text="Algoritmeregister", who="Carla")], inviter="Anouk de Vries", in_calendar=True,
        sent=120, failed=3, by_organiser=True,
        notes=["De bijeenkomst heeft al een thema, \"Open data\"; de winnaar van deze stemming komt daarvoor "
               "in de plaats."],
        confirmed=12, waiting=2, updated=True,  # the host's list
    )


FALSY = dict(name="", meeting=_meeting(theme="", host=""), consent=False, role="", topic="", with_invite=False,
             list_subscribed=False, reason="", previous=None, option=None, proposal="", winner="", closes="",
             proposals=[], days=1, voters=1, number=0, open_meetings=[], list_options=False, reply_to_members=False,
             count=1, rows=[dict(position=1, text="Open data", votes=1)], inviter="", in_calendar=False, failed=0,
             confirmed=1, waiting=0, updated=False,
             by_organiser=False, notes=[])


def _desk_meeting(**kw: Any) -> dict[str, Any]:
    return {**_meeting(), "confirmed": 12, "waitlisted": 2, "free": 28, **kw}


# What the desk's letters (inbox/desk_handlers.py) are given, and the same with every branch's other side.
DESK = dict(desk_address="nieuws+balie@pioniers.test", asked="wat kan ik hier", example_day="12 maart", example_id=12,
            meetings=[_desk_meeting(), _desk_meeting(theme="", host="", capacity=None, free=None)],
            meeting=_desk_meeting(), cancelled=1,
            waiting=[dict(id=12, sender="jan@schiedam.nl", subject="Vraag over parkeren", reason="een vraag",
                          received="maandag 1 februari 2027, 10.00 uur")],
            action="register", email="piet@gouda.nl", person_name="Piet Jansen", organisation="Gemeente Gouda",
            message=None, changed=True, dutch="Piet Jansen is aangemeld.", told=["piet@gouda.nl"],
            command="aanmelden piet@gouda.nl 12 maart", problem="no_meeting")
DESK_FALSY = dict(asked="", meetings=[], meeting=_desk_meeting(host="", capacity=None, free=None), waiting=[],
                  person_name="", organisation="", changed=False, told=[])


def _desk_variants(name: str, full: dict[str, Any]) -> list[dict[str, Any]]:
    desk, bare = {**full, **DESK}, {**full, **FALSY, **DESK, **DESK_FALSY}
    variants = [desk, bare]
    if name == "desk_confirm":
        message = dict(id=12, sender="jan@schiedam.nl", subject="Vraag")
        variants += [{**desk, "meeting": _desk_meeting(free=0)}, {**desk, "action": "cancel"},
                     {**bare, "action": "cancel"}, {**desk, "action": "done", "meeting": None, "message": message}]
    if name == "desk_problem":
        variants += [{**desk, "problem": p} for p in ("no_date", "no_address", "already", "not_registered", "")]
    return variants


def _variants(name: str) -> list[dict[str, Any]]:
    full = _base()
    if name.startswith("desk_") or name == "_desk_greeting":
        return _desk_variants(name, full)
    variants = [full, {**full, **FALSY}]
    if name == "poll_reply":
        for problem in ("closed", "not_member", "no_poll", "unclear"):
            variants += [{**full, "problem": problem}, {**full, **FALSY, "problem": problem}]
        variants += [{**full, "previous": None}, {**full, "problem": "no_poll", "meeting": None},
                     {**full, "option": None, "previous": None}]  # a proposal only: no vote was cast
    if name == "poll_results":
        variants += [{**full, "closed": True}, {**full, **FALSY, "closed": True}]
    if name == "_list_registered":
        variants = [{**full, "status": "confirmed"}, {**full, "status": "waitlisted"}]
    if name == "_greeting":
        variants += [{**full, **FALSY, "organiser": True}]
    if name == "poll_refused":
        variants = [{**v, "problem": "er staan geen thema's in"} for v in variants]
    return variants


def _words(text: str) -> list[str]:
    """The words a reader sees; punctuation, quotes and whitespace are not compared."""
    return re.findall(r"[\w@.\-+/]*\w", text.replace("\u00a0", " ").lower())


def _numbered(html: str) -> str:
    """A mail reader numbers <ol> items (from <li value>, where given); the text writes the numbers out."""
    def number(ol: re.Match[str]) -> str:
        start = re.search(r'start="(\d+)"', ol.group(1))
        n = iter(range(int(start.group(1)) if start else 1, 10_000))
        def item(li: re.Match[str]) -> str:
            value = re.search(r'value="(\d+)"', li.group(0))
            return f"{li.group(0)}{value.group(1) if value else next(n)}. "
        return ol.group(1) + re.sub(r"<li\b[^>]*>", item, ol.group(2))
    return re.sub(r"(<ol\b[^>]*>)(.*?)(?=</ol>)", number, html, flags=re.S)


def _diff(a: list[str], b: list[str]) -> str:
    import difflib
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        if op != "equal":
            out.append(f"{op}: text {' '.join(a[max(0, i1 - 3):i2 + 3])!r} / html {' '.join(b[max(0, j1 - 3):j2 + 3])!r}")
    return "\n".join(out)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", PIECES)
def test_text_and_html_say_the_same(name: str, lang: str) -> None:
    env = environment(lang)
    for i, ctx in enumerate(_variants(name)):
        text = env.get_template(f"{name}.txt").render(**ctx)
        if not name.startswith("_"):
            text = text.partition("\n")[2]  # without the Subject: line
        html = env.get_template(f"{name}.html").render(**ctx)
        a, b = _words(text), _words(html_to_text(_numbered(html)))
        assert a == b, f"{lang}/{name} (variant {i}) text and HTML differ:\n{_diff(a, b)}"


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", LETTERS)
def test_letters_render_with_the_layout(name: str, lang: str) -> None:
    for ctx in _variants(name):
        rendered = render(lang, name, **ctx)
        assert rendered.subject and rendered.text.strip() and f'lang="{lang}"' in rendered.html


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("name", PIECES)
def test_the_variants_reach_every_branch(name: str, lang: str) -> None:
    """Every word written in a letter's .txt and .html shows in some variant, so no branch goes uncompared."""
    env = environment(lang)
    for kind in ("txt", "html"):
        source = (TEMPLATES / lang / f"{name}.{kind}").read_text(encoding="utf-8")
        written = re.sub(r"\{%.*?%\}|\{\{.*?\}\}|\{#.*?#\}", " ", source, flags=re.S)
        if kind == "html":
            written = html_to_text(written)
        shown: set[str] = set()
        for ctx in _variants(name):
            out = env.get_template(f"{name}.{kind}").render(**ctx)
            shown.update(_words(html_to_text(out) if kind == "html" else out))
        endings = {w.lower() for w in re.findall(r"%\}(\w+)", source)}  # dag{% if days != 1 %}en{% endif %}
        missing = sorted(w for w in set(_words(written)) - shown
                         if not (w in endings and any(s.endswith(w) for s in shown)))
        assert not missing, f"{lang}/{name}.{kind}: no variant shows {missing}"


def test_a_folder_named_in_the_config_overrides_a_letter(tmp_path) -> None:
    """[network] templates: an organisation's own wording for one letter; the others stay as shipped."""
    own = tmp_path / "eigen"
    (own / "nl").mkdir(parents=True)
    (own / "nl" / "reminder.txt").write_text("Subject: Denk je aan morgen?\nTot morgen, {{ name }}!\n")
    (own / "nl" / "reminder.html").write_text("<p>Tot morgen, {{ name }}!</p>\n")
    ctx = _base()
    mine = render("nl", "reminder", str(own), **ctx)
    assert mine.subject == "Denk je aan morgen?" and mine.text == "Tot morgen, Anna!\n"
    assert render("nl", "reminder", **ctx).subject != mine.subject  # the shipped one, without the folder
    assert render("nl", "confirmation", str(own), **ctx).text == render("nl", "confirmation", **ctx).text
