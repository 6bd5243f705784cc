//! What a search query asks for, and running it against the brain's state.
//!
//! Syntax, as a person types it:
//! - plain words are OR'ed and ranked by BM25; each also matches its stem variants
//!   (`running` finds `runs`, see [`super::text::stem`]), words of five letters or more also
//!   match terms one edit away (`resturant` finds `restaurant`), and the last word, or any word
//!   with no exact or stem match in the notes, also matches as a prefix (`restaur`). The index
//!   scores every such variant below an exact match of the same word;
//! - `"an exact phrase"` matches only notes whose text has these words in this order, next to
//!   each other (after the tokenizer's case and accent folding; punctuation between them does
//!   not matter); its words are matched exactly, without variants. A quoted single word
//!   must appear as it is;
//! - `-word` leaves out notes containing the word or one of its stem variants, and
//!   `-"a phrase"` notes containing the phrase. A `-` inside a word (`e-mail`) or before
//!   something that is not a letter, digit or quote is an ordinary separator.
//!
//! A query with nothing but exclusions (or no words at all) matches nothing.

use super::state::State;
use super::text::{for_each_term, terms};

/// One positive query word.
#[derive(Debug, Clone, PartialEq)]
pub struct Word {
    /// As the tokenizer folds it.
    pub term: String,
    /// From a phrase: match this term only, no stem, prefix or typo variants.
    pub exact: bool,
    /// The last plain word of the query: prefix matches are always tried.
    pub last: bool,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Query {
    /// Positive words (plain and phrase words), in order, each once.
    pub words: Vec<Word>,
    /// Phrases a note must contain (each of one or more terms).
    pub phrases: Vec<Vec<String>>,
    /// Terms whose notes (with any stem variant) are left out.
    pub excluded: Vec<String>,
    /// Phrases whose notes are left out.
    pub excluded_phrases: Vec<Vec<String>>,
}

impl Query {
    pub fn parse(query: &str) -> Query {
        let mut q = Query::default();
        let mut plain: Vec<String> = Vec::new();
        let mut rest = query;
        while let Some(c) = rest.chars().next() {
            if c.is_whitespace() {
                rest = &rest[c.len_utf8()..];
                continue;
            }
            let negated = c == '-'
                && rest[1..]
                    .chars()
                    .next()
                    .is_some_and(|n| n == '"' || n.is_alphanumeric());
            if negated {
                rest = &rest[1..];
            }
            if let Some(after) = rest.strip_prefix('"') {
                // A phrase runs to the next quote (or the end of the query).
                let (inner, next) = after.split_once('"').unwrap_or((after, ""));
                rest = next;
                let phrase = terms(inner);
                if phrase.is_empty() {
                    continue;
                }
                if negated {
                    q.excluded_phrases.push(phrase);
                } else {
                    for t in &phrase {
                        q.push_word(t, true);
                    }
                    q.phrases.push(phrase);
                }
                continue;
            }
            // A token runs to the next whitespace or quote.
            let end = rest
                .find(|c: char| c.is_whitespace() || c == '"')
                .unwrap_or(rest.len());
            let (token, next) = rest.split_at(end);
            rest = next;
            for t in terms(token) {
                if negated {
                    if !q.excluded.contains(&t) {
                        q.excluded.push(t);
                    }
                } else {
                    q.push_word(&t, false);
                    plain.push(t);
                }
            }
        }
        if let Some(last) = plain.last() {
            for w in q.words.iter_mut().filter(|w| !w.exact && w.term == *last) {
                w.last = true;
            }
        }
        q
    }

    fn push_word(&mut self, term: &str, exact: bool) {
        match self.words.iter_mut().find(|w| w.term == term) {
            // A word both quoted and plain is matched exactly only where the phrase is; as a
            // plain word it keeps its variants.
            Some(w) => w.exact &= exact,
            None => self.words.push(Word {
                term: term.to_string(),
                exact,
                last: false,
            }),
        }
    }

    /// Nothing to look for: no positive word (an all-exclusion query matches nothing).
    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// Whether matches must be checked against their text (phrases).
    pub fn has_phrases(&self) -> bool {
        !self.phrases.is_empty() || !self.excluded_phrases.is_empty()
    }

