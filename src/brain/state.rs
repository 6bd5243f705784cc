//! The notes in memory: a compact table of fixed-size rows (no strings), the maps that find
//! them, and the search index. A note's text, and everything else it says, is read back from
//! its line in the log when it is shown (one `pread`): the log stays the only copy of the
//! content, and the memory a note costs does not grow with its text.
//!
//! Rows are numbered in the order notes entered the brain (their creation sequence number, the
//! list order), and stay put while the process runs: a forgotten note's row is marked dead, and
//! [`State::compact_memory`] drops dead rows (and the index's dead slots) once they outnumber
//! the live ones.

use std::fs::File;
use std::path::PathBuf;

use super::hash::Xxh64;

use super::index::{FxHashMap, Index, NO_SLOT};
use super::log::{self, Record};
use super::text::{unpack_id, Writer, MAIN_SPACE};
use super::{Note, Version};

/// `Entry::flags`: the note was forgotten (the row waits for [`State::compact_memory`]).
pub const DEAD: u8 = 1;
/// `Entry::flags`: its current version awaits the owner's review (issue 12).
pub const PENDING: u8 = 2;
/// Spaces a brain may have: a space is a name a client chose, and each costs a little memory
/// in every row's table.
pub const MAX_SPACES: usize = 4096;
// A note's space is `Entry::space` (an index into `State::spaces`, 0 is `main`) and each
// version's writer `Ver::writer` (an index into `State::writers`, 0 is "unknown"). Issue 14's vector
// per note fits beside the rows as an array indexed by row (renumbered where
// `drop_dead_rows` renumbers the rows).

/// Where one version of a note is in the log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ver {
    /// Byte offset of its line, and the line's length with its "\n".
    pub at: u64,
    pub len: u32,
    /// The line's `seq`: what reading it back checks, with the id.
    pub seq: u64,
    /// Who wrote it: an index into [`State::writers`] (0: unknown, a log from before
    /// provenance).
    pub writer: u32,
}

/// One note: 72 bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Creation sequence number (the `seq` of its first `put`): list order and cursors.
    pub order: u64,
    /// The id packed into 60 bits ([`super::text::pack_id`]).
    pub id: u64,
    pub current: Ver,
    /// `created_at` in Unix seconds, for the `since`/`until` filters.
    pub created: u64,
    /// See [`super::dedup_key`].
    pub digest: u64,
    /// The current version's slot in the index ([`NO_SLOT`] while `open` builds it).
    pub slot: u32,
    /// Its tags, as an interned list (see [`Tags`]).
    pub tagset: u32,
    /// Reserved for issue 12's spaces (always 0, `main`, now).
    pub space: u16,
    pub flags: u8,
}

impl Entry {
    pub fn live(&self) -> bool {
        self.flags & DEAD == 0
    }
}

/// Tag names and tag lists, each stored once: a note holds the number of its list.
pub struct Tags {
    names: Vec<String>,
    by_name: FxHashMap<String, u32>,
    /// Lists of tag numbers, in the note's order; list 0 is the empty one.
    sets: Vec<Box<[u32]>>,
    set_ids: FxHashMap<Box<[u32]>, u32>,
    /// Per tag, the rows of the live notes carrying it, in increasing order.
    rows: Vec<Vec<u32>>,
}

impl Default for Tags {
    fn default() -> Tags {
        let mut t = Tags {
            names: Vec::new(),
            by_name: FxHashMap::default(),
            sets: Vec::new(),
            set_ids: FxHashMap::default(),
            rows: Vec::new(),
        };
        t.intern_set(&[]);
        t
    }
}

impl Tags {
    pub fn id(&self, name: &str) -> Option<u32> {
        self.by_name.get(name).copied()
    }

