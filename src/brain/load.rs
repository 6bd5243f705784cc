//! `open`'s two ways to the in-memory state: from a snapshot plus the log records after it, or
//! from the whole log. Either way the log is read in chunks of [`CHUNK`] bytes (never all of it
//! at once: a million notes are 300 MB of log), each chunk parsed on every CPU and applied in
//! order, so memory at start is the state plus a chunk or two.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::hash::Xxh64;

use super::index::Index;
use super::log::{self, LineError, Record};
use super::snapshot;
use super::state::{NewVersion, State, Ver};
use super::{dedup_key, BrainError};

/// Bytes of log read and parsed at a time (small in tests, so that they cross chunks).
#[cfg(not(test))]
const CHUNK: usize = 32 << 20;
#[cfg(test)]
const CHUNK: usize = 64 << 10;
/// Chunks under this size are parsed on the calling thread; thread start-up is not worth it.
#[cfg(not(test))]
const PARALLEL_PARSE_MIN: usize = 1 << 20;
#[cfg(test)]
const PARALLEL_PARSE_MIN: usize = 4 << 10;
/// Fewer notes than this in a chunk are indexed on the calling thread.
#[cfg(not(test))]
const PARALLEL_INDEX_MIN: usize = 5000;
#[cfg(test)]
const PARALLEL_INDEX_MIN: usize = 100;

/// What `open` got: the state, the log opened for appending, the next seq.
pub struct Opened {
    pub state: State,
    pub append: File,
    pub next_seq: u64,
}

fn io_err(e: std::io::Error) -> BrainError {
    BrainError::Io(e)
}

/// Loads the state of the log in `dir` (see the module's comment), setting aside a torn last
/// line and compacting when forgotten records dominate.
pub fn open(dir: &Path, log_path: &Path, compact_min_dead: u64) -> Result<Opened, BrainError> {
    let append = log::open_append(dir, log_path)?;
    let read = File::open(log_path)?;
    let file_len = read.metadata()?.len();
    let mut opened = match from_snapshot(dir, log_path, &read, file_len)? {
        Some(o) => o,
        None => from_log(log_path, read, file_len)?,
    };
    opened.append = append;
    if opened.state.should_compact(compact_min_dead) {
        compact(dir, log_path, &mut opened);
    }
    if !opened.state.indexing {
        build_index(&mut opened.state)?;
    }
    opened.state.rows.shrink_to_fit();
    super::release_freed_memory();
    Ok(opened)
}

/// Rewrites the log without the records of forgotten notes (see `State::should_compact`).
fn compact(dir: &Path, log_path: &Path, o: &mut Opened) {
    let keep = o.state.kept_lines();
    match log::compact(dir, log_path, &o.state.file, &keep, false) {
        Ok(c) => {
            o.state.moved(&keep, c.read, c.len, c.hash);
            o.append = c.append;
        }
        Err(e) => eprintln!(
            "brain: could not compact {} ({e}); it stays as it is",
            log_path.display()
        ),
    }
}

/// The state from the snapshot, when there is one that matches the log, and the log's records
/// after it. `Ok(None)` (with a line on stderr saying why, unless there was no snapshot) when
/// the whole log must be read instead.
fn from_snapshot(
    dir: &Path,
    log_path: &Path,
    read: &File,
    file_len: u64,
) -> Result<Option<Opened>, BrainError> {
    let not_used = |why: String| {
        eprintln!(
            "brain: not using {} ({why}); loading {} instead, which takes longer",
            dir.join(snapshot::SNAPSHOT_NAME).display(),
            log_path.display()
        );
        Ok(None)
    };
    let reader = match snapshot::open(dir) {
        Ok(Some(r)) => r,
        Ok(None) => return Ok(None),
        Err(why) => return not_used(why),
    };
    let covered = reader.header.log_len;
    let want = reader.header.log_hash;
    if covered > file_len {
        return not_used("it is of a longer log".into());
    }
    // The log's first `covered` bytes are hashed while the snapshot is read.
    let (hashed, state) = std::thread::scope(|scope| {
        let hasher = std::thread::Builder::new()
            .spawn_scoped(scope, || hash_prefix(read, covered))
            .map_err(|_| ());
        let state = read
            .try_clone()
            .map_err(|e| e.to_string())
            .and_then(|f| reader.read(f, log_path.to_path_buf()));
        let hashed = match hasher {
            Ok(h) => h
                .join()
                .unwrap_or_else(|_| Err("hash thread panicked".into())),
            Err(()) => hash_prefix(read, covered),
        };
        (hashed, state)
    });
    let hash = match hashed {
        Ok(h) => h,
        Err(e) => return Err(BrainError::Io(std::io::Error::other(e))),
    };
    let (mut state, next_seq) = match state {
        Ok(s) => s,
        Err(why) => return not_used(why),
    };
    if hash.digest() != want {
        return not_used("it was made from another log: the log was rewritten or edited".into());
    }
    state.log_len = covered;
    state.log_hash = hash;
    state.snapshot_len = covered;
    let mut last_seq = next_seq - 1;
    scan(log_path, read, covered, file_len, &mut state, &mut last_seq)?;
    let append = read.try_clone()?; // replaced by the caller
    Ok(Some(Opened {
        state,
        append,
        next_seq: last_seq + 1,
    }))
}

