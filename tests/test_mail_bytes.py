"""The fast paths of a personal letter write the same bytes as the library code they stand in for.

mailer.ics folds and writes ATTENDEE lines by hand, mailer.mime encodes bodies in cached pieces and base64 in
one call, mailer.letters renders once per meeting and fills in the name: each is checked here against icalendar,
binascii/base64 on the whole text, and a real Jinja render.
"""
from __future__ import annotations

import base64
import binascii
import datetime as dt
import email
import email.policy
import quopri
import re

import icalendar
import pytest
import vobject
from hypothesis import example, given
from hypothesis import strategies as st
from icalendar.parser import Contentline, _foldline

from base.config import NetworkConfig
from mailer import fill, ics, letters, mime
from mailer.compose import render

UTC = dt.timezone.utc
# names as people write them, and the characters that make escaping, quoting and folding interesting
NAME_CHARS = st.characters(codec="utf-8", exclude_categories=("Cs",)) | st.sampled_from(
    list(',;:"\'^\\ \t\r\nëéØ李\u2019'))
NAMES = st.text(NAME_CHARS, max_size=90)


def _icalendar_attendee_line(method: str, email: str, name: str) -> bytes:
    """The line as icalendar itself writes _attendee() (what build_invite did per attendee before)."""
    prop = ics._attendee(method, email, name)
    return Contentline.from_parts("ATTENDEE", prop.params, prop, sorted=True).to_ical() + b"\r\n"


@given(st.text(NAME_CHARS, max_size=400).map(lambda s: s.replace("\r", "").replace("\n", ""))
       | st.text(st.sampled_from("a\\^ë李😀"), min_size=70, max_size=300))
def test_fold_is_icalendars(line: str) -> None:
    assert ics._fold(line.encode()) == _foldline(line).encode()


@pytest.mark.parametrize("line", ["A" * 73 + "\\n" + "B" * 80, "A" * 73 + "^^" + "B", "Ë" * 120, "x" * 74, "x" * 75])
def test_fold_edges(line: str) -> None:
    assert ics._fold(line.encode()) == _foldline(line).encode()


@given(st.sampled_from(["REQUEST", "CANCEL"]), st.emails(), NAMES)
def test_attendee_line_is_icalendars(method: str, email: str, name: str) -> None:
    assert ics._attendee_line.__wrapped__(method, email, name) == _icalendar_attendee_line(method, email, name)


@pytest.mark.parametrize("name", ['Vries, "Jan" de', "O'Brien: Sean", "a^b", "Jan\\Piet", "  ", "Zoë " * 30])
def test_attendee_line_awkward_names(name: str) -> None:
    for method in ("REQUEST", "CANCEL"):
        assert ics._attendee_line.__wrapped__(method, " Jan@Schiedam.nl ", name) == \
            _icalendar_attendee_line(method, " Jan@Schiedam.nl ", name)


def test_attendee_with_line_break_in_address_is_refused() -> None:
    with pytest.raises(ValueError):
        ics._attendee_line.__wrapped__("REQUEST", "jan@schiedam.nl\r\nX-EVIL:1", "Jan")


STAMPS = st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1),
                      timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=2))]))


# (a backslash in a CN is written as icalendar writes it, and icalendar misreads it: not asserted here)
@given(NAMES.map(lambda name: name.replace("\\", "/")), STAMPS)
def test_invite_reads_back_attendee_and_stamp(name: str, stamp: dt.datetime) -> None:
    data = ics.build_invite(ics.Event(
        method="REQUEST", uid="u-1@pioniers.test", sequence=2, start=dt.datetime(2027, 3, 18, 14),
        end=dt.datetime(2027, 3, 18, 17), tzid="Europe/Amsterdam", summary="Pioniers", location="Schiedam",
        description="Tot dan", organizer_email="aanmelden@pioniers.test", organizer_name="Pioniersnetwerk"),
        attendee_email="jan@schiedam.nl", attendee_name=name, stamp=stamp)
    event = icalendar.Calendar.from_ical(data).walk("VEVENT")[0]
    cn = ics._safe_cn(name)
    assert str(event["attendee"]) == "mailto:jan@schiedam.nl"
    assert event["attendee"].params.get("CN", "") == cn
    assert event["dtstamp"].dt == stamp.astimezone(UTC).replace(microsecond=0)
    assert event["sequence"] == 2
    ev = vobject.readOne(data.decode()).vevent
    assert ev.attendee.value == "mailto:jan@schiedam.nl"
    assert ev.dtstamp.value == stamp.astimezone(UTC).replace(microsecond=0)


