//! The in-memory inverted index behind `search`: BM25 (k1 = 1.2, b = 0.75) over the terms of
//! [`super::text::for_each_term`], with each query word also matching its variants (stem,
//! prefix and one-edit typo matches, see [`super::query`]) at a lower weight.
//!
//! Terms are indexed as written (folded), not stemmed, so that an exact match can outrank a
//! stem match. A [`Lexicon`] (the term dictionary in sorted order, and each stem's terms) finds
//! the variants; it is built on the first search after `open` and then kept up to date by `add`.
//!
//! Every indexing of a document gets the next dense slot number, so posting lists are sorted
//! by slot, scores accumulate in a plain array, and a higher slot means more recently written
//! (the recency tie-break needs no lookup). A posting list is bytes: each posting is the gap
//! from the previous slot and a flag saying a term count other than 1 follows, as LEB128
//! varints (a posting of a common word is one byte, against eight as two `u32`s). Removing a
//! document only marks its slot; a list is rewritten without its dead postings once they
//! outnumber its live ones, and [`Index::compact`] renumbers the slots.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Mutex, OnceLock, PoisonError};

use super::query::{Query, Word};
use super::snapshot::{Dec, Enc};
use super::text::{for_each_term, one_edit_apart, stem};

const K1: f32 = 1.2;
const B: f32 = 0.75;

/// How much a variant of a query word counts, against 1 for the word itself. A variant's IDF
/// is also capped at the exact word's, so a rare variant does not outweigh a common word.
const W_STEM: f32 = 0.8;
const W_PREFIX: f32 = 0.6;
const W_TYPO: f32 = 0.5;
/// Prefix matches taken per word (the most frequent terms): `con` should not drag in the
/// postings of a thousand terms.
const MAX_PREFIX_TERMS: usize = 40;
/// Typo variants need words of letters at least this long (in bytes of the folded term).
const MIN_TYPO_LEN: usize = 5;
const MIN_PREFIX_LEN: usize = 3;
/// Up to this many results, a search keeps only the best so far as it goes (a page, and
/// nearly every match loses at once to the worst kept); beyond, it ranks every match.
const MAX_KEPT: usize = 256;

/// One indexed version of a note: the note's row (see `State`) and its length in terms.
#[derive(Clone, Copy, Debug, PartialEq)]
struct Doc {
    row: u32,
    /// Length in terms; `REMOVED` marks a removed document.
    len: u32,
}

const REMOVED: u32 = u32::MAX;
/// A slot number no document has.
pub const NO_SLOT: u32 = u32::MAX;

/// The postings of one term.
#[derive(Default, Clone)]
struct Postings {
    bytes: Vec<u8>,
    /// Slot + 1 of the last posting (0 when there is none): the base of the next gap.
    end: u32,
    /// Postings of live documents: the term's document frequency.
    df: u32,
    /// Every posting in `bytes`, dead ones included.
    count: u32,
}

impl Postings {
    fn push(&mut self, slot: u32, tf: u32) {
        let gap = u64::from(slot + 1 - self.end);
        put_varint(&mut self.bytes, (gap << 1) | u64::from(tf != 1));
        if tf != 1 {
            put_varint(&mut self.bytes, u64::from(tf));
        }
        self.end = slot + 1;
        self.df += 1;
        self.count += 1;
    }

    fn iter(&self) -> PostingIter<'_> {
        PostingIter {
            bytes: &self.bytes,
            base: 0,
        }
    }

    /// Rewritten without the postings of removed documents (see [`Index::remove`]).
    fn drop_dead(&mut self, docs: &[Doc]) {
        let mut out = Postings::default();
        for (slot, tf) in self.iter() {
            if docs.get(slot as usize).is_some_and(|d| d.len != REMOVED) {
                out.push(slot, tf);
            }
        }
        out.bytes.shrink_to_fit();
        *self = out;
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The varint at the start of `b` and its length, or `None` if `b` ends inside one or it
/// does not fit in 64 bits.
#[inline(always)]
fn get_varint(b: &[u8]) -> Option<(u64, usize)> {
    let first = *b.first()?;
    if first < 0x80 {
        return Some((u64::from(first), 1));
    }
    let mut v = 0u64;
    for (i, &byte) in b.iter().enumerate().take(10) {
        v |= u64::from(byte & 0x7f) << (7 * i);
        if byte < 0x80 {
            return Some((v, i + 1));
        }
    }
    None
}

/// `(slot, term count)` of each posting of a list, in slot order. A list that does not decode
/// (only a damaged snapshot could hold one, and loading checks every list) just ends early.
struct PostingIter<'a> {
    bytes: &'a [u8],
    /// Slot + 1 of the previous posting.
    base: u32,
}

impl Iterator for PostingIter<'_> {
    type Item = (u32, u32);

    #[inline(always)]
    fn next(&mut self) -> Option<(u32, u32)> {
        // Nothing moves unless the whole posting decodes: a gap of at least 1 (slots
        // increase) and a count of at least 1.
        let (v, n) = get_varint(self.bytes)?;
        let (tf, m) = if v & 1 == 1 {
            let (tf, m) = get_varint(&self.bytes[n..])?;
            (u32::try_from(tf).ok().filter(|&t| t > 0)?, m)
        } else {
            (1, 0)
        };
        let gap = u32::try_from(v >> 1).ok().filter(|&g| g > 0)?;
        self.base = self.base.checked_add(gap)?;
        self.bytes = &self.bytes[n + m..];
        Some((self.base - 1, tf))
    }
}

/// Score arrays, reused across searches: allocating and zeroing arrays the size of the brain
/// on every search was a tenth of a search's time. Between searches every entry is zero;
/// `dirty` says a search stopped half-way (a panic) and they must be cleared.
#[derive(Default)]
struct Scratch {
    scores: Vec<f32>,
    best: Vec<f32>,
    touched: Vec<u32>,
    /// Slots whose score became non-zero, each once.
    scored: Vec<u32>,
    dirty: bool,
}

