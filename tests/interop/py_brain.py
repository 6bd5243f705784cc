"""The brain's tools (issue 7) through the Python MCP SDK's own client over Streamable HTTP,
with the static bearer token in a header: annotations in tools/list, update and history,
since/until, duplicate detection, list_tags, tags_any/tags_all, snippets and length, and the
16 KiB byte budget with cursors (search, list_notes) and offsets (recall, fetch). The SDK validates
every structuredContent against the tool's outputSchema.

Usage: py_brain.py legacy|auto
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import uuid
import warnings

from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning

from interop_common import MCP_URL, TOOLS, check, log, log_request_hook, main, result_json

MODE = sys.argv[1] if len(sys.argv) > 1 else ""
if MODE not in ("legacy", "auto"):
    sys.exit(__doc__)
TOKEN = os.environ["BRAIN_MCP_TOKEN"]
BUDGET = 16 * 1024
ANNOTATIONS = {  # name: (readOnly, destructive, idempotent)
    "remember": (False, False, True),
    "update": (False, False, True),
    "search": (True, False, True),
    "recall": (True, False, True),
    "fetch": (True, False, True),
    "forget": (False, True, True),
    "list_notes": (True, False, True),
    "list_tags": (True, False, True),
    "list_spaces": (True, False, True),
}


def size(r) -> int:
    text = r.content[0].text if r.content else ""
    return len(json.dumps(text, ensure_ascii=False).encode()) + len(
        json.dumps(r.structured_content, ensure_ascii=False, separators=(",", ":")).encode()
    )


async def run() -> None:
    warnings.simplefilter("error", MCPDeprecationWarning)
    u = uuid.uuid4().hex[:10]
    tag, tx, ty, big = f"pb-{u}", f"pbx-{u}", f"pby-{u}", f"pbbig-{u}"
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {TOKEN}"})
    http.event_hooks["response"].append(log_request_hook("py-brain"))
    async with http:
        async with Client(streamable_http_client(MCP_URL, http_client=http), mode=MODE) as client:

            async def ok(tool: str, args: dict):
                r = await client.call_tool(tool, args)
                check(not r.is_error, f"{tool} {args} failed: {r}")
                check(size(r) <= BUDGET, f"{tool} answer is {size(r)} bytes, over the budget")
                return r, result_json(r)

            async def fails(tool: str, args: dict, want: str) -> None:
                r = await client.call_tool(tool, args)
                text = r.content[0].text if r.content else ""
                check(r.is_error and want in text, f"{tool} {args}: expected an error with {want!r}, got {r}")

            # tools/list: every tool, with annotations.
            tools = (await client.list_tools()).tools
            check({t.name for t in tools} == TOOLS, f"tools/list gave {sorted(t.name for t in tools)}")
            for t in tools:
                a = t.annotations
                check(a is not None, f"{t.name} has no annotations")
                got = (a.read_only_hint, a.destructive_hint, a.idempotent_hint)
                check(got == ANNOTATIONS[t.name], f"{t.name} annotations {got}")
                check(a.open_world_hint is False and a.title == t.title and a.title, f"{t.name} annotations {a}")
            log("[py-brain] tools/list: annotations ok")

            # Duplicates.
            _, a = await ok("remember", {"text": f"The {u} cat is called Tom", "tags": [tag, tx]})
            check(a["duplicate"] is False, f"first remember says duplicate: {a}")
            _, d = await ok("remember", {"text": f"  The {u} cat\n is called   Tom ", "tags": [tx.upper(), tag]})
            check(d["duplicate"] is True and d["id"] == a["id"], f"retry was not a duplicate: {d}")
            # Update and history.
            _, upd = await ok("update", {"id": a["id"], "text": f"The {u} cat is called Tim"})
            check(upd["changed"] is True and upd["created_at"] == a["created_at"], f"update: {upd}")
            _, same = await ok("update", {"id": a["id"], "text": f"The {u} cat is called Tim"})
            check(same["changed"] is False, f"a repeated update changed something: {same}")
            _, rec = await ok("recall", {"id": a["id"], "history": True})
            check(rec["text"] == f"The {u} cat is called Tim" and rec["versions"] == 2, f"recall: {rec}")
            check([h["text"] for h in rec["history"]] == [f"The {u} cat is called Tom"], f"history: {rec}")
            check(rec["history"][0]["updated_at"] == a["created_at"], f"history time: {rec}")
            _, v1 = await ok("recall", {"id": a["id"], "version": 1})
            check(v1["text"] == f"The {u} cat is called Tom", f"version 1: {v1}")
            log("[py-brain] duplicates, update, history ok")

            # Tags: tags_all / tags_any / list_tags.
            await ok("remember", {"text": f"The {u} dog is called Rex", "tags": [tag, ty]})
            await ok("remember", {"text": f"The {u} fish has no name", "tags": [tag]})
            _, r = await ok("search", {"query": u, "tags_all": [tag, tx]})
            check([h["id"] for h in r["results"]] == [a["id"]], f"tags_all: {r}")
            _, r = await ok("list_notes", {"tags_any": [tx, ty]})
            check(len(r["notes"]) == 2, f"tags_any: {r}")
            _, r = await ok("list_notes", {"tag": tag, "tags_any": [ty, "nope-" + u]})
            check(len(r["notes"]) == 1 and "dog" in r["notes"][0]["text"], f"tag + tags_any: {r}")
            _, r = await ok("list_tags", {})
            counts = {t["tag"]: t["count"] for t in r["tags"]}
            check(counts.get(tag) == 3 and counts.get(tx) == 1, f"list_tags: {r}")
            await fails("search", {"query": u, "tags_any": ["not a tag"]}, "`tags_any`: tag \"not a tag\"")
            await fails("list_notes", {"tags_all": "x"}, "must be an array of tags")
            log("[py-brain] tag filters and list_tags ok")

            # Time: since / until on created_at; a date as until means the end of that day.
            created = dt.datetime.fromisoformat(a["created_at"].replace("Z", "+00:00"))
            day = created.date()
            for args, n in [
                ({"since": a["created_at"]}, 3),
                ({"since": str(day)}, 3),
                ({"until": str(day)}, 3),
                ({"until": str(day - dt.timedelta(days=1))}, 0),
                ({"since": str(day + dt.timedelta(days=1))}, 0),
            ]:
                _, r = await ok("list_notes", {"tag": tag, **args})
                check(len(r["notes"]) == n, f"list_notes {args}: {len(r['notes'])} notes, expected {n}")
                _, r = await ok("search", {"query": u, "tag": tag, **args})
                check(len(r["results"]) == n, f"search {args}: {len(r['results'])} results, expected {n}")
            for n in r["results"] or []:
                check("created_at" in n and "updated_at" in n, f"no times: {n}")
            await fails("search", {"query": u, "since": "yesterday"}, "`since` must be an RFC 3339 time")
            log("[py-brain] since/until ok")

            # Snippets and length.
            long_text = ("filler words here. " * 100) + f"the {u}needle is here. " + ("more filler. " * 100)
            _, n = await ok("remember", {"text": long_text, "tags": [tag]})
            _, r = await ok("search", {"query": f"{u}needle"})
            hit = r["results"][0]
            check(hit["id"] == n["id"] and "text" not in hit, f"search hit: {hit}")
            check(f"**{u}needle**" in hit["snippet"] and len(hit["snippet"]) <= 320, f"snippet: {hit['snippet']}")
            check(hit["length"] == len(long_text), f"length {hit['length']} != {len(long_text)}")
            log("[py-brain] snippets ok")

            # Search syntax: typos, prefixes, word forms, phrases, exclusions, accents.
            ts = f"pbs-{u}"
            _, bread = await ok("remember", {"text": "Sourdough bread recipe: rye flour, long proof", "tags": [ts]})
            _, pud = await ok("remember", {"text": "Bread and butter pudding for Sunday, no rye", "tags": [ts]})
            _, rest = await ok("remember", {"text": "Booked the Italian restaurant for Friday", "tags": [ts]})
            _, cafe = await ok("remember", {"text": "Lunch at Café Zoë with Anna", "tags": [ts]})
            for query, want in [
                ("resturant", [rest["id"]]),  # one typo in a word of five letters or more
                ("sourd", [bread["id"]]),  # a prefix of the last word, as it is typed
                ("recipes", [bread["id"]]),  # another form of the word
                ('"bread recipe"', [bread["id"]]),  # a phrase: the words in that order
                ("bread -pudding", [bread["id"]]),  # an exclusion
                ("cafe zoe", [cafe["id"]]),  # case and accents
            ]:
                _, r = await ok("search", {"query": query, "tag": ts})
                got = [h["id"] for h in r["results"]]
                check(got == want, f"search {query!r}: {got}, expected {want}")
            _, r = await ok("search", {"query": "bread", "tag": ts})
            check({h["id"] for h in r["results"]} == {bread["id"], pud["id"]}, f"search 'bread': {r}")
            log("[py-brain] search syntax ok")

            # Byte budget: 40 notes of ~1500 characters page with cursors.
            ids = []
            for i in range(40):
                _, r = await ok("remember", {"text": f"{u}bulk {i} " + ("lorem ipsum é " * 110), "tags": [big]})
                ids.append(r["id"])
            for tool, args, key in [
                ("list_notes", {"tags_all": [big], "limit": 50}, "notes"),
                ("search", {"query": f"{u}bulk", "limit": 50}, "results"),
            ]:
                seen, cursor, pages = [], None, 0
                while True:
                    res, r = await ok(tool, {**args, **({"cursor": cursor} if cursor else {})})
                    pages += 1
                    seen += [x["id"] for x in r[key]]
                    cursor = r["next_cursor"]
                    if cursor is None:
                        break
                    check(f'call {tool} with the same' in res.content[0].text and cursor in res.content[0].text,
                          f"{tool} text does not say how to continue: {res.content[0].text[-300:]}")
                check(pages >= 3, f"{tool}: only {pages} pages")
                check(sorted(seen) == sorted(ids) and len(set(seen)) == 40, f"{tool}: {len(seen)} ids over {pages} pages")
                if tool == "list_notes":
                    check(seen == ids[::-1], "list_notes is not newest first")
            # recall of a note longer than the budget: pages by offset.
            huge = "".join(f"line {i:05} of a long note\n" for i in range(2500))[:60000]
            _, h = await ok("remember", {"text": huge})
            got, offset, parts = "", 0, 0
            while offset is not None:
                res, r = await ok("recall", {"id": h["id"], "offset": offset})
                got += r["text"]
                parts += 1
                check(r["length"] == len(huge), f"length {r['length']}")
                offset = r["next_offset"]
                if offset is not None:
                    check(f'offset={offset}' in res.content[0].text, "recall text does not say how to continue")
            check(got == huge and parts >= 4, f"recall pages: {parts}, equal={got == huge}")
            # fetch pages the same note by the same rule.
            got, offset, fparts = "", 0, 0
            while offset is not None:
                res, r = await ok("fetch", {"id": h["id"], "offset": offset})
                got += r["text"]
                fparts += 1
                check(r["title"] == "line 00000 of a long note" and r["length"] == len(huge), f"fetch: {r['title']!r}")
                offset = r["next_offset"]
                if offset is not None:
                    check(f'call fetch with id="{h["id"]}" and offset={offset}' in res.content[0].text,
                          "fetch text does not say how to continue")
            check(got == huge and fparts >= 4, f"fetch pages: {fparts}, equal={got == huge}")
            await fails("fetch", {"id": "n_nosuch"}, 'no note has id "n_nosuch"')
            log(f"[py-brain] byte budget ok (recall and fetch in {parts} pages)")


main(run)
