//! Snippets: a short window of a note around what matched, so that `search` answers stay
//! small and the whole note is one `recall` away.

/// At most about `max_chars` characters of `text` around the first word of `query` found in
/// it, with matched words marked `**like this**` and `…` where text was cut.
///
/// This first version matches whole words case-insensitively; the search work refines it.
pub fn snippet(text: &str, query: &str, max_chars: usize) -> String {
    let words: Vec<String> = query
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect();
    let chars: Vec<char> = text.chars().collect();
    let lower: Vec<char> = text.to_lowercase().chars().collect();
    // Lower-casing can change the length (rare letters); fall back to no centring then.
    let first = if lower.len() == chars.len() {
        let hay: String = lower.iter().collect();
        words
            .iter()
            .filter_map(|w| hay.find(w.as_str()).map(|b| hay[..b].chars().count()))
            .min()
            .unwrap_or(0)
    } else {
        0
    };
    let start = first.saturating_sub(max_chars / 3);
    let end = (start + max_chars).min(chars.len());
    let start = end.saturating_sub(max_chars).min(start);
    let mut out = String::new();
    if start > 0 {
        out.push('…');
    }
    let window: String = chars[start..end].iter().collect();
    let mut rest = window.as_str();
    'outer: while !rest.is_empty() {
        for w in &words {
            if rest.len() >= w.len()
                && rest.is_char_boundary(w.len())
                && rest[..w.len()].to_lowercase() == *w
            {
                out.push_str("**");
                out.push_str(&rest[..w.len()]);
                out.push_str("**");
                rest = &rest[w.len()..];
                continue 'outer;
            }
        }
        let mut it = rest.chars();
        if let Some(c) = it.next() {
            out.push(c);
        }
        rest = it.as_str();
    }
    if end < chars.len() {
        out.push('…');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_and_cuts() {
        assert_eq!(snippet("The spare key", "key", 300), "The spare **key**");
        let long = format!("{} needle {}", "a".repeat(500), "b".repeat(500));
        let s = snippet(&long, "needle", 100);
        assert!(s.starts_with('…') && s.ends_with('…'));
        assert!(s.contains("**needle**"));
        assert!(s.chars().count() <= 100 + 6);
    }
}
