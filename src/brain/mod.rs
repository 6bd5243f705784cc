//! The brain: notes in an append-only JSON-lines log, fsynced before acknowledgement, loaded
//! into memory at start with an index for search.
//!
//! API CONTRACT (other modules are written against exactly this; bodies are filled in by the
//! brain work): `Brain` is `Send + Sync` and is shared as `Arc<Brain>` by all worker threads.
//! The caller (main) holds the data-directory lock; `Brain::open` does not lock.

mod index;
mod log;
mod text;
pub mod time;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use index::Index;
use log::Record;
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
    compact_min_dead: u64,
    #[cfg(test)]
    fail_next_write: bool,
    #[cfg(test)]
    fail_next_compaction: bool,
}

impl Writer {
    fn append(&mut self, line: &[u8]) -> Result<(), BrainError> {
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
                self.next_seq += 1;
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
    /// Sequence number of its latest version: "recency" for search ties.
    last_seq: u64,
    /// How many `put` records the log holds for it (all kept by compaction, as its history).
    versions: u64,
}

/// Everything `open` loads, keyed by each note's creation sequence number (the `seq` of its
/// first `put`), which never changes and never repeats: list order and cursors rest on it.
#[derive(Default)]
struct State {
    notes: BTreeMap<u64, Entry>,
    ids: HashMap<String, u64>,
    tags: HashMap<String, BTreeSet<u64>>,
    index: Index,
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
                    self.index.remove(order, &entry.note.text);
                    self.index.add(order, &note.text);
                    for t in &entry.note.tags {
                        if let Some(set) = self.tags.get_mut(t) {
                            set.remove(&order);
                            if set.is_empty() {
                                self.tags.remove(t);
                            }
                        }
                    }
                    for t in &note.tags {
                        self.tags.entry(t.clone()).or_default().insert(order);
                    }
                    entry.note = note;
                    entry.last_seq = seq;
                    entry.versions += 1;
                    Some(order)
                } else {
                    self.index.add(seq, &note.text);
                    for t in &note.tags {
                        self.tags.entry(t.clone()).or_default().insert(seq);
                    }
                    self.ids.insert(note.id.clone(), seq);
                    self.notes.insert(
                        seq,
                        Entry {
                            note,
                            last_seq: seq,
                            versions: 1,
                        },
                    );
                    Some(seq)
                }
            }
            Record::Del { id, .. } => {
                self.dead_records += 1;
                let order = self.ids.remove(&id)?;
                let entry = self.notes.remove(&order)?;
                self.index.remove(order, &entry.note.text);
                for t in &entry.note.tags {
                    if let Some(set) = self.tags.get_mut(t) {
                        set.remove(&order);
                        if set.is_empty() {
                            self.tags.remove(t);
                        }
                    }
                }
                self.live_records = self.live_records.saturating_sub(entry.versions);
                self.dead_records += entry.versions;
                None
            }
        }
    }

    /// Compaction rewrites the whole log, so it runs only when that buys a lot: when records of
    /// forgotten notes (their versions and their `del`) outnumber the records of live notes, so
    /// the log is more than half garbage and at least halves, and there are over
    /// `min_dead` (1000) of them, so a small store is never rewritten for a few bytes. Versions
    /// of live notes are history and never count as dead.
    fn should_compact(&self, min_dead: u64) -> bool {
        self.dead_records > self.live_records && self.dead_records > min_dead
    }

    /// Whether compaction keeps this record: a version of a note that is live now.
    fn keeps(&self, record: &Record) -> bool {
        match record {
            Record::Put { seq, note } => self.ids.get(&note.id).is_some_and(|&o| *seq >= o),
            Record::Del { .. } => false,
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
                    line.number
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

        Ok(Brain {
            dir: dir.to_path_buf(),
            log_path,
            writer: Mutex::new(Writer {
                file,
                len,
                next_seq: last_seq + 1,
                dirty: false,
                compact_min_dead: COMPACT_MIN_DEAD,
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
        validate_text(text)?;
        let tags = normalize_tags(tags)?;
        let mut w = self.lock_writer();
        let id = loop {
            let id = new_id()?;
            if !self.read().ids.contains_key(&id) {
                break id;
            }
        };
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
        Ok(note)
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
            s.should_compact(w.compact_min_dead)
        };
        if compact {
            // The forget is durable already; a failed compaction only leaves a longer log.
            if let Err(e) = self.compact_locked(&mut w) {
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
        self.write().dead_records = 0;
        Ok(())
    }

    /// Best matches first (BM25-like, case- and accent-insensitive, recency breaks ties).
    /// Terms are OR'ed; only notes scoring above zero are returned; `tag` (ASCII
    /// case-insensitive) keeps notes carrying it. Scores are rounded to 3 decimals, and notes
    /// whose rounded scores are equal come newest (most recently written) first. A query with
    /// no words in it finds nothing.
    pub fn search(&self, query: &str, tag: Option<&str>, limit: usize) -> Vec<SearchHit> {
        let terms = text::terms(query);
        if terms.is_empty() || limit == 0 {
            return Vec::new();
        }
        let s = self.read();
        let tagged = match tag {
            None => None,
            Some(t) => match s.tags.get(&t.to_ascii_lowercase()) {
                Some(set) => Some(set),
                None => return Vec::new(),
            },
        };
        let scores = s
            .index
            .score(&terms, |doc| tagged.is_none_or(|set| set.contains(&doc)));
        let mut hits: Vec<(f64, u64, &Entry)> = scores
            .into_iter()
            .filter_map(|(doc, score)| {
                let score = (score * 1000.0).round() / 1000.0;
                let e = s.notes.get(&doc)?;
                (score > 0.0).then_some((score, e.last_seq, e))
            })
            .collect();
        let best_first = |a: &(f64, u64, &Entry), b: &(f64, u64, &Entry)| {
            b.0.total_cmp(&a.0).then(b.1.cmp(&a.1))
        };
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, best_first);
            hits.truncate(limit);
        }
        hits.sort_unstable_by(best_first);
        hits.into_iter()
            .map(|(score, _, e)| SearchHit {
                note: e.note.clone(),
                score,
            })
            .collect()
    }

    /// Newest first. Returns the page and an opaque cursor for the next page, if any.
    /// A cursor that does not parse is `BrainError::Invalid`.
    ///
    /// Notes are ordered by creation, and the cursor names the last note returned, so paging
    /// stays exact while notes are added (new ones are newer than every page) or forgotten
    /// (the cursor does not need its note to still exist). `tag` is ASCII case-insensitive.
    pub fn list(
        &self,
        tag: Option<&str>,
        limit: usize,
        cursor: Option<&str>,
    ) -> Result<(Vec<Note>, Option<String>), BrainError> {
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
        if limit == 0 {
            return Ok((Vec::new(), None));
        }
        let s = self.read();
        let orders: Box<dyn Iterator<Item = u64> + '_> = match tag {
            None => Box::new(s.notes.range(..before).rev().map(|(&o, _)| o)),
            Some(t) => match s.tags.get(&t.to_ascii_lowercase()) {
                Some(set) => Box::new(set.range(..before).rev().copied()),
                None => return Ok((Vec::new(), None)),
            },
        };
        let mut page: Vec<(u64, Note)> = Vec::with_capacity(limit.min(1024));
        let mut more = false;
        for o in orders {
            if page.len() == limit {
                more = true;
                break;
            }
            if let Some(e) = s.notes.get(&o) {
                page.push((o, e.note.clone()));
            }
        }
        let next = if more {
            page.last().map(|(o, _)| encode_cursor(*o))
        } else {
            None
        };
        Ok((page.into_iter().map(|(_, n)| n).collect(), next))
    }

    /// Number of live notes.
    pub fn len(&self) -> usize {
        self.read().notes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

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
