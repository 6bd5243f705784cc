//! The brain's tools: one table ([`TOOLS`]) holds each tool's name, description, JSON Schemas and
//! handler, so adding a tool (`update`, `list_tags`, ...) is one entry plus its handler.
//!
//! Rules every handler follows:
//! - Bad arguments (missing, wrong type, over a limit, unknown id, unknown extra argument) are a
//!   tool result with `isError: true` and a message that says what to change; never a JSON-RPC
//!   error. Only an unknown tool name or a `params` that is not a CallToolRequest is one.
//! - Unknown extra arguments are refused (the input schemas say `additionalProperties: false`):
//!   a model that writes `tag` where `tags` is meant would otherwise lose its tags silently.
//! - `null` for an optional argument means "not given" (models send it often).
//! - A success carries `structuredContent` matching the tool's `outputSchema` and a readable text
//!   rendering in `content[0]`. Errors carry text only (both SDK clients skip output validation
//!   for `isError` results), except `forget` of an unknown id, which also says `deleted: false`.
//! - `search` and `fetch` called by OpenAI's client ([`Shape::OpenAi`]) have as their one text
//!   item the JSON encoding of `structuredContent` instead of the readable rendering (see
//!   `openai_shape` in `mod.rs` for the rule); the structured result is the same for everyone.

use serde_json::{json, Map, Value};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::brain::snippet::title;
use crate::brain::{
    normalize_space, normalize_tag, Author, Brain, BrainError, Filter, Note, Updated, Writer,
    MAIN_SPACE, MAX_TAGS,
};
use crate::caller::Caller;
use crate::time::{format_rfc3339, parse_rfc3339_or_date};

/// `limit` bounds for `search` and `list_notes`.
pub const MIN_LIMIT: u64 = 1;
pub const MAX_LIMIT: u64 = 50;
pub const DEFAULT_LIMIT: u64 = 10;
/// A search query is a few words or a sentence; 4 KiB is far above that and keeps one query cheap.
pub const MAX_QUERY_BYTES: usize = 4096;
/// Ids are short opaque strings; anything longer cannot name a note.
pub const MAX_ID_BYTES: usize = 256;
/// Cursors are opaque strings the brain issued; anything longer cannot be one.
pub const MAX_CURSOR_BYTES: usize = 1024;

/// How a result's text item is written.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Shape {
    /// The readable rendering: what a model reads best, with the exact call for the next page.
    Readable,
    /// OpenAI's MCP guide for `search` and `fetch` (deep research, company knowledge): "exactly
    /// one content item with `type: "text"`" whose text is the JSON-encoded result object.
    OpenAi,
}

/// What a handler works with: the brain, where notes live on the web, and the text shape.
pub struct Ctx<'a> {
    pub brain: &'a Brain,
    /// `{issuer}/notes/`: a note's canonical URL is this followed by its percent-encoded id.
    pub notes_url: &'a str,
    /// Already narrowed to [`Shape::Readable`] for tools that have no OpenAI shape.
    pub shape: Shape,
    /// The caller as the brain sees it: its writer, review mark and what it may see
    /// (`author.view`, the base of every filter).
    pub author: Author,
}

impl Ctx<'_> {
    /// The note's canonical, stable URL on this server's public origin: never empty, so
    /// ChatGPT makes a citation of it ("ChatGPT creates citation metadata only when `url` is a
    /// non-empty string"). The id is one path segment: every byte outside RFC 3986's
    /// unreserved set is percent-encoded (an imported id may hold `/`, `?` or `#`).
    fn url(&self, id: &str) -> String {
        note_url(self.notes_url, id)
    }
}

/// `prefix` followed by `id` as one percent-encoded path segment.
pub fn note_url(prefix: &str, id: &str) -> String {
    let mut u = String::with_capacity(prefix.len() + id.len());
    u.push_str(prefix);
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            u.push(b as char);
        } else {
            u.push_str(&format!("%{b:02X}"));
        }
    }
    u
}

/// One tool: everything `tools/list` shows and the handler `tools/call` runs.
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: fn() -> Value,
    pub output_schema: fn() -> Value,
    pub run: fn(&Ctx, &Args) -> Result<Output, ToolError>,
    /// The MCP tool annotations (hints for clients deciding whether to ask the user first).
    pub hints: Hints,
    /// Whether OpenAI's client gets its JSON text shape ([`Shape::OpenAi`]): `search` and
    /// `fetch`, the two tools OpenAI specifies.
    pub openai_shape: bool,
}

/// `readOnlyHint`, `destructiveHint`, `idempotentHint`; `openWorldHint` is always false (the
/// brain is a closed store: no tool reaches outside it).
pub struct Hints {
    pub read_only: bool,
    pub destructive: bool,
    pub idempotent: bool,
}

/// Reading tools: no effect at all, so trivially idempotent and never destructive.
const READ_ONLY: Hints = Hints {
    read_only: true,
    destructive: false,
    idempotent: true,
};

/// A successful call: the structured result and its text rendering.
pub struct Output {
    pub structured: Value,
    pub text: String,
}

/// A failed call, reported as a tool result with `isError: true`.
pub struct ToolError {
    pub text: String,
    /// Only where the failure still has a well-formed answer (forget of an unknown id).
    pub structured: Option<Value>,
}

impl ToolError {
    fn new(text: impl Into<String>) -> ToolError {
        ToolError {
            text: text.into(),
            structured: None,
        }
    }
}

/// The tools, in the fixed order `tools/list` shows them.
pub static TOOLS: [Tool; 9] = [
    Tool {
        name: "remember",
        title: "Remember a note",
        description: "Save one note to the user's long-term memory (their \"brain\") so it can be \
found in later conversations. Use it for durable facts, decisions, preferences, and \
things the user asks you to remember. Write one self-contained fact per note, in plain \
words, with enough context to be understood months later (who, what, when). Call `search` \
first: if a note already says this, `update` it instead of saving another. Optional `tags` \
(up to 16, each 1-64 characters of a-z, 0-9, '_' or '-', lower-cased for you) group notes \
for filtering, e.g. [\"work\", \"project-x\"]. Saving exactly the same text (ignoring \
whitespace) with the same tags as an existing note stores nothing and returns that note's id \
with `duplicate: true`, so retrying is safe. Returns the note's id and created_at.",
        input_schema: remember_input,
        output_schema: remember_output,
        run: remember,
        // Additive; and with duplicate detection a retried call returns the note the first
        // call stored instead of saving a copy, so repeating it has no further effect.
        hints: Hints {
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        openai_shape: false,
    },
    Tool {
        name: "update",
        title: "Update a note",
        description: "Change an existing note in place: pass its `id` and the new `text`, the new \
`tags` (replacing all of them), or both. The note keeps its id and created_at; updated_at \
moves. The previous version is kept: `recall` with `history: true` shows every earlier \
version. Use it to correct or extend a note instead of saving a near-duplicate. Passing what \
the note already says changes nothing (`changed: false`).",
        input_schema: update_input,
        output_schema: update_output,
        run: update,
        // Not destructive: an update appends a version and every earlier version stays
        // readable through `recall` with `history: true`, so nothing is lost and a bad edit is
        // undone by another update. Idempotent: the same text and tags again is a no-op.
        hints: Hints {
            read_only: false,
            destructive: false,
            idempotent: true,
        },
        openai_shape: false,
    },
    Tool {
        name: "search",
        title: "Search notes",
        description: "Full-text search over the user's notes; best matches first, each with id, \
title (the note's first line), url, a snippet of about 300 characters around the matches \
(matched words marked **like this**), the note's length in characters, tags, created_at, \
updated_at and a relevance score. Call `recall` (or `fetch`) with an id for the whole note. Matching ignores case and accents. Use it before \
answering anything that may depend on what the user told you before, and before `remember` \
to avoid duplicates. Pass a few distinctive keywords as `query` (not a whole question); try \
synonyms if nothing matches. Filters: `tag`, `tags_all` (every one of these tags), \
`tags_any` (at least one), `since`/`until` (on created_at; an RFC 3339 time or a date \
YYYY-MM-DD, where a date as `until` means the end of that day, UTC). `limit` is 1-50 \
(default 10); when `next_cursor` is not null, pass it back as `cursor` with the same query \
and filters for more.",
        input_schema: search_input,
        output_schema: search_output,
        run: search,
        hints: READ_ONLY,
        openai_shape: true,
    },
    Tool {
        name: "recall",
        title: "Recall a note",
        description: "Fetch one whole note by its id (as returned by `search`, `list_notes` or \
`remember`): its text, tags, created_at, updated_at and length in characters. A note longer \
than one answer holds comes in pages: the text starts at character `offset` (default 0), and \
when `next_offset` is not null, call recall again with that `offset` for the rest. \
`history: true` adds the earlier versions (oldest first, each with its text, tags and \
updated_at); `version` (1 = the first) fetches one earlier version's whole text instead of \
the current one.",
        input_schema: recall_input,
        output_schema: recall_output,
        run: recall,
        hints: READ_ONLY,
        openai_shape: false,
    },
    Tool {
        name: "fetch",
        title: "Fetch a note",
        description: "Fetch one note's full text by its id (as returned by `search`), with its \
title (its first line), its url on this server, and metadata: tags, created_at and updated_at. \
It is `recall` in the shape ChatGPT's deep research expects; use either. A note longer than \
one answer holds comes in parts: the text starts at character `offset` (default 0), and when \
`next_offset` is not null, call fetch again with that `offset` for the rest.",
        input_schema: fetch_input,
        output_schema: fetch_output,
        run: fetch,
        hints: READ_ONLY,
        openai_shape: true,
    },
    Tool {
        name: "forget",
        title: "Forget a note",
        description: "Delete one note by its id, permanently, with its history. Use it when the \
user asks you to forget something or when a note is wrong and should not be kept (to \
correct a note, prefer `update`). Check the id with `search` or `recall` first. Says whether \
a note was deleted.",
        input_schema: id_input,
        output_schema: forget_output,
        run: forget,
        // Removes the note and its whole history; a repeat finds nothing more to delete.
        hints: Hints {
            read_only: false,
            destructive: true,
            idempotent: true,
        },
        openai_shape: false,
    },
    Tool {
        name: "list_notes",
        title: "List notes",
        description:
            "List the user's notes, newest first (in the order they were saved; an update \
does not move a note). Filters as in `search`: `tag`, `tags_all`, `tags_any`, `since`, \
`until` (on created_at). Pages of up to `limit` notes (1-50, default 10), fewer when the \
page would grow too large; when `next_cursor` is not null, pass it back as `cursor` with the \
same filters to get the next page. A note longer than 1000 characters is shown cut \
(`truncated: true`); `recall` gives the whole text. Use it to browse recent notes; use \
`search` to find something specific.",
        input_schema: list_input,
        output_schema: list_output,
        run: list_notes,
        hints: READ_ONLY,
        openai_shape: false,
    },
    Tool {
        name: "list_tags",
        title: "List tags",
        description: "List every tag in use with how many notes carry it, most used first (ties \
alphabetically). Use it to learn the user's existing tags before tagging a new note or \
filtering by tag. When `next_cursor` is not null, pass it back as `cursor` for more.",
        input_schema: list_tags_input,
        output_schema: list_tags_output,
        run: list_tags,
        hints: READ_ONLY,
        openai_shape: false,
    },
    Tool {
        name: "list_spaces",
        title: "List spaces",
        description: "List the spaces this client can see, each with how many notes it holds, \
most used first. A note lives in one space (`main` unless another was named): spaces keep \
areas apart, e.g. \"work\" and \"home\". `remember` and `update` take `space`; `search` and \
`list_notes` take `spaces` to look only there (by default they look in every space this \
client can see).",
        input_schema: list_spaces_input,
        output_schema: list_spaces_output,
        run: list_spaces,
        hints: READ_ONLY,
        openai_shape: false,
    },
];

pub fn find(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.name == name)
}

