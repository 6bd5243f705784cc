#!/usr/bin/env python3
"""Time to first byte of the owner's pages, one request at a time on one keep-alive
connection, signed in as the owner (the sign-in form's token, then the password).

Usage: web_ttfb.py PORT PASSWORD RUNS NOTE_ID

For each page: RUNS requests after 3 unmeasured ones; the time from sending the request to
the status line and headers having arrived (http.client's getresponse, which returns once
they are read: the first bytes of the answer), and to the last byte. Prints a markdown table;
exits 1 if any answer was not 200.
"""
import http.client
import re
import statistics
import sys
import time
import urllib.parse


def pct(values, p):
    values = sorted(values)
    k = max(0, min(len(values) - 1, round(p / 100 * (len(values) - 1))))
    return values[k]


def main():
    port, password, runs, note = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", "/signin")
    page = conn.getresponse().read().decode()
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    body = urllib.parse.urlencode({"csrf": csrf, "password": password, "next": "/notes"})
    conn.request("POST", "/signin", body, {"Content-Type": "application/x-www-form-urlencoded"})
    r = conn.getresponse()
    r.read()
    if r.status != 303:
        sys.exit(f"sign-in answered {r.status}")
    cookie = r.getheader("Set-Cookie").split(";")[0]
    pages = [
        ("/ (landing)", "/"),
        ("/notes (newest 25 of 10,000)", "/notes"),
        ("/notes, page 40 (by cursor)", None),
        ("/notes?q=budget meeting", "/notes?q=budget+meeting"),
        ("/notes?q=budget meeting&tag=work&since=2025-01-01", "/notes?q=budget+meeting&tag=work&since=2025-01-01"),
        ("/notes?tag=travel", "/notes?tag=travel"),
        ("/notes/ID (6 versions, diff)", f"/notes/{note}"),
        ("/notes/ID/edit", f"/notes/{note}/edit"),
        ("/tags", "/tags"),
        ("/activity (latest 50 writes of 10,000)", "/activity"),
        ("/clients", "/clients"),
        ("/transfer", "/transfer"),
        ("/export (every note, a download)", "/export"),
    ]
    # Page 40 of the list: follow 39 "Next page" links once, then time that page.
    path = "/notes"
    for _ in range(39):
        conn.request("GET", path, headers={"Cookie": cookie})
        html = conn.getresponse().read().decode()
        nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1)
        path = nxt.replace("&amp;", "&")
    pages[2] = (pages[2][0], path)
    bad = 0
    print("| page | TTFB p50 | TTFB p99 | last byte p50 | bytes |")
    print("|---|---|---|---|---|")
    for label, path in pages:
        first, last, size = [], [], 0
        for i in range(runs + 3):
            t0 = time.perf_counter()
            conn.request("GET", path, headers={"Cookie": cookie})
            r = conn.getresponse()
            t1 = time.perf_counter()
            data = r.read()
            t2 = time.perf_counter()
            if r.status != 200:
                bad += 1
                print(f"{path}: {r.status}", file=sys.stderr)
            if i >= 3:
                first.append((t1 - t0) * 1000)
                last.append((t2 - t0) * 1000)
                size = len(data)
        print(f"| {label} | {statistics.median(first):.3f} ms | {pct(first, 99):.3f} ms | "
              f"{statistics.median(last):.3f} ms | {size:,} |")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