/// A `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[derive(Default)]
pub struct Index {
    /// Term → term id. Terms of up to 15 bytes (nearly all words) are keys packed into an
    /// integer, so a lookup compares integers instead of chasing a pointer to the key's bytes:
    /// that lookup is the inner loop of building the index at `open`.
    short_terms: FxHashMap<u128, u32>,
    long_terms: FxHashMap<String, u32>,
    postings: Vec<Postings>,
    docs: Vec<Doc>,
    live: u64,
    total_len: u64,
    /// Scratch buffers reused by `add`/`remove` (both run under the state's write lock).
    scratch: String,
    ids: Vec<u32>,
    /// Built by the first search that needs it; `add` keeps it current after that.
    lexicon: OnceLock<Lexicon>,
    /// Score arrays of finished searches, for the next ones.
    scratch_pool: Mutex<Vec<Scratch>>,
}

/// The term dictionary in sorted order (prefix and typo matches are ranges of it), and the
/// terms of each stem.
#[derive(Default)]
struct Lexicon {
    /// Every term's text, back to back: term `id` is `text[spans[id].0..spans[id].1]`.
    text: String,
    spans: Vec<(usize, usize)>,
    /// Term ids in byte order of their text.
    sorted: Vec<u32>,
    /// Stem → ids of the terms with that stem that are not the stem itself.
    stems: FxHashMap<String, Vec<u32>>,
}

impl Lexicon {
    fn name(&self, id: u32) -> &str {
        self.spans
            .get(id as usize)
            .and_then(|&(a, b)| self.text.get(a..b))
            .unwrap_or("")
    }

    /// Adds term `id` (the next one) to the dictionary.
    fn insert(&mut self, id: u32, term: &str) {
        if id as usize != self.spans.len() {
            return;
        }
        let at = self.sorted.partition_point(|&x| self.name(x) < term);
        self.sorted.insert(at, id);
        let start = self.text.len();
        self.text.push_str(term);
        self.spans.push((start, self.text.len()));
        let s = stem(term);
        if s != term {
            self.stems.entry(s.into_owned()).or_default().push(id);
        }
    }

    /// The sorted ids of terms starting with `prefix`.
    fn with_prefix(&self, prefix: &str) -> &[u32] {
        let lo = self.sorted.partition_point(|&x| self.name(x) < prefix);
        let len = self.sorted[lo..].partition_point(|&x| self.name(x).starts_with(prefix));
        &self.sorted[lo..lo + len]
    }
}

/// One search's matches, best first: `(score, row)` with ties going to the later-written
/// document. Scores are BM25 rounded to 3 decimals.
pub type Ranked = Vec<(f64, u32)>;

impl Index {
    /// Indexes `text` as a document of note `row` (replacing nothing: remove an old version
    /// first) and returns its slot, [`NO_SLOT`] when slots ran out.
    pub fn add(&mut self, row: u32, text: &str) -> u32 {
        let slot = match u32::try_from(self.docs.len()) {
            Ok(s) if s < NO_SLOT - 1 => s,
            // 4 billion writes without a restart; search just stops seeing new notes.
            _ => return NO_SLOT,
        };
        let mut ids = std::mem::take(&mut self.ids);
        let mut scratch = std::mem::take(&mut self.scratch);
        ids.clear();
        for_each_term(text, &mut scratch, |t| {
            ids.push(self.term_id_or_insert(t));
        });
        // Texts are at most 64 KiB, so this never clamps; it only keeps REMOVED unique.
        let len = ids.len().min(REMOVED as usize - 1) as u32;
        ids.sort_unstable();
        for run in ids.chunk_by(|a, b| a == b) {
            self.postings[run[0] as usize].push(slot, run.len() as u32);
        }
        self.docs.push(Doc { row, len });
        self.live += 1;
        self.total_len += u64::from(len);
        self.ids = ids;
        self.scratch = scratch;
        slot
    }

    fn term_id(&self, t: &str) -> Option<u32> {
        match short_key(t) {
            Some(k) => self.short_terms.get(&k).copied(),
            None => self.long_terms.get(t).copied(),
        }
    }

    fn term_id_or_insert(&mut self, t: &str) -> u32 {
        let next = self.postings.len() as u32;
        let id = match short_key(t) {
            Some(k) => *self.short_terms.entry(k).or_insert(next),
            None => match self.long_terms.get(t) {
                Some(&id) => id,
                None => *self.long_terms.entry(t.to_string()).or_insert(next),
            },
        };
        if id == next {
            self.postings.push(Postings::default());
            if let Some(lex) = self.lexicon.get_mut() {
                lex.insert(id, t);
            }
        }
        id
    }

    /// The lexicon of every term so far (the terms' text, sorted order and stem groups).
    fn build_lexicon(&self) -> Lexicon {
        let n = self.postings.len();
        let mut lex = Lexicon {
            spans: vec![(0, 0); n],
            ..Lexicon::default()
        };
        for (&k, &id) in &self.short_terms {
            let w = k.to_le_bytes();
            let len = usize::from(w[15]).min(15);
            let start = lex.text.len();
            // Keys are made from whole `&str`s, so this is always valid UTF-8.
            lex.text
                .push_str(std::str::from_utf8(&w[..len]).unwrap_or(""));
            if let Some(span) = lex.spans.get_mut(id as usize) {
                *span = (start, lex.text.len());
            }
        }
        for (k, &id) in &self.long_terms {
            let start = lex.text.len();
            lex.text.push_str(k);
            if let Some(span) = lex.spans.get_mut(id as usize) {
                *span = (start, lex.text.len());
            }
        }
        let mut sorted: Vec<u32> = (0..n as u32).collect();
        sorted.sort_unstable_by(|&a, &b| lex.name(a).cmp(lex.name(b)));
        lex.sorted = sorted;
        for id in 0..n as u32 {
            let s = {
                let name = lex.name(id);
                let s = stem(name);
                if s == name {
                    continue;
                }
                s.into_owned()
            };
            lex.stems.entry(s).or_default().push(id);
        }
        lex
    }

