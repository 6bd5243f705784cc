//! Grants `authorization_code` (RFC 6749 §4.1.3 with PKCE, RFC 7636) and `refresh_token`
//! (RFC 6749 §6, rotated as OAuth 2.1 §4.3.1 asks of public clients, for everyone).

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use subtle::ConstantTimeEq;

use super::client_auth::Form;
use super::scope::Scope;
use super::store::RefreshError;
use super::token::{storage_error, token_response, Client};
use super::{error, random_secret, sha256};
use crate::http::Response;
use crate::router::App;

/// How long a code may wait to be redeemed (RFC 6749 §4.1.2 recommends at most 10 minutes;
/// the issue asks for 60 s).
pub const CODE_TTL: Duration = Duration::from_secs(60);
/// How long a redeemed code is remembered, so that a replay is recognised and the tokens
/// issued from it are revoked (RFC 6749 §4.1.2).
const USED_CODE_MEMORY: Duration = Duration::from_secs(600);
/// Codes remembered at most, issued or redeemed (a few hundred bytes each). Past it the
/// oldest goes: ten thousand codes in the minute between a code's issue and its redemption
/// (about a second for real clients) would have to be made to push one out.
const MAX_CODES: usize = 10_000;
/// Codes one address block may be issued per [`CODE_TTL`]. A person connecting a client needs
/// one; without an owner password the pre-registered client's codes are issued to anyone who
/// asks, and this keeps a flood from one address small (issue 16, item 7).
pub const CODES_PER_ADDRESS: usize = 30;

/// A code's request, as digests: a fixed 150 bytes or so whatever the client sent, so the
/// table's memory is its length times that. (The resource is always this server's.)
struct Code {
    client: [u8; 32],
    redirect_uri: [u8; 32],
    /// Whether the authorization request named `redirect_uri` (then the token request must
    /// too, RFC 6749 §4.1.3).
    redirect_uri_sent: bool,
    /// SHA-256 of the S256 `code_challenge` as sent.
    challenge: [u8; 32],
    /// What the owner granted on the consent page.
    scope: Scope,
    review: bool,
    issued: Instant,
    /// `Some` once redeemed: the grant it created (revoked if the code comes back).
    redeemed: Option<Option<String>>,
}

/// What a code is issued for.
pub struct CodeRequest<'a> {
    pub client: &'a str,
    pub redirect_uri: &'a str,
    pub redirect_uri_sent: bool,
    pub challenge: &'a str,
    pub scope: Scope,
    pub review: bool,
    pub from: IpAddr,
}

#[derive(Default)]
struct CodeTable {
    codes: HashMap<[u8; 32], Code>,
    /// Every code in issue order, for expiry from the front in O(1) per code.
    order: VecDeque<(Instant, [u8; 32])>,
    /// Codes issued in the last [`CODE_TTL`], per address block, in issue order.
    recent: VecDeque<(Instant, [u8; 16])>,
    per_address: HashMap<[u8; 16], usize>,
}

impl CodeTable {
    fn expire(&mut self, now: Instant) {
        while let Some((at, key)) = self.order.front() {
            if now.duration_since(*at) < USED_CODE_MEMORY && self.codes.len() < MAX_CODES {
                break;
            }
            self.codes.remove(key);
            self.order.pop_front();
        }
        while let Some((at, block)) = self.recent.front() {
            if now.duration_since(*at) < CODE_TTL {
                break;
            }
            if let Some(n) = self.per_address.get_mut(block) {
                *n -= 1;
                if *n == 0 {
                    self.per_address.remove(block);
                }
            }
            self.recent.pop_front();
        }
    }
}

/// Authorization codes live in memory only: they last a minute, and a restart in that
/// minute costs the user one more click.
#[derive(Default)]
pub struct Codes {
    table: Mutex<CodeTable>,
}

impl Codes {
    /// A new code, or `None` when the address block has had [`CODES_PER_ADDRESS`] in the
    /// last minute.
    pub fn issue(&self, r: &CodeRequest) -> Option<String> {
        let code = random_secret();
        let now = Instant::now();
        let mut t = self.table.lock().ok()?;
        t.expire(now);
        let block = crate::limiter::prefix(r.from);
        let n = t.per_address.entry(block).or_default();
        if *n >= CODES_PER_ADDRESS {
            return None;
        }
        *n += 1;
        t.recent.push_back((now, block));
        let key = sha256(code.as_bytes());
        t.order.push_back((now, key));
        t.codes.insert(
            key,
            Code {
                client: sha256(r.client.as_bytes()),
                redirect_uri: sha256(r.redirect_uri.as_bytes()),
                redirect_uri_sent: r.redirect_uri_sent,
                challenge: sha256(r.challenge.as_bytes()),
                scope: r.scope.clone(),
                review: r.review,
                issued: now,
                redeemed: None,
            },
        );
        Some(code)
    }

