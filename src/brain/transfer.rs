//! The files `brain-mcp export` writes and `brain-mcp import` reads.
//!
//! Export: one JSON object per live note, in the order the notes entered the brain:
//!
//! ```text
//! {"id":"n_k3v9q2m7x4ab","text":"Buy soy milk","tags":["shopping"],"created_at":"2026-11-26T23:15:57Z","updated_at":"2026-11-27T08:00:00Z","history":[{"text":"Buy oat milk","tags":["shopping"],"updated_at":"2026-11-26T23:15:57Z"}]}
//! ```
//!
//! Import reads those lines (keeping ids, timestamps and history) and, in the same file or
//! another, the JSONL knowledge graph of the official MCP memory server:
//!
//! - `{"type":"entity","name":"John","entityType":"person","observations":["likes tea"]}`
//!   becomes one note per observation, `John: likes tea`, tagged with the entity type made
//!   into a valid tag (`person`; `Tech Company` → `tech-company`). An entity without
//!   observations becomes one note, `John: person`, so the entity is not lost.
//! - `{"type":"relation","from":"John","to":"Acme","relationType":"works_at"}` becomes the
//!   note `John works at Acme` (underscores in the relation read as spaces), tagged
//!   `relation`: relations are facts a person would want to find by searching for either end.
//!
//! Those notes get new ids and the time of the import as created_at. Every line is checked
//! before anything is stored; one bad line and nothing is imported.

use serde::Deserialize;
use serde_json::Value;

use super::text::{self, normalize_space, validate_id, validate_time, Writer, MAIN_SPACE};
use super::{normalize_tags, validate_text, ImportNote, Version};
use crate::time;

/// How many bad lines an error report lists.
const MAX_REPORTED: usize = 20;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportedNote {
    id: String,
    text: String,
    tags: Vec<String>,
    created_at: String,
    updated_at: String,
    #[serde(default)]
    space: Option<String>,
    #[serde(default)]
    by: Option<Writer>,
    #[serde(default)]
    pending: bool,
    #[serde(default)]
    history: Vec<ExportedVersion>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportedVersion {
    text: String,
    tags: Vec<String>,
    updated_at: String,
    #[serde(default)]
    space: Option<String>,
    #[serde(default)]
    by: Option<Writer>,
}

/// Parses a whole import file. `Err` lists the bad lines by number (1-based).
pub fn parse(bytes: &[u8]) -> Result<Vec<ImportNote>, String> {
    let now = time::format_rfc3339(time::unix_now());
    let mut notes = Vec::new();
    let mut errors = Vec::new();
    let mut bad = 0;
    for (i, line) in bytes.split(|&b| b == b'\n').enumerate() {
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        match parse_line(line, &now) {
            Ok(mut n) => notes.append(&mut n),
            Err(e) => {
                bad += 1;
                if errors.len() < MAX_REPORTED {
                    errors.push(format!("line {}: {e}", i + 1));
                }
            }
        }
    }
    if bad == 0 {
        return Ok(notes);
    }
    if bad > errors.len() {
        errors.push(format!("... and {} more bad lines", bad - errors.len()));
    }
    Err(errors.join("\n"))
}

fn parse_line(line: &[u8], now: &str) -> Result<Vec<ImportNote>, String> {
    let v: Value = serde_json::from_slice(line).map_err(|e| format!("not JSON: {e}"))?;
    let obj = v.as_object().ok_or("not a JSON object")?;
    match obj.get("type").and_then(Value::as_str) {
        Some("entity") => entity(&v, now),
        Some("relation") => relation(&v, now),
        Some(other) => Err(format!(
            "unknown \"type\" {other:?}: expected \"entity\" or \"relation\" (memory server) \
             or a brain-mcp export line"
        )),
        None if obj.contains_key("id") && obj.contains_key("text") => exported(v),
        None => Err(
            "neither a brain-mcp export line (id, text, tags, created_at, updated_at) \
                     nor a memory-server entity or relation"
                .into(),
        ),
    }
}

fn exported(v: Value) -> Result<Vec<ImportNote>, String> {
    let n: ExportedNote = serde_json::from_value(v).map_err(|e| e.to_string())?;
    // The rules of the log itself (`log::parse_line`), so an import never stores what
    // `open` would refuse.
    validate_id(&n.id).map_err(|e| e.to_string())?;
    validate_time(&n.created_at, "created_at").map_err(|e| e.to_string())?;
    let mut versions = Vec::with_capacity(n.history.len() + 1);
    let all = n
        .history
        .into_iter()
        .map(|h| (h.text, h.tags, h.updated_at, h.space, h.by));
    let current = (n.text, n.tags, n.updated_at, n.space, n.by);
    for (text, tags, updated_at, space, by) in all.chain([current]) {
        validate_text(&text).map_err(|e| e.to_string())?;
        validate_time(&updated_at, "updated_at").map_err(|e| e.to_string())?;
        let tags = normalize_tags(&tags).map_err(|e| e.to_string())?;
        let space = match space {
            None => MAIN_SPACE.to_string(),
            Some(s) => normalize_space(&s).map_err(|e| e.to_string())?,
        };
        if let Some(w) = &by {
            w.check().map_err(|e| e.to_string())?;
        }
        versions.push(Version {
            text,
            tags,
            updated_at,
            space,
            by,
        });
    }
    Ok(vec![ImportNote {
        id: Some(n.id),
        created_at: n.created_at,
        versions,
        pending: n.pending,
    }])
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str, String> {
    match v.get(key).and_then(Value::as_str) {
        Some(s) if !s.trim().is_empty() => Ok(s.trim()),
        _ => Err(format!("`{key}` must be a non-empty string")),
    }
}

fn new_note(text: String, tag: String, now: &str) -> Result<ImportNote, String> {
    validate_text(&text).map_err(|e| e.to_string())?;
    Ok(ImportNote {
        id: None,
        created_at: now.to_string(),
        versions: vec![Version {
            text,
            tags: vec![tag],
            updated_at: now.to_string(),
            ..Default::default()
        }],
        pending: false,
    })
}

fn entity(v: &Value, now: &str) -> Result<Vec<ImportNote>, String> {
    let name = str_field(v, "name")?;
    let kind = str_field(v, "entityType")?;
    let tag = text::suggest_tag(&kind.to_ascii_lowercase()).unwrap_or_else(|| "entity".into());
    let observations = match v.get("observations") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|o| o.as_str().ok_or("every observation must be a string"))
            .collect::<Result<Vec<&str>, _>>()?,
        Some(_) => return Err("`observations` must be an array of strings".into()),
    };
    let observations: Vec<&str> = observations
        .into_iter()
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if observations.is_empty() {
        return Ok(vec![new_note(format!("{name}: {kind}"), tag, now)?]);
    }
    observations
        .into_iter()
        .map(|o| new_note(format!("{name}: {o}"), tag.clone(), now))
        .collect()
}

