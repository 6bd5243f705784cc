//! The note log: `notes.jsonl`, one JSON record per line, only ever appended to (compaction
//! aside, which replaces the whole file atomically).
//!
//! ```text
//! {"op":"put","seq":1,"id":"n_k3v9q2m7x4ab","text":"Buy oat milk","tags":["shopping"],"created_at":"2026-11-26T23:15:57Z","updated_at":"2026-11-26T23:15:57Z"}
//! {"op":"put","seq":2,"id":"n_p0w2d7f4c9hj","text":"Q3 plan","tags":[],"created_at":"2026-11-27T08:00:00Z","updated_at":"2026-11-27T08:00:00Z","space":"work","by":{"kind":"grant","id":"g_x5Tq0pLm9aBc2dEf","client":"https://claude.ai/oauth/mcp-oauth-client-metadata","name":"Claude"}}
//! {"op":"del","seq":3,"id":"n_k3v9q2m7x4ab","at":"2026-11-27T08:00:02Z"}
//! ```
//!
//! `space` (absent: `main`), `by` (who wrote the version; absent in logs written before
//! provenance: "unknown") and `pending` (absent: false; a write awaiting the owner's review)
//! come after the fields every `put` has.
//!
//! `seq` goes up by one with every record appended (compaction leaves gaps), is never reused,
//! and must increase down the file (`open` says `Corrupt` otherwise); it orders notes and backs the
//! `list` cursor. A `put` whose id is already live is a new version of that note (a later
//! "update" appends one; nothing is rewritten), so the log is the note's history.

use std::borrow::Cow;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use super::hash::Xxh64;
use serde::{Deserialize, Serialize};
use serde_json::error::Category;

use super::text::{
    check_stored_space, check_tags, unpack_id, validate_id, validate_text, validate_time, Writer,
    MAIN_SPACE,
};
use super::{BrainError, Note};

pub const LOG_NAME: &str = "notes.jsonl";
pub const TMP_NAME: &str = "notes.jsonl.tmp";

#[derive(Serialize)]
struct PutOut<'a> {
    op: &'static str,
    seq: u64,
    id: &'a str,
    text: &'a str,
    tags: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
    #[serde(skip_serializing_if = "is_main")]
    space: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    by: Option<&'a Writer>,
    #[serde(skip_serializing_if = "is_false")]
    pending: bool,
}

fn is_main(s: &&str) -> bool {
    *s == MAIN_SPACE
}

fn is_false(b: &bool) -> bool {
    !*b
}

#[derive(Serialize)]
struct DelOut<'a> {
    op: &'static str,
    seq: u64,
    id: &'a str,
    at: &'a str,
}

/// Every field a record of any op may have; `parse_line` checks which ones its op needs.
/// Unknown fields are ignored so a newer version's extra fields do not make a log unreadable.
/// Strings are borrowed from the line when they have no escapes (nearly always).
#[derive(Deserialize)]
struct RecordIn<'a> {
    #[serde(borrow)]
    op: Cow<'a, str>,
    seq: u64,
    #[serde(borrow)]
    id: Cow<'a, str>,
    #[serde(borrow)]
    text: Option<Cow<'a, str>>,
    #[serde(borrow)]
    tags: Option<Vec<Cow<'a, str>>>,
    #[serde(borrow)]
    created_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    updated_at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    at: Option<Cow<'a, str>>,
    #[serde(borrow)]
    space: Option<Cow<'a, str>>,
    by: Option<Writer>,
    pending: Option<bool>,
}

/// A `put` line, checked by the rules new input goes through (see [`parse_line`]).
pub struct Put<'a> {
    pub seq: u64,
    /// The id packed into its 60 bits ([`super::text::pack_id`]).
    pub id: u64,
    pub text: Cow<'a, str>,
    pub tags: Vec<Cow<'a, str>>,
    /// `created_at` in Unix seconds.
    pub created: u64,
    pub created_at: Cow<'a, str>,
    pub updated_at: Cow<'a, str>,
    /// Checked by the space rules; `main` when the line names none.
    pub space: Cow<'a, str>,
    /// Boxed: a `Put` sits in the loader's per-chunk lists by the thousand, and most lines
    /// of an older log have no writer.
    pub by: Option<Box<Writer>>,
    pub pending: bool,
}

