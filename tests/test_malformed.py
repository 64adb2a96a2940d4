"""Any input, however bad: malformed real-world samples, generated and mutated messages.

Every message ends processed or in the attention folder with its reason recorded, the service keeps going, and
nothing from a message's headers (display name, subject) can add a header or a recipient to what we send.
"""
from __future__ import annotations

import base64
import datetime as dt
import email
import email.policy
import random
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from db.models import InboundMessage
from helpers import REG, mail
from inbox import decision as d
from inbox.decide import decide
from inbox.handlers import HANDLERS
from inbox.message import Incoming, parse_message
from inbox.runner import process_message
from inbox.sources import RawMessage

CORPUS = Path(__file__).parent / "corpus" / "malformed"
MEETING = dt.date(2027, 3, 18)
TODAY = dt.date(2027, 2, 1)
KNOWN_ACTIONS = frozenset(HANDLERS)
REGISTER, ATTENTION, PERSON = d.REGISTER, d.ATTENTION, d.PERSON

# The expected outcome class of every sample. A registration that can be read is a registration, however broken
# the MIME around it; without a usable sender, or without the sender's own words naming the meeting, a human looks.
EXPECTED = {
    "bare_lf_line_endings.eml": REGISTER,
    "base64_with_garbage.eml": REGISTER,  # date in the base64 body, between line noise
    "binary_junk.eml": ATTENTION,
    "boundary_never_used.eml": REGISTER,
    "broken_encoded_words.eml": REGISTER,  # subject unreadable, date in the body
    "charset_utf8_alias.eml": REGISTER,
    "charset_x_unknown.eml": REGISTER,  # date in the body
    "crlf_bcc_base64_display_name.eml": REGISTER,
    "crlf_bcc_in_from_and_subject.eml": REGISTER,
    "display_name_with_address_and_crlf.eml": REGISTER,  # the address in angle brackets, not the one in the name
    "eight_bit_headers.eml": REGISTER,
    "empty.eml": ATTENTION,
    "encoded_word_bad_utf8.eml": REGISTER,
    "five_thousand_headers.eml": REGISTER,
    "from_missing.eml": ATTENTION,
    "from_name_only.eml": ATTENTION,
    "from_undisclosed_group.eml": ATTENTION,
    "from_without_address_sender_fallback.eml": ATTENTION,  # only From acts: Sender never stands in for it
    "garbage_content_type.eml": REGISTER,
    "header_without_colon.eml": REGISTER,
    "headers_only_no_body.eml": REGISTER,
    "latin1_no_charset.eml": REGISTER,  # date in the body
    "lone_cr_header_injection.eml": REGISTER,
    "long_header_100kb.eml": REGISTER,
    "missing_boundary_param.eml": REGISTER,
    "mixed_crlf_lf.eml": REGISTER,
    "nested_forwards_3_deep.eml": PERSON,  # someone else's registration, forwarded: a person decides, sender told
    "nested_multipart_100_levels.eml": REGISTER,  # date in the innermost part
    "no_headers_body_only.eml": ATTENTION,
    "nul_bytes.eml": REGISTER,
    "outlook_html_only.eml": REGISTER,  # date only in the HTML body
    "quoted_printable_bad_escapes.eml": REGISTER,  # date in the body
    "text_only_as_attachment.eml": PERSON,  # the sender wrote nothing themselves: a person looks, sender told
    "tnef_winmail_dat.eml": REGISTER,
    "truncated_rfc822_attachment.eml": REGISTER,
    "two_from_headers.eml": REGISTER,
    "unclosed_multipart.eml": REGISTER,
    "unknown_charset_encoded_subject.eml": REGISTER,
    "utf16_declared_ascii_body.eml": REGISTER,
    "windows1252_labelled_utf8.eml": REGISTER,
}


def ctx() -> d.Context:
    return d.Context("Pioniersnetwerk", frozenset({REG}), "pioniers.test", [d.MeetingInfo(MEETING, "uid-mrt")], TODAY)


def samples() -> list[tuple[str, bytes]]:
    return [(p.name, p.read_bytes()) for p in sorted(CORPUS.glob("*.eml"))]


