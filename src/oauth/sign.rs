//! HMAC-SHA-256 (RFC 2104) and the stateless, signed anti-forgery tokens of the consent form.
//!
//! The consent form's token used to be an entry in a table of 10,000: 10,100 anonymous GETs
//! filled it and the owner's correct password was refused for ten minutes (issue 16, item 3).
//! A signed token costs no memory to issue, so strangers can ask for as many as they like
//! without touching the owner's. Only a token that was actually used is remembered (so it
//! cannot be used twice); that set is bounded, and evicting from it never refuses anyone.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const BLOCK: usize = 64;

/// RFC 2104 with SHA-256 (a key longer than the block is hashed first).
pub fn hmac_sha256(key: &[u8], msg: &[&[u8]]) -> [u8; 32] {
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.map(|b| b ^ 0x36));
    for m in msg {
        inner.update(m);
    }
    let mut outer = Sha256::new();
    outer.update(k.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Used tokens remembered at most. Past it the oldest are forgotten: such a token could be
/// posted once more within its lifetime, which still needs the owner password to approve.
const MAX_SPENT: usize = 10_000;

/// Nonces of used tokens: a set to look them up, a queue to forget the oldest.
type Spent = (HashSet<[u8; 16]>, VecDeque<[u8; 16]>);

/// Tokens bound to a 32-byte digest of what they protect, valid for `ttl`, each accepted once.
/// Layout (base64url): expiry (8 bytes, Unix seconds) | nonce (16) | HMAC over purpose,
/// expiry, nonce and the digest (32).
pub struct FormTokens {
    key: [u8; 32],
    purpose: &'static [u8],
    ttl: Duration,
    spent: Mutex<Spent>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl FormTokens {
    /// A signer with a fresh random key: tokens die with the process, which for a form that
    /// lives ten minutes costs at most one reload of the page after a restart.
    pub fn new(purpose: &'static [u8], ttl: Duration) -> FormTokens {
        FormTokens {
            key: super::random_bytes(),
            purpose,
            ttl,
            spent: Mutex::new((HashSet::new(), VecDeque::new())),
        }
    }

    fn mac(&self, exp: &[u8; 8], nonce: &[u8; 16], bound_to: &[u8; 32]) -> [u8; 32] {
        hmac_sha256(&self.key, &[self.purpose, exp, nonce, bound_to])
    }

    pub fn issue(&self, bound_to: &[u8; 32]) -> String {
        let exp = (now_secs() + self.ttl.as_secs()).to_be_bytes();
        let nonce: [u8; 16] = super::random_bytes::<16>();
        let mut raw = Vec::with_capacity(56);
        raw.extend_from_slice(&exp);
        raw.extend_from_slice(&nonce);
        raw.extend_from_slice(&self.mac(&exp, &nonce, bound_to));
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    }

    /// Whether `token` was issued for `bound_to`, is unexpired and unused; a valid token is
    /// spent.
    pub fn take(&self, token: &str, bound_to: &[u8; 32]) -> bool {
        self.spend(token, bound_to).is_ok()
    }

    /// [`FormTokens::take`], saying why a token is refused (sign-in through the provider
    /// shows the owner which it was). The signature is checked first: a token this signer
    /// did not issue for `bound_to` is [`Refused::Invalid`], whatever its expiry says.
    pub fn spend(&self, token: &str, bound_to: &[u8; 32]) -> Result<(), Refused> {
        let Ok(raw) = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token) else {
            return Err(Refused::Invalid);
        };
        if raw.len() != 56 {
            return Err(Refused::Invalid);
        }
        let mut exp = [0u8; 8];
        exp.copy_from_slice(&raw[..8]);
        let mut nonce = [0u8; 16];
        nonce.copy_from_slice(&raw[8..24]);
        let good = self.mac(&exp, &nonce, bound_to).ct_eq(&raw[24..]);
        if !bool::from(good) {
            return Err(Refused::Invalid);
        }
        if u64::from_be_bytes(exp) <= now_secs() {
            return Err(Refused::Expired);
        }
        let Ok(mut spent) = self.spent.lock() else {
            return Err(Refused::Spent);
        };
        let (set, order) = &mut *spent;
        if !set.insert(nonce) {
            return Err(Refused::Spent);
        }
        order.push_back(nonce);
        if order.len() > MAX_SPENT {
            if let Some(old) = order.pop_front() {
                set.remove(&old);
            }
        }
        Ok(())
    }
}

/// Why [`FormTokens::spend`] refused a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not issued by this signer for this binding (forged, altered, another process's, or
    /// bound to something else).
    Invalid,
    /// Genuine, but its lifetime is over.
    Expired,
    /// Genuine and unexpired, but already used.
    Spent,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(b: &[u8]) -> String {
        super::super::hex(b)
    }

    #[test]
    fn rfc4231_vectors() {
        // Test case 1.
        assert_eq!(
            hex(&hmac_sha256(&[0x0b; 20], &[b"Hi There"])),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
        );
        // Test case 2, the message given in two parts.
        assert_eq!(
            hex(&hmac_sha256(
                b"Jefe",
                &[b"what do ya want ", b"for nothing?"]
            )),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Test case 6: a key longer than the block.
        assert_eq!(
            hex(&hmac_sha256(
                &[0xaa; 131],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn tokens_are_bound_unforgeable_and_single_use() {
        let t = FormTokens::new(b"test", Duration::from_secs(60));
        let tok = t.issue(&[1; 32]);
        assert!(!t.take(&tok, &[2; 32]));
        assert!(t.take(&tok, &[1; 32]));
        assert!(!t.take(&tok, &[1; 32]));
        // Another signer's token, a truncated one and garbage are refused.
        let other = FormTokens::new(b"test", Duration::from_secs(60));
        assert!(!t.take(&other.issue(&[1; 32]), &[1; 32]));
        assert!(!t.take(&tok[..20], &[1; 32]));
        assert!(!t.take("!!!", &[1; 32]));
        let expired = FormTokens::new(b"test", Duration::from_secs(0));
        assert!(!expired.take(&expired.issue(&[1; 32]), &[1; 32]));
    }

    #[test]
    fn refusals_say_why() {
        let t = FormTokens::new(b"test", Duration::from_secs(60));
        let tok = t.issue(&[1; 32]);
        assert_eq!(t.spend(&tok, &[2; 32]), Err(Refused::Invalid));
        assert_eq!(t.spend("!!!", &[1; 32]), Err(Refused::Invalid));
        assert_eq!(t.spend(&tok, &[1; 32]), Ok(()));
        assert_eq!(t.spend(&tok, &[1; 32]), Err(Refused::Spent));
        let expired = FormTokens::new(b"test", Duration::from_secs(0));
        let old = expired.issue(&[1; 32]);
        assert_eq!(expired.spend(&old, &[1; 32]), Err(Refused::Expired));
        // An expired token of another binding is invalid, not expired.
        assert_eq!(expired.spend(&old, &[2; 32]), Err(Refused::Invalid));
    }
}
