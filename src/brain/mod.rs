//! The brain: notes in an append-only JSON-lines log, fsynced before acknowledgement, loaded
//! into memory at start with an index for search.
//!
//! API CONTRACT (other modules are written against exactly this; bodies are filled in by the
//! brain work): `Brain` is `Send + Sync` and is shared as `Arc<Brain>` by all worker threads.
//! The caller (main) holds the data-directory lock; `Brain::open` does not lock.
//!
//! Files in the data directory: `notes.jsonl`, the log (its format is described in `log.rs`);
//! `notes.jsonl.tmp` only while a compaction writes the log's replacement;
//! `notes.jsonl.torn.<unix-time>`, the bytes of an unfinished append that `open` set aside;
//! `notes.snapshot` (and `notes.snapshot.tmp` while one is written), the in-memory state of a
//! large brain, so that it starts without reading the whole log (see `snapshot.rs`).
//!
//! Memory holds no note content: each note is a fixed-size row (`state.rs`) pointing at its
//! line in the log, and its text is read back from there when it is shown. Submodules: `log`
//! (the file), `load` (open), `state` (the rows and maps), `index` (BM25), `snapshot`, `text`
//! (validation and tokenizing), `snippet` (search result excerpts). Timestamps come from the
//! crate's `time` module.

mod hash;
mod index;
mod load;
mod log;
pub mod meaning;
mod query;
mod snapshot;
pub mod snippet;
mod state;
mod text;
pub mod transfer;
pub mod vectors;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::thread::JoinHandle;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use index::FxHashMap;
use state::{Entry, NewVersion, State, Ver};

use crate::time;
pub use text::{
    check_tags, normalize_space, normalize_tag, normalize_tags, validate_id, validate_text, Writer,
    MAIN_SPACE, MAX_TAGS, MAX_TAG_CHARS, MAX_TEXT_BYTES,
};

/// One note as the tools show it. Timestamps are RFC 3339 UTC, e.g. `2026-11-26T23:15:57Z`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Note {
    pub id: String,
    pub text: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
    /// The space it lives in (`main` unless another was named).
    #[serde(default = "main_space")]
    pub space: String,
    /// Who wrote its current version; `None` in logs written before provenance ("unknown").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Writer>,
    /// Written by a grant the owner reviews, and not yet accepted: seen only by its writer
    /// and the owner.
    #[serde(default, skip_serializing_if = "is_false")]
    pub pending: bool,
}

impl Default for Note {
    fn default() -> Note {
        Note {
            id: String::new(),
            text: String::new(),
            tags: Vec::new(),
            created_at: String::new(),
            updated_at: String::new(),
            space: main_space(),
            by: None,
            pending: false,
        }
    }
}