    pub fn name(&self, tag: u32) -> &str {
        self.names.get(tag as usize).map_or("", String::as_str)
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn sets(&self) -> &[Box<[u32]>] {
        &self.sets
    }

    /// The tags of list `set` (empty for a number no list has).
    pub fn set(&self, set: u32) -> &[u32] {
        self.sets.get(set as usize).map_or(&[], |s| s)
    }

    /// The rows of the live notes carrying `tag`, in increasing order.
    pub fn rows(&self, tag: u32) -> &[u32] {
        self.rows.get(tag as usize).map_or(&[], Vec::as_slice)
    }

    pub fn intern_name(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.by_name.get(name) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(name.to_string());
        self.by_name.insert(name.to_string(), id);
        self.rows.push(Vec::new());
        id
    }

    pub fn intern_set(&mut self, tags: &[u32]) -> u32 {
        if let Some(&id) = self.set_ids.get(tags) {
            return id;
        }
        let id = self.sets.len() as u32;
        self.sets.push(tags.into());
        self.set_ids.insert(tags.into(), id);
        id
    }

    /// The number of the list of these tag names (interning them).
    pub fn intern<S: AsRef<str>>(&mut self, names: &[S]) -> u32 {
        let ids: Vec<u32> = names.iter().map(|n| self.intern_name(n.as_ref())).collect();
        self.intern_set(&ids)
    }

    /// Whether list `set` is exactly these names, in this order.
    pub fn set_is<S: AsRef<str>>(&self, set: u32, names: &[S]) -> bool {
        let s = self.set(set);
        s.len() == names.len()
            && s.iter()
                .zip(names)
                .all(|(&t, n)| self.name(t) == n.as_ref())
    }

    fn add_row(&mut self, set: u32, row: u32) {
        for i in 0..self.set(set).len() {
            let tag = self.sets[set as usize][i] as usize;
            let rows = &mut self.rows[tag];
            match rows.last() {
                Some(&last) if last >= row => {
                    if let Err(at) = rows.binary_search(&row) {
                        rows.insert(at, row);
                    }
                }
                _ => rows.push(row),
            }
        }
    }

    fn remove_row(&mut self, set: u32, row: u32) {
        for i in 0..self.set(set).len() {
            let tag = self.sets[set as usize][i] as usize;
            let rows = &mut self.rows[tag];
            if let Ok(at) = rows.binary_search(&row) {
                rows.remove(at);
            }
        }
    }

    /// Rebuilt from what a snapshot holds (the caller has checked every name and list);
    /// `None` if a name or a list appears twice.
    pub fn from_parts(names: Vec<String>, sets: Vec<Box<[u32]>>) -> Option<Tags> {
        let mut t = Tags {
            by_name: names
                .iter()
                .enumerate()
                .map(|(i, n)| (n.clone(), i as u32))
                .collect(),
            rows: vec![Vec::new(); names.len()],
            names,
            set_ids: sets
                .iter()
                .enumerate()
                .map(|(i, s)| (s.clone(), i as u32))
                .collect(),
            sets,
        };
        if t.by_name.len() != t.names.len() || t.set_ids.len() != t.sets.len() {
            return None;
        }
        if t.sets.is_empty() {
            t.intern_set(&[]);
        }
        Some(t)
    }
}

fn dedup_add(
    dedup: &mut FxHashMap<u64, u32>,
    more: &mut FxHashMap<u64, Vec<u32>>,
    digest: u64,
    row: u32,
) {
    match dedup.get(&digest) {
        Some(&first) if first != row => more.entry(digest).or_default().push(row),
        Some(_) => {}
        None => {
            dedup.insert(digest, row);
        }
    }
}

/// Everything `open` loads. See the module's comment.
pub struct State {
    pub rows: Vec<Entry>,
    /// Packed id → row, live notes only.
    pub ids: FxHashMap<u64, u32>,
    /// Earlier versions (oldest first) of the notes that have them, by row.
    pub history: FxHashMap<u32, Vec<Ver>>,
    pub tags: Tags,
    /// Duplicate detection: digest of a live note's current version → its row, and the rare
    /// further rows with the same digest.
    dedup: FxHashMap<u64, u32>,
    dedup_more: FxHashMap<u64, Vec<u32>>,
    pub index: Index,
    /// False while `open` replays the log: the index is built once at the end from the live
    /// notes, rather than updated for every note that was later forgotten.
    pub indexing: bool,
    pub live: usize,
    pub dead_rows: usize,
    /// Records of live notes (every version) and records compaction would drop.
    pub live_records: u64,
    pub dead_records: u64,
    /// The log, opened for reading the notes back (`pread`; its own handle, so appends and
    /// reads do not share a file position).
    pub file: File,
    pub log_path: PathBuf,
    /// Length of the log up to its last applied record, and the hash of those bytes: what a
    /// snapshot of this state says it was made from.
    pub log_len: u64,
    pub log_hash: Xxh64,
    /// Bumped whenever the log is rewritten (compaction): a snapshot started before is stale.
    pub generation: u64,
    /// The log length the snapshot on disk covers (0: none): see [`super::snapshot`].
    pub snapshot_len: u64,
    /// The log length when writing a snapshot last failed (no new try for a while).
    pub snapshot_failed_at: u64,
    /// One more than the highest seq applied.
    pub next_seq: u64,
    /// Space names, each once; 0 is `main`.
    pub spaces: Vec<String>,
    space_ids: FxHashMap<String, u16>,
    /// Writers, each once; 0 is "unknown".
    pub writers: Vec<Option<Writer>>,
    writer_ids: FxHashMap<Writer, u32>,
    /// Live notes awaiting review: while there are none, a search need not look at a
    /// candidate's row for the mark.
    pub pending: usize,
    /// Each row's space, densely (2 bytes a note): a search with a space filter checks
    /// thousands of candidates, and this stays in cache where the 72-byte rows do not.
    pub row_space: Vec<u16>,
}

/// A new version of a note, as the log says it (already checked).
pub struct NewVersion {
    pub id: u64,
    pub ver: Ver,
    pub created: u64,
    pub tagset: u32,
    pub digest: u64,
    pub space: u16,
    pub pending: bool,
}

impl State {
    pub fn new(file: File, log_path: PathBuf) -> State {
        State {
            rows: Vec::new(),
            ids: FxHashMap::default(),
            history: FxHashMap::default(),
            tags: Tags::default(),
            dedup: FxHashMap::default(),
            dedup_more: FxHashMap::default(),
            index: Index::default(),
            indexing: false,
            live: 0,
            dead_rows: 0,
            live_records: 0,
            dead_records: 0,
            file,
            log_path,
            log_len: 0,
            log_hash: Xxh64::new(),
            generation: 0,
            snapshot_len: 0,
            snapshot_failed_at: 0,
            next_seq: 1,
            spaces: vec![MAIN_SPACE.to_string()],
            space_ids: FxHashMap::from_iter([(MAIN_SPACE.to_string(), 0)]),
            writers: vec![None],
            writer_ids: FxHashMap::default(),
            pending: 0,
            row_space: Vec::new(),
        }
    }