impl Put<'_> {
    pub fn to_note(&self) -> Note {
        Note {
            id: unpack_id(self.id),
            text: self.text.to_string(),
            tags: self.tags.iter().map(|t| t.to_string()).collect(),
            created_at: self.created_at.to_string(),
            updated_at: self.updated_at.to_string(),
            space: self.space.to_string(),
            by: self.by.as_deref().cloned(),
            pending: self.pending,
        }
    }
}

pub enum Record<'a> {
    Put(Put<'a>),
    Del { seq: u64, id: u64 },
}

impl Record<'_> {
    pub fn seq(&self) -> u64 {
        match self {
            Record::Put(p) => p.seq,
            Record::Del { seq, .. } => *seq,
        }
    }
}

/// Why a line is not a record.
#[derive(Debug)]
pub enum LineError {
    /// Not (complete) JSON: what an append cut short by a crash leaves, when it is the last line.
    Syntax(String),
    /// A whole JSON record that breaks a rule: never the work of a crash.
    Invalid(String),
}

impl LineError {
    pub fn message(self) -> String {
        match self {
            LineError::Syntax(m) | LineError::Invalid(m) => m,
        }
    }
}

/// The line (with its "\n") for a new version of `note`.
pub fn put_line(seq: u64, note: &Note) -> Vec<u8> {
    finish(serde_json::to_vec(&PutOut {
        op: "put",
        seq,
        id: &note.id,
        text: &note.text,
        tags: &note.tags,
        created_at: &note.created_at,
        updated_at: &note.updated_at,
        space: &note.space,
        by: note.by.as_ref(),
        pending: note.pending,
    }))
}

/// The line (with its "\n") recording that `id` was forgotten at `at`.
pub fn del_line(seq: u64, id: &str, at: &str) -> Vec<u8> {
    finish(serde_json::to_vec(&DelOut {
        op: "del",
        seq,
        id,
        at,
    }))
}

fn finish(r: serde_json::Result<Vec<u8>>) -> Vec<u8> {
    // Serializing strings and integers into a Vec cannot fail.
    let mut v = r.unwrap_or_default();
    v.push(b'\n');
    v
}

/// Parses one line (without its "\n") and checks it by exactly the functions new input goes
/// through: the id as every id this server makes ([`validate_id`]), the text as `remember`
/// takes it ([`validate_text`]), tags in the form `remember` stores them ([`check_tags`]),
/// times as `import` takes them ([`validate_time`]). A log edited by hand, or written by
/// someone else, gets no further than new input would.
pub fn parse_line(line: &[u8]) -> Result<Record<'_>, LineError> {
    let r = match fast_put(line) {
        Some(r) => r,
        None => serde_json::from_slice(line).map_err(|e| match e.classify() {
            Category::Syntax | Category::Eof | Category::Io => LineError::Syntax(e.to_string()),
            Category::Data => LineError::Invalid(e.to_string()),
        })?,
    };
    let missing = |f: &str| LineError::Invalid(format!("{} record has no `{f}`", r.op));
    let invalid = |e: BrainError| LineError::Invalid(e.to_string());
    match &*r.op {
        "put" => {
            let text = r.text.ok_or_else(|| missing("text"))?;
            let tags = r.tags.ok_or_else(|| missing("tags"))?;
            let created_at = r.created_at.ok_or_else(|| missing("created_at"))?;
            let updated_at = r.updated_at.ok_or_else(|| missing("updated_at"))?;
            let id = validate_id(&r.id).map_err(invalid)?;
            validate_text(&text).map_err(invalid)?;
            check_tags(&tags).map_err(invalid)?;
            let created = validate_time(&created_at, "created_at").map_err(invalid)?;
            validate_time(&updated_at, "updated_at").map_err(invalid)?;
            let space = match r.space {
                None => Cow::Borrowed(MAIN_SPACE),
                Some(sp) => {
                    check_stored_space(&sp).map_err(invalid)?;
                    sp
                }
            };
            if let Some(w) = &r.by {
                w.check().map_err(invalid)?;
            }
            Ok(Record::Put(Put {
                seq: r.seq,
                id,
                text,
                tags,
                created,
                created_at,
                updated_at,
                space,
                by: r.by.map(Box::new),
                pending: r.pending.unwrap_or(false),
            }))
        }
        "del" => {
            let at = r.at.as_ref().ok_or_else(|| missing("at"))?;
            let id = validate_id(&r.id).map_err(invalid)?;
            validate_time(at, "at").map_err(invalid)?;
            Ok(Record::Del { seq: r.seq, id })
        }
        other => Err(LineError::Invalid(format!(
            "unknown op {other:?} (expected \"put\" or \"del\")"
        ))),
    }
}

