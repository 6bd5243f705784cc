//! The brain: notes in an append-only JSON-lines log, fsynced before acknowledgement, loaded
//! into memory at start with an index for search.
//!
//! API CONTRACT (other modules are written against exactly this; bodies are filled in by the
//! brain work): `Brain` is `Send + Sync` and is shared as `Arc<Brain>` by all worker threads.
//! The caller (main) holds the data-directory lock; `Brain::open` does not lock.
//!
//! Files in the data directory: `notes.jsonl`, the log (its format is described in `log.rs`);
//! `notes.jsonl.tmp` only while a compaction writes the log's replacement; and
//! `notes.jsonl.torn.<unix-time>`, the bytes of an unfinished append that `open` set aside.
//!
//! Submodules: `log` (the file), `index` (BM25), `text` (validation and tokenizing),
//! `snippet` (search result excerpts). Timestamps come from the crate's `time` module.

mod index;
mod log;
mod query;
pub mod snippet;
mod text;
pub mod transfer;
pub mod vectors;

use std::collections::{BTreeMap, BTreeSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use index::{FxHashMap, Index};
use log::Record;

use crate::time;
pub use text::{
    normalize_tag, normalize_tags, validate_text, MAX_TAGS, MAX_TAG_CHARS, MAX_TEXT_BYTES,
};

/// One note as the tools show it. Timestamps are RFC 3339 UTC, e.g. `2026-11-26T23:15:57Z`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub id: String,
    pub text: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// An earlier version of a note, as `recall` with history and `export` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Version {
    pub text: String,
    pub tags: Vec<String>,
    pub updated_at: String,
}

/// One note with its earlier versions (oldest first): what `export` writes per line and
/// `import` reads back.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct NoteRecord {
    pub id: String,
    pub text: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    pub history: Vec<Version>,
}

/// Which notes `search_page` and `list_filtered` consider. Tags are normalized (lower case)
/// by the caller; times are Unix seconds, compared with the note's `created_at`, both ends
/// inclusive.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    /// Every one of these tags (the tools' `tag` and `tags_all`).
    pub tags_all: Vec<String>,
    /// At least one of these tags, when not empty.
    pub tags_any: Vec<String>,
    pub since: Option<u64>,
    pub until: Option<u64>,
}

impl Filter {
    fn accepts(&self, e: &Entry) -> bool {
        let has = |t: &String| e.note.tags.contains(t);
        self.tags_all.iter().all(has)
            && (self.tags_any.is_empty() || self.tags_any.iter().any(has))
            && self.in_window(e)
    }

    /// The `since`/`until` part of [`Filter::accepts`].
    fn in_window(&self, e: &Entry) -> bool {
        self.since.is_none_or(|t| e.created >= t) && self.until.is_none_or(|t| e.created <= t)
    }

    /// Only notes with this tag (ASCII case-insensitive).
    pub fn tag(tag: Option<&str>) -> Filter {
        Filter {
            tags_all: tag
                .map(|t| vec![t.to_ascii_lowercase()])
                .unwrap_or_default(),
            ..Filter::default()
        }
    }
}

/// What `update` did.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// No live note has that id.
    NotFound,
    /// The text and tags given are what the note already says: nothing was written.
    Unchanged(Note),
    /// A new version was appended; the previous one is in the note's history.
    Changed(Note),
}

/// A note to import: its id (kept unless a live note already has it) and its versions, oldest
/// first, the last being the current one. Validated by the caller.
#[derive(Debug, Clone)]
pub struct ImportNote {
    pub id: Option<String>,
    pub created_at: String,
    pub versions: Vec<Version>,
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

/// Why `Brain::open` or `Brain::forget` rewrites the log: see [`State::should_compact`].
const COMPACT_MIN_DEAD: u64 = 1000;

impl From<std::io::Error> for BrainError {
    fn from(e: std::io::Error) -> Self {
        BrainError::Io(e)
    }
}

/// The store. Readers (`recall`, `search`, `list`, `len`) take only the `state` read lock.
/// Writers take `writer` first, append and fsync while holding only that, and then take the
/// `state` write lock just long enough to apply the change; since every writer holds `writer`
/// from choosing its sequence number until its change is applied, the order of the log is the
/// order of the in-memory state, and readers never wait for a disk sync.
pub struct Brain {
    dir: PathBuf,
    log_path: PathBuf,
    writer: Mutex<Writer>,
    state: RwLock<State>,
}

/// The open log and what the next append needs to know.
struct Writer {
    file: File,
    /// Length of the log up to its last acknowledged record: where a failed append truncates to.
    len: u64,
    next_seq: u64,
    /// An append failed and truncating it away failed too: retry the truncation before the
    /// next append, so a half-written line never ends up in the middle of the log.
    dirty: bool,
    /// See [`State::should_compact`]; lowered by tests.
    compact_min_dead: u64,
    /// After a failed compaction (disk full, say), do not try again on every `forget`: wait
    /// until there are twice as many dead records.
    compact_retry_at: u64,
    #[cfg(test)]
    fail_next_write: bool,
    #[cfg(test)]
    fail_next_compaction: bool,
}

impl Writer {
    fn append(&mut self, line: &[u8]) -> Result<(), BrainError> {
        self.append_records(line, 1)
    }

    /// Appends `records` whole lines with one write and one sync.
    fn append_records(&mut self, line: &[u8], records: u64) -> Result<(), BrainError> {
        if self.dirty {
            self.file.set_len(self.len)?;
            self.file.sync_data()?;
            self.dirty = false;
        }
        #[cfg(test)]
        let fault = std::mem::take(&mut self.fail_next_write);
        #[cfg(not(test))]
        let fault = false;
        match log::write_durably(&mut self.file, line, fault) {
            Ok(()) => {
                self.len += line.len() as u64;
                self.next_seq += records;
                Ok(())
            }
            Err(e) => {
                // Cut off whatever part of the line reached the file. The file is in append
                // mode, so the next write lands at the new end.
                let undo = self
                    .file
                    .set_len(self.len)
                    .and_then(|()| self.file.sync_data());
                self.dirty = undo.is_err();
                Err(BrainError::Io(e))
            }
        }
    }
}

/// One live note.
struct Entry {
    note: Note,
    /// Earlier versions, oldest first (the log's other `put` records of this id).
    history: Vec<Version>,
    /// `created_at` in Unix seconds, for the `since`/`until` filters (0 if unreadable).
    created: u64,
    /// See [`dedup_key`].
    digest: u128,
    /// How many `put` records the log holds for it (all kept by compaction, as its history).
    versions: u64,
    /// Sequence number of its latest version: the index is built in this order at open, so
    /// that search ties go to the most recently written note, as they do after a write.
    written: u64,
}

/// Everything `open` loads, keyed by each note's creation sequence number (the `seq` of its
/// first `put`), which never changes and never repeats: list order and cursors rest on it.
#[derive(Default)]
struct State {
    notes: BTreeMap<u64, Entry>,
    ids: FxHashMap<String, u64>,
    tags: FxHashMap<String, BTreeSet<u64>>,
    /// Duplicate detection: [`dedup_key`] of each live note's current version → the notes
    /// with it (almost always one).
    dedup: FxHashMap<u128, Vec<u64>>,
    index: Index,
    /// False while `open` replays the log: the index is built once at the end from the live
    /// notes, rather than updated for every note that was later forgotten.
    indexing: bool,
    /// Records of live notes (every version) and records compaction would drop.
    live_records: u64,
    dead_records: u64,
}

impl State {
    /// Applies one record; for a `put`, returns the creation seq of the note it belongs to.
    fn apply(&mut self, record: Record) -> Option<u64> {
        match record {
            Record::Put { seq, note } => {
                self.live_records += 1;
                if let Some(&order) = self.ids.get(&note.id) {
                    // A new version of a live note.
                    let entry = self.notes.get_mut(&order)?;
                    if self.indexing {
                        self.index.remove(order, &entry.note.text);
                        self.index.add(order, &note.text);
                    }
                    untag(&mut self.tags, &entry.note.tags, order);
                    tag(&mut self.tags, &note.tags, order);
                    undedup(&mut self.dedup, entry.digest, order);
                    entry.digest = dedup_key(&note.text, &note.tags);
                    self.dedup.entry(entry.digest).or_default().push(order);
                    let old = std::mem::replace(&mut entry.note, note);
                    entry.history.push(Version {
                        text: old.text,
                        tags: old.tags,
                        updated_at: old.updated_at,
                    });
                    entry.versions += 1;
                    entry.written = seq;
                    Some(order)
                } else {
                    if self.indexing {
                        self.index.add(seq, &note.text);
                    }
                    tag(&mut self.tags, &note.tags, seq);
                    self.ids.insert(note.id.clone(), seq);
                    let digest = dedup_key(&note.text, &note.tags);
                    self.dedup.entry(digest).or_default().push(seq);
                    let entry = Entry {
                        created: time::parse_rfc3339_or_date(&note.created_at).unwrap_or(0),
                        digest,
                        history: Vec::new(),
                        note,
                        versions: 1,
                        written: seq,
                    };
                    self.notes.insert(seq, entry);
                    Some(seq)
                }
            }
            Record::Del { id, .. } => {
                self.dead_records += 1;
                let order = self.ids.remove(&id)?;
                let entry = self.notes.remove(&order)?;
                if self.indexing {
                    self.index.remove(order, &entry.note.text);
                }
                untag(&mut self.tags, &entry.note.tags, order);
                undedup(&mut self.dedup, entry.digest, order);
                self.live_records = self.live_records.saturating_sub(entry.versions);
                self.dead_records += entry.versions;
                None
            }
        }
    }

