//! Failed authentications per client address in a sliding window: after `limit` failures in
//! five minutes an address gets `429` until the oldest failure ages out. Guessing a client
//! secret or the owner password from one address is then hopeless; other addresses are
//! served as usual.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub const WINDOW: Duration = Duration::from_secs(300);

/// Addresses tracked at most; beyond this the stalest entries are dropped first, so a flood
/// of spoofed-looking peers cannot grow memory without bound.
const MAX_ADDRESSES: usize = 100_000;

pub struct Limiter {
    limit: u32,
    failures: Mutex<HashMap<IpAddr, VecDeque<Instant>>>,
}

impl Limiter {
    /// `limit` 0 turns the limiter off.
    pub fn new(limit: u32) -> Limiter {
        Limiter {
            limit,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// `Some(seconds to wait)` when this address is over its limit.
    pub fn blocked(&self, ip: IpAddr) -> Option<u64> {
        if self.limit == 0 {
            return None;
        }
        let now = Instant::now();
        let mut map = self.failures.lock().ok()?;
        let q = map.get_mut(&ip)?;
        while q.front().is_some_and(|t| now.duration_since(*t) >= WINDOW) {
            q.pop_front();
        }
        if q.len() < self.limit as usize {
            return None;
        }
        let oldest = *q.front()?;
        let wait = WINDOW.saturating_sub(now.duration_since(oldest));
        Some(wait.as_secs().max(1))
    }

    pub fn fail(&self, ip: IpAddr) {
        if self.limit == 0 {
            return;
        }
        let now = Instant::now();
        let Ok(mut map) = self.failures.lock() else {
            return;
        };
        if map.len() >= MAX_ADDRESSES && !map.contains_key(&ip) {
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < WINDOW));
            if map.len() >= MAX_ADDRESSES {
                return;
            }
        }
        let q = map.entry(ip).or_default();
        q.push_back(now);
        // Only the newest `limit` matter.
        while q.len() > self.limit as usize {
            q.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_limit_per_address() {
        let l = Limiter::new(3);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        let b: IpAddr = "192.0.2.2".parse().unwrap();
        for _ in 0..2 {
            l.fail(a);
        }
        assert_eq!(l.blocked(a), None);
        l.fail(a);
        let wait = l.blocked(a).unwrap();
        assert!((1..=300).contains(&wait));
        assert_eq!(l.blocked(b), None);
    }

    #[test]
    fn zero_is_off() {
        let l = Limiter::new(0);
        let a: IpAddr = "192.0.2.1".parse().unwrap();
        for _ in 0..100 {
            l.fail(a);
        }
        assert_eq!(l.blocked(a), None);
    }
}
