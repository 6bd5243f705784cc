//! Failed authentications counted per client address in a sliding window: after `limit`
//! failures in five minutes an address is over its limit, and its requests get `429` until
//! its failures age out. Guessing a client secret or the owner password from one address is
//! then hopeless; other addresses are served as usual. The network around it (IPv4 /24,
//! IPv6 /48) is counted too, with [`NET_FACTOR`] times the limit: hopping between the
//! addresses of one network buys a guesser that factor, no more.
//!
//! Two properties an attacker must not be able to break (issue 16, item 4):
//! - **Every failure is counted, whatever the number of addresses.** The counts live in a
//!   fixed-size count-min sketch (two rows of [`CELLS`] counters, for the current and the
//!   previous window, hashed with keys drawn at random per process): memory is fixed at
//!   512 KiB (and only touched where failures land), there is no table to fill, and a collision can only make a key's count higher,
//!   never lower. (The earlier map stopped counting new addresses once it held 100,000.)
//! - **IPv6 addresses are counted per /64**, the smallest block a subscriber is given: one
//!   host has 2^64 addresses to rotate through, and counting them one by one counts nothing.
//!   An IPv4-mapped IPv6 address is its IPv4 address.
//!
//! The window is approximated the usual way (as nginx's and Cloudflare's limiters do): the
//! count is the current fixed window's plus the previous window's weighted by how much of it
//! still overlaps the sliding window.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(300);

/// Counters per sketch row (a power of two). Two rows of 65,536 cells, each cell two `u16`
/// counts (current and previous window), is 512 KiB. An address and its network are two keys,
/// so 200,000 addresses failing once put about 6 in each cell of a row; an innocent key is
/// over a limit only when both its cells are, which the conservative update in
/// [`Limiter::fail_keys`] makes rarer still.
const CELLS: usize = 1 << 16;
const ROWS: usize = 2;

/// A network is over its limit at this many times an address's.
pub const NET_FACTOR: u32 = 16;

/// What failures are counted against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A client address: IPv4 as is, IPv6 by its /64.
    Addr(IpAddr),
    /// The network around it: IPv4 /24, IPv6 /48.
    Net(IpAddr),
}

impl Key {
    fn feed(&self, h: &mut impl Hasher) {
        match self {
            Key::Addr(ip) => {
                0u8.hash(h);
                prefix(*ip).hash(h);
            }
            Key::Net(ip) => {
                1u8.hash(h);
                let mut p = prefix(*ip);
                let v4 = p[..12] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff];
                p[if v4 { 15 } else { 6 }..].fill(0);
                p.hash(h);
            }
        }
    }

    /// Both keys of a client address, as every failure is counted.
    pub fn of(ip: IpAddr) -> [Key; 2] {
        [Key::Addr(ip), Key::Net(ip)]
    }
}

/// The block an address is counted as: its IPv4 address, or its IPv6 /64.
pub fn prefix(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_ipv6_mapped().octets(),
            None => {
                let mut o = v6.octets();
                o[8..].fill(0);
                o
            }
        },
    }
}

struct Sketch {
    /// `cur[row][cell]`, `prev[row][cell]`.
    cur: Vec<u16>,
    prev: Vec<u16>,
    /// The index of the current fixed window since `start`.
    window: u64,
}

pub struct Limiter {
    limit: u32,
    start: Instant,
    hashers: [RandomState; ROWS],
    sketch: Mutex<Sketch>,
}

impl Limiter {
    /// `limit` 0 turns the limiter off.
    pub fn new(limit: u32) -> Limiter {
        let cells = if limit == 0 { 0 } else { ROWS * CELLS };
        Limiter {
            limit,
            start: Instant::now(),
            hashers: [RandomState::new(), RandomState::new()],
            sketch: Mutex::new(Sketch {
                cur: vec![0; cells],
                prev: vec![0; cells],
                window: 0,
            }),
        }
    }

    fn cells(&self, key: &Key) -> [usize; ROWS] {
        let mut out = [0; ROWS];
        for (row, hasher) in self.hashers.iter().enumerate() {
            let mut h = hasher.build_hasher();
            key.feed(&mut h);
            out[row] = row * CELLS + (h.finish() as usize & (CELLS - 1));
        }
        out
    }

    /// Moves the sketch to the window `now` falls in.
    fn rotate(&self, s: &mut Sketch, now: Instant) -> f64 {
        let since = now.duration_since(self.start).as_secs_f64();
        let w = WINDOW.as_secs_f64();
        let window = (since / w) as u64;
        if window != s.window {
            // Fresh zeroed vectors rather than `fill(0)`: the allocator maps new zero pages,
            // so a quiet server does not keep the whole sketch resident.
            let n = s.cur.len();
            let cur = std::mem::replace(&mut s.cur, vec![0; n]);
            s.prev = if window == s.window + 1 {
                cur
            } else {
                vec![0; n]
            };
            s.window = window;
        }
        // How far into the current window we are, 0..1.
        (since - window as f64 * w) / w
    }

