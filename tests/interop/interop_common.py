"""Shared pieces of the Python interop checks (run.sh sets the environment).

Environment:
  MCP_URL                 the server's MCP endpoint, e.g. http://127.0.0.1:41234/mcp
  ISSUER                  its OAuth issuer (origin of MCP_URL)
  BRAIN_MCP_TOKEN         the static bearer token
  OAUTH_CLIENT_ID/SECRET  the pre-registered confidential client
  BRAIN_OWNER_PASSWORD    set when the server runs with a consent page
"""

from __future__ import annotations

import html.parser
import os
import sys
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urljoin, urlsplit

import httpx

MCP_URL = os.environ["MCP_URL"]
ISSUER = os.environ["ISSUER"]
CLIENT_ID = os.environ.get("OAUTH_CLIENT_ID", "")
CLIENT_SECRET = os.environ.get("OAUTH_CLIENT_SECRET", "")
OWNER_PASSWORD = os.environ.get("BRAIN_OWNER_PASSWORD") or None
TOOLS = {"remember", "update", "search", "recall", "fetch", "forget", "list_notes", "list_tags", "list_spaces"}
# Any loopback port will do: pre-registered clients may use loopback redirects on any port,
# and nothing listens there because the redirect is never followed.
REDIRECT_URI = "http://127.0.0.1:53682/callback"


class CheckFailed(Exception):
    pass


def check(cond: bool, what: str) -> None:
    if not cond:
        raise CheckFailed(what)


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def marker(prefix: str) -> str:
    return f"interop-{prefix}-{uuid.uuid4().hex}"


def log_request_hook(tag: str):
    """An httpx/httpx2 response hook that logs every exchange (shown when a check fails)."""

    async def hook(response: Any) -> None:
        req = response.request
        hdrs = {
            k: v
            for k, v in req.headers.items()
            if k.lower() in ("mcp-protocol-version", "mcp-method", "mcp-name", "accept", "content-type")
        }
        auth = req.headers.get("authorization", "")
        hdrs["authorization"] = auth.split(" ")[0] + " …" if auth else "-"
        log(f"[{tag}] {req.method} {req.url} {hdrs} -> {response.status_code} {response.headers.get('www-authenticate', '')}")

    return hook


class _FormParser(html.parser.HTMLParser):
    """Collects the first <form>'s action and its <input> fields (names and values)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.action: str | None = None
        self.method = "get"
        self.fields: list[tuple[str, str, str]] = []  # (type, name, value)
        self._in_form = False
        self._done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: (v or "") for k, v in attrs}
        if tag == "form" and not self._done:
            self._in_form = True
            self.action = a.get("action", "")
            self.method = a.get("method", "get").lower()
        elif tag == "input" and self._in_form:
            self.fields.append((a.get("type", "text").lower(), a.get("name", ""), a.get("value", "")))
        elif tag == "button" and self._in_form and a.get("name") == "action" and a.get("value") == "approve":
            self.fields.append(("submit", "action", "approve"))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._in_form:
            self._in_form = False
            self._done = True


def authorize_headless(
    authorization_url: str, password: str | None, choices: dict[str, str] | None = None
) -> dict[str, str]:
    """Play the user's browser: GET the authorization URL without following redirects; when
    the server shows a consent form, fill in the owner password and approve. Returns the
    query parameters of the redirect back to the client (code, state, iss, or error)."""
    with httpx.Client(follow_redirects=False, timeout=30) as http:
        r = http.get(authorization_url)
        log(f"[browser] GET {authorization_url} -> {r.status_code}")
        if r.status_code == 200 and "text/html" in r.headers.get("content-type", ""):
            check(password is not None, "server showed a consent page but no owner password is configured")
            p = _FormParser()
            p.feed(r.text)
            check(p.action is not None, f"consent page has no <form>: {r.text[:500]}")
            check(p.method == "post", f"consent form method is {p.method}, expected post")
            form: dict[str, str] = {}
            saw_password = False
            for typ, name, value in p.fields:
                if not name:
                    continue
                if typ == "password":
                    form[name] = password or ""
                    saw_password = True
                elif typ in ("hidden", "text", "submit"):
                    form[name] = value
            check(saw_password, "consent form has no password field")
            # The owner's choices on the page (access, spaces), as a person would click them.
            form.update(choices or {})
            target = urljoin(str(r.url), p.action or "")
            r = http.post(target, data=form, headers={"Origin": f"{urlsplit(target).scheme}://{urlsplit(target).netloc}"})
            log(f"[browser] POST {target} -> {r.status_code}")
        check(r.status_code in (302, 303), f"authorization did not redirect back: HTTP {r.status_code} {r.text[:500]}")
        location = r.headers.get("location", "")
        check(location.startswith(REDIRECT_URI), f"redirect to unexpected place: {location}")
        q = {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}
        log(f"[browser] redirected back with {sorted(q)}")
        return q


class MemoryStorage:
    """The SDK's TokenStorage protocol, in memory."""

    def __init__(self, client_info: Any = None) -> None:
        self.tokens = None
        self.client_info = client_info

    async def get_tokens(self):
        return self.tokens

    async def set_tokens(self, tokens) -> None:
        self.tokens = tokens

    async def get_client_info(self):
        return self.client_info

    async def set_client_info(self, client_info) -> None:
        self.client_info = client_info