    /// The number of space `name` (already checked), made if new; `None` past [`MAX_SPACES`].
    pub fn intern_space(&mut self, name: &str) -> Option<u16> {
        if let Some(&i) = self.space_ids.get(name) {
            return Some(i);
        }
        if self.spaces.len() >= MAX_SPACES {
            return None;
        }
        let i = self.spaces.len() as u16;
        self.spaces.push(name.to_string());
        self.space_ids.insert(name.to_string(), i);
        Some(i)
    }

    pub fn space_id(&self, name: &str) -> Option<u16> {
        self.space_ids.get(name).copied()
    }

    pub fn space_name(&self, i: u16) -> &str {
        self.spaces
            .get(i as usize)
            .map_or(MAIN_SPACE, String::as_str)
    }

    /// The number of writer `w` (already checked), made if new.
    pub fn intern_writer(&mut self, w: Option<&Writer>) -> u32 {
        let Some(w) = w else {
            return 0;
        };
        if let Some(&i) = self.writer_ids.get(w) {
            return i;
        }
        let i = self.writers.len() as u32;
        self.writers.push(Some(w.clone()));
        self.writer_ids.insert(w.clone(), i);
        i
    }

    /// The number of a writer that wrote something here.
    pub fn writer_id(&self, w: &Writer) -> Option<u32> {
        self.writer_ids.get(w).copied()
    }

