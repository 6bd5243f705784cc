//! The in-memory inverted index behind `search`: BM25 (k1 = 1.2, b = 0.75) over the terms of
//! [`super::text::for_each_term`].
//!
//! Every indexing of a document gets the next dense slot number, so posting lists are sorted
//! by slot (removal is a binary search), scores accumulate in a plain array, and a higher slot
//! means more recently written (the recency tie-break needs no lookup). Slots of removed
//! documents are not reused; they cost 16 bytes each until the next `open` rebuilds the index.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

use super::text::for_each_term;

const K1: f32 = 1.2;
const B: f32 = 0.75;

#[derive(Clone, Copy)]
struct Posting {
    slot: u32,
    tf: u32,
}

#[derive(Clone, Copy)]
struct Doc {
    key: u64,
    /// Length in terms; `u32::MAX` marks a removed document.
    len: u32,
}

const REMOVED: u32 = u32::MAX;

/// A `HashMap` with [`FxHasher`].
pub type FxHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

#[derive(Default)]
pub struct Index {
    /// Term → term id. Terms of up to 15 bytes (nearly all words) are keys packed into an
    /// integer, so a lookup compares integers instead of chasing a pointer to the key's bytes:
    /// that lookup is the inner loop of building the index at `open`.
    short_terms: FxHashMap<u128, u32>,
    long_terms: FxHashMap<String, u32>,
    postings: Vec<Vec<Posting>>,
    docs: Vec<Doc>,
    slot_of: FxHashMap<u64, u32>,
    live: u64,
    total_len: u64,
    /// Scratch buffers reused by `add`/`remove` (both run under the state's write lock).
    scratch: String,
    ids: Vec<u32>,
}

/// One search's matches, best first: `(score, key)` with ties going to the later-written
/// document. Scores are BM25 rounded to 3 decimals.
pub type Ranked = Vec<(f64, u64)>;

