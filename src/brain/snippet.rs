//! Snippets: a short window of a note around what matched, so that `search` answers stay
//! small and the whole note is one `recall` away.

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
/// excluded words are not marked. The densest cluster is the window covering the most
/// different query words, then the most matches; the earliest wins ties. With no match, the
/// snippet is the start of the note.
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
    for (wi, w) in q.words.iter().enumerate() {
        if w.exact {
            continue; // only where its phrase is
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
}
