//! A provider's signing keys (RFC 7517 JWK Set), reduced to the keys we can use, each bound
//! to exactly one algorithm (RFC 8725 §3.1: "each key MUST be used with exactly one
//! algorithm, and this MUST be checked when the cryptographic operation is performed").
//!
//! A key we cannot use is skipped with its reason, never fatal: one EdDSA or RS384 key in a
//! provider's set must not make every token fail (FastMCP #4515).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{self, RsaPublicKeyComponents, UnparsedPublicKey};
use serde_json::{Map, Value};

/// The algorithms we verify. Never `none` and never an HMAC: an HMAC "key" would be the
/// provider's public key, which anyone has (the RS256/HS256 confusion).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Alg {
    /// RSASSA-PKCS1-v1_5 with SHA-256 (RFC 7518 §3.3), RSA keys of 2048 to 8192 bits.
    Rs256,
    /// ECDSA on P-256 with SHA-256 (RFC 7518 §3.4), the 64-byte r‖s signature form.
    Es256,
}

impl Alg {
    pub fn name(self) -> &'static str {
        match self {
            Alg::Rs256 => "RS256",
            Alg::Es256 => "ES256",
        }
    }

    pub fn parse(s: &str) -> Option<Alg> {
        match s {
            "RS256" => Some(Alg::Rs256),
            "ES256" => Some(Alg::Es256),
            _ => None,
        }
    }
}

/// More keys than this in one set are ignored (Dex holds the current key and up to four
/// demoted ones; a set of hundreds is an attack on our memory or CPU).
pub const MAX_KEYS: usize = 32;

/// A `kid` we accept: at most 128 characters of base64url, hex and the few punctuation marks
/// providers use. It is printed in logs, so it must be short and printable.
pub fn valid_kid(kid: &str) -> bool {
    !kid.is_empty()
        && kid.len() <= 128
        && kid.chars().all(|c| {
            c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~' | '+' | '/' | '=' | ':')
        })
}

#[derive(Debug, Clone)]
pub struct Key {
    pub kid: Option<String>,
    pub alg: Alg,
    /// "RSA 2048 bits", "EC P-256": for `check-config`.
    pub detail: String,
    public: Public,
}

#[derive(Debug, Clone)]
enum Public {
    Rsa {
        n: Vec<u8>,
        e: Vec<u8>,
    },
    /// The uncompressed point 0x04 ‖ x ‖ y.
    Ec(Vec<u8>),
}

