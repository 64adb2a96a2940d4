"""`python -m bench.hostile [--timeout S] [--only NAME,...]`: the worst messages we can build, timed.

Each case runs in its own process (a case that hangs is stopped after --timeout seconds and shown as "> S") and
reports the seconds of parse_message and of decide, with a Context that switches every check on (DMARC,
list and bounce addresses, organisers, meetings). `--case NAME` runs one case in this process.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import json
import subprocess
import sys
import time
from collections.abc import Callable

HEAD = (b"To: aanmelden@pioniers.test\r\nMessage-ID: <h@client.example>\r\nMIME-Version: 1.0\r\n"
        b"Authentication-Results: mx.pioniers.test; dmarc=pass header.from=schiedam.nl\r\n")
FROM = b"From: Jan Jansen <jan@schiedam.nl>\r\n"
SUBJECT = b"Subject: Pioniersnetwerk 18 maart 2027\r\n"
PLAIN = b"Subject: Aanmelding\r\n"  # no date: decide reads the body too
MB = 1024 * 1024


def message(*headers: bytes, body: bytes = b"Graag aanmelden.\r\n", sender: bytes = FROM,
            subject: bytes = SUBJECT) -> bytes:
    return sender + subject + HEAD + b"".join(headers) + b"\r\n" + body


def nested_body(depth: int, inner: bytes) -> bytes:
    """The body of a multipart with boundary b0 whose first part is a multipart with boundary b1, and so on:
    `depth` multiparts, the innermost holding one text part."""
    opening = b"".join(b'--b%d\r\nContent-Type: multipart/mixed; boundary="b%d"\r\n\r\n' % (i, i + 1)
                       for i in range(depth - 1))
    closing = b"".join(b"\r\n--b%d--\r\n" % i for i in reversed(range(depth)))
    return opening + b"--b%d\r\nContent-Type: text/plain\r\n\r\n" % (depth - 1) + inner + closing


def nested_multipart(depth: int, inner: bytes = b"Pioniersnetwerk 18 maart 2027") -> bytes:
    return message(b'Content-Type: multipart/mixed; boundary="b0"\r\n', body=nested_body(depth, inner),
                   subject=PLAIN)


def nested_rfc822(depth: int) -> bytes:
    inner = b"Content-Type: message/rfc822\r\n\r\n" * depth
    return message(b"Content-Type: message/rfc822\r\n", body=inner + b"Subject: x\r\n\r\nhoi\r\n", subject=PLAIN)


def many_parts(count: int) -> bytes:
    part = b"--b\r\nContent-Type: text/plain\r\n\r\nhoi\r\n"
    return message(b'Content-Type: multipart/mixed; boundary="b"\r\n', body=part * count + b"--b--\r\n")


def attachment(size: int, sender: bytes = FROM) -> bytes:
    data = base64.encodebytes(bytes(range(256)) * (size // 256)).replace(b"\n", b"\r\n")
    return message(b'Content-Type: multipart/mixed; boundary="b"\r\n', sender=sender, body=(
        b"--b\r\nContent-Type: text/plain\r\n\r\nAanmelden.\r\n--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment\r\n\r\n" + data + b"--b--\r\n"))


def html(body: bytes) -> bytes:
    return message(b"Content-Type: text/html; charset=utf-8\r\n", body=body, subject=PLAIN)


def text(body: bytes) -> bytes:
    return message(body=body, subject=PLAIN)


def folded(name: bytes, value: bytes, width: int = 998) -> bytes:
    """A header of any length as a client would send it: folded into lines at spaces."""
    words, lines, line = value.split(b" "), [], name + b":"
    for word in words:
        if len(line) + len(word) + 1 > width:
            lines.append(line)
            line = b""
        line += b" " + word
    lines.append(line)
    return b"\r\n".join(lines) + b"\r\n"


def all_at_once() -> bytes:
    """One message that spends every budget: odd address headers just short enough for the strict parser, a
    Subject of encoded words, 500 headers, distinct MIME headers up to their budget, a DSN for the bounce
    detectors, HTML with an unclosed comment, and '--' lines at the deepest level until the work budget is spent."""
    addresses = [b"To: " + b"x " * 126 + b"%d\r\n" % i for i in range(32)]
    junk = [b"X-J%d: " % i + b"y" * 500 + b"\r\n" for i in range(460)]
    parts = b"".join(b"--m\r\n" + folded(b"Content-Type", b"text/plain;" + b" a%d=b;" % i * 300) + b"\r\nhoi\r\n"
                     for i in range(20))
    dsn = (b"--m\r\nContent-Type: message/delivery-status\r\n\r\n" + b"Final-Recipient: rfc822; a@b.nl\r\n"
           b"Action: failed\r\nStatus: 5.1.1\r\n\r\n" * 200)
    html_part = b"--m\r\nContent-Type: text/html\r\n\r\n<p>hoi" + b"<!--" * 50_000 + b"\r\n"
    deep = (b'--m\r\nContent-Type: multipart/mixed; boundary="b0"\r\n\r\n'
            + nested_body(99, b"--\n" * 5_000_000))
    return message(b'Content-Type: multipart/report; report-type=delivery-status; boundary="m"\r\n', *addresses,
                   *junk, sender=b"From: MAILER-DAEMON@mx.example\r\n",
                   subject=folded(b"Subject", b" ".join([EW] * 200)),
                   body=parts + dsn + html_part + deep + b"\r\n--m--\r\n")


EW = b"=?utf-8?q?a=C3=A9?="
CASES: dict[str, Callable[[], bytes]] = {
    "Cc: x x x (160 KB)": lambda: message(folded(b"Cc", b"x " * 80_000)),
    "Cc: x x x (1 MB, one line)": lambda: message(b"Cc: " + b"x " * (MB // 2) + b"\r\n"),
    "Subject 10 MB of words": lambda: message(subject=folded(b"Subject", b"aanmelden " * MB)),
    "Subject 10 MB, one line": lambda: message(subject=b"Subject: " + b"a" * (10 * MB) + b"\r\n"),
    "Subject 20,000 encoded words": lambda: message(subject=folded(b"Subject", b" ".join([EW] * 20_000))),
    "Subject 20,000 broken encoded words": lambda: message(
        subject=folded(b"Subject", b" ".join([b"=?utf-8?q?=ZZ?="] * 20_000))),
    "Subject 10,000 dates": lambda: message(subject=folded(b"Subject", b"Pioniersnetwerk 18 maart 2027 " * 10_000)),
    "From: 20,000 encoded words": lambda: message(
        sender=folded(b"From", b" ".join([EW] * 20_000) + b" <jan@schiedam.nl>")),
    "From: 100,000 commas": lambda: message(sender=b"From: " + b"," * 100_000 + b"jan@schiedam.nl\r\n"),
    "From: 50,000 addresses": lambda: message(sender=folded(b"From", b", ".join([b"a@b.nl"] * 50_000))),
    "From: 100,000 nested comments": lambda: message(
        sender=b"From: " + b"(" * 100_000 + b"jan@schiedam.nl\r\n"),
    "From: 200,000 quoted-pair backslashes": lambda: message(
        sender=b'From: "' + b"\\\\" * 100_000 + b'" <jan@schiedam.nl>\r\n'),
    "To: 100,000 commas": lambda: message(b"To: " + b"," * 100_000 + b"\r\n"),
    "To: 50,000 addresses": lambda: message(folded(b"To", b", ".join([b"a@b.nl"] * 50_000))),
    "Sender: 50,000 x x x": lambda: message(folded(b"Sender", b"x " * 50_000)),
    "Return-Path: 50,000 x x x": lambda: message(folded(b"Return-Path", b"x " * 50_000)),
    "References: 100,000 message-ids": lambda: message(folded(b"References", b" ".join(
        b"<%d@x.example>" % i for i in range(100_000)))),
    "Message-ID 1 MB": lambda: message(b"Message-ID: <" + b"a" * MB + b"@x>\r\n"),
    "100,000 headers": lambda: message(*[b"X-H: v\r\n"] * 100_000),
    "20,000 Received headers": lambda: message(*[b"Received: from a by b with SMTP id x; Mon, 1 Jan 2027\r\n"] * 20_000),
    "Authentication-Results 1 MB of ((": lambda: message(b"Authentication-Results: mx.pioniers.test; "
                                                         + b"(" * MB + b"\r\n"),
    "Authentication-Results 10,000 results": lambda: message(folded(
        b"Authentication-Results", b"mx.pioniers.test; " + b"dmarc=fail header.from=x.nl; " * 10_000)),
    "Content-Type 10,000 params": lambda: message(folded(b"Content-Type", b"text/plain;" + b" a=b;" * 10_000)),
    "part Content-Type 10,000 params": lambda: message(
        b'Content-Type: multipart/mixed; boundary="b"\r\n',
        body=b"--b\r\n" + folded(b"Content-Type", b"text/plain;" + b" a=b;" * 10_000) + b"\r\nhoi\r\n--b--\r\n"),
    "part Content-Disposition 1 MB": lambda: message(
        b'Content-Type: multipart/mixed; boundary="b"\r\n',
        body=b"--b\r\nContent-Type: text/plain\r\n" + folded(b"Content-Disposition", b"x " * (MB // 2))
        + b"\r\nhoi\r\n--b--\r\n"),
    "header line 10 MB without colon": lambda: b"X" * (10 * MB) + b"\r\n" + message(),
    "headers only, 10 MB, no blank line": lambda: FROM + b"X-H: v\r\n" * (10 * MB // 8),
    "NULs and lone CRs (1 MB)": lambda: message(b"X-N: " + b"\x00\r" * (MB // 2) + b"\r\n",
                                                body=b"\x00\r" * (MB // 2)),
    "MIME nesting 1,000 levels": lambda: nested_multipart(1000),
    "message/rfc822 nesting 1,000 levels": lambda: nested_rfc822(1000),
    "20,000 MIME parts": lambda: many_parts(20_000),
    "HTML 20 MB on one line": lambda: html(b"<p>" + b"<b>a</b>" * (20 * MB // 8)),
    "HTML 1,000,000 nested divs": lambda: html(b"<div>" * 1_000_000),
    "HTML 5 MB attribute": lambda: html(b'<div class="' + b"a" * (5 * MB) + b'">x</div>'),
    "attachment 30 MB": lambda: attachment(30 * MB),
    "bounce (MAILER-DAEMON) with 30 MB attachment": lambda: attachment(
        30 * MB, sender=b"From: Mail Delivery System <MAILER-DAEMON@mx.example>\r\n"),
    "body 100,000 '>' quote lines": lambda: text(b"> quoted\r\n" * 100_000),
    "body 100,000 'Van:' lines": lambda: text(b"Van: x\r\n" * 100_000),
    "body 100,000 'Op ... schreef' lines": lambda: text((b"Op " + b"a " * 140 + b"\r\n") * 100_000),
    "body 10 MB one line": lambda: text(b"Pioniersnetwerk 18 maart " * (10 * MB // 25)),
    "body 100,000 blank lines": lambda: text(b"\r\n" * 100_000),
    "body 15,000,000 lone CRs": lambda: text(b"\r" * 15_000_000),
    "body 10,000,000 '--' lines in 100 levels": lambda: nested_multipart(100, b"--\n" * 10_000_000),
    "body 200,000 'Op' lines of 600 characters": lambda: text((b"Op " + b"a " * 300 + b"\r\n") * 200_000),
    "body 1,000,000 dates": lambda: text(b"Pioniersnetwerk 18 maart 2027 " * 1_000_000),
    "HTML 1,000,000 '<'": lambda: html(b"<" * 1_000_000),
    "HTML unclosed comment, 1,000,000 '<!--'": lambda: html(b"<!--" * 1_000_000),
    "HTML 1,000,000 '&#'": lambda: html(b"&#" * 1_000_000),
    "HTML 1,000,000 '</'": lambda: html(b"</" * 1_000_000),
    "500 Cc headers of 8 KB 'x x x'": lambda: message(*[folded(b"Cc", b"x " * 4000 + b"%d" % i) for i in range(500)]),
    "500 To headers of 250 characters of commas": lambda: message(
        *[b"To: " + b"x," * 120 + b"%d\r\n" % i for i in range(500)]),
    "1,000 parts, each 2 KB of Content-Type params": lambda: message(
        b'Content-Type: multipart/mixed; boundary="b"\r\n', body=b"".join(
            b"--b\r\n" + folded(b"Content-Type", b"text/plain;" + b" a%d=b;" % i * 300) + b"\r\nhoi\r\n"
            for i in range(1000)) + b"--b--\r\n"),
    "1,000 parts, each 2 KB of Content-Disposition": lambda: message(
        b'Content-Type: multipart/mixed; boundary="b"\r\n', body=b"".join(
            b"--b\r\nContent-Type: text/plain\r\n" + folded(b"Content-Disposition", b"x%d " % i * 400)
            + b"\r\nhoi\r\n" for i in range(1000)) + b"--b--\r\n"),
    "bounce (MAILER-DAEMON), 1,000,000 short lines": lambda: message(
        sender=b"From: MAILER-DAEMON@mx.example\r\n", body=b"a\r\n" * 1_000_000),
    "all at once: every limit reached in one bounce": lambda: all_at_once(),
    "bounce (MAILER-DAEMON), 20,000 delivery-status blocks": lambda: message(
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\r\n',
        sender=b"From: MAILER-DAEMON@mx.example\r\n",
        body=b"--b\r\nContent-Type: message/delivery-status\r\n\r\n" + b"Final-Recipient: rfc822; a@b.nl\r\n"
        b"Action: failed\r\nStatus: 5.1.1\r\n\r\n" * 20_000 + b"--b--\r\n"),
}


def context():  # type: ignore[no-untyped-def]
    from inbox import decision as d
    meetings = [d.MeetingInfo(dt.date(2027, 3, 18), "uid-mrt")]
    return d.Context("Pioniersnetwerk", frozenset({"aanmelden@pioniers.test"}), "pioniers.test", meetings,
                     dt.date(2027, 2, 1), authserv_id="mx.pioniers.test", post_address="nieuws@pioniers.test",
                     bounce_address="bounces@pioniers.test", organisers=frozenset({"jan@schiedam.nl"}))


def run_case(name: str) -> dict[str, object]:
    from inbox.decide import decide
    from inbox.message import parse_message
    raw = CASES[name]()
    ctx = context()
    started = time.perf_counter()
    msg = parse_message(raw)
    parsed = time.perf_counter()
    decision = decide(msg, ctx)
    decided = time.perf_counter()
    return {"case": name, "bytes": len(raw), "parse": parsed - started, "decide": decided - parsed,
            "action": decision.action, "reason": decision.reason[:60]}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.hostile", description=__doc__)
    parser.add_argument("--timeout", type=float, default=120, help="seconds before a case counts as hanging")
    parser.add_argument("--only", help="comma-separated case names (substrings)")
    parser.add_argument("--case", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        print(json.dumps(run_case(args.case)))
        return 0
    names = [n for n in CASES if not args.only or any(o.strip().lower() in n.lower() for o in args.only.split(","))]
    print("| case | MB | parse s | decide s | total s | outcome |")
    print("|---|---:|---:|---:|---:|---|")
    worst = 0.0
    for name in names:
        try:
            done = subprocess.run([sys.executable, "-m", "bench.hostile", "--case", name], capture_output=True,
                                  text=True, timeout=args.timeout, check=False)
        except subprocess.TimeoutExpired:
            print(f"| {name} | | | | > {args.timeout:.0f} | hangs |", flush=True)
            worst = max(worst, args.timeout)
            continue
        if done.returncode:
            error = (done.stderr.strip().splitlines() or ["?"])[-1][:80]
            print(f"| {name} | | | | | raised: {error} |", flush=True)
            continue
        row = json.loads(done.stdout)
        total = row["parse"] + row["decide"]
        worst = max(worst, total)
        print(f"| {name} | {row['bytes'] / MB:.1f} | {row['parse']:.3f} | {row['decide']:.3f} | {total:.3f} "
              f"| {row['action']}: {row['reason']} |", flush=True)
    print(f"\nworst: {worst:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