/// The `tools/list` entry of one tool.
pub fn describe(tool: &Tool) -> Value {
    json!({
        "name": tool.name,
        "title": tool.title,
        "description": tool.description,
        "inputSchema": (tool.input_schema)(),
        "outputSchema": (tool.output_schema)(),
        "annotations": {
            "title": tool.title,
            "readOnlyHint": tool.hints.read_only,
            "destructiveHint": tool.hints.destructive,
            "idempotentHint": tool.hints.idempotent,
            "openWorldHint": false,
        },
    })
}

/// Runs a known tool on its `arguments` (absent or `null` means `{}`) and builds the
/// CallToolResult. Never fails: every problem with the arguments is an `isError` result.
/// `brain`, `notes_url` and `shape` make the handler's [`Ctx`]; `shape` applies only to the
/// tools that have an OpenAI shape.
pub fn call(
    brain: &Brain,
    notes_url: &str,
    shape: Shape,
    tool: &Tool,
    arguments: Option<&Value>,
    caller: &Caller,
) -> Value {
    let ctx = Ctx {
        brain,
        notes_url,
        shape: if tool.openai_shape {
            shape
        } else {
            Shape::Readable
        },
        author: caller.author(),
    };
    let empty = Map::new();
    let map = match arguments {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(m)) => m,
        Some(other) => {
            return error_result(&ToolError::new(format!(
                "`arguments` must be a JSON object of named arguments, not {}; for example \
                 {}",
                kind(other),
                example(tool.name)
            )))
        }
    };
    let args = Args {
        tool: tool.name,
        map,
    };
    if let Err(e) = args.reject_unknown((tool.input_schema)()) {
        return error_result(&e);
    }
    match (tool.run)(&ctx, &args) {
        Ok(out) => {
            let text = match ctx.shape {
                Shape::Readable => out.text,
                // The same object as structuredContent, so the two can never disagree.
                Shape::OpenAi => out.structured.to_string(),
            };
            json!({
                "content": [{"type": "text", "text": text}],
                "structuredContent": out.structured,
                "isError": false,
            })
        }
        Err(e) => error_result(&e),
    }
}

fn error_result(e: &ToolError) -> Value {
    let mut result = json!({
        "content": [{"type": "text", "text": e.text}],
        "isError": true,
    });
    if let (Some(s), Some(obj)) = (&e.structured, result.as_object_mut()) {
        obj.insert("structuredContent".into(), s.clone());
    }
    result
}

fn example(tool: &str) -> &'static str {
    match tool {
        "remember" => r#"{"text": "The user's dog is called Rex", "tags": ["pets"]}"#,
        "search" => r#"{"query": "dog name"}"#,
        "recall" | "fetch" | "forget" => r#"{"id": "<id from search or list_notes>"}"#,
        "update" => r#"{"id": "<id from search or list_notes>", "text": "The corrected note"}"#,
        _ => r#"{"limit": 10}"#,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A tool's arguments with typed, explaining accessors.
pub struct Args<'a> {
    tool: &'static str,
    map: &'a Map<String, Value>,
}

