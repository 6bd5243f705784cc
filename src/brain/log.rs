//! The note log: `notes.jsonl`, one JSON record per line, only ever appended to (compaction
//! aside, which replaces the whole file atomically).
//!
//! ```text
//! {"op":"put","seq":1,"id":"n_k3v9q2m7x4ab","text":"Buy oat milk","tags":["shopping"],"created_at":"2026-11-26T23:15:57Z","updated_at":"2026-11-26T23:15:57Z"}
//! {"op":"del","seq":2,"id":"n_k3v9q2m7x4ab","at":"2026-11-27T08:00:02Z"}
//! ```
//!
//! `seq` goes up by one with every record appended (compaction leaves gaps), is never reused,
//! and must increase down the file (`open` says `Corrupt` otherwise); it orders notes and backs the
//! `list` cursor. A `put` whose id is already live is a new version of that note (a later
//! "update" appends one; nothing is rewritten), so the log is the note's history.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{BrainError, Note};

pub const LOG_NAME: &str = "notes.jsonl";
pub const TMP_NAME: &str = "notes.jsonl.tmp";

pub enum Record {
    Put { seq: u64, note: Note },
    Del { seq: u64, id: String },
}

impl Record {
    pub fn seq(&self) -> u64 {
        match self {
            Record::Put { seq, .. } | Record::Del { seq, .. } => *seq,
        }
    }
}

#[derive(Serialize)]
struct PutOut<'a> {
    op: &'static str,
    seq: u64,
    id: &'a str,
    text: &'a str,
    tags: &'a [String],
    created_at: &'a str,
    updated_at: &'a str,
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
#[derive(Deserialize)]
struct RecordIn<'a> {
    /// Borrowed from the line when it has no escapes (always, for what we write).
    #[serde(borrow)]
    op: std::borrow::Cow<'a, str>,
    seq: u64,
    id: String,
    text: Option<String>,
    tags: Option<Vec<String>>,
    created_at: Option<String>,
    updated_at: Option<String>,
    at: Option<String>,
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

/// Parses one line (without its "\n"). The error says what is wrong, for `Corrupt`.
pub fn parse_line(line: &[u8]) -> Result<Record, String> {
    let r: RecordIn = serde_json::from_slice(line).map_err(|e| e.to_string())?;
    let missing = |f: &str| format!("{} record has no `{f}`", r.op);
    match &*r.op {
        "put" => {
            let text = r.text.ok_or_else(|| missing("text"))?;
            let tags = r.tags.ok_or_else(|| missing("tags"))?;
            let created_at = r.created_at.ok_or_else(|| missing("created_at"))?;
            let updated_at = r.updated_at.ok_or_else(|| missing("updated_at"))?;
            Ok(Record::Put {
                seq: r.seq,
                note: Note {
                    id: r.id,
                    text,
                    tags,
                    created_at,
                    updated_at,
                },
            })
        }
        "del" => {
            r.at.ok_or_else(|| missing("at"))?;
            Ok(Record::Del {
                seq: r.seq,
                id: r.id,
            })
        }
        other => Err(format!(
            "unknown op {other:?} (expected \"put\" or \"del\")"
        )),
    }
}

/// One parsed line and where it sits in the file, so compaction can copy it verbatim.
pub struct Line {
    pub start: usize,
    pub end: usize,
    pub record: Record,
}

/// The result of reading a log: its good records, and how many bytes of it are good.
pub struct Loaded {
    pub lines: Vec<Line>,
    pub good_len: usize,
}

/// The 1-based line number of the line starting at byte `offset`, for error messages.
pub fn line_number(bytes: &[u8], offset: usize) -> usize {
    1 + bytes[..offset.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Logs under this size are parsed on the calling thread; thread start-up is not worth it.
const PARALLEL_PARSE_MIN: usize = 1 << 20;

/// Parses a whole log. A bad final line (no "\n", or not a valid record with nothing valid
/// after it) is what a crash in the middle of an append leaves: it is reported through
/// `good_len < bytes.len()` for the caller to set aside. A bad line anywhere else is `Corrupt`.
/// Blank lines are skipped, so a hand-edited log stays readable.
///
/// Large logs are cut at line boundaries into one piece per CPU and parsed in parallel, which
/// is most of what keeps `open` of 100,000 notes well under a second.
pub fn parse_log(path: &Path, bytes: &[u8]) -> Result<Loaded, BrainError> {
    let threads = if bytes.len() < PARALLEL_PARSE_MIN {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    let mut bounds = vec![0];
    for k in 1..threads {
        let from = (bytes.len() * k / threads).max(bounds[bounds.len() - 1]);
        match bytes[from..].iter().position(|&b| b == b'\n') {
            Some(nl) => bounds.push(from + nl + 1),
            None => break,
        }
    }
    bounds.push(bytes.len());
    bounds.dedup();
    let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let results: Vec<Result<Loaded, (usize, String)>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pieces
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                let last = i + 1 == pieces.len();
                let work = move || parse_piece(bytes, start, end, last);
                // If no thread can be started, the piece is parsed right here instead.
                std::thread::Builder::new()
                    .spawn_scoped(scope, work)
                    .map_err(|_| work)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| Err((0, "log parser thread panicked".into()))),
                Err(work) => work(),
            })
            .collect()
    });
    let mut lines = Vec::new();
    let mut good_len = bytes.len();
    for r in results {
        match r {
            Ok(mut piece) => {
                if lines.is_empty() {
                    lines = piece.lines;
                } else {
                    lines.append(&mut piece.lines);
                }
                good_len = piece.good_len;
            }
            Err((offset, reason)) => {
                return Err(BrainError::Corrupt(format!(
                    "{} line {}: {reason}",
                    path.display(),
                    line_number(bytes, offset)
                )))
            }
        }
    }
    Ok(Loaded { lines, good_len })
}

