"""Check c: the Python MCP SDK's ClientCredentialsOAuthProvider against brain-mcp, through
discovery (401 -> protected-resource metadata -> AS metadata -> token), then list_tools,
remember and search.

Usage: py_client_credentials.py legacy|auto [client_secret_basic|client_secret_post]
  legacy: Client(mode="legacy"), starts with `initialize`
  auto:   Client(mode="auto") (the SDK's default), starts with `server/discover` (2026-07-28)
          and must stay on it: brain-mcp supports that revision.
"""

from __future__ import annotations

import sys
import warnings

from mcp.client.auth.extensions.client_credentials import ClientCredentialsOAuthProvider
from mcp.client.client import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client
from mcp.shared.exceptions import MCPDeprecationWarning

from interop_common import (
    CLIENT_ID, CLIENT_SECRET, ISSUER, MCP_URL, MemoryStorage, check, exercise_tools, log, log_request_hook, main,
)

MODE = sys.argv[1] if len(sys.argv) > 1 else ""
METHOD = sys.argv[2] if len(sys.argv) > 2 else "client_secret_basic"
if MODE not in ("legacy", "auto") or METHOD not in ("client_secret_basic", "client_secret_post"):
    sys.exit(__doc__)


async def run() -> None:
    warnings.simplefilter("error", MCPDeprecationWarning)  # an SDK deprecation is a finding too
    provider = ClientCredentialsOAuthProvider(
        server_url=MCP_URL,
        storage=MemoryStorage(),
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        token_endpoint_auth_method=METHOD,
        issuer=ISSUER,
    )
    http = create_mcp_http_client(auth=provider)
    http.event_hooks["response"].append(log_request_hook("py-sdk"))
    async with http:
        async with Client(streamable_http_client(MCP_URL, http_client=http), mode=MODE) as client:
            s = client.session
            log(f"[py-sdk] negotiated protocol {s.protocol_version}; discover={s.discover_result is not None} "
                f"initialize={s.initialize_result is not None}")
            if MODE == "auto":
                check(s.discover_result is not None,
                      f"auto mode fell back to initialize (protocol {s.protocol_version}): "
                      "server/discover at 2026-07-28 was not accepted")
                check(s.protocol_version == "2026-07-28", f"protocol {s.protocol_version}")
            else:
                check(s.initialize_result is not None, "no initialize result")
                check(s.protocol_version == "2025-11-25", f"protocol {s.protocol_version}, expected echo of 2025-11-25")
            await exercise_tools(client, f"py-cc-{MODE}")
    tok = provider.context.current_tokens
    check(tok is not None and tok.scope == "mcp", f"granted scope {tok and tok.scope!r}")


main(run)