    fn lexicon(&self) -> &Lexicon {
        self.lexicon.get_or_init(|| self.build_lexicon())
    }

    fn df(&self, id: u32) -> usize {
        self.postings.get(id as usize).map_or(0, |p| p.df as usize)
    }

    /// Term ids of `t` and its stem variants that occur in some document.
    fn stem_family(&self, t: &str, out: &mut Vec<u32>) {
        let s = stem(t);
        let lex = self.lexicon();
        let ids = self
            .term_id(t)
            .into_iter()
            .chain(self.term_id(&s))
            .chain(lex.stems.get(s.as_ref()).into_iter().flatten().copied());
        for id in ids {
            if self.df(id) > 0 && !out.contains(&id) {
                out.push(id);
            }
        }
    }

    /// The terms a query word matches, with their weights: the word itself (1), its stem
    /// variants, prefix matches (for the last word, or a word with no exact or stem match)
    /// and terms one edit away (words of 5+ bytes). Each term once, at its best weight.
    fn expand(&self, word: &Word) -> Vec<(u32, f32)> {
        let t = word.term.as_str();
        let mut out: Vec<(u32, f32)> = Vec::new();
        let exact = self.term_id(t).filter(|&id| self.df(id) > 0);
        if let Some(id) = exact {
            out.push((id, 1.0));
        }
        if word.exact {
            return out;
        }
        let mut ids = Vec::new();
        self.stem_family(t, &mut ids);
        let push = |out: &mut Vec<(u32, f32)>, id: u32, w: f32| {
            if self.df(id) > 0 && !out.iter().any(|&(x, _)| x == id) {
                out.push((id, w));
            }
        };
        for id in ids {
            push(&mut out, id, W_STEM);
        }
        let lex = self.lexicon();
        if (word.last || out.is_empty()) && t.chars().count() >= MIN_PREFIX_LEN {
            let mut found: Vec<u32> = lex
                .with_prefix(t)
                .iter()
                .copied()
                .filter(|&id| self.df(id) > 0 && !out.iter().any(|&(x, _)| x == id))
                .collect();
            if found.len() > MAX_PREFIX_TERMS {
                found.select_nth_unstable_by_key(MAX_PREFIX_TERMS - 1, |&id| {
                    std::cmp::Reverse(self.df(id))
                });
                found.truncate(MAX_PREFIX_TERMS);
            }
            for id in found {
                push(&mut out, id, W_PREFIX);
            }
        }
        // Words of letters only: a code or number one edit from another is another thing.
        if t.len() >= MIN_TYPO_LEN && t.chars().all(char::is_alphabetic) {
            for id in self.one_edit_terms(lex, t) {
                push(&mut out, id, W_TYPO);
            }
        }
        out
    }

    /// Terms one edit away from `t`: those sharing its first byte are a range of the sorted
    /// dictionary, filtered by length; an edit of the first byte is looked up directly.
    fn one_edit_terms(&self, lex: &Lexicon, t: &str) -> Vec<u32> {
        let q = t.as_bytes();
        let mut out = Vec::new();
        let Some(&first) = q.first() else {
            return out;
        };
        let lo = lex
            .sorted
            .partition_point(|&x| lex.name(x).as_bytes().first() < Some(&first));
        let len =
            lex.sorted[lo..].partition_point(|&x| lex.name(x).as_bytes().first() == Some(&first));
        for &id in &lex.sorted[lo..lo + len] {
            let Some(&(a, b)) = lex.spans.get(id as usize) else {
                continue;
            };
            if (b - a).abs_diff(q.len()) <= 1 && one_edit_apart(lex.name(id).as_bytes(), q) {
                out.push(id);
            }
        }
        // Edits of the first byte (ASCII only, so every candidate is whole UTF-8), tried in
        // one reused buffer.
        if q.len() >= 2 && q[0].is_ascii() && q[1].is_ascii() {
            let try_term = |cand: &[u8], out: &mut Vec<u32>| {
                if let Some(id) = std::str::from_utf8(cand).ok().and_then(|s| self.term_id(s)) {
                    if !out.contains(&id) {
                        out.push(id);
                    }
                }
            };
            try_term(&q[1..], &mut out);
            let mut cand: Vec<u8> = Vec::with_capacity(q.len() + 1);
            if q[1] != q[0] {
                cand.extend_from_slice(q);
                cand.swap(0, 1);
                try_term(&cand, &mut out);
            }
            for c in (b'a'..=b'z').chain(b'0'..=b'9').filter(|&c| c != first) {
                cand.clear();
                cand.extend_from_slice(q);
                cand[0] = c;
                try_term(&cand, &mut out);
                cand.clear();
                cand.push(c);
                cand.extend_from_slice(q);
                try_term(&cand, &mut out);
            }
        }
        out
    }

    /// Adds every document of `other` after this index's own, as if they had been added here
    /// one by one in the same order (how `open` builds an index on several threads).
    pub fn append(&mut self, other: Index) {
        if self.docs.is_empty() {
            *self = other;
            return;
        }
        let Ok(offset) = u32::try_from(self.docs.len()) else {
            return;
        };
        let mut postings = other.postings;
        let short = other
            .short_terms
            .into_iter()
            .map(|(k, id)| (Term::Short(k), id));
        let long = other
            .long_terms
            .into_iter()
            .map(|(k, id)| (Term::Long(k), id));
        for (term, other_id) in short.chain(long) {
            let list = std::mem::take(&mut postings[other_id as usize]);
            let next = self.postings.len() as u32;
            let id = match term {
                Term::Short(k) => *self.short_terms.entry(k).or_insert(next),
                Term::Long(k) => *self.long_terms.entry(k).or_insert(next),
            };
            if id == next {
                self.postings.push(Postings::default());
            }
            let mine = &mut self.postings[id as usize];
            // Only the first gap of `list` changes: it was counted from slot 0, and now
            // counts from this list's last slot.
            let Some((v, n)) = get_varint(&list.bytes) else {
                continue;
            };
            let first = (v >> 1) + u64::from(offset) - u64::from(mine.end);
            put_varint(&mut mine.bytes, (first << 1) | (v & 1));
            mine.bytes.extend_from_slice(&list.bytes[n..]);
            mine.end = list.end + offset;
            mine.df += list.df;
            mine.count += list.count;
        }
        self.docs.extend(other.docs);
        self.live += other.live;
        self.total_len += other.total_len;
        self.lexicon = OnceLock::new(); // rebuilt by the next search
    }