/// Parses `bytes[start..end]`, which starts at a line boundary and, unless it is the `last`
/// piece, ends with "\n". Only the last piece may have a torn tail.
fn parse_piece(
    bytes: &[u8],
    mut start: usize,
    end: usize,
    last: bool,
) -> Result<Loaded, (usize, String)> {
    let mut lines = Vec::with_capacity((end - start) / 256);
    while start < end {
        let Some(nl) = bytes[start..end].iter().position(|&b| b == b'\n') else {
            // No newline: the append never finished (only possible in the last piece).
            return Ok(Loaded {
                lines,
                good_len: start,
            });
        };
        let line_end = start + nl;
        let raw = &bytes[start..line_end];
        if !raw.iter().all(u8::is_ascii_whitespace) {
            match parse_line(raw) {
                Ok(record) => lines.push(Line {
                    start,
                    end: line_end + 1,
                    record,
                }),
                Err(_) if last && line_end + 1 == end => {
                    return Ok(Loaded {
                        lines,
                        good_len: start,
                    })
                }
                Err(reason) => return Err((start, reason)),
            }
        }
        start = line_end + 1;
    }
    Ok(Loaded {
        lines,
        good_len: end,
    })
}

/// Moves `bytes[good_len..]` of the log into `<log>.torn.<unix-time>` and truncates the log to
/// `good_len`, so the torn bytes are kept for a human to look at but no longer block opening.
/// Returns the path of the set-aside file.
pub fn set_aside_torn_tail(
    dir: &Path,
    log: &Path,
    bytes: &[u8],
    good_len: usize,
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
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => break (f, path),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 1000 => n += 1,
            Err(e) => return Err(e),
        }
    };
    f.write_all(&bytes[good_len..])?;
    f.sync_all()?;
    let logf = OpenOptions::new().write(true).open(log)?;
    logf.set_len(good_len as u64)?;
    logf.sync_all()?;
    sync_dir(dir)?;
    Ok(path)
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
            let f = OpenOptions::new().append(true).create_new(true).open(log)?;
            f.sync_all()?;
            sync_dir(dir)?;
            Ok(f)
        }
        Err(e) => Err(e),
    }
}

/// Appends one whole line with a single `write_all`, then `sync_data`. On failure the caller
/// truncates back (see `Writer::append` in mod.rs). `fault` makes this call write half the line
/// and fail, as a full disk would.
pub fn write_durably(f: &mut File, line: &[u8], fault: bool) -> io::Result<()> {
    if fault {
        f.write_all(&line[..line.len() / 2])?;
        return Err(io::Error::other("injected write fault (test)"));
    }
    f.write_all(line)?;
    f.sync_data()
}