/// A `put` line in exactly the shape [`put_line`] writes it (field order, no spaces, escapes
/// other than `\uXXXX`) decoded by hand, about four times faster than serde: every note shown
/// is read back from the log, so this is on the path of every search result. Anything else
/// (another shape, a `\u` escape, any doubt) is `None`, and serde decodes the line instead,
/// so this never accepts what serde would refuse and never reads a line differently (the
/// tests compare the two).
fn fast_put(line: &[u8]) -> Option<RecordIn<'_>> {
    let s = std::str::from_utf8(line).ok()?;
    let mut c = Cursor { s, at: 0 };
    c.expect("{\"op\":\"put\",\"seq\":")?;
    let seq = c.number()?;
    c.expect(",\"id\":")?;
    let id = c.string()?;
    c.expect(",\"text\":")?;
    let text = c.string()?;
    c.expect(",\"tags\":[")?;
    let mut tags = Vec::new();
    if !c.eat("]") {
        loop {
            tags.push(c.string()?);
            if c.eat("]") {
                break;
            }
            c.expect(",")?;
        }
    }
    c.expect(",\"created_at\":")?;
    let created_at = c.string()?;
    c.expect(",\"updated_at\":")?;
    let updated_at = c.string()?;
    // The optional fields, in the order `put_line` writes them.
    let space = if c.eat(",\"space\":") {
        Some(c.string()?)
    } else {
        None
    };
    let by = if c.eat(",\"by\":{\"kind\":") {
        let mut w = Writer::of_kind(&c.string()?);
        if c.eat(",\"id\":") {
            w.id = c.string()?.into_owned();
        }
        if c.eat(",\"client\":") {
            w.client = c.string()?.into_owned();
        }
        if c.eat(",\"name\":") {
            w.name = c.string()?.into_owned();
        }
        c.expect("}")?;
        Some(w)
    } else {
        None
    };
    let pending = c.eat(",\"pending\":true").then_some(true);
    c.expect("}")?;
    (c.at == s.len()).then_some(RecordIn {
        op: Cow::Borrowed("put"),
        seq,
        id,
        text: Some(text),
        tags: Some(tags),
        created_at: Some(created_at),
        updated_at: Some(updated_at),
        at: None,
        space,
        by,
        pending,
    })
}

