//! `notes.snapshot`: the in-memory state (rows, tags, index) written to disk, so that `open`
//! of a large brain reads it instead of parsing and indexing the whole log.
//!
//! The log stays the truth. A snapshot says which log it was made from: the log's length then
//! and the XXH64 of those bytes (see `hash.rs`). `open` uses it only when the log's first that-many bytes
//! hash to the same value (then it parses and applies just the records after them); otherwise
//! (no snapshot, a compacted or edited log, a damaged or truncated snapshot, another format)
//! it rebuilds everything from the log and writes a new snapshot in the background. A
//! snapshot is checked before use: its own XXH64 (the file's last 8 bytes), then every
//! field, as [`read`] and `Index::read_from` describe, so a damaged one can only cost a slower
//! start. Nothing a snapshot says reaches a client without being read back from the log and
//! checked there (see `State::read_put`).
//!
//! Layout, little-endian: the magic line, a header (log length, log hash, next seq, live and
//! dead record counts), the space names, the writers, the rows, the histories, the tag names, the tag lists, the index, and
//! the XXH64 of everything before it. Written to `notes.snapshot.tmp`, fsynced, renamed.

use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use super::hash::Xxh64;

use super::index::Index;
use super::log::sync_dir;
use super::state::{Entry, State, Tags, Ver, DEAD, PENDING};
use super::text::{normalize_space, normalize_tag, Writer, MAX_TAGS};

pub const SNAPSHOT_NAME: &str = "notes.snapshot";
pub const SNAPSHOT_TMP_NAME: &str = "notes.snapshot.tmp";
/// Format 2 added the space and writer tables (issue 12); a format-1 snapshot is "another
/// format": the log is replayed and a new one written.
const MAGIC: &[u8] = b"brain-mcp notes snapshot 2\n";
/// The last second of year 9999, the latest time a stored timestamp may name.
const MAX_TIME: u64 = 253_402_300_799;

fn path_beside(log: &Path, name: &str) -> PathBuf {
    log.with_file_name(name)
}

/// Removes the snapshot next to the log `log` (after a note could not be read back).
pub fn remove(log: &Path) {
    let _ = fs::remove_file(path_beside(log, SNAPSHOT_NAME));
}

/// Hashes what passes through it.
struct Hashing<T> {
    inner: T,
    hash: Xxh64,
    /// Bytes still to hash (reading stops hashing before the trailer).
    left: u64,
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        let hashed = (n as u64).min(self.left) as usize;
        self.hash.update(&buf[..hashed]);
        self.left -= hashed as u64;
        Ok(n)
    }
}

/// The writing half of the format.
pub struct Enc<W: Write> {
    w: W,
}

impl<W: Write> Enc<W> {
    #[cfg(test)]
    pub fn new(w: W) -> Enc<W> {
        Enc { w }
    }
    pub fn u8(&mut self, v: u8) -> io::Result<()> {
        self.w.write_all(&[v])
    }
    pub fn u16(&mut self, v: u16) -> io::Result<()> {
        self.w.write_all(&v.to_le_bytes())
    }
    pub fn u32(&mut self, v: u32) -> io::Result<()> {
        self.w.write_all(&v.to_le_bytes())
    }
    pub fn u64(&mut self, v: u64) -> io::Result<()> {
        self.w.write_all(&v.to_le_bytes())
    }
    pub fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.u64(b.len() as u64)?;
        self.w.write_all(b)
    }
    pub fn str(&mut self, s: &str) -> io::Result<()> {
        self.bytes(s.as_bytes())
    }
    fn ver(&mut self, v: &Ver) -> io::Result<()> {
        self.u64(v.at)?;
        self.u32(v.len)?;
        self.u64(v.seq)?;
        self.u32(v.writer)
    }
}

/// The reading half: every read is bounded by what is left of the file, so a damaged length
/// can never make it allocate more than the file holds.
pub struct Dec<R: Read> {
    r: R,
    left: u64,
}

