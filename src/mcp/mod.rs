//! MCP over Streamable HTTP: JSON-RPC framing, protocol revisions and the brain's tools.
//!
//! API CONTRACT: the router calls [`handle`] for an authenticated `POST /mcp` whose `Origin` and
//! `Host` have already been checked. Everything else about the request (Content-Type, Accept,
//! MCP-Protocol-Version, Mcp-Method, the JSON-RPC body) is this module's job.
//!
//! Two eras are served on the one endpoint, without sessions (never an `Mcp-Session-Id`):
//! - handshake era (`2025-11-25`, `2025-06-18`, `2025-03-26`, `2024-11-05`): `initialize`,
//!   `notifications/initialized`, `ping`, `tools/list`, `tools/call`. Since nothing is kept
//!   between requests, a client that skips `initialize` is served all the same.
//! - stateless era (`2026-07-28`): `server/discover`, `tools/list`, `tools/call` (and `ping`,
//!   which that revision removed but costs nothing to keep), every request carrying
//!   `_meta["io.modelcontextprotocol/protocolVersion"]`.
//!
//! A request is served in the stateless era when its `_meta` names a protocol version, when its
//! `MCP-Protocol-Version` header is `2026-07-28`, or when it is `server/discover`; `initialize`
//! is always handshake era. This mirrors the Python SDK server, which routes on the header.
//!
//! HTTP status of each outcome (the table the tests check):
//! | outcome | status | JSON-RPC code |
//! |---|---|---|
//! | Accept excludes application/json | 406 | (plain text body) |
//! | Content-Type not application/json | 415 | -32600 |
//! | body not UTF-8 / not JSON / nested deeper than 128 | 400 | -32700 |
//! | not a JSON-RPC object (incl. arrays: batches were removed in 2025-06-18) | 400 | -32600 |
//! | notification or response | 202, no body | |
//! | MCP-Protocol-Version header unknown | 400 | -32022, data {supported, requested} |
//! | routing header repeated, Mcp-Method/Mcp-Name/MCP-Protocol-Version disagreeing with the body | 400 | -32020 |
//! | stateless request without `_meta` protocolVersion + clientCapabilities | 400 | -32602 |
//! | stateless request naming a version that is not `2026-07-28` | 400 | -32022 |
//! | unknown method | 200 handshake era, 404 stateless era | -32601 |
//! | bad params, unknown tool | 200 handshake era, 400 stateless era | -32602 |
//! | tools/call of a known tool with bad arguments | 200 | result with `isError: true` |

mod tools;

use std::sync::Arc;

use serde_json::{json, Map, Value};

use crate::brain::Brain;
use crate::caller::Caller;
use crate::http::{Request, Response};

pub use tools::{note_url, Shape, DEFAULT_LIMIT, MAX_LIMIT, MIN_LIMIT};

pub const SERVER_NAME: &str = "brain-mcp";
/// The stateless revision.
pub const MODERN_VERSION: &str = "2026-07-28";
/// Revisions reached through `initialize`, newest first.
pub const HANDSHAKE_VERSIONS: [&str; 4] = ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"];
/// Every revision served, newest first (the `supported` list of -32022 and `supportedVersions`).
pub const SUPPORTED_VERSIONS: [&str; 5] = [
    MODERN_VERSION,
    "2025-11-25",
    "2025-06-18",
    "2025-03-26",
    "2024-11-05",
];
/// 2025-06-18 transports: "If the server does not receive an MCP-Protocol-Version header, and has
/// no other way to identify the version [...] the server SHOULD assume protocol version
/// 2025-03-26."
pub const DEFAULT_VERSION: &str = "2025-03-26";

/// How long clients may cache `server/discover` and `tools/list` (the tool list only changes
/// with a new binary). `private`: the endpoint sits behind OAuth, so a shared cache must not
/// answer for another authorization context.
pub const CACHE_TTL_MS: u64 = 300_000;
pub const CACHE_SCOPE: &str = "private";

pub const META_PROTOCOL_VERSION: &str = "io.modelcontextprotocol/protocolVersion";
pub const META_CLIENT_CAPABILITIES: &str = "io.modelcontextprotocol/clientCapabilities";
pub const META_SERVER_INFO: &str = "io.modelcontextprotocol/serverInfo";
pub const META_CLIENT_INFO: &str = "io.modelcontextprotocol/clientInfo";

pub const PARSE_ERROR: i64 = -32700;
pub const INVALID_REQUEST: i64 = -32600;
pub const METHOD_NOT_FOUND: i64 = -32601;
pub const INVALID_PARAMS: i64 = -32602;
pub const INTERNAL_ERROR: i64 = -32603;
/// 2026-07-28: "The HTTP headers do not match the corresponding values in the request body, or
/// required headers are missing/malformed." HTTP 400.
pub const HEADER_MISMATCH: i64 = -32020;
/// 2026-07-28 UnsupportedProtocolVersionError, `data: {supported, requested}`. HTTP 400.
pub const UNSUPPORTED_PROTOCOL_VERSION: i64 = -32022;

/// What the model is told about this server (`instructions` of initialize and server/discover).
pub const INSTRUCTIONS: &str = "This server is the user's personal long-term memory (their \
\"brain\"): a store of short notes that lasts across conversations and devices. Use it to keep \
and find facts the user wants remembered: preferences, decisions, people, plans, and anything \
they say to remember.\n\
- Before answering something that may depend on what the user told you earlier, `search` \
with a few keywords (try synonyms if nothing matches); `recall` (or `fetch`, the same note in \
the shape ChatGPT's deep research reads) gives one whole note by id.\n\
- Before `remember`, `search` first: if a note already says it, don't save a duplicate; if a \
note is outdated or wrong, correct it with `update` (it keeps the id, and the earlier version \
stays in the note's history), not with `forget` and `remember`.\n\
- One fact per note, self-contained and in plain words, with enough context (who, what, when) \
to make sense months later. Never store secrets such as passwords or keys.\n\
- Use a few short lower-case `tags` (e.g. work, family, project-x) consistently, so `search` \
and `list_notes` can filter by them; `list_tags` shows the tags in use.\n\
- `list_notes` shows the newest notes first, a page at a time (pass `next_cursor` back as \
`cursor`).\n\
- `forget` deletes a note and its whole history permanently: only do it when the user asks \
or a note should not exist at all (to correct one, `update` it).";

/// The MCP endpoint's state: the brain, where its notes live on the web, and the version this
/// server reports.
pub struct Mcp {
    pub brain: Arc<Brain>,
    pub server_version: &'static str,
    /// `{origin}/notes/`, the prefix of every note's canonical URL (`search` and `fetch` give
    /// it; the owner's pages serve it).
    notes_url: String,
    /// The `tools/list` result of each era, for a caller that may write and one that may only
    /// read (`[era][write]`), decorated and serialized once: the list only changes with the
    /// binary, and building it from `json!` trees on every call cost more than everything else
    /// in the request (see docs/bench.md).
    tools_list: [[String; 2]; 2],
    /// `{origin}/.well-known/oauth-protected-resource/mcp`, for `insufficient_scope` challenges.
    resource_metadata: String,
}

impl Mcp {
    /// `origin` is this server's public origin, the OAuth issuer (the origin of
    /// `MCP_RESOURCE_URL`, e.g. `https://brain.example.com`), without a trailing slash.
    pub fn new(brain: Arc<Brain>, origin: &str) -> Mcp {
        let origin = origin.trim_end_matches('/');
        let mut mcp = Mcp {
            brain,
            server_version: env!("CARGO_PKG_VERSION"),
            notes_url: format!("{origin}/notes/"),
            tools_list: Default::default(),
            resource_metadata: format!("{origin}/.well-known/oauth-protected-resource/mcp"),
        };
        mcp.tools_list = [Era::Handshake, Era::Stateless].map(|era| {
            [false, true].map(|write| decorate(&mcp, era, tools_list(era, write)).to_string())
        });
        mcp
    }

    fn server_info(&self) -> Value {
        json!({"name": SERVER_NAME, "version": self.server_version})
    }
}

/// A JSON-RPC error on its way out, with the HTTP status that carries it.
struct RpcError {
    status: u16,
    code: i64,
    message: String,
    data: Option<Box<Value>>,
    /// A `WWW-Authenticate` challenge to send with it (`403 insufficient_scope`).
    challenge: Option<String>,
}

impl RpcError {
    fn new(status: u16, code: i64, message: impl Into<String>) -> RpcError {
        RpcError {
            status,
            code,
            message: message.into(),
            data: None,
            challenge: None,
        }
    }

    fn unsupported_version(requested: &str) -> RpcError {
        RpcError {
            status: 400,
            code: UNSUPPORTED_PROTOCOL_VERSION,
            message: format!(
                "Unsupported protocol version {:?}; supported: {}",
                clip(requested, 64),
                SUPPORTED_VERSIONS.join(", ")
            ),
            data: Some(Box::new(
                json!({"supported": SUPPORTED_VERSIONS, "requested": requested}),
            )),
            challenge: None,
        }
    }