# --- mime ---------------------------------------------------------------------------------------------

def _qp_whole(text: str) -> bytes:
    """b2a_qp on the whole text; a lone CR as the character 0xFF would be (mime.qp writes it =0D, never bare)."""
    data = text.replace("\r\n", "\n").encode("utf-8").replace(b"\r", b"\xff")
    return binascii.b2a_qp(data, istext=True).replace(b"=FF", b"=0D").replace(b"\n", b"\r\n")


LINES = st.lists(st.lists(st.sampled_from(list("a =.\t\r\r\u00e9\u2019") + ["x" * 30]), max_size=12)
                 .map(lambda chars: "".join(chars) + "\n"), max_size=12)


@given(LINES, st.text(st.sampled_from(list("ab =.\t\u00e9")), max_size=90), st.data())
def test_qp_pieces_equal_whole(lines: list[str], last: str, data: st.DataObject) -> None:
    cuts = sorted(data.draw(st.lists(st.integers(0, len(lines)), max_size=3)))
    bounds = [0, *cuts, len(lines)]
    pieces = tuple("".join(lines[a:b]) for a, b in zip(bounds, bounds[1:])) + (last,)
    whole = "".join(pieces)
    encoded = mime._qp(pieces)
    assert encoded == mime._qp(whole)
    assert quopri.decodestring(encoded) == whole.replace("\r\n", "\n").replace("\n", "\r\n").encode()
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))  # RFC 2045
    if all(len(line) <= 76 for line in _qp_whole(whole).split(b"\r\n")):
        assert encoded == _qp_whole(whole)  # b2a_qp's own bytes wherever it keeps the limit


@pytest.mark.parametrize("tail", [" ", "\t", " \t", "  "])
@pytest.mark.parametrize("width", range(66, 80))
def test_qp_line_ending_in_white_space_keeps_76(width: int, tail: str) -> None:
    """b2a_qp writes 77 or 78 characters when a long line ends in an encoded space or tab (=20, =09)."""
    text = "x" * width + tail + "\nnext line\n"
    encoded = mime.qp(text)
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert quopri.decodestring(encoded).decode() == text.replace("\n", "\r\n")


def test_qp_piece_without_line_break_is_joined_first() -> None:
    pieces = ("Beste Jan", " Jansen" + "x" * 80 + "\n", "Tot dan. \n.")
    assert mime._qp(pieces) == _qp_whole("".join(pieces))


KEEP = re.compile("@@0a1b:[A-Z]+@@")
KEPT = st.lists(st.sampled_from(["@@0a1b:NAME@@", "@@0a1b:TO@@", "x" * 37, " ", "=", "\u00e9", "\r", "\n", "\t", "."]),
                max_size=40).map("".join)


