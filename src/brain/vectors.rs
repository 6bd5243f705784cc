//! Vectors for search by meaning: the quantized form they are stored in, the cosine against
//! a query, and the fusion of a vector ranking with the word ranking (issue 14).
//!
//! Not wired into search yet. The choices here were measured on the relevance sets
//! (`tests/relevance/README.md`, `cargo run --release --example relevance -- --embed URL`).

/// A unit vector stored as one signed byte per dimension and one scale for the whole vector
/// (`x[i] ≈ q[i] * scale`). Per-vector scales need no statistics over the other vectors, so a
/// vector is final the moment it is appended.
#[derive(Clone, Debug, PartialEq)]
pub struct I8Vector {
    pub scale: f32,
    pub q: Vec<i8>,
}

impl I8Vector {
    /// Quantizes `v` (round to nearest; the largest component maps to ±127).
    pub fn quantize(v: &[f32]) -> I8Vector {
        let max = v.iter().fold(0.0f32, |m, x| m.max(x.abs()));
        if max == 0.0 || !max.is_finite() {
            return I8Vector {
                scale: 0.0,
                q: vec![0; v.len()],
            };
        }
        let scale = max / 127.0;
        I8Vector {
            scale,
            q: v.iter().map(|x| (x / scale).round() as i8).collect(),
        }
    }

    /// The dot product with an f32 query vector (the cosine, for unit vectors).
    pub fn dot(&self, query: &[f32]) -> f32 {
        let s: f32 = self.q.iter().zip(query).map(|(&a, &b)| a as f32 * b).sum();
        s * self.scale
    }

    /// The dot product with another quantized vector, in integers (the form the store uses:
    /// i8 x i8 summed in i32 vectorizes well, several times faster than converting each
    /// component to f32; a row of 384 values cannot overflow: 384 * 127 * 127 < 2^31).
    pub fn dot_i8(&self, other: &I8Vector) -> f32 {
        dot_i8(&self.q, &other.q) as f32 * self.scale * other.scale
    }

    pub fn to_f32(&self) -> Vec<f32> {
        self.q.iter().map(|&a| a as f32 * self.scale).collect()
    }
}

/// IEEE 754 binary16 bits of `x`, rounded to nearest even (what the `half` crate does; written
/// out because it is twenty lines and the only use).
pub fn f16_bits(x: f32) -> u16 {
    let b = x.to_bits();
    let sign = ((b >> 16) & 0x8000) as u16;
    let exp = ((b >> 23) & 0xff) as i32;
    let man = b & 0x007f_ffff;
    if exp == 0xff {
        // Inf or NaN (a NaN keeps a payload bit so it stays a NaN).
        return sign | 0x7c00 | if man != 0 { 0x200 } else { 0 };
    }
    let e = exp - 127 + 15;
    if e >= 0x1f {
        return sign | 0x7c00;
    }
    if e <= 0 {
        // Subnormal half (or zero): shift the implicit bit in, round to nearest even.
        if e < -10 {
            return sign;
        }
        let m = man | 0x0080_0000;
        let shift = (14 - e) as u32;
        let half = 1u32 << (shift - 1);
        let rest = m & ((1u32 << shift) - 1);
        let mut h = m >> shift;
        if rest > half || (rest == half && h & 1 == 1) {
            h += 1;
        }
        return sign | h as u16;
    }
    let mut h = ((e as u32) << 10) | (man >> 13);
    let rest = man & 0x1fff;
    if rest > 0x1000 || (rest == 0x1000 && h & 1 == 1) {
        // May carry into the exponent, which is the right result (up to infinity).
        h += 1;
    }
    sign | h as u16
}

/// The f32 value of binary16 bits.
pub fn f16_value(h: u16) -> f32 {
    let sign = if h & 0x8000 != 0 { -1.0f32 } else { 1.0 };
    let exp = ((h >> 10) & 0x1f) as i32;
    let man = (h & 0x3ff) as f32;
    match exp {
        0 => sign * man * (2.0f32).powi(-24),
        0x1f if man == 0.0 => sign * f32::INFINITY,
        0x1f => f32::NAN,
        _ => sign * (1.0 + man / 1024.0) * (2.0f32).powi(exp - 15),
    }
}