impl<'a> Dec<&'a [u8]> {
    pub fn new(b: &'a [u8]) -> Dec<&'a [u8]> {
        Dec {
            left: b.len() as u64,
            r: b,
        }
    }
}

impl<R: Read> Dec<R> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], String> {
        if self.left < N as u64 {
            return Err("it ends early".into());
        }
        let mut b = [0u8; N];
        self.r.read_exact(&mut b).map_err(|e| e.to_string())?;
        self.left -= N as u64;
        Ok(b)
    }
    pub fn u8(&mut self) -> Result<u8, String> {
        Ok(self.take::<1>()?[0])
    }
    pub fn u16(&mut self) -> Result<u16, String> {
        Ok(u16::from_le_bytes(self.take()?))
    }
    pub fn u32(&mut self) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.take()?))
    }
    pub fn u64(&mut self) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.take()?))
    }
    /// A count of items of at least `min_size` bytes each, which must fit in what is left.
    pub fn count(&mut self, min_size: u64) -> Result<usize, String> {
        let n = self.u64()?;
        if n.saturating_mul(min_size) > self.left {
            return Err(format!("a count of {n} does not fit in the file"));
        }
        usize::try_from(n).map_err(|e| e.to_string())
    }
    /// The next `n` bytes into `buf` (replacing what it held).
    fn read_into(&mut self, buf: &mut Vec<u8>, n: usize) -> Result<(), String> {
        if (n as u64) > self.left {
            return Err("it ends early".into());
        }
        buf.resize(n, 0);
        self.r.read_exact(buf).map_err(|e| e.to_string())?;
        self.left -= n as u64;
        Ok(())
    }

    pub fn bytes(&mut self) -> Result<Vec<u8>, String> {
        let n = self.count(1)?;
        let mut b = vec![0; n];
        self.r.read_exact(&mut b).map_err(|e| e.to_string())?;
        self.left -= n as u64;
        Ok(b)
    }
    pub fn str(&mut self) -> Result<String, String> {
        String::from_utf8(self.bytes()?).map_err(|_| "a string is not UTF-8".to_string())
    }
    fn ver(&mut self) -> Result<Ver, String> {
        Ok(Ver {
            at: self.u64()?,
            len: self.u32()?,
            seq: self.u64()?,
            writer: self.u32()?,
        })
    }
}

/// Writes a snapshot of `s` next to the log. The caller holds the state's read lock for the
/// whole write (it streams the state out; nothing is copied), then this file is fsynced and
/// renamed over the previous snapshot by [`install`].
pub fn write(s: &State) -> io::Result<PathBuf> {
    let tmp = path_beside(&s.log_path, SNAPSHOT_TMP_NAME);
    let _ = fs::remove_file(&tmp);
    let result = (|| {
        let f = super::log::private()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        let mut e = Enc {
            w: BufWriter::with_capacity(
                1 << 20,
                Hashing {
                    inner: f,
                    hash: Xxh64::new(),
                    left: 0,
                },
            ),
        };
        e.w.write_all(MAGIC)?;
        e.u64(s.log_len)?;
        e.u64(s.log_hash.digest())?;
        e.u64(s.next_seq)?;
        e.u64(s.live_records)?;
        e.u64(s.dead_records)?;
        e.u64(s.spaces.len() as u64)?;
        for n in &s.spaces {
            e.str(n)?;
        }
        e.u64(s.writers.len() as u64)?;
        for w in s.writers.iter().skip(1).flatten() {
            for f in [&w.kind, &w.id, &w.client, &w.name] {
                e.str(f)?;
            }
        }
        e.u64(s.rows.len() as u64)?;
        for r in &s.rows {
            e.u64(r.order)?;
            e.u64(r.id)?;
            e.ver(&r.current)?;
            e.u64(r.created)?;
            e.u64(r.digest)?;
            e.u32(r.slot)?;
            e.u32(r.tagset)?;
            e.u16(r.space)?;
            e.u8(r.flags)?;
        }
        e.u64(s.history.len() as u64)?;
        for (&row, vers) in &s.history {
            e.u32(row)?;
            e.u64(vers.len() as u64)?;
            for v in vers {
                e.ver(v)?;
            }
        }
        e.u64(s.tags.names().len() as u64)?;
        for n in s.tags.names() {
            e.str(n)?;
        }
        e.u64(s.tags.sets().len() as u64)?;
        for set in s.tags.sets() {
            e.u32(set.len() as u32)?;
            for &t in set.iter() {
                e.u32(t)?;
            }
        }
        s.index.write_to(&mut e)?;
        let h = e.w.into_inner().map_err(|e| e.into_error())?;
        let digest = h.hash.digest().to_le_bytes();
        let mut f = h.inner;
        f.write_all(&digest)?;
        f.sync_all()?;
        Ok::<_, io::Error>(())
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    Ok(tmp)
}

/// Renames a written snapshot over the previous one.
pub fn install(tmp: &Path) -> io::Result<()> {
    let dir = tmp.parent().unwrap_or(Path::new("."));
    let r = fs::rename(tmp, dir.join(SNAPSHOT_NAME)).and_then(|()| sync_dir(dir));
    if r.is_err() {
        let _ = fs::remove_file(tmp);
    }
    r
}

/// What a snapshot's header says it was made from.
pub struct Header {
    pub log_len: u64,
    pub log_hash: u64,
    pub next_seq: u64,
    live_records: u64,
    dead_records: u64,
}

/// An open snapshot whose header has been read.
pub struct Reader {
    pub header: Header,
    dec: Dec<BufReader<Hashing<File>>>,
}

/// Opens the snapshot in `dir` and reads its header; `Ok(None)` when there is none.
pub fn open(dir: &Path) -> Result<Option<Reader>, String> {
    let f = match File::open(dir.join(SNAPSHOT_NAME)) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.to_string()),
    };
    let len = f.metadata().map_err(|e| e.to_string())?.len();
    let body = len
        .checked_sub(8)
        .filter(|&b| b >= MAGIC.len() as u64)
        .ok_or("it is too short")?;
    let mut dec = Dec {
        r: BufReader::with_capacity(
            1 << 20,
            Hashing {
                inner: f,
                hash: Xxh64::new(),
                left: body,
            },
        ),
        left: body,
    };
    let mut magic = [0u8; MAGIC.len()];
    dec.r.read_exact(&mut magic).map_err(|e| e.to_string())?;
    dec.left -= MAGIC.len() as u64;
    if magic != MAGIC {
        return Err("it is not a snapshot of this version".into());
    }
    let header = Header {
        log_len: dec.u64()?,
        log_hash: dec.u64()?,
        next_seq: dec.u64()?,
        live_records: dec.u64()?,
        dead_records: dec.u64()?,
    };
    Ok(Some(Reader { header, dec }))
}

