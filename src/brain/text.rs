//! What a note may contain (the validators the MCP layer and a future import share) and how its
//! text is cut into search terms.

use super::BrainError;

/// A note's text is at most 64 KiB: enough for a long page of prose, small enough that one
/// note cannot make every search result or every `list_notes` page huge.
pub const MAX_TEXT_BYTES: usize = 65_536;
/// Tags are labels, not content; 16 of 64 characters each is plenty for that.
pub const MAX_TAGS: usize = 16;
pub const MAX_TAG_CHARS: usize = 64;

/// Text must be 1 byte to 64 KiB of UTF-8 with at least one non-whitespace character.
pub fn validate_text(text: &str) -> Result<(), BrainError> {
    if text.trim().is_empty() {
        return Err(BrainError::Invalid(
            "`text` is empty or only whitespace: put the content of the note in `text`".into(),
        ));
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(BrainError::Invalid(format!(
            "`text` is {} bytes; the limit is {MAX_TEXT_BYTES} bytes (64 KiB): shorten it or \
             split it into several notes",
            text.len()
        )));
    }
    Ok(())
}

/// One tag, ASCII-lower-cased: 1 to 64 characters of `a-z`, `0-9`, `_` and `-`.
pub fn normalize_tag(tag: &str) -> Result<String, BrainError> {
    let t = tag.to_ascii_lowercase();
    if t.is_empty() {
        return Err(BrainError::Invalid(
            "a tag is empty: remove it or give it 1 to 64 characters of a-z, 0-9, '_' and '-'"
                .into(),
        ));
    }
    if let Some(bad) = t
        .chars()
        .find(|c| !matches!(c, 'a'..='z' | '0'..='9' | '_' | '-'))
    {
        return Err(BrainError::Invalid(format!(
            "tag {tag:?} contains {bad:?}; tags may only use a-z, 0-9, '_' and '-'{}",
            suggest_tag(&t)
                .map(|s| format!(": use {s:?} instead"))
                .unwrap_or_default()
        )));
    }
    if t.len() > MAX_TAG_CHARS {
        return Err(BrainError::Invalid(format!(
            "tag {:?}... is {} characters; the limit is {MAX_TAG_CHARS}: shorten it",
            &t[..20],
            t.len()
        )));
    }
    Ok(t)
}

/// Normalizes every tag (see [`normalize_tag`]), drops duplicates keeping the first occurrence,
/// and allows at most 16 distinct tags.
pub fn normalize_tags(tags: &[String]) -> Result<Vec<String>, BrainError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len().min(MAX_TAGS));
    for tag in tags {
        let t = normalize_tag(tag)?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(BrainError::Invalid(format!(
            "{} distinct tags given; a note may have at most {MAX_TAGS}: keep the most useful ones",
            out.len()
        )));
    }
    Ok(out)
}

/// A valid tag close to an invalid one: runs of other characters become one `-`.
pub(crate) fn suggest_tag(lower: &str) -> Option<String> {
    let mut s = String::new();
    for c in lower.chars() {
        let mut buf = String::new();
        fold_char(c, &mut buf);
        for f in buf.chars() {
            if matches!(f, 'a'..='z' | '0'..='9' | '_' | '-') {
                s.push(f);
            } else if !s.ends_with('-') {
                s.push('-');
            }
        }
    }
    let s = s.trim_matches('-');
    (!s.is_empty() && s.len() <= MAX_TAG_CHARS).then(|| s.to_string())
}

/// Calls `f` with each search term of `text`, in order. A term is a maximal run of
/// alphanumeric characters after lower-casing and accent folding (`Crème Brûlée` → `creme`,
/// `brulee`; `Straße` → `strasse`). Combining marks (U+0300..U+036F, what decomposed text uses
/// for accents) are dropped without splitting the word, so `e\u{301}` folds like `é`.
/// `buf` is scratch space reused across calls so indexing does not allocate per term.
pub fn for_each_term(text: &str, buf: &mut String, mut f: impl FnMut(&str)) {
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        // Fast path: a word of lower-case ASCII letters and digits is its own term, passed on
        // without copying. Most words of most notes are like that.
        let start = i;
        while i < bytes.len() && matches!(bytes[i], b'a'..=b'z' | b'0'..=b'9') {
            i += 1;
        }
        let ends_word =
            i == bytes.len() || (bytes[i].is_ascii() && !bytes[i].is_ascii_alphanumeric());
        if ends_word {
            if i > start {
                f(&text[start..i]);
            }
            i += 1; // the ASCII separator (or one past the end)
            continue;
        }
        // Slow path: upper case or non-ASCII somewhere in this word; fold it char by char.
        buf.clear();
        buf.push_str(&text[start..i]);
        let rest = &text[i..];
        let mut consumed = rest.len();
        for (at, c) in rest.char_indices() {
            if c.is_ascii_alphanumeric() {
                buf.push(c.to_ascii_lowercase());
            } else if ('\u{300}'..='\u{36f}').contains(&c) {
                // Combining diacritical mark: part of the previous letter.
            } else if !c.is_ascii() && c.is_alphanumeric() {
                fold_char(c, buf);
            } else {
                consumed = at + c.len_utf8();
                break;
            }
        }
        if !buf.is_empty() {
            f(buf);
        }
        i += consumed;
    }
    buf.clear();
}