fn dot_i8(a: &[i8], b: &[i8]) -> i32 {
    a.iter().zip(b).map(|(&x, &y)| x as i32 * y as i32).sum()
}

/// Dot product of two f32 vectors.
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// The weight of words in [`fuse`], chosen on the relevance sets (tests/relevance/README.md):
/// the largest share for meaning that beat words alone on the personal set's tuning half
/// while losing at most 2 of today's 65 queries.
pub const WORDS_WEIGHT: f64 = 0.2;

/// Fuses the word ranking with the vector ranking of one query: every note gets
/// `alpha * z(words) + (1 - alpha) * z(cosine)`, where z is the score's z-score over all `n`
/// notes the search may return (a note the words did not find scores 0 before its z-score).
/// Returns every note index (`0..n`, the indices of `cosines`), best first; ties keep the word
/// order, then index order.
///
/// z-scores, not min-max or ranks: BM25 scores are unbounded and e5 cosines crowd into
/// 0.7..0.9, so each signal is measured in its own spread. Reciprocal rank fusion and
/// basic-memory's max-based formula were measured too and gained almost nothing here (the
/// README's table).
pub fn fuse(words: &[(usize, f64)], cosines: &[f32], alpha: f64) -> Vec<(usize, f64)> {
    let n = cosines.len();
    let mut w = vec![0.0f64; n];
    let mut word_rank = vec![usize::MAX; n];
    for (r, &(i, s)) in words.iter().enumerate() {
        if i < n {
            w[i] = s;
            word_rank[i] = word_rank[i].min(r);
        }
    }
    let c: Vec<f64> = cosines.iter().map(|&x| x as f64).collect();
    let (zw, zc) = (z_scores(&w), z_scores(&c));
    let mut out: Vec<(usize, f64)> = (0..n)
        .map(|i| (i, alpha * zw[i] + (1.0 - alpha) * zc[i]))
        .collect();
    out.sort_by(|a, b| {
        b.1.total_cmp(&a.1)
            .then(word_rank[a.0].cmp(&word_rank[b.0]))
            .then(a.0.cmp(&b.0))
    });
    out
}

/// `(x - mean) / standard deviation` of each value (all 0 when the values do not vary).
fn z_scores(v: &[f64]) -> Vec<f64> {
    let n = v.len().max(1) as f64;
    let mean = v.iter().sum::<f64>() / n;
    let sd = (v.iter().map(|x| (x - mean) * (x - mean)).sum::<f64>() / n).sqrt();
    if sd > 0.0 && sd.is_finite() {
        v.iter().map(|x| (x - mean) / sd).collect()
    } else {
        vec![0.0; v.len()]
    }
}

// ---------------------------------------------------------------------------------------
// The durable store: `vectors.bin` beside the notes.
//
// One header line of JSON (`{"format":"brain-vectors","version":1,"model":..,"dim":..}`),
// then records appended one after another:
//
//   put:    0xB5, id length (u8), id bytes, text hash (u64 LE), scale (f32 LE), dim i8 bytes,
//           checksum (u64 LE, FNV-1a over the record's bytes before it)
//   delete: 0xB6, id length (u8), id bytes, checksum
//
// A later record for an id replaces an earlier one. The text hash says which text a vector
// was computed from, so a note updated since its vector was stored is known to need a new one.
// Vectors are derived data (they can always be computed again), so appends are not fsynced one
// by one and anything unreadable from the first bad record on is cut off at open: a torn tail
// after a crash (or kill -9) costs only the vectors that were being written.

/// The file's name inside the data directory.
pub const FILE_NAME: &str = "vectors.bin";

const PUT: u8 = 0xB5;
const DELETE: u8 = 0xB6;

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Header {
    format: String,
    version: u32,
    model: String,
    dim: usize,
}