    fn response(&self, id: &Value) -> Response {
        let mut error = json!({"code": self.code, "message": self.message});
        if let (Some(d), Some(obj)) = (&self.data, error.as_object_mut()) {
            obj.insert("data".into(), (**d).clone());
        }
        let resp = Response::json(
            self.status,
            &json!({"jsonrpc": "2.0", "id": id, "error": error}),
        );
        match &self.challenge {
            Some(c) => resp.header("WWW-Authenticate", c),
            None => resp,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum Era {
    Handshake,
    Stateless,
}

impl Era {
    /// 2026-07-28 transports: an unimplemented method "MUST respond with 404 Not Found and a
    /// JSON-RPC error with code -32601"; a malformed request is 400. The handshake era answers
    /// protocol errors with 200 (the TypeScript client treats any non-2xx as a transport error).
    fn status(self, code: i64) -> u16 {
        match (self, code) {
            (_, INTERNAL_ERROR) => 500,
            (Era::Stateless, METHOD_NOT_FOUND) => 404,
            (Era::Stateless, INVALID_PARAMS) => 400,
            _ => 200,
        }
    }
}

/// A method's result: a JSON value, or JSON serialized ahead of time (already decorated).
enum Answer<'a> {
    Value(Value),
    Serialized(&'a str),
}

/// One decoded POST body.
enum Message {
    Request {
        id: Value,
        method: String,
        params: Map<String, Value>,
    },
    Notification {
        method: String,
    },
    Response,
}

/// Serves one authenticated `POST /mcp`.
pub fn handle(mcp: &Mcp, req: &Request, caller: &Caller) -> Response {
    if !accepts_json(req) {
        return Response::text(
            406,
            "Not Acceptable: this endpoint answers with application/json; send Accept: \
             application/json, text/event-stream",
        );
    }
    if !is_json_content_type(req) {
        return RpcError::new(
            415,
            INVALID_REQUEST,
            "Unsupported Media Type: the body must be Content-Type: application/json",
        )
        .response(&Value::Null);
    }
    let message = match decode(&req.body) {
        Ok(m) => m,
        Err((id, e)) => return e.response(&id),
    };
    match message {
        // A client may post a JSON-RPC response (to a server request we never send): accept it.
        Message::Response => Response::new(202),
        Message::Notification { method } => match check_headers(req, &method) {
            Ok(_) => Response::new(202),
            Err(e) => e.response(&Value::Null),
        },
        Message::Request { id, method, params } => {
            match serve(mcp, req, caller, &method, &params) {
                Ok((era, Answer::Value(result))) => Response::json(
                    200,
                    &json!({"jsonrpc": "2.0", "id": id, "result": decorate(mcp, era, result)}),
                ),
                Ok((_, Answer::Serialized(result))) => {
                    let mut body = Vec::with_capacity(result.len() + 64);
                    body.extend_from_slice(br#"{"jsonrpc":"2.0","id":"#);
                    // `id` is a string or a number (checked in decode): serializing cannot fail.
                    let _ = serde_json::to_writer(&mut body, &id);
                    body.extend_from_slice(br#","result":"#);
                    body.extend_from_slice(result.as_bytes());
                    body.push(b'}');
                    Response::new(200)
                        .header("Content-Type", "application/json")
                        .body(body)
                }
                Err(e) => e.response(&id),
            }
        }
    }
}

/// Accept: missing is tolerated; otherwise application/json must be acceptable (q > 0), through
/// `application/json`, `application/*` or `*/*`, the most specific range deciding.
fn accepts_json(req: &Request) -> bool {
    let mut values = req
        .headers
        .iter()
        .filter(|(n, _)| n == "accept")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .peekable();
    if values.peek().is_none() {
        return true;
    }
    let joined = values.collect::<Vec<_>>().join(",");
    if joined.trim().is_empty() {
        return true;
    }
    // (specificity, q) of the best-matching range.
    let mut best: Option<(u8, f32)> = None;
    for range in joined.split(',') {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or("").trim().to_ascii_lowercase();
        let specificity = match media.as_str() {
            "application/json" => 2,
            "application/*" => 1,
            "*/*" => 0,
            _ => continue,
        };
        let mut q = 1.0f32;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                if k.trim().eq_ignore_ascii_case("q") {
                    q = v.trim().parse().unwrap_or(1.0);
                }
            }
        }
        if best.is_none_or(|(s, _)| specificity > s) {
            best = Some((specificity, q));
        }
    }
    matches!(best, Some((_, q)) if q > 0.0)
}

/// Content-Type must be sent once and be application/json; parameters (charset) are allowed.
fn is_json_content_type(req: &Request) -> bool {
    req.header("content-type")
        .and_then(|v| v.split(';').next())
        .is_some_and(|m| m.trim().eq_ignore_ascii_case("application/json"))
}

/// Decodes the body into one JSON-RPC message. On error, also returns the id to echo (`null`
/// when it cannot be read).
fn decode(body: &[u8]) -> Result<Message, (Value, RpcError)> {
    let parse_error = |m: String| (Value::Null, RpcError::new(400, PARSE_ERROR, m));
    let text = std::str::from_utf8(body)
        .map_err(|_| parse_error("Parse error: the body is not valid UTF-8".into()))?;
    // serde_json's recursion limit (128) stays on: deep nesting is an error, not a stack overflow.
    let value: Value = serde_json::from_str(text)
        .map_err(|e| parse_error(format!("Parse error: the body is not valid JSON ({e})")))?;
    let invalid = |id: Value, m: &str| (id, RpcError::new(400, INVALID_REQUEST, m));
    let Value::Object(mut obj) = value else {
        let m = if value.is_array() {
            "Invalid Request: JSON-RPC batches are not supported (removed in 2025-06-18); send \
             one message per POST"
        } else {
            "Invalid Request: the body must be one JSON-RPC message object"
        };
        return Err(invalid(Value::Null, m));
    };
    // The id, if it is a usable one (string or number; MCP forbids null).
    let id = match obj.get("id") {
        Some(v @ (Value::String(_) | Value::Number(_))) => Some(v.clone()),
        _ => None,
    };
    let echo = id.clone().unwrap_or(Value::Null);
    if obj.get("jsonrpc").and_then(Value::as_str) != Some("2.0") {
        return Err(invalid(
            echo,
            "Invalid Request: \"jsonrpc\" must be \"2.0\"",
        ));
    }
    if !obj.contains_key("method") {
        let is_response =
            obj.contains_key("id") && (obj.contains_key("result") != obj.contains_key("error"));
        return if is_response {
            Ok(Message::Response)
        } else {
            Err(invalid(
                echo,
                "Invalid Request: a JSON-RPC request needs \"method\"",
            ))
        };
    }
    let method = match obj.remove("method") {
        Some(Value::String(m)) => m,
        _ => {
            return Err(invalid(
                echo,
                "Invalid Request: \"method\" must be a string",
            ))
        }
    };
    if obj.contains_key("id") && id.is_none() {
        return Err(invalid(
            Value::Null,
            "Invalid Request: \"id\" must be a string or an integer (MCP forbids null)",
        ));
    }
    let params = match obj.remove("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p,
        Some(_) => {
            return Err((
                echo,
                RpcError::new(
                    400,
                    INVALID_PARAMS,
                    "Invalid params: \"params\" must be an object",
                ),
            ))
        }
    };
    match id {
        None => Ok(Message::Notification { method }),
        Some(id) => Ok(Message::Request { id, method, params }),
    }
}

/// Header checks that hold for every message: a routing header sent twice (first-copy and
/// last-copy readers would disagree), an unknown MCP-Protocol-Version, an Mcp-Method that is not
/// the body's. Returns the MCP-Protocol-Version header, if any.
fn check_headers(req: &Request, method: &str) -> Result<Option<String>, RpcError> {
    for name in ["mcp-protocol-version", "mcp-method", "mcp-name"] {
        if req.header_count(name) > 1 {
            return Err(RpcError::new(
                400,
                HEADER_MISMATCH,
                format!("Header mismatch: {name} header appears more than once"),
            ));
        }
    }
    let version = req
        .headers
        .iter()
        .find(|(n, _)| n == "mcp-protocol-version")
        .map(|(_, v)| String::from_utf8_lossy(v).trim().to_string());
    if let Some(v) = &version {
        if !SUPPORTED_VERSIONS.contains(&v.as_str()) {
            return Err(RpcError::unsupported_version(v));
        }
    }
    if req.header_count("mcp-method") == 1 && req.header("mcp-method") != Some(method) {
        return Err(RpcError::new(
            400,
            HEADER_MISMATCH,
            format!(
                "Header mismatch: Mcp-Method header value {:?} does not match body method {:?}",
                clip(&header_lossy(req, "mcp-method"), 64),
                clip(method, 64)
            ),
        ));
    }
    Ok(version)
}

fn header_lossy(req: &Request, name: &str) -> String {
    req.headers
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
        .unwrap_or_default()
}

/// Checks the request's era and envelope and runs the method.
fn serve<'a>(
    mcp: &'a Mcp,
    req: &Request,
    caller: &Caller,
    method: &str,
    params: &Map<String, Value>,
) -> Result<(Era, Answer<'a>), RpcError> {
    let header_version = check_headers(req, method)?;
    let meta = params.get("_meta").and_then(Value::as_object);
    let meta_names_version = meta.is_some_and(|m| m.contains_key(META_PROTOCOL_VERSION));
    let era = if method != "initialize"
        && (meta_names_version
            || header_version.as_deref() == Some(MODERN_VERSION)
            || method == "server/discover")
    {
        Era::Stateless
    } else {
        Era::Handshake
    };
    if era == Era::Stateless {
        check_envelope(req, method, params, header_version.as_deref())?;
    }
    // Revisions that define the `insufficient_scope` step-up (2025-11-25 "Scope Challenge
    // Handling", and 2026-07-28): their clients are told with a 403 challenge and may ask the
    // owner for more; older clients get a tool error their model can read.
    let step_up = era == Era::Stateless || header_version.as_deref() == Some("2025-11-25");
    let call = Call {
        era,
        shape: shape(req, params),
        caller,
        step_up,
    };
    dispatch(mcp, &call, method, params).map(|result| (era, result))
}

/// What a method runs with besides its parameters.
struct Call<'c> {
    era: Era,
    shape: Shape,
    caller: &'c Caller,
    step_up: bool,
}

/// Which text shape the caller gets from `search` and `fetch` (every other tool, and every
/// structured result, is the same for all clients).
///
/// OpenAI's MCP guide requires, for ChatGPT's deep research and company knowledge, that
/// `search` and `fetch` return "exactly one content item with `type: "text"`" whose text is
/// the JSON-encoded result; every other client is better served by the readable rendering
/// (it says how to get the next page). No client asks for a shape in its request, and this
/// server keeps no session, so the `clientInfo` of an earlier `initialize` is gone by the time
/// `tools/call` comes. So the decision is made from what OpenAI's client sends with every
/// request, each one enough:
/// 1. `User-Agent: openai-mcp/…` (ChatGPT and Codex connectors send `openai-mcp/1.0.0`, in
///    every protocol era);
/// 2. `_meta["io.modelcontextprotocol/clientInfo"].name` starting with `openai-mcp` (2026-07-28
///    carries clientInfo on each request; ChatGPT's is `{"name": "openai-mcp"}`);
/// 3. a `_meta` key under `openai/` (OpenAI's Apps SDK: ChatGPT "forwards"
///    `openai/userAgent`, `openai/locale`, `openai/subject` ... with tool calls).
///
/// 2026-07-28 says clientInfo is self-reported and servers "SHOULD NOT use [it] to change the
/// behavior": here it only picks between two encodings of the same result, never what a
/// caller may do or see, so a client that lies about it gains nothing.
fn shape(req: &Request, params: &Map<String, Value>) -> Shape {
    let by_agent = req.header("user-agent").is_some_and(is_openai_client);
    let meta = params.get("_meta").and_then(Value::as_object);
    let by_meta = meta.is_some_and(|m| {
        m.keys().any(|k| k.starts_with("openai/"))
            || m.get(META_CLIENT_INFO)
                .and_then(|ci| ci.get("name"))
                .and_then(Value::as_str)
                .is_some_and(is_openai_client)
    });
    if by_agent || by_meta {
        Shape::OpenAi
    } else {
        Shape::Readable
    }
}

/// `openai-mcp`, `openai-mcp/1.0.0`, `openai-mcp/1.0.0 (Codex)`: the product token (up to the
/// first `/` or space) is `openai-mcp`, in any case.
fn is_openai_client(s: &str) -> bool {
    s.trim_start()
        .split(['/', ' '])
        .next()
        .is_some_and(|p| p.eq_ignore_ascii_case("openai-mcp"))
}

/// A write tool called with a token the owner granted reading only. MCP 2025-11-25
/// "Insufficient Scope": the server "SHOULD respond with HTTP 403 Forbidden" and
/// `WWW-Authenticate: Bearer error="insufficient_scope", scope="...", resource_metadata="..."`
/// (2026-07-28: "include all scopes required for the current operation in a single
/// challenge"); the client may then ask the owner again. Clients of earlier revisions have no
/// such step, so they get a tool result with `isError` their model can read and relay.
fn insufficient_scope<'a>(mcp: &Mcp, call: &Call, tool: &str) -> Result<Answer<'a>, RpcError> {
    let message = format!(
        "{tool} writes to the brain, and the owner granted this connection read-only access: it may search, recall, fetch and list notes. To write, ask the owner to reconnect this client with read and write access."
    );
    if call.step_up {
        let mut e = RpcError::new(
            403,
            INVALID_REQUEST,
            format!("Insufficient scope: {message}"),
        );
        e.challenge = Some(format!(
            "Bearer error=\"insufficient_scope\", scope=\"brain:write\", resource_metadata=\"{}\", error_description=\"{tool} needs brain:write\"",
            mcp.resource_metadata
        ));
        return Err(e);
    }
    Ok(Answer::Value(json!({
        "content": [{"type": "text", "text": message}],
        "isError": true,
    })))
}

/// Runs one method in its era.
fn dispatch<'a>(
    mcp: &'a Mcp,
    call: &Call,
    method: &str,
    params: &Map<String, Value>,
) -> Result<Answer<'a>, RpcError> {
    let era = call.era;
    let fail = |code: i64, m: String| RpcError::new(era.status(code), code, m);
    if method == "tools/list" {
        // One page holds every tool, so no cursor we issued exists.
        if let Some(c) = params.get("cursor").filter(|c| !c.is_null()) {
            return Err(fail(
                INVALID_PARAMS,
                format!(
                    "Invalid params: unknown cursor {}; tools/list has a single page",
                    clip(&c.to_string(), 64)
                ),
            ));
        }
        // A caller that may only read is shown only the tools it may call.
        let write = call.caller.scope.write;
        return Ok(Answer::Serialized(
            &mcp.tools_list[era as usize][write as usize],
        ));
    }
    let value = match method {
        "initialize" => initialize(mcp, params).map_err(|m| fail(INVALID_PARAMS, m)),
        "ping" => Ok(json!({})),
        "server/discover" => Ok(json!({
            "supportedVersions": SUPPORTED_VERSIONS,
            "capabilities": capabilities(),
            "instructions": INSTRUCTIONS,
            "ttlMs": CACHE_TTL_MS,
            "cacheScope": CACHE_SCOPE,
        })),
        "tools/call" => {
            let name = match params.get("name") {
                Some(Value::String(n)) => n,
                _ => {
                    return Err(fail(
                        INVALID_PARAMS,
                        format!(
                            "Invalid params: \"name\" must be a string naming a tool: {}",
                            tool_names()
                        ),
                    ))
                }
            };
            let Some(tool) = tools::find(name) else {
                return Err(RpcError {
                    data: Some(Box::new(
                        json!({"tool": name, "available": tool_name_list()}),
                    )),
                    ..fail(
                        INVALID_PARAMS,
                        format!(
                            "Unknown tool: {}; available tools: {}",
                            clip(name, 64),
                            tool_names()
                        ),
                    )
                });
            };
            if !tool.hints.read_only && !call.caller.scope.write {
                return insufficient_scope(mcp, call, tool.name);
            }
            Ok(tools::call(
                &mcp.brain,
                &mcp.notes_url,
                call.shape,
                tool,
                params.get("arguments"),
                call.caller,
            ))
        }
        _ => Err(fail(
            METHOD_NOT_FOUND,
            format!("Method not found: {}", clip(method, 64)),
        )),
    };
    value.map(Answer::Value)
}