def _plain(value: str) -> bool:
    """Valid Unicode: no lone surrogates (8-bit header bytes leaking through), so it can be stored and sent."""
    try:
        value.encode("utf-8")
        return True
    except UnicodeEncodeError:
        return False


def check(raw: bytes) -> tuple[Incoming, d.Decision]:
    """parse + decide must never raise and must give a known action with a reason; the values are safe."""
    msg = parse_message(raw)
    decision = decide(msg, ctx())
    assert isinstance(decision, d.Decision)
    assert decision.action in KNOWN_ACTIONS, decision
    assert isinstance(decision.reason, str) and decision.reason.strip(), decision
    for value in (msg.name, msg.subject, msg.sender, msg.message_id, *msg.references):
        assert not re.search(r"[\x00-\x1f\x7f]", value), value  # one line: nothing can become a header
        assert _plain(value), ascii(value)
    assert _plain(msg.own_text), ascii(msg.own_text[:200])
    assert " " not in msg.sender and (not msg.sender or "@" in msg.sender)
    return msg, decision


# --- the corpus, pure -------------------------------------------------------------------------------


def test_the_table_covers_the_corpus():
    names = [name for name, _ in samples()]
    assert len(names) >= 20
    assert sorted(EXPECTED) == names


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_corpus_sample_is_decided(name):
    msg, decision = check((CORPUS / name).read_bytes())
    assert decision.action == EXPECTED[name], decision.reason
    if decision.action == REGISTER:
        assert decision.meeting_date == MEETING and msg.sender


def test_hostile_display_names_are_one_clean_line():
    msg, _ = check((CORPUS / "crlf_bcc_in_from_and_subject.eml").read_bytes())
    assert msg.sender == "lars.lammers@schiedam.nl"
    msg, _ = check((CORPUS / "display_name_with_address_and_crlf.eml").read_bytes())
    assert msg.sender == "nina.noordam@delft.nl"
    msg, _ = check((CORPUS / "crlf_bcc_base64_display_name.eml").read_bytes())
    assert msg.sender == "mieke.meijer@utrecht.nl"


def test_eight_bit_display_name_is_readable():
    msg, _ = check((CORPUS / "eight_bit_headers.eml").read_bytes())
    assert msg.name == "Jürgen Müller"  # Latin-1 bytes, read as such


def test_message_id_with_control_characters_is_not_used():
    """It would become the In-Reply-To of our reply."""
    assert parse_message(b"From: a@schiedam.nl\r\nMessage-ID: <\x00\x1bx@y>\r\n\r\nhoi\r\n").message_id == ""


# --- the corpus, through the whole service -----------------------------------------------------------


def thirty_mb_message() -> bytes:
    data = random.Random(30).randbytes(30 * 1024 * 1024)
    head = (b"From: Groot Bestand <groot.bestand@schiedam.nl>\r\nTo: " + REG.encode() + b"\r\n"
            b"Subject: Pioniersnetwerk 18 maart 2027\r\nMessage-ID: <30mb@client.example>\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=\"big\"\r\n\r\n--big\r\nContent-Type: text/plain\r\n\r\n"
            b"Aanmelden, met de presentatie als bijlage.\r\n--big\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Disposition: attachment; filename=\"presentatie.pptx\"\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n")
    return head + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"--big--\r\n"


def _count(world, folder: str) -> int:
    with world.mailbox.connect(timeout=60) as client:
        if not client.folder_exists(folder):
            return 0
        client.select_folder(folder, readonly=True)
        return len(client.search("ALL"))