/// Why the store could not be opened for this model.
#[derive(Debug)]
pub enum StoreError {
    Io(std::io::Error),
    /// The file holds vectors of another model or dimension: they must not be mixed with new
    /// ones. The caller asks for a reindex (which starts the file again) and searches by words
    /// until then.
    ModelChanged {
        stored_model: String,
        stored_dim: usize,
    },
    /// The header is not ours (another file under our name, or garbage).
    BadHeader(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Io(e) => write!(f, "vector store: {e}"),
            StoreError::ModelChanged {
                stored_model,
                stored_dim,
            } => write!(
                f,
                "vector store holds {stored_dim}-dimensional vectors of model {stored_model:?}: \
                 run `brain-mcp reindex` to embed the notes with the configured model"
            ),
            StoreError::BadHeader(m) => write!(f, "vector store header unreadable: {m}"),
        }
    }
}

impl From<std::io::Error> for StoreError {
    fn from(e: std::io::Error) -> Self {
        StoreError::Io(e)
    }
}

/// FNV-1a, 64 bits: a checksum for torn or garbled records, not a defence against tampering.
fn fnv1a(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The hash a vector's text is recorded under (FNV-1a of its UTF-8 bytes).
pub fn text_hash(text: &str) -> u64 {
    fnv1a(text.as_bytes())
}

/// The model and dimension `vectors.bin` at `path` was written for, without loading it:
/// `None` when there is no file yet (or it is empty).
pub fn peek(path: &std::path::Path) -> Result<Option<(String, usize)>, StoreError> {
    use std::io::BufRead;
    let file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut line = Vec::new();
    // The header is one short JSON line; anything longer is not ours.
    std::io::Read::take(std::io::BufReader::new(file), 4096).read_until(b'\n', &mut line)?;
    if line.is_empty() {
        return Ok(None);
    }
    let header: Header = serde_json::from_slice(line.trim_ascii_end())
        .map_err(|e| StoreError::BadHeader(e.to_string()))?;
    if header.format != "brain-vectors" || header.version != 1 || header.dim == 0 {
        return Err(StoreError::BadHeader(format!(
            "format {:?} version {} dim {}",
            header.format, header.version, header.dim
        )));
    }
    Ok(Some((header.model, header.dim)))
}

/// Vectors for notes, in memory as one flat int8 matrix (one row per note), and on disk as
/// an append-only file.
pub struct Store {
    file: std::fs::File,
    model: String,
    dim: usize,
    ids: Vec<String>,
    hashes: Vec<u64>,
    scales: Vec<f32>,
    /// `ids.len() * dim` values, row after row.
    rows: Vec<i8>,
    slot_of: std::collections::HashMap<String, usize>,
    /// Records in the file that a later one replaced or deleted (for deciding a rewrite).
    dead: usize,
    /// Bytes cut off the end at open (a torn or garbled tail); 0 normally.
    pub cut_at_open: u64,
}

impl Store {
    /// Opens (or creates) the store at `path` for `model` with vectors of `dim` dimensions.
    pub fn open(path: &std::path::Path, model: &str, dim: usize) -> Result<Store, StoreError> {
        use std::io::{Read, Seek, SeekFrom, Write};
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes)?;
        let mut store = Store {
            file,
            model: model.to_string(),
            dim,
            ids: Vec::new(),
            hashes: Vec::new(),
            scales: Vec::new(),
            rows: Vec::new(),
            slot_of: std::collections::HashMap::new(),
            dead: 0,
            cut_at_open: 0,
        };
        if bytes.is_empty() {
            store.write_header()?;
            return Ok(store);
        }
        let Some(nl) = bytes.iter().position(|&b| b == b'\n') else {
            return Err(StoreError::BadHeader("no header line".into()));
        };
        let header: Header = serde_json::from_slice(&bytes[..nl])
            .map_err(|e| StoreError::BadHeader(e.to_string()))?;
        if header.format != "brain-vectors" || header.version != 1 {
            return Err(StoreError::BadHeader(format!(
                "format {:?} version {}",
                header.format, header.version
            )));
        }
        if header.model != model || header.dim != dim {
            return Err(StoreError::ModelChanged {
                stored_model: header.model,
                stored_dim: header.dim,
            });
        }
        let mut at = nl + 1;
        while at < bytes.len() {
            match store.read_record(&bytes[at..]) {
                Some(len) => at += len,
                None => break,
            }
        }
        if at < bytes.len() {
            store.cut_at_open = (bytes.len() - at) as u64;
            store.file.set_len(at as u64)?;
        }
        store.file.seek(SeekFrom::End(0))?;
        store.file.flush()?;
        Ok(store)
    }

    fn write_header(&mut self) -> std::io::Result<()> {
        use std::io::Write;
        let header = Header {
            format: "brain-vectors".into(),
            version: 1,
            model: self.model.clone(),
            dim: self.dim,
        };
        let mut line = serde_json::to_vec(&header).map_err(std::io::Error::other)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()
    }

    /// Applies the record at the start of `b`; its length, or `None` if it is cut short or
    /// does not check out.
    fn read_record(&mut self, b: &[u8]) -> Option<usize> {
        let kind = *b.first()?;
        let id_len = *b.get(1)? as usize;
        let id_end = 2 + id_len;
        let id = std::str::from_utf8(b.get(2..id_end)?).ok()?.to_string();
        let body_end = match kind {
            PUT => id_end + 8 + 4 + self.dim,
            DELETE => id_end,
            _ => return None,
        };
        let sum = u64::from_le_bytes(b.get(body_end..body_end + 8)?.try_into().ok()?);
        if fnv1a(&b[..body_end]) != sum {
            return None;
        }
        if kind == PUT {
            let hash = u64::from_le_bytes(b[id_end..id_end + 8].try_into().ok()?);
            let scale = f32::from_le_bytes(b[id_end + 8..id_end + 12].try_into().ok()?);
            let q: Vec<i8> = b[id_end + 12..body_end].iter().map(|&x| x as i8).collect();
            self.put_in_memory(&id, hash, &I8Vector { scale, q });
        } else {
            self.remove_in_memory(&id);
            self.dead += 1;
        }
        Some(body_end + 8)
    }

    fn put_in_memory(&mut self, id: &str, hash: u64, v: &I8Vector) {
        if let Some(&slot) = self.slot_of.get(id) {
            self.hashes[slot] = hash;
            self.scales[slot] = v.scale;
            self.rows[slot * self.dim..(slot + 1) * self.dim].copy_from_slice(&v.q);
            self.dead += 1;
            return;
        }
        self.slot_of.insert(id.to_string(), self.ids.len());
        self.ids.push(id.to_string());
        self.hashes.push(hash);
        self.scales.push(v.scale);
        self.rows.extend_from_slice(&v.q);
    }

    fn remove_in_memory(&mut self, id: &str) {
        let Some(slot) = self.slot_of.remove(id) else {
            return;
        };
        // swap_remove, row included: the last note takes the freed slot.
        let last = self.ids.len() - 1;
        self.ids.swap_remove(slot);
        self.hashes.swap_remove(slot);
        self.scales.swap_remove(slot);
        if slot != last {
            let (d, src) = (self.dim, last * self.dim);
            self.rows.copy_within(src..src + d, slot * d);
            self.slot_of.insert(self.ids[slot].clone(), slot);
        }
        self.rows.truncate(last * self.dim);
        self.dead += 1;
    }

    /// Stores (or replaces) the vector of note `id` computed from a text with hash `hash`.
    /// `v` must have the store's dimension and `id` at most 255 bytes.
    pub fn put(&mut self, id: &str, hash: u64, v: &[f32]) -> std::io::Result<()> {
        use std::io::Write;
        if v.len() != self.dim || id.len() > 255 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!(
                    "a {}-dimensional vector for a {}-byte id (the store holds {} dimensions)",
                    v.len(),
                    id.len(),
                    self.dim
                ),
            ));
        }
        let q = I8Vector::quantize(v);
        let mut rec = Vec::with_capacity(2 + id.len() + 12 + self.dim + 8);
        rec.push(PUT);
        rec.push(id.len() as u8);
        rec.extend_from_slice(id.as_bytes());
        rec.extend_from_slice(&hash.to_le_bytes());
        rec.extend_from_slice(&q.scale.to_le_bytes());
        rec.extend(q.q.iter().map(|&x| x as u8));
        let sum = fnv1a(&rec);
        rec.extend_from_slice(&sum.to_le_bytes());
        self.file.write_all(&rec)?;
        self.put_in_memory(id, hash, &q);
        Ok(())
    }

    /// Forgets note `id`'s vector (a no-op on disk if it has none).
    pub fn delete(&mut self, id: &str) -> std::io::Result<()> {
        use std::io::Write;
        if !self.slot_of.contains_key(id) || id.len() > 255 {
            return Ok(());
        }
        let mut rec = vec![DELETE, id.len() as u8];
        rec.extend_from_slice(id.as_bytes());
        let sum = fnv1a(&rec);
        rec.extend_from_slice(&sum.to_le_bytes());
        self.file.write_all(&rec)?;
        self.remove_in_memory(id);
        // The delete record itself is dead weight in the file too (as at open).
        self.dead += 1;
        Ok(())
    }

    /// Makes what was appended durable (the background writer calls this after a batch).
    pub fn sync(&self) -> std::io::Result<()> {
        self.file.sync_data()
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// Records in the file no longer live (replaced or deleted): a rewrite is worth it when
    /// this passes `len()`.
    pub fn dead(&self) -> usize {
        self.dead
    }

    /// The text hash note `id`'s vector was computed from, if it has one.
    pub fn hash_of(&self, id: &str) -> Option<u64> {
        self.slot_of.get(id).map(|&s| self.hashes[s])
    }

    /// The note id of slot `slot` (slots are `0..len()`, the order of [`Store::cosines`]).
    pub fn id(&self, slot: usize) -> &str {
        &self.ids[slot]
    }

    pub fn slot(&self, id: &str) -> Option<usize> {
        self.slot_of.get(id).copied()
    }

    /// The cosine of unit vector `query` with every stored vector, by slot: exact, brute force
    /// over the int8 rows (what [`fuse`] needs: its z-scores are over all notes).
    pub fn cosines(&self, query: &[f32]) -> Vec<f32> {
        let d = self.dim;
        if query.len() != d {
            return vec![0.0; self.ids.len()];
        }
        // The query is quantized like the rows (measured: no ranking change on the relevance
        // sets, README), so the inner loop is integer.
        let q = I8Vector::quantize(query);
        self.rows
            .chunks_exact(d)
            .zip(&self.scales)
            .map(|(row, &scale)| dot_i8(row, &q.q) as f32 * scale * q.scale)
            .collect()
    }

    /// Writes the live vectors to `path` (a temp file beside the store, renamed over it by
    /// the caller), dropping dead records.
    pub fn rewrite_to(&self, path: &std::path::Path) -> Result<Store, StoreError> {
        let _ = std::fs::remove_file(path);
        let mut out = Store::open(path, &self.model, self.dim)?;
        for slot in 0..self.ids.len() {
            let row = &self.rows[slot * self.dim..(slot + 1) * self.dim];
            let v = I8Vector {
                scale: self.scales[slot],
                q: row.to_vec(),
            };
            out.put(&self.ids[slot], self.hashes[slot], &v.to_f32())?;
        }
        out.sync()?;
        Ok(out)
    }
}