/// The hash of the first `len` bytes of `file`.
fn hash_prefix(file: &File, len: u64) -> Result<Xxh64, String> {
    let mut h = Xxh64::new();
    let mut buf = vec![0u8; 4 << 20];
    let mut at = 0u64;
    while at < len {
        let n = ((len - at) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], at)
            .map_err(|e| e.to_string())?;
        h.update(&buf[..n]);
        at += n as u64;
    }
    Ok(h)
}

/// The state of the whole log, without its index (built after a compaction, if any).
fn from_log(log_path: &Path, read: File, file_len: u64) -> Result<Opened, BrainError> {
    let append = read.try_clone()?; // replaced by the caller
    let mut state = State::new(read, log_path.to_path_buf());
    let mut last_seq = 0;
    let file = state.file.try_clone()?;
    scan(log_path, &file, 0, file_len, &mut state, &mut last_seq)?;
    if state.dead_rows > 0 {
        state.drop_dead_rows(); // and the maps with them
    } else {
        state.rebuild_maps(false);
    }
    Ok(Opened {
        state,
        append,
        next_seq: last_seq + 1,
    })
}

/// One parsed line: where it is and what it says.
struct Item<'a> {
    at: u64,
    len: u32,
    record: Record<'a>,
    /// `dedup_key` of a put, computed on the parsing thread.
    digest: u64,
}

/// Why a piece stopped: at a bad line, or at a torn end (only the file's last line can be).
enum Stop {
    Bad { at: u64, why: String },
    Torn { at: u64 },
}

/// Parses and applies the log's bytes `from..to` in chunks, hashing them into the state and
/// checking that seqs increase. A torn last line is set aside; any other bad line is
/// `Corrupt`, naming the file and line.
fn scan(
    log_path: &Path,
    file: &File,
    from: u64,
    to: u64,
    state: &mut State,
    last_seq: &mut u64,
) -> Result<(), BrainError> {
    let mut pos = from;
    let mut buf: Vec<u8> = Vec::new();
    let mut size = CHUNK;
    while pos < to {
        let want = ((to - pos) as usize).min(size);
        buf.resize(want, 0);
        file.read_exact_at(&mut buf, pos).map_err(io_err)?;
        let at_end = pos + want as u64 == to;
        // A chunk ends after its last newline; the rest starts the next one. A line longer
        // than a chunk cannot be valid (a 64 KiB text, escaped, is at most 400 KB), but
        // should one come the chunk grows until the line is whole and is refused as usual.
        let cut = match buf.iter().rposition(|&b| b == b'\n') {
            Some(nl) if !at_end => nl + 1,
            None if !at_end => {
                size *= 2;
                continue;
            }
            _ => want,
        };
        size = CHUNK;
        let chunk = &buf[..cut];
        let (items, stop) = parse_chunk(chunk, pos, at_end);
        let good = match &stop {
            Some(Stop::Torn { at }) => (*at - pos) as usize,
            _ => cut,
        };
        for item in items {
            let seq = item.record.seq();
            if seq <= *last_seq {
                return Err(BrainError::Corrupt(format!(
                    "{} line {}: seq {seq} is not greater than the previous record's {}",
                    log_path.display(),
                    line_of(file, item.at)?,
                    *last_seq
                )));
            }
            *last_seq = seq;
            let at = item.at;
            if !apply(state, item) {
                return Err(BrainError::Corrupt(format!(
                    "{} line {}: a note names a space beyond the {} a brain may have",
                    log_path.display(),
                    line_of(file, at)?,
                    super::state::MAX_SPACES
                )));
            }
        }
        match stop {
            Some(Stop::Bad { at, why }) => {
                return Err(BrainError::Corrupt(format!(
                    "{} line {}: {why}",
                    log_path.display(),
                    line_of(file, at)?
                )))
            }
            Some(Stop::Torn { at }) => {
                state.log_hash.update(&chunk[..good]);
                state.log_len = at;
                let torn = &buf[good..];
                let dir = log_path.parent().unwrap_or(Path::new("."));
                let aside = log::set_aside_torn_tail(dir, log_path, torn, at)?;
                eprintln!(
                    "brain: {} ended with {} bytes of an unfinished write (a crash mid-append); \
                     moved them to {} and opened the log without them",
                    log_path.display(),
                    torn.len(),
                    aside.display()
                );
                return Ok(());
            }
            None => {}
        }
        state.log_hash.update(chunk);
        pos += cut as u64;
        state.log_len = pos;
    }
    Ok(())
}

