//! The OAuth 2.1 authorization server: metadata, client authentication, the token endpoint
//! and the token store.

pub mod authorize;
pub mod client_auth;
pub mod grant;
pub mod metadata;
pub mod register;
pub mod revoke;
pub mod store;
pub mod token;

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::http::Response;

/// A new random secret: 32 bytes from the OS CSPRNG as base64url (43 characters, all in
/// `[A-Za-z0-9_-]`).
pub fn random_secret() -> String {
    let mut b = [0u8; 32];
    // The OS CSPRNG does not fail on Linux once booted; if it ever does, abort rather than
    // hand out a predictable token.
    if getrandom::fill(&mut b).is_err() {
        crate::log::line("the OS random number generator failed; aborting");
        std::process::abort();
    }
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
}

pub fn sha256(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An RFC 6749 §5.2 error response: JSON, `no-store`.
pub fn error(status: u16, code: &str, description: &str) -> Response {
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

/// RFC 8707: a `resource` names this server when it is the resource URL or its origin (the
/// issuer), a trailing slash ignored.
pub fn names_this_server(resource: &str, resource_url: &str, issuer: &str) -> bool {
    let r = resource.strip_suffix('/').unwrap_or(resource);
    r == resource_url || r == issuer
}