@given(KEPT)
@example("@@0a1b:TO@@@@0a1b:TO@@@@0a1b:TO@@" + "x" * 37 + "    \t\n")  # a line b2a_qp writes 77 long
def test_qp_keeps_placeholders_whole(text: str) -> None:
    """listmail fills placeholders into the encoded bytes: no soft line break may cut one."""
    encoded = mime.qp(text, KEEP)
    assert quopri.decodestring(encoded).decode("utf-8") == text.replace("\r\n", "\n").replace("\n", "\r\n")
    assert all(len(line) <= 76 for line in encoded.split(b"\r\n"))
    assert b"\r" not in encoded.replace(b"\r\n", b"")
    assert [m.group(0) for m in KEEP.finditer(text)] == [m.group(0) for m in KEEP.finditer(encoded.decode())]
    if not KEEP.search(text) and all(len(line) <= 76 for line in _qp_whole(text).split(b"\r\n")):
        assert encoded == _qp_whole(text)


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1262, 5000])
def test_b64_is_encodebytes_with_crlf(size: int) -> None:
    data = bytes(range(256)) * (size // 256 + 1)
    data = data[:size]
    assert mime._b64(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")


# --- fill ---------------------------------------------------------------------------------------------

MARKED = st.lists(st.sampled_from(["\ue000name\ue000", "\ue000position\ue000", "a", " ", "\n", "\u00e9"]),
                  max_size=30).map("".join)
MARK = re.compile("\ue000(\\w+)\ue000")


@given(MARKED, NAMES)
def test_fill_is_replacing_the_marks(text: str, name: str) -> None:
    values = {"name": name, "position": "12"}
    expected = text.replace("\ue000name\ue000", name).replace("\ue000position\ue000", "12")
    assert fill.cut(text, MARK).fill(values) == expected
    assert fill.cut(text.encode(), re.compile(MARK.pattern.encode())).fill(
        {k: v.encode() for k, v in values.items()}) == expected.encode()
    lines = fill.cut_lines(text, MARK)
    assert "".join(lines.fill(values)) == expected
    holes = {at for at, _ in lines.holes}
    assert all(at in holes or "\ue000" not in piece for at, piece in enumerate(lines.pieces))
    assert all(piece.endswith("\n") for piece in lines.fill(values)[:-1])


# --- letters --------------------------------------------------------------------------------------------

NET = NetworkConfig("Pioniersnetwerk", "Pioniersnetwerk Open Overheid", "aanmelden@pioniers.test",
                    ("organisatie@pioniers.test",))
MEETING = {"date": dt.date(2027, 3, 18), "when": "donderdag 18 maart 2027, 14.00-17.00 uur",
           "when_date": "donderdag 18 maart 2027", "location": "Stadskantoor", "host": "Gemeente Schiedam",
           "theme": "Open data", "capacity": None, "ref": "Pioniersnetwerk 18 maart 2027"}


@pytest.mark.parametrize("name", ["Jan Jansen", "", "Piet <b>&amp;</b> \"de\" 'Boer'", "Zoë\u2019s", "{{ x }}"])
@pytest.mark.parametrize("template", ["confirmation", "already_registered", "waitlisted"])
@pytest.mark.parametrize("position", [1, 3, 12])
@pytest.mark.parametrize("lang", ["nl", "en"])
def test_cached_letter_is_the_real_render(name: str, template: str, position: int, lang: str) -> None:
    ctx = {"network": NET, "name": name, "meeting": dict(MEETING), "list_subscribed": True, "position": position}
    subject, text, html = letters._render_cached(lang, "", template, ctx)
    real = render(lang, template, **ctx)
    assert subject == real.subject
    assert "".join(text) == real.text
    assert "".join(html) == real.html
    assert mime._qp(text) == _qp_whole(real.text)
    assert mime._qp(html) == _qp_whole(real.html)


@pytest.mark.parametrize("template", ["confirmation", "waitlisted"])
def test_letters_to_many_people_are_rendered_once(template: str, monkeypatch) -> None:
    """Names and places on the waiting list differ per letter; the template is rendered once for all of them."""
    calls = []

    def counting(*args, **kw):  # type: ignore[no-untyped-def]
        calls.append(args)
        return render(*args, **kw)

    monkeypatch.setattr(letters, "render", counting)
    letters._render_once.cache_clear()
    for position in range(1, 41):
        ctx = {"network": NET, "name": f"Deelnemer {position}", "meeting": dict(MEETING), "list_subscribed": True,
               "position": position}
        subject, text, html = letters._render_cached("nl", "", template, ctx)
        assert f"Deelnemer {position}" in "".join(text)
        if template == "waitlisted":
            assert f"(plaats {position})" in "".join(text)
    assert len(calls) == 1


def test_templates_only_print_the_personal_values() -> None:
    """letters.py renders a letter once and fills in the name and the place on the waiting list afterwards. That
    is only right while templates print them as they are: `{{ name }}`, `{{ position }}`, or test whether there
    is one at all (`{% if name %}`: an empty value is rendered as itself). Anything else would be filled in wrong."""
    import re
    from pathlib import Path

    allowed = {"{{ name }}", "{{ position }}", "{% if name %}", "{% if position %}"}
    uses = re.compile(r"\{[{%][^}]*?(?<![\w.])(?:" + "|".join(letters._PERSONAL) + r")\b[^}]*[}%]\}")
    root = Path(__file__).resolve().parent.parent / "templates"
    found = {(path.name, m.group(0)) for path in root.rglob("*.*") for m in uses.finditer(path.read_text("utf-8"))}
    assert found, "the pattern finds the templates' uses"
    assert {use for _, use in found} <= allowed, sorted(f for f in found if f[1] not in allowed)


def test_letter_with_reply_to_and_attached_message_reads_back() -> None:
    """A list letter: Reply-To and the exact member copy as message/rfc822; nothing of theirs breaks a header."""
    copy = (b"From: Pioniers <aanmelden@pioniers.test>\r\nTo: jan@schiedam.nl\r\nSubject: Nieuws\r\n"
            b"Content-Type: text/plain; charset=\"utf-8\"\r\nContent-Transfer-Encoding: 8bit\r\n\r\nZo\xc3\xab\r\n")
    data = mime.build_reply_bytes(
        sender="aanmelden@pioniers.test", sender_name="Pioniersnetwerk Zoë", to="els@utrecht.nl\r\nBcc: x@y.z",
        subject="Voorbeeld: één\r\nBcc: x@y.z", text="Tekst\n", html="<p>Tekst</p>\n",
        now=dt.datetime(2027, 2, 1, 9, tzinfo=UTC), in_reply_to="<a@b>\r\nBcc: x@y.z", references=("<r@s>",),
        reply_to="nieuws+approve-abc@pioniers.test\r\nBcc: x@y.z", attach=copy, auto_reply=True, lang="nl")
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["Bcc"] is None and not msg.defects
    assert str(msg["From"]) == "Pioniersnetwerk Zoë <aanmelden@pioniers.test>"
    assert str(msg["Subject"]).startswith("Voorbeeld: één")
    assert str(msg["Reply-To"]).startswith("nieuws+approve-abc@pioniers.test")
    assert str(msg["References"]).startswith("<r@s> <a@b>")
    assert msg["Auto-Submitted"] == "auto-replied" and msg["Content-Language"] == "nl"
    assert msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n") == "Tekst\n"
    (attached,) = [p for p in msg.iter_attachments() if p.get_content_type() == "message/rfc822"]
    assert attached.get_payload(0).as_bytes(policy=email.policy.SMTP) == copy
    assert attached.get_payload(0).get_content().replace("\r\n", "\n") == "Zoë\n"


def test_file_attachment_reads_back_with_invite() -> None:
    """An XLSX for a person rides beside the letter and an invite; the stdlib parser gets the same bytes back."""
    data = bytes(range(256)) * 40
    raw = mime.build_reply_bytes(
        sender="pioniers@example.nl", sender_name="Pioniers", to="anna@example.nl", subject="Deelnemers",
        text="Hallo\n", html="<p>Hallo</p>\n",
        now=dt.datetime(2027, 3, 1, 9, 0, tzinfo=dt.timezone.utc), invite=b"BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
        invite_method="REQUEST", files=(mime.File("deelnemers 18-03-2027 é.xlsx", "application/x-test", data),))
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    parts = {p.get_filename(): p for p in msg.iter_attachments()}
    assert parts["deelnemers 18-03-2027 é.xlsx"].get_content_type() == "application/x-test"
    assert parts["deelnemers 18-03-2027 é.xlsx"].get_content() == data
    assert "invite.ics" in parts
