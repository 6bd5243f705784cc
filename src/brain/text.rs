//! What a note may contain (the validators the MCP layer and a future import share) and how its
//! text is cut into search terms.

use std::borrow::Cow;

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
pub fn normalize_tags<S: AsRef<str>>(tags: &[S]) -> Result<Vec<String>, BrainError> {
    let mut out: Vec<String> = Vec::with_capacity(tags.len().min(MAX_TAGS));
    for tag in tags {
        let t = normalize_tag(tag.as_ref())?;
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

/// That `tags` are exactly what [`normalize_tags`] makes of them (lower case, valid, each
/// once, at most 16): the rule for tags that arrive already stored, in an import or in the log.
pub fn check_tags<S: AsRef<str>>(tags: &[S]) -> Result<(), BrainError> {
    // What nearly every stored tag list is, decided without building the normal form; the
    // rule is the one below, where anything else goes.
    let stored_form = |t: &str| {
        (1..=MAX_TAG_CHARS).contains(&t.len())
            && t.bytes()
                .all(|c| matches!(c, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-'))
    };
    if tags.len() <= MAX_TAGS
        && tags.iter().enumerate().all(|(i, t)| {
            stored_form(t.as_ref()) && !tags[..i].iter().any(|u| u.as_ref() == t.as_ref())
        })
    {
        return Ok(());
    }
    let normal = normalize_tags(tags)?;
    if !normal
        .iter()
        .map(String::as_str)
        .eq(tags.iter().map(AsRef::as_ref))
    {
        let given: Vec<&str> = tags.iter().map(AsRef::as_ref).collect();
        return Err(BrainError::Invalid(format!(
            "tags {given:?} are not in their stored form (lower case, each once): {normal:?}"
        )));
    }
    Ok(())
}

/// The alphabet of note ids: Crockford's base32 in lower case (no i, l, o, u).
pub const ID_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
/// Each byte's value as a digit of [`ID_ALPHABET`], 0xff for a byte that is not one.
const ID_DIGITS: [u8; 256] = {
    let mut t = [0xff; 256];
    let mut i = 0;
    while i < 32 {
        t[ID_ALPHABET[i] as usize] = i as u8;
        i += 1;
    }
    t
};
/// Characters of an id after its `n_`.
const ID_CHARS: usize = 12;

/// A note id as the 60-bit number it spells (character `k` after `n_` is bits `5k..5k+5`), or
/// `None` when `id` is not one: `n_` and 12 characters of [`ID_ALPHABET`]. Ids are only ever
/// made by [`unpack_id`] of a random number, so this is the whole rule for an id.
pub fn pack_id(id: &str) -> Option<u64> {
    let rest = id.strip_prefix("n_")?.as_bytes();
    if rest.len() != ID_CHARS {
        return None;
    }
    let mut v = 0u64;
    for (k, &c) in rest.iter().enumerate() {
        let digit = ID_DIGITS[c as usize];
        if digit == 0xff {
            return None;
        }
        v |= u64::from(digit) << (5 * k);
    }
    Some(v)
}

/// The id that [`pack_id`] turns into `v` (its low 60 bits).
pub fn unpack_id(mut v: u64) -> String {
    let mut id = String::with_capacity(2 + ID_CHARS);
    id.push_str("n_");
    for _ in 0..ID_CHARS {
        id.push(char::from(ID_ALPHABET[(v & 31) as usize]));
        v >>= 5;
    }
    id
}

/// A note id, as every id this server makes (see [`pack_id`]): what an import or the log may
/// hold, so that an id is always safe to print, to use in a file name or a URL.
pub fn validate_id(id: &str) -> Result<u64, BrainError> {
    pack_id(id).ok_or_else(|| {
        let shown: String = id.chars().take(40).collect();
        BrainError::Invalid(format!(
            "id {shown:?} is not a note id: ids are \"n_\" and 12 characters of 0-9 and a-z \
             without i, l, o and u"
        ))
    })
}

/// A stored time (`created_at`, `updated_at`, a forget's `at`): an RFC 3339 time or a date, as
/// [`crate::time::parse_rfc3339_or_date`] reads them. Returns Unix seconds.
pub fn validate_time(s: &str, field: &str) -> Result<u64, BrainError> {
    crate::time::parse_rfc3339_or_date(s).ok_or_else(|| {
        let shown: String = s.chars().take(40).collect();
        BrainError::Invalid(format!("`{field}` {shown:?} is not an RFC 3339 time"))
    })
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
    for_each_term_at(text, buf, |t, _| f(t));
}

/// [`for_each_term`], also giving where each term is in `text`: the byte range of its word.
pub fn for_each_term_at(
    text: &str,
    buf: &mut String,
    mut f: impl FnMut(&str, std::ops::Range<usize>),
) {
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
                f(&text[start..i], start..i);
            }
            i += 1; // the ASCII separator (or one past the end)
            continue;
        }
        // Slow path: upper case or non-ASCII somewhere in this word; fold it char by char.
        buf.clear();
        buf.push_str(&text[start..i]);
        let rest = &text[i..];
        let mut consumed = rest.len();
        let mut end = text.len();
        for (at, c) in rest.char_indices() {
            if c.is_ascii_alphanumeric() {
                buf.push(c.to_ascii_lowercase());
            } else if ('\u{300}'..='\u{36f}').contains(&c) {
                // Combining diacritical mark: part of the previous letter.
            } else if !c.is_ascii() && c.is_alphanumeric() {
                fold_char(c, buf);
            } else {
                consumed = at + c.len_utf8();
                end = i + at;
                break;
            }
        }
        if !buf.is_empty() {
            f(buf, start..end);
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

/// The stem of a term (as [`for_each_term`] gives them): a light, deterministic English suffix
/// stripper in the manner of Porter's steps 1 and 5, so that `notes`/`note`,
/// `running`/`runs`/`run`, `baked`/`baking`/`bake`, `parties`/`party` and
/// `appointments`/`appointment`/`appoint` share a stem. Search matches a word's stem variants
/// below the word itself. In order:
///
/// 0. a few common irregular forms become their base form (`ran` → `run`, `met` → `meet`,
///    `paid` → `pay`, `children` → `child`: see `IRREGULAR`), which is then stemmed;
///    terms of fewer than 4 letters, or with digits or letters outside a-z, are left as they are;
/// 1. plurals: `-sses` → `-ss`; `-ies` → `-y` (`-ie` in 4-letter words: `ties` → `tie`);
///    a final `s` goes unless the word ends in `ss`, `us` or `is`;
/// 2. `-eed` → `-ee` when something precedes it (`agreed`, not `need`); `-ied` → `-y`
///    (`studied` → `study`; `tied` → `tie`); `-ed` and `-ing` go
///    when a vowel is left (`walked` → `walk`, not `bed`, `thing`), and then `-at`, `-bl`,
///    `-iz` get their `e` back (`created` → `create`), a doubled final consonant other than
///    l, s, z is halved (`running` → `run`, `added` → `add`), a short consonant-vowel-consonant
///    word gets its `e` back (`baking` → `bake`), and a two-letter rest ending in a consonant
///    too (`used` → `use`);
/// 3. `-ily` → `-y` (`happily` → `happy`), `-ly` leaving 4+ letters (`quickly` → `quick`),
///    `-ment` leaving 4+ letters (`appointment` → `appoint`, but `payment` stays);
/// 4. a final `e` goes when 3+ letters remain and the word is not a short
///    consonant-vowel-consonant one (`house` → `hous`, `recipe` → `recip`; `make`, `note` stay).
pub fn stem(term: &str) -> Cow<'_, str> {
    let base = IRREGULAR
        .binary_search_by_key(&term, |&(form, _)| form)
        .map_or(term, |i| IRREGULAR[i].1);
    let b = base.as_bytes();
    if b.len() < 4 || !b.iter().all(u8::is_ascii_lowercase) {
        return Cow::Borrowed(base);
    }
    // Every rule below removes or rewrites one of these endings (and the plural rule only
    // exposes another when it removed an `s`): anything else is its own stem.
    if !matches!(b[b.len() - 1], b's' | b'd' | b'g' | b'y' | b't' | b'e') {
        return Cow::Borrowed(base);
    }
    let mut w = b.to_vec();
    stem_plural(&mut w);
    stem_ed_ing(&mut w);
    stem_ly_ment(&mut w);
    stem_final_e(&mut w);
    if w == term.as_bytes() {
        Cow::Borrowed(term)
    } else {
        Cow::Owned(w.iter().map(|&c| char::from(c)).collect())
    }
}

/// Irregular forms and their base forms (stem 0 above).
const IRREGULAR: &[(&str, &str)] = &[
    ("ate", "eat"),
    ("began", "begin"),
    ("begun", "begin"),
    ("bought", "buy"),
    ("brought", "bring"),
    ("built", "build"),
    ("caught", "catch"),
    ("children", "child"),
    ("chose", "choose"),
    ("chosen", "choose"),
    ("drank", "drink"),
    ("driven", "drive"),
    ("drove", "drive"),
    ("eaten", "eat"),
    ("feet", "foot"),
    ("felt", "feel"),
    ("flew", "fly"),
    ("flown", "fly"),
    ("forgot", "forget"),
    ("forgotten", "forget"),
    ("found", "find"),
    ("gave", "give"),
    ("given", "give"),
    ("gone", "go"),
    ("kept", "keep"),
    ("knew", "know"),
    ("knives", "knife"),
    ("known", "know"),
    ("made", "make"),
    ("men", "man"),
    ("met", "meet"),
    ("mice", "mouse"),
    ("paid", "pay"),
    ("ran", "run"),
    ("said", "say"),
    ("seen", "see"),
    ("sent", "send"),
    ("slept", "sleep"),
    ("sold", "sell"),
    ("spent", "spend"),
    ("spoke", "speak"),
    ("spoken", "speak"),
    ("swam", "swim"),
    ("taken", "take"),
    ("taught", "teach"),
    ("teeth", "tooth"),
    ("thought", "think"),
    ("told", "tell"),
    ("took", "take"),
    ("went", "go"),
    ("woke", "wake"),
    ("women", "woman"),
    ("wore", "wear"),
    ("worn", "wear"),
    ("written", "write"),
    ("wrote", "write"),
];

fn is_vowel(w: &[u8], i: usize) -> bool {
    match w[i] {
        b'a' | b'e' | b'i' | b'o' | b'u' => true,
        b'y' => i > 0 && !is_vowel(w, i - 1),
        _ => false,
    }
}

/// Porter's measure: how many vowel-consonant sequences `w` has.
fn measure(w: &[u8]) -> usize {
    let mut m = 0;
    let mut prev_vowel = false;
    for i in 0..w.len() {
        let v = is_vowel(w, i);
        if prev_vowel && !v {
            m += 1;
        }
        prev_vowel = v;
    }
    m
}

fn has_vowel(w: &[u8]) -> bool {
    (0..w.len()).any(|i| is_vowel(w, i))
}

/// Ends consonant-vowel-consonant, the last not w, x or y (`hop`, `bak`, not `box`).
fn ends_cvc(w: &[u8]) -> bool {
    let n = w.len();
    n >= 3
        && !is_vowel(w, n - 3)
        && is_vowel(w, n - 2)
        && !is_vowel(w, n - 1)
        && !matches!(w[n - 1], b'w' | b'x' | b'y')
}

fn stem_plural(w: &mut Vec<u8>) {
    if w.ends_with(b"sses") {
        w.truncate(w.len() - 2);
    } else if w.ends_with(b"ies") {
        w.truncate(w.len() - 3);
        w.push(if w.len() > 1 { b'y' } else { b'i' });
        if w.len() == 2 {
            w.push(b'e');
        }
    } else if w.ends_with(b"s") && !w.ends_with(b"ss") && !w.ends_with(b"us") && !w.ends_with(b"is")
    {
        w.pop();
    }
}

fn stem_ed_ing(w: &mut Vec<u8>) {
    let n = w.len();
    if w.ends_with(b"eed") {
        if measure(&w[..n - 3]) > 0 {
            w.pop();
        }
        return;
    }
    if w.ends_with(b"ied") {
        // studied → study, tried → try; tied → tie.
        w.truncate(n - if n > 4 { 3 } else { 1 });
        if n > 4 {
            w.push(b'y');
        }
        return;
    }
    let cut = if w.ends_with(b"ed") && has_vowel(&w[..n - 2]) {
        2
    } else if w.ends_with(b"ing") && has_vowel(&w[..n - 3]) {
        3
    } else {
        return;
    };
    w.truncate(n - cut);
    let n = w.len();
    let last = w[n - 1];
    if w.ends_with(b"at") || w.ends_with(b"bl") || w.ends_with(b"iz") {
        w.push(b'e');
    } else if n >= 4
        && last == w[n - 2]
        && !is_vowel(w, n - 1)
        && !matches!(last, b'l' | b's' | b'z')
    {
        w.pop();
    } else if (measure(w) == 1 && ends_cvc(w)) || (n == 2 && !is_vowel(w, 1)) {
        w.push(b'e');
    }
}

fn stem_ly_ment(w: &mut Vec<u8>) {
    let n = w.len();
    if w.ends_with(b"ily") && n >= 6 {
        w.truncate(n - 3);
        w.push(b'y');
    } else if w.ends_with(b"ly") && n >= 6 {
        w.truncate(n - 2);
    } else if w.ends_with(b"ment") && n >= 8 {
        w.truncate(n - 4);
    }
}

fn stem_final_e(w: &mut Vec<u8>) {
    let n = w.len();
    if n >= 4 && w[n - 1] == b'e' {
        let rest = &w[..n - 1];
        let m = measure(rest);
        if m > 1 || (m == 1 && !ends_cvc(rest)) {
            w.pop();
        }
    }
}

/// Whether `a` becomes `b` by one deletion, insertion, substitution or transposition of two
/// neighbouring bytes (terms are compared as bytes: accent folding makes nearly all Latin
/// text ASCII). Equal terms are not one edit apart.
pub fn one_edit_apart(a: &[u8], b: &[u8]) -> bool {
    let (short, long) = if a.len() <= b.len() { (a, b) } else { (b, a) };
    match long.len() - short.len() {
        0 => {
            let Some(i) = (0..a.len()).find(|&i| a[i] != b[i]) else {
                return false;
            };
            a[i + 1..] == b[i + 1..]
                || (i + 1 < a.len()
                    && a[i] == b[i + 1]
                    && a[i + 1] == b[i]
                    && a[i + 2..] == b[i + 2..])
        }
        1 => {
            let i = (0..short.len())
                .find(|&i| short[i] != long[i])
                .unwrap_or(short.len());
            short[i..] == long[i + 1..]
        }
        _ => false,
    }
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

    #[test]
    fn irregular_forms_are_sorted_for_binary_search() {
        assert!(IRREGULAR.windows(2).all(|w| w[0].0 < w[1].0));
        for &(form, base) in IRREGULAR {
            assert_eq!(stem(form), stem(base), "{form}");
        }
    }

    fn invalid(r: Result<impl std::fmt::Debug, BrainError>) -> String {
        match r {
            Err(BrainError::Invalid(m)) => m,
            other => panic!("expected Invalid, got {other:?}"),
        }
    }

    #[test]
    fn ids_pack_into_60_bits_and_nothing_else_is_an_id() {
        for v in [0u64, 1, 31, 32, (1 << 60) - 1, 0x0123_4567_89ab_cdef] {
            let id = unpack_id(v);
            assert_eq!(pack_id(&id), Some(v & ((1 << 60) - 1)), "{id}");
            assert_eq!(validate_id(&id).ok(), pack_id(&id));
        }
        assert_eq!(unpack_id(0), "n_000000000000");
        for bad in [
            "",
            "n_",
            "../../etc/passwd",
            "n_00000000000",
            "n_0000000000000",
            "n_00000000000i",
            "n_00000000000U",
            "N_000000000000",
            "n_00000000000\n",
            "n_0000000000é",
        ] {
            assert!(pack_id(bad).is_none(), "{bad:?}");
        }
        assert_eq!(
            invalid(validate_id("../../etc/passwd")),
            "id \"../../etc/passwd\" is not a note id: ids are \"n_\" and 12 characters of 0-9 \
             and a-z without i, l, o and u"
        );
    }

    #[test]
    fn stored_tags_and_times() {
        let t = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_tags(&t(&["a", "b-c_9"])).is_ok());
        assert_eq!(
            invalid(check_tags(&t(&["Work"]))),
            "tags [\"Work\"] are not in their stored form (lower case, each once): [\"work\"]"
        );
        assert!(invalid(check_tags(&t(&["a", "a"]))).contains("each once"));
        assert!(invalid(check_tags(&t(&["a b"]))).contains("contains ' '"));
        let many: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
        assert!(invalid(check_tags(&many)).contains("at most 16"));
        assert_eq!(
            validate_time("2026-01-31", "created_at").ok(),
            Some(1_769_817_600)
        );
        assert_eq!(
            invalid(validate_time("yesterday", "updated_at")),
            "`updated_at` \"yesterday\" is not an RFC 3339 time"
        );
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

    #[test]
    fn spans_point_at_the_words() {
        let text = "Crème BRÛLÉE, x2 e\u{301}t—fin";
        let mut got = Vec::new();
        for_each_term_at(text, &mut String::new(), |t, r| {
            got.push((t.to_string(), &text[r]))
        });
        let want = [
            ("creme", "Crème"),
            ("brulee", "BRÛLÉE"),
            ("x2", "x2"),
            ("et", "e\u{301}t"),
            ("fin", "fin"),
        ];
        assert_eq!(got, want.map(|(a, b)| (a.to_string(), b)).to_vec());
    }

    #[test]
    fn stems_group_inflections() {
        let groups: &[&[&str]] = &[
            &["run", "runs", "running", "ran"],
            &["note", "notes", "noted"],
            &["bake", "baked", "baking", "bakes"],
            &["party", "parties"],
            &["allergy", "allergies"],
            &["grocery", "groceries", "grocerys"],
            &["box", "boxes"],
            &["class", "classes"],
            &["walk", "walked", "walks", "walking"],
            &["appoint", "appointment", "appointments", "appointed"],
            &["house", "houses", "housing"],
            &["create", "created", "creating", "creates"],
            &["study", "studies", "studying", "studied"],
            &["happy", "happily"],
            &["quick", "quickly"],
            &["meet", "meeting", "meetings", "met"],
            &["pay", "pays", "paid", "paying"],
            &["use", "used", "uses", "using"],
            &["agree", "agreed", "agrees"],
            &["tomato", "tomatoes"],
            &["stop", "stopped", "stopping"],
            &["add", "added", "adding"],
            &["child", "children"],
            &["tie", "ties"],
        ];
        for g in groups {
            let s = stem(g[0]);
            for w in *g {
                assert_eq!(stem(w), s, "{w} vs {}", g[0]);
            }
        }
        // Words that must not be cut.
        for w in [
            "need", "thing", "bed", "status", "this", "bus", "payment", "apply", "only", "x2",
            "café", "make", "note",
        ] {
            assert_eq!(stem(w), w, "{w}");
        }
        assert_ne!(stem("note"), stem("not"));
        assert_ne!(stem("care"), stem("car"));
    }

    #[test]
    fn one_edit() {
        let yes = [
            ("restaurant", "resturant"),
            ("birthday", "birthdya"),
            ("recipe", "recipie"),
            ("colour", "color"),
            ("abc", "xbc"),
            ("abc", "bac"),
            ("abcd", "abc"),
        ];
        for (a, b) in yes {
            assert!(one_edit_apart(a.as_bytes(), b.as_bytes()), "{a} {b}");
            assert!(one_edit_apart(b.as_bytes(), a.as_bytes()), "{b} {a}");
        }
        let no = [
            ("abc", "abc"),
            ("abc", "cba"),
            ("abcd", "ab"),
            ("abcd", "bacd2"),
            ("ab", "ba2"),
        ];
        for (a, b) in no {
            assert!(!one_edit_apart(a.as_bytes(), b.as_bytes()), "{a} {b}");
        }
    }
}

// ---- spaces and writers (issue 12) ----

/// The space a note lives in when none is named.
pub const MAIN_SPACE: &str = "main";

/// A space name: the tag rules (1 to 64 of `a-z 0-9 _ -`, lower-cased). The message names a
/// space, not a tag.
pub fn normalize_space(space: &str) -> Result<String, BrainError> {
    normalize_tag(space).map_err(|e| BrainError::Invalid(e.to_string().replace("tag", "space")))
}

/// A stored space name (a log line's, an imported version's): valid by the space rules and
/// already in their lower-case form, as `normalize_space` would store it.
pub fn check_stored_space(space: &str) -> Result<(), BrainError> {
    if normalize_space(space)? != space {
        return Err(BrainError::Invalid(format!(
            "space {space:?} is not in its stored form (lower case)"
        )));
    }
    Ok(())
}

/// Who wrote a version of a note: what the credential behind the write was.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct Writer {
    /// `static` (the static bearer token), `client_credentials`, `grant` (an authorization
    /// the owner approved), `oidc` (a token from the owner's provider), `owner` (the owner's
    /// pages or commands), `import`.
    pub kind: String,
    /// The grant ID, the client ID of a client_credentials token, or the provider subject.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// A grant's client ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub client: String,
    /// A grant's client name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
}

pub const WRITER_KINDS: [&str; 6] = [
    "static",
    "client_credentials",
    "grant",
    "oidc",
    "owner",
    "import",
];

impl Writer {
    pub fn of_kind(kind: &str) -> Writer {
        Writer {
            kind: kind.into(),
            id: String::new(),
            client: String::new(),
            name: String::new(),
        }
    }

    /// The rules a writer read back from the log or an import passes: a known kind, and
    /// fields of at most 255 characters without control characters.
    pub fn check(&self) -> Result<(), BrainError> {
        if !WRITER_KINDS.contains(&self.kind.as_str()) {
            return Err(BrainError::Invalid(format!(
                "writer kind {:?} is not one of {}",
                clip(&self.kind),
                WRITER_KINDS.join(", ")
            )));
        }
        for f in [&self.id, &self.client, &self.name] {
            if f.chars().count() > 255 || f.chars().any(char::is_control) {
                return Err(BrainError::Invalid(
                    "a writer field is over 255 characters or holds a control character".into(),
                ));
            }
        }
        Ok(())
    }

    /// For people: `Claude (grant g_abc)`, `client_credentials my-script`, `static token`.
    pub fn label(&self) -> String {
        match self.kind.as_str() {
            "static" => "static token".into(),
            "grant" if !self.name.is_empty() => format!("{} (grant {})", self.name, self.id),
            "grant" => format!("grant {} ({})", self.id, self.client),
            "owner" | "import" => self.kind.clone(),
            k => format!("{k} {}", self.id),
        }
    }

    /// Whether a `by` filter names this writer: its kind, grant or client ID, subject or
    /// client name, exactly (the name ASCII case-insensitively).
    pub fn matches(&self, by: &str) -> bool {
        !by.is_empty()
            && (by == self.kind
                || by == self.id
                || by == self.client
                || (by.eq_ignore_ascii_case(&self.name) && !self.name.is_empty())
                || (by == "static token" && self.kind == "static"))
    }
}

fn clip(s: &str) -> String {
    s.chars().take(40).collect()
}
