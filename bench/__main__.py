"""`python -m bench [--quick] [--only fanout|inbound|latency]`: run the benchmarks, write bench/RESULTS.md.

Real servers only: a private Dovecot (IMAP), Postfix's smtp-sink as the receiving SMTP server and
smtp-source as the ceiling beside it, SQLite and a private PostgreSQL database (127.0.0.1:5432).
"""
from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import cases
from bench.servers import Dovecot

HERE = Path(__file__).resolve().parent


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="a small smoke run (1,000 members / registrations)")
    parser.add_argument("--only", choices=("fanout", "inbound", "latency"), action="append")
    parser.add_argument("--sizes", help="fan-out list sizes, comma-separated (default 10000,100000)")
    parser.add_argument("--out", default=str(HERE / "RESULTS.md"), help="where to write the Markdown table")
    args = parser.parse_args()
    only = set(args.only or ("fanout", "inbound", "latency"))
    sizes = [1000] if args.quick else [10_000, 100_000]
    if args.sizes:
        sizes = [int(x) for x in args.sizes.split(",")]
    burst = 1000 if args.quick else 10_000
    probes = 20 if args.quick else 200
    base = Path(tempfile.mkdtemp(prefix="pioniers-bench-"))
    lines: list[str] = []
    started = time.perf_counter()

    def report(line: str) -> None:
        print(f"[{time.perf_counter() - started:6.0f} s] {line}", flush=True)

    fan, inb, lat = [], [], None
    try:
        if "fanout" in only:
            fan = cases.fanout(base, sizes, report)
        if only & {"inbound", "latency"}:
            with Dovecot(base / "dovecot") as dovecot:
                if "inbound" in only:
                    inb = cases.inbound(base, dovecot, burst, report)
                if "latency" in only:
                    lat = cases.latency(base, dovecot, probes, report)
    finally:
        if os.environ.get("BENCH_KEEP"):
            print(f"kept {base}")
        else:
            shutil.rmtree(base, ignore_errors=True)

    lines += [f"# Benchmark results{' (quick run)' if args.quick else ''}", "",
              f"{dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z} - {os.cpu_count()} cores "
              f"({platform.processor() or platform.machine()}), Python {platform.python_version()}, "
              f"{platform.system()} {platform.release()}. Command: `python -m bench{' --quick' if args.quick else ''}`"
              f" ({time.perf_counter() - started:.0f} s).", "",
              "Servers: Dovecot (IMAP), Postfix `smtp-sink` (receiving SMTP, every transaction dumped to tmpfs so "
              "each recipient is counted), Postfix `smtp-source` as the ceiling on the same sink, PostgreSQL on "
              "127.0.0.1, all on this machine. Every row was checked: see the last column.", ""]
    if fan:
        lines += ["## 1. Fan-out: one personalised announcement", "",
                  "Rate: members / (approval to the last row marked sent). Ceiling: `smtp-source -s 4 -m N -l SIZE` "
                  "(4 sessions, a new connection per message, as the issue's reference) and with `-d` (connections "
                  "reused), into the same sink right after our run.", "",
                  "| database | workers | members | wall s | messages/s | peak RSS MB | msg bytes | smtp-source -s 4 /s "
                  "| ratio | smtp-source -s 4 -d /s | ratio | check |",
                  "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
        for r in fan:
            lines.append(f"| {r.database} | {r.workers} | {r.members:,} | {r.seconds:.1f} | **{r.rate:,.0f}** | "
                         f"{r.peak_rss_mb:.0f} | {r.size:,} | {r.ceiling:,.0f} | **{r.rate / r.ceiling:.2f}** | "
                         f"{r.ceiling_reuse:,.0f} | {r.rate / r.ceiling_reuse:.2f} | {r.checked} |")
        lines.append("")
    if inb:
        lines += ["## 2. Inbound burst: registrations appended to Dovecot, then `pioniers poll --once`", "",
                  "Time: the whole `poll --once` process (start-up included) until it exits with every person "
                  "registered and every reply accepted by the sink. Places: a meeting with room for everyone "
                  "(each gets a confirmation with invite), and one with "
                  f"{cases.FULL_MEETING} places (the rest get their place on the waiting list).", "",
                  "| database | registrations | places | seconds | registrations/s | peak RSS MB | check |",
                  "|---|---:|---:|---:|---:|---:|---|"]
        for r in inb:
            lines.append(f"| {r.database} | {r.registrations:,} | {r.capacity or 'all'} | {r.seconds:.1f} | "
                         f"**{r.rate:,.0f}** | {r.peak_rss_mb:.0f} | {r.checked} |")
        lines.append("")
    if lat:
        lines += ["## 3. Latency: `pioniers run` idle on IMAP IDLE, registrations appended one at a time", "",
                  "From the start of the IMAP APPEND to the confirmation's recipient appearing in the sink's dump.", "",
                  "| database | registrations | p50 ms | p95 ms | max ms | check |", "|---|---:|---:|---:|---:|---|",
                  f"| {lat.database} | {lat.registrations} | **{lat.p50 * 1000:.0f}** | **{lat.p95 * 1000:.0f}** | "
                  f"{lat.max * 1000:.0f} | {lat.checked} |", ""]
    out = Path(args.out)
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
