//! Scores a search function against the relevance test sets in this directory.
//!
//! Shared (by `#[path]`/`include!`) between the unit test in `src/brain/query.rs` and
//! `examples/relevance.rs`, so it names no crate paths: the caller passes how to store a note
//! and how to search.
//!
//! Two sets: "today's set" (`notes.jsonl`, `queries.jsonl`: 214 notes, 65 queries, all of them
//! lexical) and the personal set (`personal/`: 1,000+ notes, 200+ queries, each query marked
//! `lexical` or `paraphrase`). A ranking is a list of note indices (into `Set::notes`), best
//! first; a query's rank is the 1-based position of its first expected note in it.

#![allow(dead_code)]

use std::collections::HashMap;

/// Today's set, compiled in.
pub const NOTES: &str = include_str!("notes.jsonl");
pub const QUERIES: &str = include_str!("queries.jsonl");
/// The personal set, compiled in.
pub const PERSONAL_NOTES: &str = include_str!("personal/notes.jsonl");
pub const PERSONAL_QUERIES: &str = include_str!("personal/queries.jsonl");

/// How far down a ranking the reciprocal rank is counted (MRR@10: a search answers 10 by
/// default, and a note below that is one a person does not see).
pub const MRR_DEPTH: usize = 10;

/// How many queries put an expected note first, and among the first three.
pub struct Figures {
    pub queries: usize,
    pub top1: usize,
    pub top3: usize,
    /// One line per query whose expected note was not first: the query and what came first.
    pub misses: Vec<String>,
}

#[derive(serde::Deserialize)]
pub struct TestNote {
    pub id: String,
    pub text: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(serde::Deserialize)]
pub struct TestQuery {
    pub query: String,
    pub expect: Vec<String>,
    /// Today's set: what the query exercises (`prefix`, `typo`, ...).
    #[serde(default)]
    pub kind: String,
    /// The personal set: `lexical` or `paraphrase` (shares no content word with its notes,
    /// checked by `check.py`). Today's set has none: all its queries are lexical.
    #[serde(default = "lexical")]
    pub category: String,
}

fn lexical() -> String {
    "lexical".into()
}

/// A test set: its notes, and its queries with their expected notes as indices into `notes`.
pub struct Set {
    pub notes: Vec<TestNote>,
    pub queries: Vec<TestQuery>,
    pub expect: Vec<Vec<usize>>,
}

/// Parses a set (JSON lines of `{id, text, tags}` and of `{query, expect, kind?, category?}`),
/// refusing a duplicate note id or an expected id with no note.
pub fn parse_set(notes: &str, queries: &str) -> Result<Set, String> {
    let lines = |text: &str| -> Vec<(String, usize)> {
        text.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| (l.to_string(), n + 1))
            .collect()
    };
    let mut set = Set {
        notes: Vec::new(),
        queries: Vec::new(),
        expect: Vec::new(),
    };
    let mut index: HashMap<String, usize> = HashMap::new();
    for (line, n) in lines(notes) {
        let note: TestNote =
            serde_json::from_str(&line).map_err(|e| format!("notes line {n}: {e}"))?;
        if index.insert(note.id.clone(), set.notes.len()).is_some() {
            return Err(format!("notes line {n}: duplicate id {:?}", note.id));
        }
        set.notes.push(note);
    }
    for (line, n) in lines(queries) {
        let q: TestQuery =
            serde_json::from_str(&line).map_err(|e| format!("queries line {n}: {e}"))?;
        let expect = q
            .expect
            .iter()
            .map(|e| {
                index
                    .get(e)
                    .copied()
                    .ok_or_else(|| format!("queries line {n}: no note {e:?}"))
            })
            .collect::<Result<Vec<usize>, String>>()?;
        if expect.is_empty() {
            return Err(format!("queries line {n}: expects no note"));
        }
        set.expect.push(expect);
        set.queries.push(q);
    }
    Ok(set)
}

/// Stores every note of `set` with `remember` (which returns the id the store gave it) and
/// returns, for each store id, the note's index in `set.notes`.
pub fn load(
    set: &Set,
    mut remember: impl FnMut(&str, &[String]) -> Result<String, String>,
) -> Result<HashMap<String, usize>, String> {
    let mut of_store: HashMap<String, usize> = HashMap::new();
    for (i, note) in set.notes.iter().enumerate() {
        let stored = remember(&note.text, &note.tags)?;
        if of_store.insert(stored, i).is_some() {
            return Err(format!("note {:?}: the store reused an id", note.id));
        }
    }
    Ok(of_store)
}