impl Args<'_> {
    /// Refuses arguments the input schema does not name.
    fn reject_unknown(&self, schema: Value) -> Result<(), ToolError> {
        let known: Vec<String> = schema
            .get("properties")
            .and_then(Value::as_object)
            .map(|p| p.keys().cloned().collect())
            .unwrap_or_default();
        if let Some(unknown) = self.map.keys().find(|k| !known.contains(k)) {
            let accepted = if known.is_empty() {
                "none".to_string()
            } else {
                known.join(", ")
            };
            return Err(ToolError::new(format!(
                "unknown argument `{}` for {}: remove it. Accepted arguments: {accepted}",
                clip(unknown, 64),
                self.tool
            )));
        }
        Ok(())
    }

    /// `None` when absent or `null`.
    fn get(&self, key: &str) -> Option<&Value> {
        self.map.get(key).filter(|v| !v.is_null())
    }

    fn opt_str(&self, key: &str) -> Result<Option<&str>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(ToolError::new(format!(
                "`{key}` must be a string, not {}",
                kind(other)
            ))),
        }
    }

    fn req_str(&self, key: &str, what: &str) -> Result<&str, ToolError> {
        match self.opt_str(key)? {
            Some(s) => Ok(s),
            None => Err(ToolError::new(format!(
                "missing required argument `{key}`: pass {what}; for example {}",
                example(self.tool)
            ))),
        }
    }

    fn id(&self) -> Result<&str, ToolError> {
        let id = self.req_str("id", "the note's id as a string")?;
        if id.trim().is_empty() {
            return Err(ToolError::new(
                "`id` is empty: pass the id of a note, as returned by search or list_notes",
            ));
        }
        Ok(id)
    }

    fn limit(&self) -> Result<usize, ToolError> {
        let Some(v) = self.get("limit") else {
            return Ok(DEFAULT_LIMIT as usize);
        };
        let n = v.as_u64().or_else(|| {
            // JSON Schema's "integer" includes 5.0.
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64)
                .map(|f| f as u64)
        });
        match n {
            Some(n) if (MIN_LIMIT..=MAX_LIMIT).contains(&n) => Ok(n as usize),
            _ => Err(ToolError::new(format!(
                "`limit` must be an integer from {MIN_LIMIT} to {MAX_LIMIT} (default \
                 {DEFAULT_LIMIT}), not {}",
                clip(&v.to_string(), 40)
            ))),
        }
    }

    /// The optional `tag` filter, lower-cased and checked like a note's tags.
    fn tag_filter(&self) -> Result<Option<String>, ToolError> {
        match self.opt_str("tag")? {
            None => Ok(None),
            // The brain's own rules and messages: a tag no note could carry is refused.
            Some(t) => normalize_tag(t).map(Some).map_err(from_brain_invalid),
        }
    }

    fn opt_bool(&self, key: &str) -> Result<Option<bool>, ToolError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(ToolError::new(format!(
                "`{key}` must be true or false, not {}",
                kind(other)
            ))),
        }
    }

    /// An optional non-negative integer (5.0 counts, as JSON Schema's "integer" says).
    fn opt_count(&self, key: &str, what: &str) -> Result<Option<usize>, ToolError> {
        let Some(v) = self.get(key) else {
            return Ok(None);
        };
        let n = v.as_u64().or_else(|| {
            v.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u32::MAX as f64)
                .map(|f| f as u64)
        });
        match n.and_then(|n| usize::try_from(n).ok()) {
            Some(n) => Ok(Some(n)),
            None => Err(ToolError::new(format!(
                "`{key}` must be a whole number {what}, not {}",
                clip(&v.to_string(), 40)
            ))),
        }
    }

    /// `tags_any` or `tags_all`: an array of up to 16 tags, each checked like a note's tags.
    fn tag_list(&self, key: &str) -> Result<Vec<String>, ToolError> {
        let items = match self.get(key) {
            None => return Ok(Vec::new()),
            Some(Value::Array(items)) => items,
            Some(Value::String(s)) => {
                return Err(ToolError::new(format!(
                    "`{key}` must be an array of tags, not a string: pass [{:?}]",
                    clip(s, 64)
                )))
            }
            Some(other) => {
                return Err(ToolError::new(format!(
                    "`{key}` must be an array of tags like [\"work\", \"ideas\"], not {}",
                    kind(other)
                )))
            }
        };
        if items.len() > MAX_TAGS {
            return Err(ToolError::new(format!(
                "`{key}` has {} tags; at most {MAX_TAGS} are allowed",
                items.len()
            )));
        }
        let mut out: Vec<String> = Vec::with_capacity(items.len());
        for t in items {
            let Value::String(s) = t else {
                return Err(ToolError::new(format!(
                    "every tag in `{key}` must be a string, but one is {}",
                    kind(t)
                )));
            };
            let t = normalize_tag(s).map_err(|e| ToolError::new(format!("`{key}`: {e}")))?;
            if !out.contains(&t) {
                out.push(t);
            }
        }
        Ok(out)
    }

    /// `since` or `until`: an RFC 3339 time or a date. A date as `until` means the end of that
    /// day (UTC), so `until: "2026-01-31"` includes notes written on the 31st.
    fn time(&self, key: &str) -> Result<Option<u64>, ToolError> {
        let Some(s) = self.opt_str(key)? else {
            return Ok(None);
        };
        let Some(t) = parse_rfc3339_or_date(s.trim()) else {
            return Err(ToolError::new(format!(
                "`{key}` must be an RFC 3339 time like \"2026-01-31T09:00:00Z\" or a date like \
                 \"2026-01-31\" (UTC), not {:?}",
                clip(s, 64)
            )));
        };
        Ok(Some(if key == "until" && s.trim().len() == 10 {
            t + 86_399
        } else {
            t
        }))
    }

    /// `tag`, `tags_all`, `tags_any`, `since`, `until`, `spaces` and `by`, within what
    /// `view` (the caller's) lets through.
    fn filter(&self, view: &Filter) -> Result<Filter, ToolError> {
        let mut tags_all = self.tag_list("tags_all")?;
        if let Some(t) = self.tag_filter()? {
            if !tags_all.contains(&t) {
                tags_all.push(t);
            }
        }
        let f = Filter {
            tags_all,
            tags_any: self.tag_list("tags_any")?,
            since: self.time("since")?,
            until: self.time("until")?,
            spaces: self.spaces(view)?,
            by: self
                .opt_str("by")?
                .map(|b| vec![b.to_string()])
                .unwrap_or_default(),
            viewer: view.viewer.clone(),
            pending_only: false,
        };
        if let (Some(a), Some(b)) = (f.since, f.until) {
            if a > b {
                return Err(ToolError::new(format!(
                    "`since` ({}) is after `until` ({}): no note can match; swap them or \
                     widen the range",
                    format_rfc3339(a),
                    format_rfc3339(b)
                )));
            }
        }
        Ok(f)
    }

    /// `spaces`: the spaces to look in, each one the caller may see; absent, every space it
    /// may see (`view.spaces`).
    fn spaces(&self, view: &Filter) -> Result<Option<Vec<String>>, ToolError> {
        let Some(v) = self.get("spaces") else {
            return Ok(view.spaces.clone());
        };
        let Value::Array(items) = v else {
            return Err(ToolError::new(format!(
                "`spaces` must be an array of space names like [\"work\"], not {}",
                kind(v)
            )));
        };
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let Value::String(name) = item else {
                return Err(ToolError::new(format!(
                    "every space in `spaces` must be a string, but one is {}",
                    kind(item)
                )));
            };
            let name = normalize_space(name).map_err(from_brain_invalid)?;
            if let Some(allowed) = &view.spaces {
                if !allowed.contains(&name) {
                    return Err(ToolError::new(format!(
                        "this client may see only the space{} {}; {name:?} is not one of them",
                        if allowed.len() == 1 { "" } else { "s" },
                        allowed.join(", ")
                    )));
                }
            }
            if !out.contains(&name) {
                out.push(name);
            }
        }
        if out.is_empty() {
            return Err(ToolError::new(
                "`spaces` is empty: name at least one space, or leave it out for every space",
            ));
        }
        Ok(Some(out))
    }

    /// `space`, for a write: checked by the space rules (the brain checks the caller may
    /// write there).
    fn space(&self) -> Result<Option<&str>, ToolError> {
        self.opt_str("space")
    }

    fn tags(&self) -> Result<Vec<String>, ToolError> {
        match self.get("tags") {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) => items
                .iter()
                .map(|t| match t {
                    Value::String(s) => Ok(s.clone()),
                    other => Err(ToolError::new(format!(
                        "every tag must be a string, but one is {}: pass `tags` as an \
                         array of strings like [\"work\", \"ideas\"]",
                        kind(other)
                    ))),
                })
                .collect(),
            // A lone string is a common slip; say exactly how to fix it.
            Some(Value::String(s)) => Err(ToolError::new(format!(
                "`tags` must be an array of strings, not a string: pass [{:?}]",
                clip(s, 64)
            ))),
            Some(other) => Err(ToolError::new(format!(
                "`tags` must be an array of strings like [\"work\", \"ideas\"], not {}",
                kind(other)
            ))),
        }
    }
}

fn from_brain_invalid(e: BrainError) -> ToolError {
    ToolError::new(e.to_string())
}

/// Maps a brain failure of a write. `Io` means nothing was acknowledged.
fn write_failure(e: BrainError, what_not_done: &str) -> ToolError {
    match e {
        BrainError::Invalid(m) => ToolError::new(m),
        BrainError::Io(err) => ToolError::new(format!(
            "storage error: {what_not_done} ({err}). Nothing changed; try again later or \
             tell the user the brain's disk needs attention."
        )),
        BrainError::Corrupt(m) => ToolError::new(format!(
            "storage error: {what_not_done} ({m}). Tell the user the brain's data needs \
             attention."
        )),
    }
}

/// Cuts `s` to at most `max` bytes at a character boundary, for echoing client input.
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

fn tags_text(tags: &[String]) -> String {
    if tags.is_empty() {
        "no tags".to_string()
    } else {
        format!("tags: {}", tags.join(", "))
    }
}

// ---- bounded answers ----

/// Every tool result stays under this many bytes: its text rendering and its
/// `structuredContent`, each serialized as JSON. Longer answers come in pages with a cursor
/// (or, for one long note, an offset), and the text rendering says how to get the rest.
pub const RESULT_BUDGET: usize = 16 * 1024;
/// `search` shows a snippet of about this many characters per note, not the whole text.
pub const SNIPPET_CHARS: usize = 300;
/// `list_notes` and `recall`'s history show at most this many characters of a note's text.
pub const PREVIEW_CHARS: usize = 1000;
/// What a page keeps free for its header and footer lines, its cursor and the JSON around its
/// items.
const PAGE_RESERVE: usize = 2048;

/// Bytes of `c` inside a JSON string (serde_json's escaping).
fn escaped_len(c: char) -> usize {
    match c {
        '"' | '\\' | '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 2,
        c if (c as u32) < 0x20 => 6,
        c => c.len_utf8(),
    }
}

fn json_str_len(s: &str) -> usize {
    2 + s.chars().map(escaped_len).sum::<usize>()
}

/// Bytes of `c` inside a JSON string that is itself inside a JSON string: a character of a
/// note in [`Shape::OpenAi`]'s text item, which is `structuredContent` encoded once more.
fn escaped_twice_len(c: char) -> usize {
    match c {
        '"' | '\\' => 4,                             // \"  ->  \\\"
        '\n' | '\r' | '\t' | '\u{8}' | '\u{c}' => 3, // \n  ->  \\n
        c if (c as u32) < 0x20 => 7,                 // \u0001 -> \\u0001
        c => c.len_utf8(),
    }
}