    pub fn writer(&self, i: u32) -> Option<&Writer> {
        self.writers.get(i as usize).and_then(Option::as_ref)
    }

    /// Sets the space and writer tables (a snapshot's), which must start with `main` and
    /// "unknown"; false when one repeats.
    pub fn set_names(&mut self, spaces: Vec<String>, writers: Vec<Option<Writer>>) -> bool {
        let space_ids: FxHashMap<String, u16> = spaces
            .iter()
            .enumerate()
            .map(|(i, s)| (s.clone(), i as u16))
            .collect();
        let writer_ids: FxHashMap<Writer, u32> = writers
            .iter()
            .enumerate()
            .filter_map(|(i, w)| Some((w.clone()?, i as u32)))
            .collect();
        let ok = space_ids.len() == spaces.len()
            && spaces.first().map(String::as_str) == Some(MAIN_SPACE)
            && spaces.len() <= MAX_SPACES
            && writers.first() == Some(&None)
            && writer_ids.len() + 1 == writers.len();
        if ok {
            self.spaces = spaces;
            self.space_ids = space_ids;
            self.writers = writers;
            self.writer_ids = writer_ids;
        }
        ok
    }

    /// The live note in `row`.
    pub fn entry(&self, row: u32) -> Option<&Entry> {
        self.rows.get(row as usize).filter(|e| e.live())
    }

    /// The row of the live note with this id.
    pub fn row_of(&self, id: &str) -> Option<u32> {
        self.ids.get(&super::text::pack_id(id)?).copied()
    }

    /// The first row whose note entered the brain at or after creation seq `order`.
    pub fn first_row_from(&self, order: u64) -> usize {
        self.rows.partition_point(|e| e.order < order)
    }

    /// Records that `bytes` were appended to the log (after the records in them were applied).
    pub fn appended(&mut self, bytes: &[u8]) {
        self.log_len += bytes.len() as u64;
        self.log_hash.update(bytes);
    }

    /// Applies a `put` of note `v.id`: a new note, or a new version of a live one. `text` is
    /// the version's text, for the index (unused while loading).
    pub fn put(&mut self, v: NewVersion, text: &str) -> u32 {
        self.live_records += 1;
        self.next_seq = self.next_seq.max(v.ver.seq + 1);
        if let Some(&row) = self.ids.get(&v.id) {
            let old = self.rows[row as usize];
            self.withdraw(row, &old);
            self.history.entry(row).or_default().push(old.current);
            let e = &mut self.rows[row as usize];
            e.current = v.ver;
            // What the note shows is its current version's line (ours always repeat the
            // first one's creation time; a log edited by hand may not).
            e.created = v.created;
            e.tagset = v.tagset;
            e.digest = v.digest;
            e.space = v.space;
            if let Some(sp) = self.row_space.get_mut(row as usize) {
                *sp = v.space;
            }
            let was = e.flags & PENDING != 0;
            e.flags = (e.flags & !PENDING) | if v.pending { PENDING } else { 0 };
            self.pending = self.pending + usize::from(v.pending) - usize::from(was);
            if self.indexing {
                e.slot = self.index.add(row, text);
                self.tags.add_row(v.tagset, row);
                self.dedup_add(v.digest, row);
            }
            row
        } else {
            let row = self.rows.len() as u32;
            let slot = if self.indexing {
                self.index.add(row, text)
            } else {
                NO_SLOT
            };
            self.rows.push(Entry {
                order: v.ver.seq,
                id: v.id,
                current: v.ver,
                created: v.created,
                digest: v.digest,
                slot,
                tagset: v.tagset,
                space: v.space,
                flags: if v.pending { PENDING } else { 0 },
            });
            self.ids.insert(v.id, row);
            self.live += 1;
            self.pending += usize::from(v.pending);
            if self.row_space.len() == row as usize {
                self.row_space.push(v.space);
            }
            if self.indexing {
                self.tags.add_row(v.tagset, row);
                self.dedup_add(v.digest, row);
            }
            row
        }
    }

