//! Snippets: a short window of a note around what matched, so that `search` answers stay
//! small and the whole note is one `recall` away; and titles, the first words of a note,
//! which `search` and `fetch` show (ChatGPT cites a result by its title and url).

use std::borrow::Cow;
use std::ops::Range;

use super::query::Query;
use super::text::{for_each_term_at, one_edit_apart, stem};

/// At most `max_chars` characters of `text` (plus marks and ellipses) around the densest
/// cluster of what `query` matches, with matched words marked `**like this**`, cut at word
/// boundaries with `…` where text was left out, and whitespace runs shown as one space.
///
/// A word of the note matches a query word as search matches it (see [`super::query`]): the
/// same word after case and accent folding, a stem variant, a word it starts (for the query's
/// last word, or a word with no exact or stem match in this note), or one edit away (query
/// words of five letters or more). A quoted phrase is marked where it occurs, as one span;
/// excluded words are not marked. Stop words (`the`, `is`, `of`, see [`STOP_WORDS`]) are not
/// marked either, neither as query words nor as words of the note, unless the query has
/// nothing else (`the who` still marks both); a phrase is marked whole, its stop words too.
/// Ranking is not affected: search scores stop words as BM25 does (their idf is low anyway).
/// The densest cluster is the window covering the most different query words, then the most
/// matches; the earliest wins ties. With no match, the snippet is the start of the note.
pub fn snippet(text: &str, query: &str, max_chars: usize) -> String {
    let q = Query::parse(query);
    let mut toks = Tokens::default();
    for_each_term_at(text, &mut String::new(), |t, r| {
        let at = toks.arena.len();
        toks.arena.push_str(t);
        toks.list.push((at..toks.arena.len(), r));
    });
    let units = matches(&q, &toks);

    // Char index of every char boundary, to measure in characters.
    let mut bounds: Vec<usize> = text.char_indices().map(|(b, _)| b).collect();
    bounds.push(text.len());
    let char_at = |byte: usize| bounds.partition_point(|&b| b < byte);
    let total = bounds.len() - 1;

    // The densest cluster: two pointers over the match units, in text order.
    let spans: Vec<(usize, usize, &[usize])> = units
        .iter()
        .map(|u| (char_at(u.start), char_at(u.end), u.words.as_slice()))
        .collect();
    let mut best: Option<(usize, usize, usize, usize)> = None; // (words, units, i, j)
    let mut count = vec![0usize; q.words.len()];
    let mut distinct = 0;
    let mut j = 0;
    for i in 0..spans.len() {
        while j < spans.len() && (j == i || spans[j].1 - spans[i].0 <= max_chars) {
            for &w in spans[j].2 {
                if count[w] == 0 {
                    distinct += 1;
                }
                count[w] += 1;
            }
            j += 1;
        }
        if best.is_none_or(|(d, n, _, _)| (distinct, j - i) > (d, n)) {
            best = Some((distinct, j - i, i, j));
        }
        for &w in spans[i].2 {
            count[w] -= 1;
            if count[w] == 0 {
                distinct -= 1;
            }
        }
    }
    let (cs, ce) = match best {
        Some((_, _, i, j)) => (spans[i].0, spans[j - 1].1),
        None => (0, 0),
    };

    // Spread the room left over evenly around the cluster, then cut at word boundaries.
    let slack = max_chars.saturating_sub(ce - cs);
    let mut ws = cs.saturating_sub(if best.is_some() { slack / 2 } else { 0 });
    // A single match longer than `max_chars` is shown whole.
    let mut we = (ws + max_chars).max(ce).min(total);
    ws = we.saturating_sub(max_chars).min(ws);
    let chars: Vec<char> = text.chars().collect();
    let alnum = |i: usize| chars.get(i).is_some_and(|c| c.is_alphanumeric());
    if ws > 0 && alnum(ws - 1) {
        while ws < cs && alnum(ws) {
            ws += 1;
        }
    }
    if we < total && alnum(we) {
        while we > ce.max(ws) && alnum(we - 1) {
            we -= 1;
        }
    }
    while ws < we && chars[ws].is_whitespace() {
        ws += 1;
    }
    while we > ws && chars[we - 1].is_whitespace() {
        we -= 1;
    }

    let (wb, eb) = (bounds[ws], bounds[we]);
    let mut out = String::new();
    if ws > 0 {
        out.push('…');
    }
    let mut at = wb;
    for u in units.iter().filter(|u| u.start >= wb && u.end <= eb) {
        push_text(&mut out, &text[at..u.start]);
        out.push_str("**");
        push_text(&mut out, &text[u.start..u.end]);
        out.push_str("**");
        at = u.end;
    }
    push_text(&mut out, &text[at..eb]);
    if we < total {
        out.push('…');
    }
    out
}

