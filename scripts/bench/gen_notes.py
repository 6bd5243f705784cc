#!/usr/bin/env python3
"""Writes a brain-mcp note log (notes.jsonl) of N notes, deterministically, fast.

Usage: gen_notes.py N OUT_DIR

The records have exactly the shape src/brain/log.rs writes:
{"op":"put","seq":1,"id":"n_...","text":"...","tags":[...],"created_at":"...","updated_at":"..."}
Texts are 8 to 40 words drawn Zipf-like from a 3,000-word vocabulary (120 everyday words
first, so the bench query "budget meeting" matches a realistic share of notes).
The peers load the same file, so every server searches the same 10,000 texts.
"""
import itertools
import json
import os
import random
import sys
from datetime import datetime, timedelta, timezone

COMMON = (
    "the a to of and in for on with at is was it this that from by be as are we "
    "meeting budget project deadline client invoice team review design plan release "
    "bug fix server database backup deploy migrate test report call email lunch "
    "dentist doctor gym run bike train flight hotel trip passport visa ticket "
    "book read idea note recipe pasta coffee tea milk bread groceries rent bill "
    "insurance tax bank loan car garage tyre oil garden tomato roses water paint "
    "birthday gift anniversary party wedding kids school homework piano football "
    "password wifi router laptop phone charger printer keyboard monitor cable "
    "quarterly roadmap hiring interview salary contract lawyer notary landlord "
    "meeting budget"
).split()
ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"
TAGS = ["work", "home", "health", "travel", "finance", "family", "ideas", "shopping"]


def vocabulary(rng):
    syll = ["ka", "lo", "mi", "nu", "re", "sa", "to", "vi", "ze", "pa", "qu", "br",
            "st", "an", "el", "or", "ix", "um", "ad", "en"]
    words = list(dict.fromkeys(COMMON))
    seen = set(words)
    while len(words) < 3000:
        w = "".join(rng.choice(syll) for _ in range(rng.randint(2, 4)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def note_id(seq):
    v = (seq * 0x9E3779B97F4A7C15) & ((1 << 64) - 1)
    out = []
    for _ in range(12):
        out.append(ALPHABET[v & 31])
        v >>= 5
    return "n_" + "".join(out)


def main():
    n = int(sys.argv[1])
    out_dir = sys.argv[2]
    os.makedirs(out_dir, mode=0o700, exist_ok=True)
    rng = random.Random(20260101)
    words = vocabulary(rng)
    weights = [1.0 / (i + 1) ** 0.9 for i in range(len(words))]
    cum = list(itertools.accumulate(weights))
    start = datetime(2025, 1, 1, tzinfo=timezone.utc)
    with open(os.path.join(out_dir, "notes.jsonl"), "w", encoding="utf-8") as f:
        for seq in range(1, n + 1):
            k = rng.randint(8, 40)
            text = " ".join(rng.choices(words, cum_weights=cum, k=k)).capitalize() + "."
            tags = sorted(set(rng.sample(TAGS, rng.randint(0, 2))))
            t = (start + timedelta(seconds=seq * 37)).strftime("%Y-%m-%dT%H:%M:%SZ")
            rec = {"op": "put", "seq": seq, "id": note_id(seq), "text": text,
                   "tags": tags, "created_at": t, "updated_at": t}
            f.write(json.dumps(rec, ensure_ascii=False, separators=(",", ":")) + "\n")


if __name__ == "__main__":
    main()