    /// Applies a `del` (record `seq`) of note `id`; false when no live note has it.
    pub fn del(&mut self, seq: u64, id: u64) -> bool {
        self.dead_records += 1;
        self.next_seq = self.next_seq.max(seq + 1);
        let Some(row) = self.ids.remove(&id) else {
            return false;
        };
        let e = self.rows[row as usize];
        self.withdraw(row, &e);
        let versions = 1 + self.history.remove(&row).map_or(0, |h| h.len() as u64);
        self.live_records = self.live_records.saturating_sub(versions);
        self.dead_records += versions;
        self.rows[row as usize].flags |= DEAD;
        self.live -= 1;
        self.pending -= usize::from(e.flags & PENDING != 0);
        self.dead_rows += 1;
        true
    }

    /// Takes the current version `e` of the note in `row` out of the index (its text read
    /// back from the log), the tag lists and the duplicate map: before a new version or a
    /// forget. (While loading, the index, tag lists and map are built afterwards.)
    fn withdraw(&mut self, row: u32, e: &Entry) {
        if !self.indexing {
            return;
        }
        match self.read_put(row, &e.current) {
            Ok(note) => self.index.remove(e.slot, &note.text),
            Err(why) => self.report_unreadable(row, &why),
        }
        self.tags.remove_row(e.tagset, row);
        self.undedup(e.digest, row);
    }

    fn dedup_add(&mut self, digest: u64, row: u32) {
        dedup_add(&mut self.dedup, &mut self.dedup_more, digest, row);
    }

    fn undedup(&mut self, digest: u64, row: u32) {
        if self.dedup.get(&digest) == Some(&row) {
            match self.dedup_more.get_mut(&digest) {
                Some(more) => {
                    let next = more.remove(0);
                    if more.is_empty() {
                        self.dedup_more.remove(&digest);
                    }
                    self.dedup.insert(digest, next);
                }
                None => {
                    self.dedup.remove(&digest);
                }
            }
        } else if let Some(more) = self.dedup_more.get_mut(&digest) {
            more.retain(|&r| r != row);
            if more.is_empty() {
                self.dedup_more.remove(&digest);
            }
        }
    }

    /// The rows of live notes whose current version has this digest.
    pub fn with_digest(&self, digest: u64) -> impl Iterator<Item = u32> + '_ {
        self.dedup
            .get(&digest)
            .into_iter()
            .chain(self.dedup_more.get(&digest).into_iter().flatten())
            .copied()
    }

    /// The tag lists and duplicate maps rebuilt from the rows (after loading, or when rows
    /// were renumbered), and the id map too when `ids` is set; false if two live rows have
    /// the same id.
    pub fn rebuild_maps(&mut self, ids: bool) -> bool {
        let rows = &self.rows;
        let sets = &self.tags.sets;
        let tag_count = self.tags.names.len();
        let live = self.live;
        // The id map on a thread of its own: each map is a cache miss per note.
        let (id_map, (dedup, dedup_more, tag_rows)) = std::thread::scope(|scope| {
            let build_ids = move || {
                let mut m: FxHashMap<u64, u32> = FxHashMap::default();
                m.reserve(live);
                for (row, e) in rows.iter().enumerate().filter(|(_, e)| e.live()) {
                    m.insert(e.id, row as u32);
                }
                m
            };
            let handle = (ids && rows.len() > 10_000)
                .then(|| {
                    std::thread::Builder::new()
                        .spawn_scoped(scope, build_ids)
                        .ok()
                })
                .flatten();
            let mut dedup = FxHashMap::default();
            let mut more = FxHashMap::default();
            dedup.reserve(live);
            let mut tag_rows: Vec<Vec<u32>> = vec![Vec::new(); tag_count];
            for (row, e) in rows.iter().enumerate().filter(|(_, e)| e.live()) {
                for &t in sets[e.tagset as usize].iter() {
                    tag_rows[t as usize].push(row as u32);
                }
                dedup_add(&mut dedup, &mut more, e.digest, row as u32);
            }
            let id_map = match handle {
                Some(h) => h.join().ok(),
                None if ids => Some(build_ids()),
                None => None,
            };
            (id_map, (dedup, more, tag_rows))
        });
        self.dedup = dedup;
        self.dedup_more = dedup_more;
        self.tags.rows = tag_rows;
        self.pending = self
            .rows
            .iter()
            .filter(|e| e.live() && e.flags & PENDING != 0)
            .count();
        self.row_space = self.rows.iter().map(|e| e.space).collect();
        if let Some(m) = id_map {
            self.ids = m;
        } else if ids {
            return false;
        }
        self.ids.len() == self.live
    }