impl Shape {
    /// What one character of a note's text costs in a result that carries it once in
    /// `structuredContent` and once in the text item.
    fn char_cost(self, c: char) -> usize {
        match self {
            Shape::Readable => 2 * escaped_len(c),
            Shape::OpenAi => escaped_len(c) + escaped_twice_len(c),
        }
    }
}

/// The size [`RESULT_BUDGET`] bounds.
pub fn result_size(text: &str, structured: &Value) -> usize {
    json_str_len(text) + serde_json::to_string(structured).map_or(usize::MAX / 2, |s| s.len())
}

/// Items of a paged answer, and their text rendering, while they fit the budget.
struct Page {
    used: usize,
    items: Vec<Value>,
    text: String,
    /// With [`Shape::OpenAi`] the text item is the items' JSON again, not `text`.
    shape: Shape,
}

impl Page {
    fn new() -> Page {
        Page::with_shape(Shape::Readable)
    }

    fn with_shape(shape: Shape) -> Page {
        Page {
            used: PAGE_RESERVE,
            items: Vec::new(),
            text: String::new(),
            shape,
        }
    }

    /// The item once in `structuredContent` (with its comma), and once in the text item: its
    /// rendering, or (OpenAI's shape) its JSON inside the JSON string.
    fn cost(&self, item: &Value, text: &str) -> usize {
        let json = serde_json::to_string(item).unwrap_or_else(|_| "x".repeat(RESULT_BUDGET));
        let rendered = match self.shape {
            Shape::Readable => json_str_len(text) - 2,
            Shape::OpenAi => json_str_len(&json) - 2 + 1,
        };
        json.len() + 1 + rendered
    }

    fn fits(&self, item: &Value, text: &str) -> bool {
        self.used + self.cost(item, text) <= RESULT_BUDGET
    }

    /// Adds the item if it fits; the first item of a page is always added (callers make sure
    /// one item is small enough).
    fn push(&mut self, item: Value, text: &str) -> bool {
        if !self.items.is_empty() && !self.fits(&item, text) {
            return false;
        }
        self.used += self.cost(&item, text);
        self.items.push(item);
        self.text.push_str(text);
        true
    }
}

/// The longest part of `text` from character `offset` whose characters cost at most `room`
/// bytes (by `cost`): that part and the character index where it ends. `recall` and `fetch`
/// page a long note with it, so both cut the same way.
fn text_part(
    text: &str,
    offset: usize,
    room: usize,
    cost: impl Fn(char) -> usize,
) -> (&str, usize) {
    let start = text
        .char_indices()
        .nth(offset)
        .map_or(text.len(), |(b, _)| b);
    let mut used = 0;
    let mut end = offset;
    let mut end_byte = text.len();
    for (b, c) in text[start..].char_indices() {
        used += cost(c);
        if used > room {
            end_byte = start + b;
            break;
        }
        end += 1;
    }
    (&text[start..end_byte], end)
}

/// Refuses an `offset` at or past the end of a text of `length` characters (0 is always
/// fine: an empty text has its one empty part).
fn check_offset(offset: usize, length: usize) -> Result<(), ToolError> {
    if offset > length || (offset == length && length > 0) {
        return Err(ToolError::new(format!(
            "`offset` {offset} is past the end of the text, which has {}: pass an offset \
             below that, or leave it out to start at the beginning",
            plural(length, "character", "characters")
        )));
    }
    Ok(())
}

/// The first `max` characters of `s`, and whether that is all of it.
fn preview(s: &str, max: usize) -> (&str, bool) {
    match s.char_indices().nth(max) {
        Some((i, _)) => (&s[..i], true),
        None => (s, false),
    }
}

