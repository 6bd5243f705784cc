//! XXH64 (Yann Collet's xxHash, 64-bit, seed 0), streaming: the checksum of the log a snapshot
//! was made from, of the snapshot itself, and the duplicate-detection digest of a note.
//!
//! These catch change and damage, not an attacker: whoever can write the data directory can
//! write the log itself. SHA-256 was the first choice and cost a third of a start from a
//! snapshot at a million notes (400 MB hashed); XXH64 hashes at memory speed. The algorithm
//! is the one of <https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md>; the tests
//! hold values computed by `xxhsum -H64`.

const P1: u64 = 0x9E37_79B1_85EB_CA87;
const P2: u64 = 0xC2B2_AE3D_27D4_EB4F;
const P3: u64 = 0x1656_67B1_9E37_79F9;
const P4: u64 = 0x85EB_CA77_C2B2_AE63;
const P5: u64 = 0x27D4_EB2F_1656_67C5;

#[derive(Clone)]
pub struct Xxh64 {
    acc: [u64; 4],
    buf: [u8; 32],
    buffered: usize,
    total: u64,
}

impl Default for Xxh64 {
    fn default() -> Xxh64 {
        Xxh64::new()
    }
}

fn round(acc: u64, lane: u64) -> u64 {
    acc.wrapping_add(lane.wrapping_mul(P2))
        .rotate_left(31)
        .wrapping_mul(P1)
}

fn merge(h: u64, acc: u64) -> u64 {
    (h ^ round(0, acc)).wrapping_mul(P1).wrapping_add(P4)
}

fn lane(b: &[u8]) -> u64 {
    let mut w = [0u8; 8];
    w.copy_from_slice(&b[..8]);
    u64::from_le_bytes(w)
}

impl Xxh64 {
    pub fn new() -> Xxh64 {
        Xxh64 {
            acc: [P1.wrapping_add(P2), P2, 0, 0u64.wrapping_sub(P1)],
            buf: [0; 32],
            buffered: 0,
            total: 0,
        }
    }

    fn stripe(&mut self, s: &[u8]) {
        for (i, a) in self.acc.iter_mut().enumerate() {
            *a = round(*a, lane(&s[i * 8..]));
        }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.buffered > 0 {
            let take = (32 - self.buffered).min(data.len());
            self.buf[self.buffered..self.buffered + take].copy_from_slice(&data[..take]);
            self.buffered += take;
            data = &data[take..];
            if self.buffered < 32 {
                return;
            }
            let buf = self.buf;
            self.stripe(&buf);
            self.buffered = 0;
        }
        let mut stripes = data.chunks_exact(32);
        for s in &mut stripes {
            self.stripe(s);
        }
        let rest = stripes.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buffered = rest.len();
    }

    pub fn digest(&self) -> u64 {
        let mut h = if self.total >= 32 {
            let [a, b, c, d] = self.acc;
            let mut h = a
                .rotate_left(1)
                .wrapping_add(b.rotate_left(7))
                .wrapping_add(c.rotate_left(12))
                .wrapping_add(d.rotate_left(18));
            for acc in self.acc {
                h = merge(h, acc);
            }
            h
        } else {
            P5
        };
        h = h.wrapping_add(self.total);
        let mut rest = &self.buf[..self.buffered];
        while rest.len() >= 8 {
            h ^= round(0, lane(rest));
            h = h.rotate_left(27).wrapping_mul(P1).wrapping_add(P4);
            rest = &rest[8..];
        }
        if rest.len() >= 4 {
            let mut w = [0u8; 4];
            w.copy_from_slice(&rest[..4]);
            h ^= u64::from(u32::from_le_bytes(w)).wrapping_mul(P1);
            h = h.rotate_left(23).wrapping_mul(P2).wrapping_add(P3);
            rest = &rest[4..];
        }
        for &b in rest {
            h ^= u64::from(b).wrapping_mul(P5);
            h = h.rotate_left(11).wrapping_mul(P1);
        }
        h ^= h >> 33;
        h = h.wrapping_mul(P2);
        h ^= h >> 29;
        h = h.wrapping_mul(P3);
        h ^ (h >> 32)
    }
}

/// XXH64 of `data`.
#[cfg(test)]
pub fn xxh64(data: &[u8]) -> u64 {
    let mut h = Xxh64::new();
    h.update(data);
    h.digest()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_xxhsum_in_one_go_and_in_pieces() {
        // `printf '%s' ... | xxhsum -H64`
        let long = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz";
        for (data, want) in [
            (&b""[..], 0xef46_db37_51d8_e999),
            (b"a", 0xd24e_c4f1_a98c_6e5b),
            (b"abc", 0x44bc_2cf5_ad77_0999),
            (long, 0xe597_db74_e7ce_323c),
        ] {
            assert_eq!(xxh64(data), want, "{:?}", String::from_utf8_lossy(data));
        }
        let data: Vec<u8> = (0..300u32).map(|i| (i * 7 % 251) as u8).collect();
        let whole = xxh64(&data);
        for cut in 0..data.len() {
            for step in [1, 3, 31, 32, 33, 100] {
                let mut h = Xxh64::new();
                h.update(&data[..cut]);
                for piece in data[cut..].chunks(step) {
                    h.update(piece);
                }
                assert_eq!(h.digest(), whole, "cut {cut} step {step}");
            }
        }
    }
}