def test_every_malformed_message_ends_processed_or_in_attention(world):
    world.meeting("2027-03-18")
    corpus = samples()
    stored = [(name, raw) for name, raw in corpus if raw]  # IMAP cannot hold a zero-byte message
    good = "laatste.aanmelder@schiedam.nl"
    queue = [raw for _, raw in stored] + [thirty_mb_message(), mail(sender=f"Laatste Aanmelder <{good}>")]
    with world.mailbox.connect(timeout=120) as client:
        for raw in queue:
            client.append("INBOX", raw)

    result = world.poll()

    assert _count(world, "INBOX") == 0
    assert _count(world, "Verwerkt") + _count(world, "Aandacht") == len(queue)
    assert result.inbox.processed + result.inbox.attention == len(queue)
    expected_attention = sum(EXPECTED[name] in (ATTENTION, PERSON) for name, _ in stored)
    assert _count(world, "Aandacht") == expected_attention
    # The empty file reaches the runner only from the embedded Maildir inbox: it too ends with a reason.
    assert process_message(world.app, "maildir", 1, RawMessage("1", b"")) == "attention"

    with world.app.sm.begin() as s:
        rows = list(s.scalars(select(InboundMessage)))
    assert len(rows) == len(queue) + 1
    for row in rows:
        assert row.outcome in {"processed", "attention"}, (row.subject, row.outcome)
        assert row.reason.strip(), row.subject
        assert not row.reason.startswith(("error while handling", "unreadable message")), row.reason
    assert sum(r.outcome == "attention" for r in rows) == expected_attention + 1

    confirmations = [m for m in world.sink.messages if m.rcpt_tos == [good]]
    assert len(confirmations) == 1
    registered = {r.sender for r in rows if r.outcome == "processed"}
    assert good in registered and "groot.bestand@schiedam.nl" in registered
    registrations = sum(EXPECTED[name] == REGISTER for name, _ in stored) + 2  # + the 30 MB one + the good one
    acknowledged = sum(EXPECTED[name] == PERSON for name, _ in stored)  # handed to a person, the sender told so
    assert len(world.sink.messages) == registrations + acknowledged
    assert len({m.rcpt_tos[0] for m in world.sink.messages}) == registrations + acknowledged
    for sent in world.sink.messages:
        assert len(sent.rcpt_tos) == 1 and "evil" not in sent.rcpt_tos[0], sent.rcpt_tos
        head = sent.data.split(b"\r\n\r\n", 1)[0]
        parsed = email.message_from_bytes(sent.data, policy=email.policy.default)
        assert parsed["Bcc"] is None and parsed["Cc"] is None and parsed["X-Evil"] is None
        assert parsed["To"] == sent.rcpt_tos[0]  # the bare address: no display name taken from the sender
        assert not [p.defects for p in parsed.walk() if p.defects]
        assert b"evil.example" not in head and b"x-evil" not in head.lower()
        names = [line.split(b":", 1)[0].lower() for line in head.split(b"\r\n") if line[:1] not in (b" ", b"\t")]
        assert not {b"bcc", b"cc", b"x-evil", b"reply-to"} & set(names), names
        assert names.count(b"to") == 1 and names.count(b"subject") == 1 and names.count(b"from") == 1


# --- generated messages -----------------------------------------------------------------------------

CHARSETS = ["utf-8", "UTF8", "iso-8859-1", "windows-1252", "x-unknown", "utf-16", "us-ascii", "", "koi8-r"]
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
NASTY = st.sampled_from(["\r\n", "\n", "\r", "\x00", "Bcc: x@evil.example", "\r\nBcc: x@evil.example\r\n",
                         "X-Evil: 1", "<", ">", '"', ",", ";", ":", "=?", "?=", "@", "\u2028", "é", "€", "\ufeff",
                         "Pioniersnetwerk 18 maart 2027", "=?utf-8?q?", "undisclosed-recipients:;"])
WORDY = st.lists(st.one_of(TEXT, NASTY), max_size=6).map("".join)


@st.composite
def encoded_word(draw) -> bytes:
    charset = draw(st.sampled_from(CHARSETS))
    text = draw(WORDY)
    data = text.encode(charset if charset in {"utf-8", "UTF8", "utf-16"} else "utf-8", "surrogatepass")
    if draw(st.booleans()):
        body = base64.b64encode(data)
        kind = b"B"
    else:
        body = b"".join(b"=%02X" % c if c < 33 or c > 126 or c in b"=?_" else bytes([c]) for c in data)
        kind = b"Q"
    if draw(st.booleans()):  # break it
        body = body[: draw(st.integers(0, len(body)))] + draw(st.sampled_from([b"", b"!!", b"=Z", b"?", b"\r\n"]))
    return b"=?" + charset.encode() + b"?" + kind + b"?" + body + b"?="