impl Reader {
    /// Reads the rest into a state that reads notes through `file` (the log), checking the
    /// file's hash and every field: rows in creation order with distinct ids, versions
    /// inside the log the header names, tags valid by the rules of new input
    /// ([`normalize_tag`]), each live note's index slot its own. The maps are rebuilt from
    /// the rows.
    pub fn read(mut self, file: File, log_path: PathBuf) -> Result<(State, u64), String> {
        match Reader::decode(&self.header, &mut self.dec, file, log_path) {
            Ok(s) if self.dec.left == 0 && self.checksum_matches() => Ok((s, self.header.next_seq)),
            Ok(_) if self.dec.left != 0 => Err("it has bytes after the index".into()),
            Err(why) if self.checksum_matches() => Err(why),
            _ => Err("its checksum does not match (the file is damaged)".into()),
        }
    }

    /// Whether the file's last 8 bytes are the hash of the rest (reading what is left).
    fn checksum_matches(&mut self) -> bool {
        let d = &mut self.dec;
        if std::io::copy(&mut (&mut d.r).take(d.left), &mut std::io::sink()).ok() != Some(d.left) {
            return false;
        }
        d.left = 0;
        let digest = d.r.get_mut().hash.digest().to_le_bytes();
        let mut trailer = [0u8; 8];
        d.r.read_exact(&mut trailer).is_ok() && digest[..] == trailer
    }