/// `" with tag \"a\" created since ..."`: what a filter kept, for the text rendering.
fn scope_text(f: &Filter) -> String {
    let mut s = String::new();
    match f.tags_all.as_slice() {
        [] => {}
        [t] => s.push_str(&format!(" with tag {t:?}")),
        ts => s.push_str(&format!(" with all of the tags {}", ts.join(", "))),
    }
    if !f.tags_any.is_empty() {
        s.push_str(&format!(" with any of the tags {}", f.tags_any.join(", ")));
    }
    if let Some(t) = f.since {
        s.push_str(&format!(" created since {}", format_rfc3339(t)));
    }
    if let Some(t) = f.until {
        s.push_str(&format!(" created until {}", format_rfc3339(t)));
    }
    if let Some(sp) = &f.spaces {
        s.push_str(&format!(
            " in {} {}",
            if sp.len() == 1 { "space" } else { "spaces" },
            sp.join(", ")
        ));
    }
    if let Some(b) = f.by.first() {
        s.push_str(&format!(" written by {b:?}"));
    }
    s
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

// ---- cursors of search and list_tags (list_notes's come from the brain) ----

const SEARCH_CURSOR: u8 = 2;
const TAGS_CURSOR: u8 = 3;

/// Ties a search cursor to its query and filters: 8 bytes of SHA-256.
fn search_key(query: &str, f: &Filter) -> [u8; 8] {
    use sha2::{Digest, Sha256};
    let d = Sha256::digest(format!("{query}\0{f:?}").as_bytes());
    let mut k = [0u8; 8];
    k.copy_from_slice(&d[..8]);
    k
}

fn encode_search_cursor(offset: usize, key: [u8; 8]) -> String {
    let mut b = vec![SEARCH_CURSOR];
    b.extend_from_slice(&(offset as u32).to_be_bytes());
    b.extend_from_slice(&key);
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_search_cursor(c: &str, key: [u8; 8]) -> Option<usize> {
    let b = URL_SAFE_NO_PAD.decode(c).ok()?;
    if b.len() != 13 || b[0] != SEARCH_CURSOR || b[5..] != key {
        return None;
    }
    Some(u32::from_be_bytes(b[1..5].try_into().ok()?) as usize)
}

fn encode_tags_cursor(count: usize, tag: &str) -> String {
    let mut b = vec![TAGS_CURSOR];
    b.extend_from_slice(&(count as u64).to_be_bytes());
    b.extend_from_slice(tag.as_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_tags_cursor(c: &str) -> Option<(usize, String)> {
    let b = URL_SAFE_NO_PAD.decode(c).ok()?;
    if b.len() < 10 || b[0] != TAGS_CURSOR {
        return None;
    }
    let count = u64::from_be_bytes(b[1..9].try_into().ok()?);
    Some((
        usize::try_from(count).ok()?,
        String::from_utf8(b[9..].to_vec()).ok()?,
    ))
}

/// `cursor`, checked for size; `None` when absent.
fn cursor_arg<'a>(args: &'a Args, how: &str) -> Result<Option<&'a str>, ToolError> {
    let c = args.opt_str("cursor")?;
    if let Some(c) = c {
        if c.is_empty() || c.len() > MAX_CURSOR_BYTES {
            return Err(bad_cursor(how));
        }
    }
    Ok(c)
}

fn bad_cursor(how: &str) -> ToolError {
    ToolError::new(format!(
        "`cursor` is not one {how} returned: pass the `next_cursor` of the previous page \
         unchanged (with the same other arguments), or leave it out to start from the first page"
    ))
}

/// Who wrote a version, for people and models: `Claude (grant g_x)`, `static token`, and
/// `unknown` for what was written before provenance.
fn writer_text(by: Option<&Writer>) -> String {
    by.map_or_else(|| "unknown".to_string(), Writer::label)
}

/// `, space work, pending review`: what a result line adds about a note outside `main` or
/// awaiting the owner's review.
fn marks(n: &Note) -> String {
    let mut s = String::new();
    if n.space != MAIN_SPACE {
        s.push_str(&format!(", space {}", n.space));
    }
    if n.pending {
        s.push_str(", pending the owner's review");
    }
    s
}

/// A note's space, writer and review mark in structured results.
fn provenance(item: &mut Value, n: &Note) {
    item["space"] = json!(n.space);
    item["by"] = json!(writer_text(n.by.as_ref()));
    if n.pending {
        item["pending"] = json!(true);
    }
}

// ---- handlers ----

fn remember(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let brain = ctx.brain;
    let text = args.req_str("text", "the content of the note as a string")?;
    let tags = args.tags()?;
    let space = args.space()?;
    let (note, duplicate) = brain
        .remember_by(text, &tags, space, &ctx.author)
        .map_err(|e| write_failure(e, "the note was NOT saved"))?;
    let mut text = if duplicate {
        format!(
            "Already saved: note {} (created {}, {}{}) has exactly this text and these tags, \
             so nothing new was stored.",
            note.id,
            note.created_at,
            tags_text(&note.tags),
            marks(&note)
        )
    } else {
        format!(
            "Saved note {} (created {}, {}{}).",
            note.id,
            note.created_at,
            tags_text(&note.tags),
            marks(&note)
        )
    };
    if note.pending && !duplicate {
        text.push_str(
            " The owner reviews this client's notes: other clients see it once the owner \
             accepts it.",
        );
    }
    let mut structured = json!({
        "id": note.id,
        "created_at": note.created_at,
        "tags": note.tags,
        "duplicate": duplicate,
    });
    provenance(&mut structured, &note);
    Ok(Output { text, structured })
}

fn update(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let brain = ctx.brain;
    let id = args.id()?;
    let text = args.opt_str("text")?;
    let tags = match args.get("tags") {
        None => None,
        Some(_) => Some(args.tags()?),
    };
    let space = args.space()?;
    if text.is_none() && tags.is_none() && space.is_none() {
        return Err(ToolError::new(format!(
            "nothing to change: pass `text` (the note's new content), `tags` (its new tag \
             list, replacing the old one), `space` (to move it), or any of them; for example {}",
            example("update")
        )));
    }
    if id.len() > MAX_ID_BYTES {
        return Err(not_found(id));
    }
    let (note, changed) = match brain
        .update_by(id, text, tags.as_deref(), space, &ctx.author)
        .map_err(|e| write_failure(e, "the note was NOT updated"))?
    {
        Updated::NotFound => return Err(not_found(id)),
        Updated::Unchanged(n) => (n, false),
        Updated::Changed(n) => (n, true),
    };
    let text = if changed {
        format!(
            "Updated note {} (updated {}, {}{}). The previous version is kept: recall with \
             history=true shows it.",
            note.id,
            note.updated_at,
            tags_text(&note.tags),
            marks(&note)
        )
    } else {
        format!(
            "Note {} already says this ({}{}); nothing changed.",
            note.id,
            tags_text(&note.tags),
            marks(&note)
        )
    };
    let mut structured = json!({
        "id": note.id,
        "tags": note.tags,
        "created_at": note.created_at,
        "updated_at": note.updated_at,
        "length": note.text.chars().count(),
        "changed": changed,
    });
    provenance(&mut structured, &note);
    Ok(Output { text, structured })
}

fn search(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let query = args.req_str("query", "a few keywords to look for")?;
    if query.trim().is_empty() {
        return Err(ToolError::new(
            "`query` is empty: pass a few keywords to look for, or use list_notes to browse",
        ));
    }
    if query.len() > MAX_QUERY_BYTES {
        return Err(ToolError::new(format!(
            "`query` is {} bytes; the limit is {MAX_QUERY_BYTES}: use a few distinctive \
             keywords instead of a long passage",
            query.len()
        )));
    }
    let limit = args.limit()?;
    let filter = args.filter(&ctx.author.view)?;
    let key = search_key(query, &filter);
    let offset = match cursor_arg(args, "search")? {
        None => 0,
        Some(c) => decode_search_cursor(c, key).ok_or_else(|| bad_cursor("this search"))?,
    };
    let (hits, more, used) = ctx.brain.search_page_meaning(query, &filter, offset, limit);
    let meaning = used.field();
    let mut page = Page::with_shape(ctx.shape);
    for (i, h) in hits.iter().enumerate() {
        let score = if h.score.is_finite() { h.score } else { 0.0 };
        let snippet = crate::brain::snippet::snippet(&h.note.text, query, SNIPPET_CHARS);
        let length = h.note.text.chars().count();
        let mut item = json!({
            "id": h.note.id,
            "title": title(&h.note.text),
            "url": ctx.url(&h.note.id),
            "snippet": snippet,
            "length": length,
            "tags": h.note.tags,
            "created_at": h.note.created_at,
            "updated_at": h.note.updated_at,
            "score": score,
        });
        provenance(&mut item, &h.note);
        let found = match &meaning {
            Some(_) => {
                item["found"] = h.found.as_str().into();
                format!(", found by {}", h.found.as_str())
            }
            None => String::new(),
        };
        let text = format!(
            "\n\n{}. id {} (created {}, updated {}, {}{}, {}, score {score:.3}{found})\n{snippet}",
            offset + i + 1,
            h.note.id,
            h.note.created_at,
            h.note.updated_at,
            tags_text(&h.note.tags),
            marks(&h.note),
            plural(length, "character", "characters"),
        );
        if !page.push(item, &text) {
            break;
        }
    }
    let shown = page.items.len();
    let next = (more || shown < hits.len()).then(|| encode_search_cursor(offset + shown, key));
    let scope = scope_text(&filter);
    let q = clip(query, 100);
    let mut text = if shown == 0 && offset == 0 {
        format!("No notes{scope} match {q:?}. Try other keywords or synonyms.")
    } else if shown == 0 {
        format!("No more notes{scope} match {q:?}.")
    } else {
        format!(
            "{}{scope} {} {q:?}, best first (results {} to {}; snippets only: call recall \
             with an id for the whole note):",
            plural(shown, "note", "notes"),
            if shown == 1 { "matches" } else { "match" },
            offset + 1,
            offset + shown
        )
    };
    match &used {
        crate::brain::meaning::Used::Off(why) => text.push_str(&format!(
            "\nSearch by meaning is off for this search ({why}): these results are from words alone."
        )),
        crate::brain::meaning::Used::Used => {
            text.push_str("\nRanked by words and meaning together.")
        }
        crate::brain::meaning::Used::NotConfigured => {}
    }
    text.push_str(&page.text);
    if let Some(c) = &next {
        text.push_str(&format!(
            "\n\nMore results: call search with the same query and filters and cursor=\"{c}\"."
        ));
    }
    let mut structured = json!({"results": page.items, "next_cursor": next});
    if let Some(m) = meaning {
        structured["meaning"] = m.into();
    }
    Ok(Output { structured, text })
}

fn recall(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let brain = ctx.brain;
    let id = args.id()?;
    let offset = args
        .opt_count("offset", "of characters to skip")?
        .unwrap_or(0);
    let with_history = args.opt_bool("history")?.unwrap_or(false);
    let version = args.opt_count("version", "from 1 (the first version)")?;
    if id.len() > MAX_ID_BYTES {
        return Err(not_found(id));
    }
    let Some((note, history)) = brain.recall_with_history_in(id, &ctx.author.view) else {
        return Err(not_found(id));
    };
    let versions = history.len() + 1;
    let current = (
        &note.text,
        &note.tags,
        &note.updated_at,
        &note.space,
        note.by.as_ref(),
    );
    let (text, tags, updated_at, space, by, v) = match version {
        None => (
            current.0, current.1, current.2, current.3, current.4, versions,
        ),
        Some(v) if v == versions => (current.0, current.1, current.2, current.3, current.4, v),
        Some(v) if v >= 1 && v < versions => {
            let h = &history[v - 1];
            (&h.text, &h.tags, &h.updated_at, &h.space, h.by.as_ref(), v)
        }
        Some(v) => {
            return Err(ToolError::new(format!(
                "`version` {v} does not exist: note {} has {} (1 is the first, {versions} the \
                 current one)",
                note.id,
                plural(versions, "version", "versions")
            )))
        }
    };
    let length = text.chars().count();
    check_offset(offset, length)?;

    // Earlier versions: the most recent ones that fit in half the budget, shown oldest first.
    let mut hist_items: Vec<Value> = Vec::new();
    let mut hist_text: Vec<String> = Vec::new();
    let mut hist_used = 0;
    if with_history {
        for (i, h) in history.iter().enumerate().rev() {
            let (cut, truncated) = preview(&h.text, PREVIEW_CHARS);
            let item = json!({
                "version": i + 1,
                "text": cut,
                "truncated": truncated,
                "length": h.text.chars().count(),
                "tags": h.tags,
                "updated_at": h.updated_at,
                "space": h.space,
                "by": writer_text(h.by.as_ref()),
            });
            let mut line = format!(
                "\n\nversion {} (updated {}, {}, space {}, by {}):\n{cut}",
                i + 1,
                h.updated_at,
                tags_text(&h.tags),
                h.space,
                writer_text(h.by.as_ref())
            );
            if truncated {
                line.push_str(&format!(
                    "\n[cut: call recall with id=\"{}\" and version={} for the whole text]",
                    note.id,
                    i + 1
                ));
            }
            let cost = Page::new().cost(&item, &line);
            if hist_used + cost > RESULT_BUDGET / 2 {
                break;
            }
            hist_used += cost;
            hist_items.push(item);
            hist_text.push(line);
        }
        hist_items.reverse();
        hist_text.reverse();
    }
    let omitted = history.len() - hist_items.len();

    let mut structured = json!({
        "id": note.id,
        "text": "",
        "tags": tags,
        "created_at": note.created_at,
        "updated_at": updated_at,
        "version": v,
        "versions": versions,
        "length": length,
        "offset": offset,
        "next_offset": null,
        "space": space,
        "by": writer_text(by),
    });
    if note.pending {
        structured["pending"] = json!(true);
    }
    if with_history {
        structured["history"] = Value::Array(hist_items);
        structured["history_omitted"] = json!(omitted);
    }
    let head = format!(
        "Note {} (created {}, updated {}, {}, space {space}, by {}{}, version {v} of {versions}, {})",
        note.id,
        note.created_at,
        updated_at,
        tags_text(tags),
        writer_text(by),
        if note.pending {
            ", pending the owner's review"
        } else {
            ""
        },
        plural(length, "character", "characters")
    );
    let tail: String = if with_history {
        let mut t = if history.is_empty() {
            "\n\nNo earlier versions.".to_string()
        } else {
            "\n\nEarlier versions, oldest first:".to_string()
        };
        if omitted > 0 {
            t.push_str(&format!(
                "\n({} not shown: call recall with id=\"{}\" and version=N, N from 1 to \
                 {omitted}, to read one)",
                plural(omitted, "older version", "older versions"),
                note.id
            ));
        }
        t.push_str(&hist_text.concat());
        t
    } else {
        String::new()
    };
    // The text goes in twice (structured and rendering); take what fits.
    let fixed = result_size(&head, &structured) + json_str_len(&tail) + 400;
    let room = RESULT_BUDGET.saturating_sub(fixed);
    let (part, end) = text_part(text, offset, room, |c| Shape::Readable.char_cost(c));
    let next_offset = (end < length).then_some(end);
    structured["text"] = json!(part);
    structured["next_offset"] = json!(next_offset);
    let version_arg = if version.is_some() {
        format!(" and version={v}")
    } else {
        String::new()
    };
    let mut rendered = if offset == 0 && next_offset.is_none() {
        format!("{head}:\n{part}")
    } else {
        format!("{head}, characters {offset} to {end}:\n{part}")
    };
    if let Some(n) = next_offset {
        rendered.push_str(&format!(
            "\n\n[The text continues: call recall with id=\"{}\"{version_arg} and offset={n} \
             for the next part.]",
            note.id
        ));
    }
    rendered.push_str(&tail);
    Ok(Output {
        text: rendered,
        structured,
    })
}

fn not_found(id: &str) -> ToolError {
    ToolError::new(format!(
        "no note has id {:?}: check the id with search or list_notes (it may have been \
         forgotten)",
        clip(id, 80)
    ))
}

/// `recall`'s current version in OpenAI's fetch shape: `{id, title, text, url, metadata}`,
/// plus `length`, `offset` and `next_offset`, paged by the same budget and rule as `recall`.
fn fetch(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let id = args.id()?;
    let offset = args
        .opt_count("offset", "of characters to skip")?
        .unwrap_or(0);
    if id.len() > MAX_ID_BYTES {
        return Err(not_found(id));
    }
    let Some(note) = ctx.brain.recall_in(id, &ctx.author.view) else {
        return Err(not_found(id));
    };
    let length = note.text.chars().count();
    check_offset(offset, length)?;
    let mut structured = json!({
        "id": note.id,
        "title": title(&note.text),
        "text": "",
        "url": ctx.url(&note.id),
        "metadata": {
            "tags": note.tags,
            "created_at": note.created_at,
            "updated_at": note.updated_at,
            "space": note.space,
            "by": writer_text(note.by.as_ref()),
        },
        "length": length,
        "offset": offset,
        "next_offset": null,
    });
    let head = format!(
        "Note {} (created {}, updated {}, {}, {})",
        note.id,
        note.created_at,
        note.updated_at,
        tags_text(&note.tags),
        plural(length, "character", "characters")
    );
    // What is not the text: in OpenAI's shape the text item is `structured` encoded again.
    // 400 bytes cover `next_offset` becoming a number and the readable continuation line.
    let fixed = match ctx.shape {
        Shape::Readable => result_size(&head, &structured),
        Shape::OpenAi => {
            let s = structured.to_string();
            s.len() + json_str_len(&s)
        }
    } + 400;
    let room = RESULT_BUDGET.saturating_sub(fixed);
    let (part, end) = text_part(&note.text, offset, room, |c| ctx.shape.char_cost(c));
    let next_offset = (end < length).then_some(end);
    structured["text"] = json!(part);
    structured["next_offset"] = json!(next_offset);
    let mut rendered = if offset == 0 && next_offset.is_none() {
        format!("{head}:\n{part}")
    } else {
        format!("{head}, characters {offset} to {end}:\n{part}")
    };
    if let Some(n) = next_offset {
        rendered.push_str(&format!(
            "\n\n[The text continues: call fetch with id=\"{}\" and offset={n} for the next \
             part.]",
            note.id
        ));
    }
    Ok(Output {
        text: rendered,
        structured,
    })
}

fn forget(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let brain = ctx.brain;
    let id = args.id()?;
    let deleted = if id.len() > MAX_ID_BYTES {
        false
    } else {
        brain
            .forget_by(id, &ctx.author)
            .map_err(|e| write_failure(e, "the note was NOT deleted"))?
    };
    if !deleted {
        let mut e = not_found(id);
        e.text = format!("Nothing was deleted: {}", e.text);
        e.structured = Some(json!({"id": id, "deleted": false}));
        return Err(e);
    }
    Ok(Output {
        text: format!("Deleted note {id}."),
        structured: json!({"id": id, "deleted": true}),
    })
}

/// One `list_notes` entry and its rendering, the text cut to `max` characters.
fn list_item(n: &Note, number: usize, max: usize) -> (Value, String) {
    let (cut, truncated) = preview(&n.text, max);
    let length = n.text.chars().count();
    let mut item = json!({
        "id": n.id,
        "text": cut,
        "truncated": truncated,
        "length": length,
        "tags": n.tags,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
    });
    provenance(&mut item, n);
    let mut text = format!(
        "\n\n{number}. id {} (created {}, updated {}, {}{}, {})\n{cut}",
        n.id,
        n.created_at,
        n.updated_at,
        tags_text(&n.tags),
        marks(n),
        plural(length, "character", "characters")
    );
    if truncated {
        text.push_str(&format!(
            "\n[cut at {max} characters: call recall with id=\"{}\" for the whole note]",
            n.id
        ));
    }
    (item, text)
}

fn list_notes(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let brain = ctx.brain;
    let limit = args.limit()?;
    let filter = args.filter(&ctx.author.view)?;
    let cursor = cursor_arg(args, "list_notes")?;
    let mut page = Page::new();
    let (notes, more) = brain
        .list_filtered(
            &filter,
            cursor,
            |n| {
                let number = page.items.len() + 1;
                let (mut item, mut text) = list_item(n, number, PREVIEW_CHARS);
                if page.items.is_empty() && !page.fits(&item, &text) {
                    // A pathological first note (control characters, 16 long tags): cut more.
                    (item, text) = list_item(n, number, PREVIEW_CHARS / 5);
                }
                page.push(item, &text)
            },
            limit,
        )
        .map_err(|e| match e {
            BrainError::Invalid(m) => ToolError::new(format!(
                "{m}. Pass the `next_cursor` of the previous page unchanged, or leave \
                 `cursor` out to start from the newest note"
            )),
            other => write_failure(other, "the notes could not be read"),
        })?;
    let next = if more {
        notes.last().map(|(c, _)| c.clone())
    } else {
        None
    };
    let scope = scope_text(&filter);
    let shown = page.items.len();
    let mut text = if shown == 0 {
        format!(
            "No {}notes{scope}.",
            if cursor.is_some() { "more " } else { "" }
        )
    } else {
        format!("{}{scope}, newest first:", plural(shown, "note", "notes"))
    };
    text.push_str(&page.text);
    if let Some(c) = &next {
        text.push_str(&format!(
            "\n\nMore notes: call list_notes with the same filters and cursor=\"{c}\" for \
             the next page."
        ));
    }
    Ok(Output {
        structured: json!({"notes": page.items, "next_cursor": next}),
        text,
    })
}

fn list_tags(ctx: &Ctx, args: &Args) -> Result<Output, ToolError> {
    let brain = ctx.brain;
    let cursor = cursor_arg(args, "list_tags")?;
    let all = brain.tag_counts_in(&ctx.author.view);
    let start = match cursor {
        None => 0,
        Some(c) => {
            let (count, tag) = decode_tags_cursor(c).ok_or_else(|| bad_cursor("list_tags"))?;
            // The first tag after the cursor's place in the order (count down, name up), so
            // a page boundary holds even if tags came and went.
            all.iter()
                .position(|(t, n)| *n < count || (*n == count && t.as_str() > tag.as_str()))
                .unwrap_or(all.len())
        }
    };
    let mut page = Page::new();
    for (t, n) in &all[start..] {
        let item = json!({"tag": t, "count": n});
        if !page.push(item, &format!("\n{t}: {}", plural(*n, "note", "notes"))) {
            break;
        }
    }
    let shown = page.items.len();
    let next = (start + shown < all.len())
        .then(|| all.get(start + shown - 1))
        .flatten()
        .map(|(t, n)| encode_tags_cursor(*n, t));
    let mut text = if shown == 0 {
        if cursor.is_some() {
            "No more tags.".to_string()
        } else {
            "No tags yet: no note has a tag.".to_string()
        }
    } else {
        format!("{}, most used first:", plural(shown, "tag", "tags"))
    };
    text.push_str(&page.text);
    if let Some(c) = &next {
        text.push_str(&format!(
            "\n\nMore tags: call list_tags with cursor=\"{c}\"."
        ));
    }
    Ok(Output {
        structured: json!({"tags": page.items, "next_cursor": next}),
        text,
    })
}

fn list_spaces(ctx: &Ctx, _args: &Args) -> Result<Output, ToolError> {
    let all = ctx.brain.space_counts(&ctx.author.view);
    let mut text = format!("{}, most used first:", plural(all.len(), "space", "spaces"));
    for (sp, n) in &all {
        text.push_str(&format!("\n{sp}: {}", plural(*n, "note", "notes")));
    }
    if let Some(only) = &ctx.author.view.spaces {
        text.push_str(&format!(
            "\n\nThis client may see and write only {}.",
            only.join(", ")
        ));
    }
    let items: Vec<Value> = all
        .iter()
        .map(|(sp, n)| json!({"space": sp, "count": n}))
        .collect();
    Ok(Output {
        structured: json!({"spaces": items}),
        text,
    })
}

// ---- schemas ----

/// A space name follows the tag rules, so its schema is a tag's.
fn space_schema(description: &str) -> Value {
    tag_schema(description)
}

/// A note's space, its writer and its review mark, as every result carries them (not
/// required: `pending` appears only while true).
fn note_space_schema() -> Value {
    json!({"type": "string", "description": "The space the note lives in (`main` unless another was named)."})
}

fn note_by_schema() -> Value {
    json!({"type": "string", "description": "Who wrote this version: a client's name and grant, \
        `static token`, `client_credentials <id>`, `oidc <subject>`, `owner`, `import`, or \
        `unknown` (written before provenance)."})
}

fn note_pending_schema() -> Value {
    json!({"type": "boolean", "description": "Present and true while the note waits for the \
        owner's review: only its writer and the owner see it."})
}

fn list_spaces_input() -> Value {
    json!({"type": "object", "properties": {}, "additionalProperties": false})
}

fn list_spaces_output() -> Value {
    let space = object(
        json!({
            "space": {"type": "string"},
            "count": {"type": "integer", "description": "How many notes it holds."},
        }),
        &["space", "count"],
    );
    object(
        json!({"spaces": {"type": "array", "items": space, "description": "Most used first."}}),
        &["spaces"],
    )
}

fn tag_schema(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^[A-Za-z0-9_-]+$",
        "description": description,
    })
}