def result_json(result: Any) -> dict:
    sc = getattr(result, "structured_content", None)
    if sc is None and isinstance(result, dict):
        sc = result.get("structuredContent")
    return sc or {}


def note_url(note_id: str) -> str:
    """A note's canonical URL: the issuer, /notes/, the id as one percent-encoded segment."""
    from urllib.parse import quote

    return f"{ISSUER}/notes/{quote(note_id, safe='')}"


async def exercise_tools(client: Any, tag: str) -> None:
    """list_tools (every tool), remember a unique marker, search finds it with its title and
    url, fetch gives it back whole."""
    tools = await client.list_tools()
    names = {t.name for t in tools.tools}
    check(names == TOOLS, f"tools/list gave {sorted(names)}, expected {sorted(TOOLS)}")
    m = marker(tag)
    r = await client.call_tool("remember", {"text": f"note {m}", "tags": ["interop"]})
    check(not r.is_error, f"remember failed: {r}")
    note_id = result_json(r).get("id")
    check(bool(note_id), f"remember returned no id: {r}")
    r = await client.call_tool("search", {"query": m})
    check(not r.is_error, f"search failed: {r}")
    hits = result_json(r).get("results", [])
    hit = next((h for h in hits if h.get("id") == note_id), None)
    check(hit is not None, f"search for {m} did not find note {note_id}: {r}")
    check(hit.get("title") == f"note {m}" and hit.get("url") == note_url(note_id), f"search hit: {hit}")
    r = await client.call_tool("fetch", {"id": note_id})
    check(not r.is_error, f"fetch failed: {r}")
    doc = result_json(r)
    want = {"id": note_id, "title": f"note {m}", "text": f"note {m}", "url": note_url(note_id)}
    check({k: doc.get(k) for k in want} == want, f"fetch: {doc}")
    check(doc.get("metadata", {}).get("tags") == ["interop"] and doc.get("next_offset") is None, f"fetch: {doc}")
    log(f"[{tag}] remembered {note_id}, found it again (title, url) and fetched it")


def _leaf(e: BaseException) -> BaseException:
    """The first real exception inside (nested) exception groups."""
    while isinstance(e, BaseExceptionGroup) and e.exceptions:
        e = e.exceptions[0]
    return e


def main(coro_fn) -> None:
    import anyio

    started = time.monotonic()
    try:
        anyio.run(coro_fn)
    except BaseException as e:  # noqa: BLE001 — a client exception is the failure report
        import traceback

        leaf = _leaf(e)
        if not isinstance(leaf, CheckFailed):
            traceback.print_exception(leaf)
        log(f"CHECK FAILED: {leaf}" if isinstance(leaf, CheckFailed) else f"CHECK FAILED: {type(leaf).__name__}: {leaf}")
        sys.exit(1)
    log(f"ok ({time.monotonic() - started:.1f}s)")