    /// Drops the dead rows (renumbering the rest, which keeps their order) and the index's
    /// dead slots, when together they outnumber the live notes and there are over
    /// `min_garbage` of them. Costs one pass over every row and posting list, once per that
    /// many forgets and updates.
    pub fn compact_memory(&mut self, min_garbage: usize) {
        let garbage = self.dead_rows + self.index.dead_slots();
        if garbage <= min_garbage || garbage <= self.live {
            return;
        }
        let slots = self.index.compact();
        for e in &mut self.rows {
            e.slot = slots.get(e.slot as usize).copied().unwrap_or(NO_SLOT);
        }
        self.drop_dead_rows();
    }

    /// Drops the dead rows, renumbering the rest (their order stays), with the maps rebuilt.
    pub fn drop_dead_rows(&mut self) {
        if self.dead_rows == 0 {
            return;
        }
        let mut new_row = vec![u32::MAX; self.rows.len()];
        let mut next = 0u32;
        for (r, e) in self.rows.iter().enumerate() {
            if e.live() {
                new_row[r] = next;
                next += 1;
            }
        }
        self.rows.retain(Entry::live);
        self.rows.shrink_to_fit();
        self.index.remap_rows(|r| new_row[r as usize]);
        self.history = std::mem::take(&mut self.history)
            .into_iter()
            .map(|(r, h)| (new_row[r as usize], h))
            .collect();
        self.dead_rows = 0;
        self.rebuild_maps(true);
    }

    /// Reads a version of the note in `row` back from the log and checks that it is the
    /// record this state says is there: a `put` (valid by the rules of new input, see
    /// [`log::parse_line`]) with the note's id and the version's seq, and, for the current
    /// version, its tags and creation time. Whatever a snapshot claims, nothing else is shown.
    pub fn read_put(&self, row: u32, ver: &Ver) -> Result<Note, String> {
        let e = self.rows.get(row as usize).ok_or("no such row")?;
        let line = log::read_at(&self.file, ver.at, ver.len).map_err(|e| e.to_string())?;
        let body = line.strip_suffix(b"\n").ok_or("not a whole line")?;
        let p = match log::parse_line(body).map_err(log::LineError::message)? {
            Record::Put(p) => p,
            Record::Del { .. } => return Err("a del record where a put was expected".into()),
        };
        if p.id != e.id || p.seq != ver.seq {
            return Err(format!(
                "the line holds seq {} of {}, not seq {} of {}",
                p.seq,
                unpack_id(p.id),
                ver.seq,
                unpack_id(e.id)
            ));
        }
        if *ver == e.current
            && (!self.tags.set_is(e.tagset, &p.tags)
                || p.created != e.created
                || p.space != self.space_name(e.space)
                || p.pending != (e.flags & PENDING != 0))
        {
            return Err(
                "its tags, creation time, space or review mark differ from the index's".into(),
            );
        }
        if p.by.as_deref() != self.writer(ver.writer) {
            return Err("its writer differs from the index's".into());
        }
        Ok(p.to_note())
    }