fn tag_array_schema(description: &str) -> Value {
    json!({
        "type": "array",
        "maxItems": 16,
        "items": tag_schema("A tag: 1 to 64 characters of a-z, 0-9, '_' or '-' (upper case is \
            lower-cased)."),
        "description": description,
    })
}

fn limit_schema() -> Value {
    json!({
        "type": "integer",
        "minimum": MIN_LIMIT,
        "maximum": MAX_LIMIT,
        "default": DEFAULT_LIMIT,
        "description": "How many notes to return, 1 to 50 (default 10); a page may hold fewer \
            when it would grow too large.",
    })
}

fn time_schema(description: &str) -> Value {
    json!({"type": "string", "description": description})
}

fn cursor_schema(description: &str) -> Value {
    json!({"type": "string", "maxLength": MAX_CURSOR_BYTES, "description": description})
}

fn next_cursor_schema() -> Value {
    json!({
        "type": ["string", "null"],
        "description": "Pass as `cursor` for the next page; null on the last page.",
    })
}

/// The filters `search` and `list_notes` share.
fn filter_properties(p: &mut Map<String, Value>) {
    p.insert("tag".into(), tag_schema("Only notes that have this tag."));
    p.insert(
        "tags_all".into(),
        tag_array_schema("Only notes that have every one of these tags."),
    );
    p.insert(
        "tags_any".into(),
        tag_array_schema("Only notes that have at least one of these tags."),
    );
    p.insert(
        "since".into(),
        time_schema(
            "Only notes created at or after this time: RFC 3339 \
            (2026-01-31T09:00:00Z) or a date (2026-01-31, meaning its start, UTC).",
        ),
    );
    p.insert(
        "until".into(),
        time_schema(
            "Only notes created at or before this time: RFC 3339 \
            (2026-01-31T18:00:00Z) or a date (2026-01-31, meaning the end of that day, UTC).",
        ),
    );
    p.insert(
        "spaces".into(),
        json!({
            "type": "array",
            "items": space_schema("A space name."),
            "minItems": 1,
            "description": "Only notes in these spaces (default: every space this client can see).",
        }),
    );
    p.insert(
        "by".into(),
        json!({
            "type": "string",
            "minLength": 1,
            "maxLength": 255,
            "description": "Only notes whose current version this writer wrote: a client's \
                name, a grant or client ID, or a kind (static, client_credentials, grant, oidc, \
                owner, import, unknown).",
        }),
    );
}

