//! Scores a search function against the relevance test set in this directory.
//!
//! Shared (by `#[path]`/`include!`) between the unit test in `src/brain/query.rs` and
//! `examples/relevance.rs`, so it names no crate paths: the caller passes how to store a note
//! and how to search.

#![allow(dead_code)]

use std::collections::HashMap;

/// The test set, compiled in.
pub const NOTES: &str = include_str!("notes.jsonl");
pub const QUERIES: &str = include_str!("queries.jsonl");

/// How many queries put an expected note first, and among the first three.
pub struct Figures {
    pub queries: usize,
    pub top1: usize,
    pub top3: usize,
    /// One line per query whose expected note was not first: the query and what came first.
    pub misses: Vec<String>,
}

#[derive(serde::Deserialize)]
struct TestNote {
    id: String,
    text: String,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(serde::Deserialize)]
struct TestQuery {
    query: String,
    expect: Vec<String>,
    #[serde(default)]
    kind: String,
}

/// Stores every note of `notes` (JSON lines of `{id, text, tags}`) with `remember`, which
/// returns the id the store gave it, then runs every query of `queries` (JSON lines of
/// `{query, expect: [test ids], kind}`) through `search`, which returns store ids best first.
pub fn evaluate(
    notes: &str,
    queries: &str,
    mut remember: impl FnMut(&str, &[String]) -> Result<String, String>,
    search: impl Fn(&str) -> Vec<String>,
) -> Result<Figures, String> {
    let mut test_id_of: HashMap<String, String> = HashMap::new();
    for (n, line) in notes
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let note: TestNote =
            serde_json::from_str(line).map_err(|e| format!("notes line {}: {e}", n + 1))?;
        let stored = remember(&note.text, &note.tags)?;
        if test_id_of.insert(stored, note.id.clone()).is_some() {
            return Err(format!("notes line {}: the store reused an id", n + 1));
        }
    }
    let known: std::collections::HashSet<&String> = test_id_of.values().collect();
    let mut f = Figures {
        queries: 0,
        top1: 0,
        top3: 0,
        misses: Vec::new(),
    };
    for (n, line) in queries
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let q: TestQuery =
            serde_json::from_str(line).map_err(|e| format!("queries line {}: {e}", n + 1))?;
        if let Some(bad) = q.expect.iter().find(|e| !known.contains(e)) {
            return Err(format!("queries line {}: no note {bad:?}", n + 1));
        }
        f.queries += 1;
        let got: Vec<&str> = search(&q.query)
            .iter()
            .take(3)
            .filter_map(|id| test_id_of.get(id).map(String::as_str))
            .collect();
        let hit = |i: &&str| q.expect.iter().any(|e| e == i);
        if got.first().is_some_and(hit) {
            f.top1 += 1;
        } else {
            f.misses.push(format!(
                "{:<32} ({}) expected {:?}, got {:?}",
                q.query, q.kind, q.expect, got
            ));
        }
        if got.iter().any(hit) {
            f.top3 += 1;
        }
    }
    Ok(f)
}