struct Cursor<'a> {
    s: &'a str,
    at: usize,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, lit: &str) -> bool {
        let hit = self.s[self.at..].starts_with(lit);
        if hit {
            self.at += lit.len();
        }
        hit
    }

    fn expect(&mut self, lit: &str) -> Option<()> {
        self.eat(lit).then_some(())
    }

    /// A JSON integer that fits in a u64, without a leading zero (as JSON requires).
    fn number(&mut self) -> Option<u64> {
        let digits = self.s[self.at..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        let d = &self.s[self.at..self.at + digits];
        if digits == 0 || (digits > 1 && d.starts_with('0')) {
            return None;
        }
        self.at += digits;
        d.parse().ok()
    }

    /// A JSON string: borrowed when it has no escapes; `None` for a `\u` escape, a control
    /// character (which JSON forbids raw) or anything malformed.
    fn string(&mut self) -> Option<Cow<'a, str>> {
        self.expect("\"")?;
        let bytes = self.s.as_bytes();
        let start = self.at;
        let mut owned: Option<String> = None;
        let mut run = start;
        loop {
            let b = *bytes.get(self.at)?;
            match b {
                b'"' => {
                    let tail = &self.s[run..self.at];
                    self.at += 1;
                    return Some(match owned {
                        None => Cow::Borrowed(tail),
                        Some(mut o) => {
                            o.push_str(tail);
                            Cow::Owned(o)
                        }
                    });
                }
                b'\\' => {
                    let o = owned.get_or_insert_with(String::new);
                    o.push_str(&self.s[run..self.at]);
                    let c = match *bytes.get(self.at + 1)? {
                        b'"' => '"',
                        b'\\' => '\\',
                        b'/' => '/',
                        b'b' => '\u{8}',
                        b'f' => '\u{c}',
                        b'n' => '\n',
                        b'r' => '\r',
                        b't' => '\t',
                        _ => return None,
                    };
                    o.push(c);
                    self.at += 2;
                    run = self.at;
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
    }
}

/// Only the text of a `put` line, for building the index of lines already checked.
#[derive(Deserialize)]
struct TextIn<'a> {
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// The `text` of a line `parse_line` has already accepted.
pub fn text_of(line: &[u8]) -> Option<Cow<'_, str>> {
    match fast_put(line) {
        Some(r) => r.text,
        None => serde_json::from_slice::<TextIn>(line).ok().map(|t| t.text),
    }
}

/// Reads `len` bytes of `file` at `at` (one `pread`: readers share the file).
pub fn read_at(file: &File, at: u64, len: u32) -> io::Result<Vec<u8>> {
    let mut buf = vec![0; len as usize];
    file.read_exact_at(&mut buf, at)?;
    Ok(buf)
}

/// Moves the log's bytes from `good_len` on (`torn`) into `<log>.torn.<unix-time>` and
/// truncates the log to `good_len`, so the torn bytes are kept for a human to look at but no
/// longer block opening. Returns the path of the set-aside file.
pub fn set_aside_torn_tail(
    dir: &Path,
    log: &Path,
    torn: &[u8],
    good_len: u64,
) -> io::Result<PathBuf> {
    let now = crate::time::unix_now();
    let mut n = 0;
    let (mut f, path) = loop {
        let name = if n == 0 {
            format!("{LOG_NAME}.torn.{now}")
        } else {
            format!("{LOG_NAME}.torn.{now}.{n}")
        };
        let path = dir.join(name);
        match private().write(true).create_new(true).open(&path) {
            Ok(f) => break (f, path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    };
    f.write_all(torn)?;
    f.sync_all()?;
    let logf = OpenOptions::new().write(true).open(log)?;
    logf.set_len(good_len)?;
    logf.sync_all()?;
    sync_dir(dir)?;
    Ok(path)
}

/// Options that create a file readable and writable by its owner only (0600): notes are
/// private whatever the directory's mode or the umask (issue 16 item 9).
pub fn private() -> OpenOptions {
    let mut o = OpenOptions::new();
    o.mode(0o600);
    o
}

/// Makes a directory entry change (create, rename) durable.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Opens the log for appending, creating it (and making its directory entry durable) if needed.
pub fn open_append(dir: &Path, log: &Path) -> io::Result<File> {
    match OpenOptions::new().append(true).open(log) {
        Ok(f) => Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let f = private().append(true).create_new(true).open(log)?;
            f.sync_all()?;
            sync_dir(dir)?;
            Ok(f)
        }
        Err(e) => Err(e),
    }
}

/// Appends one whole line with a single `write_all`, then `sync_data`. On failure the caller
/// truncates back (see `LogWriter::append` in mod.rs). `fault` makes this call write half the line
/// and fail, as a full disk would.
pub fn write_durably(f: &mut File, line: &[u8], fault: bool) -> io::Result<()> {
    if fault {
        f.write_all(&line[..line.len() / 2])?;
        return Err(io::Error::other("injected write fault (test)"));
    }
    f.write_all(line)?;
    f.sync_data()
}

/// What [`compact`] made: the new log, open for appending and for reading, its length and
/// the hash of its bytes so far.
pub struct Compacted {
    pub append: File,
    pub read: File,
    pub len: u64,
    pub hash: Xxh64,
}

/// Rewrites the log keeping only the lines `keep` (`(offset, length)` of whole lines of
/// `from`, the current log, in file order), atomically: the new content goes to
/// `notes.jsonl.tmp`, is fsynced, renamed over the log, and the directory is fsynced. A crash
/// at any point leaves either the old log or the new one (plus perhaps a stale tmp file that
/// `open` removes). Lines are copied byte for byte, a megabyte at a time; each must be a whole
/// line (end in "\n"), or nothing is replaced. `fault` makes the write fail half-way.
pub fn compact(
    dir: &Path,
    log: &Path,
    from: &File,
    keep: &[(u64, u32)],
    fault: bool,
) -> io::Result<Compacted> {
    let tmp = dir.join(TMP_NAME);
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let f = private().append(true).create_new(true).open(&tmp)?;
        let mut out = BufWriter::with_capacity(1 << 20, &f);
        let mut hash = Xxh64::new();
        let mut len = 0u64;
        let mut buf = Vec::new();
        // Neighbouring lines are read together.
        let mut i = 0;
        while i < keep.len() {
            let (start, mut end) = (keep[i].0, keep[i].0 + u64::from(keep[i].1));
            i += 1;
            while i < keep.len() && keep[i].0 == end && end - start < (1 << 20) {
                end += u64::from(keep[i].1);
                i += 1;
            }
            buf.resize((end - start) as usize, 0);
            from.read_exact_at(&mut buf, start)?;
            if buf.last() != Some(&b'\n') {
                return Err(io::Error::other(format!(
                    "bytes {start}..{end} of the log are not whole lines; not compacting"
                )));
            }
            if fault && len >= 1 {
                out.flush()?;
                return Err(io::Error::other("injected write fault (test)"));
            }
            out.write_all(&buf)?;
            hash.update(&buf);
            len += buf.len() as u64;
        }
        out.flush()?;
        drop(out);
        if fault {
            return Err(io::Error::other("injected write fault (test)"));
        }
        f.sync_data()?;
        Ok::<_, io::Error>((f, len, hash))
    })();
    let (append, len, hash) = match result {
        Ok(ok) => ok,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    let read = match File::open(&tmp) {
        Ok(r) => r,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&tmp, log) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename has happened; the new file is the log whatever the directory sync says.
    if let Err(e) = sync_dir(dir) {
        eprintln!(
            "brain: compacted {} but could not sync its directory: {e}",
            log.display()
        );
    }
    Ok(Compacted {
        append,
        read,
        len,
        hash,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(id: &str, text: &str) -> Note {
        Note {
            id: id.into(),
            text: text.into(),
            tags: vec!["a".into()],
            created_at: "2026-11-26T23:15:57Z".into(),
            updated_at: "2026-11-26T23:15:57Z".into(),
            ..Default::default()
        }
    }

    const ID: &str = "n_abc000000000";

    #[test]
    fn lines_round_trip_and_read_well() {
        let n = note(ID, "say \"hi\"\nthen leave");
        let line = put_line(7, &n);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "{\"op\":\"put\",\"seq\":7,\"id\":\"n_abc000000000\",\"text\":\"say \\\"hi\\\"\\nthen \
             leave\",\"tags\":[\"a\"],\"created_at\":\"2026-11-26T23:15:57Z\",\
             \"updated_at\":\"2026-11-26T23:15:57Z\"}\n"
        );
        match parse_line(&line[..line.len() - 1]) {
            Ok(Record::Put(p)) => {
                assert_eq!(p.seq, 7);
                assert_eq!(p.to_note(), n);
                assert_eq!(
                    Some(p.created),
                    crate::time::parse_rfc3339_or_date(&n.created_at)
                );
            }
            _ => panic!("put did not round-trip"),
        }
        let line = del_line(8, ID, "2026-11-27T00:00:00Z");
        assert!(matches!(
            parse_line(&line[..line.len() - 1]),
            Ok(Record::Del { seq: 8, id }) if Some(id) == crate::brain::text::pack_id(ID)
        ));
    }

    /// The hand-written decoder of our own lines reads every line exactly as serde does,
    /// and leaves to serde whatever it does not handle.
    #[test]
    fn the_fast_decoder_agrees_with_serde() {
        let texts = [
            "plain words",
            "quote \" backslash \\ slash / tab \t newline \n cr \r",
            "\u{8}\u{c} controls \u{1} \u{1f} \u{7f}",
            "ünïcödé ✓ 🎉 \u{2028}",
            "",
            " ",
        ];
        let tag_lists: [&[&str]; 3] = [&[], &["a"], &["a", "b-c", "d_9"]];
        fn serde(l: &[u8]) -> Option<RecordIn<'_>> {
            serde_json::from_slice(l).ok()
        }
        let same = |a: &RecordIn, b: &RecordIn| {
            (
                &a.op,
                a.seq,
                &a.id,
                &a.text,
                &a.tags,
                &a.created_at,
                &a.updated_at,
                &a.at,
                (&a.space, &a.by, a.pending),
            ) == (
                &b.op,
                b.seq,
                &b.id,
                &b.text,
                &b.tags,
                &b.created_at,
                &b.updated_at,
                &b.at,
                (&b.space, &b.by, b.pending),
            )
        };
        let mut fast_used = 0;
        let grant = Writer {
            kind: "grant".into(),
            id: "g_x5Tq0pLm9aBc2dEf".into(),
            client: "https://claude.ai/oauth/mcp-oauth-client-metadata".into(),
            name: "Claude \"Opus\" ✓".into(),
        };
        let extras = [
            ("main", None, false),
            ("work", None, false),
            ("main", Some(Writer::of_kind("static")), false),
            ("side-project", Some(grant), true),
        ];
        for text in texts {
            for (tags, (space, by, pending)) in tag_lists
                .iter()
                .flat_map(|t| extras.iter().map(move |x| (t, x)))
            {
                let n = Note {
                    id: ID.into(),
                    text: text.into(),
                    tags: tags.iter().map(|t| t.to_string()).collect(),
                    created_at: "2026-11-26".into(),
                    updated_at: "2026-11-26T23:15:57Z".into(),
                    space: (*space).into(),
                    by: by.clone(),
                    pending: *pending,
                };
                for seq in [0, 1, 7, u64::MAX] {
                    let line = put_line(seq, &n);
                    let line = &line[..line.len() - 1];
                    let want = serde(line).unwrap();
                    if let Some(got) = fast_put(line) {
                        fast_used += 1;
                        assert!(same(&got, &want), "{}", String::from_utf8_lossy(line));
                    }
                }
            }
        }
        assert!(fast_used >= 4 * 48, "{fast_used}"); // all but the \u escapes of controls
                                                     // Every cut and every single-byte change of a line: when the fast decoder accepts
                                                     // it, serde reads the same; it never accepts what serde refuses.
        let line = put_line(12, &note(ID, "a \"b\" \\ c\nü ✓"));
        let line = &line[..line.len() - 1];
        for i in 0..=line.len() {
            let cut = &line[..i];
            if let Some(got) = fast_put(cut) {
                assert!(same(&got, &serde(cut).unwrap()));
            }
            for flip in [0x01u8, 0x20, 0x80] {
                if i == line.len() {
                    break;
                }
                let mut b = line.to_vec();
                b[i] ^= flip;
                if let Some(got) = fast_put(&b) {
                    let want = serde(&b);
                    assert!(
                        want.is_some_and(|w| same(&got, &w)),
                        "{}",
                        String::from_utf8_lossy(&b)
                    );
                }
            }
        }
        for other in [
            r#"{"seq":1,"op":"put","id":"x","text":"t","tags":[],"created_at":"a","updated_at":"b"}"#,
            r#"{"op":"put","seq":01,"id":"x","text":"t","tags":[],"created_at":"a","updated_at":"b"}"#,
            r#"{"op":"put","seq":1,"id":"x","text":"\u0041","tags":[],"created_at":"a","updated_at":"b"}"#,
            r#"{"op":"put","seq":1,"id":"x","text":"t","tags":[],"created_at":"a","updated_at":"b"} "#,
            r#"{"op":"put","seq":1,"id":"x","text":"t","tags":[,],"created_at":"a","updated_at":"b"}"#,
        ] {
            assert!(fast_put(other.as_bytes()).is_none(), "{other}");
        }
    }

    #[test]
    fn parse_errors_say_why_and_tell_torn_from_invalid() {
        let e = |s: &str| match parse_line(s.as_bytes()) {
            Err(e) => e,
            Ok(_) => panic!("{s} parsed"),
        };
        let invalid = |s: &str| match e(s) {
            LineError::Invalid(m) => m,
            other => panic!("{s}: {other:?}"),
        };
        let put = |id: &str, text: &str, tags: &str, created: &str| {
            format!(
                r#"{{"op":"put","seq":1,"id":"{id}","text":{text},"tags":{tags},"created_at":"{created}","updated_at":"2026-01-01T00:00:00Z"}}"#
            )
        };
        assert!(invalid(r#"{"op":"put","seq":1,"id":"x","tags":[]}"#).contains("no `text`"));
        assert!(invalid(r#"{"op":"zap","seq":1,"id":"x"}"#).contains("unknown op"));
        assert!(invalid(r#"{"op":"del","seq":1,"id":"x"}"#).contains("no `at`"));
        assert!(invalid(r#"{"op":"put","seq":"1","id":"x"}"#).contains("invalid type"));
        // Each rule of new input, by the same functions and messages.
        let cases = [
            (
                put("../../etc/passwd", "\"t\"", "[]", "2026-01-01"),
                "is not a note id",
            ),
            (put(ID, "\" \"", "[]", "2026-01-01"), "`text` is empty"),
            (
                put(
                    ID,
                    &format!("\"{}\"", "x".repeat(65_537)),
                    "[]",
                    "2026-01-01",
                ),
                "64 KiB",
            ),
            (
                put(ID, "\"t\"", "[\"Work\"]", "2026-01-01"),
                "not in their stored form",
            ),
            (put(ID, "\"t\"", "[\"a b\"]", "2026-01-01"), "contains ' '"),
            (put(ID, "\"t\"", "[\"a\",\"a\"]", "2026-01-01"), "each once"),
            (put(ID, "\"t\"", "[\"\"]", "2026-01-01"), "a tag is empty"),
            (
                put(ID, "\"t\"", "[\"a\"]", "2026-02-30"),
                "`created_at` \"2026-02-30\"",
            ),
            (
                format!(r#"{{"op":"del","seq":2,"id":"{ID}","at":"soon"}}"#),
                "`at` \"soon\"",
            ),
        ];
        for (line, want) in cases {
            let m = invalid(&line);
            assert!(m.contains(want), "{m}");
        }
        let many: Vec<String> = (0..17).map(|i| format!("\"t{i}\"")).collect();
        let m = invalid(&put(
            ID,
            "\"t\"",
            &format!("[{}]", many.join(",")),
            "2026-01-01",
        ));
        assert!(m.contains("at most 16"), "{m}");
        // Cut short or garbled: what a crash leaves.
        let good = put(ID, "\"t\"", "[]", "2026-01-01");
        for torn in [&good[..good.len() - 1], &good[..20], "\0\0\0\0", "{nope"] {
            assert!(matches!(e(torn), LineError::Syntax(_)), "{torn}");
        }
        assert!(parse_line(good.as_bytes()).is_ok());
    }
}
