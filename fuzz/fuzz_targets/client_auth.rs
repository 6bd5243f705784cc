//! Client credentials and form bodies: never panic; Basic credentials built from the issued
//! alphabet round-trip.
#![no_main]

use base64::Engine;
use brain_mcp::oauth::client_auth::{decode_basic, form_decode, Form};
use libfuzzer_sys::fuzz_target;

/// The alphabet IDs and secrets are issued from (CONTRACT: `[A-Za-z0-9._~-]`).
const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-";

fn from_alphabet(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char)
        .collect()
}

fuzz_target!(|data: &[u8]| {
    // Arbitrary input, lossy and checked UTF-8.
    let lossy = String::from_utf8_lossy(data);
    let _ = decode_basic(&lossy);
    if let Ok(s) = std::str::from_utf8(data) {
        let _ = decode_basic(s);
    }
    // Arbitrary bytes behind a well-formed scheme, base64-encoded.
    let encoded = base64::engine::general_purpose::STANDARD.encode(data);
    if let Some((id, secret)) = decode_basic(&format!("Basic {encoded}")) {
        assert!(!id.is_empty() && !secret.is_empty());
    }

    if let Some(s) = form_decode(data) {
        // `+` and `%XX` only ever shrink the input.
        assert!(s.len() <= data.len());
    }
    let _ = Form::parse(data);
    if let Ok(form) = Form::parse(data) {
        for k in [
            "grant_type",
            "client_id",
            "client_secret",
            "code",
            "redirect_uri",
        ] {
            if let Some(v) = form.get(k) {
                assert!(!v.is_empty());
            }
        }
    }

    // Round trip: split the input at the first 0xff into a non-empty id and secret drawn from
    // the issued alphabet; base64("id:secret") must decode back to exactly them, under any
    // scheme case and surrounding whitespace.
    if let Some(cut) = data.iter().position(|b| *b == 0xff) {
        let id = from_alphabet(&data[..cut]);
        let secret = from_alphabet(&data[cut + 1..]);
        if !id.is_empty() && !secret.is_empty() {
            let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
            let scheme = match data[0] % 3 {
                0 => "Basic",
                1 => "basic",
                _ => "BASIC",
            };
            let header = format!(" {scheme} {b64} ");
            assert_eq!(
                decode_basic(&header),
                Some((id.clone(), secret.clone())),
                "round trip failed for {header:?}"
            );
            assert_eq!(form_decode(id.as_bytes()).as_deref(), Some(id.as_str()));
        }
    }
});
