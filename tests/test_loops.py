"""Tests for inbox.loops (no auto-reply to machine mail) and inbox.auth (DMARC)."""

from __future__ import annotations

import email
import email.policy
from email.message import Message
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox import loops
from inbox.auth import dmarc_failed, parse_authentication_results, tokenize
from inbox.loops import mailboxes, no_reply_reason, reply_suppressed
from mailer.msgid import list_msgid_prefix, make_msgid

CORPUS = Path(__file__).parent / "corpus" / "loops"
OWN_ADDRESSES = ["aanmelden@pioniers.test", "info@pioniers.test"]
SECRET = b"loops-test-secret-" + b"0" * 46  # own_message_id_returned.eml carries a Message-ID marked with it
AUTHSERV_ID = "mx.pioniers.test"

# (file, machine mail: no_reply_reason is not None, reply_suppressed,
#  dmarc_failed with authserv_id=AUTHSERV_ID)
CASES = [
    # out-of-office and other auto-replies
    ("outlook_nl_out_of_office.eml", True, False, False),
    ("outlook_en_automatic_reply_subject_only.eml", True, False, False),
    ("outlook_out_of_office_client_rule.eml", True, False, False),
    ("exchange_inbox_rule_forward.eml", True, False, False),
    ("gmail_vacation_responder.eml", True, False, False),
    ("domino_abwesenheitsnotiz.eml", True, False, False),
    ("zimbra_x_autoreply.eml", True, False, False),
    ("cpanel_x_autorespond.eml", True, False, False),
    ("afwezig_subject.eml", True, False, False),
    # bounces
    ("postfix_dsn_bounce.eml", True, False, False),
    ("exchange_ndr_undeliverable.eml", True, False, False),
    ("exim_bounce_failed_recipients.eml", True, False, False),
    ("failed_recipients_only.eml", True, False, False),
    # lists and newsletters
    ("mailman_list_post.eml", True, False, False),
    ("mailman3_list_id_only.eml", True, False, False),
    ("mailchimp_newsletter_bulk.eml", True, False, False),
    ("laposta_list_unsubscribe_only.eml", True, False, False),
    ("precedence_junk.eml", True, False, False),
    # machine senders and our own mail
    ("noreply_sender.eml", True, False, False),
    ("no_reply_google_calendar.eml", True, False, False),
    ("donotreply_return_path.eml", True, False, False),
    ("do_not_reply_sender_header.eml", True, False, False),
    ("from_ourselves.eml", True, False, False),
    ("own_message_id_returned.eml", True, False, False),
    # an organiser at our own domain, whose client makes Message-IDs at it: a person, not our own mail
    ("thunderbird_organiser_own_domain.eml", False, False, False),
    ("apple_mail_organiser_own_domain.eml", False, False, False),
    # people
    ("human_reply_to_our_confirmation.eml", False, False, False),
    ("outlook_registration_suppress_all.eml", False, True, False),
    ("outlook_registration_suppress_none.eml", False, False, False),
    ("gmail_registration.eml", False, False, False),
    ("apple_mail_registration.eml", False, False, False),
    ("thunderbird_auto_submitted_no.eml", False, False, False),
    # malformed
    ("crlf_in_display_name.eml", False, False, False),
    ("crlf_display_name_mailer_daemon.eml", True, False, False),
    ("no_headers.eml", False, False, False),
    ("empty.eml", False, False, False),
    ("malformed_headers.eml", False, False, False),
    # Authentication-Results
    ("auth_ours_dmarc_fail.eml", False, False, True),
    ("auth_ours_dmarc_pass.eml", False, False, False),
    ("auth_forged_other_authserv_fail.eml", False, False, False),
    ("auth_forged_ours_below_foreign.eml", False, False, False),
    ("auth_ours_fail_other_domain.eml", False, False, False),
    ("auth_ours_fail_without_header_from.eml", False, False, True),
    ("auth_ours_temperror.eml", False, False, False),
    ("auth_exchange_online_fail.eml", False, False, False),  # id-less form: not ours
    ("auth_exchange_online_pass.eml", False, False, False),
    ("auth_exchange_bestguesspass.eml", False, False, False),
    ("auth_exchange_form_without_org_headers.eml", False, False, False),
]