    /// Builds the index from scratch over the live notes and keeps it up to date from now on.
    /// Notes are indexed in the order they were last written (search's recency order), split
    /// into one run per CPU whose indexes are then appended in order.
    fn build_index(&mut self) {
        let mut by_write: Vec<(u64, u64, &str)> = self
            .notes
            .iter()
            .map(|(&o, e)| (e.written, o, e.note.text.as_str()))
            .collect();
        by_write.sort_unstable_by_key(|&(w, _, _)| w);
        let threads = if by_write.len() < 5000 {
            1
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
        };
        let chunk = by_write.len().div_ceil(threads).max(1);
        let build = |part: &[(u64, u64, &str)]| {
            let mut ix = Index::default();
            for &(_, order, text) in part {
                ix.add(order, text);
            }
            ix
        };
        let parts: Vec<Index> = std::thread::scope(|scope| {
            let handles: Vec<_> = by_write
                .chunks(chunk)
                .map(|part| {
                    let thread =
                        std::thread::Builder::new().spawn_scoped(scope, move || build(part));
                    (part, thread)
                })
                .collect();
            // A part whose thread could not start (or died) is indexed right here instead.
            handles
                .into_iter()
                .map(|(part, thread)| match thread.map(|t| t.join()) {
                    Ok(Ok(ix)) => ix,
                    _ => build(part),
                })
                .collect()
        });
        let mut index = Index::default();
        for part in parts {
            index.append(part);
        }
        self.index = index;
        self.indexing = true;
    }

    /// Compaction rewrites the whole log, so it runs only when that buys a lot: when records of
    /// forgotten notes (their versions and their `del`) outnumber the records of live notes, so
    /// the log is more than half garbage and at least halves, and there are over
    /// `min_dead` (1000) of them, so a small store is never rewritten for a few bytes. Versions
    /// of live notes are history and never count as dead.
    fn should_compact(&self, min_dead: u64) -> bool {
        self.dead_records > self.live_records && self.dead_records > min_dead
    }

    /// A live note whose current text (trimmed, whitespace folded) and tag set equal these.
    fn duplicate_of(&self, text: &str, tags: &[String]) -> Option<&Note> {
        let orders = self.dedup.get(&dedup_key(text, tags))?;
        let (want_text, want_tags) = (fold_whitespace(text), sorted(tags));
        orders
            .iter()
            .filter_map(|o| self.notes.get(o))
            .map(|e| &e.note)
            .find(|n| fold_whitespace(&n.text) == want_text && sorted(&n.tags) == want_tags)
    }

