"""Scopes chosen at consent (issue 12), through the Python SDK's OAuthClientProvider with the
pinned metadata document of tests/interop/cimd/. The owner grants read only; the read tools
work and are the only ones listed; remember gets 403 insufficient_scope and the SDK asks the
owner again (step-up: a new authorization with scope brain:write). Then, by mode:
  declined: the owner keeps it read-only, and the call fails;
  granted:  the owner grants read and write, and the same call succeeds.

Usage: py_scopes.py declined|granted
"""

from __future__ import annotations

import sys

from mcp.client.auth import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientMetadata

from interop_common import (
    MCP_URL, OWNER_PASSWORD, REDIRECT_URI, MemoryStorage, authorize_headless, check, log, log_request_hook, main,
)

CIMD_URL = "https://interop.brain-mcp.test/oauth/client-metadata.json"
MODE = sys.argv[1] if len(sys.argv) > 1 else ""
if MODE not in ("declined", "granted"):
    sys.exit(__doc__)


async def run() -> None:
    redirect: dict[str, str] = {}
    consents = 0

    async def redirect_handler(url: str) -> None:
        nonlocal consents
        consents += 1
        access = "write" if consents > 1 and MODE == "granted" else "read"
        log(f"[py-sdk] consent #{consents} ({access}) for {url}")
        redirect.clear()
        redirect.update(authorize_headless(url, OWNER_PASSWORD, {"access": access}))

    async def callback_handler() -> AuthorizationCodeResult:
        return AuthorizationCodeResult(code=redirect["code"], state=redirect.get("state"), iss=redirect.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="scopes", redirect_uris=[REDIRECT_URI], token_endpoint_auth_method="none"
    )
    storage = MemoryStorage()
    provider = OAuthClientProvider(
        MCP_URL, metadata, storage, redirect_handler, callback_handler, client_metadata_url=CIMD_URL
    )
    http = create_mcp_http_client(auth=provider)
    http.event_hooks["response"].append(log_request_hook("py-sdk"))
    async with http:
        async with Client(streamable_http_client(MCP_URL, http_client=http)) as client:
            check(storage.tokens.scope == "brain:read", f"granted scope {storage.tokens.scope!r}")
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            check(tools == ["fetch", "list_notes", "list_spaces", "list_tags", "recall", "search"], f"read-only tools/list: {tools}")
            r = await client.call_tool("search", {"query": "anything at all"})
            check(not r.is_error, f"search failed: {r}")
            if MODE == "granted":
                r = await client.call_tool("remember", {"text": "written after the owner granted more"})
                check(not r.is_error, f"remember after the step-up failed: {r}")
                check(storage.tokens.scope == "mcp", f"scope after the step-up {storage.tokens.scope!r}")
            else:
                failed = None
                try:
                    r = await client.call_tool("remember", {"text": "a read-only client tried this"})
                    failed = r if r.is_error else None
                    check(r.is_error, f"remember succeeded with a read-only grant: {r}")
                except Exception as e:  # the SDK surfaces the second 403 as an error
                    failed = e
                log(f"[py-sdk] remember refused: {failed!r}")
            check(consents == 2, f"the SDK asked the owner {consents} times (expected one step-up)")


main(run)