    /// Removes the document in `slot`, which was added with this same `text`: its slot is
    /// marked, each of its terms' document frequency goes down, and a list whose dead
    /// postings now outnumber its live ones (and some) is rewritten without them, which
    /// costs its length once per that many removals.
    pub fn remove(&mut self, slot: u32, text: &str) {
        let Some(d) = self.docs.get_mut(slot as usize) else {
            return;
        };
        if d.len == REMOVED {
            return;
        }
        self.live = self.live.saturating_sub(1);
        self.total_len = self.total_len.saturating_sub(u64::from(d.len));
        d.len = REMOVED;
        let mut ids = std::mem::take(&mut self.ids);
        let mut scratch = std::mem::take(&mut self.scratch);
        ids.clear();
        for_each_term(text, &mut scratch, |t| ids.extend(self.term_id(t)));
        ids.sort_unstable();
        ids.dedup();
        for &id in &ids {
            let Some(list) = self.postings.get_mut(id as usize) else {
                continue;
            };
            list.df = list.df.saturating_sub(1);
            if list.count > 2 * list.df + 8 {
                list.drop_dead(&self.docs);
            }
        }
        self.ids = ids;
        self.scratch = scratch;
    }

    /// Live documents.
    pub fn live(&self) -> u64 {
        self.live
    }

    /// The row whose document is in `slot`, unless it was removed.
    pub fn slot_row(&self, slot: u32) -> Option<u32> {
        self.docs
            .get(slot as usize)
            .filter(|d| d.len != REMOVED)
            .map(|d| d.row)
    }

    /// Slots that hold removed documents.
    pub fn dead_slots(&self) -> usize {
        self.docs.len() - self.live as usize
    }

    /// Renumbers the slots without the removed documents and rewrites every list; returns
    /// each old slot's new number ([`NO_SLOT`] for a removed one). Search order is kept.
    pub fn compact(&mut self) -> Vec<u32> {
        let mut map = Vec::with_capacity(self.docs.len());
        let mut docs = Vec::with_capacity(self.live as usize);
        for d in &self.docs {
            if d.len == REMOVED {
                map.push(NO_SLOT);
            } else {
                map.push(docs.len() as u32);
                docs.push(*d);
            }
        }
        for list in &mut self.postings {
            let mut out = Postings::default();
            for (slot, tf) in list.iter() {
                if let Some(&new) = map.get(slot as usize).filter(|&&s| s != NO_SLOT) {
                    out.push(new, tf);
                }
            }
            out.bytes.shrink_to_fit();
            *list = out;
        }
        self.docs = docs;
        map
    }

    /// Gives each live document the row `row(old row)` (rows are renumbered when the notes'
    /// table drops forgotten notes).
    pub fn remap_rows(&mut self, row: impl Fn(u32) -> u32) {
        for d in &mut self.docs {
            if d.len != REMOVED {
                d.row = row(d.row);
            }
        }
    }

    /// Writes the whole index (documents, terms and their lists, the sorted dictionary) for
    /// a snapshot; [`Index::read_from`] reads it back.
    pub fn write_to<W: std::io::Write>(&self, e: &mut Enc<W>) -> std::io::Result<()> {
        e.u64(self.docs.len() as u64)?;
        for d in &self.docs {
            e.u32(d.row)?;
            e.u32(d.len)?;
        }
        e.u64(self.live)?;
        e.u64(self.total_len)?;
        let lex = self.lexicon();
        e.u64(self.postings.len() as u64)?;
        for (id, list) in self.postings.iter().enumerate() {
            e.str(lex.name(id as u32))?;
            e.u32(list.end)?;
            e.u32(list.df)?;
            e.u32(list.count)?;
            e.bytes(&list.bytes)?;
        }
        for &id in &lex.sorted {
            e.u32(id)?;
        }
        Ok(())
    }