fn with_filters(mut schema: Value) -> Value {
    if let Some(p) = schema.get_mut("properties").and_then(Value::as_object_mut) {
        filter_properties(p);
    }
    schema
}

fn string_array() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

fn object(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "properties": props, "required": required})
}

fn remember_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "text": {
                "type": "string",
                "minLength": 1,
                "description": "The note: one self-contained fact, decision or preference, \
                    1 byte to 64 KiB of UTF-8.",
            },
            "tags": tag_array_schema("Optional tags to group and filter notes, e.g. [\"work\"]."),
            "space": space_schema("The space to keep it in (default `main`); list_spaces \
                shows the existing ones. Same rules as a tag."),
        },
        "required": ["text"],
        "additionalProperties": false,
    })
}

fn remember_output() -> Value {
    object(
        json!({
            "id": {"type": "string", "description": "The note's id."},
            "created_at": {"type": "string", "description": "RFC 3339 UTC time it was saved."},
            "tags": {"type": "array", "items": {"type": "string"},
                     "description": "The tags as stored (lower-cased, duplicates dropped)."},
            "duplicate": {"type": "boolean", "description": "True when an identical note \
                already existed: its id is returned and nothing new was stored."},
        }),
        &["id", "created_at", "tags", "duplicate"],
    )
}

fn update_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {
                "type": "string",
                "minLength": 1,
                "description": "The note's id, as returned by search, list_notes or remember.",
            },
            "text": {
                "type": "string",
                "minLength": 1,
                "description": "The note's new text (replaces the old; 1 byte to 64 KiB).",
            },
            "tags": tag_array_schema("The note's new tags (replace all the old ones; [] \
                removes them)."),
            "space": space_schema("Move the note to this space (the move is a version like \
                any other)."),
        },
        "required": ["id"],
        "additionalProperties": false,
    })
}

fn update_output() -> Value {
    object(
        json!({
            "id": {"type": "string"},
            "tags": string_array(),
            "created_at": {"type": "string"},
            "updated_at": {"type": "string", "description": "RFC 3339 UTC time of this change."},
            "length": {"type": "integer", "description": "The text's length in characters."},
            "changed": {"type": "boolean", "description": "False when the note already said \
                this (nothing was written)."},
        }),
        &[
            "id",
            "tags",
            "created_at",
            "updated_at",
            "length",
            "changed",
        ],
    )
}

fn search_input() -> Value {
    with_filters(json!({
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_QUERY_BYTES,
                "description": "A few distinctive keywords to look for.",
            },
            "limit": limit_schema(),
            "cursor": cursor_schema("The next_cursor of the previous page of this search (same \
                query and filters); leave out for the best matches."),
        },
        "required": ["query"],
        "additionalProperties": false,
    }))
}

fn search_output() -> Value {
    let hit = object(
        json!({
            "id": {"type": "string", "description": "The note's id (recall or fetch it for the \
                whole text)."},
            "title": title_schema(),
            "url": url_schema(),
            "snippet": {"type": "string", "description": "About 300 characters around the \
                matches, matched words marked **like this**, … where text was cut."},
            "length": {"type": "integer", "description": "The note's length in characters."},
            "tags": string_array(),
            "created_at": {"type": "string", "description": "RFC 3339 UTC time the note was saved."},
            "updated_at": {"type": "string", "description": "RFC 3339 UTC time of its last change."},
            "score": {"type": "number", "description": "Relevance; higher is better."},
            "space": note_space_schema(),
            "by": note_by_schema(),
            "pending": note_pending_schema(),
            "found": {"type": "string", "enum": ["words", "meaning", "both"], "description":                 "Which part of the search found it (only when search by meaning is configured)."},
        }),
        &[
            "id",
            "title",
            "url",
            "snippet",
            "length",
            "tags",
            "created_at",
            "updated_at",
            "score",
        ],
    );
    object(
        json!({
            "results": {"type": "array", "items": hit, "description": "Best match first."},
            "next_cursor": next_cursor_schema(),
            "meaning": {"type": "string", "description": "\"used\" when search by meaning \
                took part, \"off: <why>\" when these results are from words alone (only when \
                an embeddings endpoint is configured)."},
        }),
        &["results", "next_cursor"],
    )
}

