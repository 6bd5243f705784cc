"""Check a: authlib's OAuth2Session gets a client_credentials token from brain-mcp with
client_secret_basic and with client_secret_post, and each token works on POST /mcp.

Usage: authlib_client_credentials.py client_secret_basic|client_secret_post
"""

from __future__ import annotations

import sys

import httpx
from authlib.integrations.requests_client import OAuth2Session

from interop_common import CLIENT_ID, CLIENT_SECRET, ISSUER, MCP_URL, TOOLS, check, log


def run(method: str) -> None:
    meta = httpx.get(f"{ISSUER}/.well-known/oauth-authorization-server", timeout=30)
    check(meta.status_code == 200, f"AS metadata: HTTP {meta.status_code}")
    meta = meta.json()
    check(meta.get("issuer") == ISSUER, f"issuer {meta.get('issuer')!r} != {ISSUER!r}")
    check(method in meta.get("token_endpoint_auth_methods_supported", []), f"{method} not advertised: {meta}")
    token_endpoint = meta["token_endpoint"]

    session = OAuth2Session(CLIENT_ID, CLIENT_SECRET, token_endpoint_auth_method=method, scope="mcp")

    def log_hook(r, *args, **kwargs):
        h = r.request.headers
        log(f"[authlib] {r.request.method} {r.request.url} auth={h.get('Authorization', '-').split(' ')[0]} "
            f"-> {r.status_code} {r.text[:300] if r.status_code != 200 else ''}")

    session.hooks["response"].append(log_hook)
    token = session.fetch_token(token_endpoint, grant_type="client_credentials")
    log(f"[authlib] token fields: {sorted(token)} token_type={token.get('token_type')} scope={token.get('scope')} expires_in={token.get('expires_in')}")
    check(token.get("token_type", "").lower() == "bearer", f"token_type {token.get('token_type')!r}")
    check(bool(token.get("access_token")), "no access_token")
    check(isinstance(token.get("expires_in"), int), "no integer expires_in")
    check(token.get("scope") == "mcp", f"granted scope {token.get('scope')!r}, expected 'mcp'")

    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list", "params": {}}
    r = httpx.post(
        MCP_URL,
        json=body,
        headers={
            "Authorization": f"Bearer {token['access_token']}",
            "Accept": "application/json, text/event-stream",
            "MCP-Protocol-Version": "2025-11-25",
        },
        timeout=30,
    )
    log(f"[httpx] POST {MCP_URL} tools/list -> {r.status_code} {r.headers.get('content-type')} {r.text[:300]}")
    check(r.status_code == 200, f"tools/list with the token: HTTP {r.status_code} {r.text[:300]}")
    names = {t["name"] for t in r.json()["result"]["tools"]}
    check(names == TOOLS, f"tools {sorted(names)}")


if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in ("client_secret_basic", "client_secret_post"):
        sys.exit(__doc__)
    try:
        run(sys.argv[1])
    except Exception as e:  # noqa: BLE001
        log(f"CHECK FAILED: {type(e).__name__}: {e}")
        sys.exit(1)
    log("ok")
