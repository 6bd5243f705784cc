//! The OAuth 2.1 authorization server: metadata, client authentication, the token endpoint
//! and the token store.

pub mod authorize;
pub mod cimd;
pub mod client_auth;
pub mod grant;
pub mod metadata;
pub mod register;
pub mod revoke;
pub mod scope;
pub mod sign;
pub mod store;
pub mod token;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::http::Response;

/// A new random secret: 32 bytes from the OS CSPRNG as base64url (43 characters, all in
/// `[A-Za-z0-9_-]`).
pub fn random_secret() -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random_bytes::<32>())
}

/// `N` bytes from the OS CSPRNG.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // The OS CSPRNG does not fail on Linux once booted; if it ever does, abort rather than
    // hand out a predictable token.
    if getrandom::fill(&mut b).is_err() {
        crate::log::line("the OS random number generator failed; aborting");
        std::process::abort();
    }
    b
}

pub fn sha256(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

/// Lower-case hex (on the token endpoint's path twice per token: no `format!` per byte).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(2 * bytes.len());
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// RFC 6749 §5.2: "Values for the "error_description" parameter MUST NOT include characters
/// outside the set %x20-21 / %x23-5B / %x5D-7E" (printable ASCII without `"` and `\`).
fn description_char(c: char) -> bool {
    matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e')
}

/// A value a client sent, for an error description: in single quotes, at most 64
/// characters, every character §5.2 forbids (and `%`) percent-encoded as UTF-8 bytes.
pub fn quote(v: &str) -> String {
    let mut out = String::from("'");
    for (i, c) in v.chars().enumerate() {
        if i == 64 {
            out.push_str("...");
            break;
        }
        if description_char(c) && c != '%' {
            out.push(c);
        } else {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("%{b:02X}"));
            }
        }
    }
    out.push('\'');
    out
}

/// An RFC 6749 §5.2 error response: JSON, `no-store`. Every OAuth error goes through here, so
/// no description can break §5.2's character rule: a forbidden character becomes `?` (values
/// from clients are [`quote`]d first, which keeps them readable).
pub fn error(status: u16, code: &str, description: &str) -> Response {
    let description: String = description
        .chars()
        .map(|c| if description_char(c) { c } else { '?' })
        .collect();
    no_store(Response::json(
        status,
        &serde_json::json!({"error": code, "error_description": description}),
    ))
}

/// RFC 6749 §5.1: token responses must not be cached.
pub fn no_store(resp: Response) -> Response {
    resp.header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
}

/// Client IDs this server knows: 1 to 255 characters of `[A-Za-z0-9._~-]` (the
/// pre-registered one, by configuration, and those we issue), or a client metadata document
/// URL ([`cimd::check_url`]).
pub fn valid_client_id(id: &str) -> bool {
    if cimd::is_url(id) {
        return cimd::check_url(id).is_ok();
    }
    !id.is_empty()
        && id.len() <= 255
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'~' | b'-'))
}

/// RFC 8707: a `resource` names this server when it is the resource URL or its origin (the
/// issuer), a trailing slash ignored.
pub fn names_this_server(resource: &str, resource_url: &str, issuer: &str) -> bool {
    let r = resource.strip_suffix('/').unwrap_or(resource);
    r == resource_url || r == issuer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions_keep_to_rfc6749_5_2() {
        assert_eq!(quote("a\"b\\c"), "'a%22b%5Cc'");
        assert_eq!(quote("é%"), "'%C3%A9%25'");
        assert_eq!(quote(&"x".repeat(70)), format!("'{}...'", "x".repeat(64)));
        let r = error(400, "invalid_request", "bad \"x\" \\ é\n");
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["error_description"], "bad ?x? ? ??");
    }
}