# dmarc_failed under other configurations; files not listed give False.
DMARC_UNCONFIGURED = {"auth_exchange_online_fail.eml"}  # authserv_id=None
DMARC_EXCHANGE_ONLINE = {  # authserv_id="exchange-online"
    "auth_exchange_online_fail.eml",
    "auth_exchange_form_without_org_headers.eml",
}


def load(name: str, policy: email.policy.Policy = email.policy.default) -> Message:
    return email.message_from_bytes((CORPUS / name).read_bytes(), policy=policy)


def sender_domain(msg: Message) -> str:
    specs = [spec for _, spec in mailboxes(msg, "From")]
    return specs[0].rpartition("@")[2] if specs else ""


def reason(msg: Message) -> str | None:
    return no_reply_reason(msg, own_addresses=OWN_ADDRESSES, secret=SECRET)


def test_corpus_is_large_enough_and_fully_tabled() -> None:
    files = {p.name for p in CORPUS.glob("*.eml")}
    assert len(files) >= 25
    assert files == {case[0] for case in CASES}


@pytest.mark.parametrize("policy", [email.policy.default, email.policy.compat32])
@pytest.mark.parametrize(("name", "machine", "suppressed", "dmarc"), CASES)
def test_corpus(
    name: str, machine: bool, suppressed: bool, dmarc: bool, policy: email.policy.Policy
) -> None:
    msg = load(name, policy)
    why = reason(msg)
    assert (why is not None) == machine, why
    assert why is None or (isinstance(why, str) and why)
    assert reply_suppressed(msg) is suppressed
    domain = sender_domain(msg)
    assert dmarc_failed(msg, authserv_id=AUTHSERV_ID, sender_domain=domain) is dmarc
    assert dmarc_failed(msg, authserv_id=None, sender_domain=domain) is (
        name in DMARC_UNCONFIGURED
    )
    assert dmarc_failed(msg, authserv_id="exchange-online", sender_domain=domain) is (
        name in DMARC_EXCHANGE_ONLINE
    )


def test_crlf_display_name_really_breaks_policy_default() -> None:
    msg = load("crlf_in_display_name.eml")
    with pytest.raises(ValueError):
        msg["From"]  # noqa: B018 - the stdlib trap this module must avoid
    assert mailboxes(msg, "From") == [("jan", "jan@schiedam.nl")]


def test_dutch_out_of_office_reason_names_auto_submitted() -> None:
    why = reason(load("outlook_nl_out_of_office.eml"))
    assert why == "Auto-Submitted: auto-generated"


# --- each rule on its own -------------------------------------------------

CTX = loops.Context(frozenset(OWN_ADDRESSES), SECRET)
OURS = make_msgid(SECRET, "pioniers.test", "jan@schiedam.nl")


def msg_from(headers: str) -> Message:
    return email.message_from_string(headers + "\n\nbody\n", policy=email.policy.default)