def _bytes_of(text: str, draw) -> bytes:
    return text.encode(draw(st.sampled_from(["utf-8", "latin-1"])), "replace")


@st.composite
def header_value(draw) -> bytes:
    parts = draw(st.lists(st.one_of(WORDY.map(lambda t: ("t", t)), encoded_word().map(lambda b: ("b", b)),
                                    st.binary(max_size=12).map(lambda b: ("b", b))), max_size=4))
    value = b" ".join(_bytes_of(p, draw) if k == "t" else p for k, p in parts)
    if draw(st.booleans()):  # an address, maybe with a hostile display name
        local = draw(st.sampled_from([b"jan", b"p.piet", b"", b"a b", b"x\r\ny"]))
        domain = draw(st.sampled_from([b"schiedam.nl", b"evil.example", b"", b"[127.0.0.1]"]))
        value = value + b" <" + local + b"@" + domain + b">"
    return value


HEADER_NAMES = st.one_of(
    st.sampled_from(["From", "Sender", "Subject", "To", "Cc", "Message-ID", "References", "In-Reply-To",
                     "Content-Type", "Content-Transfer-Encoding", "Content-Disposition", "MIME-Version",
                     "Auto-Submitted", "Precedence", "List-Id", "List-Unsubscribe", "Return-Path", "Reply-To",
                     "Authentication-Results", "X-Auto-Response-Suppress", "X-Autoreply", "Received"]),
    st.text(st.characters(min_codepoint=1, max_codepoint=300), min_size=0, max_size=12),
)


@st.composite
def leaf(draw) -> bytes:
    ctype = draw(st.sampled_from(["text/plain", "text/html", "text/calendar", "message/rfc822",
                                  "application/ms-tnef", "message/delivery-status", "", "text/plain; charset"]))
    charset = draw(st.sampled_from(CHARSETS))
    cte = draw(st.sampled_from(["", "7bit", "8bit", "base64", "quoted-printable", "x-bogus", "binary"]))
    body = draw(st.one_of(WORDY.map(lambda t: t.encode("utf-8", "surrogatepass")), st.binary(max_size=80),
                          st.sampled_from([b"BEGIN:VCALENDAR\r\nMETHOD:REPLY\r\nBEGIN:VEVENT\r\nUID:uid-mrt\r\n"
                                           b"ATTENDEE;PARTSTAT=DECLINED:mailto:jan@schiedam.nl\r\n",
                                           b"<html><body><p>Pioniersnetwerk&nbsp;18 maart 2027",
                                           b"Ik kan toch niet komen", b"From: x\r\n\r\nnested"])))
    if cte == "base64" and draw(st.booleans()):
        body = base64.encodebytes(body)
    head = b"Content-Type: " + ctype.encode() + (b"; charset=" + charset.encode() if charset else b"") + b"\r\n"
    if cte:
        head += b"Content-Transfer-Encoding: " + cte.encode() + b"\r\n"
    if draw(st.booleans()):
        head += b"Content-Disposition: " + draw(st.sampled_from([b"attachment", b"inline", b";;", b"\xff"])) + b"\r\n"
    return head + b"\r\n" + body


def _multipart(children: st.SearchStrategy[bytes]) -> st.SearchStrategy[bytes]:
    @st.composite
    def build(draw) -> bytes:
        boundary = draw(st.sampled_from([b"b1", b"=_b2", b"", b"b b", b"--", b"\xff"]))
        subtype = draw(st.sampled_from([b"mixed", b"alternative", b"related", b"report", b"digest"]))
        parts = draw(st.lists(children, max_size=4))
        close = draw(st.booleans())
        param = b"" if draw(st.integers(0, 5)) == 0 else b'; boundary="' + boundary + b'"'
        out = b"Content-Type: multipart/" + subtype + param + b"\r\n\r\npreamble\r\n"
        for part in parts:
            out += b"--" + boundary + b"\r\n" + part + b"\r\n"
        return out + (b"--" + boundary + b"--\r\n" if close else b"")
    return build()