/// The stateless-era ladder (after the common header checks), in the order of the Python SDK's
/// `classify_inbound_request`, the reference server:
/// 1. `_meta` carries protocolVersion and clientCapabilities, else -32602 (basic/index: "A
///    request missing any required field is malformed; the server MUST reject it with JSON-RPC
///    error code -32602 (Invalid params). On HTTP, the response status MUST be 400").
/// 2. The headers mirror the body: MCP-Protocol-Version == `_meta` protocolVersion, Mcp-Method ==
///    method, Mcp-Name == params.name for tools/call (base64 sentinel decoded), else -32020.
///    "Validation failure conditions include: A required standard header (MCP-Protocol-Version,
///    Mcp-Method, Mcp-Name) is missing."
/// 3. The version is one we serve statelessly, else -32022 with the supported list.
fn check_envelope(
    req: &Request,
    method: &str,
    params: &Map<String, Value>,
    header_version: Option<&str>,
) -> Result<(), RpcError> {
    let bad_params = |m: String| RpcError::new(400, INVALID_PARAMS, m);
    let meta = params
        .get("_meta")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            bad_params(format!(
            "Invalid params: params._meta must be an object carrying {META_PROTOCOL_VERSION:?} \
             and {META_CLIENT_CAPABILITIES:?} (protocol {MODERN_VERSION}); handshake-era \
             clients call initialize first"
        ))
        })?;
    let missing: Vec<&str> = [META_PROTOCOL_VERSION, META_CLIENT_CAPABILITIES]
        .into_iter()
        .filter(|k| !meta.contains_key(*k))
        .collect();
    if !missing.is_empty() {
        return Err(bad_params(format!(
            "Invalid params: params._meta is missing the required key(s): {}",
            missing.join(", ")
        )));
    }
    let Some(version) = meta.get(META_PROTOCOL_VERSION).and_then(Value::as_str) else {
        return Err(bad_params(format!(
            "Invalid params: params._meta[{META_PROTOCOL_VERSION:?}] must be a string"
        )));
    };
    let mismatch = |m: String| RpcError::new(400, HEADER_MISMATCH, format!("Header mismatch: {m}"));
    match header_version {
        None => {
            return Err(mismatch(
                "the MCP-Protocol-Version header is required and must equal \
                 params._meta protocolVersion"
                    .into(),
            ))
        }
        Some(h) if h != version => {
            return Err(mismatch(format!(
                "MCP-Protocol-Version header {h:?} does not match params._meta \
                 protocolVersion {:?}",
                clip(version, 64)
            )))
        }
        Some(_) => {}
    }
    if req.header("mcp-method").is_none() {
        return Err(mismatch(format!(
            "the Mcp-Method header is required (here: {:?})",
            clip(method, 64)
        )));
    }
    if method == "tools/call" {
        if let Some(Value::String(name)) = params.get("name") {
            let header = req.header("mcp-name").map(decode_header_value);
            match header {
                None => {
                    return Err(mismatch(format!(
                        "the Mcp-Name header is required for tools/call (here: {:?})",
                        clip(name, 64)
                    )))
                }
                Some(h) if h.as_deref() != Some(name.as_str()) => {
                    return Err(mismatch(format!(
                        "Mcp-Name header does not match body params.name {:?}",
                        clip(name, 64)
                    )))
                }
                Some(_) => {}
            }
        }
    }
    if version != MODERN_VERSION {
        return Err(RpcError::unsupported_version(version));
    }
    Ok(())
}

/// 2026-07-28 transports, Value Encoding: `=?base64?{Base64EncodedValue}?=` carries a value that
/// is not plain header-safe ASCII; "servers MUST decode an encoded Mcp-Name [...] before
/// comparing it". A malformed sentinel decodes to `None`, which matches nothing.
fn decode_header_value(v: &str) -> Option<String> {
    use base64::Engine;
    match v
        .strip_prefix("=?base64?")
        .and_then(|rest| rest.strip_suffix("?="))
    {
        None => Some(v.to_string()),
        Some(payload) => base64::engine::general_purpose::STANDARD
            .decode(payload)
            .ok()
            .and_then(|b| String::from_utf8(b).ok()),
    }
}

/// Handshake: echo a supported handshake-era version, otherwise answer with the newest one.
fn initialize(mcp: &Mcp, params: &Map<String, Value>) -> Result<Value, String> {
    let Some(requested) = params.get("protocolVersion").and_then(Value::as_str) else {
        return Err("Invalid params: initialize needs \"protocolVersion\" (a string)".into());
    };
    let version = HANDSHAKE_VERSIONS
        .iter()
        .find(|v| **v == requested)
        .unwrap_or(&HANDSHAKE_VERSIONS[0]);
    Ok(json!({
        "protocolVersion": version,
        "capabilities": capabilities(),
        "serverInfo": mcp.server_info(),
        "instructions": INSTRUCTIONS,
    }))
}

fn capabilities() -> Value {
    json!({"tools": {"listChanged": false}})
}

/// The undecorated `tools/list` result of `era`.
fn tools_list(era: Era, write: bool) -> Value {
    let list: Vec<Value> = tools::TOOLS
        .iter()
        .filter(|t| write || t.hints.read_only)
        .map(tools::describe)
        .collect();
    let mut result = json!({"tools": list});
    if era == Era::Stateless {
        if let Some(obj) = result.as_object_mut() {
            obj.insert("ttlMs".into(), json!(CACHE_TTL_MS));
            obj.insert("cacheScope".into(), json!(CACHE_SCOPE));
        }
    }
    result
}

/// Stateless-era results carry `resultType` and identify the server in `_meta` (basic/index:
/// "Servers SHOULD include [io.modelcontextprotocol/serverInfo] in every result's _meta").
fn decorate(mcp: &Mcp, era: Era, mut result: Value) -> Value {
    if era == Era::Stateless {
        if let Some(obj) = result.as_object_mut() {
            obj.insert("resultType".into(), json!("complete"));
            obj.insert(
                "_meta".into(),
                json!({ META_SERVER_INFO: mcp.server_info() }),
            );
        }
    }
    result
}

fn tool_name_list() -> Vec<&'static str> {
    tools::TOOLS.iter().map(|t| t.name).collect()
}

fn tool_names() -> String {
    tool_name_list().join(", ")
}

