#!/usr/bin/env python3
"""Start-up time: from spawn to the first answered GET /healthz (status 200).

Usage: startup.py PORT RUNS -- COMMAND [ARGS...]   (environment is passed through)

Each run spawns COMMAND, then connects to 127.0.0.1:PORT every 0.2 ms and sends
GET /healthz until one answers 200, then reads VmRSS of the process (idle memory right
after start-up, after a 0.5 s settle), sends SIGTERM and waits. Prints one line:
STARTUP median_ms=... min_ms=... max_ms=... rss_kb=... (rss of the last run)
"""
import os
import signal
import socket
import statistics
import subprocess
import sys
import time


def healthz(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                      b"Connection: close\r\n\r\n" % port)
            head = s.recv(64)
            return head.startswith(b"HTTP/1.1 200")
    except OSError:
        return False


def rss_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def main():
    # SIGTERM (bench.sh's clean-up) must still stop the server this script spawned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    port, runs = int(sys.argv[1]), int(sys.argv[2])
    cmd = sys.argv[sys.argv.index("--") + 1:]
    times, rss = [], 0
    for _ in range(runs):
        t0 = time.perf_counter()
        p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = t0 + 60
            while not healthz(port):
                if p.poll() is not None or time.perf_counter() > deadline:
                    print("STARTUP failed: the server exited or never answered", flush=True)
                    sys.exit(1)
                time.sleep(0.0002)
            times.append((time.perf_counter() - t0) * 1000)
            time.sleep(0.5)
            rss = rss_kb(p.pid)
        finally:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    print(f"STARTUP median_ms={statistics.median(times):.1f} min_ms={min(times):.1f} "
          f"max_ms={max(times):.1f} rss_kb={rss}", flush=True)


if __name__ == "__main__":
    main()
