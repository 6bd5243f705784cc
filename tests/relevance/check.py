#!/usr/bin/env python3
"""Checks the personal relevance set (tests/relevance/personal/): every id is unique, every
expected note exists, and every query marked "paraphrase" shares no content word with any
note it expects.

"Shares a content word" is deliberately strict, stricter than the engine: words are
lower-cased and accent-folded, stop words dropped, and two words count as shared when they
are equal, when one is a prefix of the other (4 letters or more), or when their first five
letters agree (so "running"/"runs" and "teacher"/"teaches" count as shared). A paraphrase
query therefore cannot be answered by the exact, prefix, stem or typo matching of today's
search except through stop words or by chance of a typo neighbour.

Run: python3 tests/relevance/check.py   (exit 1 and one line per problem if any)
"""
import json
import os
import re
import sys
import unicodedata

HERE = os.path.dirname(os.path.abspath(__file__))
STOP = set("""a an the and or but if of at by for with about against between into through
during before after above below to from up down in out on off over under again further then
once here there when where why how all any both each few more most other some such no nor not
only own same so than too very can will just don should now i me my myself we our ours
ourselves you your yours yourself he him his himself she her hers herself it its itself they
them their theirs themselves what which who whom this that these those am is are was were be
been being have has had having do does did doing would could ought i'm it's we're they're
don't can't won't isn't aren't wasn't didn't doesn't let s t d ll m o re ve y is get got go""".split())


def words(text):
    folded = unicodedata.normalize("NFKD", text.lower())
    folded = "".join(c for c in folded if not unicodedata.combining(c))
    return {w for w in re.findall(r"[a-z0-9]+", folded) if w not in STOP}


def shared(a, b):
    if a == b:
        return True
    short, long_ = sorted((a, b), key=len)
    if len(short) >= 4 and long_.startswith(short):
        return True
    return len(a) >= 5 and len(b) >= 5 and a[:5] == b[:5]


def main():
    problems = []
    notes = {}
    with open(os.path.join(HERE, "personal", "notes.jsonl"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            note = json.loads(line)
            if note["id"] in notes:
                problems.append(f"notes line {n}: duplicate id {note['id']}")
            notes[note["id"]] = note["text"] + " " + " ".join(note.get("tags", []))
    counts = {}
    with open(os.path.join(HERE, "personal", "queries.jsonl"), encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            q = json.loads(line)
            cat = q.get("category")
            counts[cat] = counts.get(cat, 0) + 1
            if cat not in ("lexical", "paraphrase"):
                problems.append(f"queries line {n}: category {cat!r}")
            for e in q["expect"]:
                if e not in notes:
                    problems.append(f"queries line {n}: no note {e}")
                elif cat == "paraphrase":
                    both = [
                        (a, b)
                        for a in words(q["query"])
                        for b in words(notes[e])
                        if shared(a, b)
                    ]
                    if both:
                        problems.append(f"queries line {n}: {q['query']!r} shares {both} with {e}")
    for p in problems:
        print(p)
    print(f"{len(notes)} notes, queries by category: {counts}, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
