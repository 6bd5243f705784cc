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

use serde_json::{json, Map, Value};

use crate::brain::{normalize_tag, Brain, BrainError, Note};

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

/// One tool: everything `tools/list` shows and the handler `tools/call` runs.
pub struct Tool {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub input_schema: fn() -> Value,
    pub output_schema: fn() -> Value,
    pub run: fn(&Brain, &Args) -> Result<Output, ToolError>,
    /// The MCP tool annotations (hints for clients deciding whether to ask the user first).
    pub hints: Hints,
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
pub static TOOLS: [Tool; 5] = [
    Tool {
        name: "remember",
        title: "Remember a note",
        description: "Save one note to the user's long-term memory (their \"brain\") so it can be \
found in later conversations. Use it for durable facts, decisions, preferences, and \
things the user asks you to remember. Write one self-contained fact per note, in plain \
words, with enough context to be understood months later (who, what, when). Call `search` \
first: if a note already says this, do not save a duplicate. Optional `tags` (up to 16, \
each 1-64 characters of a-z, 0-9, '_' or '-', lower-cased for you) group notes for \
filtering, e.g. [\"work\", \"project-x\"]. Returns the new note's id and created_at.",
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
    },
    Tool {
        name: "search",
        title: "Search notes",
        description: "Full-text search over the user's notes; best matches first, each with id, \
text, tags, created_at and a relevance score. Matching ignores case and accents. Use it \
before answering anything that may depend on what the user told you before, and before \
`remember` to avoid duplicates. Pass a few distinctive keywords as `query` (not a whole \
question); try synonyms if nothing matches. `tag` restricts results to notes with that \
tag; `limit` is 1-50 (default 10).",
        input_schema: search_input,
        output_schema: search_output,
        run: search,
        hints: READ_ONLY,
    },
    Tool {
        name: "recall",
        title: "Recall a note",
        description: "Fetch one whole note by its id (as returned by `search`, `list_notes` or \
`remember`): its full text, tags, created_at and updated_at.",
        input_schema: id_input,
        output_schema: note_output,
        run: recall,
        hints: READ_ONLY,
    },
    Tool {
        name: "forget",
        title: "Forget a note",
        description: "Delete one note by its id, permanently. Use it when the user asks you to \
forget something or when a note is wrong or superseded (then `remember` the corrected fact). \
Check the id with `search` or `recall` first. Says whether a note was deleted.",
        input_schema: id_input,
        output_schema: forget_output,
        run: forget,
        // Removes the note and its whole history; a repeat finds nothing more to delete.
        hints: Hints {
            read_only: false,
            destructive: true,
            idempotent: true,
        },
    },
    Tool {
        name: "list_notes",
        title: "List notes",
        description: "List the user's notes, newest first, optionally only those with `tag`. \
Pages of `limit` notes (1-50, default 10); when `next_cursor` is not null, pass it back as \
`cursor` to get the next page. Use it to browse recent notes; use `search` to find \
something specific.",
        input_schema: list_input,
        output_schema: list_output,
        run: list_notes,
        hints: READ_ONLY,
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
pub fn call(brain: &Brain, tool: &Tool, arguments: Option<&Value>) -> Value {
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
    match (tool.run)(brain, &args) {
        Ok(out) => json!({
            "content": [{"type": "text", "text": out.text}],
            "structuredContent": out.structured,
            "isError": false,
        }),
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
        "recall" | "forget" => r#"{"id": "<id from search or list_notes>"}"#,
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

fn note_json(n: &Note) -> Value {
    json!({
        "id": n.id,
        "text": n.text,
        "tags": n.tags,
        "created_at": n.created_at,
        "updated_at": n.updated_at,
    })
}

fn tags_text(tags: &[String]) -> String {
    if tags.is_empty() {
        "no tags".to_string()
    } else {
        format!("tags: {}", tags.join(", "))
    }
}

// ---- handlers ----

fn remember(brain: &Brain, args: &Args) -> Result<Output, ToolError> {
    let text = args.req_str("text", "the content of the note as a string")?;
    let tags = args.tags()?;
    let note = brain
        .remember(text, &tags)
        .map_err(|e| write_failure(e, "the note was NOT saved"))?;
    Ok(Output {
        text: format!(
            "Saved note {} (created {}, {}).",
            note.id,
            note.created_at,
            tags_text(&note.tags)
        ),
        structured: json!({"id": note.id, "created_at": note.created_at, "tags": note.tags}),
    })
}

fn search(brain: &Brain, args: &Args) -> Result<Output, ToolError> {
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
    let tag = args.tag_filter()?;
    let hits = brain.search(query, tag.as_deref(), limit);
    let results: Vec<Value> = hits
        .iter()
        .map(|h| {
            let score = if h.score.is_finite() { h.score } else { 0.0 };
            json!({
                "id": h.note.id,
                "text": h.note.text,
                "tags": h.note.tags,
                "created_at": h.note.created_at,
                "score": score,
            })
        })
        .collect();
    let mut text = String::new();
    let scope = tag
        .as_deref()
        .map(|t| format!(" with tag {t:?}"))
        .unwrap_or_default();
    if hits.is_empty() {
        text.push_str(&format!(
            "No notes{scope} match {:?}. Try other keywords or synonyms.",
            clip(query, 200)
        ));
    } else {
        text.push_str(&format!(
            "{} note{}{scope} match {:?}, best first:",
            hits.len(),
            if hits.len() == 1 { "" } else { "s" },
            clip(query, 200)
        ));
        for (i, h) in hits.iter().enumerate() {
            text.push_str(&format!(
                "\n\n{}. id {} (created {}, {}, score {:.3})\n{}",
                i + 1,
                h.note.id,
                h.note.created_at,
                tags_text(&h.note.tags),
                if h.score.is_finite() { h.score } else { 0.0 },
                h.note.text
            ));
        }
    }
    Ok(Output {
        structured: json!({"results": results}),
        text,
    })
}

fn recall(brain: &Brain, args: &Args) -> Result<Output, ToolError> {
    let id = args.id()?;
    if id.len() > MAX_ID_BYTES {
        return Err(not_found(id));
    }
    let Some(note) = brain.recall(id) else {
        return Err(not_found(id));
    };
    Ok(Output {
        text: format!(
            "Note {} (created {}, updated {}, {}):\n{}",
            note.id,
            note.created_at,
            note.updated_at,
            tags_text(&note.tags),
            note.text
        ),
        structured: note_json(&note),
    })
}

fn not_found(id: &str) -> ToolError {
    ToolError::new(format!(
        "no note has id {:?}: check the id with search or list_notes (it may have been \
         forgotten)",
        clip(id, 80)
    ))
}

fn forget(brain: &Brain, args: &Args) -> Result<Output, ToolError> {
    let id = args.id()?;
    let deleted = if id.len() > MAX_ID_BYTES {
        false
    } else {
        brain
            .forget(id)
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

fn list_notes(brain: &Brain, args: &Args) -> Result<Output, ToolError> {
    let limit = args.limit()?;
    let tag = args.tag_filter()?;
    let cursor = args.opt_str("cursor")?;
    if let Some(c) = cursor {
        if c.is_empty() || c.len() > MAX_CURSOR_BYTES {
            return Err(ToolError::new(
                "`cursor` is not one list_notes returned: pass the `next_cursor` of the \
                 previous page unchanged, or leave it out to start from the newest note",
            ));
        }
    }
    let (notes, next) = brain
        .list(tag.as_deref(), limit, cursor)
        .map_err(|e| match e {
            BrainError::Invalid(m) => ToolError::new(format!(
                "{m}. Pass the `next_cursor` of the previous page unchanged, or leave \
                 `cursor` out to start from the newest note"
            )),
            other => write_failure(other, "the notes could not be read"),
        })?;
    let scope = tag
        .as_deref()
        .map(|t| format!(" with tag {t:?}"))
        .unwrap_or_default();
    let mut text = if notes.is_empty() {
        format!("No notes{scope}.")
    } else {
        format!(
            "{} note{}{scope}, newest first:",
            notes.len(),
            if notes.len() == 1 { "" } else { "s" }
        )
    };
    for (i, n) in notes.iter().enumerate() {
        text.push_str(&format!(
            "\n\n{}. id {} (created {}, {})\n{}",
            i + 1,
            n.id,
            n.created_at,
            tags_text(&n.tags),
            n.text
        ));
    }
    if let Some(c) = &next {
        text.push_str(&format!(
            "\n\nMore notes: call list_notes with cursor {c:?} for the next page."
        ));
    }
    Ok(Output {
        structured: json!({
            "notes": notes.iter().map(note_json).collect::<Vec<_>>(),
            "next_cursor": next,
        }),
        text,
    })
}

// ---- schemas ----

fn tag_schema(description: &str) -> Value {
    json!({
        "type": "string",
        "minLength": 1,
        "maxLength": 64,
        "pattern": "^[A-Za-z0-9_-]+$",
        "description": description,
    })
}

fn limit_schema() -> Value {
    json!({
        "type": "integer",
        "minimum": MIN_LIMIT,
        "maximum": MAX_LIMIT,
        "default": DEFAULT_LIMIT,
        "description": "How many notes to return, 1 to 50 (default 10).",
    })
}

fn note_schema(with_updated: bool) -> Value {
    let mut props = json!({
        "id": {"type": "string", "description": "The note's id."},
        "text": {"type": "string", "description": "The note's full text."},
        "tags": {"type": "array", "items": {"type": "string"}},
        "created_at": {"type": "string", "description": "RFC 3339 UTC time the note was saved."},
    });
    let mut required = vec!["id", "text", "tags", "created_at"];
    if with_updated {
        if let Some(p) = props.as_object_mut() {
            p.insert(
                "updated_at".into(),
                json!({"type": "string", "description": "RFC 3339 UTC time of the last change."}),
            );
        }
        required.push("updated_at");
    }
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
            "tags": {
                "type": "array",
                "maxItems": 16,
                "items": tag_schema("A tag: 1 to 64 characters of a-z, 0-9, '_' or '-' \
                    (upper case is lower-cased)."),
                "description": "Optional tags to group and filter notes, e.g. [\"work\"].",
            },
        },
        "required": ["text"],
        "additionalProperties": false,
    })
}

fn remember_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string", "description": "The new note's id."},
            "created_at": {"type": "string", "description": "RFC 3339 UTC time it was saved."},
            "tags": {"type": "array", "items": {"type": "string"},
                     "description": "The tags as stored (lower-cased, duplicates dropped)."},
        },
        "required": ["id", "created_at", "tags"],
    })
}