    /// Says on stderr that the note in `row` could not be read back, and removes the snapshot
    /// so that the next start rebuilds everything from the log. The note is left out of the
    /// answer (a read error, as a failing disk would give).
    pub fn report_unreadable(&self, row: u32, why: &str) {
        let id = self
            .rows
            .get(row as usize)
            .map_or_else(String::new, |e| unpack_id(e.id));
        eprintln!(
            "brain: note {id} cannot be read back from {} ({why}); the snapshot is removed so \
             that the next start rebuilds the index from the log",
            self.log_path.display()
        );
        super::snapshot::remove(&self.log_path);
    }

    /// The live note in `row`, read from the log.
    pub fn note(&self, row: u32) -> Option<Note> {
        let e = self.entry(row)?;
        self.read_put(row, &e.current)
            .map_err(|why| self.report_unreadable(row, &why))
            .ok()
    }

    /// The live note in `row` and its earlier versions, oldest first, read from the log.
    pub fn note_with_history(&self, row: u32) -> Option<(Note, Vec<Version>)> {
        let note = self.note(row)?;
        let mut history = Vec::new();
        for ver in self.history.get(&row).into_iter().flatten() {
            let old = self
                .read_put(row, ver)
                .map_err(|why| self.report_unreadable(row, &why))
                .ok()?;
            history.push(Version {
                text: old.text,
                tags: old.tags,
                updated_at: old.updated_at,
                space: old.space,
                by: old.by,
            });
        }
        Some((note, history))
    }

    /// Where every version of every live note is, in file order: what compaction keeps.
    pub fn kept_lines(&self) -> Vec<(u64, u32)> {
        let mut keep: Vec<(u64, u32)> = Vec::with_capacity(self.live_records as usize);
        for (row, e) in self.rows.iter().enumerate() {
            if e.live() {
                keep.push((e.current.at, e.current.len));
                if let Some(h) = self.history.get(&(row as u32)) {
                    keep.extend(h.iter().map(|v| (v.at, v.len)));
                }
            }
        }
        keep.sort_unstable();
        keep
    }

    /// After compaction copied the lines `keep` (sorted by offset) back to back into a new log
    /// now read through `file`: every version's new offset.
    pub fn moved(&mut self, keep: &[(u64, u32)], file: File, len: u64, hash: Xxh64) {
        let mut new_at = Vec::with_capacity(keep.len());
        let mut at = 0u64;
        for &(_, l) in keep {
            new_at.push(at);
            at += u64::from(l);
        }
        let place = |v: &mut Ver| {
            if let Ok(i) = keep.binary_search_by_key(&v.at, |&(a, _)| a) {
                v.at = new_at[i];
            }
        };
        for e in self.rows.iter_mut().filter(|e| e.live()) {
            place(&mut e.current);
        }
        for h in self.history.values_mut() {
            h.iter_mut().for_each(place);
        }
        self.file = file;
        self.log_len = len;
        self.log_hash = hash;
        self.dead_records = 0;
        self.generation += 1;
        self.snapshot_len = 0;
    }

    /// Compaction rewrites the whole log, so it runs only when that buys a lot: when records of
    /// forgotten notes (their versions and their `del`) outnumber the records of live notes, so
    /// the log is more than half garbage and at least halves, and there are over
    /// `min_dead` (1000) of them, so a small store is never rewritten for a few bytes. Versions
    /// of live notes are history and never count as dead.
    pub fn should_compact(&self, min_dead: u64) -> bool {
        self.dead_records > self.live_records && self.dead_records > min_dead
    }

    /// The live notes' rows in the order their current versions were written (search's
    /// recency order, in which `open` builds the index).
    pub fn rows_by_write(&self) -> Vec<u32> {
        let mut v: Vec<u32> = (0..self.rows.len() as u32)
            .filter(|&r| self.rows[r as usize].live())
            .collect();
        v.sort_unstable_by_key(|&r| self.rows[r as usize].current.seq);
        v
    }
}