fn main_space() -> String {
    text::MAIN_SPACE.to_string()
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An earlier version of a note, as `recall` with history and `export` show it.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Version {
    pub text: String,
    pub tags: Vec<String>,
    pub updated_at: String,
    #[serde(default = "main_space")]
    pub space: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Writer>,
}

impl Default for Version {
    fn default() -> Version {
        Version {
            text: String::new(),
            tags: Vec::new(),
            updated_at: String::new(),
            space: main_space(),
            by: None,
        }
    }
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
    #[serde(default = "main_space")]
    pub space: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub by: Option<Writer>,
    #[serde(default, skip_serializing_if = "is_false")]
    pub pending: bool,
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
    /// Only notes in these spaces (`None`: every space). A caller limited to some spaces
    /// passes what it asked for intersected with them, never `None`.
    pub spaces: Option<Vec<String>>,
    /// Only notes whose current version one of these wrote ([`Writer::matches`]; `unknown`
    /// names versions written before provenance). Empty: any writer.
    pub by: Vec<String>,
    /// Who is looking, for notes awaiting review: `None` is the owner, who sees them all;
    /// a writer sees only the pending notes it wrote.
    pub viewer: Option<Writer>,
    /// Only notes awaiting review (the owner's `pending` list).
    pub pending_only: bool,
}

impl Filter {
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

/// Who writes, and what they may see: what every write needs besides its input.
#[derive(Debug, Clone, Default)]
pub struct Author {
    /// Recorded as the version's writer (`None`, "unknown", only in tests).
    pub by: Option<Writer>,
    /// The writer's grant is under the owner's review: its new notes and versions are
    /// pending, and it may change or forget only its own pending notes (so it can neither
    /// hide nor rewrite what the owner has accepted).
    pub review: bool,
    /// What the writer may see: the duplicate check and the notes it may change look only
    /// there, and a space it names must be one of `view.spaces` when that is limited.
    pub view: Filter,
}

impl Author {
    /// The space a write goes to, checked: named (space rules) or `main`, and one the
    /// author may write to.
    fn space_to_write(&self, space: Option<&str>) -> Result<String, BrainError> {
        let space = match space {
            None => MAIN_SPACE.to_string(),
            Some(s) => normalize_space(s)?,
        };
        if let Some(allowed) = &self.view.spaces {
            if !allowed.contains(&space) {
                return Err(BrainError::Invalid(format!(
                    "this client may write only to the space{} {}; {space:?} is not one of them",
                    if allowed.len() == 1 { "" } else { "s" },
                    allowed.join(", ")
                )));
            }
        }
        Ok(space)
    }

    /// Whether the author may change or forget `note` (which it can see).
    fn may_change(&self, note: &Note) -> Result<(), BrainError> {
        if self.review && !(note.pending && note.by == self.by) {
            return Err(BrainError::Invalid(
                "this client's writes wait for the owner's review: it may add notes and change \
                 or forget its own pending ones, not a note the owner has accepted"
                    .into(),
            ));
        }
        Ok(())
    }
}

/// Refuses a note in a space the brain has no room for.
fn room_for(s: &State, space: &str) -> Result<(), BrainError> {
    if s.space_id(space).is_some() || s.spaces.len() < state::MAX_SPACES {
        Ok(())
    } else {
        Err(too_many_spaces())
    }
}

fn too_many_spaces() -> BrainError {
    BrainError::Invalid(format!(
        "this brain has {} spaces, the most it may have; use one of them (list_spaces)",
        state::MAX_SPACES
    ))
}

/// `view` without its tag and time parts (counts are over everything a caller may see).
fn untagged(view: &Filter) -> Filter {
    Filter {
        spaces: view.spaces.clone(),
        viewer: view.viewer.clone(),
        ..Filter::default()
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
    /// Its current version awaits review (an export of a pending note).
    pub pending: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    pub note: Note,
    pub score: f64,
    /// Which part of the search found it (always words without an embeddings endpoint).
    pub found: meaning::Found,
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
/// Forgotten rows and dead index slots kept before [`State::compact_memory`] drops them.
const MEMORY_MIN_GARBAGE: usize = 50_000;
/// A log shorter than this loads in about a tenth of a second: no snapshot is written.
const SNAPSHOT_MIN_BYTES: u64 = 8 << 20;

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
    writer: Mutex<LogWriter>,
    state: Arc<RwLock<State>>,
    /// The thread writing a snapshot, if one was started (see [`Brain::maybe_snapshot`]).
    snapshotter: Mutex<Option<JoinHandle<()>>>,
    /// See [`SNAPSHOT_MIN_BYTES`]; lowered by tests.
    snapshot_min_bytes: u64,
    /// Search by meaning, when an embeddings endpoint is configured ([`Brain::attach_meaning`]).
    meaning: std::sync::OnceLock<meaning::Meaning>,
}

/// The open log and what the next append needs to know.
struct LogWriter {
    file: fs::File,
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
    /// See [`MEMORY_MIN_GARBAGE`]; lowered by tests.
    memory_min_garbage: usize,
    #[cfg(test)]
    fail_next_write: bool,
    #[cfg(test)]
    fail_next_compaction: bool,
}

impl LogWriter {
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

/// Applies the `put` of `note` that was just appended as the line `at..at + len` with `seq`.
/// The note has passed the rules of new input (its id and times are ours or checked).
fn apply_note(s: &mut State, seq: u64, at: u64, len: usize, note: &Note) {
    let Some(id) = text::pack_id(&note.id) else {
        return;
    };
    let tagset = s.tags.intern(&note.tags);
    // The writer made room for a new space before appending (see `Brain::room_for`).
    let space = s.intern_space(&note.space).unwrap_or(0);
    let writer = s.intern_writer(note.by.as_ref());
    s.put(
        NewVersion {
            id,
            ver: Ver {
                at,
                len: len as u32,
                seq,
                writer,
            },
            created: time::parse_rfc3339_or_date(&note.created_at).unwrap_or(0),
            tagset,
            digest: dedup_key(&note.text, &note.tags, &note.space),
            space,
            pending: note.pending,
        },
        &note.text,
    );
}

/// A live note `seen` lets through whose space, current text (trimmed, whitespace folded)
/// and tag set equal these.
fn duplicate_of(
    s: &State,
    text: &str,
    tags: &[String],
    space: &str,
    seen: &Seen<'_>,
) -> Option<Note> {
    let (want_text, want_tags) = (fold_whitespace(text), sorted(tags));
    s.with_digest(dedup_key(text, tags, space))
        .filter(|&row| seen.accepts(s, row))
        .filter_map(|row| s.note(row))
        .find(|n| {
            n.space == space
                && fold_whitespace(&n.text) == want_text
                && sorted(&n.tags) == want_tags
        })
}

/// The text with its ends trimmed and every run of whitespace inside folded to one space.
fn fold_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn sorted<S: AsRef<str>>(tags: &[S]) -> Vec<&str> {
    let mut v: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// The duplicate-detection key of a note: XXH64 of its text with whitespace folded, its
/// sorted tag set and its space (a note in another space is not a duplicate; `main` adds
/// nothing, so keys from before spaces stay). Hits are confirmed by comparing the folded
/// texts, tag sets and spaces, so a collision could only cost a lookup, never a wrong answer.
fn dedup_key<S: AsRef<str>>(text: &str, tags: &[S], space: &str) -> u64 {
    let mut h = hash::Xxh64::new();
    if space != MAIN_SPACE {
        h.update(space.as_bytes());
        h.update(b"\x01");
    }
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
    h.digest()
}

/// Whether a new snapshot is worth writing: the log is large enough to matter, and what the
/// last snapshot does not cover is over an eighth of what it does (and over the floor), so
/// a start never replays more than that.
fn snapshot_due(s: &State, min_bytes: u64) -> bool {
    let uncovered = s.log_len.saturating_sub(s.snapshot_len);
    s.log_len >= min_bytes
        && uncovered > min_bytes.max(s.snapshot_len / 8)
        && s.log_len >= s.snapshot_failed_at.saturating_add(min_bytes)
}

/// Writes snapshots of `state` until one is current (a compaction meanwhile makes the one
/// being written stale).
fn snapshot_loop(state: &RwLock<State>, min_bytes: u64) {
    let read = || state.read().unwrap_or_else(PoisonError::into_inner);
    while snapshot_due(&read(), min_bytes) {
        let written = {
            let s = read();
            snapshot::write(&s).map(|tmp| (tmp, s.generation, s.log_len))
        };
        let result = written.and_then(|(tmp, generation, len)| {
            if read().generation != generation {
                let _ = fs::remove_file(&tmp);
                return Ok(None);
            }
            snapshot::install(&tmp).map(|()| Some((len, generation)))
        });
        release_freed_memory();
        let mut s = state.write().unwrap_or_else(PoisonError::into_inner);
        match result {
            // A compaction between the check and the rename made this one stale: the next
            // round writes another.
            Ok(Some((len, generation))) if generation == s.generation => {
                s.snapshot_len = s.snapshot_len.max(len)
            }
            Ok(_) => {}
            Err(e) => {
                s.snapshot_failed_at = s.log_len;
                eprintln!(
                    "brain: could not write {} ({e}); the next start reads the whole log",
                    s.log_path.with_file_name(snapshot::SNAPSHOT_NAME).display()
                );
                return;
            }
        }
    }
}

impl Brain {
    /// Opens (creating if needed) the store in `dir`, recovering a torn last line.
    pub fn open(dir: &Path) -> Result<Brain, BrainError> {
        Brain::open_with(dir, COMPACT_MIN_DEAD, SNAPSHOT_MIN_BYTES)
    }

    fn open_with(
        dir: &Path,
        compact_min_dead: u64,
        snapshot_min_bytes: u64,
    ) -> Result<Brain, BrainError> {
        fs::create_dir_all(dir)?;
        let log_path = dir.join(log::LOG_NAME);
        // A tmp file is a compaction or a snapshot that never reached its rename.
        for tmp in [log::TMP_NAME, snapshot::SNAPSHOT_TMP_NAME] {
            match fs::remove_file(dir.join(tmp)) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        let opened = load::open(dir, &log_path, compact_min_dead)?;
        let brain = Brain {
            dir: dir.to_path_buf(),
            log_path,
            writer: Mutex::new(LogWriter {
                file: opened.append,
                len: opened.state.log_len,
                next_seq: opened.next_seq,
                dirty: false,
                compact_min_dead,
                compact_retry_at: 0,
                memory_min_garbage: MEMORY_MIN_GARBAGE,
                #[cfg(test)]
                fail_next_write: false,
                #[cfg(test)]
                fail_next_compaction: false,
            }),
            state: Arc::new(RwLock::new(opened.state)),
            snapshotter: Mutex::new(None),
            snapshot_min_bytes,
            meaning: std::sync::OnceLock::new(),
        };
        brain.maybe_snapshot();
        Ok(brain)
    }

    /// Starts writing a snapshot in the background when one is due (see [`snapshot_due`]),
    /// unless one is being written.
    fn maybe_snapshot(&self) {
        if !snapshot_due(&self.read(), self.snapshot_min_bytes) {
            return;
        }
        let mut slot = self
            .snapshotter
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if slot.as_ref().is_some_and(|h| !h.is_finished()) {
            return;
        }
        if let Some(done) = slot.take() {
            let _ = done.join();
        }
        let state = Arc::clone(&self.state);
        let min = self.snapshot_min_bytes;
        *slot = std::thread::Builder::new()
            .name("brain-snapshot".into())
            .spawn(move || snapshot_loop(&state, min))
            .ok();
    }

    /// Waits for a snapshot being written (tests, and `Drop`).
    fn wait_for_snapshot(&self) {
        let handle = self
            .snapshotter
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// Validates (text 1 byte..=64 KiB; at most 16 tags of 1..=64 chars of [a-z0-9_-] after
    /// lower-casing), appends, fsyncs, then returns the stored note.
    pub fn remember(&self, text: &str, tags: &[String]) -> Result<Note, BrainError> {
        self.remember_checked(text, tags).map(|(note, _)| note)
    }

    /// [`Brain::remember_by`] in `main` by an unknown writer who sees everything (tests).
    pub fn remember_checked(
        &self,
        text: &str,
        tags: &[String],
    ) -> Result<(Note, bool), BrainError> {
        self.remember_by(text, tags, None, &Author::default())
    }

    /// Stores a note in `space` (default `main`) written by `author`, saying whether it was a
    /// duplicate: when a note the author can see has the same space, text (after trimming and
    /// folding whitespace) and tag set, nothing is stored and that note is returned with
    /// `true`, so a client's retry never makes a copy. An author under review stores it
    /// pending.
    pub fn remember_by(
        &self,
        text: &str,
        tags: &[String],
        space: Option<&str>,
        author: &Author,
    ) -> Result<(Note, bool), BrainError> {
        validate_text(text)?;
        let tags = normalize_tags(tags)?;
        let space = author.space_to_write(space)?;
        // Checked under the writer lock, so two identical concurrent calls store one note.
        let mut w = self.lock_writer();
        {
            let s = self.read();
            room_for(&s, &space)?;
            if let Some(seen) = Seen::new(&s, &author.view) {
                if let Some(existing) = duplicate_of(&s, text, &tags, &space, &seen) {
                    return Ok((existing, true));
                }
            }
        }
        let id = self.fresh_id()?;
        let now = time::format_rfc3339(time::unix_now());
        let note = Note {
            id,
            text: text.to_string(),
            tags,
            created_at: now.clone(),
            updated_at: now,
            space,
            by: author.by.clone(),
            pending: author.review,
        };
        self.append_put(&mut w, &note)?;
        drop(w);
        self.maybe_snapshot();
        Ok((note, false))
    }
    /// Appends and applies a new version of `note`.
    fn append_put(&self, w: &mut LogWriter, note: &Note) -> Result<(), BrainError> {
        let seq = w.next_seq;
        let line = log::put_line(seq, note);
        let at = w.len;
        w.append(&line)?;
        let mut s = self.write();
        apply_note(&mut s, seq, at, line.len(), note);
        s.appended(&line);
        s.compact_memory(w.memory_min_garbage);
        drop(s);
        self.meaning_written(note);
        Ok(())
    }

    /// A new id no live note has. Call with the writer lock held.
    fn fresh_id(&self) -> Result<String, BrainError> {
        loop {
            let id = new_id()?;
            if self.read().row_of(&id).is_none() {
                return Ok(id);
            }
        }
    }

    /// [`Brain::update_by`] by an unknown writer who sees everything (tests).
    pub fn update(
        &self,
        id: &str,
        text: Option<&str>,
        tags: Option<&[String]>,
    ) -> Result<Updated, BrainError> {
        self.update_by(id, text, tags, None, &Author::default())
    }

    /// Changes a note in place: appends a new version (same id and `created_at`, `updated_at`
    /// now) with `text`, `tags` and/or `space` replaced (a move between spaces is a version
    /// like any other); the previous version stays in the log as history. Giving what the note
    /// already says writes nothing ([`Updated::Unchanged`]). A note the author cannot see is
    /// [`Updated::NotFound`]; an author under review may change only its own pending notes.
    pub fn update_by(
        &self,
        id: &str,
        text: Option<&str>,
        tags: Option<&[String]>,
        space: Option<&str>,
        author: &Author,
    ) -> Result<Updated, BrainError> {
        if let Some(t) = text {
            validate_text(t)?;
        }
        let tags = tags.map(normalize_tags).transpose()?;
        let space = space.map(|s| author.space_to_write(Some(s))).transpose()?;
        let mut w = self.lock_writer();
        let Some(current) = self.recall_in(id, &author.view) else {
            return Ok(Updated::NotFound);
        };
        author.may_change(&current)?;
        let mut note = current.clone();
        if let Some(t) = text {
            note.text = t.to_string();
        }
        if let Some(t) = tags {
            note.tags = t;
        }
        if let Some(sp) = space {
            room_for(&self.read(), &sp)?;
            note.space = sp;
        }
        if note.text == current.text && note.tags == current.tags && note.space == current.space {
            return Ok(Updated::Unchanged(current));
        }
        note.updated_at = time::format_rfc3339(time::unix_now());
        note.by = author.by.clone();
        note.pending = author.review;
        self.append_put(&mut w, &note)?;
        drop(w);
        self.maybe_snapshot();
        Ok(Updated::Changed(note))
    }

    /// The owner accepts a pending note: a new version with the same text, tags, space and
    /// writer, no longer pending. `None` when no pending note has that id.
    pub fn accept(&self, id: &str) -> Result<Option<Note>, BrainError> {
        let mut w = self.lock_writer();
        let Some(mut note) = self.recall(id).filter(|n| n.pending) else {
            return Ok(None);
        };
        note.pending = false;
        note.updated_at = time::format_rfc3339(time::unix_now());
        self.append_put(&mut w, &note)?;
        drop(w);
        self.maybe_snapshot();
        Ok(Some(note))
    }

    /// The note and its earlier versions, oldest first.
    pub fn recall_with_history(&self, id: &str) -> Option<(Note, Vec<Version>)> {
        self.recall_with_history_in(id, &Filter::default())
    }

    /// [`Brain::recall_with_history`] of a note `view` lets through.
    pub fn recall_with_history_in(&self, id: &str, view: &Filter) -> Option<(Note, Vec<Version>)> {
        let s = self.read();
        let row = s.row_of(id)?;
        Seen::new(&s, view)?.accepts(&s, row).then_some(())?;
        s.note_with_history(row)
    }

    /// Every tag with the number of live notes carrying it, most used first, ties by name.
    pub fn tag_counts(&self) -> Vec<(String, usize)> {
        self.tag_counts_in(&Filter::default())
    }

    /// [`Brain::tag_counts`] among the notes `view` lets through (its tag parts ignored).
    pub fn tag_counts_in(&self, view: &Filter) -> Vec<(String, usize)> {
        let s = self.read();
        let Some(seen) = Seen::new(&s, &untagged(view)) else {
            return Vec::new();
        };
        let mut v: Vec<(String, usize)> = (0..s.tags.names().len() as u32)
            .map(|t| {
                let rows = s.tags.rows(t);
                let n = if seen.needs_row() {
                    rows.iter().filter(|&&r| seen.accepts(&s, r)).count()
                } else {
                    rows.len()
                };
                (s.tags.name(t).to_string(), n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Every space with the number of notes `view` lets through in it (its space part
    /// included: a caller limited to some spaces learns nothing of the others), most used
    /// first, ties by name; spaces with no such note are left out, but `main` always shows.
    pub fn space_counts(&self, view: &Filter) -> Vec<(String, usize)> {
        let s = self.read();
        let mut counts = vec![0usize; s.spaces.len()];
        if let Some(seen) = Seen::new(&s, &untagged(view)) {
            for (row, e) in s.rows.iter().enumerate() {
                if e.live() && seen.entry_passes(e) && seen.tags_accept(row as u32) {
                    counts[e.space as usize] += 1;
                }
            }
        }
        let main_shown = view
            .spaces
            .as_ref()
            .is_none_or(|sp| sp.iter().any(|x| x == MAIN_SPACE));
        let mut v: Vec<(String, usize)> = counts
            .into_iter()
            .enumerate()
            .filter(|&(i, n)| n > 0 || (i == 0 && main_shown))
            .map(|(i, n)| (s.space_name(i as u16).to_string(), n))
            .collect();
        v.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        v
    }

    /// Every live note with its history, in the order they entered the brain, one JSON object
    /// per line (see [`NoteRecord`]): a consistent snapshot, taken under the read lock.
    pub fn export(&self) -> Vec<u8> {
        self.export_in(&Filter::default())
    }

    /// [`Brain::export`] of the notes `view` lets through.
    pub fn export_in(&self, view: &Filter) -> Vec<u8> {
        let s = self.read();
        let Some(seen) = Seen::new(&s, view) else {
            return Vec::new();
        };
        let mut out = Vec::with_capacity(s.live * 256);
        for row in 0..s.rows.len() as u32 {
            if !seen.accepts(&s, row) {
                continue;
            }
            let Some((n, history)) = s.note_with_history(row) else {
                continue;
            };
            let rec = NoteRecord {
                id: n.id,
                text: n.text,
                tags: n.tags,
                created_at: n.created_at,
                updated_at: n.updated_at,
                space: n.space,
                by: n.by,
                pending: n.pending,
                history,
            };
            // Strings, booleans and arrays of strings always serialize.
            if serde_json::to_writer(&mut out, &rec).is_ok() {
                out.push(b'\n');
            }
        }
        out
    }
    /// Adds `notes` in one append and one fsync, in order, skipping each whose current version
    /// duplicates a live note or an earlier one of the batch (the rule of
    /// [`Brain::remember_by`]: same space, text and tags) or whose id is already live. Ids,
    /// texts, tags, spaces, writers and times are validated first, by the rules of new input;
    /// on any error nothing is written. A version that names no writer is recorded as written
    /// by `import`; one that does keeps it. Returns (added, skipped).
    pub fn import(&self, notes: &[ImportNote]) -> Result<(usize, usize), BrainError> {
        for (i, n) in notes.iter().enumerate() {
            let at = |e: BrainError| BrainError::Invalid(format!("note {}: {e}", i + 1));
            if n.versions.is_empty() {
                return Err(at(BrainError::Invalid("it has no versions".into())));
            }
            if let Some(id) = &n.id {
                validate_id(id).map_err(at)?;
            }
            text::validate_time(&n.created_at, "created_at").map_err(at)?;
            for v in &n.versions {
                validate_text(&v.text).map_err(at)?;
                check_tags(&v.tags).map_err(at)?;
                text::validate_time(&v.updated_at, "updated_at").map_err(at)?;
                text::check_stored_space(&v.space).map_err(at)?;
                if let Some(by) = &v.by {
                    by.check().map_err(at)?;
                }
            }
        }
        let import = Writer::of_kind("import");
        let mut w = self.lock_writer();
        let mut bytes = Vec::new();
        let mut puts: Vec<(u64, usize, usize, Note)> = Vec::new();
        let mut batch_ids: std::collections::BTreeSet<String> = Default::default();
        let mut batch_keys: FxHashMap<u64, Vec<usize>> = FxHashMap::default();
        let (mut added, mut skipped) = (0, 0);
        let mut seq = w.next_seq;
        {
            let s = self.read();
            let all = Seen::new(&s, &Filter::default());
            let mut new_spaces: std::collections::BTreeSet<&str> = Default::default();
            for (i, n) in notes.iter().enumerate() {
                let Some(cur) = n.versions.last() else {
                    continue;
                };
                let key = dedup_key(&cur.text, &cur.tags, &cur.space);
                let folded = fold_whitespace(&cur.text);
                let dup_in_batch = batch_keys.get(&key).is_some_and(|js| {
                    js.iter().any(|&j| {
                        notes[j].versions.last().is_some_and(|v| {
                            v.space == cur.space
                                && fold_whitespace(&v.text) == folded
                                && sorted(&v.tags) == sorted(&cur.tags)
                        })
                    })
                });
                let id_taken =
                    n.id.as_ref()
                        .is_some_and(|id| s.row_of(id).is_some() || batch_ids.contains(id));
                let dup_live = all.as_ref().is_some_and(|seen| {
                    duplicate_of(&s, &cur.text, &cur.tags, &cur.space, seen).is_some()
                });
                if dup_in_batch || id_taken || dup_live {
                    skipped += 1;
                    continue;
                }
                for v in &n.versions {
                    if s.space_id(&v.space).is_none() {
                        new_spaces.insert(&v.space);
                    }
                }
                if s.spaces.len() + new_spaces.len() > state::MAX_SPACES {
                    return Err(too_many_spaces());
                }
                let id = match &n.id {
                    Some(id) => id.clone(),
                    None => loop {
                        let id = new_id()?;
                        if s.row_of(&id).is_none() && !batch_ids.contains(&id) {
                            break id;
                        }
                    },
                };
                batch_ids.insert(id.clone());
                batch_keys.entry(key).or_default().push(i);
                let last = n.versions.len() - 1;
                for (k, v) in n.versions.iter().enumerate() {
                    let note = Note {
                        id: id.clone(),
                        text: v.text.clone(),
                        tags: v.tags.clone(),
                        created_at: n.created_at.clone(),
                        updated_at: v.updated_at.clone(),
                        space: v.space.clone(),
                        by: Some(v.by.clone().unwrap_or_else(|| import.clone())),
                        pending: k == last && n.pending,
                    };
                    let line = log::put_line(seq, &note);
                    puts.push((seq, bytes.len(), line.len(), note));
                    bytes.extend(line);
                    seq += 1;
                }
                added += 1;
            }
        }
        if puts.is_empty() {
            return Ok((added, skipped));
        }
        let base = w.len;
        w.append_records(&bytes, puts.len() as u64)?;
        {
            let mut s = self.write();
            for (seq, offset, len, note) in &puts {
                apply_note(&mut s, *seq, base + *offset as u64, *len, note);
            }
            s.appended(&bytes);
            s.compact_memory(w.memory_min_garbage);
        }
        for (_, _, _, note) in &puts {
            self.meaning_written(note);
        }
        drop(w);
        self.maybe_snapshot();
        Ok((added, skipped))
    }

    pub fn recall(&self, id: &str) -> Option<Note> {
        self.recall_in(id, &Filter::default())
    }

    /// The note with this id if `view` lets it through: a note in a space the caller may not
    /// see, or another writer's pending note, is not found, exactly as a note that never was.
    pub fn recall_in(&self, id: &str, view: &Filter) -> Option<Note> {
        let s = self.read();
        let row = s.row_of(id)?;
        Seen::new(&s, view)?.accepts(&s, row).then_some(())?;
        s.note(row)
    }

    /// Turns on search by meaning: `m` indexes the notes missing a vector (or holding one of
    /// an older text) in the background from now on. Returns how many it queued.
    pub fn attach_meaning(&self, m: meaning::Meaning) -> usize {
        if self.meaning.set(m).is_err() {
            return 0;
        }
        self.sync_meaning(false)
    }

    /// The meaning part, when configured.
    pub fn meaning(&self) -> Option<&meaning::Meaning> {
        self.meaning.get()
    }

    /// `brain-mcp reindex`: every note embedded again into a fresh store (another model's
    /// vectors are dropped). `None` when no embeddings endpoint is configured.
    pub fn reindex(&self) -> Option<usize> {
        self.meaning.get()?;
        Some(self.sync_meaning(true))
    }

    fn sync_meaning(&self, fresh: bool) -> usize {
        let Some(m) = self.meaning.get() else {
            return 0;
        };
        // Under the writer lock, so no write slips between the listing and the queueing.
        let w = self.lock_writer();
        let notes: Vec<(String, String, Vec<String>)> = {
            let s = self.read();
            s.rows_by_write()
                .into_iter()
                .filter_map(|row| s.note(row))
                .map(|n| (n.id, n.text, n.tags))
                .collect()
        };
        let queued = m.sync(notes, fresh);
        drop(w);
        queued
    }

    fn meaning_written(&self, note: &Note) {
        if let Some(m) = self.meaning.get() {
            m.written(&note.id, &note.text, &note.tags);
        }
    }

    /// [`Brain::forget_by`] by someone who sees everything.
    pub fn forget(&self, id: &str) -> Result<bool, BrainError> {
        self.forget_by(id, &Author::default())
    }

    /// `Ok(false)` when no note the author can see has this id; an author under review may
    /// forget only its own pending notes. Fsynced before returning `Ok(true)`.
    pub fn forget_by(&self, id: &str, author: &Author) -> Result<bool, BrainError> {
        let mut w = self.lock_writer();
        let Some(current) = self.recall_in(id, &author.view) else {
            return Ok(false);
        };
        author.may_change(&current)?;
        let Some(packed) = text::pack_id(id) else {
            return Ok(false);
        };
        let seq = w.next_seq;
        let at = time::format_rfc3339(time::unix_now());
        let line = log::del_line(seq, id, &at);
        w.append(&line)?;
        let compact = {
            let mut s = self.write();
            s.del(seq, packed);
            s.appended(&line);
            s.compact_memory(w.memory_min_garbage);
            s.should_compact(w.compact_min_dead) && s.dead_records > w.compact_retry_at
        };
        if let Some(m) = self.meaning.get() {
            m.forgotten(id);
        }
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
        drop(w);
        self.maybe_snapshot();
        Ok(true)
    }

    /// Rewrites the log without the records of forgotten notes, copying the lines of the live
    /// notes' versions (which the state knows) byte for byte. Writers are blocked (we hold
    /// `writer`); readers are not, but for the moment the state switches to the new file.
    fn compact_locked(&self, w: &mut LogWriter) -> io::Result<()> {
        #[cfg(test)]
        let fault = std::mem::take(&mut w.fail_next_compaction);
        #[cfg(not(test))]
        let fault = false;
        let (keep, c) = {
            let s = self.read();
            let on_disk = s.file.metadata()?.len();
            if s.log_len != w.len || on_disk != w.len {
                return Err(io::Error::other("the log changed under us; not compacting"));
            }
            let keep = s.kept_lines();
            let c = log::compact(&self.dir, &self.log_path, &s.file, &keep, fault)?;
            (keep, c)
        };
        w.file = c.append;
        w.len = c.len;
        w.dirty = false;
        w.compact_retry_at = 0;
        self.write().moved(&keep, c.read, c.len, c.hash);
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
        let (hits, more, _) = self.search_page_meaning(query, filter, offset, limit);
        (hits, more)
    }

    /// [`Brain::search_page`], fused with search by meaning when it is configured and
    /// working (`vectors::fuse`'s rule), and saying whether it took part.
    pub fn search_page_meaning(
        &self,
        query: &str,
        filter: &Filter,
        offset: usize,
        limit: usize,
    ) -> (Vec<SearchHit>, bool, meaning::Used) {
        let none = |m: Option<&meaning::Meaning>| match m {
            Some(_) => meaning::Used::Off("nothing to search".into()),
            None => meaning::Used::NotConfigured,
        };
        if limit == 0 {
            return (Vec::new(), false, none(self.meaning.get()));
        }
        // Before the state's read lock: waiting for the endpoint must not hold up writers.
        let qv = match self.meaning.get() {
            Some(m) if !query.trim().is_empty() => m.query_vector(query),
            _ => Err(String::new()),
        };
        let s = self.read();
        let Some(seen) = Seen::new(&s, filter) else {
            return (Vec::new(), false, none(self.meaning.get()));
        };
        // Tags are checked in the tags' own row lists (small, dense), and a note's row only
        // when a time window, space, writer or pending note could exclude it: a broad query
        // has thousands of candidates (the index yields live notes only).
        let rows = seen.needs_row();
        let space_only = seen.space_only();
        let accept = |row: u32| {
            seen.tags_accept(row)
                && (!rows
                    || if space_only {
                        seen.space_passes(&s, row)
                    } else {
                        s.rows
                            .get(row as usize)
                            .is_some_and(|e| seen.entry_passes(e))
                    })
        };
        let want = offset.saturating_add(limit).saturating_add(1);
        let (ranked, used) = match (self.meaning.get(), qv) {
            (Some(m), Ok(qv)) => match m.rank(&s, query, &qv, &accept, want) {
                Some(r) => (r, meaning::Used::Used),
                None => (
                    words_found(rank(&s, query, accept, want)),
                    meaning::Used::Off("the vectors are being rebuilt".into()),
                ),
            },
            (Some(_), Err(why)) => (
                words_found(rank(&s, query, accept, want)),
                meaning::Used::Off(why),
            ),
            (None, _) => (
                words_found(rank(&s, query, accept, want)),
                meaning::Used::NotConfigured,
            ),
        };
        let more = ranked.len() > offset.saturating_add(limit);
        let hits = ranked
            .into_iter()
            .skip(offset)
            .take(limit)
            .filter_map(|(score, row, found)| {
                Some(SearchHit {
                    note: s.note(row)?,
                    score,
                    found,
                })
            })
            .collect();
        (hits, more, used)
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
        let Some(seen) = Seen::new(&s, filter) else {
            return Ok((Vec::new(), false));
        };
        // Walk the rows of the rarest required tag, or all rows, newest first.
        let end = s.first_row_from(before);
        let rows: Box<dyn Iterator<Item = u32> + '_> = match seen.rarest() {
            None => Box::new((0..end as u32).rev()),
            Some(list) => {
                let n = list.partition_point(|&r| (r as usize) < end);
                Box::new(list[..n].iter().rev().copied())
            }
        };
        let mut page = Vec::new();
        for row in rows {
            let Some(e) = s.entry(row) else {
                continue;
            };
            if !seen.tags_accept(row) || !seen.entry_passes(e) {
                continue;
            }
            let Some(note) = s.note(row) else {
                continue;
            };
            if page.len() >= limit || !fits(&note) {
                return Ok((page, true));
            }
            page.push((encode_cursor(e.order), note));
        }
        Ok((page, false))
    }

    /// Number of live notes.
    pub fn len(&self) -> usize {
        self.read().live
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
        // (seq of the current version, row): the log sequence orders writes exactly.
        let mut heap: BinaryHeap<Reverse<(u64, u32)>> = BinaryHeap::with_capacity(limit + 1);
        for (row, e) in s.rows.iter().enumerate() {
            if !e.live() {
                continue;
            }
            heap.push(Reverse((e.current.seq, row as u32)));
            if heap.len() > limit {
                heap.pop();
            }
        }
        let mut newest: Vec<(u64, u32)> = heap.into_iter().map(|Reverse(w)| w).collect();
        newest.sort_unstable_by(|a, b| b.cmp(a));
        newest
            .into_iter()
            .filter_map(|(_, row)| {
                let versions = s.history.get(&row).map_or(0, Vec::len) + 1;
                s.note(row).map(|n| (n, versions))
            })
            .collect()
    }

    /// Per grant ID, the note whose current version it wrote last, and when: the owner's
    /// `grants` table. One pass over the rows.
    pub fn last_written_by_grants(&self) -> std::collections::HashMap<String, (String, String)> {
        let s = self.read();
        let mut best: FxHashMap<u32, (u64, u32)> = FxHashMap::default();
        for (row, e) in s.rows.iter().enumerate() {
            if !e.live() || s.writer(e.current.writer).is_none_or(|w| w.kind != "grant") {
                continue;
            }
            let b = best.entry(e.current.writer).or_insert((0, row as u32));
            if e.current.seq >= b.0 {
                *b = (e.current.seq, row as u32);
            }
        }
        best.into_iter()
            .filter_map(|(w, (_, row))| {
                let n = s.note(row)?;
                Some((s.writer(w)?.id.clone(), (n.id, n.updated_at)))
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

    fn lock_writer(&self) -> MutexGuard<'_, LogWriter> {
        self.writer.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Drop for Brain {
    /// A snapshot being written is finished (it is the next start's head start).
    fn drop(&mut self) {
        self.wait_for_snapshot();
    }
}

/// A [`Filter`] resolved against the state: tags as the row lists they name, spaces and
/// writers as their numbers. Parts that cannot exclude anything are left out, so a search
/// with no space, writer or time filter and no pending notes never reads a candidate's row.
struct Seen<'a> {
    all: Vec<&'a [u32]>,
    /// `None`: no `tags_any` given (everything passes that part).
    any: Option<Vec<&'a [u32]>>,
    window: Option<(u64, u64)>,
    /// Per space number, whether it is let through; `None`: every space.
    spaces: Option<Vec<bool>>,
    /// The writers `by` names; `None`: any.
    writers: Option<Vec<u32>>,
    /// The writer who may see its own pending notes; `Some(None)`: nobody's pending notes
    /// show; `None`: every pending note shows (the owner) or none exist.
    viewer: Option<Option<u32>>,
    pending_only: bool,
}

impl<'a> Seen<'a> {
    /// `None` when nothing can match (a required tag on no note, no space or writer named
    /// that exists).
    fn new(s: &'a State, f: &Filter) -> Option<Seen<'a>> {
        let mut all = Vec::with_capacity(f.tags_all.len());
        for t in &f.tags_all {
            all.push(s.tags.rows(s.tags.id(t)?));
        }
        let any = (!f.tags_any.is_empty()).then(|| {
            f.tags_any
                .iter()
                .filter_map(|t| s.tags.id(t))
                .map(|t| s.tags.rows(t))
                .collect()
        });
        let window = (f.since.is_some() || f.until.is_some())
            .then(|| (f.since.unwrap_or(0), f.until.unwrap_or(u64::MAX)));
        let spaces = match &f.spaces {
            None => None,
            Some(names) => {
                let mut mask = vec![false; s.spaces.len()];
                for n in names {
                    if let Some(i) = s.space_id(n) {
                        mask[i as usize] = true;
                    }
                }
                if !mask.contains(&true) {
                    return None;
                }
                (!mask.iter().all(|&b| b)).then_some(mask)
            }
        };
        let writers = if f.by.is_empty() {
            None
        } else {
            let ids: Vec<u32> = (0..s.writers.len() as u32)
                .filter(|&i| match s.writer(i) {
                    None => f.by.iter().any(|b| b == "unknown"),
                    Some(w) => f.by.iter().any(|b| w.matches(b)),
                })
                .collect();
            if ids.is_empty() {
                return None;
            }
            Some(ids)
        };
        let viewer = match &f.viewer {
            _ if s.pending == 0 => None,
            None => None,
            Some(w) => Some(s.writer_id(w)),
        };
        if f.pending_only && s.pending == 0 {
            return None;
        }
        Some(Seen {
            all,
            any,
            window,
            spaces,
            writers,
            viewer,
            pending_only: f.pending_only,
        })
    }

    /// Whether it reads rows at all (a search over thousands of candidates asks).
    fn needs_row(&self) -> bool {
        self.window.is_some()
            || self.spaces.is_some()
            || self.writers.is_some()
            || self.viewer.is_some()
            || self.pending_only
    }

    /// Whether the space is all it checks beyond tags: then [`State::row_space`] answers
    /// without reading the row.
    fn space_only(&self) -> bool {
        self.spaces.is_some()
            && self.window.is_none()
            && self.writers.is_none()
            && self.viewer.is_none()
            && !self.pending_only
    }

    fn space_passes(&self, s: &State, row: u32) -> bool {
        let sp = s.row_space.get(row as usize).copied().unwrap_or(0);
        self.spaces
            .as_ref()
            .is_none_or(|m| m.get(sp as usize).copied().unwrap_or(false))
    }

    fn tags_accept(&self, row: u32) -> bool {
        let has = |rows: &&[u32]| rows.binary_search(&row).is_ok();
        self.all.iter().all(has) && self.any.as_ref().is_none_or(|any| any.iter().any(has))
    }

    /// Whether the live note in `row` passes (false for a dead row).
    fn accepts(&self, s: &State, row: u32) -> bool {
        if !self.tags_accept(row) {
            return false;
        }
        if !self.needs_row() {
            return s.entry(row).is_some();
        }
        s.entry(row).is_some_and(|e| self.entry_passes(e))
    }

    fn entry_passes(&self, e: &Entry) -> bool {
        let pending = e.flags & state::PENDING != 0;
        self.window
            .is_none_or(|(a, b)| e.created >= a && e.created <= b)
            && self
                .spaces
                .as_ref()
                .is_none_or(|m| m.get(e.space as usize).copied().unwrap_or(false))
            && self
                .writers
                .as_ref()
                .is_none_or(|w| w.contains(&e.current.writer))
            && (!pending || self.viewer.is_none_or(|v| v == Some(e.current.writer)))
            && (!self.pending_only || pending)
    }

    /// The shortest list of a required tag.
    fn rarest(&self) -> Option<&'a [u32]> {
        self.all.iter().min_by_key(|r| r.len()).copied()
    }
}

// ---- ranking: the query string → ranked (score, row) results (owned by the search work) ----
/// The `limit` best notes for `query` among those `accept` lets through, best first.
fn rank(s: &State, query: &str, accept: impl Fn(u32) -> bool, limit: usize) -> Vec<(f64, u32)> {
    let query = query::Query::parse(query);
    if query.is_empty() {
        return Vec::new();
    }
    s.index.search(
        &query,
        accept,
        |row| query::phrases_in_note(s, &query, row),
        limit,
    )
}
// ---- end of ranking ----

/// A word ranking as found by words.
fn words_found(r: Vec<(f64, u32)>) -> Vec<(f64, u32, meaning::Found)> {
    r.into_iter()
        .map(|(score, row)| (score, row, meaning::Found::Words))
        .collect()
}

/// Gives the memory `open` and a snapshot write used for a while (chunk buffers, parsed lines,
/// the parser threads' heaps) back to the OS now. The static build's allocator, mimalloc,
/// would otherwise return it only as later allocations come, and an idle server makes none:
/// 14.5 MB idle with 10,000 notes instead of 6. glibc's keeps it in per-thread arenas.
pub(crate) fn release_freed_memory() {
    #[cfg(target_env = "musl")]
    {
        extern "C" {
            // mimalloc's (linked into the static build, see Cargo.toml).
            fn mi_collect(force: bool);
        }
        // SAFETY: mi_collect only walks the allocator's own free memory; any thread may
        // call it at any time.
        unsafe { mi_collect(true) }
    }
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free memory of glibc's arenas to the OS.
        unsafe { libc::malloc_trim(0) };
    }
}

/// `n_` and 12 characters of Crockford's base32 (lower case, no i/l/o/u): 60 random bits, so
/// two notes of one brain sharing an id is never going to happen, and an id says nothing
/// about when it was made or how many notes exist. Live ids are also checked for a clash.
fn new_id() -> Result<String, BrainError> {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b)
        .map_err(|e| BrainError::Io(io::Error::other(format!("no randomness for an id: {e}"))))?;
    Ok(text::unpack_id(u64::from_le_bytes(b)))
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
            ..Default::default()
        };
        let mut bytes = log::put_line(5, &note("n_a00000000000"));
        bytes.extend_from_slice(&log::put_line(5, &note("n_b00000000000")));
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
            id: "n_keep00000000".into(),
            text: "first version".into(),
            tags: vec!["keep".into()],
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
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
                ..Default::default()
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
            ..Default::default()
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
        let author = |kind: &str| Author {
            by: Some(Writer::of_kind(kind)),
            ..Author::default()
        };
        let (n, _) = b
            .remember_by("one", &tags(&["t"]), Some("work"), &author("static"))
            .unwrap();
        b.remember_by("two \"quoted\"\nlines", &[], None, &author("owner"))
            .unwrap();
        b.update_by(&n.id, Some("one, edited"), None, None, &author("owner"))
            .unwrap();
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
                    space: r.space.clone(),
                    by: r.by.clone(),
                });
                ImportNote {
                    id: Some(r.id.clone()),
                    created_at: r.created_at.clone(),
                    versions,
                    pending: false,
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
                ..Default::default()
            }],
            pending: false,
        };
        let before = fs::read(d.log()).unwrap();
        assert!(invalid(b.import(&[to_import[0].clone(), bad])).starts_with("note 2: "));
        assert_eq!(fs::read(d.log()).unwrap(), before);
    }

    /// Everything a brain shows (see [`view`]).
    type View = (
        String,
        Vec<(String, usize)>,
        Vec<String>,
        Vec<Vec<(String, f64)>>,
    );

    /// Everything a brain shows: every note with every version (export), the tag counts,
    /// the list order, and the results and scores of searches of every kind.
    fn view(b: &Brain) -> View {
        let export = String::from_utf8(b.export()).unwrap();
        let list = ids(&b.list(None, 100_000, None).unwrap().0);
        let queries = [
            "apple",
            "pear note",
            "\"apple pear\"",
            "app",
            "-apple note",
            "aplpe",
            "edited",
            "x9",
        ];
        let searches = queries
            .iter()
            .map(|q| {
                let mut hits: Vec<(String, f64)> = b
                    .search(q, None, 50)
                    .into_iter()
                    .map(|h| (h.note.id, h.score))
                    .collect();
                let tagged = b.search_page(q, &Filter::tag(Some("t3")), 0, 20).0;
                hits.extend(tagged.into_iter().map(|h| (h.note.id, -h.score)));
                hits
            })
            .collect();
        let mut counts = b.tag_counts();
        counts.extend(b.space_counts(&Filter::default()));
        (export, counts, list, searches)
    }

    /// Notes with tags, updates and forgets, written through `b`.
    fn busy(b: &Brain, n: usize, salt: &str) {
        let mut made = Vec::new();
        for i in 0..n {
            let t = tags(&[&format!("t{}", i % 7), if i % 3 == 0 { "x" } else { "y" }]);
            let text = format!("{salt} note {i} apple pear w{} x{}", i % 13, i % 10);
            // Spaces, writers and pending marks all go through the snapshot too.
            let space = ["main", "work", "home"][i % 3];
            let author = Author {
                by: (i % 4 != 0).then(|| Writer {
                    kind: "grant".into(),
                    id: format!("g_{}", i % 4),
                    client: "c".into(),
                    name: format!("client {}", i % 4),
                }),
                review: i % 8 == 3,
                view: Filter::default(),
            };
            made.push(b.remember_by(&text, &t, Some(space), &author).unwrap().0);
        }
        for (i, note) in made.iter().enumerate() {
            if i % 5 == 1 {
                b.update(&note.id, Some(&format!("{} edited", note.text)), None)
                    .unwrap();
            }
            if i % 9 == 2 {
                b.update(&note.id, None, Some(&tags(&["t3", "z"]))).unwrap();
            }
            if i % 11 == 4 {
                b.forget(&note.id).unwrap();
            }
        }
    }

    fn snapshot_file(d: &TempDir) -> PathBuf {
        d.0.join(snapshot::SNAPSHOT_NAME)
    }

    /// The brain as the log alone says it (the snapshot moved away and back).
    fn view_from_log(d: &TempDir) -> View {
        let snap = snapshot_file(d);
        let kept = fs::read(&snap).ok();
        let _ = fs::remove_file(&snap);
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        assert_eq!(b.read().snapshot_len, 0);
        let v = view(&b);
        drop(b);
        if let Some(k) = kept {
            fs::write(&snap, k).unwrap();
        }
        v
    }

    #[test]
    fn spaces_writers_and_pending_notes_are_seen_only_by_who_may() {
        let d = TempDir::new("spaces");
        let b = Brain::open(&d.0).unwrap();
        let grant = |id: &str| Writer {
            kind: "grant".into(),
            id: id.into(),
            client: "https://example.com/client.json".into(),
            name: format!("Client {id}"),
        };
        let work_only = Filter {
            spaces: Some(vec!["work".into()]),
            viewer: Some(grant("g_w")),
            ..Filter::default()
        };
        let worker = Author {
            by: Some(grant("g_w")),
            review: false,
            view: work_only.clone(),
        };
        let reviewed = Author {
            by: Some(grant("g_r")),
            review: true,
            view: Filter {
                viewer: Some(grant("g_r")),
                ..Filter::default()
            },
        };
        let everyone = Author {
            by: Some(Writer::of_kind("static")),
            ..Author::default()
        };
        let private = b
            .remember_by("apple private", &[], None, &everyone)
            .unwrap()
            .0;
        let (work, dup) = b
            .remember_by("apple work", &tags(&["q"]), Some("Work"), &worker)
            .unwrap();
        assert!(!dup);
        assert_eq!(
            (work.space.as_str(), work.by.clone()),
            ("work", Some(grant("g_w")))
        );
        // The same text in another space is not a duplicate; in the same one it is.
        assert!(
            !b.remember_by("apple work", &tags(&["q"]), None, &everyone)
                .unwrap()
                .1
        );
        assert!(
            b.remember_by("apple work", &tags(&["q"]), Some("work"), &worker)
                .unwrap()
                .1
        );
        // The worker cannot write elsewhere, see, recall, change or forget the private note.
        let e = invalid(b.remember_by("x", &[], Some("main"), &worker));
        assert_eq!(
            e,
            "this client may write only to the space work; \"main\" is not one of them"
        );
        assert_eq!(b.search_page("apple", &work_only, 0, 10).0.len(), 1);
        assert!(b.recall_in(&private.id, &work_only).is_none());
        assert!(b.recall_with_history_in(&private.id, &work_only).is_none());
        assert_eq!(
            b.update_by(&private.id, Some("mine"), None, None, &worker)
                .unwrap(),
            Updated::NotFound
        );
        assert!(!b.forget_by(&private.id, &worker).unwrap());
        assert_eq!(b.tag_counts_in(&work_only), vec![("q".to_string(), 1)]);
        assert_eq!(b.space_counts(&work_only), vec![("work".to_string(), 1)]);
        assert_eq!(b.export_in(&work_only).split(|&c| c == b'\n').count(), 2);
        // A writer under review: pending, seen by itself and the owner only.
        let (p, _) = b
            .remember_by("apple pending", &[], None, &reviewed)
            .unwrap();
        assert!(p.pending);
        let others = Filter {
            viewer: Some(Writer::of_kind("static")),
            ..Filter::default()
        };
        assert!(b.recall_in(&p.id, &others).is_none());
        assert!(b.recall_in(&p.id, &reviewed.view).is_some());
        assert!(b.recall(&p.id).is_some(), "the owner sees it");
        assert_eq!(b.search_page("apple", &others, 0, 10).0.len(), 3);
        assert_eq!(b.search_page("apple", &reviewed.view, 0, 10).0.len(), 4);
        let pending = Filter {
            pending_only: true,
            ..Filter::default()
        };
        assert_eq!(
            ids(&b
                .list_filtered(&pending, None, |_| true, 10)
                .unwrap()
                .0
                .into_iter()
                .map(|(_, n)| n)
                .collect::<Vec<_>>()),
            vec![p.id.clone()]
        );
        // It may not change what the owner accepted, only its own pending note.
        let e = invalid(b.update_by(&private.id, Some("x"), None, None, &reviewed));
        assert!(
            e.starts_with("this client's writes wait for the owner's review"),
            "{e}"
        );
        assert!(matches!(
            b.update_by(&p.id, Some("apple pending, fixed"), None, None, &reviewed).unwrap(),
            Updated::Changed(n) if n.pending
        ));
        let accepted = b.accept(&p.id).unwrap().unwrap();
        assert!(!accepted.pending);
        assert_eq!(accepted.by, Some(grant("g_r")));
        assert!(b.recall_in(&p.id, &others).is_some());
        assert!(
            b.accept(&p.id).unwrap().is_none(),
            "only a pending note is accepted"
        );
        // By writer, and "unknown" for versions from before provenance.
        b.remember("apple old", &[]).unwrap();
        let by = |w: &str| Filter {
            by: vec![w.into()],
            ..Filter::default()
        };
        assert_eq!(b.search_page("apple", &by("g_w"), 0, 10).0.len(), 1);
        assert_eq!(b.search_page("apple", &by("Client g_r"), 0, 10).0.len(), 1);
        assert_eq!(b.search_page("apple", &by("static"), 0, 10).0.len(), 2);
        assert_eq!(b.search_page("apple", &by("unknown"), 0, 10).0.len(), 1);
        assert!(b.search_page("apple", &by("nobody"), 0, 10).0.is_empty());
        // A moved note keeps its history, and everything reads back after a restart.
        let Updated::Changed(moved) = b
            .update_by(&work.id, None, None, Some("main"), &everyone)
            .unwrap()
        else {
            panic!("moved")
        };
        assert_eq!(moved.space, "main");
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        let (n, history) = b.recall_with_history(&work.id).unwrap();
        assert_eq!(
            (n.space.as_str(), n.by),
            ("main", Some(Writer::of_kind("static")))
        );
        assert_eq!(
            (history[0].space.as_str(), history[0].by.clone()),
            ("work", Some(grant("g_w")))
        );
        assert!(
            b.recall_in(&work.id, &work_only).is_none(),
            "moved out of its sight"
        );
    }

    #[test]
    fn a_snapshot_and_its_tail_give_the_brain_the_log_gives() {
        let d = TempDir::new("snapshot");
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, 1).unwrap();
        busy(&b, 300, "first");
        b.wait_for_snapshot();
        drop(b);
        assert!(snapshot_file(&d).exists());
        let want = view_from_log(&d);
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        let covered = b.read().snapshot_len;
        assert!(covered > 0, "the snapshot was used");
        assert_eq!(view(&b), want);
        // Records after the snapshot are replayed on top of it.
        busy(&b, 120, "second");
        let want = view(&b);
        drop(b);
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        assert_eq!(b.read().snapshot_len, covered, "the same, older snapshot");
        assert!(b.read().log_len > covered);
        assert_eq!(view(&b), want);
        drop(b);
        assert_eq!(view_from_log(&d), want);
        // A torn line after the snapshot is set aside as always.
        let mut f = fs::OpenOptions::new().append(true).open(d.log()).unwrap();
        std::io::Write::write_all(&mut f, b"{\"op\":\"put\",\"seq\":99999,\"id\"").unwrap();
        drop(f);
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        assert_eq!(b.read().snapshot_len, covered);
        assert_eq!(view(&b), want);
        assert_eq!(d.files().len(), 3, "{:?}", d.files());
    }

    #[test]
    fn a_damaged_or_stale_snapshot_only_slows_the_start() {
        let d = TempDir::new("snapshot-damage");
        {
            let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, 1).unwrap();
            busy(&b, 60, "damage");
        }
        let want = view_from_log(&d);
        let good = fs::read(snapshot_file(&d)).unwrap();
        let check = |snap: &[u8], what: &str| {
            fs::write(snapshot_file(&d), snap).unwrap();
            let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
            assert_eq!(b.read().snapshot_len, 0, "{what}: not used");
            assert_eq!(view(&b), want, "{what}");
        };
        // A sample of bytes (each check opens a brain and looks at everything in it).
        let step = (good.len() / 60).max(1);
        for i in (0..good.len())
            .step_by(step)
            .chain((good.len() - 40..good.len()).step_by(4))
        {
            let mut b = good.clone();
            b[i] ^= 0x10;
            check(&b, &format!("byte {i} changed"));
        }
        for cut in [
            0,
            10,
            27,
            100,
            good.len() / 2,
            good.len() - 33,
            good.len() - 1,
        ] {
            check(&good[..cut], &format!("cut at {cut}"));
        }
        let mut longer = good.clone();
        longer.extend_from_slice(b"more");
        check(&longer, "bytes added");
        // The snapshot itself is fine, but the log it was made from changed: a note's text
        // edited in place, same length.
        fs::write(snapshot_file(&d), &good).unwrap();
        let log = fs::read_to_string(d.log()).unwrap();
        let edited = log.replacen("damage note 0 apple", "damage note 0 melon", 1);
        assert_ne!(edited, log);
        fs::write(d.log(), &edited).unwrap();
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        assert_eq!(b.read().snapshot_len, 0, "an edited log is read whole");
        assert_eq!(b.search("melon", None, 5).len(), 1);
        drop(b);
        // A log shorter than the snapshot says (truncated to a line boundary by hand).
        let cut = log[..log.len() / 2].rfind('\n').unwrap() + 1;
        fs::write(d.log(), &log[..cut]).unwrap();
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, 1).unwrap();
        assert_eq!(b.read().snapshot_len, 0);
        b.wait_for_snapshot();
        let half = view(&b);
        drop(b);
        // ... and the new snapshot written for it is used next time.
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        assert_eq!(b.read().snapshot_len, cut as u64);
        assert_eq!(view(&b), half);
    }

    /// A snapshot that passes every check but points a note at another note's line (what a
    /// crafted one could do): the note is not shown, and the snapshot is removed.
    #[test]
    fn a_snapshot_never_shows_what_the_log_does_not_say() {
        let d = TempDir::new("snapshot-crafted");
        let (a, c) = {
            let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
            let a = b.remember("alpha apple", &tags(&["t"])).unwrap();
            let c = b.remember("gamma apple", &tags(&["t"])).unwrap();
            {
                let mut s = b.write();
                let (x, y) = (s.rows[0].current, s.rows[1].current);
                s.rows[0].current.at = y.at;
                s.rows[0].current.len = y.len;
                s.rows[1].current.at = x.at;
                s.rows[1].current.len = x.len;
                let tmp = snapshot::write(&s).unwrap();
                snapshot::install(&tmp).unwrap();
            }
            (a, c)
        };
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        assert!(b.read().snapshot_len > 0, "it passed the checks");
        assert_eq!(b.recall(&a.id), None);
        assert!(!snapshot_file(&d).exists(), "and was removed");
        assert!(b.search("apple", None, 10).is_empty());
        drop(b);
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.recall(&a.id), Some(a));
        assert_eq!(b.recall(&c.id), Some(c));
    }

    #[test]
    fn compaction_of_the_log_and_of_memory_keep_everything() {
        let d = TempDir::new("compact-memory");
        let b = Brain::open_with(&d.0, 2, 1).unwrap();
        b.lock_writer().memory_min_garbage = 0;
        busy(&b, 200, "mem");
        // Forget most: the log is compacted (and the snapshot made stale, then rewritten).
        let (page, _) = b.list(None, 1000, None).unwrap();
        for n in page.iter().skip(20) {
            b.forget(&n.id).unwrap();
        }
        {
            let s = b.read();
            // Dead rows and slots were dropped as they came to outnumber the live notes.
            assert!(s.rows.len() < 50, "{} rows", s.rows.len());
            assert!(s.dead_rows + s.index.dead_slots() <= s.live);
            assert!(
                s.dead_records <= s.live_records.max(2),
                "the log was compacted"
            );
            assert_eq!(line_count(&d.log()) as u64, s.live_records + s.dead_records);
        }
        let want = view(&b);
        b.wait_for_snapshot();
        drop(b);
        assert_eq!(view_from_log(&d), want);
        let b = Brain::open_with(&d.0, 2, u64::MAX).unwrap();
        let covered = b.read().snapshot_len;
        assert!(
            covered > b.read().log_len / 2,
            "a snapshot of the compacted log"
        );
        assert_eq!(view(&b), want);
    }

    /// A log edited by hand where a later version has another creation time: the note shows
    /// (and is filtered by) what its current line says, and reads back cleanly.
    #[test]
    fn a_version_with_another_creation_time_reads_back() {
        let d = TempDir::new("created");
        let mut n = Note {
            id: "n_c00000000000".into(),
            text: "first".into(),
            tags: vec![],
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            ..Default::default()
        };
        let mut bytes = log::put_line(1, &n);
        n.text = "second".into();
        n.created_at = "2026-02-01".into();
        bytes.extend(log::put_line(2, &n));
        fs::write(d.log(), &bytes).unwrap();
        for snapshot in [u64::MAX, 1] {
            let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, snapshot).unwrap();
            assert_eq!(b.recall(&n.id), Some(n.clone()));
            let day = time::parse_rfc3339_or_date("2026-02-01").unwrap();
            let f = Filter {
                since: Some(day),
                ..Filter::default()
            };
            assert_eq!(b.list_filtered(&f, None, |_| true, 5).unwrap().0.len(), 1);
        }
        let b = Brain::open_with(&d.0, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        assert!(b.read().snapshot_len > 0);
        assert_eq!(b.recall(&n.id), Some(n));
        assert!(snapshot_file(&d).exists(), "it read back cleanly");
    }

    /// Every file the brain creates is its owner's alone (0600), whatever the umask.
    #[test]
    fn files_are_created_private() {
        use std::os::unix::fs::PermissionsExt;
        let d = TempDir::new("modes");
        let b = Brain::open_with(&d.0, 2, 1).unwrap();
        let keep = b.remember("keep", &[]).unwrap();
        for i in 0..4 {
            let n = b.remember(&format!("drop {i}"), &[]).unwrap();
            b.forget(&n.id).unwrap(); // compacts: the log is a new file
        }
        b.wait_for_snapshot();
        drop(b);
        let mut f = fs::OpenOptions::new().append(true).open(d.log()).unwrap();
        std::io::Write::write_all(&mut f, b"{\"op\"").unwrap();
        drop(f);
        let b = Brain::open(&d.0).unwrap(); // sets the torn line aside
        assert_eq!(b.recall(&keep.id), Some(keep));
        let files = d.files();
        assert_eq!(files.len(), 3, "{files:?}");
        for name in files {
            let mode = fs::metadata(d.0.join(&name)).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }

    #[test]
    fn long_lines_and_chunk_boundaries() {
        let d = TempDir::new("chunks");
        let (big, small) = {
            let b = Brain::open(&d.0).unwrap();
            let big = b.remember(&"ü\"x".repeat(16_000), &tags(&["big"])).unwrap();
            // Many notes in one append (one fsync), then the usual mix.
            let many: Vec<ImportNote> = (0..2000)
                .map(|i| ImportNote {
                    id: None,
                    created_at: "2026-01-01T00:00:00Z".into(),
                    versions: vec![Version {
                        text: format!("imported apple {i} w{}", i % 17),
                        tags: tags(&[&format!("t{}", i % 5)]),
                        updated_at: "2026-01-02T00:00:00Z".into(),
                        ..Default::default()
                    }],
                    pending: false,
                })
                .collect();
            assert_eq!(b.import(&many).unwrap(), (2000, 0));
            busy(&b, 60, "chunk");
            let small = b.remember("the last one", &[]).unwrap();
            (big, small)
        };
        assert!(fs::metadata(d.log()).unwrap().len() > 3 * (64 << 10));
        let b = Brain::open(&d.0).unwrap();
        assert_eq!(b.recall(&big.id), Some(big));
        assert_eq!(b.recall(&small.id), Some(small));
        assert_eq!(view(&b), view_from_log(&d));
    }
}

/// Where a loaded brain's heap goes, structure by structure: glibc's count of bytes in use,
/// before and after dropping each one. Rerun with
/// `PROBE_DIR=<a data dir> cargo test --release --lib where_the_bytes_go -- --ignored --nocapture`
/// (docs/bench.md has the figures).
#[cfg(all(test, target_os = "linux", target_env = "gnu"))]
mod bytes_probe {
    use super::*;

    fn used() -> i64 {
        // SAFETY: mallinfo2 only reads glibc's allocator statistics.
        let m = unsafe { libc::mallinfo2() };
        (m.uordblks + m.hblkhd) as i64
    }

    #[test]
    #[ignore]
    fn where_the_bytes_go() {
        let Some(dir) = std::env::var_os("PROBE_DIR").map(PathBuf::from) else {
            return;
        };
        let before = used();
        let b = Brain::open_with(&dir, COMPACT_MIN_DEAD, u64::MAX).unwrap();
        let _ = b.search("budget meeting", None, 10);
        let live = b.len().max(1) as i64;
        let total = used() - before;
        println!(
            "heap after open and one search: {total} B, {} per note",
            total / live
        );
        let mut s = b.write();
        let mut last = used();
        let mut step = |name: &str, s: &mut State, drop_it: &dyn Fn(&mut State)| {
            drop_it(s);
            let now = used();
            println!(
                "{name:>14}: {:>11} B {:>5} per note",
                last - now,
                (last - now) / live
            );
            last = now;
        };
        step("index", &mut s, &|s| s.index = Default::default());
        step("tags", &mut s, &|s| s.tags = Default::default());
        step("ids", &mut s, &|s| s.ids = Default::default());
        step("history", &mut s, &|s| s.history = Default::default());
        step("rows", &mut s, &|s| s.rows = Default::default());
        step("dedup, rest", &mut s, &|s| {
            *s = State::new(s.file.try_clone().unwrap(), PathBuf::new())
        });
    }
}
