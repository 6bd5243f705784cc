"""Check e: the Python MCP SDK's OAuthClientProvider (authorization code + PKCE) driven
headlessly: redirect_handler fetches the authorization URL without following redirects
(filling in the consent form with the owner password when the server shows one) and
callback_handler hands the code, state and iss back to the SDK. Then it calls tools, and
forces one refresh-token rotation and calls again.

Usage: py_auth_code.py preregistered|dcr|dcr-public|cimd
  preregistered: the OAUTH_CLIENT_ID/SECRET client, client_secret_post
  dcr:           dynamic registration, token_endpoint_auth_method left to the server
  dcr-public:    dynamic registration as a public client ("none")
  cimd:          client_metadata_url as client_id (a document the server pinned); "none"
"""

from __future__ import annotations

import sys

from mcp.client.auth import OAuthClientProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.auth import AuthorizationCodeResult, OAuthClientInformationFull, OAuthClientMetadata

from interop_common import (
    CLIENT_ID, CLIENT_SECRET, MCP_URL, OWNER_PASSWORD, REDIRECT_URI, MemoryStorage, authorize_headless, check,
    exercise_tools, log, log_request_hook, main,
)

KIND = sys.argv[1] if len(sys.argv) > 1 else ""
CIMD_URL = "https://interop.brain-mcp.test/oauth/client-metadata.json"
if KIND not in ("preregistered", "dcr", "dcr-public", "cimd"):
    sys.exit(__doc__)


async def run() -> None:
    redirect: dict[str, str] = {}

    async def redirect_handler(url: str) -> None:
        log(f"[py-sdk] authorization URL: {url}")
        redirect.clear()
        redirect.update(authorize_headless(url, OWNER_PASSWORD))

    async def callback_handler() -> AuthorizationCodeResult:
        check("code" in redirect, f"no code in the redirect: {redirect}")
        return AuthorizationCodeResult(code=redirect["code"], state=redirect.get("state"), iss=redirect.get("iss"))

    metadata = OAuthClientMetadata(
        client_name="brain-mcp interop (python sdk)",
        redirect_uris=[REDIRECT_URI],
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method={
            "preregistered": "client_secret_post",
            "dcr": None,
            "dcr-public": "none",
            "cimd": "none",
        }[KIND],
    )
    storage = MemoryStorage()
    if KIND == "preregistered":
        storage.client_info = OAuthClientInformationFull(
            client_id=CLIENT_ID,
            client_secret=CLIENT_SECRET,
            redirect_uris=[REDIRECT_URI],
            token_endpoint_auth_method="client_secret_post",
        )
    provider = OAuthClientProvider(
        MCP_URL,
        metadata,
        storage,
        redirect_handler,
        callback_handler,
        client_metadata_url=CIMD_URL if KIND == "cimd" else None,
    )
    http = create_mcp_http_client(auth=provider)
    http.event_hooks["response"].append(log_request_hook("py-sdk"))
    async with http:
        async with Client(streamable_http_client(MCP_URL, http_client=http)) as client:
            log(f"[py-sdk] negotiated protocol {client.session.protocol_version}")
            await exercise_tools(client, f"py-ac-{KIND}")
            info = storage.client_info
            log(f"[py-sdk] client {info.client_id} token_endpoint_auth_method={info.token_endpoint_auth_method}")
            if KIND == "cimd":
                check(info.client_id == CIMD_URL, f"client_id {info.client_id} is not the metadata URL")
            if KIND == "dcr-public":
                check(info.token_endpoint_auth_method == "none", f"public registration got {info.token_endpoint_auth_method}")
            tokens = storage.tokens
            check(tokens is not None and bool(tokens.refresh_token), "no refresh token issued")
            check(tokens.scope == "mcp", f"granted scope {tokens.scope!r}")
            # Expire the access token locally: the next call must refresh (rotating refresh token).
            old_access, old_refresh = tokens.access_token, tokens.refresh_token
            # (tools/call: list results may be served from the SDK's response cache.)
            provider.context.token_expiry_time = 1.0
            r = await client.call_tool("list_notes", {"limit": 1})
            check(not r.is_error, f"list_notes after refresh failed: {r}")
            new = storage.tokens
            check(new.access_token != old_access, "access token was not refreshed")
            check(new.refresh_token and new.refresh_token != old_refresh, "refresh token did not rotate")
            log("[py-sdk] refresh rotated both tokens")


main(run)
