"""Benchmark peer: brain-mcp's five tools on FastMCP, served by uvicorn.

- Streamable HTTP at /mcp with stateless_http=True and json_response=True.
- FastMCP's built-in StaticTokenVerifier as `auth`, over an in-memory token map holding
  BRAIN_MCP_TOKEN. FastMCP has no client_credentials token endpoint, so the bench's token
  row is n/a for this peer.
- Notes live in an in-memory list, loaded from NOTES_FILE (brain-mcp's notes.jsonl) so every
  server searches the same texts. search is a simple scan: score = how many query words
  occur in the note (each note's words are a set built at load), ties newest first. No BM25,
  no index: simple word match.
- GET /healthz via FastMCP's custom_route.

Env: PORT (required), BRAIN_MCP_TOKEN, NOTES_FILE.
"""
import json
import os
import re
import secrets
from datetime import datetime, timezone

import uvicorn
from fastmcp import FastMCP
from fastmcp.server.auth import StaticTokenVerifier
from pydantic import BaseModel
from starlette.requests import Request
from starlette.responses import JSONResponse

WORD = re.compile(r"\w+")


def words(s: str) -> list[str]:
    return WORD.findall(s.lower())


class Note(BaseModel):
    id: str
    text: str
    tags: list[str]
    created_at: str


class Hit(Note):
    score: float


class SearchResult(BaseModel):
    results: list[Hit]


class ListResult(BaseModel):
    notes: list[Note]


class Remembered(BaseModel):
    id: str
    created_at: str
    tags: list[str]


class Forgotten(BaseModel):
    deleted: bool


notes: list[dict] = []  # oldest first
by_id: dict[str, dict] = {}


def add_note(r: dict) -> dict:
    n = {"id": r["id"], "text": r["text"], "tags": list(r.get("tags") or []),
         "created_at": r["created_at"], "words": frozenset(words(r["text"]))}
    notes.append(n)
    by_id[n["id"]] = n
    return n


def public(n: dict) -> dict:
    return {"id": n["id"], "text": n["text"], "tags": n["tags"], "created_at": n["created_at"]}


path = os.environ.get("NOTES_FILE")
if path and os.path.exists(path):
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                r = json.loads(line)
                if r["op"] == "put":
                    add_note(r)
                elif r["op"] == "del":
                    by_id.pop(r["id"], None)

verifier = StaticTokenVerifier(
    tokens={os.environ["BRAIN_MCP_TOKEN"]: {"client_id": "static", "scopes": ["mcp"]}},
    required_scopes=["mcp"],
)
mcp = FastMCP("peer-fastmcp", auth=verifier)


@mcp.custom_route("/healthz", methods=["GET"])
async def healthz(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


@mcp.tool
def remember(text: str, tags: list[str] | None = None) -> Remembered:
    """Save one note to the user's long-term memory."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    n = add_note({"id": "n_" + secrets.token_hex(6), "text": text, "tags": tags or [],
                  "created_at": now})
    return Remembered(id=n["id"], created_at=n["created_at"], tags=n["tags"])


@mcp.tool
def search(query: str, limit: int = 10, tag: str | None = None) -> SearchResult:
    """Full-text search over the user's notes; best matches first."""
    q = set(words(query))
    hits = []
    for n in reversed(notes):
        if by_id.get(n["id"]) is not n or (tag and tag not in n["tags"]):
            continue
        score = len(q & n["words"])
        if score:
            hits.append((score, n))
    hits.sort(key=lambda h: -h[0])  # stable: newest first among equals
    return SearchResult(results=[Hit(**public(n), score=s) for s, n in hits[:limit]])


@mcp.tool
def recall(id: str) -> Note:
    """Fetch one whole note by its id."""
    n = by_id.get(id)
    if n is None:
        raise ValueError(f"No note has the id {id}.")
    return Note(**public(n))


@mcp.tool
def forget(id: str) -> Forgotten:
    """Delete one note by its id, permanently."""
    return Forgotten(deleted=by_id.pop(id, None) is not None)


@mcp.tool
def list_notes(limit: int = 10, tag: str | None = None) -> ListResult:
    """List the user's notes, newest first."""
    out = []
    for n in reversed(notes):
        if len(out) >= limit:
            break
        if by_id.get(n["id"]) is n and (not tag or tag in n["tags"]):
            out.append(Note(**public(n)))
    return ListResult(notes=out)


app = mcp.http_app(path="/mcp", stateless_http=True, json_response=True)

if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(os.environ["PORT"]), log_level="warning",
                access_log=False)