/// Appends `s` with every run of whitespace as one space.
fn push_text(out: &mut String, s: &str) {
    for c in s.chars() {
        if c.is_whitespace() {
            if !out.ends_with(' ') {
                out.push(' ');
            }
        } else {
            out.push(c);
        }
    }
}

/// The note's terms, in one buffer: (range in `arena`, byte range in the note).
#[derive(Default)]
struct Tokens {
    arena: String,
    list: Vec<(Range<usize>, Range<usize>)>,
}

impl Tokens {
    fn len(&self) -> usize {
        self.list.len()
    }

    fn term(&self, k: usize) -> &str {
        &self.arena[self.list[k].0.clone()]
    }

    fn span(&self, k: usize) -> &Range<usize> {
        &self.list[k].1
    }
}

/// A marked span: one word, or one occurrence of a phrase.
struct Unit {
    start: usize,
    end: usize,
    /// Indexes into the query's words.
    words: Vec<usize>,
}

/// What `q` matches among `toks` (terms with byte ranges), in text order, not overlapping.
fn matches(q: &Query, toks: &Tokens) -> Vec<Unit> {
    let mut of_tok: Vec<Option<usize>> = vec![None; toks.len()];
    let mut units: Vec<Unit> = Vec::new();
    let word_index = |t: &str| q.words.iter().position(|w| w.term == t);
    // Phrase occurrences first: they take their words.
    for p in &q.phrases {
        let mut i = 0;
        while i + p.len() <= toks.len() {
            let here = (i..i + p.len()).map(|k| toks.term(k)).eq(p.iter());
            if here && of_tok[i..i + p.len()].iter().all(Option::is_none) {
                for slot in &mut of_tok[i..i + p.len()] {
                    *slot = Some(units.len());
                }
                units.push(Unit {
                    start: toks.span(i).start,
                    end: toks.span(i + p.len() - 1).end,
                    words: p.iter().filter_map(|t| word_index(t)).collect(),
                });
                i += p.len();
            } else {
                i += 1;
            }
        }
    }
    let stems: Vec<Cow<str>> = q.words.iter().map(|w| stem(&w.term)).collect();
    let tok_stems: Vec<Cow<str>> = (0..toks.len()).map(|k| stem(toks.term(k))).collect();
    // "the key of the house" marks `key` and `house`; "the who" marks both (nothing else to mark).
    let skip_stop = q.words.iter().any(|w| !w.exact && !is_stop_word(&w.term));
    for (wi, w) in q.words.iter().enumerate() {
        if w.exact || (skip_stop && is_stop_word(&w.term)) {
            continue; // only where its phrase is; or a stop word
        }
        let direct = |k: usize| toks.term(k) == w.term || tok_stems[k] == stems[wi];
        let any_direct = (0..toks.len()).any(direct);
        let prefix = (w.last || !any_direct) && w.term.chars().count() >= 3;
        let typo = w.term.len() >= 5 && w.term.chars().all(char::is_alphabetic);
        for (k, taken) in of_tok.iter_mut().enumerate() {
            if taken.is_some() {
                continue;
            }
            let t = toks.term(k);
            // Nor is a stop word of the note marked as a variant of another word (`there` as a
            // prefix match of `the…`, `these` one edit from `theses`).
            if skip_stop && is_stop_word(t) {
                continue;
            }
            let hit = direct(k)
                || (prefix && t.starts_with(&w.term))
                || (typo && one_edit_apart(t.as_bytes(), w.term.as_bytes()));
            if hit {
                *taken = Some(units.len());
                units.push(Unit {
                    start: toks.span(k).start,
                    end: toks.span(k).end,
                    words: vec![wi],
                });
            }
        }
    }
    units.sort_by_key(|u| u.start);
    units
}

