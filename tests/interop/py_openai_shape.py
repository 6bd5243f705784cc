"""ChatGPT's search and fetch: the Python MCP SDK's own client, identified as OpenAI's
(`User-Agent: openai-mcp/1.0.0` in `initialize` mode; `clientInfo` `openai-mcp`, which the SDK
puts in every request's `_meta`, in `server/discover` mode), calls `search` with `{query}` and
`fetch` with `{id}` as ChatGPT does. Each result is checked against OpenAI's documented shapes
(openai-shapes.json) with the `jsonschema` package: exactly one text item whose text is the
JSON-encoded result, and that JSON equal to `structuredContent` (which the SDK itself
validates against the tool's outputSchema). A long note comes in fetch pages, each in the same
shape. The same SDK client not identified as OpenAI's gets the readable rendering.

Usage: py_openai_shape.py legacy|auto
"""

from __future__ import annotations

import json
import os
import sys
import uuid
import warnings

import jsonschema
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning
from mcp.types import Implementation

from interop_common import MCP_URL, check, log, log_request_hook, main, note_url

MODE = sys.argv[1] if len(sys.argv) > 1 else ""
if MODE not in ("legacy", "auto"):
    sys.exit(__doc__)
TOKEN = os.environ["BRAIN_MCP_TOKEN"]
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "openai-shapes.json")) as f:
    SHAPES = json.load(f)
for name in ("content", "search", "fetch"):
    jsonschema.Draft202012Validator.check_schema(SHAPES[name])


def openai_json(r, tool: str) -> dict:
    """The result's one text item, decoded, after checking both against OpenAI's shapes."""
    check(not r.is_error, f"{tool} failed: {r}")
    content = [c.model_dump(exclude_none=True) for c in r.content]
    jsonschema.validate(content, SHAPES["content"], cls=jsonschema.Draft202012Validator)
    doc = json.loads(r.content[0].text)
    jsonschema.validate(doc, SHAPES[tool], cls=jsonschema.Draft202012Validator)
    check(doc == r.structured_content, f"{tool}: the JSON text is not structuredContent")
    return doc


def connect(openai: bool):
    headers = {"Authorization": f"Bearer {TOKEN}"}
    info = None
    if openai and MODE == "legacy":
        headers["User-Agent"] = "openai-mcp/1.0.0"
    if openai and MODE == "auto":
        info = Implementation(name="openai-mcp", version="1.0.0")
    http = create_mcp_http_client(headers=headers)
    http.event_hooks["response"].append(log_request_hook("py-openai" if openai else "py-plain"))
    return http, info


async def run() -> None:
    warnings.simplefilter("error", MCPDeprecationWarning)
    u = uuid.uuid4().hex[:10]
    http, info = connect(openai=True)
    async with http:
        async with Client(streamable_http_client(MCP_URL, http_client=http), mode=MODE, client_info=info) as client:
            s = client.session
            want = "2026-07-28" if MODE == "auto" else "2025-11-25"
            check(s.protocol_version == want, f"protocol {s.protocol_version}, expected {want}")
            text = f"Quarterly plan {u}: hire two engineers\nand ship the mobile app by June"
            r = await client.call_tool("remember", {"text": text, "tags": ["work"]})
            check(not r.is_error, f"remember: {r}")
            note_id = r.structured_content["id"]

            found = openai_json(await client.call_tool("search", {"query": f"quarterly plan {u}"}), "search")
            hit = found["results"][0]
            check(
                (hit["id"], hit["title"], hit["url"])
                == (note_id, f"Quarterly plan {u}: hire two engineers", note_url(note_id)),
                f"search hit: {hit}",
            )
            doc = openai_json(await client.call_tool("fetch", {"id": hit["id"]}), "fetch")
            check(doc["text"] == text and doc["url"] == hit["url"] and doc["title"] == hit["title"], f"fetch: {doc}")
            check(doc["metadata"]["tags"] == ["work"] and doc["next_offset"] is None, f"fetch: {doc}")
            log(f"[py-openai] search and fetch in OpenAI's shape ({MODE})")

            # A long note, with the characters that cost most when encoded twice: fetch pages.
            long_text = "".join(f'line {i:05} "quoted" back\\slash\n' for i in range(2000))
            r = await client.call_tool("remember", {"text": long_text})
            long_id = r.structured_content["id"]
            got, offset, parts = "", 0, 0
            while offset is not None:
                r = await client.call_tool("fetch", {"id": long_id, "offset": offset})
                page = openai_json(r, "fetch")
                size = len(json.dumps(r.content[0].text, ensure_ascii=False).encode()) + len(
                    json.dumps(r.structured_content, ensure_ascii=False, separators=(",", ":")).encode()
                )
                check(size <= 16 * 1024, f"fetch page of {size} bytes")
                got += page["text"]
                parts += 1
                offset = page["next_offset"]
            check(got == long_text and parts >= 4, f"fetch pages: {parts}, equal={got == long_text}")
            log(f"[py-openai] a {len(long_text)}-character note in {parts} fetch pages")

    # The same SDK, not identified as OpenAI's: the readable rendering, same structured result.
    http, info = connect(openai=False)
    async with http:
        async with Client(streamable_http_client(MCP_URL, http_client=http), mode=MODE) as client:
            r = await client.call_tool("search", {"query": f"quarterly plan {u}"})
            t = r.content[0].text
            check(" match" in t.split("\n")[0] and f"id {note_id} (created " in t, f"plain search text: {t[:300]}")
            check(r.structured_content["results"][0]["url"] == note_url(note_id), "plain search url")
            r = await client.call_tool("fetch", {"id": note_id})
            check(r.content[0].text.startswith(f"Note {note_id} (created "), f"plain fetch text: {r.content[0].text[:200]}")
            log("[py-openai] other clients keep the readable text")


main(run)