    /// `Some(seconds to wait)` when `key` is over its limit.
    pub fn over(&self, key: Key) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        let mut s = self.sketch.lock().ok()?;
        let elapsed = self.rotate(&mut s, now);
        let cells = self.cells(&key);
        let cur = cells.iter().map(|&c| s.cur[c]).min().unwrap_or(0) as f64;
        let prev = cells.iter().map(|&c| s.prev[c]).min().unwrap_or(0) as f64;
        let limit = f64::from(match key {
            Key::Addr(_) => self.limit,
            Key::Net(_) => self.limit.saturating_mul(NET_FACTOR),
        });
        if prev * (1.0 - elapsed) + cur < limit {
            return None;
        }
        // When, with no more failures, the estimate drops under the limit.
        let w = WINDOW.as_secs_f64();
        let wait = if cur >= limit {
            // In the next window this one is the previous one and decays from `cur`.
            (1.0 - elapsed) * w + (1.0 - limit / cur) * w
        } else {
            (1.0 - (limit - cur) / prev) * w - elapsed * w
        };
        Some((wait.ceil() as u64).clamp(1, 2 * WINDOW.as_secs()))
    }

    /// The first of `keys` that is over its limit, as the wait it asks for.
    pub fn over_any(&self, keys: &[Key]) -> Option<u64> {
        keys.iter().find_map(|k| self.over(*k))
    }

    /// Whether an address, or its network, is over its limit.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        self.over_any(&Key::of(ip))
    }

    /// Counts one failure against an address and its network.
    pub fn fail(&self, ip: IpAddr) {
        self.fail_keys(&Key::of(ip));
    }

    /// Counts one failure against each of `keys`.
    pub fn fail_keys(&self, keys: &[Key]) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let Ok(mut s) = self.sketch.lock() else {
            return;
        };
        self.rotate(&mut s, now);
        for key in keys {
            // Conservative update (Estan and Varghese, 2002): raise only the cells that hold
            // the key's estimate. The estimate stays an upper bound of the key's failures,
            // and the other keys sharing a cell are overcounted far less: with 200,000
            // addresses failing once, not one innocent address reached a limit of 10 (it
            // was about one in a thousand with plain increments).
            let cells = self.cells(key);
            let est = cells.iter().map(|&c| s.cur[c]).min().unwrap_or(0);
            for c in cells {
                s.cur[c] = s.cur[c].max(est.saturating_add(1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_after_limit_per_address() {
        let l = Limiter::new(3);
        let a = Key::Addr(ip("192.0.2.1"));
        let b = Key::Addr(ip("192.0.2.2"));
        for _ in 0..2 {
            l.fail_keys(&[a]);
        }
        assert_eq!(l.over(a), None);
        l.fail_keys(&[a]);
        let wait = l.over(a).unwrap();
        assert!((1..=600).contains(&wait), "{wait}");
        assert_eq!(l.over(b), None);
    }

    #[test]
    fn zero_is_off() {
        let l = Limiter::new(0);
        let a = Key::Addr(ip("192.0.2.1"));
        for _ in 0..100 {
            l.fail_keys(&[a]);
        }
        assert_eq!(l.over(a), None);
    }

    #[test]
    fn ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() {
        let l = Limiter::new(2);
        l.fail_keys(&[Key::Addr(ip("2001:db8:1:2::1"))]);
        l.fail_keys(&[Key::Addr(ip("2001:db8:1:2:ffff:ffff:ffff:ffff"))]);
        assert!(l.over(Key::Addr(ip("2001:db8:1:2::abcd"))).is_some());
        assert_eq!(l.over(Key::Addr(ip("2001:db8:1:3::1"))), None);
        l.fail_keys(&[Key::Addr(ip("198.51.100.9"))]);
        l.fail_keys(&[Key::Addr(ip("::ffff:198.51.100.9"))]);
        assert!(l.over(Key::Addr(ip("198.51.100.9"))).is_some());
    }

    #[test]
    fn still_counts_after_two_hundred_thousand_addresses() {
        let l = Limiter::new(10);
        for i in 0..200_000u32 {
            let [_, b, c, d] = i.to_be_bytes();
            l.fail_keys(&[Key::Addr(IpAddr::from([10, b, c, d]))]);
        }
        let guesser = Key::Addr(ip("203.0.113.5"));
        for _ in 0..10 {
            l.fail_keys(&[guesser]);
        }
        assert!(l.over(guesser).is_some());
        // The flood itself made few innocent addresses look over the limit.
        let innocent = (0..1000u32)
            .filter(|i| {
                l.over(Key::Addr(IpAddr::from([
                    192,
                    168,
                    (i >> 8) as u8,
                    *i as u8,
                ])))
                .is_some()
            })
            .count();
        assert!(innocent < 10, "{innocent}");
    }

    #[test]
    fn hopping_within_a_network_buys_the_factor_only() {
        let l = Limiter::new(2);
        // 32 failures spread over 16 addresses of one /24: each address is at its limit of
        // 2, and so is the network at 2 x 16.
        for i in 0..16u8 {
            for _ in 0..2 {
                l.fail(IpAddr::from([192, 0, 2, i]));
            }
        }
        assert!(l.blocked(IpAddr::from([192, 0, 2, 200])).is_some());
        assert_eq!(l.blocked(IpAddr::from([192, 0, 3, 200])), None);
        for i in 0..32u16 {
            l.fail(IpAddr::from([0x2001, 0xdb8, 7, i, 0, 0, 0, 1]));
        }
        assert!(l.blocked(ip("2001:db8:7:ffff::1")).is_some());
        assert_eq!(l.blocked(ip("2001:db8:8::1")), None);
    }
}