RULE_CASES = [
    (loops.auto_submitted, "Auto-Submitted: auto-replied (vacation)", "Auto-Submitted: No"),
    (loops.auto_submitted, "Auto-Submitted:", "Subject: x"),
    (loops.precedence, "Precedence: BULK", "Precedence: first-class"),
    (loops.precedence, "Precedence: list", "Precedence: normal"),
    (loops.list_headers, "List-Unsubscribe: <mailto:u@x.nl>", "Listing: x"),
    (loops.list_headers, "list-id: <a.b.c>", "X-List: y"),
    (loops.x_autoreply, "X-Autoresponder: yes", "X-Autoresponse-Foo: y"),
    (loops.null_return_path, "Return-Path: < >", "Return-Path: <jan@x.nl>"),
    (loops.machine_sender, "From: Postmaster@x.nl", "From: postmaster.fan@x.nl"),
    (loops.machine_sender, "Return-Path: <NOREPLY@x.nl>", "Return-Path: <noreplyjan@x.nl>"),
    (loops.machine_sender, "Sender: donotreply@x.nl", "Reply-To: donotreply@x.nl"),
    (loops.from_ourselves, "From: Wij <INFO@pioniers.test>", "To: info@pioniers.test"),
    (loops.own_message_id, f"Message-ID: {OURS}", f"In-Reply-To: {OURS}"),
    (loops.own_message_id, f"Message-ID: {OURS.upper()}", "Message-ID: <1.2@pioniers.test>"),
    (loops.own_message_id, f"Message-ID: {make_msgid(SECRET, 'elders.nl', 'x@y.nl')}",
     f"Message-ID: {make_msgid(b'another installation' * 3, 'pioniers.test', 'jan@schiedam.nl')}"),
    (loops.own_message_id, f"Message-ID: {list_msgid_prefix(SECRET, 12)}40@pioniers.test>",
     f"Message-ID: {list_msgid_prefix(b'another installation' * 3, 12)}40@pioniers.test>"),
    (loops.out_of_office_subject, "Subject: =?utf-8?q?AFWEZIG:_tot_maandag?=", "Subject: Re: Afwezig"),
    (loops.out_of_office_subject, "Subject: Autoreply: x", "Subject: Aanmelding"),
    (
        loops.exchange_rule_loop,
        "X-MS-Exchange-Inbox-Rules-Loop: a@b.nl\nX-Auto-Response-Suppress: All",
        "X-MS-Exchange-Inbox-Rules-Loop: a@b.nl",
    ),
    (
        loops.delivery_report,
        "Content-Type: Multipart/Report; report-type=disposition-notification; boundary=x",
        "Content-Type: multipart/mixed; boundary=x",
    ),
    (loops.failed_recipients, "X-Failed-Recipients: a@b.nl", "X-Failed: a@b.nl"),
]


@pytest.mark.parametrize(("rule", "fires", "quiet"), RULE_CASES)
def test_rule(rule: loops.Rule, fires: str, quiet: str) -> None:
    assert rule in loops.RULES
    assert rule(msg_from(fires), CTX)
    assert rule(msg_from(quiet), CTX) is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("X-Auto-Response-Suppress: All", True),
        ("X-Auto-Response-Suppress: RN, NRN", True),
        ("X-Auto-Response-Suppress: DR, OOF, AutoReply", True),
        ("X-Auto-Response-Suppress: None", False),
        ("X-Auto-Response-Suppress:", False),
        ("X-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: a@b.nl", False),
    ],
)
def test_reply_suppressed(header: str, expected: bool) -> None:
    assert reply_suppressed(msg_from(header)) is expected


# --- Authentication-Results parsing ----------------------------------------


def test_tokenizer_drops_comments_with_separators() -> None:
    tokens = tokenize('mx.x (a; b=c (nested; d=e)) ; dmarc = fail reason="p=reject; x"')
    assert tokens == [
        ("word", "mx.x"),
        (";", ";"),
        ("word", "dmarc"),
        ("=", "="),
        ("word", "fail"),
        ("word", "reason"),
        ("=", "="),
        ("word", "p=reject; x"),
    ]


def test_parse_exchange_online_form() -> None:
    parsed = parse_authentication_results(
        "spf=fail (sender IP is 203.0.113.9) smtp.mailfrom=x.nl; dkim=none "
        "(message not signed) header.d=none;dmarc=fail action=none "
        "header.from=x.nl;compauth=fail reason=000"
    )
    assert parsed.authserv_id is None
    assert [(r.method, r.result) for r in parsed.results] == [
        ("spf", "fail"),
        ("dkim", "none"),
        ("dmarc", "fail"),
        ("compauth", "fail"),
    ]
    assert parsed.results[2].props == {"action": "none", "header.from": "x.nl"}


