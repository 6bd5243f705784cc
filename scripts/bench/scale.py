#!/usr/bin/env python3
"""The brain at scale: start-up, memory and latency of the real binary over large stores.

Usage: scale.py [--bin BIN] [--notes 10000,100000,1000000] [--data DIR] [--quick]
(--quick, or BENCH_SCALE_QUICK=1 as scripts/bench.sh --quick sets it: 10,000 and 100,000 notes
unless --notes says otherwise, 1 s of wrk, fewer calls, 2 warm starts)

For each store size N it writes an N-note log with gen_notes.py (kept in --data DIR and reused
when given, else in a temp dir), then, on a fresh copy of that log:

1. cold start: spawns `BIN serve` and times spawn to the first `GET /healthz` 200 (the log is
   all there is: a first start, or a start after the snapshot was lost or went stale);
2. waits until the server has been idle (no CPU time used) for 1 s: whatever it does after
   answering, such as writing its snapshot, is over; then reads VmRSS;
3. warm starts: stops it (SIGTERM) and starts it again RUNS times on the same directory,
   timing each (median reported), then VmRSS of the last one once idle;
4. search latency on one connection: `wrk -t1 -c1` with the query "budget meeting" (limit 10,
   a broad query: about a fifth of the notes match it), after one unmeasured search; and a
   mix of 400 one- to three-word queries drawn from the generator's vocabulary, sent one at a
   time on one keep-alive connection;
5. remember latency with fsync: 200 `remember` calls one after another on one connection,
   each a new note (each answer waits for its fsync);
6. VmRSS once idle again, and VmHWM (the peak over the whole run).

Prints one markdown table, with the floors of issue 15 for the largest store. Needs python3,
wrk (apt-get install wrk), and the binary (default: the static build of
scripts/build-static.sh). Every server it starts is stopped; the temp dir is removed.
"""
import argparse
import http.client
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import gen_notes  # noqa: E402  (the vocabulary of the generated notes)

