"""Trust (issue 12) through the Python SDK against the real binary with a consent page.

Usage: py_trust.py provenance|review
  provenance: one note written by three clients: the static token (the SDK's Client with a
              bearer header), a grant approved on the consent page (OAuthClientProvider with the
              pinned metadata document of tests/interop/cimd/), and the pre-registered client's
              client_credentials token (ClientCredentialsOAuthProvider). recall with history shows
              each version's writer.
  review:     the owner approves a grant with "hold what it writes until I accept it": its note
              is pending, the writer sees it with the mark, the static token does not (search,
              recall by id, list_notes); `brain-mcp accept ID` (the real command, through the
              running server's admin socket) makes it visible to everyone.
"""

from __future__ import annotations

import os
import subprocess
import sys

from mcp.client.auth import OAuthClientProvider
from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

from interop_common import (
    CLIENT_ID, CLIENT_SECRET, ISSUER, MCP_URL, OWNER_PASSWORD, REDIRECT_URI, MemoryStorage, authorize_headless,
    check, log, log_request_hook, main, marker, result_json,
)

CIMD_URL = "https://interop.brain-mcp.test/oauth/client-metadata.json"
CIMD_NAME = "brain-mcp interop (SDK via CIMD)"
MODE = sys.argv[1] if len(sys.argv) > 1 else ""
if MODE not in ("provenance", "review"):
    sys.exit(__doc__)


def static_http():
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {os.environ['BRAIN_MCP_TOKEN']}"})
    http.event_hooks["response"].append(log_request_hook("py-static"))
    return http


def grant_http(choices: dict[str, str]):
    redirect: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        redirect.clear()
        redirect.update(authorize_headless(url, OWNER_PASSWORD, choices))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=redirect["code"], state=redirect.get("state"), iss=redirect.get("iss"))

    metadata = OAuthClientMetadata(client_name="trust", redirect_uris=[REDIRECT_URI], token_endpoint_auth_method="none")
    provider = OAuthClientProvider(
        MCP_URL, metadata, MemoryStorage(), redirect_handler, callback_handler, client_metadata_url=CIMD_URL
    )
    http = create_mcp_http_client(auth=provider)
    http.event_hooks["response"].append(log_request_hook("py-grant"))
    return http


def cc_http():
    provider = ClientCredentialsOAuthProvider(
        server_url=MCP_URL, storage=MemoryStorage(), client_id=CLIENT_ID, client_secret=CLIENT_SECRET,
        token_endpoint_auth_method="client_secret_basic", issuer=ISSUER,
    )
    http = create_mcp_http_client(auth=provider)
    http.event_hooks["response"].append(log_request_hook("py-cc"))
    return http


async def call(client, tool: str, args: dict) -> dict:
    r = await client.call_tool(tool, args)
    check(not r.is_error, f"{tool} {args} failed: {r}")
    return result_json(r)