fn relation(v: &Value, now: &str) -> Result<Vec<ImportNote>, String> {
    let from = str_field(v, "from")?;
    let to = str_field(v, "to")?;
    let rel = str_field(v, "relationType")?.replace('_', " ");
    Ok(vec![new_note(
        format!("{from} {rel} {to}"),
        "relation".into(),
        now,
    )?])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_server_lines_become_notes() {
        let file = br#"{"type":"entity","name":"John Smith","entityType":"Tech Person","observations":["likes tea","  "]}

{"type":"entity","name":"Acme","entityType":"!!!","observations":[]}
{"type":"relation","from":"John Smith","to":"Acme","relationType":"works_at"}
"#;
        let notes = parse(file).unwrap();
        let got: Vec<(&str, &[String])> = notes
            .iter()
            .map(|n| (n.versions[0].text.as_str(), n.versions[0].tags.as_slice()))
            .collect();
        assert_eq!(
            got,
            [
                ("John Smith: likes tea", &["tech-person".to_string()][..]),
                ("Acme: !!!", &["entity".to_string()][..]),
                ("John Smith works at Acme", &["relation".to_string()][..]),
            ]
        );
        assert!(notes.iter().all(|n| n.id.is_none()));
    }

    #[test]
    fn bad_lines_are_reported_by_number() {
        let file = b"{\"type\":\"entity\",\"name\":\"A\",\"entityType\":\"x\"}\nnope\n{\"type\":\"thing\"}\n{\"id\":\"n_100000000000\",\"text\":\"t\",\"tags\":[],\"created_at\":\"bad\",\"updated_at\":\"2026-01-01T00:00:00Z\"}\n{\"type\":\"relation\",\"from\":\"a\"}\n";
        let e = parse(file).unwrap_err();
        let lines: Vec<&str> = e.lines().collect();
        assert_eq!(lines.len(), 4, "{e}");
        assert!(lines[0].starts_with("line 2: not JSON"), "{e}");
        assert!(lines[1].starts_with("line 3: unknown \"type\""), "{e}");
        assert!(lines[2].starts_with("line 4: `created_at` \"bad\""), "{e}");
        assert!(lines[3].starts_with("line 5: `to` must be"), "{e}");
    }
}