/// English words too common to be what a query is about, as the tokenizer folds them (lower
/// case, no accents), sorted for binary search: articles, pronouns, auxiliaries, prepositions
/// and conjunctions, taken from the classic lists (Lucene's English set, SMART, NLTK), the
/// question words a query typed as a question is full of (`where is the key`), and the `s` and
/// `t` the tokenizer leaves of `it's` and `don't`. Words that carry meaning in a note (`no`,
/// `not`, `before`, `after`) are not in it.
pub const STOP_WORDS: [&str; 73] = [
    "a", "about", "am", "an", "and", "any", "are", "as", "at", "be", "been", "being", "but", "by",
    "can", "could", "did", "do", "does", "for", "from", "had", "has", "have", "he", "her", "his",
    "how", "i", "if", "in", "into", "is", "it", "its", "me", "my", "of", "on", "or", "our", "s",
    "she", "should", "so", "t", "than", "that", "the", "their", "them", "then", "there", "these",
    "they", "this", "those", "to", "was", "we", "were", "what", "when", "where", "which", "who",
    "whom", "why", "will", "with", "would", "you", "your",
];

/// Whether `term` (folded as the tokenizer folds it) is one of [`STOP_WORDS`].
pub fn is_stop_word(term: &str) -> bool {
    STOP_WORDS.binary_search(&term).is_ok()
}

/// `# Heading` → `Heading`; `#hashtag` stays.
fn strip_heading(line: &str) -> &str {
    let rest = line.trim_start_matches('#');
    if rest.len() < line.len() && (rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        rest
    } else {
        line
    }
}

/// The most characters a title holds (then cut at a word boundary, with `…`).
pub const TITLE_CHARS: usize = 80;