BODIES = st.recursive(leaf(), _multipart, max_leaves=8)


@st.composite
def generated_message(draw) -> bytes:
    headers = draw(st.lists(st.tuples(HEADER_NAMES, header_value()), max_size=10))
    if draw(st.booleans()):
        headers.append(("From", b"Jan <jan@schiedam.nl>"))
    if draw(st.booleans()):
        headers.append(("Subject", draw(st.sampled_from([b"Pioniersnetwerk 18 maart 2027", b"Afmelden"]))))
    eol = draw(st.sampled_from([b"\r\n", b"\n", b"\r"]))
    raw = b"".join(_bytes_of(name, draw) + draw(st.sampled_from([b": ", b":", b" ", b""])) + value + eol
                   for name, value in headers)
    body = draw(st.one_of(BODIES, st.binary(max_size=200)))
    return raw + body.replace(b"\r\n", eol)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(generated_message())
def test_generated_messages_never_break_the_decide_step(raw):
    check(raw)


# --- mutated messages -------------------------------------------------------------------------------

SEEDS = [raw for _, raw in samples() if len(raw) < 20_000] + [
    mail(),
    mail(subject="Aanmelding", body="Graag aanmelden voor Pioniersnetwerk 18 maart 2027.\n",
         html="<p>Graag aanmelden voor Pioniersnetwerk 18 maart 2027.</p>"),
    mail(sender="Jan <jan@schiedam.nl>").replace(b"From: Jan <", b"From: =?utf-8?q?Jan=0D=0ABcc:_x@evil?= <", 1),
]
LARGE = [raw for _, raw in samples() if len(raw) >= 20_000]


@st.composite
def mutation(draw, raw: bytes) -> bytes:
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "truncate", "dup_header", "insert", "delete", "swap_eol"]))
        pos = draw(st.integers(0, len(raw)))
        if op == "flip" and raw:
            pos = min(pos, len(raw) - 1)
            raw = raw[:pos] + bytes([raw[pos] ^ draw(st.integers(1, 255))]) + raw[pos + 1:]
        elif op == "truncate":
            raw = raw[:pos]
        elif op == "dup_header":
            lines = raw.split(b"\n")
            head_len = lines.index(b"") if b"" in lines else len(lines)
            if head_len:
                i = draw(st.integers(0, head_len - 1))
                lines[i:i] = [lines[i]] * draw(st.integers(1, 3))
                raw = b"\n".join(lines)
        elif op == "insert":
            junk = draw(st.sampled_from([b"\r", b"\n", b"\r\n", b"\x00", b"\r\n\r\n", b"\r\nBcc: x@evil.example\r\n",
                                         b"=?utf-8?q?=0D=0A?=", b"--", b"\xff\xfe", b"<", b"\t"]))
            raw = raw[:pos] + junk + raw[pos:]
        elif op == "delete":
            raw = raw[:pos] + raw[pos + draw(st.integers(1, 50)):]
        elif op == "swap_eol":
            raw = raw.replace(b"\r\n", b"\n") if b"\r\n" in raw else raw.replace(b"\n", b"\r\n")
    return raw


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(SEEDS).flatmap(mutation))
def test_mutated_samples_never_break_the_decide_step(raw):
    check(raw)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(st.sampled_from(LARGE).flatmap(mutation))
def test_mutated_large_samples_never_break_the_decide_step(raw):
    check(raw)


def test_charset_name_with_nul_is_read_as_utf8():
    """Found by hypothesis: a NUL in the charset parameter made the codec lookup raise ValueError."""
    raw = (b"From: X <x@venlo.nl>\r\nTo: aanmelden@pioniers.test\r\nSubject: Pioniersnetwerk 18 maart 2027\r\n"
           b"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"B\"\r\n\r\n--B\r\n"
           b"Content-Type: text/plain; charset=\x00\"us-ascii\"\r\n\r\nGraag aanmelden.\r\n--B--\r\n")
    assert "Graag aanmelden" in parse_message(raw).own_text