    /// Whether compaction keeps this record: a version of a note that is live now.
    fn keeps(&self, record: &Record) -> bool {
        match record {
            Record::Put { seq, note } => self.ids.get(&note.id).is_some_and(|&o| *seq >= o),
            Record::Del { .. } => false,
        }
    }
}

fn tag(tags: &mut FxHashMap<String, BTreeSet<u64>>, names: &[String], order: u64) {
    for t in names {
        match tags.get_mut(t) {
            Some(set) => {
                set.insert(order);
            }
            None => {
                tags.insert(t.clone(), BTreeSet::from([order]));
            }
        }
    }
}

fn undedup(dedup: &mut FxHashMap<u128, Vec<u64>>, digest: u128, order: u64) {
    if let Some(v) = dedup.get_mut(&digest) {
        v.retain(|&o| o != order);
        if v.is_empty() {
            dedup.remove(&digest);
        }
    }
}

/// The text with its ends trimmed and every run of whitespace inside folded to one space.
fn fold_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sorted(tags: &[String]) -> Vec<&str> {
    let mut v: Vec<&str> = tags.iter().map(String::as_str).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The duplicate-detection key of a note: the first 128 bits of SHA-256 over its text with
/// whitespace folded and its sorted tag set. Hits are confirmed by comparing the folded texts
/// and tag sets, so a collision could only cost a lookup, never a wrong answer.
fn dedup_key(text: &str, tags: &[String]) -> u128 {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    for (i, word) in text.split_whitespace().enumerate() {
        if i > 0 {
            h.update(b" ");
        }
        h.update(word.as_bytes());
    }
    for t in sorted(tags) {
        h.update(b"\0");
        h.update(t.as_bytes());
    }
    let d = h.finalize();
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    u128::from_be_bytes(b)
}

fn untag(tags: &mut FxHashMap<String, BTreeSet<u64>>, names: &[String], order: u64) {
    for t in names {
        if let Some(set) = tags.get_mut(t) {
            set.remove(&order);
            if set.is_empty() {
                tags.remove(t);
            }
        }
    }
}

impl Brain {
    /// Opens (creating if needed) the store in `dir`, recovering a torn last line.
    pub fn open(dir: &Path) -> Result<Brain, BrainError> {
        fs::create_dir_all(dir)?;
        let log_path = dir.join(log::LOG_NAME);
        // A tmp file is a compaction that never reached its rename: the log is intact.
        match fs::remove_file(dir.join(log::TMP_NAME)) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
            _ => {}
        }
        let mut file = log::open_append(dir, &log_path)?;
        let mut bytes = fs::read(&log_path)?;
        let loaded = log::parse_log(&log_path, &bytes)?;
        if loaded.good_len < bytes.len() {
            let aside = log::set_aside_torn_tail(dir, &log_path, &bytes, loaded.good_len)?;
            eprintln!(
                "brain: {} ended with {} bytes of an unfinished write (a crash mid-append); \
                 moved them to {} and opened the log without them",
                log_path.display(),
                bytes.len() - loaded.good_len,
                aside.display()
            );
            bytes.truncate(loaded.good_len);
        }

        let mut state = State::default();
        let mut last_seq = 0;
        let mut spans = Vec::with_capacity(loaded.lines.len());
        for line in loaded.lines {
            let seq = line.record.seq();
            if seq <= last_seq {
                return Err(BrainError::Corrupt(format!(
                    "{} line {}: seq {seq} is not greater than the previous record's {last_seq}",
                    log_path.display(),
                    log::line_number(&bytes, line.start)
                )));
            }
            last_seq = seq;
            let note = state.apply(line.record);
            spans.push((line.start, line.end, note));
        }

        let mut len = bytes.len() as u64;
        if state.should_compact(COMPACT_MIN_DEAD) {
            let keep: Vec<(usize, usize)> = spans
                .iter()
                .filter(|(_, _, n)| n.is_some_and(|o| state.notes.contains_key(&o)))
                .map(|&(s, e, _)| (s, e))
                .collect();
            match log::compact(dir, &log_path, &bytes, &keep, false) {
                Ok((f, l)) => {
                    (file, len) = (f, l);
                    state.dead_records = 0;
                }
                Err(e) => eprintln!(
                    "brain: could not compact {} ({e}); it stays as it is",
                    log_path.display()
                ),
            }
        }
        drop(bytes);
        state.build_index();

        Ok(Brain {
            dir: dir.to_path_buf(),
            log_path,
            writer: Mutex::new(Writer {
                file,
                len,
                next_seq: last_seq + 1,
                dirty: false,
                compact_min_dead: COMPACT_MIN_DEAD,
                compact_retry_at: 0,
                #[cfg(test)]
                fail_next_write: false,
                #[cfg(test)]
                fail_next_compaction: false,
            }),
            state: RwLock::new(state),
        })
    }

    /// Validates (text 1 byte..=64 KiB; at most 16 tags of 1..=64 chars of [a-z0-9_-] after
    /// lower-casing), appends, fsyncs, then returns the stored note.
    pub fn remember(&self, text: &str, tags: &[String]) -> Result<Note, BrainError> {
        self.remember_checked(text, tags).map(|(note, _)| note)
    }

    /// [`Brain::remember`], saying whether the note was a duplicate: when a live note has the
    /// same text (after trimming and folding whitespace) and the same tag set, nothing is
    /// stored and that note is returned with `true`, so a client's retry never makes a copy.
    pub fn remember_checked(
        &self,
        text: &str,
        tags: &[String],
    ) -> Result<(Note, bool), BrainError> {
        validate_text(text)?;
        let tags = normalize_tags(tags)?;
        // Checked under the writer lock, so two identical concurrent calls store one note.
        let mut w = self.lock_writer();
        if let Some(existing) = self.read().duplicate_of(text, &tags) {
            return Ok((existing.clone(), true));
        }
        let id = self.fresh_id()?;
        let now = time::format_rfc3339(time::unix_now());
        let note = Note {
            id,
            text: text.to_string(),
            tags,
            created_at: now.clone(),
            updated_at: now,
        };
        let seq = w.next_seq;
        w.append(&log::put_line(seq, &note))?;
        self.write().apply(Record::Put {
            seq,
            note: note.clone(),
        });
        Ok((note, false))
    }

    /// A new id no live note has. Call with the writer lock held.
    fn fresh_id(&self) -> Result<String, BrainError> {
        loop {
            let id = new_id()?;
            if !self.read().ids.contains_key(&id) {
                return Ok(id);
            }
        }
    }

    /// Changes a note in place: appends a new version (same id and `created_at`, `updated_at`
    /// now) with `text` and/or `tags` replaced; the previous version stays in the log as
    /// history. Giving what the note already says writes nothing ([`Updated::Unchanged`]).
    pub fn update(
        &self,
        id: &str,
        text: Option<&str>,
        tags: Option<&[String]>,
    ) -> Result<Updated, BrainError> {
        if let Some(t) = text {
            validate_text(t)?;
        }
        let tags = tags.map(normalize_tags).transpose()?;
        let mut w = self.lock_writer();
        let Some(current) = self.recall(id) else {
            return Ok(Updated::NotFound);
        };
        let mut note = current.clone();
        if let Some(t) = text {
            note.text = t.to_string();
        }
        if let Some(t) = tags {
            note.tags = t;
        }
        if note.text == current.text && note.tags == current.tags {
            return Ok(Updated::Unchanged(current));
        }
        note.updated_at = time::format_rfc3339(time::unix_now());
        let seq = w.next_seq;
        w.append(&log::put_line(seq, &note))?;
        self.write().apply(Record::Put {
            seq,
            note: note.clone(),
        });
        Ok(Updated::Changed(note))
    }

    /// The note and its earlier versions, oldest first.
    pub fn recall_with_history(&self, id: &str) -> Option<(Note, Vec<Version>)> {
        let s = self.read();
        let e = s.notes.get(s.ids.get(id)?)?;
        Some((e.note.clone(), e.history.clone()))
    }

    /// Every tag with the number of live notes carrying it, most used first, ties by name.
    pub fn tag_counts(&self) -> Vec<(String, usize)> {
        let s = self.read();
        let mut v: Vec<(String, usize)> = s
            .tags
            .iter()
            .map(|(t, set)| (t.clone(), set.len()))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Every live note with its history, in the order they entered the brain, one JSON object
    /// per line (see [`NoteRecord`]): a consistent snapshot, taken under the read lock.
    pub fn export(&self) -> Vec<u8> {
        let s = self.read();
        let mut out = Vec::with_capacity(s.notes.len() * 256);
        for e in s.notes.values() {
            let n = &e.note;
            let rec = NoteRecord {
                id: n.id.clone(),
                text: n.text.clone(),
                tags: n.tags.clone(),
                created_at: n.created_at.clone(),
                updated_at: n.updated_at.clone(),
                history: e.history.clone(),
            };
            // Strings and arrays of strings always serialize.
            if serde_json::to_writer(&mut out, &rec).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }

    /// Adds `notes` in one append and one fsync, in order, skipping each whose current version
    /// duplicates a live note or an earlier one of the batch (the rule of
    /// [`Brain::remember_checked`]) or whose id is already live. Text and tags are validated
    /// first; on any error nothing is written. Returns (added, skipped).
    pub fn import(&self, notes: &[ImportNote]) -> Result<(usize, usize), BrainError> {
        for (i, n) in notes.iter().enumerate() {
            let at = |e: BrainError| BrainError::Invalid(format!("note {}: {e}", i + 1));
            if n.versions.is_empty() {
                return Err(at(BrainError::Invalid("it has no versions".into())));
            }
            for v in &n.versions {
                validate_text(&v.text).map_err(at)?;
                if normalize_tags(&v.tags).map_err(at)? != v.tags {
                    return Err(at(BrainError::Invalid(format!(
                        "tags {:?} are not normalized",
                        v.tags
                    ))));
                }
            }
        }
        let mut w = self.lock_writer();
        let mut bytes = Vec::new();
        let mut puts: Vec<(u64, Note)> = Vec::new();
        let mut batch_ids: BTreeSet<String> = BTreeSet::new();
        let mut batch_keys: FxHashMap<u128, Vec<usize>> = FxHashMap::default();
        let (mut added, mut skipped) = (0, 0);
        let mut seq = w.next_seq;
        {
            let s = self.read();
            for (i, n) in notes.iter().enumerate() {
                let Some(cur) = n.versions.last() else {
                    continue;
                };
                let key = dedup_key(&cur.text, &cur.tags);
                let folded = fold_whitespace(&cur.text);
                let dup_in_batch = batch_keys.get(&key).is_some_and(|js| {
                    js.iter().any(|&j| {
                        notes[j].versions.last().is_some_and(|v| {
                            fold_whitespace(&v.text) == folded
                                && sorted(&v.tags) == sorted(&cur.tags)
                        })
                    })
                });
                let id_taken =
                    n.id.as_ref()
                        .is_some_and(|id| s.ids.contains_key(id) || batch_ids.contains(id));
                if dup_in_batch || id_taken || s.duplicate_of(&cur.text, &cur.tags).is_some() {
                    skipped += 1;
                    continue;
                }
                let id = match &n.id {
                    Some(id) => id.clone(),
                    None => loop {
                        let id = new_id()?;
                        if !s.ids.contains_key(&id) && !batch_ids.contains(&id) {
                            break id;
                        }
                    },
                };
                batch_ids.insert(id.clone());
                batch_keys.entry(key).or_default().push(i);
                for v in &n.versions {
                    let note = Note {
                        id: id.clone(),
                        text: v.text.clone(),
                        tags: v.tags.clone(),
                        created_at: n.created_at.clone(),
                        updated_at: v.updated_at.clone(),
                    };
                    bytes.extend(log::put_line(seq, &note));
                    puts.push((seq, note));
                    seq += 1;
                }
                added += 1;
            }
        }
        if puts.is_empty() {
            return Ok((added, skipped));
        }
        w.append_records(&bytes, puts.len() as u64)?;
        let mut s = self.write();
        for (seq, note) in puts {
            s.apply(Record::Put { seq, note });
        }
        Ok((added, skipped))
    }

    pub fn recall(&self, id: &str) -> Option<Note> {
        let s = self.read();
        let order = s.ids.get(id)?;
        s.notes.get(order).map(|e| e.note.clone())
    }

    /// `Ok(false)` when no such note exists. Fsynced before returning `Ok(true)`.
    pub fn forget(&self, id: &str) -> Result<bool, BrainError> {
        let mut w = self.lock_writer();
        if !self.read().ids.contains_key(id) {
            return Ok(false);
        }
        let seq = w.next_seq;
        let at = time::format_rfc3339(time::unix_now());
        w.append(&log::del_line(seq, id, &at))?;
        let compact = {
            let mut s = self.write();
            s.apply(Record::Del {
                seq,
                id: id.to_string(),
            });
            s.should_compact(w.compact_min_dead) && s.dead_records > w.compact_retry_at
        };
        if compact {
            // The forget is durable already; a failed compaction only leaves a longer log.
            if let Err(e) = self.compact_locked(&mut w) {
                w.compact_retry_at = self.read().dead_records.saturating_mul(2);
                eprintln!(
                    "brain: could not compact {} ({e}); it stays as it is",
                    self.log_path.display()
                );
            }
        }
        Ok(true)
    }

    /// Rewrites the log without the records of forgotten notes. Writers are blocked (we hold
    /// `writer`); readers are not.
    fn compact_locked(&self, w: &mut Writer) -> io::Result<()> {
        let bytes = fs::read(&self.log_path)?;
        let loaded =
            log::parse_log(&self.log_path, &bytes).map_err(|e| io::Error::other(e.to_string()))?;
        if loaded.good_len as u64 != w.len || bytes.len() as u64 != w.len {
            return Err(io::Error::other("the log changed under us; not compacting"));
        }
        let keep: Vec<(usize, usize)> = {
            let s = self.read();
            loaded
                .lines
                .iter()
                .filter(|l| s.keeps(&l.record))
                .map(|l| (l.start, l.end))
                .collect()
        };
        #[cfg(test)]
        let fault = std::mem::take(&mut w.fail_next_compaction);
        #[cfg(not(test))]
        let fault = false;
        let (file, len) = log::compact(&self.dir, &self.log_path, &bytes, &keep, fault)?;
        w.file = file;
        w.len = len;
        w.dirty = false;
        w.compact_retry_at = 0;
        self.write().dead_records = 0;
        Ok(())
    }

    /// Best matches first (BM25-like, case- and accent-insensitive, recency breaks ties).
    /// Terms are OR'ed; only notes scoring above zero are returned; `tag` (ASCII
    /// case-insensitive) keeps notes carrying it. Scores are rounded to 3 decimals, and notes
    /// whose rounded scores are equal come newest (most recently written) first. A query with
    /// no words in it finds nothing.
    pub fn search(&self, query: &str, tag: Option<&str>, limit: usize) -> Vec<SearchHit> {
        self.search_page(query, &Filter::tag(tag), 0, limit).0
    }

    /// Results `offset..offset + limit` of [`Brain::search`]'s ranking of `query` among the
    /// notes `filter` accepts, and whether more follow.
    pub fn search_page(
        &self,
        query: &str,
        filter: &Filter,
        offset: usize,
        limit: usize,
    ) -> (Vec<SearchHit>, bool) {
        if limit == 0 {
            return (Vec::new(), false);
        }
        let s = self.read();
        if filter.tags_all.iter().any(|t| !s.tags.contains_key(t)) {
            return (Vec::new(), false);
        }
        // Tags are checked in the tags' own sets (small, dense), and a note is looked up
        // only for a time window: a broad query has thousands of candidates.
        let set = |t: &String| s.tags.get(t);
        let all: Vec<&BTreeSet<u64>> = filter.tags_all.iter().filter_map(set).collect();
        let any: Vec<&BTreeSet<u64>> = filter.tags_any.iter().filter_map(set).collect();
        let timed = filter.since.is_some() || filter.until.is_some();
        let accept = |doc: u64| {
            all.iter().all(|t| t.contains(&doc))
                && (filter.tags_any.is_empty() || any.iter().any(|t| t.contains(&doc)))
                && (!timed || s.notes.get(&doc).is_some_and(|e| filter.in_window(e)))
        };
        let want = offset.saturating_add(limit).saturating_add(1);
        let ranked = rank(&s, query, accept, want);
        let more = ranked.len() > offset.saturating_add(limit);
        let hits = ranked
            .into_iter()
            .skip(offset)
            .take(limit)
            .filter_map(|(score, doc)| {
                Some(SearchHit {
                    note: s.notes.get(&doc)?.note.clone(),
                    score,
                })
            })
            .collect();
        (hits, more)
    }

    /// Newest first. Returns the page and an opaque cursor for the next page, if any.
    /// A cursor that does not parse is `BrainError::Invalid`. `tag` is ASCII case-insensitive.
    pub fn list(
        &self,
        tag: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Note>, Option<String>), BrainError> {
        let (page, more) = self.list_filtered(&Filter::tag(tag), cursor, |_| true, limit)?;
        let next = if more {
            page.last().map(|(c, _)| c.clone())
        } else {
            None
        };
        Ok((page.into_iter().map(|(_, n)| n).collect(), next))
    }

    /// The notes `filter` accepts, newest first, from `cursor` on: at most `limit`, and only
    /// while `fits` (given each note in turn) says the page has room. Each note comes with the
    /// cursor that continues after it; the flag says whether more notes follow.
    ///
    /// Notes are ordered by when they entered the brain (their creation sequence number, which
    /// an update does not change: an updated note keeps its place), and a cursor names the
    /// last note returned, so paging stays exact while notes are added (new ones are newer
    /// than every page), updated (nothing moves) or forgotten (the cursor does not need its
    /// note to still exist).
    pub fn list_filtered(
        &self,
        filter: &Filter,
        cursor: Option<&str>,
        mut fits: impl FnMut(&Note) -> bool,
        limit: usize,
    ) -> Result<(Vec<(String, Note)>, bool), BrainError> {
        let before = match cursor {
            None => u64::MAX,
            Some(c) => decode_cursor(c).ok_or_else(|| {
                BrainError::Invalid(
                    "cursor is not one this server issued; call list_notes without a cursor \
                     to start again"
                        .into(),
                )
            })?,
        };
        let s = self.read();
        // Walk the notes of the rarest required tag, or all notes.
        let mut smallest: Option<&BTreeSet<u64>> = None;
        for t in &filter.tags_all {
            match s.tags.get(t) {
                None => return Ok((Vec::new(), false)),
                Some(set) if smallest.is_none_or(|m| set.len() < m.len()) => smallest = Some(set),
                Some(_) => {}
            }
        }
        let orders: Box<dyn Iterator<Item = u64> + '_> = match smallest {
            None => Box::new(s.notes.range(..before).rev().map(|(&o, _)| o)),
            Some(set) => Box::new(set.range(..before).rev().copied()),
        };
        let mut page = Vec::new();
        for o in orders {
            let Some(e) = s.notes.get(&o) else {
                continue;
            };
            if !filter.accepts(e) {
                continue;
            }
            if page.len() >= limit || !fits(&e.note) {
                return Ok((page, true));
            }
            page.push((encode_cursor(o), e.note.clone()));
        }
        Ok((page, false))
    }

    /// Number of live notes.
    pub fn len(&self) -> usize {
        self.read().notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    // ---- for the owner's pages (src/web), a read-only accessor kept apart ----
    /// Up to `limit` live notes, the most recently written first (by the log sequence of each
    /// one's latest version, so ties within a second keep the order of the log), each with its
    /// number of versions: the activity page's "latest writes". One pass over the notes with a
    /// heap of `limit`: O(notes · log limit), no note cloned but those returned.
    pub fn recently_written(&self, limit: usize) -> Vec<(Note, usize)> {
        use std::cmp::Reverse;
        use std::collections::BinaryHeap;
        if limit == 0 {
            return Vec::new();
        }
        let s = self.read();
        let mut heap: BinaryHeap<Reverse<(u64, u64)>> = BinaryHeap::with_capacity(limit + 1);
        for (&order, e) in &s.notes {
            heap.push(Reverse((e.written, order)));
            if heap.len() > limit {
                heap.pop();
            }
        }
        let mut newest: Vec<(u64, u64)> = heap.into_iter().map(|Reverse(w)| w).collect();
        newest.sort_unstable_by(|a, b| b.cmp(a));
        newest
            .into_iter()
            .filter_map(|(_, o)| {
                s.notes
                    .get(&o)
                    .map(|e| (e.note.clone(), e.history.len() + 1))
            })
            .collect()
    }
    // ---- end of the pages' accessor ----

    fn read(&self) -> RwLockReadGuard<'_, State> {
        // A panic elsewhere while holding a lock leaves state that is still whole (every
        // mutation above is applied after its last fallible step), so poisoning is ignored.
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }

    fn lock_writer(&self) -> MutexGuard<'_, Writer> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

// ---- ranking: the query string → ranked (score, doc) results (owned by the search work) ----
/// The `limit` best notes for `query` among those `accept` lets through, best first.
fn rank(s: &State, query: &str, accept: impl Fn(u64) -> bool, limit: usize) -> Vec<(f64, u64)> {
    let query = query::Query::parse(query);
    if query.is_empty() {
        return Vec::new();
    }
    s.index.search(
        &query,
        accept,
        |doc| query::phrases_in_note(s, &query, doc),
        limit,
    )
}
// ---- end of ranking ----

/// `n_` and 12 characters of Crockford's base32 (lower case, no i/l/o/u): 60 random bits, so
/// two notes of one brain sharing an id is never going to happen, and an id says nothing
/// about when it was made or how many notes exist. Live ids are also checked for a clash.
fn new_id() -> Result<String, BrainError> {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut b = [0u8; 8];
    getrandom::fill(&mut b)
        .map_err(|e| BrainError::Io(io::Error::other(format!("no randomness for an id: {e}"))))?;
    let mut v = u64::from_le_bytes(b);
    let mut id = String::with_capacity(14);
    id.push_str("n_");
    for _ in 0..12 {
        id.push(char::from(ALPHABET[(v & 31) as usize]));
        v >>= 5;
    }
    Ok(id)
}

/// A cursor is base64url of a version byte and the creation seq of the last note returned.
const CURSOR_VERSION: u8 = 1;

fn encode_cursor(order: u64) -> String {
    let mut b = [0u8; 9];
    b[0] = CURSOR_VERSION;
    b[1..].copy_from_slice(&order.to_be_bytes());
    URL_SAFE_NO_PAD.encode(b)
}

fn decode_cursor(c: &str) -> Option<u64> {
    let b = URL_SAFE_NO_PAD.decode(c).ok()?;
    let (&[CURSOR_VERSION], rest) = b.split_first_chunk::<1>()? else {
        return None;
    };
    Some(u64::from_be_bytes(rest.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// A fresh directory under the system temp dir, removed when the test ends.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static N: AtomicUsize = AtomicUsize::new(0);
            let p = std::env::temp_dir().join(format!(
                "brain-test-{}-{name}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&p);
            fs::create_dir_all(&p).unwrap();
            TempDir(p)
        }
        fn log(&self) -> PathBuf {
            self.0.join(log::LOG_NAME)
        }
        fn files(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn tags(t: &[&str]) -> Vec<String> {
        t.iter().map(|s| s.to_string()).collect()
    }

    fn invalid<T: std::fmt::Debug>(r: Result<T, BrainError>) -> String {
        match r {
            Err(BrainError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    fn ids(notes: &[Note]) -> Vec<String> {
        notes.iter().map(|n| n.id.clone()).collect()
    }

    fn line_count(path: &Path) -> usize {
        fs::read_to_string(path).unwrap().lines().count()
    }

    #[test]
    fn brain_is_send_and_sync() {
        fn assert<T: Send + Sync>() {}
        assert::<Brain>();
    }

    #[test]
    fn remember_returns_the_stored_note() {
        let d = TempDir::new("remember");
        let b = Brain::open(&d.0).unwrap();
        assert!(b.is_empty());
        let n = b
            .remember("Buy oat milk", &tags(&["Shopping", "errands", "shopping"]))
            .unwrap();
        assert_eq!(n.tags, ["shopping", "errands"]);
        assert_eq!(n.created_at, n.updated_at);
        assert!(time::parse_rfc3339_or_date(&n.created_at).is_some());
        assert!(n.id.starts_with("n_") && n.id.len() == 14, "{}", n.id);
        assert!(n.id[2..]
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()));
        assert_eq!(b.recall(&n.id), Some(n.clone()));
        assert_eq!(b.recall("n_nosuchnote00"), None);
        assert_eq!(b.len(), 1);
        let m = b.remember("Buy oat milk", &[]).unwrap();
        assert_ne!(m.id, n.id);
    }

    #[test]
    fn reopen_keeps_every_note() {
        let d = TempDir::new("reopen");
        let mut made = Vec::new();
        {
            let b = Brain::open(&d.0).unwrap();
            for i in 0..20 {
                made.push(
                    b.remember(
                        &format!("note {i}: \"quoted\"\nnewline ünïcode"),
                        &tags(&["t"]),
                    )
                    .unwrap(),
                );
            }
        }
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.len(), 20);
        for n in &made {
            assert_eq!(b.recall(&n.id).as_ref(), Some(n));
        }
        let (page, _) = b.list(None, 100, None).unwrap();
        made.reverse();
        assert_eq!(page, made);
        // The log is plain JSON lines, one per note.
        let text = fs::read_to_string(d.log()).unwrap();
        assert_eq!(text.lines().count(), 20);
        assert!(text.starts_with("{\"op\":\"put\",\"seq\":1,\"id\":\"n_"));
        assert_eq!(d.files(), ["notes.jsonl"]);
    }

    #[test]
    fn forget_persists() {
        let d = TempDir::new("forget");
        let (a, c) = {
            let b = Brain::open(&d.0).unwrap();
            let a = b.remember("alpha apples", &tags(&["x"])).unwrap();
            let c = b.remember("gamma apples", &tags(&["x"])).unwrap();
            assert!(b.forget(&a.id).unwrap());
            assert!(!b.forget(&a.id).unwrap());
            assert!(!b.forget("n_neverexisted").unwrap());
            assert_eq!(b.recall(&a.id), None);
            (a, c)
        };
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.recall(&a.id), None);
        assert_eq!(b.recall(&c.id), Some(c.clone()));
        let hits = b.search("apples alpha", None, 10);
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].note, c);
        assert_eq!(
            ids(&b.list(Some("x"), 10, None).unwrap().0),
            [c.id.as_str()]
        );
        let last = fs::read_to_string(d.log()).unwrap();
        let last = last.lines().last().unwrap();
        assert!(
            last.starts_with(&format!(
                "{{\"op\":\"del\",\"seq\":3,\"id\":\"{}\",\"at\":\"",
                a.id
            )),
            "{last}"
        );
    }

    #[test]
    fn torn_last_line_is_set_aside_and_the_store_opens() {
        let d = TempDir::new("torn");
        let n = {
            let b = Brain::open(&d.0).unwrap();
            b.remember("first", &[]).unwrap();
            b.remember("second", &[]).unwrap()
        };
        let good = fs::read(d.log()).unwrap();
        let torn = b"{\"op\":\"put\",\"seq\":3,\"id\":\"n_abc\",\"te";
        let mut f = fs::OpenOptions::new().append(true).open(d.log()).unwrap();
        std::io::Write::write_all(&mut f, torn).unwrap();
        drop(f);

        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b.recall(&n.id), Some(n));
        assert_eq!(fs::read(d.log()).unwrap(), good);
        let files = d.files();
        assert_eq!(files.len(), 2, "{files:?}");
        assert!(files[1].starts_with("notes.jsonl.torn."), "{files:?}");
        assert_eq!(fs::read(d.0.join(&files[1])).unwrap(), torn);

        // The store goes on as usual, and opens again without setting anything else aside.
        let m = b.remember("third", &[]).unwrap();
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.len(), 3);
        assert_eq!(b.recall(&m.id), Some(m));
        assert_eq!(d.files().len(), 2);
    }

    /// What `kill -9` or a power cut during an append can leave is a prefix of the log: every
    /// prefix opens, with exactly the records that are complete in it.
    #[test]
    fn every_prefix_of_a_log_opens() {
        let d = TempDir::new("prefixes");
        {
            let b = Brain::open(&d.0).unwrap();
            let a = b.remember("first ünïcode", &tags(&["x"])).unwrap();
            b.remember("second", &[]).unwrap();
            b.forget(&a.id).unwrap();
        }
        let full = fs::read(d.log()).unwrap();
        let ends: Vec<usize> = (0..full.len()).filter(|&i| full[i] == b'\n').collect();
        // Every cut near a line end, and a sample of the rest (each open fsyncs a few times).
        let cuts = (0..=full.len())
            .filter(|&c| c % 7 == 0 || c == full.len() || ends.iter().any(|&e| c.abs_diff(e) <= 2));
        for cut in cuts {
            let d = TempDir::new("prefix");
            fs::write(d.log(), &full[..cut]).unwrap();
            let b = Brain::open(&d.0).unwrap_or_else(|e| panic!("cut at {cut}: {e}"));
            let complete = ends.iter().filter(|&&e| e < cut).count();
            assert_eq!(b.len(), [0, 1, 2, 1][complete], "cut at {cut}");
            let torn = d.files().len() == 2;
            assert_eq!(torn, !(cut == 0 || full[cut - 1] == b'\n'), "cut at {cut}");
        }
    }

    #[test]
    fn corrupt_middle_line_names_file_and_line() {
        let d = TempDir::new("corrupt");
        {
            let b = Brain::open(&d.0).unwrap();
            b.remember("one", &[]).unwrap();
        }
        let mut bytes = fs::read(d.log()).unwrap();
        bytes.extend_from_slice(b"{\"op\":\"put\" oops}\n");
        bytes.extend_from_slice(&log::del_line(9, "n_x", "2026-01-01T00:00:00Z"));
        fs::write(d.log(), &bytes).unwrap();
        match Brain::open(&d.0) {
            Err(BrainError::Corrupt(m)) => {
                assert!(
                    m.starts_with(&format!("{} line 2: ", d.log().display())),
                    "{m}"
                )
            }
            Err(e) => panic!("expected Corrupt, got {e}"),
            Ok(_) => panic!("expected Corrupt, got a store"),
        }
        // Nothing was set aside or rewritten: a human decides.
        assert_eq!(fs::read(d.log()).unwrap(), bytes);
        assert_eq!(d.files(), ["notes.jsonl"]);
    }

    #[test]
    fn out_of_order_seq_is_corrupt() {
        let d = TempDir::new("seq");
        let note = |id: &str| Note {
            id: id.into(),
            text: "t".into(),
            tags: vec![],
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
        let mut bytes = log::put_line(5, &note("n_a"));
        bytes.extend_from_slice(&log::put_line(5, &note("n_b")));
        fs::write(d.log(), &bytes).unwrap();
        match Brain::open(&d.0) {
            Err(BrainError::Corrupt(m)) => assert!(m.contains("line 2: seq 5"), "{m}"),
            _ => panic!("expected Corrupt"),
        }
    }

    #[test]
    fn failed_write_leaves_the_store_consistent() {
        let d = TempDir::new("fault");
        let b = Brain::open(&d.0).unwrap();
        let a = b.remember("kept note", &tags(&["k"])).unwrap();
        let before = fs::read(d.log()).unwrap();

        b.lock_writer().fail_next_write = true;
        assert!(matches!(
            b.remember("lost note", &[]),
            Err(BrainError::Io(_))
        ));
        assert_eq!(fs::read(d.log()).unwrap(), before);
        assert_eq!(b.len(), 1);
        assert!(b.search("lost", None, 10).is_empty());

        b.lock_writer().fail_next_write = true;
        assert!(matches!(b.forget(&a.id), Err(BrainError::Io(_))));
        assert_eq!(fs::read(d.log()).unwrap(), before);
        assert_eq!(b.recall(&a.id), Some(a.clone()));

        let c = b.remember("after the fault", &[]).unwrap();
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(ids(&b.list(None, 10, None).unwrap().0), [c.id, a.id]);
        assert_eq!(d.files(), ["notes.jsonl"]);
    }

    /// A log with `dead` forgotten notes (put + del each) and one live note with two versions.
    fn log_with_garbage(dead: u64) -> (Vec<u8>, Note) {
        let mut bytes = Vec::new();
        let mut seq = 0;
        let mut next = || {
            seq += 1;
            seq
        };
        let mut live = Note {
            id: "n_live00000000".into(),
            text: "first version".into(),
            tags: vec!["keep".into()],
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
        };
        bytes.extend(log::put_line(next(), &live));
        for i in 0..dead {
            let mut n = live.clone();
            n.id = format!("n_dead{i:08}");
            n.text = format!("doomed {i}");
            bytes.extend(log::put_line(next(), &n));
            bytes.extend(log::del_line(next(), &n.id, "2026-01-02T00:00:00Z"));
        }
        live.text = "second version".into();
        live.updated_at = "2026-01-03T00:00:00Z".into();
        bytes.extend(log::put_line(next(), &live));
        (bytes, live)
    }

    #[test]
    fn compaction_at_open_keeps_exactly_the_live_notes_with_history() {
        let d = TempDir::new("compact-open");
        let (bytes, live) = log_with_garbage(600); // 1200 dead records
        fs::write(d.log(), &bytes).unwrap();
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(b.recall(&live.id), Some(live.clone()));
        let text = fs::read_to_string(d.log()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            2,
            "both versions of the live note, nothing else"
        );
        assert!(lines[0].contains("first version") && lines[1].contains("second version"));
        assert_eq!(d.files(), ["notes.jsonl"]);
        // Appends go to the new file, and the sequence goes on from where it was.
        let n = b.remember("new", &[]).unwrap();
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(ids(&b.list(None, 10, None).unwrap().0), [n.id, live.id]);
        assert!(fs::read_to_string(d.log())
            .unwrap()
            .contains("\"seq\":1203,"));
    }

    #[test]
    fn a_large_store_is_indexed_in_parallel_like_a_small_one() {
        let d = TempDir::new("large");
        let mut bytes = Vec::new();
        for i in 1..=6000u64 {
            let text = if i % 1000 == 0 {
                "identical marker text".to_string()
            } else {
                format!("note number w{i} about things")
            };
            let n = Note {
                id: format!("n_{i:012}"),
                text,
                tags: vec![],
                created_at: "2026-01-01T00:00:00Z".into(),
                updated_at: "2026-01-01T00:00:00Z".into(),
            };
            bytes.extend(log::put_line(i, &n));
        }
        fs::write(d.log(), &bytes).unwrap();
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.len(), 6000);
        for i in [1, 2999, 3001, 5999] {
            let hits = b.search(&format!("w{i}"), None, 5);
            assert_eq!(hits.len(), 1, "w{i}");
            assert_eq!(hits[0].note.id, format!("n_{i:012}"));
        }
        let hits = b.search("marker", None, 10);
        let got: Vec<&str> = hits.iter().map(|h| h.note.id.as_str()).collect();
        let want: Vec<String> = (1..=6)
            .rev()
            .map(|k| format!("n_{:012}", k * 1000))
            .collect();
        assert_eq!(got, want, "equal scores, newest first, across the parts");
        assert_eq!(b.search("things", None, 10000).len(), 5994);
    }

    #[test]
    fn small_garbage_is_not_compacted() {
        let d = TempDir::new("no-compact");
        let (bytes, _) = log_with_garbage(400); // 800 dead records: under the floor
        fs::write(d.log(), &bytes).unwrap();
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.len(), 1);
        assert_eq!(fs::read(d.log()).unwrap(), bytes);
    }

    #[test]
    fn compaction_after_forget() {
        let d = TempDir::new("compact-forget");
        let b = Brain::open(&d.0).unwrap();
        b.lock_writer().compact_min_dead = 2;
        let keep = b.remember("keep me", &tags(&["a"])).unwrap();
        let x = b.remember("drop x", &[]).unwrap();
        let y = b.remember("drop y", &[]).unwrap();
        assert!(b.forget(&x.id).unwrap()); // dead 2, live 2: no
        assert_eq!(line_count(&d.log()), 4);
        assert!(b.forget(&y.id).unwrap()); // dead 4 > live 1, > 2: compact
        assert_eq!(line_count(&d.log()), 1);
        assert_eq!(d.files(), ["notes.jsonl"]);
        let z = b.remember("after", &[]).unwrap();
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(ids(&b.list(None, 10, None).unwrap().0), [z.id, keep.id]);
    }

    #[test]
    fn failed_compaction_never_replaces_the_log() {
        let d = TempDir::new("compact-fault");
        let b = Brain::open(&d.0).unwrap();
        {
            let mut w = b.lock_writer();
            w.compact_min_dead = 2;
            w.fail_next_compaction = true;
        }
        let keep = b.remember("keep me", &[]).unwrap();
        let x = b.remember("drop x", &[]).unwrap();
        let y = b.remember("drop y", &[]).unwrap();
        assert!(b.forget(&x.id).unwrap());
        assert!(b.forget(&y.id).unwrap()); // compaction writes half the tmp file, then fails
        assert_eq!(line_count(&d.log()), 5, "the full log is still there");
        assert_eq!(
            d.files(),
            ["notes.jsonl"],
            "the half-written tmp file is gone"
        );
        assert_eq!(b.len(), 1);
        let z = b.remember("after", &[]).unwrap();
        // No new attempt until the dead records double (4 → over 8): then it succeeds.
        let more: Vec<Note> = (0..2)
            .map(|i| b.remember(&format!("drop {i}"), &[]).unwrap())
            .collect();
        assert!(b.forget(&more[0].id).unwrap()); // dead 6
        assert_eq!(line_count(&d.log()), 9);
        assert!(b.forget(&more[1].id).unwrap()); // dead 8: still not over 8
        assert_eq!(line_count(&d.log()), 10);
        let last = b.remember("drop last", &[]).unwrap();
        assert!(b.forget(&last.id).unwrap()); // dead 10: compacts
        assert_eq!(line_count(&d.log()), 2);
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(ids(&b.list(None, 10, None).unwrap().0), [z.id, keep.id]);
    }

    #[test]
    fn a_stale_tmp_file_is_ignored_and_removed() {
        let d = TempDir::new("stale-tmp");
        let n = {
            let b = Brain::open(&d.0).unwrap();
            b.remember("survivor", &[]).unwrap()
        };
        // A compaction killed before its rename leaves half a file behind.
        fs::write(d.0.join(log::TMP_NAME), b"{\"op\":\"put\",\"se").unwrap();
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.recall(&n.id), Some(n));
        assert_eq!(d.files(), ["notes.jsonl"]);
    }

    #[test]
    fn list_pages_stay_exact_under_adds_and_forgets() {
        let d = TempDir::new("list");
        let b = Brain::open(&d.0).unwrap();
        let made: Vec<Note> = (0..10)
            .map(|i| b.remember(&format!("note {i}"), &[]).unwrap())
            .collect();
        let mut expected: Vec<String> = made.iter().rev().map(|n| n.id.clone()).collect();

        let (p1, c1) = b.list(None, 3, None).unwrap();
        assert_eq!(ids(&p1), expected[0..3]);
        let c1 = c1.unwrap();
        // Between pages: two new notes, one seen note and one unseen note forgotten, and the
        // very note the cursor points at forgotten.
        b.remember("new 1", &[]).unwrap();
        b.remember("new 2", &[]).unwrap();
        assert!(b.forget(&made[9].id).unwrap()); // seen
        assert!(b.forget(&made[7].id).unwrap()); // the cursor's note
        assert!(b.forget(&made[5].id).unwrap()); // not yet seen
        expected.retain(|id| *id != made[5].id);

        let mut seen = ids(&p1);
        let mut cursor = Some(c1);
        while let Some(c) = cursor {
            let (page, next) = b.list(None, 3, Some(&c)).unwrap();
            assert!(page.len() <= 3);
            seen.extend(ids(&page));
            cursor = next;
        }
        assert_eq!(seen, expected);

        // Exactly divisible: the last full page says there is no more.
        let (page, next) = b.list(None, 9, None).unwrap();
        assert_eq!(page.len(), 9);
        assert_eq!(next, None);
        let (_, next) = b.list(None, 8, None).unwrap();
        assert!(next.is_some());
    }

    #[test]
    fn list_filters_by_tag_and_rejects_foreign_cursors() {
        let d = TempDir::new("list-tag");
        let b = Brain::open(&d.0).unwrap();
        let a = b.remember("a", &tags(&["work"])).unwrap();
        b.remember("b", &tags(&["home"])).unwrap();
        let c = b.remember("c", &tags(&["home", "work"])).unwrap();
        let (p, next) = b.list(Some("WORK"), 1, None).unwrap();
        assert_eq!(ids(&p), [c.id.as_str()]);
        let (p, next) = b.list(Some("work"), 1, next.as_deref()).unwrap();
        assert_eq!((ids(&p), next), (vec![a.id], None));
        assert_eq!(b.list(Some("nope"), 5, None).unwrap(), (vec![], None));
        for bad in ["", "!!!", "AAAA", "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"] {
            assert_eq!(
                invalid(b.list(None, 5, Some(bad))),
                "cursor is not one this server issued; call list_notes without a cursor to \
                 start again"
            );
        }
    }

    #[test]
    fn search_ranks_matches() {
        let d = TempDir::new("search");
        let b = Brain::open(&d.0).unwrap();
        let long = b
            .remember(
                "A long note that mentions rust once among many other words about cooking \
                 and gardening and weather",
                &[],
            )
            .unwrap();
        let short = b
            .remember("Rust borrow checker, rust lifetimes", &[])
            .unwrap();
        b.remember("Nothing relevant here", &[]).unwrap();
        let hits = b.search("rust", None, 10);
        assert_eq!(
            hits.iter().map(|h| &h.note.id).collect::<Vec<_>>(),
            [&short.id, &long.id]
        );
        assert!(hits[0].score > hits[1].score && hits[1].score > 0.0);
        // Scores are rounded to 3 decimals.
        assert_eq!(hits[0].score, (hits[0].score * 1000.0).round() / 1000.0);
        // Terms are OR'ed; a note matching more of them ranks higher.
        let hits = b.search("lifetimes gardening", None, 10);
        assert_eq!(hits.len(), 2);
        assert_eq!(b.search("rust", None, 1).len(), 1);
        assert!(b.search("absent", None, 10).is_empty());
        assert!(b.search("  ?!.. ", None, 10).is_empty());
        assert!(b.search("", None, 10).is_empty());
        assert!(b.search("rust", None, 0).is_empty());
    }

    #[test]
    fn search_folds_case_and_accents_and_filters_by_tag() {
        let d = TempDir::new("search-fold");
        let b = Brain::open(&d.0).unwrap();
        let fr = b
            .remember("Crème brûlée à la Straße", &tags(&["food"]))
            .unwrap();
        let other = b.remember("creme BRULEE again", &tags(&["other"])).unwrap();
        let hits = b.search("CRÈME brulee strasse", None, 10);
        assert_eq!(hits.len(), 2);
        assert_eq!(hits[0].note.id, fr.id);
        let hits = b.search("creme", Some("Food"), 10);
        assert_eq!(
            hits.iter().map(|h| &h.note.id).collect::<Vec<_>>(),
            [&fr.id]
        );
        assert!(b.search("creme", Some("missing"), 10).is_empty());
        assert_eq!(b.search("brûlée", Some("other"), 10)[0].note, other);
    }

    #[test]
    fn search_ties_go_to_the_newest() {
        let d = TempDir::new("search-ties");
        let b = Brain::open(&d.0).unwrap();
        let notes: Vec<Note> = (0..5)
            .map(|i| {
                b.remember("identical words here", &tags(&[&format!("t{i}")]))
                    .unwrap()
            })
            .collect();
        let hits = b.search("identical", None, 3);
        let expect: Vec<&String> = notes.iter().rev().take(3).map(|n| &n.id).collect();
        assert_eq!(hits.iter().map(|h| &h.note.id).collect::<Vec<_>>(), expect);
        assert!(hits.windows(2).all(|w| w[0].score == w[1].score));
        // The same after a restart, which rebuilds the index.
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        let hits = b.search("identical", None, 3);
        assert_eq!(hits.iter().map(|h| &h.note.id).collect::<Vec<_>>(), expect);
    }

    #[test]
    fn remember_validates_with_actionable_messages() {
        let d = TempDir::new("validate");
        let b = Brain::open(&d.0).unwrap();
        assert!(invalid(b.remember("", &[])).contains("empty"));
        assert!(invalid(b.remember(" \n ", &[])).contains("whitespace"));
        assert!(invalid(b.remember(&"x".repeat(65_537), &[])).contains("64 KiB"));
        assert!(b.remember(&"x".repeat(65_536), &[]).is_ok());
        let m = invalid(b.remember("ok", &tags(&["good", "Not Good"])));
        assert!(m.contains("\"not-good\""), "{m}");
        let many: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
        assert!(invalid(b.remember("ok", &many)).contains("at most 16"));
        assert_eq!(b.len(), 1);
        assert_eq!(line_count(&d.log()), 1);
    }

    #[test]
    fn concurrent_writers_and_readers() {
        let d = TempDir::new("threads");
        let b = Arc::new(Brain::open(&d.0).unwrap());
        let handles: Vec<_> = (0..8)
            .map(|t| {
                let b = Arc::clone(&b);
                std::thread::spawn(move || {
                    for i in 0..10 {
                        let n = b
                            .remember(&format!("thread {t} note {i} shared"), &[])
                            .unwrap();
                        assert!(!b.search("shared", None, 5).is_empty());
                        if i % 3 == 0 {
                            assert!(b.forget(&n.id).unwrap());
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let want = ids(&b.list(None, 1000, None).unwrap().0);
        assert_eq!(want.len(), 8 * 6);
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(ids(&b.list(None, 1000, None).unwrap().0), want);
    }

    #[test]
    fn update_appends_a_version_and_keeps_history() {
        let d = TempDir::new("update");
        let b = Brain::open(&d.0).unwrap();
        let n = b.remember("first text", &tags(&["a"])).unwrap();
        let other = b.remember("other note", &[]).unwrap();
        let u = match b.update(&n.id, Some("second text"), None).unwrap() {
            Updated::Changed(u) => u,
            x => panic!("{x:?}"),
        };
        assert_eq!(
            (u.id.as_str(), u.text.as_str()),
            (n.id.as_str(), "second text")
        );
        assert_eq!(
            (u.tags.clone(), &u.created_at),
            (tags(&["a"]), &n.created_at)
        );
        // Same text and tags again: nothing written.
        let lines = line_count(&d.log());
        assert_eq!(
            b.update(&n.id, Some("second text"), Some(&tags(&["A"])))
                .unwrap(),
            Updated::Unchanged(u.clone())
        );
        assert_eq!(line_count(&d.log()), lines);
        let u2 = match b.update(&n.id, None, Some(&tags(&["B", "c"]))).unwrap() {
            Updated::Changed(u) => u,
            x => panic!("{x:?}"),
        };
        assert_eq!(u2.tags, tags(&["b", "c"]));
        assert_eq!(
            b.update("n_nope", Some("x"), None).unwrap(),
            Updated::NotFound
        );
        assert!(invalid(b.update(&n.id, Some(" "), None)).contains("empty"));
        // Search and tags see the current version only; list order does not change.
        assert!(b.search("first", None, 10).is_empty());
        assert_eq!(b.search("second", None, 10)[0].note, u2);
        assert!(b.list(Some("a"), 10, None).unwrap().0.is_empty());
        assert_eq!(
            ids(&b.list(None, 10, None).unwrap().0),
            [other.id.clone(), n.id.clone()]
        );
        let check = |b: &Brain| {
            let (cur, hist) = b.recall_with_history(&n.id).unwrap();
            assert_eq!(cur, u2);
            let texts: Vec<(&str, Vec<String>)> = hist
                .iter()
                .map(|v| (v.text.as_str(), v.tags.clone()))
                .collect();
            assert_eq!(
                texts,
                [("first text", tags(&["a"])), ("second text", tags(&["a"]))]
            );
            assert_eq!(hist[0].updated_at, n.updated_at);
        };
        check(&b);
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        check(&b);
        assert_eq!(b.tag_counts(), [("b".to_string(), 1), ("c".to_string(), 1)]);
    }

    #[test]
    fn identical_remember_is_a_duplicate_until_forgotten_or_changed() {
        let d = TempDir::new("dedup");
        let b = Brain::open(&d.0).unwrap();
        let (n, dup) = b
            .remember_checked("  Buy  oat\n milk ", &tags(&["x", "y"]))
            .unwrap();
        assert!(!dup);
        let (m, dup) = b
            .remember_checked("Buy oat milk", &tags(&["Y", "x"]))
            .unwrap();
        assert!(dup);
        assert_eq!(m, n);
        assert_eq!(line_count(&d.log()), 1);
        // Different tags, different case: not duplicates.
        assert!(!b.remember_checked("Buy oat milk", &tags(&["x"])).unwrap().1);
        assert!(
            !b.remember_checked("buy oat milk", &tags(&["x", "y"]))
                .unwrap()
                .1
        );
        // After an update the old text is free again and the new one is taken.
        b.update(&n.id, Some("Buy soy milk"), None).unwrap();
        assert!(
            b.remember_checked("Buy soy milk", &tags(&["x", "y"]))
                .unwrap()
                .1
        );
        let (again, dup) = b
            .remember_checked("Buy oat milk", &tags(&["x", "y"]))
            .unwrap();
        assert!(!dup);
        assert!(b.forget(&again.id).unwrap());
        assert!(
            !b.remember_checked("Buy oat milk", &tags(&["x", "y"]))
                .unwrap()
                .1
        );
        // Survives a restart.
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert!(
            b.remember_checked("Buy soy milk", &tags(&["y", "x"]))
                .unwrap()
                .1
        );
    }

    #[test]
    fn filters_on_tags_and_creation_time() {
        let d = TempDir::new("filters");
        let mut bytes = Vec::new();
        let mk = |i: u64, day: &str, t: &[&str]| Note {
            id: format!("n_{i:012}"),
            text: format!("apple note {i}"),
            tags: tags(t),
            created_at: format!("{day}T12:00:00Z"),
            updated_at: format!("{day}T12:00:00Z"),
        };
        let notes = [
            mk(1, "2026-01-01", &["a"]),
            mk(2, "2026-01-02", &["a", "b"]),
            mk(3, "2026-01-03", &["b"]),
            mk(4, "2026-01-04", &["c"]),
        ];
        for (i, n) in notes.iter().enumerate() {
            bytes.extend(log::put_line(i as u64 + 1, n));
        }
        fs::write(d.log(), &bytes).unwrap();
        let b = Brain::open(&d.0).unwrap();
        let day = |s: &str| time::parse_rfc3339_or_date(s).unwrap();
        let list = |f: Filter| -> Vec<String> {
            let (page, _) = b.list_filtered(&f, None, |_| true, 50).unwrap();
            page.into_iter()
                .map(|(_, n)| n.id[12..].to_string())
                .collect()
        };
        let search = |f: Filter| -> Vec<String> {
            let mut v: Vec<String> = b
                .search_page("apple", &f, 0, 50)
                .0
                .into_iter()
                .map(|h| h.note.id[12..].to_string())
                .collect();
            v.sort();
            v.reverse();
            v
        };
        let cases = [
            (Filter::default(), vec!["04", "03", "02", "01"]),
            (
                Filter {
                    tags_all: tags(&["a", "b"]),
                    ..Filter::default()
                },
                vec!["02"],
            ),
            (
                Filter {
                    tags_any: tags(&["a", "c"]),
                    ..Filter::default()
                },
                vec!["04", "02", "01"],
            ),
            (
                Filter {
                    tags_all: tags(&["zzz"]),
                    ..Filter::default()
                },
                vec![],
            ),
            (
                Filter {
                    since: Some(day("2026-01-02")),
                    ..Filter::default()
                },
                vec!["04", "03", "02"],
            ),
            (
                Filter {
                    since: Some(day("2026-01-02T12:00:00Z")),
                    until: Some(day("2026-01-03T12:00:00Z")),
                    ..Filter::default()
                },
                vec!["03", "02"],
            ),
            (
                Filter {
                    tags_any: tags(&["b"]),
                    until: Some(day("2026-01-02")),
                    ..Filter::default()
                },
                vec![],
            ),
        ];
        for (f, want) in cases {
            assert_eq!(list(f.clone()), want, "list {f:?}");
            assert_eq!(search(f.clone()), want, "search {f:?}");
        }
        // Paging a search: offsets continue the ranking.
        let (p1, more) = b.search_page("apple", &Filter::default(), 0, 3);
        let (p2, more2) = b.search_page("apple", &Filter::default(), 3, 3);
        assert!(more && !more2 && p1.len() == 3 && p2.len() == 1);
    }

    #[test]
    fn export_then_import_round_trips_and_skips_duplicates() {
        let d = TempDir::new("export");
        let b = Brain::open(&d.0).unwrap();
        let n = b.remember("one", &tags(&["t"])).unwrap();
        b.remember("two \"quoted\"\nlines", &[]).unwrap();
        b.update(&n.id, Some("one, edited"), None).unwrap();
        let gone = b.remember("gone", &[]).unwrap();
        b.forget(&gone.id).unwrap();
        let out = b.export();
        let recs: Vec<NoteRecord> = String::from_utf8(out.clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(recs.len(), 2);
        assert_eq!(recs[0].history.len(), 1);
        let to_import: Vec<ImportNote> = recs
            .iter()
            .map(|r| {
                let mut versions = r.history.clone();
                versions.push(Version {
                    text: r.text.clone(),
                    tags: r.tags.clone(),
                    updated_at: r.updated_at.clone(),
                });
                ImportNote {
                    id: Some(r.id.clone()),
                    created_at: r.created_at.clone(),
                    versions,
                }
            })
            .collect();
        let d2 = TempDir::new("import");
        let b2 = Brain::open(&d2.0).unwrap();
        assert_eq!(b2.import(&to_import).unwrap(), (2, 0));
        assert_eq!(b2.export(), out);
        assert_eq!(b2.import(&to_import).unwrap(), (0, 2));
        drop(b2);
        assert_eq!(Brain::open(&d2.0).unwrap().export(), out);
        // Into the original: everything is there already.
        assert_eq!(b.import(&to_import).unwrap(), (0, 2));
        let bad = ImportNote {
            id: None,
            created_at: n.created_at.clone(),
            versions: vec![Version {
                text: "ok".into(),
                tags: tags(&["Upper"]),
                updated_at: n.created_at.clone(),
            }],
        };
        let before = fs::read(d.log()).unwrap();
        assert!(invalid(b.import(&[to_import[0].clone(), bad])).starts_with("note 2: "));
        assert_eq!(fs::read(d.log()).unwrap(), before);
    }
}
