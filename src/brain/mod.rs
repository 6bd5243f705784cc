//! The brain: notes in an append-only JSON-lines log, fsynced before acknowledgement, loaded
//! into memory at start with an index for search.
//!
//! API CONTRACT (other modules are written against exactly this; bodies are filled in by the
//! brain work): `Brain` is `Send + Sync` and is shared as `Arc<Brain>` by all worker threads.
//! The caller (main) holds the data-directory lock; `Brain::open` does not lock.

use std::path::Path;

/// One note as the tools show it. Timestamps are RFC 3339 UTC, e.g. `2026-11-26T23:15:57Z`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub id: String,
    pub text: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub note: Note,
    pub score: f64,
}

#[derive(Debug)]
pub enum BrainError {
    /// The caller's input is unusable; the message tells a model what to change.
    Invalid(String),
    /// Writing or syncing failed (disk full, I/O error): nothing was acknowledged.
    Io(std::io::Error),
    /// The store on disk cannot be opened; the message names the file and line.
    Corrupt(String),
}

impl std::fmt::Display for BrainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BrainError::Invalid(m) | BrainError::Corrupt(m) => f.write_str(m),
            BrainError::Io(e) => write!(f, "storage error: {e}"),
        }
    }
}

pub struct Brain {}

impl Brain {
    /// Opens (creating if needed) the store in `dir`, recovering a torn last line.
    pub fn open(_dir: &Path) -> Result<Brain, BrainError> {
        todo!()
    }

    /// Validates (text 1 byte..=64 KiB; at most 16 tags of 1..=64 chars of [a-z0-9_-] after
    /// lower-casing), appends, fsyncs, then returns the stored note.
    pub fn remember(&self, _text: &str, _tags: &[String]) -> Result<Note, BrainError> {
        todo!()
    }

    pub fn recall(&self, _id: &str) -> Option<Note> {
        todo!()
    }

    /// `Ok(false)` when no such note exists. Fsynced before returning `Ok(true)`.
    pub fn forget(&self, _id: &str) -> Result<bool, BrainError> {
        todo!()
    }

    /// Best matches first (BM25-like, case- and accent-insensitive, recency breaks ties).
    pub fn search(&self, _query: &str, _tag: Option<&str>, _limit: usize) -> Vec<SearchHit> {
        todo!()
    }

    /// Newest first. Returns the page and an opaque cursor for the next page, if any.
    /// A cursor that does not parse is `BrainError::Invalid`.
    pub fn list(
        &self,
        _tag: Option<&str>,
        _limit: usize,
        _cursor: Option<&str>,
    ) -> Result<(Vec<Note>, Option<String>), BrainError> {
        todo!()
    }

    /// Number of live notes.
    pub fn len(&self) -> usize {
        todo!()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