async def provenance() -> None:
    m = marker("provenance")
    async with static_http() as http, Client(streamable_http_client(MCP_URL, http_client=http)) as static:
        note = await call(static, "remember", {"text": f"first by the static token {m}"})
        check(note["by"] == "static token" and note["space"] == "main", f"remember: {note}")
        nid = note["id"]
        async with grant_http({}) as ghttp, Client(streamable_http_client(MCP_URL, http_client=ghttp)) as grant:
            u = await call(grant, "update", {"id": nid, "text": f"second by a grant {m}"})
            check(u["changed"] and u["by"].startswith(f"{CIMD_NAME} (grant g_"), f"update by the grant: {u}")
        async with cc_http() as chttp, Client(streamable_http_client(MCP_URL, http_client=chttp)) as cc:
            u = await call(cc, "update", {"id": nid, "text": f"third by client_credentials {m}", "space": "scripts"})
            check(u["by"] == f"client_credentials {CLIENT_ID}" and u["space"] == "scripts", f"update by cc: {u}")
        r = await call(static, "recall", {"id": nid, "history": True})
        writers = [v["by"] for v in r["history"]] + [r["by"]]
        log(f"[py-static] versions written by {writers}")
        check(len(writers) == 3, f"versions: {r}")
        check(writers[0] == "static token" and writers[1].startswith(f"{CIMD_NAME} (grant g_")
              and writers[2] == f"client_credentials {CLIENT_ID}", f"writers {writers}")
        check([v["space"] for v in r["history"]] + [r["space"]] == ["main", "main", "scripts"], f"spaces: {r}")
        # search and list_notes filter by writer.
        word = m.split("-")[-1]  # one word only this run wrote (search ORs its words)
        hits = (await call(static, "search", {"query": word, "by": CLIENT_ID}))["results"]
        check([h["id"] for h in hits] == [nid], f"search by {CLIENT_ID}: {hits}")
        hits = (await call(static, "search", {"query": word, "by": "static"}))["results"]
        check(hits == [], f"search by static (no current version of it): {hits}")
        listed = (await call(static, "list_notes", {"by": "client_credentials", "spaces": ["scripts"]}))["notes"]
        check(nid in [n["id"] for n in listed], f"list_notes by client_credentials: {listed}")


async def review() -> None:
    m = marker("review")
    word = m.split("-")[-1]  # one word only this run wrote (search ORs its words)
    async with grant_http({"review": "on"}) as ghttp, Client(streamable_http_client(MCP_URL, http_client=ghttp)) as grant:
        note = await call(grant, "remember", {"text": f"held for review {m}"})
        check(note.get("pending") is True, f"remember by a reviewed grant: {note}")
        nid = note["id"]
        r = await grant.call_tool("remember", {"text": f"another {m}"})
        check("The owner reviews this client's notes" in r.content[0].text, f"text: {r.content[0].text}")
        mine = (await call(grant, "search", {"query": word}))["results"]
        check(nid in [h["id"] for h in mine] and all(h.get("pending") for h in mine), f"the writer's search: {mine}")
        async with static_http() as http, Client(streamable_http_client(MCP_URL, http_client=http)) as static:
            hits = (await call(static, "search", {"query": word}))["results"]
            check(hits == [], f"another client found pending notes: {hits}")
            r = await static.call_tool("recall", {"id": nid})
            check(r.is_error and "no note has id" in r.content[0].text, f"recall of a pending note: {r}")
            listed = (await call(static, "list_notes", {"limit": 50}))["notes"]
            check(nid not in [n["id"] for n in listed], "list_notes showed a pending note")
            # The grant may not change what the owner accepted.
            other = await call(static, "remember", {"text": f"the owner's note {m}"})
            r = await grant.call_tool("update", {"id": other["id"], "text": "rewritten"})
            check(r.is_error and "wait for the owner's review" in r.content[0].text, f"update of an accepted note: {r}")
            env = dict(os.environ, BRAIN_DATA_DIR=os.environ["SERVER_DATA_DIR"])
            pending = subprocess.run([os.environ["BRAIN_BIN"], "pending"], env=env, capture_output=True, text=True, timeout=30)
            log(f"[owner] brain-mcp pending:\n{pending.stdout}{pending.stderr}")
            check(pending.returncode == 0 and nid in pending.stdout, "brain-mcp pending does not list the note")
            done = subprocess.run([os.environ["BRAIN_BIN"], "accept", nid], env=env, capture_output=True, text=True, timeout=30)
            log(f"[owner] brain-mcp accept: {done.stdout}{done.stderr}")
            check(done.returncode == 0 and "accepted note" in done.stdout, "accept failed")
            r = await call(static, "recall", {"id": nid})
            check(r.get("pending") is None and r["by"].startswith(f"{CIMD_NAME} (grant g_"), f"after accept: {r}")
            hits = (await call(static, "search", {"query": word}))["results"]
            check(nid in [h["id"] for h in hits], f"search after accept: {hits}")


main(provenance if MODE == "provenance" else review)