    /// Whether `code` is unredeemed, unexpired and `client`'s: a credential no guesser has
    /// (see `oauth::token::authenticated_form`).
    pub fn is_live(&self, code: &str, client: &str) -> bool {
        let Ok(t) = self.table.lock() else {
            return false;
        };
        t.codes.get(&sha256(code.as_bytes())).is_some_and(|c| {
            c.client == sha256(client.as_bytes())
                && c.redeemed.is_none()
                && c.issued.elapsed() < CODE_TTL
        })
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `[A-Za-z0-9-._~]`.
pub fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len())
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// RFC 7636 §4.2: `BASE64URL-ENCODE(SHA256(ASCII(code_verifier)))`.
pub fn s256(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha256(verifier.as_bytes()))
}

fn invalid_grant(why: &str) -> Response {
    error(400, "invalid_grant", why)
}

pub fn authorization_code(app: &App, client: &Client, form: &Form) -> Response {
    let Some(code) = form.get("code") else {
        return error(400, "invalid_request", "code is required");
    };
    let Some(verifier) = form.get("code_verifier") else {
        return error(400, "invalid_request", "code_verifier is required (PKCE)");
    };
    let key = sha256(code.as_bytes());
    let (replayed_grant, scope, review) = {
        let Ok(mut table) = app.codes.table.lock() else {
            return error(500, "server_error", "internal error");
        };
        let Some(c) = table.codes.get_mut(&key) else {
            return invalid_grant("the authorization code is unknown or expired");
        };
        // A failed client authentication never reaches here, and a wrong client or
        // redirect_uri leaves the code usable by its rightful owner.
        if c.client != sha256(client.id.as_bytes()) {
            return invalid_grant("the authorization code was issued to another client");
        }
        if let Some(grant) = &c.redeemed {
            // A replay is a replay whatever else it says.
            (Some(grant.clone()), Scope::full(), false)
        } else {
            match form.get("redirect_uri") {
                Some(r) if sha256(r.as_bytes()) != c.redirect_uri => {
                    return invalid_grant(
                        "redirect_uri differs from the one in the authorization request",
                    )
                }
                // RFC 6749 §4.1.3 (and OAuth 2.1 §4.1.3): redirect_uri is "REQUIRED, if the
                // "redirect_uri" parameter was included in the authorization request".
                None if c.redirect_uri_sent => {
                    return error(
                        400,
                        "invalid_request",
                        "redirect_uri is required: the authorization request had one",
                    )
                }
                _ => {}
            }
            if c.issued.elapsed() >= CODE_TTL {
                return invalid_grant("the authorization code has expired");
            }
            // From here the code is spent, whatever the verifier says.
            c.redeemed = Some(None);
            let ok = valid_verifier(verifier)
                && bool::from(sha256(s256(verifier).as_bytes()).ct_eq(&c.challenge));
            if !ok {
                return invalid_grant("code_verifier does not match the code_challenge");
            }
            (None, c.scope.clone(), c.review)
        }
    };
    if let Some(grant) = replayed_grant {
        // RFC 6749 §4.1.2: "If an authorization code is used more than once, the
        // authorization server MUST deny the request and SHOULD revoke (when possible) all
        // tokens previously issued based on that authorization code."
        if let Some(g) = grant {
            if let Err(e) = app.store.revoke_grant(&g) {
                return storage_error(e);
            }
        }
        return invalid_grant("the authorization code was already used; its tokens are revoked");
    }
    // The redirect URI is the form's (checked equal above) or the one the client registered.
    let redirect = form
        .get("redirect_uri")
        .map(str::to_string)
        .or_else(|| client.redirect_uris.first().cloned())
        .unwrap_or_default();
    let about = super::store::GrantInfo {
        name: client.name.clone(),
        redirect: super::store::redirect_host(&redirect),
        scope: scope.clone(),
        review,
    };
    let issued = match app.store.create_grant(
        &client.id,
        about,
        &app.resource,
        app.cfg.refresh_token_ttl,
        app.cfg.access_token_ttl,
    ) {
        Ok(v) => v,
        Err(e) => return storage_error(e),
    };
    if let Ok(mut table) = app.codes.table.lock() {
        if let Some(c) = table.codes.get_mut(&key) {
            c.redeemed = Some(Some(issued.grant.clone()));
        }
    }
    token_response(app, &issued.access, Some(&issued.refresh), &scope)
}

pub fn refresh_token(app: &App, client: &Client, form: &Form) -> Response {
    let Some(presented) = form.get("refresh_token") else {
        return error(400, "invalid_request", "refresh_token is required");
    };
    match app.store.rotate_refresh(
        presented,
        &client.id,
        app.cfg.refresh_token_ttl,
        app.cfg.access_token_ttl,
    ) {
        Ok(issued) => token_response(app, &issued.access, Some(&issued.refresh), &issued.scope),
        Err(RefreshError::Invalid) => {
            invalid_grant("the refresh token is unknown, expired, revoked or another client's")
        }
        Err(RefreshError::Reused) => invalid_grant(
            "the refresh token was already used; every token of this grant is now revoked",
        ),
        Err(RefreshError::Io) => error(503, "temporarily_unavailable", "try again"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7636_appendix_b_vector() {
        assert_eq!(
            s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(valid_verifier(
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
        ));
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}+", "a".repeat(43))));
    }
}