/// The relevance sets' runner (tests/relevance/), for the floor below. `query.rs` loads it too,
/// as a private module of its own tests (a file this change leaves alone), hence a second copy.
#[cfg(test)]
#[allow(clippy::duplicate_mod)]
#[path = "../../tests/relevance/runner.rs"]
mod relevance;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn i8_round_trip_is_close_and_dot_matches() {
        let v = [0.5f32, -0.25, 0.1, -0.8, 0.0];
        let q = I8Vector::quantize(&v);
        assert_eq!(q.q[3], -127);
        for (a, b) in v.iter().zip(q.to_f32()) {
            assert!((a - b).abs() <= q.scale / 2.0 + 1e-7, "{a} vs {b}");
        }
        let query = [0.1f32, 0.2, 0.3, 0.4, 0.5];
        assert!((q.dot(&query) - dot(&v, &query)).abs() < 0.01);
        assert_eq!(I8Vector::quantize(&[0.0, 0.0]).dot(&[1.0, 1.0]), 0.0);
    }

    #[test]
    fn f16_matches_known_bit_patterns() {
        for (x, bits) in [
            (0.0f32, 0x0000u16),
            (-0.0, 0x8000),
            (1.0, 0x3c00),
            (-2.0, 0xc000),
            (0.5, 0x3800),
            (65504.0, 0x7bff),
            (65520.0, 0x7c00),
            (f32::INFINITY, 0x7c00),
            (5.960_464_5e-8, 0x0001),
            (6.103_515_6e-5, 0x0400),
            (0.333_333_34, 0x3555),
            (1.000_488_3, 0x3c00), // halfway between 1.0 and the next half: to even
        ] {
            assert_eq!(f16_bits(x), bits, "{x}");
        }
        assert!(f16_value(f16_bits(f32::NAN)).is_nan());
        for x in [0.0f32, 1.0, -0.123_456, 0.031_25, 0.000_1, 0.8125] {
            let back = f16_value(f16_bits(x));
            assert!((back - x).abs() <= x.abs() / 1024.0 + 6e-8, "{x} -> {back}");
        }
    }

    #[test]
    fn fuse_weighs_words_and_meaning_in_their_own_spread() {
        // Note 0: the only word hit, middling cosine. Note 1: no word hit, best cosine.
        // Notes 2 and 3: neither.
        let words = [(0usize, 7.5f64)];
        let cos = [0.80f32, 0.86, 0.74, 0.75];
        let order =
            |alpha| -> Vec<usize> { fuse(&words, &cos, alpha).iter().map(|&(i, _)| i).collect() };
        assert_eq!(order(1.0), [0, 1, 2, 3]);
        assert_eq!(order(0.0), [1, 0, 3, 2]);
        // Half and half: the word hit's z (1.73) outweighs the cosine lead (1.52 vs 0.26)...
        assert_eq!(order(0.5), [0, 1, 3, 2]);
        // ...and at the default weight the clearly closer meaning comes first.
        assert_eq!(order(WORDS_WEIGHT), [1, 0, 3, 2]);
        // Word ties keep the word order; all-equal scores give zeros, not NaN.
        let flat = fuse(&[(2, 1.0), (1, 1.0)], &[0.5, 0.5, 0.5], 0.5);
        assert_eq!(flat.iter().map(|&(i, _)| i).collect::<Vec<_>>(), [2, 1, 0]);
        assert!(fuse(&[], &[0.5, 0.5], 0.5).iter().all(|&(_, s)| s == 0.0));
        assert!(fuse(&[(9, 1.0)], &[0.1], 0.5).len() == 1);
    }

    fn temp(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("brain-vectors-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join(FILE_NAME)
    }

    fn unit(seed: u64, dim: usize) -> Vec<f32> {
        let mut x = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let v: Vec<f32> = (0..dim)
            .map(|_| {
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                ((x >> 33) as f32 / (1u64 << 31) as f32) - 0.5
            })
            .collect();
        let n = dot(&v, &v).sqrt();
        v.into_iter().map(|a| a / n).collect()
    }

    #[test]
    fn store_survives_reopen_replace_delete_and_finds_the_nearest() {
        let path = temp("reopen");
        {
            let mut s = Store::open(&path, "e5", 8).expect("new store");
            for i in 0..5u64 {
                s.put(&format!("n_{i}"), i, &unit(i, 8)).expect("put");
            }
            s.put("n_2", 99, &unit(7, 8)).expect("replace");
            s.delete("n_0").expect("delete");
            s.delete("n_missing").expect("no-op");
            s.sync().expect("sync");
        }
        let s = Store::open(&path, "e5", 8).expect("reopen");
        assert_eq!(s.len(), 4);
        assert_eq!(s.cut_at_open, 0);
        assert_eq!(s.hash_of("n_2"), Some(99));
        assert_eq!(s.hash_of("n_0"), None);
        // The replaced put, the deleted put and the delete record.
        assert_eq!(s.dead(), 3);
        let cos = s.cosines(&unit(7, 8));
        let best = (0..s.len())
            .max_by(|&a, &b| cos[a].total_cmp(&cos[b]))
            .expect("some");
        assert_eq!(s.id(best), "n_2");
        assert!((cos[best] - 1.0).abs() < 0.01, "{}", cos[best]);
        let again = s.rewrite_to(&path.with_extension("tmp")).expect("rewrite");
        assert_eq!(again.len(), 4);
        assert_eq!(again.dead(), 0);
        assert_eq!(again.hash_of("n_4"), Some(4));
    }

    #[test]
    fn a_torn_or_garbled_tail_is_cut_and_the_rest_kept() {
        let path = temp("torn");
        {
            let mut s = Store::open(&path, "e5", 4).expect("new");
            s.put("n_a", 1, &unit(1, 4)).expect("put");
            s.put("n_b", 2, &unit(2, 4)).expect("put");
        }
        let full = std::fs::metadata(&path).expect("meta").len();
        // Half of the last record, as a kill -9 mid-write leaves it.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open");
        f.set_len(full - 9).expect("cut");
        drop(f);
        let mut s = Store::open(&path, "e5", 4).expect("reopen");
        assert_eq!(s.len(), 1);
        assert_eq!(s.hash_of("n_a"), Some(1));
        assert!(s.cut_at_open > 0);
        // Appends after the cut land on a clean boundary.
        s.put("n_c", 3, &unit(3, 4)).expect("put");
        drop(s);
        // A garbled last record (zeros after a power cut) is cut too.
        let mut bytes = std::fs::read(&path).expect("read");
        let n = bytes.len();
        bytes[n - 3] ^= 0xff;
        std::fs::write(&path, &bytes).expect("write");
        let s = Store::open(&path, "e5", 4).expect("reopen");
        assert_eq!((s.len(), s.hash_of("n_c")), (1, None));
    }

    #[test]
    fn another_model_or_dimension_is_refused_not_mixed() {
        let path = temp("model");
        Store::open(&path, "e5", 4)
            .expect("new")
            .put("n_a", 1, &unit(1, 4))
            .expect("put");
        match Store::open(&path, "nomic", 4) {
            Err(e @ StoreError::ModelChanged { .. }) => assert_eq!(
                e.to_string(),
                "vector store holds 4-dimensional vectors of model \"e5\": run `brain-mcp reindex` to embed the notes with the configured model"
            ),
            other => panic!("expected ModelChanged, got {:?}", other.err()),
        }
        assert!(matches!(
            Store::open(&path, "e5", 8),
            Err(StoreError::ModelChanged { stored_dim: 4, .. })
        ));
        let mut s = Store::open(&path, "e5", 4).expect("same model");
        let e = s.put("n_b", 2, &unit(2, 8)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a 8-dimensional vector for a 3-byte id (the store holds 4 dimensions)"
        );
        std::fs::write(&path, b"not json\n").expect("write");
        assert_eq!(
            Store::open(&path, "e5", 4).err().map(|e| e.to_string()),
            Some("vector store header unreadable: expected ident at line 1 column 2".into())
        );
    }

    /// Words alone on the personal set (tests/relevance/personal/), through a real brain: the
    /// baseline hybrid search is measured against must not drift down unnoticed. Measured:
    /// top 1 294, top 3 323 of 555 (README); the floor leaves a little room.
    #[test]
    fn relevance_personal_words_floor() {
        let dir = std::env::temp_dir().join(format!("brain-test-{}-personal", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let brain = super::super::Brain::open(&dir).expect("open a brain in a temp dir");
        let set = super::relevance::parse_set(
            super::relevance::PERSONAL_NOTES,
            super::relevance::PERSONAL_QUERIES,
        )
        .expect("the personal set parses");
        let of_store = super::relevance::load(&set, |text, tags| {
            brain
                .remember(text, tags)
                .map(|n| n.id)
                .map_err(|e| e.to_string())
        })
        .expect("the notes are stored");
        let ranked = super::relevance::rankings(&set, &of_store, |q| {
            brain
                .search(q, None, 10)
                .into_iter()
                .map(|h| h.note.id)
                .collect()
        });
        drop(brain);
        let _ = std::fs::remove_dir_all(&dir);
        let r = super::relevance::report(&set, &ranked, |_| true);
        println!(
            "personal set, words alone: all {} lexical {} paraphrase {}",
            r.all.cells(),
            r.lexical.cells(),
            r.paraphrase.cells()
        );
        assert_eq!((set.notes.len(), set.queries.len()), (1027, 555));
        assert!(r.all.top1 >= 285, "top 1 {} < 285", r.all.top1);
        assert!(r.all.top3 >= 315, "top 3 {} < 315", r.all.top3);
    }
}