    /// Whether `text` has every required phrase and no excluded one.
    pub fn phrases_match(&self, text: &str) -> bool {
        if !self.has_phrases() {
            return true;
        }
        let mut words: Vec<String> = Vec::new();
        for_each_term(text, &mut String::new(), |t| words.push(t.to_string()));
        let has = |p: &Vec<String>| words.windows(p.len()).any(|w| w == p.as_slice());
        self.phrases.iter().all(has) && !self.excluded_phrases.iter().any(has)
    }
}

/// Whether the note in `row` of `state` has the phrases `query` asks for (the `verify` of
/// [`super::index::Index::search`]): its text is read back from the log.
pub(super) fn phrases_in_note(state: &State, query: &Query, row: u32) -> bool {
    state
        .note(row)
        .is_some_and(|n| query.phrases_match(&n.text))
}

/// The relevance test set of `tests/relevance/` (its runner is shared with
/// `examples/relevance.rs`).
#[cfg(test)]
#[path = "../../tests/relevance/runner.rs"]
mod relevance;

#[cfg(test)]
mod tests {
    use super::*;

    fn w(term: &str, exact: bool, last: bool) -> Word {
        Word {
            term: term.into(),
            exact,
            last,
        }
    }

    #[test]
    fn parses_words_phrases_and_exclusions() {
        let q = Query::parse(r#"Python  "Spare KEY" -snake -"hot sauce" e-mail Café"#);
        assert_eq!(
            q.words,
            [
                w("python", false, false),
                w("spare", true, false),
                w("key", true, false),
                w("e", false, false),
                w("mail", false, false),
                w("cafe", false, true),
            ]
        );
        assert_eq!(q.phrases, [vec!["spare".to_string(), "key".into()]]);
        assert_eq!(q.excluded, ["snake"]);
        assert_eq!(
            q.excluded_phrases,
            [vec!["hot".to_string(), "sauce".into()]]
        );
    }

    #[test]
    fn edge_cases() {
        assert!(Query::parse("").is_empty());
        assert!(Query::parse("  -snake -\"a b\"").is_empty());
        assert!(Query::parse("\"\" - -- ?!").is_empty());
        // An unclosed quote runs to the end; a lone or doubled dash is a separator.
        let q = Query::parse("\"new york");
        assert_eq!(q.phrases, [vec!["new".to_string(), "york".into()]]);
        let q = Query::parse("a - b --c -5");
        assert_eq!(q.excluded, ["5"]);
        assert_eq!(q.words.len(), 3);
        // Repeated words count once; a word quoted and plain keeps its variants.
        let q = Query::parse("key \"key\" key");
        assert_eq!(q.words, [w("key", false, true)]);
        // The prefix word is the last plain word, not a phrase's.
        let q = Query::parse("restaur \"thai food\"");
        assert!(q.words[0].last && !q.words[1].last);
    }

    #[test]
    fn phrases_are_checked_against_folded_text() {
        let q = Query::parse("\"spare key\" -\"key lime\"");
        assert!(q.phrases_match("The SPARE, key is under the pot"));
        assert!(!q.phrases_match("the key spare"));
        assert!(!q.phrases_match("spare key and key lime pie"));
        assert!(Query::parse("\"cafe zoe\"").phrases_match("Café Zoë"));
        assert!(Query::parse("plain").phrases_match("anything"));
    }

    /// The relevance test set through a real brain: prints the figures and holds a floor.
    #[test]
    fn relevance_floor() {
        let dir = std::env::temp_dir().join(format!("brain-test-{}-relevance", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let brain = super::super::Brain::open(&dir).expect("open a brain in a temp dir");
        let f = relevance::evaluate(
            relevance::NOTES,
            relevance::QUERIES,
            |text, tags| {
                brain
                    .remember(text, tags)
                    .map(|n| n.id)
                    .map_err(|e| e.to_string())
            },
            |q| {
                brain
                    .search(q, None, 10)
                    .into_iter()
                    .map(|h| h.note.id)
                    .collect()
            },
        );
        drop(brain);
        let _ = std::fs::remove_dir_all(&dir);
        let f = f.expect("the relevance test set loads");
        for m in &f.misses {
            println!("miss: {m}");
        }
        println!(
            "relevance: top1 {}/{} top3 {}/{}",
            f.top1, f.queries, f.top3, f.queries
        );
        assert!(f.queries >= 50);
        assert!(
            f.top1 >= 60 && f.top3 >= 63,
            "relevance fell below its floor"
        );
    }
}