impl Index {
    /// Indexes `text` as the document `key` (replacing nothing: remove an old version first).
    pub fn add(&mut self, key: u64, text: &str) {
        let Ok(slot) = u32::try_from(self.docs.len()) else {
            return; // 4 billion writes without a restart; search just stops seeing new notes.
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
            self.postings[run[0] as usize].push(Posting {
                slot,
                tf: run.len() as u32,
            });
        }
        self.docs.push(Doc { key, len });
        self.slot_of.insert(key, slot);
        self.live += 1;
        self.total_len += u64::from(len);
        self.ids = ids;
        self.scratch = scratch;
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
            self.postings.push(Vec::new());
        }
        id
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
                self.postings.push(Vec::new());
            }
            self.postings[id as usize].extend(list.into_iter().map(|p| Posting {
                slot: p.slot + offset,
                tf: p.tf,
            }));
        }
        self.slot_of
            .extend(other.slot_of.into_iter().map(|(k, s)| (k, s + offset)));
        self.docs.extend(other.docs);
        self.live += other.live;
        self.total_len += other.total_len;
    }

    /// Removes the document `key`, which was added with this same `text`.
    pub fn remove(&mut self, key: u64, text: &str) {
        let Some(slot) = self.slot_of.remove(&key) else {
            return;
        };
        let mut scratch = std::mem::take(&mut self.scratch);
        for_each_term(text, &mut scratch, |t| {
            if let Some(id) = self.term_id(t) {
                let list = &mut self.postings[id as usize];
                if let Ok(at) = list.binary_search_by_key(&slot, |p| p.slot) {
                    list.remove(at);
                }
            }
        });
        self.scratch = scratch;
        if let Some(d) = self.docs.get_mut(slot as usize) {
            self.live = self.live.saturating_sub(1);
            self.total_len = self.total_len.saturating_sub(u64::from(d.len));
            d.len = REMOVED;
        }
    }

    /// The `limit` best documents matching at least one of `terms` (OR) among those `accept`
    /// lets through, with a score above zero. Repeated query terms count once.
    pub fn search(&self, terms: &[String], accept: impl Fn(u64) -> bool, limit: usize) -> Ranked {
        if self.live == 0 || limit == 0 {
            return Vec::new();
        }
        let n = self.live as f32;
        let avg_len = (self.total_len as f32 / n).max(1.0);
        let mut scores = vec![0f32; self.docs.len()];
        let mut seen: Vec<u32> = Vec::new();
        for t in terms {
            let Some(id) = self.term_id(t) else {
                continue;
            };
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let list = &self.postings[id as usize];
            let df = list.len() as f32;
            // The "+1" form of IDF (Lucene's): never negative, so a term in most notes still
            // adds a little instead of pushing matches below zero.
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for p in list {
                let Some(doc) = self.docs.get(p.slot as usize) else {
                    continue;
                };
                let tf = p.tf as f32;
                let norm = K1 * (1.0 - B + B * doc.len as f32 / avg_len);
                scores[p.slot as usize] += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        let mut hits: Vec<(f64, u32)> = scores
            .iter()
            .enumerate()
            .filter(|&(_, &s)| s > 0.0)
            .filter_map(|(slot, &s)| {
                let score = (f64::from(s) * 1000.0).round() / 1000.0;
                let doc = self.docs.get(slot)?;
                (score > 0.0 && doc.len != REMOVED && accept(doc.key))
                    .then_some((score, slot as u32))
            })
            .collect();
        let best_first = |a: &(f64, u32), b: &(f64, u32)| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1));
        if hits.len() > limit {
            hits.select_nth_unstable_by(limit - 1, best_first);
            hits.truncate(limit);
        }
        hits.sort_unstable_by(best_first);
        hits.into_iter()
            .filter_map(|(score, slot)| Some((score, self.docs.get(slot as usize)?.key)))
            .collect()
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

    fn q(s: &str) -> Vec<String> {
        super::super::text::terms(s)
    }

    fn keys(r: &Ranked) -> Vec<u64> {
        r.iter().map(|&(_, k)| k).collect()
    }

    #[test]
    fn rarer_terms_and_shorter_documents_score_higher() {
        let mut ix = Index::default();
        ix.add(1, "apple banana");
        ix.add(2, "apple cherry");
        ix.add(3, "apple banana cherry durian elderberry fig grape");
        let r = ix.search(&q("cherry"), |_| true, 10);
        assert_eq!(keys(&r), [2, 3], "shorter document wins: {r:?}");
        assert!(r[0].0 > r[1].0);
        let r = ix.search(&q("apple banana"), |_| true, 10);
        assert_eq!(keys(&r)[0], 1, "{r:?}");
        let r = ix.search(&q("apple"), |_| true, 10);
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|&(s, _)| s > 0.0));
        assert_eq!(ix.search(&q("apple"), |_| true, 2).len(), 2);
    }

    #[test]
    fn ties_go_to_the_latest_written() {
        let mut ix = Index::default();
        ix.add(1, "same words");
        ix.add(2, "same words");
        ix.add(3, "same words");
        assert_eq!(keys(&ix.search(&q("same"), |_| true, 10)), [3, 2, 1]);
        // Re-indexing (a new version) makes a document the latest written.
        ix.remove(1, "same words");
        ix.add(1, "same words");
        assert_eq!(keys(&ix.search(&q("same"), |_| true, 10)), [1, 3, 2]);
    }

    #[test]
    fn removal_forgets_postings_and_lengths() {
        let mut ix = Index::default();
        ix.add(1, "alpha beta");
        ix.add(2, "alpha gamma gamma");
        ix.remove(1, "alpha beta");
        assert!(ix.search(&q("beta"), |_| true, 10).is_empty());
        assert_eq!(keys(&ix.search(&q("alpha"), |_| true, 10)), [2]);
        assert_eq!((ix.live, ix.total_len), (1, 3));
        ix.remove(2, "alpha gamma gamma");
        ix.remove(2, "alpha gamma gamma"); // twice is harmless
        assert_eq!((ix.live, ix.total_len), (0, 0));
        assert!(ix.search(&q("alpha"), |_| true, 10).is_empty());
        // A document without a single word is counted, and removed, like any other.
        ix.add(3, "?!");
        assert_eq!(ix.live, 1);
        ix.remove(3, "?!");
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
            one.add(i as u64 + 10, t);
        }
        let mut a = Index::default();
        let mut b = Index::default();
        for (i, t) in texts.iter().enumerate() {
            let ix = if i < 2 { &mut a } else { &mut b };
            ix.add(i as u64 + 10, t);
        }
        a.append(b);
        for query in ["fox", "red sky", "blue", "fox jumps sky"] {
            assert_eq!(
                a.search(&q(query), |_| true, 10),
                one.search(&q(query), |_| true, 10),
                "{query}"
            );
        }
        a.remove(12, "red red sky");
        assert_eq!(keys(&a.search(&q("red"), |_| true, 10)), [10]);
    }

    #[test]
    fn accept_filters() {
        let mut ix = Index::default();
        ix.add(1, "same words");
        ix.add(2, "same words");
        assert_eq!(keys(&ix.search(&q("same"), |k| k == 1, 10)), [1]);
    }
}