    fn decode(
        h: &Header,
        d: &mut Dec<BufReader<Hashing<File>>>,
        file: File,
        log_path: PathBuf,
    ) -> Result<State, String> {
        let mut s = State::new(file, log_path);
        let spaces = (0..d.count(8)?)
            .map(|_| {
                let name = d.str()?;
                match normalize_space(&name) {
                    Ok(t) if t == name => Ok(name),
                    Ok(_) => Err(format!("space {name:?} is not in its stored form")),
                    Err(e) => Err(e.to_string()),
                }
            })
            .collect::<Result<Vec<String>, String>>()?;
        let writer_count = d.count(8)?;
        let mut writers = vec![None];
        for _ in 1..writer_count {
            let w = Writer {
                kind: d.str()?,
                id: d.str()?,
                client: d.str()?,
                name: d.str()?,
            };
            w.check().map_err(|e| e.to_string())?;
            writers.push(Some(w));
        }
        if !s.set_names(spaces, writers) {
            return Err("the space or writer tables are not valid".into());
        }
        let n = d.count(67)?;
        s.rows.reserve_exact(n);
        let in_log = |v: &Ver| {
            v.at.checked_add(u64::from(v.len))
                .is_some_and(|e| e <= h.log_len)
        };
        // Rows are fixed-size: read a block of them at a time and decode from memory.
        let mut block = Vec::new();
        let mut b = Dec::new(&[][..]);
        for i in 0..n {
            if b.left == 0 {
                d.read_into(&mut block, (n - i).min(1 << 14) * 67)?;
                b = Dec::new(&block);
            }
            let e = Entry {
                order: b.u64()?,
                id: b.u64()?,
                current: b.ver()?,
                created: b.u64()?,
                digest: b.u64()?,
                slot: b.u32()?,
                tagset: b.u32()?,
                space: b.u16()?,
                flags: b.u8()?,
            };
            // A dead row is never read (its lines may be gone after a compaction).
            let ok = s.rows.last().is_none_or(|p| p.order < e.order)
                && e.id < 1 << 60
                && (!e.live() || in_log(&e.current))
                && e.current.seq >= e.order
                && e.current.seq < h.next_seq
                && e.created <= MAX_TIME
                && (e.space as usize) < s.spaces.len()
                && (e.current.writer as usize) < s.writers.len()
                && e.flags & !(DEAD | PENDING) == 0;
            if !ok {
                return Err(format!("row {} is not valid", s.rows.len()));
            }
            if e.live() {
                s.live += 1;
            } else {
                s.dead_rows += 1;
            }
            s.rows.push(e);
        }
        let mut records = s.live as u64;
        for _ in 0..d.count(8)? {
            let row = d.u32()?;
            let Some(e) = s.rows.get(row as usize).filter(|e| e.live()).copied() else {
                return Err(format!("a history names row {row}"));
            };
            let m = d.count(24)?;
            let mut vers = Vec::with_capacity(m);
            for _ in 0..m {
                let v = d.ver()?;
                let before = vers.last().map_or(e.order, |p: &Ver| p.seq + 1);
                if !in_log(&v)
                    || v.seq < before
                    || v.seq >= e.current.seq
                    || v.writer as usize >= s.writers.len()
                {
                    return Err(format!("a version of row {row} is not valid"));
                }
                vers.push(v);
            }
            if m == 0 || s.history.insert(row, vers).is_some() {
                return Err(format!("the history of row {row} is not valid"));
            }
            records += m as u64;
        }
        if records != h.live_records {
            return Err("the record counts do not add up".into());
        }
        s.live_records = h.live_records;
        s.dead_records = h.dead_records;
        let names = (0..d.count(8)?)
            .map(|_| {
                let name = d.str()?;
                match normalize_tag(&name) {
                    Ok(t) if t == name => Ok(name),
                    Ok(_) => Err(format!("tag {name:?} is not in its stored form")),
                    Err(e) => Err(e.to_string()),
                }
            })
            .collect::<Result<Vec<String>, String>>()?;
        let mut sets: Vec<Box<[u32]>> = Vec::new();
        for _ in 0..d.count(4)? {
            let m = d.u32()? as usize;
            if m > MAX_TAGS {
                return Err("a tag list is too long".into());
            }
            let set = (0..m)
                .map(|_| d.u32())
                .collect::<Result<Vec<u32>, String>>()?;
            let distinct = set
                .iter()
                .enumerate()
                .all(|(i, t)| (*t as usize) < names.len() && !set[..i].contains(t));
            if !distinct || (sets.is_empty() && m != 0) {
                return Err("a tag list is not valid".into());
            }
            sets.push(set.into());
        }
        if s.rows
            .iter()
            .any(|e| e.tagset as usize >= sets.len().max(1))
        {
            return Err("a row names a tag list that does not exist".into());
        }
        s.tags = Tags::from_parts(names, sets).ok_or("a tag or tag list appears twice")?;
        // The maps are built from the rows while the index is read.
        let rows = s.rows.len();
        let (index, unique) = std::thread::scope(|scope| {
            let maps = std::thread::Builder::new()
                .spawn_scoped(scope, || s.rebuild_maps(true))
                .ok();
            let index = Index::read_from(d, rows);
            (index, maps.map(|h| h.join().unwrap_or(false)))
        });
        // (Built here if no thread could be started.)
        let unique = unique.unwrap_or_else(|| s.rebuild_maps(true));
        if !unique {
            return Err("two live rows have the same id".into());
        }
        s.index = index?;
        // Each live row's slot holds that row, and no other slot is live: one to one.
        let own = |row: usize, e: &Entry| s.index.slot_row(e.slot) == Some(row as u32);
        if s.index.live() != s.live as u64
            || s.rows
                .iter()
                .enumerate()
                .any(|(r, e)| e.live() && !own(r, e))
        {
            return Err("the index does not match the rows".into());
        }
        s.indexing = true;
        s.next_seq = h.next_seq;
        Ok(s)
    }
}
