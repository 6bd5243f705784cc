//! The JWT verifier (src/oidc): never panics, and accepts nothing it should not.
//!
//! Two paths per input:
//! - raw: the input as a token. `Ok` is allowed only if its signature really verifies under
//!   the fixture key (checked here with ring directly), whatever else the input holds.
//! - signed: the input split at the first NUL into header and payload text, signed with the
//!   fixture key, so that the claim checks behind the signature are fuzzed too. `Ok` must
//!   mean the claims the verifier promised: the issuer byte for byte, an audience of ours, a
//!   non-empty subject, not expired.
#![no_main]

use std::sync::OnceLock;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use brain_mcp::oidc::jwk::{self, Alg, KeySet};
use brain_mcp::oidc::jwt::{verify, Expect, Profile};
use libfuzzer_sys::fuzz_target;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};

const ISS: &str = "https://id.example";
const NOW: u64 = 1_800_000_000;

struct Fixture {
    pair: EcdsaKeyPair,
    keys: KeySet,
    audiences: Vec<String>,
}

fn fixture() -> &'static Fixture {
    static F: OnceLock<Fixture> = OnceLock::new();
    F.get_or_init(|| {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let p = pair.public_key().as_ref();
        let set = format!(
            r#"{{"keys":[{{"kty":"EC","crv":"P-256","kid":"k1","x":"{}","y":"{}"}}]}}"#,
            URL_SAFE_NO_PAD.encode(&p[1..33]),
            URL_SAFE_NO_PAD.encode(&p[33..65])
        );
        Fixture {
            keys: jwk::parse_set(set.as_bytes()).unwrap(),
            pair,
            audiences: vec!["https://brain.example/mcp".into(), "brain-mcp".into()],
        }
    })
}

fn expect<'a>(f: &'a Fixture, profile: Profile) -> Expect<'a> {
    Expect {
        issuer: ISS,
        audiences: &f.audiences,
        profile,
        algs: &[Alg::Rs256, Alg::Es256],
        leeway: 60,
        now: NOW,
        nonce: Some("n"),
    }
}

const PROFILES: [Profile; 3] = [Profile::Rfc9068, Profile::Oidc, Profile::IdToken];

fuzz_target!(|data: &[u8]| {
    let f = fixture();
    // Raw.
    if let Ok(token) = std::str::from_utf8(data) {
        for profile in PROFILES {
            if verify(token, &f.keys, &expect(f, profile)).is_ok() {
                let parts: Vec<&str> = token.split('.').collect();
                assert_eq!(parts.len(), 3);
                let sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
                let pk = UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, f.pair.public_key().as_ref());
                let signed = &token[..parts[0].len() + 1 + parts[1].len()];
                assert!(pk.verify(signed.as_bytes(), &sig).is_ok(), "accepted a bad signature");
            }
        }
    }
    // Signed.
    let split = data.iter().position(|b| *b == 0).unwrap_or(data.len());
    let (header, payload) = (&data[..split], data.get(split + 1..).unwrap_or(&[]));
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let sig = f.pair.sign(&SystemRandom::new(), input.as_bytes()).unwrap();
    let token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()));
    for profile in PROFILES {
        if let Ok(v) = verify(&token, &f.keys, &expect(f, profile)) {
            assert_eq!(v.claims.get("iss").and_then(|i| i.as_str()), Some(ISS));
            assert!(!v.sub.is_empty());
            assert!(NOW < v.exp + 60, "accepted an expired token");
            let aud = &v.claims["aud"];
            let ours = |a: &serde_json::Value| {
                a.as_str().is_some_and(|a| {
                    f.audiences
                        .iter()
                        .any(|w| w == a || w.trim_end_matches('/') == a.trim_end_matches('/'))
                })
            };
            assert!(ours(aud) || aud.as_array().is_some_and(|l| l.iter().any(ours)));
        }
    }
});
