"""Pure parts of the mailing list: the bounce corpus, list decisions, and the per-member message fill."""
from __future__ import annotations

import datetime as dt
import email
import email.policy
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from base.config import load_config
from helpers import mail, write_config
from inbox import decision as d
from inbox import listrules as lr
from inbox.decide import decide
from inbox.message import parse_message
from mailer import listmail
from mailer.msgid import is_own

CORPUS = Path(__file__).parent / "corpus" / "bounces"
CTX = d.Context(network_name="Pioniersnetwerk", own_addresses=frozenset({"aanmelden@pioniers.test",
                "nieuws@pioniers.test", "bounces@pioniers.test"}), own_domain="pioniers.test", meetings=[],
                today=dt.date(2027, 2, 1), post_address="nieuws@pioniers.test",
                bounce_address="bounces@pioniers.test", organisers=frozenset({"organisatie@pioniers.test"}))


@pytest.mark.parametrize("sample, action, detail", [
    ("postfix_dsn.eml", lr.BOUNCE, "0a1b2c3d4e5f60718293a4b5c6"),
    ("exchange_ndr.eml", lr.BOUNCE, "9f8e7d6c5b4a39281706f5e4d3"),
    ("gmail_bounce.eml", lr.BOUNCE, "11223344556677889900aabbcc"),
    ("exim_bounce.eml", d.IGNORE, ""),  # no VERP token: counts for no one (anyone can write a DSN)
    ("postfix_delayed.eml", d.IGNORE, ""),  # a delay is no permanent failure
])
def test_bounce_corpus(sample, action, detail):
    decision = decide(parse_message((CORPUS / sample).read_bytes()), CTX)
    assert (decision.action, decision.token) == (action, detail)
    assert decision.may_reply is False


def test_flufl_reads_the_failed_recipient_of_every_sample():
    expected = {"postfix_dsn.eml": ["piet.weg@gemeente.example"],
                "exchange_ndr.eml": ["k.vertrokken@rijksoverheid.example"],
                "gmail_bounce.eml": ["niet.meer.actief@gmail.com"], "exim_bounce.eml": ["j.oud@overheid.example"],
                "postfix_delayed.eml": []}
    for name, addresses in expected.items():
        msg = email.message_from_bytes((CORPUS / name).read_bytes(), policy=email.policy.default)
        assert lr.permanent_failures(msg)[0] == addresses, name


@pytest.mark.parametrize("kwargs, action", [
    ({"to": "nieuws@pioniers.test", "sender": "organisatie@pioniers.test"}, lr.POST),
    ({"to": "Nieuws <nieuws@pioniers.test>", "sender": "jan@schiedam.nl"}, lr.REFUSE),
    ({"to": "nieuws@pioniers.test", "sender": "jan@schiedam.nl", "subject": "Aanmelden nieuwsbrief"}, lr.SUBSCRIBE),
    ({"subject": "Uitschrijven"}, lr.UNSUBSCRIBE),
    ({"subject": "RE: Nieuws", "body": "unsubscribe\n"}, lr.UNSUBSCRIBE),
    ({"subject": "Afmelden nieuwsbrief"}, lr.UNSUBSCRIBE),
    ({"subject": "Graag aanmelden voor de nieuwsbrief"}, lr.SUBSCRIBE),
    ({"subject": "subscribe"}, lr.SUBSCRIBE),
    ({"subject": "RE: [#" + "a" * 26 + "] Ter goedkeuring: x", "body": "ok\n"}, lr.TOKEN_YES),
    ({"subject": "RE: [#" + "a" * 26 + "] Ter goedkeuring: x", "body": "Nee, toch niet.\n"}, lr.TOKEN_NO),
    # an empty answer above the quote is no yes: nothing is sent to the whole network (was TOKEN_YES)
    ({"to": "nieuws+approve-" + "b" * 26 + "@pioniers.test", "subject": "RE: x", "body": ""}, lr.TOKEN_UNCLEAR),
    ({"to": "nieuws+approve-" + "b" * 26 + "@pioniers.test", "subject": "RE: x", "body": "ja\n"}, lr.TOKEN_YES),
    ({"subject": "RE: [#" + "a" * 26 + "] x", "body": "Wacht even, er staat een fout in de datum\n"}, lr.TOKEN_UNCLEAR),
    ({"subject": "RE: [#" + "a" * 26 + "] x", "body": "Nog niet versturen aub\n"}, lr.TOKEN_UNCLEAR),
    ({"subject": "RE: [#" + "a" * 26 + "] x", "body": "STOP\n"}, lr.TOKEN_UNCLEAR),
    ({"subject": "RE: [#" + "a" * 26 + "] x", "body": "ja, maar pas eerst de datum aan\n"}, lr.TOKEN_UNCLEAR),
    ({"to": "nieuws+unsubscribe-" + "c" * 26 + "@pioniers.test", "subject": "unsubscribe"}, lr.UNSUBSCRIBE_TOKEN),
    ({"subject": "Pioniersnetwerk 18 maart 2027"}, d.UNKNOWN_DATE),  # a registration: not a list matter
])
def test_list_decisions(kwargs, action):
    decision = decide(parse_message(mail(**kwargs)), CTX)
    assert decision.action == action, decision


def test_delivered_to_names_the_post_address_when_to_does_not():
    raw = mail(to="Iedereen <undisclosed-recipients:;>", sender="organisatie@pioniers.test",
               headers={"Delivered-To": "nieuws@pioniers.test"})
    assert decide(parse_message(raw), CTX).action == lr.POST


@pytest.fixture(scope="module")
def cfg(tmp_path_factory):
    return load_config(write_config(tmp_path_factory.mktemp("c") / "config.toml", "sqlite:///x.db",
                                    extra='\n[list]\nunsubscribe_url = "https://pioniers.test/uit"\n'))


@settings(max_examples=60, deadline=None)
@given(text=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=300),
       name=st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_fill_gives_a_correct_message_for_any_text_and_name(cfg, text, name):
    src = listmail.Source(subject="Nieuws", text=text, html=f"<html><body><p>{text[:50]}</p></body></html>")
    prepared = listmail.prepare(cfg, src, announcement_id=3, reply_to="", now=dt.datetime(2027, 2, 1, tzinfo=dt.timezone.utc))
    data = listmail.compile_prepared(cfg, prepared).fill(email="a@b.nl", member_id=9, token="f" * 26, name=name)
    assert all(len(line) <= 998 for line in data.split(b"\r\n"))
    msg = email.message_from_bytes(data, policy=email.policy.default)
    assert msg["To"] == "a@b.nl" and msg["Message-ID"].startswith("<list.3.")
    assert msg["Message-ID"].endswith(".9@pioniers.test>") and is_own(cfg.secret, msg["Message-ID"])
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "https://pioniers.test/uit?token=" + "f" * 26 in msg["List-Unsubscribe"]
    body = msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")
    shown = listmail.clean(name)[:listmail.MAX_NAME]
    if listmail.greets(text):  # the post's own greeting opens it; no second one
        assert not body.startswith("Beste ")
    else:
        assert body.startswith(f"Beste {shown}," if shown else "Beste deelnemer,")
    assert text.strip().replace("\r\n", "\n").replace("\r", "\n") in body.replace("\r", "\n")
    assert "nieuws+unsubscribe-" + "f" * 26 + "@pioniers.test" in body