impl Key {
    /// Verifies `sig` over `msg` with this key's one algorithm.
    pub fn verify(&self, msg: &[u8], sig: &[u8]) -> bool {
        match &self.public {
            Public::Rsa { n, e } => RsaPublicKeyComponents { n, e }
                .verify(&signature::RSA_PKCS1_2048_8192_SHA256, msg, sig)
                .is_ok(),
            // The FIXED form is JWS's r‖s encoding; a DER-encoded signature is refused.
            Public::Ec(point) => UnparsedPublicKey::new(&signature::ECDSA_P256_SHA256_FIXED, point)
                .verify(msg, sig)
                .is_ok(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct KeySet {
    pub keys: Vec<Key>,
    /// One line per key we skipped, with why.
    pub skipped: Vec<String>,
    /// The kids of skipped keys and why: a token naming one is refused with the reason, and
    /// without a pointless refetch.
    pub unusable: Vec<(String, String)>,
}

impl KeySet {
    /// Whether a key with this `kid` and algorithm is in the set (a cached verification stays
    /// good only while its key does).
    pub fn has(&self, kid: Option<&str>, alg: Alg) -> bool {
        self.keys
            .iter()
            .any(|k| k.kid.as_deref() == kid && k.alg == alg)
    }

    /// The kids, for the log.
    pub fn kids(&self) -> String {
        self.keys
            .iter()
            .map(|k| {
                format!(
                    "{} ({})",
                    k.kid.as_deref().unwrap_or("no kid"),
                    k.alg.name()
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Parses a JWK Set document. An error only when the document itself is unusable; keys we
/// cannot use are listed in `skipped`.
pub fn parse_set(body: &[u8]) -> Result<KeySet, String> {
    let doc = super::json::object(body)?;
    let keys = match doc.get("keys") {
        Some(Value::Array(k)) => k,
        _ => return Err("no \"keys\" array".into()),
    };
    let mut set = KeySet::default();
    for (i, k) in keys.iter().enumerate() {
        if i >= MAX_KEYS {
            set.skipped.push(format!(
                "{} more keys ignored (at most {MAX_KEYS})",
                keys.len() - MAX_KEYS
            ));
            break;
        }
        let Value::Object(k) = k else {
            set.skipped.push(format!("key {i}: not an object"));
            continue;
        };
        match parse_key(k) {
            Ok(key) => set.keys.push(key),
            Err(why) => {
                let kid = k
                    .get("kid")
                    .and_then(Value::as_str)
                    .filter(|s| valid_kid(s));
                if let Some(kid) = kid {
                    set.unusable.push((kid.to_string(), why.clone()));
                }
                set.skipped.push(format!(
                    "key {}: {why}",
                    kid.map(|s| format!("{s:?}")).unwrap_or(i.to_string())
                ));
            }
        }
    }
    Ok(set)
}

fn b64(k: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let s = k
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| format!("no {name}"))?;
    URL_SAFE_NO_PAD
        .decode(s)
        .map_err(|_| format!("{name} is not base64url"))
}

fn strip_zeros(b: &[u8]) -> &[u8] {
    let i = b.iter().position(|x| *x != 0).unwrap_or(b.len());
    &b[i..]
}

fn parse_key(k: &Map<String, Value>) -> Result<Key, String> {
    let kid = match k.get("kid") {
        None => None,
        Some(Value::String(s)) if valid_kid(s) => Some(s.clone()),
        Some(_) => return Err("kid is not a short printable string".into()),
    };
    match k.get("use") {
        None => {}
        Some(Value::String(u)) if u == "sig" => {}
        Some(_) => return Err("use is not \"sig\"".into()),
    }
    if let Some(ops) = k.get("key_ops") {
        let verifies = ops
            .as_array()
            .is_some_and(|a| a.iter().any(|o| o.as_str() == Some("verify")));
        if !verifies {
            return Err("key_ops does not include \"verify\"".into());
        }
    }
    let jwk_alg = match k.get("alg") {
        None => None,
        Some(Value::String(a)) => Some(a.as_str()),
        Some(_) => return Err("alg is not a string".into()),
    };
    let kty = k.get("kty").and_then(Value::as_str).unwrap_or("");
    let (alg, detail, public) = match kty {
        "RSA" => {
            let n = b64(k, "n")?;
            let e = b64(k, "e")?;
            let n = strip_zeros(&n).to_vec();
            let e = strip_zeros(&e).to_vec();
            let bits = n.len() * 8 - n.first().map_or(8, |b| b.leading_zeros() as usize);
            if bits < 2048 {
                return Err(format!("an RSA key of {bits} bits (at least 2048)"));
            }
            if bits > 8192 {
                return Err(format!("an RSA key of {bits} bits (at most 8192)"));
            }
            // ring accepts public exponents from 3 to 2^33 - 1, odd; providers use 65537.
            if e.is_empty() || e.len() > 4 || e[e.len() - 1] & 1 == 0 || (e.len() == 1 && e[0] < 3)
            {
                return Err(
                    "an RSA public exponent that is not an odd number from 3 to 2^32".into(),
                );
            }
            (Alg::Rs256, format!("RSA {bits} bits"), Public::Rsa { n, e })
        }
        "EC" => {
            let crv = k.get("crv").and_then(Value::as_str).unwrap_or("");
            if crv != "P-256" {
                return Err(format!(
                    "curve {:?} (only P-256)",
                    crate::net::printable(crv, 20)
                ));
            }
            let x = b64(k, "x")?;
            let y = b64(k, "y")?;
            if x.len() != 32 || y.len() != 32 {
                return Err("P-256 coordinates that are not 32 bytes each".into());
            }
            let mut point = Vec::with_capacity(65);
            point.push(4);
            point.extend_from_slice(&x);
            point.extend_from_slice(&y);
            (Alg::Es256, "EC P-256".to_string(), Public::Ec(point))
        }
        other => {
            return Err(format!(
                "key type {:?} (only RSA and EC)",
                crate::net::printable(other, 20)
            ))
        }
    };
    if let Some(a) = jwk_alg {
        if a != alg.name() {
            return Err(format!(
                "alg {:?} on a key we would use for {} (RFC 8725 §3.1: one algorithm per key)",
                crate::net::printable(a, 20),
                alg.name()
            ));
        }
    }
    Ok(Key {
        kid,
        alg,
        detail,
        public,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rsa_n(bits: usize) -> String {
        let mut n = vec![0xffu8; bits / 8];
        n[0] = 0xc0;
        URL_SAFE_NO_PAD.encode(n)
    }

    fn set(keys: Value) -> KeySet {
        parse_set(json!({ "keys": keys }).to_string().as_bytes()).unwrap()
    }

    #[test]
    fn usable_keys_are_kept_and_the_rest_skipped_with_a_reason() {
        let ec = json!({"kty":"EC","crv":"P-256","kid":"e1","x":URL_SAFE_NO_PAD.encode([1u8;32]),"y":URL_SAFE_NO_PAD.encode([2u8;32])});
        let s = set(json!([
            {"kty":"RSA","kid":"r1","use":"sig","alg":"RS256","n":rsa_n(2048),"e":"AQAB"},
            ec,
            {"kty":"RSA","kid":"small","n":rsa_n(1024),"e":"AQAB"},
            {"kty":"RSA","kid":"rs384","alg":"RS384","n":rsa_n(2048),"e":"AQAB"},
            {"kty":"RSA","kid":"enc","use":"enc","n":rsa_n(2048),"e":"AQAB"},
            {"kty":"EC","kid":"p384","crv":"P-384","x":"AA","y":"AA"},
            {"kty":"OKP","kid":"ed","crv":"Ed25519","x":"AA"},
            {"kty":"oct","kid":"hmac","k":"c2VjcmV0"},
            {"kty":"EC","kid":"ecrs","alg":"RS256","crv":"P-256","x":URL_SAFE_NO_PAD.encode([1u8;32]),"y":URL_SAFE_NO_PAD.encode([2u8;32])},
            {"kty":"RSA","kid":"even","n":rsa_n(2048),"e":"AQAA"},
            {"kty":"RSA","kid":"bad\nkid","n":rsa_n(2048),"e":"AQAB"},
            "nonsense"
        ]));
        assert_eq!(s.kids(), "r1 (RS256), e1 (ES256)");
        assert_eq!(s.keys[0].detail, "RSA 2048 bits");
        let skipped = s.skipped.join("\n");
        for want in [
            "key \"small\": an RSA key of 1024 bits (at least 2048)",
            "key \"rs384\": alg \"RS384\" on a key we would use for RS256",
            "key \"enc\": use is not \"sig\"",
            "key \"p384\": curve \"P-384\" (only P-256)",
            "key \"ed\": key type \"OKP\" (only RSA and EC)",
            "key \"hmac\": key type \"oct\" (only RSA and EC)",
            "key \"ecrs\": alg \"RS256\" on a key we would use for ES256",
            "key \"even\": an RSA public exponent",
            "key 10: kid is not a short printable string",
            "key 11: not an object",
        ] {
            assert!(skipped.contains(want), "missing {want:?} in\n{skipped}");
        }
        assert_eq!(
            s.unusable[0],
            (
                "small".to_string(),
                "an RSA key of 1024 bits (at least 2048)".to_string()
            )
        );
        assert!(s.has(Some("r1"), Alg::Rs256));
        assert!(!s.has(Some("r1"), Alg::Es256));
    }

    #[test]
    fn a_set_is_capped() {
        let keys: Vec<Value> = (0..40)
            .map(|i| json!({"kty":"RSA","kid":format!("k{i}"),"n":rsa_n(2048),"e":"AQAB"}))
            .collect();
        let s = set(Value::Array(keys));
        assert_eq!(s.keys.len(), MAX_KEYS);
        assert_eq!(s.skipped, ["8 more keys ignored (at most 32)"]);
    }

    #[test]
    fn unusable_documents_are_errors() {
        assert_eq!(parse_set(b"{}").unwrap_err(), "no \"keys\" array");
        assert!(parse_set(br#"{"keys":[],"keys":[]}"#)
            .unwrap_err()
            .contains("duplicate"));
        assert!(parse_set(b"<html>").is_err());
    }
}