fn clip(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::atomic::{AtomicUsize, Ordering};

    const ACCEPT: &str = "application/json, text/event-stream";

    /// A real brain on a fresh temp dir.
    fn mcp() -> Mcp {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "brain-mcp-test-mcp-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Mcp::new(
            Arc::new(Brain::open(&dir).expect("open brain")),
            "https://brain.example.com",
        )
    }

    fn request(headers: &[(&str, &[u8])], body: &[u8]) -> Request {
        Request {
            method: "POST".into(),
            path: "/mcp".into(),
            query: None,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_ascii_lowercase(), v.to_vec()))
                .collect(),
            body: body.to_vec(),
            client: IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// POST with the usual Content-Type and Accept plus `extra` headers.
    fn post(m: &Mcp, extra: &[(&str, &str)], body: &str) -> Response {
        post_bytes(m, extra, body.as_bytes())
    }

    fn post_bytes(m: &Mcp, extra: &[(&str, &str)], body: &[u8]) -> Response {
        let mut h: Vec<(&str, &[u8])> = vec![
            ("content-type", b"application/json"),
            ("accept", ACCEPT.as_bytes()),
        ];
        for (n, v) in extra {
            h.retain(|(hn, _)| !hn.eq_ignore_ascii_case(n));
            h.push((n, v.as_bytes()));
        }
        handle(m, &request(&h, body), &Caller::static_token())
    }

    fn json_of(r: &Response) -> Value {
        assert_eq!(r.get_header("content-type"), Some("application/json"));
        serde_json::from_slice(&r.body).expect("JSON body")
    }

    fn error_code(r: &Response) -> i64 {
        json_of(r)["error"]["code"].as_i64().expect("error code")
    }

    /// A modern (2026-07-28) request: envelope in `_meta` and the mirrored headers.
    fn modern(m: &Mcp, method: &str, mut params: Value) -> Response {
        params["_meta"] = json!({
            META_PROTOCOL_VERSION: MODERN_VERSION,
            META_CLIENT_CAPABILITIES: {},
            "io.modelcontextprotocol/clientInfo": {"name": "test", "version": "1"},
        });
        let name = params["name"].as_str().unwrap_or("").to_string();
        let body = json!({"jsonrpc": "2.0", "id": 7, "method": method, "params": params});
        let mut h = vec![
            ("mcp-protocol-version", MODERN_VERSION),
            ("mcp-method", method),
        ];
        if method == "tools/call" {
            h.push(("mcp-name", name.as_str()));
        }
        post(m, &h, &body.to_string())
    }

    fn rpc(m: &Mcp, method: &str, params: Value) -> Response {
        post(
            m,
            &[],
            &json!({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).to_string(),
        )
    }

    /// tools/call through the handshake era; returns the CallToolResult.
    fn call(m: &Mcp, tool: &str, args: Value) -> Value {
        let r = rpc(m, "tools/call", json!({"name": tool, "arguments": args}));
        assert_eq!(r.status, 200);
        let v = json_of(&r);
        let result = v["result"].clone();
        assert!(result.is_object(), "not a result: {v}");
        assert_eq!(result["content"][0]["type"], "text", "{result}");
        assert!(result["content"][0]["text"].is_string());
        if result["isError"] == false {
            let tool_def = tools::find(tool).expect("tool");
            let schema = (tool_def.output_schema)();
            conforms(&result["structuredContent"], &schema)
                .unwrap_or_else(|e| panic!("{tool}: {e}: {result}"));
        }
        result
    }

    fn call_err(m: &Mcp, tool: &str, args: Value) -> String {
        let r = call(m, tool, args);
        assert_eq!(r["isError"], true, "expected isError: {r}");
        r["content"][0]["text"].as_str().unwrap_or("").to_string()
    }

    /// A small JSON Schema check (type, required, properties, items) for our output schemas.
    fn conforms(v: &Value, schema: &Value) -> Result<(), String> {
        let types: Vec<&str> = match &schema["type"] {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let ok = types.is_empty()
            || types.iter().any(|t| match *t {
                "object" => v.is_object(),
                "array" => v.is_array(),
                "string" => v.is_string(),
                "number" => v.is_number(),
                "integer" => v.is_i64() || v.is_u64(),
                "boolean" => v.is_boolean(),
                "null" => v.is_null(),
                _ => false,
            });
        if !ok {
            return Err(format!("{v} is not of type {types:?}"));
        }
        if let (Some(obj), Some(req)) = (v.as_object(), schema["required"].as_array()) {
            for k in req.iter().filter_map(Value::as_str) {
                if !obj.contains_key(k) {
                    return Err(format!("missing required {k}"));
                }
            }
        }
        if let (Some(obj), Some(props)) = (v.as_object(), schema["properties"].as_object()) {
            for (k, s) in props {
                if let Some(x) = obj.get(k) {
                    conforms(x, s)?;
                }
            }
        }
        if let (Some(items), Some(s)) = (v.as_array(), schema.get("items")) {
            for x in items {
                conforms(x, s)?;
            }
        }
        Ok(())
    }

    // ---- framing ----

    #[test]
    fn a_request_gets_200_json_with_its_id_echoed() {
        let m = mcp();
        for id in [
            json!(1),
            json!(0),
            json!(-5),
            json!("abc"),
            json!(""),
            json!(18446744073709551615u64),
        ] {
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "ping"}).to_string();
            let r = post(&m, &[], &body);
            assert_eq!(r.status, 200);
            let v = json_of(&r);
            assert_eq!(v["id"], id);
            assert_eq!(v["jsonrpc"], "2.0");
            assert_eq!(v["result"], json!({}));
            assert!(r.get_header("mcp-session-id").is_none());
        }
    }

    #[test]
    fn notifications_and_responses_get_202_without_body() {
        let m = mcp();
        for body in [
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":1}}"#,
            r#"{"jsonrpc":"2.0","method":"notifications/whatever"}"#,
            r#"{"jsonrpc":"2.0","id":3,"result":{}}"#,
            r#"{"jsonrpc":"2.0","id":"x","error":{"code":-1,"message":"no"}}"#,
        ] {
            let r = post(&m, &[], body);
            assert_eq!(r.status, 202, "{body}");
            assert!(r.body.is_empty());
            assert!(r.get_header("mcp-session-id").is_none());
        }
    }

    #[test]
    fn malformed_json_is_parse_error() {
        let m = mcp();
        for body in [
            &b"{"[..],
            b"",
            b"not json",
            b"{\"jsonrpc\":\"2.0\",}",
            b"\xff\xfe{}",
        ] {
            let r = post_bytes(&m, &[], body);
            assert_eq!(r.status, 400);
            assert_eq!(error_code(&r), PARSE_ERROR);
            assert_eq!(json_of(&r)["id"], Value::Null);
        }
    }

    #[test]
    fn invalid_utf8_inside_a_string_is_parse_error() {
        let m = mcp();
        let body = b"{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"p\xc3\x28ing\"}";
        let r = post_bytes(&m, &[], body);
        assert_eq!(r.status, 400);
        assert_eq!(error_code(&r), PARSE_ERROR);
    }

    #[test]
    fn deep_nesting_is_a_parse_error_not_a_stack_overflow() {
        let m = mcp();
        let r = post_bytes(&m, &[], &vec![b'['; 100_000]);
        assert_eq!(r.status, 400);
        assert_eq!(error_code(&r), PARSE_ERROR);
        let mut deep = String::from(r#"{"jsonrpc":"2.0","id":1,"method":"ping","params":{"a":"#);
        deep.push_str(&"[".repeat(100_000));
        let r = post(&m, &[], &deep);
        assert_eq!(error_code(&r), PARSE_ERROR);
    }

    #[test]
    fn non_jsonrpc_objects_and_batches_are_invalid_request() {
        let m = mcp();
        for (body, id) in [
            (r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#, Value::Null),
            ("[]", Value::Null),
            ("42", Value::Null),
            (r#""ping""#, Value::Null),
            (r#"{"id":1,"method":"ping"}"#, json!(1)),
            (r#"{"jsonrpc":"1.0","id":1,"method":"ping"}"#, json!(1)),
            (r#"{"jsonrpc":"2.0","id":2,"method":5}"#, json!(2)),
            (
                r#"{"jsonrpc":"2.0","id":null,"method":"ping"}"#,
                Value::Null,
            ),
            (r#"{"jsonrpc":"2.0","id":{},"method":"ping"}"#, Value::Null),
            (
                r#"{"jsonrpc":"2.0","id":true,"method":"ping"}"#,
                Value::Null,
            ),
            (r#"{"jsonrpc":"2.0","id":4}"#, json!(4)),
            (r#"{"jsonrpc":"2.0"}"#, Value::Null),
        ] {
            let r = post(&m, &[], body);
            assert_eq!(r.status, 400, "{body}");
            assert_eq!(error_code(&r), INVALID_REQUEST, "{body}");
            assert_eq!(json_of(&r)["id"], id, "{body}");
        }
    }

    #[test]
    fn params_that_are_not_an_object_are_invalid_params() {
        let m = mcp();
        let r = post(
            &m,
            &[],
            r#"{"jsonrpc":"2.0","id":9,"method":"tools/list","params":[1]}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(error_code(&r), INVALID_PARAMS);
        assert_eq!(json_of(&r)["id"], 9);
    }

    #[test]
    fn unknown_method_is_method_not_found() {
        let m = mcp();
        let r = rpc(&m, "resources/list", json!({}));
        assert_eq!(r.status, 200);
        assert_eq!(error_code(&r), METHOD_NOT_FOUND);
        assert_eq!(json_of(&r)["id"], 1);
        let r = post(
            &m,
            &[("mcp-protocol-version", "2025-06-18")],
            r#"{"jsonrpc":"2.0","id":"q","method":"prompts/list"}"#,
        );
        assert_eq!(r.status, 200);
        assert_eq!(error_code(&r), METHOD_NOT_FOUND);
        assert_eq!(json_of(&r)["id"], "q");
    }

    #[test]
    fn content_type_must_be_json() {
        let m = mcp();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        for ct in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonl",
            "",
        ] {
            let r = post(&m, &[("content-type", ct)], body);
            assert_eq!(r.status, 415, "{ct}");
            assert_eq!(error_code(&r), INVALID_REQUEST);
        }
        let h: Vec<(&str, &[u8])> = vec![("accept", b"application/json")];
        assert_eq!(
            handle(&m, &request(&h, body.as_bytes()), &Caller::static_token()).status,
            415
        );
        for ct in [
            "application/json",
            "application/json; charset=utf-8",
            "Application/JSON;charset=UTF-8",
        ] {
            assert_eq!(post(&m, &[("content-type", ct)], body).status, 200, "{ct}");
        }
    }

    #[test]
    fn accept_must_allow_json() {
        let m = mcp();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
        for a in [
            "text/html",
            "text/event-stream",
            "application/xml",
            "application/json;q=0",
            "application/json;q=0, */*",
        ] {
            assert_eq!(post(&m, &[("accept", a)], body).status, 406, "{a}");
        }
        for a in [
            "*/*",
            "application/*",
            "application/json",
            "application/json, text/event-stream",
            "text/event-stream, application/json",
            "text/event-stream, */*;q=0.1",
            "text/html;level=1, application/json;q=0.5",
        ] {
            assert_eq!(post(&m, &[("accept", a)], body).status, 200, "{a}");
        }
        // No Accept at all is tolerated.
        let h: Vec<(&str, &[u8])> = vec![("content-type", b"application/json")];
        assert_eq!(
            handle(&m, &request(&h, body.as_bytes()), &Caller::static_token()).status,
            200
        );
    }

    #[test]
    fn protocol_version_header() {
        let m = mcp();
        let body = r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#;
        for v in HANDSHAKE_VERSIONS {
            assert_eq!(post(&m, &[("mcp-protocol-version", v)], body).status, 200);
        }
        assert_eq!(post(&m, &[], body).status, 200);
        for v in ["1999-01-01", "2025-11-26", "", "latest"] {
            let r = post(&m, &[("mcp-protocol-version", v)], body);
            assert_eq!(r.status, 400, "{v:?}");
            let j = json_of(&r);
            assert_eq!(j["error"]["code"], UNSUPPORTED_PROTOCOL_VERSION);
            assert_eq!(j["id"], 5);
            assert_eq!(j["error"]["data"]["requested"], v);
            assert_eq!(j["error"]["data"]["supported"], json!(SUPPORTED_VERSIONS));
        }
        // A notification under an unsupported version is refused too, without an id.
        let r = post(
            &m,
            &[("mcp-protocol-version", "1999-01-01")],
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(json_of(&r)["id"], Value::Null);
    }

    #[test]
    fn repeated_routing_headers_and_mcp_method_mismatch_are_header_mismatch() {
        let m = mcp();
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
        let r = post(&m, &[("mcp-method", "tools/call")], body);
        assert_eq!(r.status, 400);
        assert_eq!(error_code(&r), HEADER_MISMATCH);
        assert_eq!(post(&m, &[("mcp-method", "tools/list")], body).status, 200);
        let h: Vec<(&str, &[u8])> = vec![
            ("content-type", b"application/json"),
            ("mcp-protocol-version", b"2025-11-25"),
            ("mcp-protocol-version", b"2025-11-25"),
        ];
        let r = handle(&m, &request(&h, body.as_bytes()), &Caller::static_token());
        assert_eq!(r.status, 400);
        assert_eq!(error_code(&r), HEADER_MISMATCH);
        // Notifications are checked as well.
        let r = post(
            &m,
            &[("mcp-method", "ping")],
            r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
        );
        assert_eq!(r.status, 400);
        assert_eq!(error_code(&r), HEADER_MISMATCH);
    }

    // ---- handshake era ----

    #[test]
    fn initialize_echoes_a_supported_version_or_answers_the_newest() {
        let m = mcp();
        let init = |v: &str| {
            let r = rpc(
                &m,
                "initialize",
                json!({"protocolVersion": v, "capabilities": {},
                       "clientInfo": {"name": "t", "version": "1"}}),
            );
            assert_eq!(r.status, 200);
            json_of(&r)["result"].clone()
        };
        for v in HANDSHAKE_VERSIONS {
            assert_eq!(init(v)["protocolVersion"], v);
        }
        assert_eq!(init("2099-01-01")["protocolVersion"], "2025-11-25");
        assert_eq!(init("2026-07-28")["protocolVersion"], "2025-11-25");
        let r = init("2025-06-18");
        assert_eq!(r["serverInfo"]["name"], "brain-mcp");
        assert_eq!(r["serverInfo"]["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(r["capabilities"], json!({"tools": {"listChanged": false}}));
        let instructions = r["instructions"].as_str().unwrap_or("");
        for word in [
            "search",
            "remember",
            "tags",
            "duplicate",
            "One fact per note",
        ] {
            assert!(instructions.contains(word), "instructions lack {word}");
        }
        assert!(r.get("resultType").is_none());
    }

    #[test]
    fn initialize_under_a_modern_header_is_still_the_handshake() {
        let m = mcp();
        let r = post(
            &m,
            &[("mcp-protocol-version", MODERN_VERSION)],
            r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-11-25","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}"#,
        );
        assert_eq!(r.status, 200);
        assert_eq!(json_of(&r)["result"]["protocolVersion"], "2025-11-25");
    }

    #[test]
    fn initialize_without_protocol_version_is_invalid_params() {
        let m = mcp();
        let r = rpc(&m, "initialize", json!({"capabilities": {}}));
        assert_eq!(r.status, 200);
        assert_eq!(error_code(&r), INVALID_PARAMS);
    }

    #[test]
    fn ping_answers_empty_object() {
        let m = mcp();
        let r = rpc(&m, "ping", json!({}));
        assert_eq!(json_of(&r)["result"], json!({}));
    }

    // ---- stateless era ----

    #[test]
    fn server_discover_advertises_versions_capabilities_and_identity() {
        let m = mcp();
        let r = modern(&m, "server/discover", json!({}));
        assert_eq!(r.status, 200);
        let v = json_of(&r);
        assert_eq!(v["id"], 7);
        let res = &v["result"];
        assert_eq!(res["resultType"], "complete");
        assert_eq!(res["supportedVersions"], json!(SUPPORTED_VERSIONS));
        assert_eq!(res["capabilities"]["tools"]["listChanged"], false);
        assert_eq!(res["_meta"][META_SERVER_INFO]["name"], "brain-mcp");
        assert_eq!(
            res["_meta"][META_SERVER_INFO]["version"],
            env!("CARGO_PKG_VERSION")
        );
        assert_eq!(res["instructions"], INSTRUCTIONS);
        assert_eq!(res["ttlMs"], CACHE_TTL_MS);
        assert_eq!(res["cacheScope"], CACHE_SCOPE);
    }

    #[test]
    fn modern_tools_list_carries_cache_hints_and_result_type() {
        let m = mcp();
        let v = json_of(&modern(&m, "tools/list", json!({})));
        let res = &v["result"];
        assert_eq!(res["resultType"], "complete");
        assert_eq!(res["ttlMs"], CACHE_TTL_MS);
        assert_eq!(res["cacheScope"], CACHE_SCOPE);
        assert_eq!(
            res["tools"].as_array().map(Vec::len),
            Some(tools::TOOLS.len())
        );
        assert_eq!(res["_meta"][META_SERVER_INFO]["name"], "brain-mcp");
        // The handshake era gets neither.
        let legacy = json_of(&rpc(&m, "tools/list", json!({})));
        assert!(legacy["result"].get("ttlMs").is_none());
        assert!(legacy["result"].get("resultType").is_none());
        assert!(legacy["result"].get("_meta").is_none());
    }

    #[test]
    fn pre_serialized_tools_list_echoes_any_id_and_matches_the_built_one() {
        let m = mcp();
        for id in [
            json!("a \"quoted\" \\ id \u{1f600}"),
            json!(-9007199254740993i64),
            json!(0),
        ] {
            let body = json!({"jsonrpc": "2.0", "id": id, "method": "tools/list"});
            let v = json_of(&post(&m, &[], &body.to_string()));
            assert_eq!(v["id"], id);
            assert_eq!(v["jsonrpc"], "2.0");
            assert_eq!(v["result"], tools_list(Era::Handshake, true));
        }
        let v = json_of(&modern(&m, "tools/list", json!({})));
        assert_eq!(v["id"], 7);
        assert_eq!(
            v["result"],
            decorate(&m, Era::Stateless, tools_list(Era::Stateless, true))
        );
    }

    #[test]
    fn modern_ping_and_unknown_method() {
        let m = mcp();
        let v = json_of(&modern(&m, "ping", json!({})));
        assert_eq!(v["result"]["resultType"], "complete");
        let r = modern(&m, "resources/list", json!({}));
        assert_eq!(r.status, 404);
        assert_eq!(error_code(&r), METHOD_NOT_FOUND);
        assert_eq!(json_of(&r)["id"], 7);
    }

    fn modern_raw(m: &Mcp, headers: &[(&str, &str)], method: &str, meta: Value) -> Response {
        let body = json!({"jsonrpc": "2.0", "id": "r", "method": method,
                          "params": {"_meta": meta}});
        post(m, headers, &body.to_string())
    }

    #[test]
    fn modern_envelope_problems() {
        let m = mcp();
        let full = json!({META_PROTOCOL_VERSION: MODERN_VERSION, META_CLIENT_CAPABILITIES: {}});
        let hdrs = [
            ("mcp-protocol-version", MODERN_VERSION),
            ("mcp-method", "server/discover"),
        ];
        assert_eq!(
            modern_raw(&m, &hdrs, "server/discover", full.clone()).status,
            200
        );
        // server/discover without any _meta: -32602 (Python's probe then falls back).
        let r = post(
            &m,
            &hdrs,
            r#"{"jsonrpc":"2.0","id":1,"method":"server/discover"}"#,
        );
        assert_eq!((r.status, error_code(&r)), (400, INVALID_PARAMS));
        // clientCapabilities missing.
        let r = modern_raw(
            &m,
            &hdrs,
            "server/discover",
            json!({META_PROTOCOL_VERSION: MODERN_VERSION}),
        );
        assert_eq!((r.status, error_code(&r)), (400, INVALID_PARAMS));
        assert_eq!(json_of(&r)["id"], "r");
        // protocolVersion not a string.
        let r = modern_raw(
            &m,
            &hdrs,
            "server/discover",
            json!({META_PROTOCOL_VERSION: 2026, META_CLIENT_CAPABILITIES: {}}),
        );
        assert_eq!((r.status, error_code(&r)), (400, INVALID_PARAMS));
        // Header missing, or disagreeing with _meta.
        let r = modern_raw(
            &m,
            &[("mcp-method", "server/discover")],
            "server/discover",
            full.clone(),
        );
        assert_eq!((r.status, error_code(&r)), (400, HEADER_MISMATCH));
        let r = modern_raw(
            &m,
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "server/discover"),
            ],
            "server/discover",
            full.clone(),
        );
        assert_eq!((r.status, error_code(&r)), (400, HEADER_MISMATCH));
        // Mcp-Method missing or wrong.
        let r = modern_raw(
            &m,
            &[("mcp-protocol-version", MODERN_VERSION)],
            "server/discover",
            full.clone(),
        );
        assert_eq!((r.status, error_code(&r)), (400, HEADER_MISMATCH));
        let r = modern_raw(
            &m,
            &[
                ("mcp-protocol-version", MODERN_VERSION),
                ("mcp-method", "tools/list"),
            ],
            "server/discover",
            full,
        );
        assert_eq!((r.status, error_code(&r)), (400, HEADER_MISMATCH));
    }

    #[test]
    fn modern_unsupported_version_is_32022_with_the_supported_list() {
        let m = mcp();
        // The header names an unknown version: refused before anything else.
        let r = modern_raw(
            &m,
            &[
                ("mcp-protocol-version", "2099-01-01"),
                ("mcp-method", "server/discover"),
            ],
            "server/discover",
            json!({META_PROTOCOL_VERSION: "2099-01-01", META_CLIENT_CAPABILITIES: {}}),
        );
        assert_eq!(r.status, 400);
        let v = json_of(&r);
        assert_eq!(v["id"], "r");
        assert_eq!(v["error"]["code"], UNSUPPORTED_PROTOCOL_VERSION);
        assert_eq!(v["error"]["data"]["requested"], "2099-01-01");
        assert_eq!(v["error"]["data"]["supported"][0], MODERN_VERSION);
        // _meta names a handshake-era version: not served statelessly.
        let r = modern_raw(
            &m,
            &[
                ("mcp-protocol-version", "2025-11-25"),
                ("mcp-method", "tools/list"),
            ],
            "tools/list",
            json!({META_PROTOCOL_VERSION: "2025-11-25", META_CLIENT_CAPABILITIES: {}}),
        );
        assert_eq!(
            (r.status, error_code(&r)),
            (400, UNSUPPORTED_PROTOCOL_VERSION)
        );
        assert_eq!(json_of(&r)["error"]["data"]["requested"], "2025-11-25");
    }

    #[test]
    fn modern_tools_call_checks_mcp_name() {
        let m = mcp();
        let meta = json!({META_PROTOCOL_VERSION: MODERN_VERSION, META_CLIENT_CAPABILITIES: {}});
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call",
                          "params": {"name": "nope", "arguments": {}, "_meta": meta}})
        .to_string();
        let base = [
            ("mcp-protocol-version", MODERN_VERSION),
            ("mcp-method", "tools/call"),
        ];
        let with = |name: Option<&str>| {
            let mut h = base.to_vec();
            if let Some(n) = name {
                h.push(("mcp-name", n));
            }
            post(&m, &h, &body)
        };
        let r = with(None);
        assert_eq!((r.status, error_code(&r)), (400, HEADER_MISMATCH));
        let r = with(Some("other"));
        assert_eq!((r.status, error_code(&r)), (400, HEADER_MISMATCH));
        let r = with(Some("=?base64?!!!?="));
        assert_eq!((r.status, error_code(&r)), (400, HEADER_MISMATCH));
        // Matching, plain or base64-encoded ("nope" = bm9wZQ==): past the envelope, the tool is
        // unknown, which the stateless era answers with 400 -32602.
        for n in ["nope", "=?base64?bm9wZQ==?="] {
            let r = with(Some(n));
            assert_eq!((r.status, error_code(&r)), (400, INVALID_PARAMS), "{n}");
        }
    }

    // ---- tools: protocol level ----

    #[test]
    fn tools_list_has_the_tools_in_order_with_schemas() {
        let m = mcp();
        let v = json_of(&rpc(&m, "tools/list", json!({})));
        let tools = v["result"]["tools"].as_array().cloned().unwrap_or_default();
        let names: Vec<&str> = tools.iter().filter_map(|t| t["name"].as_str()).collect();
        assert_eq!(
            names,
            [
                "remember",
                "update",
                "search",
                "recall",
                "fetch",
                "forget",
                "list_notes",
                "list_tags",
                "list_spaces"
            ]
        );
        for t in &tools {
            assert!(
                t["description"].as_str().is_some_and(|d| d.len() > 60),
                "{t}"
            );
            assert_eq!(t["inputSchema"]["type"], "object");
            assert_eq!(t["inputSchema"]["additionalProperties"], false);
            assert_eq!(t["outputSchema"]["type"], "object");
        }
        assert_eq!(tools[0]["inputSchema"]["required"], json!(["text"]));
        assert_eq!(tools[1]["inputSchema"]["required"], json!(["id"]));
        assert_eq!(tools[2]["inputSchema"]["required"], json!(["query"]));
        assert_eq!(tools[3]["inputSchema"]["required"], json!(["id"]));
        assert_eq!(tools[4]["inputSchema"]["required"], json!(["id"]));
        for t in &tools {
            let a = &t["annotations"];
            assert_eq!(a["title"], t["title"], "{t}");
            assert_eq!(a["openWorldHint"], false);
            let name = t["name"].as_str().unwrap_or("");
            let read_only = !matches!(name, "remember" | "update" | "forget");
            assert_eq!(a["readOnlyHint"], read_only, "{name}");
            assert_eq!(a["destructiveHint"], name == "forget", "{name}");
            assert_eq!(a["idempotentHint"], true, "{name}");
        }
        // A cursor we never issued.
        let r = rpc(&m, "tools/list", json!({"cursor": "x"}));
        assert_eq!(error_code(&r), INVALID_PARAMS);
        assert_eq!(rpc(&m, "tools/list", json!({"cursor": null})).status, 200);
    }

    #[test]
    fn unknown_tool_or_missing_name_is_invalid_params() {
        let m = mcp();
        let r = rpc(&m, "tools/call", json!({"name": "delete_everything"}));
        assert_eq!(r.status, 200);
        let v = json_of(&r);
        assert_eq!(v["error"]["code"], INVALID_PARAMS);
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|s| s.contains("remember")));
        for params in [json!({}), json!({"name": 5}), json!({"arguments": {}})] {
            assert_eq!(error_code(&rpc(&m, "tools/call", params)), INVALID_PARAMS);
        }
    }

    #[test]
    fn bad_arguments_are_tool_errors_not_protocol_errors() {
        let m = mcp();
        let cases: Vec<(&str, Value, &str)> = vec![
            ("remember", json!({}), "missing required argument `text`"),
            ("remember", json!({"text": 5}), "`text` must be a string"),
            (
                "remember",
                json!({"text": "x", "tags": "work"}),
                "[\"work\"]",
            ),
            (
                "remember",
                json!({"text": "x", "tags": [1]}),
                "every tag must be a string",
            ),
            (
                "remember",
                json!({"text": "x", "tag": ["a"]}),
                "unknown argument `tag`",
            ),
            ("search", json!({}), "missing required argument `query`"),
            ("search", json!({"query": "  "}), "`query` is empty"),
            (
                "search",
                json!({"query": "x".repeat(5000)}),
                "limit is 4096",
            ),
            (
                "search",
                json!({"query": "a", "limit": 0}),
                "`limit` must be an integer from 1 to 50",
            ),
            ("search", json!({"query": "a", "limit": 51}), "from 1 to 50"),
            (
                "search",
                json!({"query": "a", "limit": "5"}),
                "from 1 to 50",
            ),
            (
                "search",
                json!({"query": "a", "limit": 2.5}),
                "from 1 to 50",
            ),
            ("search", json!({"query": "a", "limit": -1}), "from 1 to 50"),
            ("search", json!({"query": "a", "tag": "bad tag"}), "' '"),
            ("search", json!({"query": "a", "tag": ""}), "empty"),
            (
                "search",
                json!({"query": "a", "tag": "x".repeat(65)}),
                "limit is 64",
            ),
            (
                "search",
                json!({"query": "a", "tag": 3}),
                "`tag` must be a string",
            ),
            ("recall", json!({}), "missing required argument `id`"),
            ("recall", json!({"id": 12}), "`id` must be a string"),
            ("recall", json!({"id": ""}), "`id` is empty"),
            (
                "forget",
                json!({"id": null}),
                "missing required argument `id`",
            ),
            ("list_notes", json!({"limit": 100}), "from 1 to 50"),
            (
                "list_notes",
                json!({"cursor": 5}),
                "`cursor` must be a string",
            ),
            ("list_notes", json!({"cursor": ""}), "next_cursor"),
            (
                "list_notes",
                json!({"page": 2}),
                "Accepted arguments: by, cursor, limit, since, spaces, tag, tags_all, tags_any, until",
            ),
        ];
        for (tool, args, expect) in cases {
            let text = call_err(&m, tool, args.clone());
            assert!(
                text.contains(expect),
                "{tool} {args}: {text:?} lacks {expect:?}"
            );
        }
        for bad in [json!([1]), json!("text"), json!(3)] {
            let text = call_err(&m, "remember", bad);
            assert!(text.contains("must be a JSON object"), "{text}");
        }
    }

    // ---- tools against a real brain ----

    fn remember(m: &Mcp, text: &str, tags: Value) -> String {
        let r = call(m, "remember", json!({"text": text, "tags": tags}));
        assert_eq!(r["isError"], false, "{r}");
        r["structuredContent"]["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    #[test]
    fn remember_then_recall_returns_the_whole_note() {
        let m = mcp();
        let r = call(
            &m,
            "remember",
            json!({"text": "The user's dog is called Rex", "tags": ["Pets", "family"]}),
        );
        assert_eq!(r["isError"], false);
        let sc = &r["structuredContent"];
        let id = sc["id"].as_str().expect("id");
        assert!(sc["created_at"].as_str().is_some_and(|t| t.ends_with('Z')));
        assert_eq!(sc["tags"], json!(["pets", "family"]));
        assert!(r["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains(id)));

        let r = call(&m, "recall", json!({"id": id}));
        assert_eq!(r["isError"], false);
        let n = &r["structuredContent"];
        assert_eq!(n["id"], id);
        assert_eq!(n["text"], "The user's dog is called Rex");
        assert_eq!(n["tags"], json!(["pets", "family"]));
        assert_eq!(n["created_at"], sc["created_at"]);
        assert!(n["updated_at"].is_string());
        assert!(r["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("dog is called Rex")));
        // Nulls for optional arguments mean "not given".
        let r = call(
            &m,
            "remember",
            json!({"text": "no tags here", "tags": null}),
        );
        assert_eq!(r["structuredContent"]["tags"], json!([]));
    }

    #[test]
    fn remember_limits_come_back_as_tool_errors() {
        let m = mcp();
        let text = call_err(&m, "remember", json!({"text": "x".repeat(65_537)}));
        assert!(
            text.contains("65537 bytes") && text.contains("65536"),
            "{text}"
        );
        assert_eq!(
            call(&m, "remember", json!({"text": "x".repeat(65_536)}))["isError"],
            false
        );
        let text = call_err(&m, "remember", json!({"text": ""}));
        assert!(text.contains("`text` is empty"), "{text}");
        let text = call_err(&m, "remember", json!({"text": " \n "}));
        assert!(text.contains("`text` is empty"), "{text}");
        let tags: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
        let text = call_err(&m, "remember", json!({"text": "x", "tags": tags}));
        assert!(text.contains("at most 16"), "{text}");
        let text = call_err(&m, "remember", json!({"text": "x", "tags": ["two words"]}));
        assert!(text.contains("two-words"), "{text}");
        let text = call_err(
            &m,
            "remember",
            json!({"text": "x", "tags": ["a".repeat(65)]}),
        );
        assert!(text.contains("the limit is 64"), "{text}");
        assert_eq!(m.brain.len(), 1, "only the 64 KiB note was stored");
    }

    #[test]
    fn search_returns_best_first_with_scores() {
        let m = mcp();
        let rex = remember(
            &m,
            "The dog Rex likes long walks; the dog is old",
            json!(["pets"]),
        );
        let cat = remember(&m, "The cat sleeps all day, unlike the dog", json!([]));
        remember(&m, "Quarterly report due in March", json!(["work"]));
        let r = call(&m, "search", json!({"query": "dog"}));
        assert_eq!(r["isError"], false);
        let results = r["structuredContent"]["results"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert_eq!(results.len(), 2);
        assert_eq!(results[0]["id"], rex.as_str());
        assert_eq!(results[1]["id"], cat.as_str());
        let (s0, s1) = (results[0]["score"].as_f64(), results[1]["score"].as_f64());
        assert!(s0 >= s1 && s1 > Some(0.0), "{s0:?} {s1:?}");
        for key in [
            "id",
            "snippet",
            "length",
            "tags",
            "created_at",
            "updated_at",
            "score",
        ] {
            assert!(results[0].get(key).is_some(), "{key}");
        }
        // Tag filter (upper case is lower-cased), limit, and no match.
        let r = call(&m, "search", json!({"query": "dog", "tag": "PETS"}));
        assert_eq!(
            r["structuredContent"]["results"].as_array().map(Vec::len),
            Some(1)
        );
        let r = call(&m, "search", json!({"query": "dog", "limit": 1}));
        assert_eq!(
            r["structuredContent"]["results"].as_array().map(Vec::len),
            Some(1)
        );
        let r = call(&m, "search", json!({"query": "dog", "limit": 1.0}));
        assert_eq!(r["isError"], false);
        let r = call(&m, "search", json!({"query": "zebra"}));
        assert_eq!(r["isError"], false);
        assert_eq!(r["structuredContent"]["results"], json!([]));
        assert!(r["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.starts_with("No notes")));
    }

    #[test]
    fn forget_says_whether_it_deleted() {
        let m = mcp();
        let id = remember(&m, "temporary fact", json!([]));
        let r = call(&m, "forget", json!({"id": id}));
        assert_eq!(r["isError"], false);
        assert_eq!(r["structuredContent"], json!({"id": id, "deleted": true}));
        // Again: nothing to delete. An error the model can act on, still saying deleted: false.
        let r = call(&m, "forget", json!({"id": id}));
        assert_eq!(r["isError"], true);
        assert_eq!(r["structuredContent"], json!({"id": id, "deleted": false}));
        assert!(r["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("Nothing was deleted")));
        let text = call_err(&m, "recall", json!({"id": id}));
        assert!(text.contains("no note has id"), "{text}");
        let text = call_err(&m, "recall", json!({"id": "x".repeat(300)}));
        assert!(text.contains("no note has id"), "{text}");
    }

    #[test]
    fn list_notes_pages_newest_first() {
        let m = mcp();
        let ids: Vec<String> = (0..5)
            .map(|i| {
                remember(
                    &m,
                    &format!("note {i}"),
                    json!(if i % 2 == 0 { vec!["even"] } else { vec![] }),
                )
            })
            .collect();
        let r = call(&m, "list_notes", json!({"limit": 2}));
        let sc = &r["structuredContent"];
        let page: Vec<&str> = sc["notes"]
            .as_array()
            .map(|a| a.iter().filter_map(|n| n["id"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(page, [ids[4].as_str(), ids[3].as_str()]);
        let cursor = sc["next_cursor"].as_str().expect("cursor").to_string();
        assert!(r["content"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains(&cursor)));
        let r = call(&m, "list_notes", json!({"limit": 2, "cursor": cursor}));
        let r = call(
            &m,
            "list_notes",
            json!({"limit": 2, "cursor": r["structuredContent"]["next_cursor"]}),
        );
        let sc = &r["structuredContent"];
        assert_eq!(sc["notes"][0]["id"], ids[0].as_str());
        assert_eq!(sc["next_cursor"], Value::Null);
        // Default limit, tag filter.
        let r = call(&m, "list_notes", json!({}));
        assert_eq!(
            r["structuredContent"]["notes"].as_array().map(Vec::len),
            Some(5)
        );
        let r = call(&m, "list_notes", json!({"tag": "even"}));
        assert_eq!(
            r["structuredContent"]["notes"].as_array().map(Vec::len),
            Some(3)
        );
        let text = call_err(&m, "list_notes", json!({"cursor": "garbage"}));
        assert!(text.contains("cursor"), "{text}");
        let r = call(&m, "list_notes", json!({"tag": "nothing-here"}));
        assert_eq!(
            r["structuredContent"],
            json!({"notes": [], "next_cursor": null})
        );
    }

    #[test]
    fn modern_tools_call_needs_no_initialize() {
        let m = mcp();
        let r = modern(
            &m,
            "tools/call",
            json!({"name": "remember", "arguments": {"text": "stateless works"}}),
        );
        assert_eq!(r.status, 200);
        let v = json_of(&r);
        assert_eq!(v["id"], 7);
        let res = &v["result"];
        assert_eq!(res["resultType"], "complete");
        assert_eq!(res["isError"], false);
        assert!(res["structuredContent"]["id"].is_string());
        assert_eq!(res["_meta"][META_SERVER_INFO]["name"], "brain-mcp");
        // Bad arguments stay a 200 tool error in this era too.
        let r = modern(
            &m,
            "tools/call",
            json!({"name": "search", "arguments": {"limit": 3}}),
        );
        assert_eq!(r.status, 200);
        let v = json_of(&r);
        assert_eq!(v["result"]["isError"], true);
        assert_eq!(v["result"]["resultType"], "complete");
    }

    // ---- issue 7: update, history, duplicates, filters, tags, bounded answers ----

    fn size_of(r: &Value) -> usize {
        tools::result_size(
            r["content"][0]["text"].as_str().unwrap_or(""),
            &r["structuredContent"],
        )
    }

    #[test]
    fn update_and_history_through_the_tools() {
        let m = mcp();
        let id = remember(&m, "The cat is called Tom", json!(["pets"]));
        let r = call(
            &m,
            "update",
            json!({"id": id, "text": "The cat is called Tim"}),
        );
        assert_eq!(r["structuredContent"]["changed"], true, "{r}");
        let r = call(&m, "update", json!({"id": id, "tags": ["Pets"]}));
        assert_eq!(r["structuredContent"]["changed"], false, "{r}");
        let r = call(&m, "recall", json!({"id": id, "history": true}));
        let sc = &r["structuredContent"];
        assert_eq!(sc["text"], "The cat is called Tim");
        assert_eq!(
            (sc["version"].clone(), sc["versions"].clone()),
            (json!(2), json!(2))
        );
        assert_eq!(sc["history"][0]["text"], "The cat is called Tom");
        assert_eq!(sc["history"][0]["version"], 1);
        let r = call(&m, "recall", json!({"id": id, "version": 1}));
        assert_eq!(r["structuredContent"]["text"], "The cat is called Tom");
        for (args, want) in [
            (json!({"id": id}), "nothing to change"),
            (json!({"id": "n_nope", "text": "x"}), "no note has id"),
            (json!({"id": id, "text": " "}), "`text` is empty"),
            (json!({"id": id, "tags": "x"}), "[\"x\"]"),
        ] {
            let t = call_err(&m, "update", args.clone());
            assert!(t.contains(want), "{args}: {t}");
        }
        let t = call_err(&m, "recall", json!({"id": id, "version": 3}));
        assert!(t.contains("has 2 versions"), "{t}");
    }

    #[test]
    fn duplicates_filters_and_tags_through_the_tools() {
        let m = mcp();
        let a = remember(&m, "alpha  fact", json!(["x", "y"]));
        let r = call(
            &m,
            "remember",
            json!({"text": " alpha fact\n", "tags": ["Y", "x"]}),
        );
        assert_eq!(r["structuredContent"]["duplicate"], true);
        assert_eq!(r["structuredContent"]["id"], a.as_str());
        remember(&m, "alpha other", json!(["y"]));
        let r = call(&m, "list_tags", json!({}));
        assert_eq!(
            r["structuredContent"]["tags"],
            json!([{"tag": "y", "count": 2}, {"tag": "x", "count": 1}])
        );
        let n = |r: Value, key: &str| r["structuredContent"][key].as_array().map(Vec::len);
        let r = call(
            &m,
            "search",
            json!({"query": "alpha", "tags_all": ["x", "y"]}),
        );
        assert_eq!(n(r, "results"), Some(1));
        let r = call(&m, "list_notes", json!({"tags_any": ["x", "nope"]}));
        assert_eq!(n(r, "notes"), Some(1));
        let r = call(&m, "list_notes", json!({"until": "2000-01-01"}));
        assert_eq!(n(r, "notes"), Some(0));
        let r = call(
            &m,
            "search",
            json!({"query": "alpha", "since": "2000-01-01T00:00:00Z"}),
        );
        assert_eq!(n(r, "results"), Some(2));
        for (tool, args, want) in [
            (
                "search",
                json!({"query": "a", "tags_any": ["bad tag"]}),
                "`tags_any`: tag \"bad tag\"",
            ),
            (
                "list_notes",
                json!({"tags_all": "x"}),
                "must be an array of tags",
            ),
            (
                "list_notes",
                json!({"since": "yesterday"}),
                "`since` must be an RFC 3339 time",
            ),
            (
                "list_notes",
                json!({"since": "2026-02-01", "until": "2026-01-01"}),
                "is after",
            ),
            (
                "list_tags",
                json!({"cursor": "zz"}),
                "not one list_tags returned",
            ),
            (
                "search",
                json!({"query": "a", "cursor": "zz"}),
                "not one this search returned",
            ),
            ("recall", json!({"id": a, "offset": 99}), "past the end"),
        ] {
            let t = call_err(&m, tool, args.clone());
            assert!(t.contains(want), "{tool} {args}: {t}");
        }
    }

    #[test]
    fn every_answer_stays_under_the_budget_and_pages() {
        let m = mcp();
        // 60 notes of ~2000 characters, with control characters to maximize escaping.
        let mut ids = Vec::new();
        for i in 0..60 {
            let text = format!("needle {i} {}", "\u{1}é\"x".repeat(500));
            let tags: Vec<String> = (0..16)
                .map(|t| format!("{t:02}{}", "t".repeat(62)))
                .collect();
            ids.push(remember(&m, &text, json!(tags)));
        }
        // list_notes: every page within budget, all notes once, in order.
        let mut seen = Vec::new();
        let mut cursor = Value::Null;
        loop {
            let r = call(&m, "list_notes", json!({"limit": 50, "cursor": cursor}));
            assert!(size_of(&r) <= tools::RESULT_BUDGET, "{}", size_of(&r));
            let sc = &r["structuredContent"];
            for n in sc["notes"].as_array().unwrap() {
                assert_eq!(n["truncated"], true);
                seen.push(n["id"].as_str().unwrap().to_string());
            }
            cursor = sc["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
            assert!(r["content"][0]["text"].as_str().unwrap().contains(&format!(
                "call list_notes with the same filters and cursor=\"{}\"",
                cursor.as_str().unwrap()
            )));
        }
        ids.reverse();
        assert_eq!(seen, ids);
        // search: same, over pages.
        let mut found = 0;
        let mut cursor = Value::Null;
        loop {
            let r = call(
                &m,
                "search",
                json!({"query": "needle", "limit": 50, "cursor": cursor}),
            );
            assert!(size_of(&r) <= tools::RESULT_BUDGET, "{}", size_of(&r));
            found += r["structuredContent"]["results"].as_array().unwrap().len();
            cursor = r["structuredContent"]["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
        }
        assert_eq!(found, 60);
        // recall of a 64 KiB note: pages by offset that put the text back together.
        let long: String =
            (0..11000).map(|i| format!("w{i:05}\n")).collect::<String>()[..65_536].to_string();
        let id = remember(&m, &long, json!([]));
        for i in 0..5 {
            call(
                &m,
                "update",
                json!({"id": id, "text": format!("{long}{i}")[1..].to_string()}),
            );
        }
        let mut text = String::new();
        let mut offset = json!(0);
        loop {
            let r = call(
                &m,
                "recall",
                json!({"id": id, "offset": offset, "history": true}),
            );
            assert!(size_of(&r) <= tools::RESULT_BUDGET, "{}", size_of(&r));
            let sc = &r["structuredContent"];
            text.push_str(sc["text"].as_str().unwrap());
            assert_eq!(sc["versions"], 6);
            offset = sc["next_offset"].clone();
            if offset.is_null() {
                break;
            }
            assert!(r["content"][0]["text"]
                .as_str()
                .unwrap()
                .contains(&format!("call recall with id=\"{id}\" and offset={offset}")));
        }
        assert_eq!(text, format!("{long}4")[1..]);
        // list_tags: 16 long tags here, but many more pages the same way.
        for i in 0..300 {
            remember(
                &m,
                &format!("tagged {i}"),
                json!([format!("tag-{i:03}-{}", "z".repeat(50))]),
            );
        }
        let mut tags = 0;
        let mut cursor = Value::Null;
        loop {
            let r = call(&m, "list_tags", json!({"cursor": cursor}));
            assert!(size_of(&r) <= tools::RESULT_BUDGET, "{}", size_of(&r));
            tags += r["structuredContent"]["tags"].as_array().unwrap().len();
            cursor = r["structuredContent"]["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
        }
        assert_eq!(tags, 316);
    }

    // ---- issue 10: ChatGPT's search and fetch, the instructions ----

    /// tools/call in the handshake era with extra headers and `_meta`; the CallToolResult,
    /// its structuredContent checked against the tool's output schema.
    fn call_as(m: &Mcp, headers: &[(&str, &str)], meta: Value, tool: &str, args: Value) -> Value {
        let mut params = json!({"name": tool, "arguments": args});
        if !meta.is_null() {
            params["_meta"] = meta;
        }
        let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": params});
        let r = post(m, headers, &body.to_string());
        assert_eq!(r.status, 200);
        let result = json_of(&r)["result"].clone();
        if result["isError"] == false {
            let schema = (tools::find(tool).expect("tool").output_schema)();
            conforms(&result["structuredContent"], &schema)
                .unwrap_or_else(|e| panic!("{tool}: {e}: {result}"));
        }
        result
    }

    /// The text item of an OpenAI-shaped result: exactly one, of type text, whose text is the
    /// JSON encoding of structuredContent.
    fn assert_openai_text(r: &Value) {
        let content = r["content"].as_array().cloned().unwrap_or_default();
        assert_eq!(content.len(), 1, "{r}");
        assert_eq!(content[0]["type"], "text");
        let text = content[0]["text"].as_str().unwrap_or("");
        let parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
        assert_eq!(parsed, r["structuredContent"]);
    }

    #[test]
    fn search_results_carry_a_title_and_a_canonical_url() {
        let m = mcp();
        let id = remember(
            &m,
            "Dentist on Tuesday at 9\nbring the insurance card",
            json!([]),
        );
        let r = call(&m, "search", json!({"query": "dentist"}));
        let hit = &r["structuredContent"]["results"][0];
        assert_eq!(hit["id"], id.as_str());
        assert_eq!(hit["title"], "Dentist on Tuesday at 9");
        assert_eq!(
            hit["url"],
            format!("https://brain.example.com/notes/{id}").as_str()
        );
        // The readable rendering is what it was: no URL a person cannot open yet.
        let text = r["content"][0]["text"].as_str().unwrap_or("");
        assert!(text.contains(&format!("1. id {id} (created")), "{text}");
        assert!(!text.contains("https://"), "{text}");
        // A long first line is cut at a word.
        let long = format!("{} tail", "planning the garden ".repeat(6));
        remember(&m, &long, json!([]));
        let r = call(&m, "search", json!({"query": "garden"}));
        let title = r["structuredContent"]["results"][0]["title"]
            .as_str()
            .unwrap_or("")
            .to_string();
        assert!(
            title.ends_with("garden…") && title.chars().count() <= 80,
            "{title}"
        );
    }

    #[test]
    fn fetch_gives_the_note_in_openai_fields() {
        let m = mcp();
        let id = remember(
            &m,
            "Anna's birthday is 3 May\nshe likes tulips",
            json!(["family"]),
        );
        call(
            &m,
            "update",
            json!({"id": id, "text": "Anna's birthday is 4 May\nshe likes tulips"}),
        );
        let note = m.brain.recall(&id).expect("note");
        let r = call(&m, "fetch", json!({"id": id}));
        assert_eq!(r["isError"], false);
        assert_eq!(
            r["structuredContent"],
            json!({
                "id": id,
                "title": "Anna's birthday is 4 May",
                "text": "Anna's birthday is 4 May\nshe likes tulips",
                "url": format!("https://brain.example.com/notes/{id}"),
                "metadata": {
                    "tags": ["family"],
                    "created_at": note.created_at,
                    "updated_at": note.updated_at,
                    "space": "main",
                    "by": "static token",
                },
                "length": 41,
                "offset": 0,
                "next_offset": null,
            })
        );
        assert_eq!(
            r["content"][0]["text"],
            format!(
                "Note {id} (created {}, updated {}, tags: family, 41 characters):\nAnna's \
                 birthday is 4 May\nshe likes tulips",
                note.created_at, note.updated_at
            )
            .as_str()
        );
        // An unknown id, a bad offset, a missing id: errors a model can act on.
        for (args, want) in [
            (
                json!({"id": "n_nope"}),
                "no note has id \"n_nope\": check the id with search or list_notes (it may \
                 have been forgotten)",
            ),
            (
                json!({"id": id, "offset": 41}),
                "`offset` 41 is past the end of the text, which has 41 characters: pass an \
                 offset below that, or leave it out to start at the beginning",
            ),
            (
                json!({}),
                "missing required argument `id`: pass the note's id as a string; for example \
                 {\"id\": \"<id from search or list_notes>\"}",
            ),
            (
                json!({"id": id, "history": true}),
                "unknown argument `history` for fetch: remove it. Accepted arguments: id, offset",
            ),
        ] {
            assert_eq!(call_err(&m, "fetch", args.clone()), want, "{args}");
        }
        // Through the stateless era too.
        let r = modern(
            &m,
            "tools/call",
            json!({"name": "fetch", "arguments": {"id": id}}),
        );
        assert_eq!(
            json_of(&r)["result"]["structuredContent"]["id"],
            id.as_str()
        );
    }

    #[test]
    fn openai_shape_by_user_agent_client_info_or_openai_meta() {
        let m = mcp();
        let id = remember(&m, "The spare key is under the blue pot", json!(["home"]));
        let openai: [(&[(&str, &str)], Value); 4] = [
            (&[("user-agent", "openai-mcp/1.0.0")], Value::Null),
            (&[("user-agent", "OpenAI-MCP/1.0.0 (Codex)")], Value::Null),
            (
                &[],
                json!({"openai/locale": "en-US", "openai/subject": "v1/x"}),
            ),
            (
                &[],
                json!({"io.modelcontextprotocol/clientInfo": {"name": "openai-mcp", "version": "1.0.0"}}),
            ),
        ];
        for (headers, meta) in &openai {
            for (tool, args) in [
                ("search", json!({"query": "key"})),
                ("fetch", json!({"id": id})),
            ] {
                let r = call_as(&m, headers, meta.clone(), tool, args);
                assert_eq!(r["isError"], false, "{r}");
                assert_openai_text(&r);
            }
            // Other tools, and errors, keep the readable text.
            let r = call_as(&m, headers, meta.clone(), "recall", json!({"id": id}));
            assert!(r["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("Note ")));
            let r = call_as(&m, headers, meta.clone(), "fetch", json!({"id": "n_nope"}));
            assert_eq!(r["isError"], true);
            assert!(r["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("no note has id")));
        }
        // The same structured result for every client; readable text for the others.
        let base = call_as(&m, &[], Value::Null, "search", json!({"query": "key"}));
        for (headers, meta) in [
            (&[("user-agent", "Claude-User")][..], Value::Null),
            (&[("user-agent", "python-httpx/0.28.1")], Value::Null),
            (&[("user-agent", "openai-mcpx/1.0")], Value::Null),
            (
                &[],
                json!({"io.modelcontextprotocol/clientInfo": {"name": "claude-ai"}}),
            ),
            (&[], json!({"openaix/locale": "en"})),
        ] {
            let r = call_as(&m, headers, meta.clone(), "search", json!({"query": "key"}));
            assert_eq!(r, base, "{headers:?} {meta}");
            assert!(r["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.starts_with("1 note matches \"key\", best first")));
        }
        let o = call_as(
            &m,
            &[("user-agent", "openai-mcp/1.0.0")],
            Value::Null,
            "search",
            json!({"query": "key"}),
        );
        assert_eq!(o["structuredContent"], base["structuredContent"]);
        // Stateless era: clientInfo in _meta.
        let body = json!({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {
        "name": "search", "arguments": {"query": "key"},
        "_meta": {
            META_PROTOCOL_VERSION: MODERN_VERSION,
            META_CLIENT_CAPABILITIES: {},
            META_CLIENT_INFO: {"name": "openai-mcp", "version": "1.0.0"},
        }}});
        let r = post(
            &m,
            &[
                ("mcp-protocol-version", MODERN_VERSION),
                ("mcp-method", "tools/call"),
                ("mcp-name", "search"),
            ],
            &body.to_string(),
        );
        let res = json_of(&r)["result"].clone();
        assert_eq!(res["resultType"], "complete");
        assert_openai_text(&res);
    }

    #[test]
    fn openai_shape_stays_under_the_budget_and_pages() {
        let m = mcp();
        let ua: &[(&str, &str)] = &[("user-agent", "openai-mcp/1.0.0")];
        // Characters that cost the most when encoded twice: quotes, backslashes, controls.
        let mut ids = Vec::new();
        for i in 0..40 {
            let text = format!("needle {i} {}", "\u{1}\"\\\n".repeat(400));
            let tags: Vec<String> = (0..16)
                .map(|t| format!("{t:02}{}", "t".repeat(62)))
                .collect();
            ids.push(remember(&m, &text, json!(tags)));
        }
        let mut found = Vec::new();
        let mut cursor = Value::Null;
        loop {
            let r = call_as(
                &m,
                ua,
                Value::Null,
                "search",
                json!({"query": "needle", "limit": 50, "cursor": cursor}),
            );
            assert_openai_text(&r);
            assert!(size_of(&r) <= tools::RESULT_BUDGET, "{}", size_of(&r));
            for h in r["structuredContent"]["results"].as_array().unwrap() {
                found.push(h["id"].as_str().unwrap().to_string());
            }
            cursor = r["structuredContent"]["next_cursor"].clone();
            if cursor.is_null() {
                break;
            }
        }
        found.sort();
        ids.sort();
        assert_eq!(found, ids);
        // fetch of a 64 KiB note of the costliest characters, in both shapes: pages that put
        // it back together, each under the budget.
        let long: String = "\"\\\u{1}\n".repeat(16_384);
        assert_eq!(long.len(), 65_536);
        let id = remember(&m, &long, json!([]));
        for headers in [ua, &[]] {
            let mut text = String::new();
            let mut offset = json!(0);
            let mut parts = 0;
            loop {
                let r = call_as(
                    &m,
                    headers,
                    Value::Null,
                    "fetch",
                    json!({"id": id, "offset": offset}),
                );
                assert!(size_of(&r) <= tools::RESULT_BUDGET, "{}", size_of(&r));
                let sc = &r["structuredContent"];
                assert!(sc["text"].as_str().is_some_and(|t| !t.is_empty()));
                text.push_str(sc["text"].as_str().unwrap());
                parts += 1;
                offset = sc["next_offset"].clone();
                if headers.is_empty() && !offset.is_null() {
                    assert!(r["content"][0]["text"]
                        .as_str()
                        .unwrap()
                        .ends_with(&format!(
                            "[The text continues: call fetch with id=\"{id}\" and offset={offset} \
                         for the next part.]"
                        )));
                } else if !headers.is_empty() {
                    assert_openai_text(&r);
                }
                if offset.is_null() {
                    break;
                }
            }
            assert_eq!(text, long);
            assert!(parts > 4, "{parts}");
        }
    }

    #[test]
    fn instructions_correct_with_update_and_mention_fetch() {
        assert!(
            INSTRUCTIONS.contains("correct it with `update`"),
            "{INSTRUCTIONS}"
        );
        assert!(INSTRUCTIONS.contains("not with `forget` and `remember`"));
        assert!(INSTRUCTIONS.contains("`fetch`"));
        assert!(!INSTRUCTIONS.contains("`forget` it and `remember`"));
        // Every tool the instructions name exists.
        for word in INSTRUCTIONS.split('`').skip(1).step_by(2) {
            if word.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
                let known = tools::find(word).is_some()
                    || ["tags", "cursor", "next_cursor"].contains(&word);
                assert!(known, "{word}");
            }
        }
    }
}
