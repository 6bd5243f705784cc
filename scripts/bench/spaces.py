#!/usr/bin/env python3
"""Search with and without a space filter (issue 12), against the brain before spaces existed.

Usage: spaces.py --old OLD_BIN [--bin BIN] [--notes 10000,100000] [--rounds 3] [--queries 400]

For each store size N: the N-note log of gen_notes.py (no spaces: what both binaries read),
and a copy where every fourth note lives in the space "work" (the rest in `main`), which
only the new binary reads. On one keep-alive connection, one request at a time, the same
mix of one- to three-word queries as scale.py (limit 10):

  old, no filter             OLD_BIN on the log without spaces (today's figures)
  new, no filter             BIN on the same log
  new, spaces, no filter     BIN on the log with spaces
  new, spaces=["work"]       the same, only the quarter of the notes in "work"
  new, spaces=["main"]       the same, the other three quarters

Rounds alternate old and new, so a change in the machine's load hits both; the table gives
the median over rounds of each run's p50 and p99, and the ratio to "old, no filter".
Needs python3 and both binaries; every server it starts is stopped.
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_notes  # noqa: E402
import scale  # noqa: E402


def with_spaces(src, dst):
    os.makedirs(os.path.dirname(dst), mode=0o700, exist_ok=True)
    with open(src, "rb") as f, open(dst, "wb") as out:
        for i, line in enumerate(f):
            if i % 4 == 0:
                # `space` comes right after `updated_at`, as the server writes it.
                line = line.rstrip(b"\n")[:-1] + b',"space":"work"}\n'
            out.write(line)


def run(binary, log, queries, extra):
    data = tempfile.mkdtemp(prefix="brain-spaces-data.")
    try:
        shutil.copy(log, os.path.join(data, "notes.jsonl"))
        s = scale.Server(binary, data)
        try:
            s.settle()
            scale.timed_calls(s.port, [scale.tool_body(0, "search", {"query": "budget meeting"})])
            times = scale.timed_calls(s.port, [
                scale.tool_body(i, "search", dict({"query": q, "limit": 10}, **extra))
                for i, q in enumerate(queries)])
            return scale.pct(times, 50), scale.pct(times, 99)
        finally:
            s.stop()
    finally:
        shutil.rmtree(data, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(
        scale.ROOT, "target/x86_64-unknown-linux-musl/release/brain-mcp"))
    ap.add_argument("--old", required=True)
    ap.add_argument("--notes", default="10000,100000")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--queries", type=int, default=400)
    args = ap.parse_args()
    rng = random.Random(7)
    top = gen_notes.vocabulary(random.Random(20260101))[:600]
    queries = [" ".join(rng.choice(top) for _ in range(rng.randint(1, 3)))
               for _ in range(args.queries)]
    tmp = tempfile.mkdtemp(prefix="brain-spaces.")
    rows = []
    try:
        for n in [int(x) for x in args.notes.split(",")]:
            plain = os.path.join(tmp, f"n{n}", "notes.jsonl")
            subprocess.run([sys.executable, os.path.join(HERE, "gen_notes.py"), str(n),
                            os.path.dirname(plain)], check=True)
            spaced = os.path.join(tmp, f"s{n}", "notes.jsonl")
            with_spaces(plain, spaced)
            runs = [("old, no filter", args.old, plain, {}),
                    ("new, no filter", args.bin, plain, {}),
                    ("new, spaces, no filter", args.bin, spaced, {}),
                    ("new, spaces=[\"work\"]", args.bin, spaced, {"spaces": ["work"]}),
                    ("new, spaces=[\"main\"]", args.bin, spaced, {"spaces": ["main"]})]
            got = {name: [] for name, *_ in runs}
            for r in range(args.rounds):
                for name, binary, log, extra in runs:
                    print(f"spaces: {n} notes, round {r + 1}: {name}", file=sys.stderr, flush=True)
                    got[name].append(run(binary, log, queries, extra))
            base = None
            for name, *_ in runs:
                p50 = statistics.median(x[0] for x in got[name])
                p99 = statistics.median(x[1] for x in got[name])
                base = base or (p50, p99)
                rows.append((n, name, p50, p99, p50 / base[0], p99 / base[1]))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\nload average at the end: {open('/proc/loadavg').read().split()[:3]}\n")
    print("| notes | run | search p50 | search p99 | p50 vs old | p99 vs old |")
    print("|---|---|---|---|---|---|")
    for n, name, p50, p99, r50, r99 in rows:
        print(f"| {n:,} | {name} | {p50:.2f} ms | {p99:.2f} ms | {r50:.2f}x | {r99:.2f}x |")


if __name__ == "__main__":
    main()
