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
}