    /// Reads what [`Index::write_to`] wrote, checking all of it: every list must decode to
    /// increasing slots of existing documents with the counts stored beside it, every live
    /// document must belong to one of `rows` notes, terms must be distinct and the dictionary
    /// sorted. A snapshot that passes cannot make a search panic or reach past its arrays.
    pub fn read_from<R: std::io::Read>(d: &mut Dec<R>, rows: usize) -> Result<Index, String> {
        let n = d.count(8)?;
        let mut ix = Index::default();
        ix.docs.reserve_exact(n);
        let (mut live, mut total) = (0u64, 0u64);
        for _ in 0..n {
            let doc = Doc {
                row: d.u32()?,
                len: d.u32()?,
            };
            if doc.len != REMOVED {
                if doc.row as usize >= rows {
                    return Err(format!("an index document names row {}", doc.row));
                }
                live += 1;
                total += u64::from(doc.len);
            }
            ix.docs.push(doc);
        }
        ix.live = d.u64()?;
        ix.total_len = d.u64()?;
        if (ix.live, ix.total_len) != (live, total) {
            return Err("the index's document counts do not add up".into());
        }
        let terms = d.count(16)?;
        let mut lex = Lexicon::default();
        ix.postings.reserve_exact(terms);
        for id in 0..terms as u32 {
            let name = d.str()?;
            if name.is_empty() {
                return Err("an index term is empty".into());
            }
            let fresh = match short_key(&name) {
                Some(k) => ix.short_terms.insert(k, id).is_none(),
                None => ix.long_terms.insert(name.clone(), id).is_none(),
            };
            if !fresh {
                return Err(format!("index term {name:?} appears twice"));
            }
            let start = lex.text.len();
            lex.text.push_str(&name);
            lex.spans.push((start, lex.text.len()));
            let s = stem(&name);
            if s != name {
                lex.stems.entry(s.into_owned()).or_default().push(id);
            }
            let (end, df, count) = (d.u32()?, d.u32()?, d.u32()?);
            let list = Postings {
                bytes: d.bytes()?,
                end,
                df,
                count,
            };
            // One pass over the list: every posting decodes, names an existing slot, and the
            // slots increase (a gap of 0 does not decode); its count and last slot are exact.
            // (Its document frequency is taken as written: looking up every posting's document
            // to count the live ones was most of the time of reading a snapshot, and a wrong
            // one could only change scores, which the checksum already guards.)
            let (mut seen, mut last) = (0u32, 0u32);
            let docs = ix.docs.len();
            let mut it = list.iter();
            for (slot, _) in it.by_ref() {
                if slot as usize >= docs {
                    return Err(format!("a posting of {name:?} names slot {slot}"));
                }
                seen += 1;
                last = slot + 1;
            }
            if !it.bytes.is_empty() || (seen, last) != (count, end) || df > count {
                return Err(format!(
                    "the postings of {name:?} do not match their counts"
                ));
            }
            ix.postings.push(list);
        }
        lex.sorted.reserve_exact(terms);
        for _ in 0..terms {
            lex.sorted.push(d.u32()?);
        }
        let ordered = lex.sorted.iter().all(|&id| (id as usize) < terms)
            && lex
                .sorted
                .windows(2)
                .all(|w| lex.name(w[0]) < lex.name(w[1]));
        if !ordered {
            return Err("the index's dictionary is not in order".into());
        }
        ix.lexicon = OnceLock::from(lex);
        Ok(ix)
    }

    /// The `limit` best documents matching at least one word of `query` (OR) among those
    /// `accept` lets through, with a score above zero and none of the query's excluded terms
    /// (or their stem variants). When the query has phrases, `verify` is asked about
    /// candidates best first until `limit` pass.
    ///
    /// Each word adds its best-scoring match in a document: BM25 of the word itself, or of a
    /// variant times its weight (stem 0.8, prefix 0.6, typo 0.5) with the variant's IDF capped
    /// at the word's, so an exact match outranks a variant match in the same document
    /// length and count. A term matched by two query words counts for each.
    pub fn search(
        &self,
        query: &Query,
        accept: impl Fn(u32) -> bool,
        verify: impl Fn(u32) -> bool,
        limit: usize,
    ) -> Ranked {
        if self.live == 0 || limit == 0 || query.is_empty() {
            return Vec::new();
        }
        // Score arrays come from a pool: as many exist as searches ever ran at once (one
        // per worker would be 8 MB each at a million notes, idle most of the time).
        let mut scratch = self
            .scratch_pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        let ranked = self.rank(query, &mut scratch, accept, verify, limit);
        self.scratch_pool
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(scratch);
        ranked
    }