/// The 1-based position of the first expected note in `ranking`, if it is there.
pub fn rank_of(expect: &[usize], ranking: &[usize]) -> Option<usize> {
    ranking
        .iter()
        .position(|i| expect.contains(i))
        .map(|p| p + 1)
}

/// Top 1, top 3 and MRR@10 over some queries.
#[derive(Clone, Copy, Default, Debug, PartialEq)]
pub struct Metrics {
    pub queries: usize,
    pub top1: usize,
    pub top3: usize,
    /// Sum of 1/rank over the queries whose expected note is in the first `MRR_DEPTH`.
    pub rr: f64,
}

impl Metrics {
    pub fn add(&mut self, rank: Option<usize>) {
        self.queries += 1;
        if let Some(r) = rank {
            if r == 1 {
                self.top1 += 1;
            }
            if r <= 3 {
                self.top3 += 1;
            }
            if r <= MRR_DEPTH {
                self.rr += 1.0 / r as f64;
            }
        }
    }

    pub fn mrr(&self) -> f64 {
        if self.queries == 0 {
            0.0
        } else {
            self.rr / self.queries as f64
        }
    }

    /// `top1 / top3 / MRR` in one table cell (the header gives the number of queries).
    pub fn cells(&self) -> String {
        format!("{} / {} / {:.3}", self.top1, self.top3, self.mrr())
    }
}

/// Metrics of one ranking per query, overall and by category.
#[derive(Default, Debug)]
pub struct Report {
    pub all: Metrics,
    pub lexical: Metrics,
    pub paraphrase: Metrics,
    /// Each query's rank (for counting the queries one method loses against another).
    pub ranks: Vec<Option<usize>>,
}

/// Scores `rankings` (one per query of `set`, in order) on the queries `keep` accepts
/// (by query index; the others count nowhere and get `None` in `ranks`).
pub fn report(set: &Set, rankings: &[Vec<usize>], keep: impl Fn(usize) -> bool) -> Report {
    let mut r = Report::default();
    for (qi, ranking) in rankings.iter().enumerate() {
        if !keep(qi) {
            r.ranks.push(None);
            continue;
        }
        let rank = rank_of(&set.expect[qi], ranking);
        r.all.add(rank);
        match set.queries[qi].category.as_str() {
            "paraphrase" => r.paraphrase.add(rank),
            _ => r.lexical.add(rank),
        }
        r.ranks.push(rank);
    }
    r
}

/// Runs every query of `set` through `search` (which returns store ids best first) and maps
/// the ids back to note indices with `of_store` (from [`load`]).
pub fn rankings(
    set: &Set,
    of_store: &HashMap<String, usize>,
    search: impl Fn(&str) -> Vec<String>,
) -> Vec<Vec<usize>> {
    set.queries
        .iter()
        .map(|q| {
            search(&q.query)
                .iter()
                .filter_map(|id| of_store.get(id).copied())
                .collect()
        })
        .collect()
}

/// Stores every note of `notes` with `remember`, then runs every query of `queries` through
/// `search` (store ids best first) and counts top 1 and top 3 (today's set's figures, kept
/// for the unit test in `src/brain/query.rs`).
pub fn evaluate(
    notes: &str,
    queries: &str,
    remember: impl FnMut(&str, &[String]) -> Result<String, String>,
    search: impl Fn(&str) -> Vec<String>,
) -> Result<Figures, String> {
    let set = parse_set(notes, queries)?;
    let of_store = load(&set, remember)?;
    let ranked = rankings(&set, &of_store, search);
    let r = report(&set, &ranked, |_| true);
    let misses = set
        .queries
        .iter()
        .zip(&ranked)
        .zip(&r.ranks)
        .filter(|(_, rank)| **rank != Some(1))
        .map(|((q, got), _)| {
            let first: Vec<&str> = got
                .iter()
                .take(3)
                .map(|&i| set.notes[i].id.as_str())
                .collect();
            format!(
                "{:<32} ({}) expected {:?}, got {:?}",
                q.query, q.kind, q.expect, first
            )
        })
        .collect();
    Ok(Figures {
        queries: r.all.queries,
        top1: r.all.top1,
        top3: r.all.top3,
        misses,
    })
}