fn id_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {
                "type": "string",
                "minLength": 1,
                "description": "The note's id, as returned by search, list_notes or remember.",
            },
        },
        "required": ["id"],
        "additionalProperties": false,
    })
}

/// `recall`'s arguments: `fetch`'s (`id`, `offset`) and `history`, `version`.
fn recall_input() -> Value {
    let mut s = fetch_input();
    if let Some(p) = s.get_mut("properties").and_then(Value::as_object_mut) {
        p.insert(
            "history".into(),
            json!({"type": "boolean", "default": false, "description": "Also return the \
                earlier versions, oldest first."}),
        );
        p.insert(
            "version".into(),
            json!({"type": "integer", "minimum": 1, "description": "Return this version's text \
                instead of the current one (1 = the first)."}),
        );
    }
    s
}

fn recall_output() -> Value {
    let version = object(
        json!({
            "version": {"type": "integer"},
            "text": {"type": "string", "description": "Its text, cut to 1000 characters when \
                `truncated` (recall with `version` for the whole)."},
            "truncated": {"type": "boolean"},
            "length": {"type": "integer"},
            "tags": string_array(),
            "updated_at": {"type": "string"},
        }),
        &[
            "version",
            "text",
            "truncated",
            "length",
            "tags",
            "updated_at",
        ],
    );
    object(
        json!({
            "id": {"type": "string", "description": "The note's id."},
            "text": {"type": "string", "description": "The text from `offset`: all of it \
                unless `next_offset` is not null."},
            "tags": string_array(),
            "created_at": {"type": "string", "description": "RFC 3339 UTC time the note was saved."},
            "updated_at": {"type": "string", "description": "RFC 3339 UTC time of this version."},
            "space": note_space_schema(),
            "by": note_by_schema(),
            "pending": note_pending_schema(),
            "version": {"type": "integer", "description": "Which version this is (1 = the first)."},
            "versions": {"type": "integer", "description": "How many versions the note has."},
            "length": {"type": "integer", "description": "The whole text's length in characters."},
            "offset": {"type": "integer", "description": "The character `text` starts at."},
            "next_offset": {"type": ["integer", "null"], "description": "Pass as `offset` for \
                the rest of the text; null when `text` reaches the end."},
            "history": {"type": "array", "items": version, "description": "With history: \
                true, the earlier versions, oldest first."},
            "history_omitted": {"type": "integer", "description": "Older versions left out to \
                keep the answer small (recall them with `version`)."},
        }),
        &[
            "id",
            "text",
            "tags",
            "created_at",
            "updated_at",
            "version",
            "versions",
            "length",
            "offset",
            "next_offset",
        ],
    )
}

fn title_schema() -> Value {
    json!({"type": "string", "description": "The note's first line, cut at a word to at most \
        80 characters (and …)."})
}

fn url_schema() -> Value {
    json!({"type": "string", "minLength": 1, "description": "The note's canonical URL on this \
        server, for citations."})
}

/// `fetch`'s arguments: `id` and `offset`.
fn fetch_input() -> Value {
    let mut s = id_input();
    if let Some(p) = s.get_mut("properties").and_then(Value::as_object_mut) {
        p.insert(
            "offset".into(),
            json!({"type": "integer", "minimum": 0, "default": 0, "description": "Start the \
                text at this character (the next_offset of the previous answer) for a note \
                too long for one answer."}),
        );
    }
    s
}

fn fetch_output() -> Value {
    let metadata = object(
        json!({
            "tags": string_array(),
            "created_at": {"type": "string", "description": "RFC 3339 UTC time the note was saved."},
            "updated_at": {"type": "string", "description": "RFC 3339 UTC time of its last change."},
        }),
        &["tags", "created_at", "updated_at"],
    );
    object(
        json!({
            "id": {"type": "string", "description": "The note's id."},
            "title": title_schema(),
            "text": {"type": "string", "description": "The note's text from `offset`: all of \
                it unless `next_offset` is not null."},
            "url": url_schema(),
            "metadata": metadata,
            "length": {"type": "integer", "description": "The whole text's length in characters."},
            "offset": {"type": "integer", "description": "The character `text` starts at."},
            "next_offset": {"type": ["integer", "null"], "description": "Pass as `offset` for \
                the rest of the text; null when `text` reaches the end."},
        }),
        &[
            "id",
            "title",
            "text",
            "url",
            "metadata",
            "length",
            "offset",
            "next_offset",
        ],
    )
}

fn forget_output() -> Value {
    object(
        json!({
            "id": {"type": "string"},
            "deleted": {"type": "boolean", "description": "Whether a note was deleted."},
        }),
        &["id", "deleted"],
    )
}

fn list_input() -> Value {
    with_filters(json!({
        "type": "object",
        "properties": {
            "limit": limit_schema(),
            "cursor": cursor_schema("The next_cursor of the previous page (same filters); \
                leave out for the newest notes."),
        },
        "additionalProperties": false,
    }))
}

fn list_output() -> Value {
    let note = object(
        json!({
            "id": {"type": "string", "description": "The note's id."},
            "text": {"type": "string", "description": "The note's text, cut to 1000 characters \
                when `truncated` (recall gives the whole)."},
            "truncated": {"type": "boolean"},
            "length": {"type": "integer", "description": "The whole text's length in characters."},
            "tags": string_array(),
            "created_at": {"type": "string", "description": "RFC 3339 UTC time the note was saved."},
            "updated_at": {"type": "string", "description": "RFC 3339 UTC time of its last change."},
            "space": note_space_schema(),
            "by": note_by_schema(),
            "pending": note_pending_schema(),
        }),
        &[
            "id",
            "text",
            "truncated",
            "length",
            "tags",
            "created_at",
            "updated_at",
        ],
    );
    object(
        json!({
            "notes": {"type": "array", "items": note, "description": "Newest first."},
            "next_cursor": next_cursor_schema(),
        }),
        &["notes", "next_cursor"],
    )
}

fn list_tags_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "cursor": cursor_schema("The next_cursor of the previous page; leave out to start \
                with the most used tag."),
        },
        "additionalProperties": false,
    })
}

fn list_tags_output() -> Value {
    let tag = object(
        json!({
            "tag": {"type": "string"},
            "count": {"type": "integer", "description": "How many notes carry it."},
        }),
        &["tag", "count"],
    );
    object(
        json!({
            "tags": {"type": "array", "items": tag, "description": "Most used first, ties by name."},
            "next_cursor": next_cursor_schema(),
        }),
        &["tags", "next_cursor"],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_failures_say_nothing_was_saved() {
        let io = || BrainError::Io(std::io::Error::other("disk full"));
        let e = write_failure(io(), "the note was NOT saved");
        assert!(e
            .text
            .starts_with("storage error: the note was NOT saved (disk full)"));
        let e = write_failure(io(), "the note was NOT deleted");
        assert!(e.text.contains("NOT deleted"));
        let e = write_failure(
            BrainError::Corrupt("log line 3".into()),
            "the note was NOT saved",
        );
        assert!(e.text.contains("NOT saved") && e.text.contains("log line 3"));
        let e = write_failure(BrainError::Invalid("fix it".into()), "x");
        assert_eq!(e.text, "fix it");
    }

    #[test]
    fn note_urls_are_one_percent_encoded_segment() {
        let p = "https://brain.example.com/notes/";
        assert_eq!(
            note_url(p, "n_k3v9q2m7x4ab"),
            "https://brain.example.com/notes/n_k3v9q2m7x4ab"
        );
        assert_eq!(
            note_url(p, "a/b c?d#é%~"),
            "https://brain.example.com/notes/a%2Fb%20c%3Fd%23%C3%A9%25~"
        );
    }

    #[test]
    fn char_costs_match_serde_json() {
        for c in [
            'a', 'é', '"', '\\', '\n', '\t', '\u{1}', '\u{1f}', '/', '\u{7f}', '😀',
        ] {
            let once = serde_json::to_string(&c.to_string()).unwrap_or_default();
            let twice = serde_json::to_string(&once).unwrap_or_default();
            assert_eq!(escaped_len(c), once.len() - 2, "{c:?}");
            assert_eq!(escaped_twice_len(c), twice.len() - 6, "{c:?}");
            assert_eq!(Shape::OpenAi.char_cost(c), once.len() - 2 + twice.len() - 6);
        }
    }

    #[test]
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("ééé", 3), "é...");
    }
}