/// Applies one record; false when it names a space the brain has no room for.
fn apply(state: &mut State, item: Item) -> bool {
    match item.record {
        Record::Put(p) => {
            let tagset = state.tags.intern(&p.tags);
            let Some(space) = state.intern_space(&p.space) else {
                return false;
            };
            let writer = state.intern_writer(p.by.as_deref());
            state.put(
                NewVersion {
                    id: p.id,
                    ver: Ver {
                        at: item.at,
                        len: item.len,
                        seq: p.seq,
                        writer,
                    },
                    created: p.created,
                    tagset,
                    digest: item.digest,
                    space,
                    pending: p.pending,
                },
                &p.text,
            );
        }
        Record::Del { seq, id } => {
            state.del(seq, id);
        }
    }
    true
}

/// The 1-based number of the line that starts at byte `at` of the log (for messages: reads
/// the log up to there).
fn line_of(file: &File, at: u64) -> Result<usize, BrainError> {
    let mut buf = vec![0u8; 1 << 20];
    let (mut pos, mut lines) = (0u64, 1usize);
    while pos < at {
        let n = ((at - pos) as usize).min(buf.len());
        file.read_exact_at(&mut buf[..n], pos).map_err(io_err)?;
        lines += buf[..n].iter().filter(|&&b| b == b'\n').count();
        pos += n as u64;
    }
    Ok(lines)
}

/// Parses a chunk (whole lines, but for a torn end when it is the log's last) on every CPU.
/// `base` is the chunk's offset in the log. Returns the items before the first bad line and,
/// if there is one, where and why the chunk stopped.
fn parse_chunk(chunk: &[u8], base: u64, at_end: bool) -> (Vec<Item<'_>>, Option<Stop>) {
    let threads = if chunk.len() < PARALLEL_PARSE_MIN {
        1
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get().min(8))
    };
    let mut bounds = vec![0];
    for k in 1..threads {
        let from = (chunk.len() * k / threads).max(bounds[bounds.len() - 1]);
        match chunk[from..].iter().position(|&b| b == b'\n') {
            Some(nl) => bounds.push(from + nl + 1),
            None => break,
        }
    }
    bounds.push(chunk.len());
    bounds.dedup();
    let pieces: Vec<(usize, usize)> = bounds.windows(2).map(|w| (w[0], w[1])).collect();
    let results: Vec<(Vec<Item>, Option<Stop>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = pieces
            .iter()
            .enumerate()
            .map(|(i, &(start, end))| {
                let last = at_end && i + 1 == pieces.len();
                let work = move || parse_piece(chunk, base, start, end, last);
                // If no thread can be started, the piece is parsed right here instead.
                std::thread::Builder::new()
                    .spawn_scoped(scope, work)
                    .map_err(|_| work)
            })
            .collect();
        handles
            .into_iter()
            .map(|h| match h {
                Ok(h) => h.join().unwrap_or_else(|_| {
                    let why = "log parser thread panicked".to_string();
                    (Vec::new(), Some(Stop::Bad { at: base, why }))
                }),
                Err(work) => work(),
            })
            .collect()
    });
    let mut items = Vec::new();
    for (mut piece, stop) in results {
        items.append(&mut piece);
        if stop.is_some() {
            return (items, stop);
        }
    }
    (items, None)
}