/// A note's title: its first non-empty line with runs of whitespace as one space and a
/// Markdown heading's `#` marks dropped, cut to at most [`TITLE_CHARS`] characters at a word
/// boundary (then `…` is added); a first word longer than that is cut inside it. A note that
/// is all whitespace (none is: `remember` refuses empty text) would get `(empty note)`, so a
/// title is never empty.
pub fn title(text: &str) -> String {
    let line = text
        .lines()
        .map(|l| strip_heading(l.trim()).trim())
        .find(|l| !l.is_empty())
        .unwrap_or("");
    let mut words = line.split_whitespace();
    let Some(first) = words.next() else {
        return "(empty note)".to_string();
    };
    let mut out = String::new();
    let mut len = 0;
    for (i, w) in std::iter::once(first).chain(words).enumerate() {
        let n = w.chars().count();
        let sep = usize::from(i > 0);
        if len + sep + n > TITLE_CHARS {
            if i == 0 {
                // One word longer than a title: its first characters.
                out.extend(w.chars().take(TITLE_CHARS - 1));
            }
            out.push('…');
            return out;
        }
        if sep == 1 {
            out.push(' ');
        }
        out.push_str(w);
        len += sep + n;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Characters of the note shown: the snippet without marks and ellipses.
    fn shown(s: &str) -> usize {
        s.replace("**", "").replace('…', "").chars().count()
    }

    #[test]
    fn marks_and_cuts() {
        assert_eq!(snippet("The spare key", "key", 300), "The spare **key**");
        let long = format!("{} needle {}", "a ".repeat(250), "b ".repeat(250));
        let s = snippet(&long, "needle", 100);
        assert!(s.starts_with("…a") && s.ends_with("b…"), "{s}");
        assert!(s.contains(" **needle** "));
        assert!(shown(&s) <= 100);
    }

    #[test]
    fn marks_variants_ignoring_case_and_accents() {
        assert_eq!(
            snippet(
                "Baked sourdough at Café Zoë, then RAN home.",
                "baking cafe zoe running",
                300
            ),
            "**Baked** sourdough at **Café** **Zoë**, then **RAN** home."
        );
        // The last word as a prefix; a typo of a long word; not a short one.
        assert_eq!(
            snippet(
                "Thai restaurant, restaurants; the cat category",
                "resturant cat",
                300
            ),
            "Thai **restaurant**, restaurants; the **cat** **category**"
        );
        assert_eq!(snippet("the cot", "cat", 300), "the cot");
        // A non-last word is a prefix only when the note has no exact or stem match of it.
        assert_eq!(
            snippet("passport passports passphrase", "pass renew", 300),
            "**passport** **passports** **passphrase**"
        );
        assert_eq!(snippet("cat category", "cat dog", 300), "**cat** category");
    }

    #[test]
    fn phrases_and_exclusions() {
        assert_eq!(
            snippet("the key spare; the Spare  Key!", "\"spare key\"", 300),
            "the key spare; the **Spare Key**!"
        );
        assert_eq!(
            snippet("python snake, python code", "python -snake", 300),
            "**python** snake, **python** code"
        );
    }

    #[test]
    fn window_goes_to_the_densest_cluster_and_cuts_at_words() {
        let filler = "lorem ipsum dolor sit amet ".repeat(20);
        let text = format!("alpha first. {filler} then alpha and beta together. {filler}");
        let s = snippet(&text, "alpha beta", 120);
        assert!(s.contains("**alpha** and **beta**"), "{s}");
        assert!(s.starts_with('…') && s.ends_with('…'), "{s}");
        assert!(shown(&s) <= 120, "{s}");
        // Whole words at both edges.
        let inner = s.trim_matches('…').replace("**", "");
        for w in [inner.split(' ').next(), inner.split(' ').next_back()] {
            let w = w.unwrap_or_default();
            assert!(
                [
                    "lorem",
                    "ipsum",
                    "dolor",
                    "sit",
                    "amet",
                    "then",
                    "together."
                ]
                .contains(&w),
                "{w:?} in {s}"
            );
        }
    }

    #[test]
    fn no_match_and_edge_cases() {
        let text = "word ".repeat(100);
        let s = snippet(&text, "absent", 50);
        assert!(s.starts_with("word") && s.ends_with("word…"), "{s}");
        assert!(shown(&s) <= 50);
        assert_eq!(snippet("", "x", 300), "");
        assert_eq!(snippet("short", "", 300), "short");
        assert_eq!(snippet("ÀÉÎ ünï", "uni", 300), "ÀÉÎ **ünï**");
        // A match longer than the window is still shown, marked.
        let long = "x".repeat(50);
        let s = snippet(&format!("a {long} b"), &long, 10);
        assert!(s.contains(&format!("**{long}**")), "{s}");
        assert_eq!(snippet("a b c", "b", 0), "…**b**…");
    }

    #[test]
    fn stop_words_are_not_marked() {
        assert_eq!(
            snippet(
                "The key of the house is under the mat",
                "the key of the house",
                300
            ),
            "The **key** of the **house** is under the mat"
        );
        // As a question: only the word it is about.
        assert_eq!(
            snippet("The spare key is in the blue pot", "where is the key", 300),
            "The spare **key** is in the blue pot"
        );
        // A stop word of the note is not marked as a prefix of the last query word either.
        assert_eq!(
            snippet("There is therapy", "key ther", 300),
            "There is **therapy**"
        );
        // A query of stop words only still marks them; a phrase is marked whole.
        assert_eq!(
            snippet("The Who played at the hall", "the who", 300),
            "**The** **Who** played at **the** hall"
        );
        assert_eq!(
            snippet("one of the best, the best", "\"of the best\"", 300),
            "one **of the best**, the best"
        );
        // The window goes to the content words, not to a cluster of stop words.
        let filler = "lorem ipsum dolor sit amet ".repeat(20);
        let text = format!("of the and the of the. {filler} the house key. {filler}");
        let s = snippet(&text, "the house of the key", 80);
        assert!(s.contains("**house** **key**"), "{s}");
        assert!(!s.contains("**the**") && !s.contains("**of**"), "{s}");
    }

    #[test]
    fn the_stop_word_list_is_sorted_folded_and_unique() {
        assert!(
            STOP_WORDS.windows(2).all(|w| w[0] < w[1]),
            "sorted, no repeats"
        );
        for w in STOP_WORDS {
            assert_eq!(super::super::text::terms(w), [w], "{w} is one folded term");
        }
        assert!(is_stop_word("the") && is_stop_word("of") && !is_stop_word("key"));
    }

    #[test]
    fn titles_are_the_first_line_cut_at_a_word() {
        assert_eq!(
            title("Dentist on Tuesday\nat 9, bring the card"),
            "Dentist on Tuesday"
        );
        assert_eq!(title("\n\n  # Plans  for\t2027 \nmore"), "Plans for 2027");
        let long = "word ".repeat(30);
        let t = title(&long);
        assert_eq!(t.chars().count(), TITLE_CHARS, "{t}");
        assert_eq!(t.trim_end_matches('…'), "word ".repeat(16).trim_end());
        // Exactly 80 characters fit; 81 do not.
        let eighty = format!("{} {}", "a".repeat(39), "b".repeat(40));
        assert_eq!(title(&eighty), eighty);
        assert_eq!(title(&format!("{eighty}c")), format!("{}…", "a".repeat(39)));
        let one = "x".repeat(200);
        assert_eq!(title(&one), format!("{}…", "x".repeat(79)));
        assert_eq!(title("é".repeat(90).as_str()).chars().count(), 80);
        assert_eq!(title(" \n\t"), "(empty note)");
        assert_eq!(title("#"), "(empty note)");
        assert_eq!(title("#work: call Anna"), "#work: call Anna");
    }
}