    /// [`Index::search`] with the score arrays of `scratch`, left all zero again.
    fn rank(
        &self,
        query: &Query,
        scratch: &mut Scratch,
        accept: impl Fn(u32) -> bool,
        verify: impl Fn(u32) -> bool,
        limit: usize,
    ) -> Ranked {
        let n = self.live as f32;
        let avg_len = (self.total_len as f32 / n).max(1.0);
        // The "+1" form of IDF (Lucene's): never negative, so a term in most notes still adds
        // a little instead of pushing matches below zero.
        let idf = |df: usize| (1.0 + (n - df as f32 + 0.5) / (df as f32 + 0.5)).ln();
        // BM25's length norm K1 * (1 - B + B * len / avg_len), as one multiply and add.
        let (norm_base, norm_per_term) = (K1 * (1.0 - B), K1 * B / avg_len);
        let slots = self.docs.len();
        if scratch.dirty {
            scratch.scores.iter_mut().for_each(|s| *s = 0.0);
            scratch.best.iter_mut().for_each(|s| *s = 0.0);
            scratch.touched.clear();
            scratch.scored.clear();
        }
        scratch.dirty = true;
        // Grown with room to spare: notes keep coming, and each growth copies the array.
        let grow = |v: &mut Vec<f32>| {
            if v.len() < slots {
                v.reserve_exact(slots + slots / 8 - v.len());
                v.resize(slots, 0.0);
            }
        };
        grow(&mut scratch.scores);
        let Scratch {
            scores,
            best,
            touched,
            scored,
            ..
        } = scratch;
        for word in &query.words {
            let terms = self.expand(word);
            let cap = match terms.first() {
                Some(&(id, 1.0)) => idf(self.df(id)),
                _ => f32::INFINITY,
            };
            // A word with no exact match (a typo, a partial word, a plural the notes do not
            // use) is no less important than the other words: its best variants count fully.
            let top = terms.iter().map(|&(_, w)| w).fold(0.0, f32::max);
            if terms.len() > 1 {
                grow(best);
            }
            for &(id, weight) in &terms {
                let list = &self.postings[id as usize];
                let w = weight / top * idf(list.df as usize).min(cap) * (K1 + 1.0);
                // Two loops, so that neither tests which one it is per posting (and the
                // compiler keeps its values in registers).
                let target: &mut [f32] = if terms.len() == 1 { scores } else { best };
                let marks = if terms.len() == 1 {
                    &mut *scored
                } else {
                    &mut *touched
                };
                marks.reserve(list.count as usize);
                let add = terms.len() == 1;
                score_list(
                    list,
                    &self.docs,
                    w,
                    norm_base,
                    norm_per_term,
                    target,
                    marks,
                    add,
                );
            }
            for slot in touched.drain(..) {
                let i = slot as usize;
                if scores[i] == 0.0 {
                    scored.push(slot);
                }
                scores[i] += best[i];
                best[i] = 0.0;
            }
        }
        let mut excluded = Vec::new();
        for t in &query.excluded {
            self.stem_family(t, &mut excluded);
        }
        for id in excluded {
            for (slot, _) in self.postings[id as usize].iter() {
                if let Some(s) = scores.get_mut(slot as usize) {
                    *s = 0.0;
                }
            }
        }
        let key = |slot: u32| self.docs.get(slot as usize).map(|d| d.row);
        // Best first: the higher rounded score, then the later slot (the newer version).
        let better = |a: (f64, u32), b: (f64, u32)| a.0 > b.0 || (a.0 == b.0 && a.1 > b.1);
        let rounded = |s: f32| (f64::from(s) * 1000.0).round() / 1000.0;
        let live = |slot: u32| {
            self.docs
                .get(slot as usize)
                .is_some_and(|d| d.len != REMOVED && accept(d.row))
        };
        let order = |a: &(f64, u32), b: &(f64, u32)| {
            if better(*a, *b) {
                std::cmp::Ordering::Less
            } else {
                std::cmp::Ordering::Greater
            }
        };
        if query.has_phrases() || limit > MAX_KEPT {
            let mut hits: Vec<(f64, u32)> = Vec::with_capacity(scored.len());
            for &slot in scored.iter() {
                let score = rounded(std::mem::take(&mut scores[slot as usize]));
                if score > 0.0 && live(slot) {
                    hits.push((score, slot));
                }
            }
            scored.clear();
            scratch.dirty = false;
            if query.has_phrases() {
                // Phrases are checked best first until `limit` pass: every match is ranked.
                hits.sort_unstable_by(order);
                return hits
                    .into_iter()
                    .filter_map(|(score, slot)| Some((score, key(slot)?)))
                    .filter(|&(_, k)| verify(k))
                    .take(limit)
                    .collect();
            }
            if hits.len() > limit {
                hits.select_nth_unstable_by(limit - 1, order);
                hits.truncate(limit);
            }
            hits.sort_unstable_by(order);
            return hits
                .into_iter()
                .filter_map(|(score, slot)| Some((score, key(slot)?)))
                .collect();
        }
        // Otherwise only the best `limit` are kept, worst first in `top` (a sorted array:
        // `limit` is a page, and nearly every match loses to the worst kept at once).
        let mut top: Vec<(f64, u32)> = Vec::with_capacity(limit + 1);
        // Below this (score × 1000) a match cannot round up to the worst kept score, so it
        // is passed over without rounding (rounding every match was a third of a search).
        let mut floor = f64::NEG_INFINITY;
        for &slot in scored.iter() {
            let raw = std::mem::take(&mut scores[slot as usize]);
            if f64::from(raw) * 1000.0 < floor {
                continue;
            }
            let score = rounded(raw);
            if score <= 0.0 || (top.len() == limit && !better((score, slot), top[0])) {
                continue;
            }
            if !live(slot) {
                continue;
            }
            let at = top.partition_point(|&x| better((score, slot), x));
            top.insert(at, (score, slot));
            if top.len() > limit {
                top.remove(0);
            }
            if top.len() == limit {
                // round(x) >= w exactly when x >= w - 0.5, for the worst kept w.
                floor = (top[0].0 * 1000.0).round() - 0.5;
            }
        }
        scored.clear();
        scratch.dirty = false;
        top.into_iter()
            .rev()
            .filter_map(|(score, slot)| Some((score, key(slot)?)))
            .collect()
    }
}

/// Scores the postings of one term (weight `w`) into `target`: added to it when `add` (a
/// word's only term), else kept when better (the best variant of a word); a slot that was 0
/// is pushed to `marks`.
#[allow(clippy::too_many_arguments)]
#[inline(never)]
fn score_list(
    list: &Postings,
    docs: &[Doc],
    w: f32,
    norm_base: f32,
    norm_per_term: f32,
    target: &mut [f32],
    marks: &mut Vec<u32>,
    add: bool,
) {
    for (slot, tf) in list.iter() {
        let i = slot as usize;
        let (Some(&Doc { len, .. }), Some(t)) = (docs.get(i), target.get_mut(i)) else {
            continue;
        };
        if len == REMOVED {
            continue;
        }
        let tf = tf as f32;
        let s = w * tf / (tf + norm_base + norm_per_term * len as f32);
        if add {
            if *t == 0.0 {
                marks.push(slot);
            }
            *t += s;
        } else if s > *t {
            if *t == 0.0 {
                marks.push(slot);
            }
            *t = s;
        }
    }
}

enum Term {
    Short(u128),
    Long(String),
}

/// A term of up to 15 bytes as one integer: its bytes, then its length in the top byte.
fn short_key(t: &str) -> Option<u128> {
    let b = t.as_bytes();
    if b.len() > 15 {
        return None;
    }
    let mut w = [0u8; 16];
    w[..b.len()].copy_from_slice(b);
    w[15] = b.len() as u8;
    Some(u128::from_le_bytes(w))
}

/// The Firefox/rustc hash: much faster than SipHash for short keys. HashDoS resistance is not
/// needed here: the keys are the owner's own words and sequence numbers, and the worst case is
/// a slower search for the one user who crafted it.
#[derive(Default)]
pub struct FxHasher(u64);