TOKEN = "bench_static_token_0123456789abcdefghijklmnop"
HEADERS = {
    "Authorization": f"Bearer {TOKEN}",
    "Content-Type": "application/json",
    "Accept": "application/json, text/event-stream",
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def healthz(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        rest = f.read().rsplit(")", 1)[1].split()
    return int(rest[11]) + int(rest[12])


class Server:
    def __init__(self, binary, data_dir):
        self.port = free_port()
        env = dict(os.environ, BRAIN_MCP_TOKEN=TOKEN, BRAIN_DATA_DIR=data_dir,
                   LISTEN_ADDR=f"127.0.0.1:{self.port}")
        t0 = time.perf_counter()
        self.p = subprocess.Popen([binary, "serve"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = t0 + 300
        while not healthz(self.port):
            if self.p.poll() is not None or time.perf_counter() > deadline:
                raise SystemExit(f"scale: the server exited or never answered ({data_dir})")
            time.sleep(0.0002)
        self.startup_ms = (time.perf_counter() - t0) * 1000

    def settle(self, quiet_s=1.0, limit_s=300):
        """Waits until the process used no CPU for quiet_s (its background work is done)."""
        end = time.time() + limit_s
        last, since = cpu_ticks(self.p.pid), time.time()
        while time.time() < end:
            time.sleep(0.1)
            now = cpu_ticks(self.p.pid)
            if now != last:
                last, since = now, time.time()
            elif time.time() - since >= quiet_s:
                return
        raise SystemExit("scale: the server never went idle")

    def rss_mb(self):
        return proc_status(self.p.pid, "VmRSS") / 1024

    def hwm_mb(self):
        return proc_status(self.p.pid, "VmHWM") / 1024

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        try:
            self.p.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.wait()


def tool_body(i, name, arguments):
    return json.dumps({"jsonrpc": "2.0", "id": i, "method": "tools/call",
                       "params": {"name": name, "arguments": arguments}})


def timed_calls(port, bodies):
    """Sends each body on one keep-alive connection; returns each call's time in ms."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    times = []
    for body in bodies:
        t = time.perf_counter()
        c.request("POST", "/mcp", body=body, headers=HEADERS)
        r = c.getresponse()
        data = r.read()
        times.append((time.perf_counter() - t) * 1000)
        if r.status != 200 or b'"isError":true' in data:
            raise SystemExit(f"scale: a call failed ({r.status}): {data[:300]!r}")
    c.close()
    return times


def pct(times, p):
    s = sorted(times)
    return s[min(len(s) - 1, int(len(s) * p / 100))]


def wrk_search(port, secs, tmp):
    body = os.path.join(tmp, "search.body")
    with open(body, "w") as f:
        f.write(tool_body(1, "search", {"query": "budget meeting", "limit": 10}))
    env = dict(os.environ, WRK_METHOD="POST", WRK_BODY_FILE=body, WRK_CTYPE="application/json",
               WRK_AUTH=HEADERS["Authorization"], WRK_ACCEPT=HEADERS["Accept"])
    out = subprocess.run(["wrk", "-t1", "-c1", f"-d{secs}s", "--timeout", "5s", "-s",
                          os.path.join(HERE, "req.lua"), f"http://127.0.0.1:{port}/mcp"],
                         env=env, capture_output=True, text=True).stdout
    line = next((ln for ln in out.splitlines() if ln.startswith("RESULT")), None)
    if line is None or "non2xx=0 errors=0" not in line:
        raise SystemExit(f"scale: wrk failed: {out}")
    kv = dict(x.split("=") for x in line.split()[1:])
    return float(kv["p50_ms"]), float(kv["p99_ms"]), int(kv["rps"])


def bench(binary, n, log_path, tmp, args):
    data = os.path.join(tmp, f"store{n}")
    shutil.rmtree(data, ignore_errors=True)
    os.makedirs(data, mode=0o700)
    shutil.copy(log_path, os.path.join(data, "notes.jsonl"))
    r = {"notes": n, "log_mb": os.path.getsize(log_path) / 1e6}

    s = Server(binary, data)
    r["cold_ms"] = s.startup_ms
    s.settle()
    r["cold_rss"] = s.rss_mb()
    s.stop()
    warm = []
    for i in range(args.runs):
        s = Server(binary, data)
        warm.append(s.startup_ms)
        if i + 1 < args.runs:
            s.stop()
    r["warm_ms"] = statistics.median(warm)
    s.settle()
    r["idle_rss"] = s.rss_mb()
    r["files_mb"] = sum(os.path.getsize(os.path.join(data, f)) for f in os.listdir(data)
                        if os.path.isfile(os.path.join(data, f))) / 1e6

    timed_calls(s.port, [tool_body(0, "search", {"query": "budget meeting"})])
    r["wrk_p50"], r["wrk_p99"], r["wrk_rps"] = wrk_search(s.port, args.secs, tmp)
    rng = random.Random(7)
    words = gen_notes.vocabulary(random.Random(20260101))
    top = words[:600]  # common and mid-frequency words; rarer ones mostly match nothing
    queries = [" ".join(rng.choice(top) for _ in range(rng.randint(1, 3)))
               for _ in range(args.queries)]
    times = timed_calls(s.port, [tool_body(i, "search", {"query": q, "limit": 10})
                                 for i, q in enumerate(queries)])
    r["mix_p50"], r["mix_p99"] = pct(times, 50), pct(times, 99)

    texts = [f"scale bench note {i} {rng.random()} " + " ".join(rng.choices(top, k=20))
             for i in range(args.remembers)]
    times = timed_calls(s.port, [tool_body(i, "remember", {"text": t})
                                 for i, t in enumerate(texts)])
    r["rem_p50"], r["rem_p99"] = pct(times, 50), pct(times, 99)
    s.settle()
    r["after_rss"] = s.rss_mb()
    r["hwm"] = s.hwm_mb()
    s.stop()
    shutil.rmtree(data, ignore_errors=True)
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.path.join(
        ROOT, "target/x86_64-unknown-linux-musl/release/brain-mcp"))
    ap.add_argument("--notes")
    ap.add_argument("--data", help="directory for the generated logs (kept and reused)")
    ap.add_argument("--quick", action="store_true", help="1 s wrk, fewer calls, 2 warm starts")
    args = ap.parse_args()
    args.quick = args.quick or os.environ.get("BENCH_SCALE_QUICK") == "1"
    if args.notes is None:
        args.notes = "10000,100000" if args.quick else "10000,100000,1000000"
    args.runs, args.secs, args.queries, args.remembers = (2, 1, 100, 50) if args.quick \
        else (5, 5, 400, 200)
    if shutil.which("wrk") is None:
        raise SystemExit("scale: wrk is needed (apt-get install -y wrk)")
    if not os.access(args.bin, os.X_OK):
        raise SystemExit(f"scale: {args.bin} is missing (scripts/build-static.sh)")
    sizes = [int(x) for x in args.notes.split(",")]
    tmp = tempfile.mkdtemp(prefix="brain-scale.")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    rows = []
    try:
        gen_dir = args.data or tmp
        for n in sizes:
            log = os.path.join(gen_dir, f"n{n}", "notes.jsonl")
            if not os.path.exists(log):
                print(f"scale: writing {n} notes", file=sys.stderr, flush=True)
                subprocess.run([sys.executable, os.path.join(HERE, "gen_notes.py"), str(n),
                                os.path.dirname(log)], check=True)
            print(f"scale: {n} notes", file=sys.stderr, flush=True)
            rows.append(bench(args.bin, n, log, tmp, args))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo")
                if ln.startswith("model name")), "?")
    print(f"\n## the brain at scale ({time.strftime('%Y-%m-%dT%H:%MZ', time.gmtime())}, "
          f"{os.cpu_count()} cores, {cpu}, {os.path.basename(args.bin)})\n")
    print(f"load average at the end: {open('/proc/loadavg').read().split()[:3]}\n")
    cols = [("notes", "{:,}", "notes"), ("log", "{:.0f} MB", "log_mb"),
            ("files after", "{:.0f} MB", "files_mb"),
            ("cold start", "{:.0f} ms", "cold_ms"), ("warm start (median)", "{:.0f} ms", "warm_ms"),
            ("idle RSS after cold", "{:.1f} MB", "cold_rss"), ("idle RSS", "{:.1f} MB", "idle_rss"),
            ("search p50 / p99 (budget meeting)", "{} / {} ms", ("wrk_p50", "wrk_p99")),
            ("search p50 / p99 (mix)", "{:.2f} / {:.2f} ms", ("mix_p50", "mix_p99")),
            ("remember p50 / p99", "{:.2f} / {:.2f} ms", ("rem_p50", "rem_p99")),
            ("RSS after / peak", "{:.1f} / {:.1f} MB", ("after_rss", "hwm"))]
    print("| " + " | ".join(c[0] for c in cols) + " |")
    print("|" + "---|" * len(cols))
    for r in rows:
        cells = []
        for _, fmt, key in cols:
            cells.append(fmt.format(*[r[k] for k in key]) if isinstance(key, tuple)
                         else fmt.format(r[key]))
        print("| " + " | ".join(cells) + " |")
    big = max(rows, key=lambda r: r["notes"])
    if big["notes"] >= 1_000_000:
        print("\nfloors (issue 15, 1,000,000 notes):")
        for label, ok, detail in [
            ("start-up < 3 s (with its snapshot)", big["warm_ms"] < 3000, f"{big['warm_ms']:.0f} ms"),
            ("search p99 < 20 ms, one connection", max(big["wrk_p99"], big["mix_p99"]) < 20,
             f"{big['wrk_p99']} ms budget meeting, {big['mix_p99']:.2f} ms mix"),
            ("memory < 600 MB", big["hwm"] < 600, f"peak {big['hwm']:.0f} MB"),
        ]:
            print(f"- {label}: {'MET' if ok else 'MISSED'} ({detail})")
    if any(r["notes"] == 10_000 for r in rows):
        r = next(r for r in rows if r["notes"] == 10_000)
        print(f"- idle memory < 8 MB with 10,000 notes: "
              f"{'MET' if r['idle_rss'] < 8 else 'MISSED'} ({r['idle_rss']:.1f} MB)")


if __name__ == "__main__":
    main()