/// All terms of `text`, for queries (indexing uses [`for_each_term`]).
pub fn terms(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut buf = String::new();
    for_each_term(text, &mut buf, |t| out.push(t.to_string()));
    out
}

/// Appends the lower-cased, accent-folded form of one alphanumeric character. Latin-1 and
/// Latin Extended-A are folded by hand to their base letters (the accents people type, or
/// forget to type, in European languages); other scripts are only lower-cased.
fn fold_char(c: char, out: &mut String) {
    let folded: &str = match c {
        'À'..='Å' | 'à'..='å' | 'Ā'..='ą' => "a",
        'Æ' | 'æ' => "ae",
        'Ç' | 'ç' | 'Ć'..='č' => "c",
        'Ð' | 'ð' | 'Ď'..='đ' => "d",
        'È'..='Ë' | 'è'..='ë' | 'Ē'..='ě' => "e",
        'Ĝ'..='ģ' => "g",
        'Ĥ'..='ħ' => "h",
        'Ì'..='Ï' | 'ì'..='ï' | 'Ĩ'..='ı' => "i",
        'Ĳ' | 'ĳ' => "ij",
        'Ĵ' | 'ĵ' => "j",
        'Ķ'..='ĸ' => "k",
        'Ĺ'..='ł' => "l",
        'Ñ' | 'ñ' | 'Ń'..='ŋ' => "n",
        'Ò'..='Ö' | 'Ø' | 'ò'..='ö' | 'ø' | 'Ō'..='ő' => "o",
        'Œ' | 'œ' => "oe",
        'Ŕ'..='ř' => "r",
        'ß' => "ss",
        'Ś'..='š' | 'ſ' => "s",
        'Ţ'..='ŧ' => "t",
        'Þ' | 'þ' => "th",
        'Ù'..='Ü' | 'ù'..='ü' | 'Ũ'..='ų' => "u",
        'Ŵ' | 'ŵ' => "w",
        'Ý' | 'ý' | 'ÿ' | 'Ŷ'..='Ÿ' => "y",
        'Ź'..='ž' => "z",
        _ => {
            out.extend(c.to_lowercase());
            return;
        }
    };
    out.push_str(folded);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invalid(r: Result<impl std::fmt::Debug, BrainError>) -> String {
        match r {
            Err(BrainError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn folds_accents_and_case() {
        assert_eq!(
            terms("Crème BRÛLÉE, Straße & Ærøskøbing; Œuvre—Łódź Žižek"),
            [
                "creme",
                "brulee",
                "strasse",
                "aeroskobing",
                "oeuvre",
                "lodz",
                "zizek"
            ]
        );
        assert_eq!(terms("cafe\u{301} na\u{308}ive"), ["cafe", "naive"]);
        assert_eq!(
            terms("Ünïcödé ÀÉÎÕÜ àéîõü ÿ Ÿ"),
            ["unicode", "aeiou", "aeiou", "y", "y"]
        );
        assert_eq!(terms("Ελληνικά"), ["ελληνικά"]);
    }

    #[test]
    fn splits_on_non_alphanumerics() {
        assert_eq!(
            terms("foo-bar_baz, x2: 3×4 ¿qué? e-mail@host.org"),
            ["foo", "bar", "baz", "x2", "3", "4", "que", "e", "mail", "host", "org"]
        );
        assert!(terms("  ...!?— ").is_empty());
        assert_eq!(
            terms("Hello wörld ABC déf—ghi 123abc Ab\u{301}c —x y— ends"),
            ["hello", "world", "abc", "def", "ghi", "123abc", "abc", "x", "y", "ends"]
        );
        assert!(terms("").is_empty());
    }

    #[test]
    fn text_limits() {
        assert!(validate_text("x").is_ok());
        assert!(validate_text(&"é".repeat(MAX_TEXT_BYTES / 2)).is_ok());
        assert!(invalid(validate_text("")).contains("empty"));
        assert!(invalid(validate_text(" \n\t ")).contains("only whitespace"));
        let m = invalid(validate_text(&"a".repeat(MAX_TEXT_BYTES + 1)));
        assert!(m.contains("65537 bytes") && m.contains("split it"), "{m}");
    }

    #[test]
    fn tags_are_lowercased_deduplicated_and_ordered() {
        let tags: Vec<String> = ["Rust", "ideas", "RUST", "to-do_2"]
            .map(String::from)
            .to_vec();
        assert_eq!(normalize_tags(&tags).unwrap(), ["rust", "ideas", "to-do_2"]);
        // 17 given, 16 distinct: fine.
        let mut many: Vec<String> = (0..16).map(|i| format!("t{i}")).collect();
        many.push("T0".into());
        assert_eq!(normalize_tags(&many).unwrap().len(), 16);
        many.push("t16".into());
        assert!(invalid(normalize_tags(&many)).contains("at most 16"));
    }

    #[test]
    fn tag_messages_say_what_to_change() {
        let m = invalid(normalize_tag("Café Ideas"));
        assert!(m.contains("\"cafe-ideas\""), "{m}");
        assert!(invalid(normalize_tag("")).contains("empty"));
        assert!(invalid(normalize_tag(&"a".repeat(65))).contains("limit is 64"));
        assert!(normalize_tag(&"a".repeat(64)).is_ok());
        let m = invalid(normalize_tag("!!"));
        assert!(!m.contains("instead"), "{m}");
    }
}