impl Hasher for FxHasher {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut w = [0u8; 8];
            w.copy_from_slice(c);
            self.add(u64::from_le_bytes(w));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut w = [0u8; 8];
            w[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(w));
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }
    fn write_u32(&mut self, i: u32) {
        self.add(u64::from(i));
    }
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }
    fn write_u128(&mut self, i: u128) {
        self.add(i as u64);
        self.add((i >> 64) as u64);
    }
    fn write_usize(&mut self, i: usize) {
        self.add(i as u64);
    }
    fn finish(&self) -> u64 {
        // The multiply leaves the low bits weak, and hashbrown picks buckets with them: fold
        // the high half down (the finalizer of MurmurHash3, cut short).
        let h = self.0;
        h ^ (h >> 29) ^ (h >> 47)
    }
}

impl FxHasher {
    fn add(&mut self, w: u64) {
        self.0 = (self.0.rotate_left(5) ^ w).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Query {
        Query::parse(s)
    }

    fn keys(r: &Ranked) -> Vec<u32> {
        r.iter().map(|&(_, k)| k).collect()
    }

    #[test]
    fn rarer_terms_and_shorter_documents_score_higher() {
        let mut ix = Index::default();
        ix.add(1, "apple banana");
        ix.add(2, "apple cherry");
        ix.add(3, "apple banana cherry durian elderberry fig grape");
        let r = ix.search(&q("cherry"), |_| true, |_| true, 10);
        assert_eq!(keys(&r), [2, 3], "shorter document wins: {r:?}");
        assert!(r[0].0 > r[1].0);
        let r = ix.search(&q("apple banana"), |_| true, |_| true, 10);
        assert_eq!(keys(&r)[0], 1, "{r:?}");
        let r = ix.search(&q("apple"), |_| true, |_| true, 10);
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|&(s, _)| s > 0.0));
        assert_eq!(ix.search(&q("apple"), |_| true, |_| true, 2).len(), 2);
    }

    #[test]
    fn ties_go_to_the_latest_written() {
        let mut ix = Index::default();
        let first = ix.add(1, "same words");
        ix.add(2, "same words");
        ix.add(3, "same words");
        assert_eq!(
            keys(&ix.search(&q("same"), |_| true, |_| true, 10)),
            [3, 2, 1]
        );
        // Re-indexing (a new version) makes a document the latest written.
        ix.remove(first, "same words");
        ix.add(1, "same words");
        assert_eq!(
            keys(&ix.search(&q("same"), |_| true, |_| true, 10)),
            [1, 3, 2]
        );
    }

    #[test]
    fn removal_forgets_postings_and_lengths() {
        let mut ix = Index::default();
        let one = ix.add(1, "alpha beta");
        let two = ix.add(2, "alpha gamma gamma");
        ix.remove(one, "alpha beta");
        assert!(ix.search(&q("beta"), |_| true, |_| true, 10).is_empty());
        assert_eq!(keys(&ix.search(&q("alpha"), |_| true, |_| true, 10)), [2]);
        assert_eq!((ix.live, ix.total_len), (1, 3));
        ix.remove(two, "alpha gamma gamma");
        ix.remove(two, "alpha gamma gamma"); // twice is harmless
        assert_eq!((ix.live, ix.total_len), (0, 0));
        assert!(ix.search(&q("alpha"), |_| true, |_| true, 10).is_empty());
        // A document without a single word is counted, and removed, like any other.
        let three = ix.add(3, "?!");
        assert_eq!(ix.live, 1);
        ix.remove(three, "?!");
        assert_eq!(ix.live, 0);
    }

    #[test]
    fn appended_indexes_search_like_one() {
        let texts = [
            "red fox",
            "blue fox jumps",
            "red red sky",
            "sky blue",
            "fox",
        ];
        let mut one = Index::default();
        for (i, t) in texts.iter().enumerate() {
            one.add(i as u32 + 10, t);
        }
        let mut a = Index::default();
        let mut b = Index::default();
        for (i, t) in texts.iter().enumerate() {
            let ix = if i < 2 { &mut a } else { &mut b };
            ix.add(i as u32 + 10, t);
        }
        a.append(b);
        for query in ["fox", "red sky", "blue", "fox jumps sky"] {
            assert_eq!(
                a.search(&q(query), |_| true, |_| true, 10),
                one.search(&q(query), |_| true, |_| true, 10),
                "{query}"
            );
        }
        a.remove(2, "red red sky"); // the third document's slot
        assert_eq!(keys(&a.search(&q("red"), |_| true, |_| true, 10)), [10]);
    }

    #[test]
    fn postings_are_varints_and_dead_ones_go() {
        let mut ix = Index::default();
        let slots: Vec<u32> = (0..300).map(|i| ix.add(i, "common word")).collect();
        ix.add(1000, &"repeated ".repeat(300));
        let common = ix.term_id("common").unwrap() as usize;
        // One byte per posting of a term in every document.
        assert_eq!(ix.postings[common].bytes.len(), 300);
        let rep = ix.term_id("repeated").unwrap() as usize;
        assert_eq!(ix.postings[rep].iter().collect::<Vec<_>>(), [(300, 300)]);
        // Removing most documents rewrites the list once dead postings dominate.
        for &s in &slots[..200] {
            ix.remove(s, "common word");
        }
        let list = &ix.postings[common];
        assert_eq!(list.df, 100);
        assert!(
            list.count <= 2 * list.df + 8,
            "{} postings kept",
            list.count
        );
        assert_eq!(search(&ix, "common").len(), 10);
        let all = ix.search(&q("common"), |_| true, |_| true, 1000);
        assert_eq!(keys(&all), (200..300).rev().collect::<Vec<u32>>());
        // Compaction renumbers the slots and keeps the order and scores.
        let map = ix.compact();
        assert_eq!(map[0], NO_SLOT);
        assert_eq!(map[250], 50);
        assert_eq!(ix.dead_slots(), 0);
        assert_eq!(ix.search(&q("common"), |_| true, |_| true, 1000), all);
        ix.remap_rows(|r| r + 1);
        assert_eq!(
            keys(&ix.search(&q("repeated"), |_| true, |_| true, 10)),
            [1001]
        );
    }

    #[test]
    fn a_snapshot_of_the_index_reads_back_the_same_and_damage_is_refused() {
        let mut ix = Index::default();
        for (i, t) in ["red fox", "blue fox jumps", "red red sky", "sky blue"]
            .iter()
            .enumerate()
        {
            ix.add(i as u32, t);
        }
        ix.remove(1, "blue fox jumps");
        let mut bytes = Vec::new();
        ix.write_to(&mut Enc::new(&mut bytes)).unwrap();
        let read = |b: &[u8], rows: usize| Index::read_from(&mut Dec::new(b), rows);
        let back = read(&bytes, 4).unwrap();
        for query in ["fox", "red sky", "blue", "fox jumps sky", "sk", "redd"] {
            assert_eq!(
                back.search(&q(query), |_| true, |_| true, 10),
                ix.search(&q(query), |_| true, |_| true, 10),
                "{query}"
            );
        }
        assert!(read(&bytes, 3)
            .err()
            .unwrap_or_default()
            .contains("names row 3"));
        // Every single-byte change and every cut is refused or reads back a valid index
        // (never a panic).
        for i in 0..bytes.len() {
            let mut b = bytes.clone();
            b[i] ^= 0x41;
            if let Ok(ix) = read(&b, 4) {
                let _ = ix.search(&q("fox red sky blue jumps"), |_| true, |_| true, 10);
            }
            assert!(read(&bytes[..i], 4).is_err(), "cut at {i}");
        }
    }

    #[test]
    fn accept_filters() {
        let mut ix = Index::default();
        ix.add(1, "same words");
        ix.add(2, "same words");
        assert_eq!(keys(&ix.search(&q("same"), |k| k == 1, |_| true, 10)), [1]);
    }

    fn search(ix: &Index, query: &str) -> Vec<u32> {
        keys(&ix.search(&q(query), |_| true, |_| true, 10))
    }

    #[test]
    fn exact_matches_outrank_variants_of_the_same_word() {
        let mut ix = Index::default();
        ix.add(1, "runs fast");
        ix.add(2, "running fast");
        ix.add(3, "runner fast");
        ix.add(4, "running fast");
        ix.add(5, "rnuning fast");
        // Exact (2, 4), stem (1), prefix (3), typo (5); a rarer variant does not win.
        assert_eq!(search(&ix, "running"), [4, 2, 1, 5]);
        assert_eq!(search(&ix, "runn"), [3, 4, 2]);
        let r = ix.search(&q("running"), |_| true, |_| true, 10);
        assert!(r[1].0 > r[2].0 && r[2].0 > r[3].0, "{r:?}");
        // With no exact match the stem variants are the best there is.
        assert_eq!(search(&ix, "ran"), [1, 4, 2]);
    }

    #[test]
    fn prefixes_for_the_last_word_or_a_word_with_no_match() {
        let mut ix = Index::default();
        ix.add(1, "restaurant booking");
        ix.add(2, "cat");
        ix.add(3, "category");
        assert_eq!(search(&ix, "restaur"), [1]);
        assert_eq!(search(&ix, "restaur cat")[2], 3, "the exact cat first");
        // "cat" is not last and has an exact match: no prefix matches for it.
        let mut got = search(&ix, "cat restaur");
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
        assert!(search(&ix, "re").is_empty(), "prefixes need 3 characters");
        assert!(search(&ix, "xyz").is_empty());
    }

    #[test]
    fn typos_need_five_letters() {
        let mut ix = Index::default();
        ix.add(1, "restaurant");
        ix.add(2, "house");
        ix.add(3, "cat");
        ix.add(4, "w2999");
        assert_eq!(search(&ix, "resturant"), [1]);
        assert_eq!(search(&ix, "hosue"), [2]);
        assert_eq!(search(&ix, "ouse"), Vec::<u32>::new());
        assert_eq!(search(&ix, "hous"), [2], "a prefix, not a typo");
        assert!(search(&ix, "cot").is_empty());
        assert!(search(&ix, "w2998").is_empty(), "not for codes");
        // First-letter edits too.
        assert_eq!(search(&ix, "mouse"), [2]);
        assert_eq!(search(&ix, "estaurant"), [1]);
        assert_eq!(search(&ix, "erstaurant"), [1]);
    }

    #[test]
    fn exclusions_and_phrases() {
        let mut ix = Index::default();
        ix.add(1, "python snake");
        ix.add(2, "python code");
        ix.add(3, "python snakes");
        assert_eq!(search(&ix, "python -snake"), [2]);
        assert!(search(&ix, "-python").is_empty());
        // Phrase verification is the caller's `verify`, asked best first until `limit`.
        let asked = std::cell::RefCell::new(Vec::new());
        let r = ix.search(
            &q("\"python code\""),
            |_| true,
            |k| {
                asked.borrow_mut().push(k);
                k == 2
            },
            1,
        );
        assert_eq!(keys(&r), [2]);
        assert_eq!(asked.borrow()[0], 2, "best first");
        // Phrase words are matched exactly.
        assert_eq!(search(&ix, "\"snake\""), [1]);
    }

    #[test]
    fn the_lexicon_follows_adds_and_appends() {
        let mut ix = Index::default();
        ix.add(1, "alpha");
        assert!(search(&ix, "bet").is_empty()); // builds the lexicon
        ix.add(2, "beta betamax");
        ix.add(3, "aardvark zebra");
        assert_eq!(search(&ix, "bet"), [2]);
        assert_eq!(search(&ix, "zeb"), [3]);
        assert_eq!(search(&ix, "aard"), [3]);
        let mut other = Index::default();
        other.add(4, "gamma");
        ix.append(other);
        assert_eq!(search(&ix, "gam"), [4]);
        let slot = ix.add(5, "gambit");
        assert_eq!(search(&ix, "gam"), [5, 4]);
        // Removed documents' terms stay in the dictionary but match nothing.
        ix.remove(slot, "gambit");
        assert_eq!(search(&ix, "gamb"), Vec::<u32>::new());
    }
}