def test_parse_rfc8601_with_version_and_no_result() -> None:
    assert parse_authentication_results("mx.x 1; none").authserv_id == "mx.x"
    assert parse_authentication_results("mx.x 1; none").results == []
    parsed = parse_authentication_results("mx.x; dmarc/1=fail header.from=X.NL.")
    assert parsed.results[0].method == "dmarc"


@pytest.mark.parametrize(
    ("header", "domain", "expected"),
    [
        ("Authentication-Results: mx.pioniers.test; dmarc=fail header.from=X.nl", "x.NL", True),
        ("Authentication-Results: mx.pioniers.test; dmarc=fail header.from=jan@x.nl", "x.nl", True),
        ("Authentication-Results: mx.pioniers.test; dmarc=none header.from=x.nl", "x.nl", False),
        ("Authentication-Results: mx.pioniers.test; dmarc=permerror header.from=x.nl", "x.nl", False),
        ("Authentication-Results: mx.pioniers.test; dkim=fail header.d=x.nl", "x.nl", False),
        ("Authentication-Results: mx.pioniers.test.evil; dmarc=fail", "x.nl", False),
        ("Authentication-Results: mx.pioniers.test; none", "x.nl", False),
    ],
)
def test_dmarc_failed_headers(header: str, domain: str, expected: bool) -> None:
    msg = msg_from(header)
    assert dmarc_failed(msg, authserv_id=AUTHSERV_ID, sender_domain=domain) is expected


# --- never raise -------------------------------------------------------------

HEADER_NAMES = [
    "From", "Sender", "Return-Path", "Subject", "Message-ID", "Content-Type",
    "Auto-Submitted", "Precedence", "List-Id", "X-Autoreply", "X-Failed-Recipients",
    "X-Auto-Response-Suppress", "X-MS-Exchange-Inbox-Rules-Loop",
    "X-MS-Exchange-Organization-AuthAs", "Authentication-Results",
]
NASTY = [
    "=?utf-8?q?Jan=0D=0ABcc:_x@evil.nl?=", "=?utf-8?b?", "=?x?q?=ZZ?=", "\r\n", "\n ",
    "<>", "<<", "@", '"', "(", ")", "\\", ";", "=", ",", ":", "dmarc=fail", "\x00", "é", "\u2028",
]
header_values = st.lists(
    st.one_of(st.sampled_from(NASTY), st.text(max_size=12)), max_size=8
).map("".join)
header_names = st.one_of(st.sampled_from(HEADER_NAMES), st.from_regex(r"[!-9;-~]{1,12}", fullmatch=True))


def check_never_raises(msg: Message) -> None:
    result = reason(msg)
    assert result is None or isinstance(result, str)
    assert isinstance(reply_suppressed(msg), bool)
    for authserv_id in (AUTHSERV_ID, None, "exchange-online"):
        assert isinstance(dmarc_failed(msg, authserv_id=authserv_id, sender_domain="x.nl"), bool)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(header_names, header_values), max_size=12), st.booleans())
def test_random_headers_never_raise(headers: list[tuple[str, str]], compat: bool) -> None:
    data = b"".join(
        name.encode() + b": " + value.encode("utf-8", "surrogateescape") + b"\r\n"
        for name, value in headers
    )
    policy = email.policy.compat32 if compat else email.policy.default
    check_never_raises(email.message_from_bytes(data + b"\r\nbody\r\n", policy=policy))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400))
def test_random_bytes_never_raise(data: bytes) -> None:
    check_never_raises(email.message_from_bytes(data, policy=email.policy.default))
    check_never_raises(email.message_from_bytes(data, policy=email.policy.compat32))


@settings(max_examples=300, deadline=None)
@given(header_values)
def test_tokenizer_never_raises(value: str) -> None:
    parse_authentication_results(value)