fn search_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "query": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_QUERY_BYTES,
                "description": "A few distinctive keywords to look for.",
            },
            "limit": limit_schema(),
            "tag": tag_schema("Only return notes that have this tag."),
        },
        "required": ["query"],
        "additionalProperties": false,
    })
}

fn search_output() -> Value {
    let mut hit = note_schema(false);
    if let Some(obj) = hit.as_object_mut() {
        if let Some(p) = obj.get_mut("properties").and_then(Value::as_object_mut) {
            p.insert(
                "score".into(),
                json!({"type": "number", "description": "Relevance; higher is better."}),
            );
        }
        if let Some(r) = obj.get_mut("required").and_then(Value::as_array_mut) {
            r.push(json!("score"));
        }
    }
    json!({
        "type": "object",
        "properties": {
            "results": {"type": "array", "items": hit, "description": "Best match first."},
        },
        "required": ["results"],
    })
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

fn note_output() -> Value {
    note_schema(true)
}

fn forget_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "id": {"type": "string"},
            "deleted": {"type": "boolean", "description": "Whether a note was deleted."},
        },
        "required": ["id", "deleted"],
    })
}

fn list_input() -> Value {
    json!({
        "type": "object",
        "properties": {
            "limit": limit_schema(),
            "tag": tag_schema("Only list notes that have this tag."),
            "cursor": {
                "type": "string",
                "description": "The next_cursor of the previous page; leave out for the \
                    newest notes.",
            },
        },
        "additionalProperties": false,
    })
}

fn list_output() -> Value {
    json!({
        "type": "object",
        "properties": {
            "notes": {"type": "array", "items": note_schema(true), "description": "Newest first."},
            "next_cursor": {
                "type": ["string", "null"],
                "description": "Pass as `cursor` for the next page; null on the last page.",
            },
        },
        "required": ["notes", "next_cursor"],
    })
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
    fn clip_respects_char_boundaries() {
        assert_eq!(clip("abc", 5), "abc");
        assert_eq!(clip("ééé", 3), "é...");
    }
}
