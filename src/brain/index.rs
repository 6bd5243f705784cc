//! The in-memory inverted index behind `search`: BM25 (k1 = 1.2, b = 0.75) over the terms of
//! [`super::text::for_each_term`].
//!
//! Documents are keyed by the note's creation sequence number. Sequence numbers only grow, so
//! every posting list is sorted by document and a removal is a binary search.

use std::collections::HashMap;

use super::text::for_each_term;

const K1: f64 = 1.2;
const B: f64 = 0.75;

#[derive(Clone, Copy)]
struct Posting {
    doc: u64,
    tf: u32,
    /// The document's length in terms, here so scoring needs no second lookup.
    len: u32,
}

#[derive(Default)]
pub struct Index {
    terms: HashMap<String, u32>,
    postings: Vec<Vec<Posting>>,
    docs: u64,
    total_len: u64,
    /// Scratch buffers reused by `add`/`remove` (both run under the state's write lock).
    scratch: String,
    ids: Vec<u32>,
}

impl Index {
    /// Indexes `text` as document `doc`; `doc` must be greater than every document added before.
    pub fn add(&mut self, doc: u64, text: &str) {
        let mut ids = std::mem::take(&mut self.ids);
        let mut scratch = std::mem::take(&mut self.scratch);
        ids.clear();
        for_each_term(text, &mut scratch, |t| {
            let id = match self.terms.get(t) {
                Some(&id) => id,
                None => {
                    let id = self.postings.len() as u32;
                    self.terms.insert(t.to_string(), id);
                    self.postings.push(Vec::new());
                    id
                }
            };
            ids.push(id);
        });
        let len = u32::try_from(ids.len()).unwrap_or(u32::MAX);
        ids.sort_unstable();
        let mut i = 0;
        while i < ids.len() {
            let id = ids[i];
            let start = i;
            while i < ids.len() && ids[i] == id {
                i += 1;
            }
            let list = &mut self.postings[id as usize];
            let p = Posting {
                doc,
                tf: (i - start) as u32,
                len,
            };
            // Sorted by doc: append when newest (always, in practice), insert otherwise.
            match list.last() {
                Some(last) if last.doc >= doc => {
                    let at = list.partition_point(|q| q.doc < doc);
                    list.insert(at, p);
                }
                _ => list.push(p),
            }
        }
        self.docs += 1;
        self.total_len += u64::from(len);
        self.ids = ids;
        self.scratch = scratch;
    }

    /// Removes document `doc`, which was added with this same `text`.
    pub fn remove(&mut self, doc: u64, text: &str) {
        let mut scratch = std::mem::take(&mut self.scratch);
        let mut len = 0u64;
        for_each_term(text, &mut scratch, |t| {
            len += 1;
            if let Some(&id) = self.terms.get(t) {
                let list = &mut self.postings[id as usize];
                if let Ok(at) = list.binary_search_by_key(&doc, |p| p.doc) {
                    list.remove(at);
                }
            }
        });
        self.scratch = scratch;
        self.docs = self.docs.saturating_sub(1);
        self.total_len = self.total_len.saturating_sub(len);
    }

    /// BM25 scores of every document matching at least one of `terms` (OR), for the documents
    /// `accept` lets through. Repeated query terms count once.
    pub fn score(&self, terms: &[String], accept: impl Fn(u64) -> bool) -> HashMap<u64, f64> {
        let mut scores: HashMap<u64, f64> = HashMap::new();
        if self.docs == 0 {
            return scores;
        }
        let n = self.docs as f64;
        let avg_len = (self.total_len as f64 / n).max(1.0);
        let mut seen: Vec<u32> = Vec::new();
        for t in terms {
            let Some(&id) = self.terms.get(t.as_str()) else {
                continue;
            };
            if seen.contains(&id) {
                continue;
            }
            seen.push(id);
            let list = &self.postings[id as usize];
            if list.is_empty() {
                continue;
            }
            let df = list.len() as f64;
            // The "+1" form of IDF (Lucene's): never negative, so a term in most notes still
            // adds a little instead of pushing matches below zero.
            let idf = (1.0 + (n - df + 0.5) / (df + 0.5)).ln();
            for p in list {
                if !accept(p.doc) {
                    continue;
                }
                let tf = f64::from(p.tf);
                let norm = K1 * (1.0 - B + B * f64::from(p.len) / avg_len);
                *scores.entry(p.doc).or_insert(0.0) += idf * tf * (K1 + 1.0) / (tf + norm);
            }
        }
        scores
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(s: &str) -> Vec<String> {
        super::super::text::terms(s)
    }

    #[test]
    fn rarer_terms_and_shorter_documents_score_higher() {
        let mut ix = Index::default();
        ix.add(1, "apple banana");
        ix.add(2, "apple cherry");
        ix.add(3, "apple banana cherry durian elderberry fig grape");
        let s = ix.score(&q("cherry"), |_| true);
        assert_eq!(s.len(), 2);
        assert!(s[&2] > s[&3], "shorter document wins: {s:?}");
        let s = ix.score(&q("apple banana"), |_| true);
        assert!(s[&1] > s[&2], "{s:?}");
        let s = ix.score(&q("apple"), |_| true);
        assert!(s.values().all(|&v| v > 0.0));
    }

    #[test]
    fn removal_forgets_postings_and_lengths() {
        let mut ix = Index::default();
        ix.add(1, "alpha beta");
        ix.add(2, "alpha gamma gamma");
        ix.remove(1, "alpha beta");
        assert!(ix.score(&q("beta"), |_| true).is_empty());
        assert_eq!(ix.score(&q("alpha"), |_| true).len(), 1);
        assert_eq!((ix.docs, ix.total_len), (1, 3));
        ix.remove(2, "alpha gamma gamma");
        assert_eq!((ix.docs, ix.total_len), (0, 0));
        assert!(ix.score(&q("alpha"), |_| true).is_empty());
    }

    #[test]
    fn accept_filters() {
        let mut ix = Index::default();
        ix.add(1, "same words");
        ix.add(2, "same words");
        let s = ix.score(&q("same"), |d| d == 2);
        assert_eq!(s.keys().copied().collect::<Vec<_>>(), [2]);
    }
}