/// Parses `chunk[start..end]`, which starts at a line boundary and, unless it is the `last`
/// piece of the log, ends with "\n". Only the last piece may have a torn tail: a final line
/// without its "\n", or one that is not (whole) JSON. A whole JSON record that breaks a rule
/// is never torn: a crash cannot write one.
fn parse_piece(
    chunk: &[u8],
    base: u64,
    mut start: usize,
    end: usize,
    last: bool,
) -> (Vec<Item<'_>>, Option<Stop>) {
    let mut items = Vec::with_capacity((end - start) / 200);
    while start < end {
        let at = base + start as u64;
        let Some(nl) = chunk[start..end].iter().position(|&b| b == b'\n') else {
            // No newline: the append never finished (only possible in the last piece).
            return (items, Some(Stop::Torn { at }));
        };
        let line_end = start + nl;
        let raw = &chunk[start..line_end];
        if !raw.iter().all(u8::is_ascii_whitespace) {
            match log::parse_line(raw) {
                Ok(record) => {
                    let digest = match &record {
                        Record::Put(p) => dedup_key(&p.text, &p.tags, &p.space),
                        Record::Del { .. } => 0,
                    };
                    items.push(Item {
                        at,
                        len: (nl + 1) as u32,
                        record,
                        digest,
                    });
                }
                Err(LineError::Syntax(_)) if last && line_end + 1 == end => {
                    return (items, Some(Stop::Torn { at }));
                }
                Err(e) => {
                    let why = e.message();
                    return (items, Some(Stop::Bad { at, why }));
                }
            }
        }
        start = line_end + 1;
    }
    (items, None)
}

/// Builds the index over the live notes, in the order their current versions were written
/// (search's recency order), which is the order of their lines in the log: the log is read
/// again a chunk at a time, and each chunk's notes are indexed on every CPU.
fn build_index(state: &mut State) -> Result<(), BrainError> {
    let order = state.rows_by_write();
    for (slot, &row) in order.iter().enumerate() {
        state.rows[row as usize].slot = slot as u32;
    }
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(8));
    let mut index = Index::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut i = 0;
    while i < order.len() {
        // The next notes whose lines fit in a chunk (at least one).
        let start = state.rows[order[i] as usize].current.at;
        let mut j = i;
        while j < order.len() {
            let v = state.rows[order[j] as usize].current;
            if j > i && v.at + u64::from(v.len) - start > CHUNK as u64 {
                break;
            }
            j += 1;
        }
        let last = state.rows[order[j - 1] as usize].current;
        buf.resize((last.at + u64::from(last.len) - start) as usize, 0);
        state.file.read_exact_at(&mut buf, start).map_err(io_err)?;
        let rows = &order[i..j];
        let s: &State = state;
        let bytes = &buf;
        let build = move |part: &[u32]| -> Result<Index, BrainError> {
            let mut ix = Index::default();
            for &row in part {
                let v = s.rows[row as usize].current;
                let at = (v.at - start) as usize;
                let line = &bytes[at..at + v.len as usize];
                let text = text_of(s, row, line)?;
                ix.add(row, &text);
            }
            Ok(ix)
        };
        let parts = if rows.len() < PARALLEL_INDEX_MIN || threads == 1 {
            vec![build(rows)]
        } else {
            let size = rows.len().div_ceil(threads);
            std::thread::scope(|scope| {
                let handles: Vec<_> = rows
                    .chunks(size)
                    .map(|part| {
                        let t =
                            std::thread::Builder::new().spawn_scoped(scope, move || build(part));
                        (part, t)
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|(part, t)| match t.map(|t| t.join()) {
                        Ok(Ok(ix)) => ix,
                        // A part whose thread could not start (or died) is indexed here.
                        _ => build(part),
                    })
                    .collect::<Vec<_>>()
            })
        };
        for part in parts {
            index.append(part?);
        }
        i = j;
    }
    state.index = index;
    state.indexing = true;
    Ok(())
}

/// The text of the line of `row`'s current version (already checked when it was loaded).
fn text_of<'a>(
    s: &State,
    row: u32,
    line: &'a [u8],
) -> Result<std::borrow::Cow<'a, str>, BrainError> {
    let body = line.strip_suffix(b"\n").unwrap_or(line);
    match log::text_of(body) {
        Some(text) => Ok(text),
        None => Err(BrainError::Corrupt(format!(
            "{}: the line at byte {} changed while it was being loaded",
            s.log_path.display(),
            s.rows[row as usize].current.at
        ))),
    }
}