/// Rewrites the log keeping only the byte ranges `keep` (whole lines, in order), atomically: the new content goes to
/// `notes.jsonl.tmp`, is fsynced, renamed over the log, and the directory is fsynced. A crash
/// at any point leaves either the old log or the new one (plus perhaps a stale tmp file that
/// `open` removes). Returns the new log, opened for appending, and its length.
pub fn compact(
    dir: &Path,
    log: &Path,
    bytes: &[u8],
    keep: &[(usize, usize)],
    fault: bool,
) -> io::Result<(File, u64)> {
    let tmp = dir.join(TMP_NAME);
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let mut f = OpenOptions::new()
            .append(true)
            .create_new(true)
            .open(&tmp)?;
        let mut out = Vec::with_capacity(bytes.len() / 2);
        for &(start, end) in keep {
            out.extend_from_slice(bytes.get(start..end).unwrap_or_default());
        }
        write_durably(&mut f, &out, fault)?;
        Ok::<_, io::Error>((f, out.len() as u64))
    })();
    let (f, len) = match result {
        Ok(ok) => ok,
        Err(e) => {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
    };
    if let Err(e) = fs::rename(&tmp, log) {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // The rename has happened; `f` is now the log whatever the directory sync says.
    if let Err(e) = sync_dir(dir) {
        eprintln!(
            "brain: compacted {} but could not sync its directory: {e}",
            log.display()
        );
    }
    Ok((f, len))
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
        }
    }

    #[test]
    fn lines_round_trip_and_read_well() {
        let n = note("n_abc", "say \"hi\"\nthen leave");
        let line = put_line(7, &n);
        assert_eq!(
            String::from_utf8_lossy(&line),
            "{\"op\":\"put\",\"seq\":7,\"id\":\"n_abc\",\"text\":\"say \\\"hi\\\"\\nthen leave\",\
             \"tags\":[\"a\"],\"created_at\":\"2026-11-26T23:15:57Z\",\
             \"updated_at\":\"2026-11-26T23:15:57Z\"}\n"
        );
        match parse_line(&line[..line.len() - 1]) {
            Ok(Record::Put { seq: 7, note }) => assert_eq!(note, n),
            _ => panic!("put did not round-trip"),
        }
        let line = del_line(8, "n_abc", "2026-11-27T00:00:00Z");
        assert!(matches!(
            parse_line(&line[..line.len() - 1]),
            Ok(Record::Del { seq: 8, ref id }) if id == "n_abc"
        ));
    }

    #[test]
    fn parse_errors_say_why() {
        let e = |s: &str| parse_line(s.as_bytes()).err().unwrap_or_default();
        assert!(e(r#"{"op":"put","seq":1,"id":"x","tags":[]}"#).contains("no `text`"));
        assert!(e(r#"{"op":"zap","seq":1,"id":"x"}"#).contains("unknown op"));
        assert!(e(r#"{"op":"del","seq":1,"id":"x"}"#).contains("no `at`"));
        assert!(!e("{nope").is_empty());
    }

    #[test]
    fn torn_tail_versus_corrupt_middle() {
        let p = Path::new("/x/notes.jsonl");
        let good = put_line(1, &note("n_a", "one"));
        let mut b = good.clone();
        b.extend_from_slice(b"{\"op\":\"put\",\"se");
        let l = parse_log(p, &b).unwrap();
        assert_eq!((l.lines.len(), l.good_len), (1, good.len()));

        // A complete but garbled last line is torn too (e.g. zeros after a power cut).
        let mut b = good.clone();
        b.extend_from_slice(b"\0\0\0\0\n");
        assert_eq!(parse_log(p, &b).unwrap().good_len, good.len());

        // A valid record without its newline was never acknowledged: set aside as well.
        let mut b = good.clone();
        b.extend_from_slice(&good[..good.len() - 1]);
        assert_eq!(parse_log(p, &b).unwrap().good_len, good.len());

        // Large enough to be parsed in pieces: the torn tail is still found, and a bad line
        // still names its line whichever piece it falls in.
        let many: Vec<u8> = (1..=20_000)
            .flat_map(|i| put_line(i, &note(&format!("n_{i}"), "some text")))
            .collect();
        assert!(many.len() > PARALLEL_PARSE_MIN);
        let mut b = many.clone();
        b.extend_from_slice(b"{\"op\"");
        let l = parse_log(p, &b).unwrap();
        assert_eq!((l.lines.len(), l.good_len), (20_000, many.len()));
        assert!(l
            .lines
            .windows(2)
            .all(|w| w[0].record.seq() + 1 == w[1].record.seq()));
        for bad in [1, 7_777, 12_345, 19_999] {
            let mut b = many.clone();
            let at = b
                .iter()
                .enumerate()
                .filter(|&(_, &c)| c == b'\n')
                .nth(bad - 1)
                .unwrap()
                .0;
            b[at - 1] = b'x'; // breaks the closing brace of line `bad`
            match parse_log(p, &b) {
                Err(BrainError::Corrupt(m)) => {
                    assert!(
                        m.starts_with(&format!("/x/notes.jsonl line {bad}: ")),
                        "{m}"
                    )
                }
                _ => panic!("expected Corrupt at line {bad}"),
            }
        }

        let mut b = good.clone();
        b.extend_from_slice(b"garbage\n");
        b.extend_from_slice(&put_line(2, &note("n_b", "two")));
        match parse_log(p, &b) {
            Err(BrainError::Corrupt(m)) => assert!(m.starts_with("/x/notes.jsonl line 2: "), "{m}"),
            _ => panic!("expected Corrupt"),
        }
    }
}
