//! Grants `authorization_code` (RFC 6749 §4.1.3 with PKCE, RFC 7636) and `refresh_token`
//! (RFC 6749 §6, rotated as OAuth 2.1 §4.3.1 asks of public clients, for everyone).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine;
use subtle::ConstantTimeEq;

use super::client_auth::Form;
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
/// Outstanding codes at most: each costs a few hundred bytes, and only the owner's consent
/// (or the pre-registered client's own authorize call) makes one.
const MAX_CODES: usize = 10_000;

struct Code {
    client: String,
    redirect_uri: String,
    challenge: String,
    resource: String,
    issued: Instant,
    /// `Some` once redeemed: the grant it created (revoked if the code comes back).
    redeemed: Option<Option<String>>,
}

/// Authorization codes live in memory only: they last a minute, and a restart in that
/// minute costs the user one more click.
#[derive(Default)]
pub struct Codes {
    codes: Mutex<HashMap<[u8; 32], Code>>,
}

impl Codes {
    pub fn issue(
        &self,
        client: &str,
        redirect_uri: &str,
        challenge: &str,
        resource: &str,
    ) -> String {
        let code = random_secret();
        if let Ok(mut codes) = self.codes.lock() {
            codes.retain(|_, c| c.issued.elapsed() < USED_CODE_MEMORY);
            if codes.len() >= MAX_CODES {
                // Drop the oldest unredeemed codes first; they are about to expire anyway.
                codes.retain(|_, c| c.redeemed.is_some() || c.issued.elapsed() < CODE_TTL / 2);
            }
            codes.insert(
                sha256(code.as_bytes()),
                Code {
                    client: client.to_string(),
                    redirect_uri: redirect_uri.to_string(),
                    challenge: challenge.to_string(),
                    resource: resource.to_string(),
                    issued: Instant::now(),
                    redeemed: None,
                },
            );
        }
        code
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
    let (resource, replayed_grant) = {
        let Ok(mut codes) = app.codes.codes.lock() else {
            return error(500, "server_error", "internal error");
        };
        let Some(c) = codes.get_mut(&key) else {
            return invalid_grant("the authorization code is unknown or expired");
        };
        // A failed client authentication never reaches here, and a wrong client or
        // redirect_uri leaves the code usable by its rightful owner.
        if c.client != client.id {
            return invalid_grant("the authorization code was issued to another client");
        }
        if form
            .get("redirect_uri")
            .is_some_and(|r| r != c.redirect_uri)
        {
            return invalid_grant("redirect_uri differs from the one in the authorization request");
        }
        match &c.redeemed {
            Some(grant) => (String::new(), Some(grant.clone())),
            None if c.issued.elapsed() >= CODE_TTL => {
                return invalid_grant("the authorization code has expired");
            }
            None => {
                // From here the code is spent, whatever the verifier says.
                c.redeemed = Some(None);
                let ok = valid_verifier(verifier)
                    && bool::from(s256(verifier).as_bytes().ct_eq(c.challenge.as_bytes()));
                if !ok {
                    return invalid_grant("code_verifier does not match the code_challenge");
                }
                (c.resource.clone(), None)
            }
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
    let (grant, refresh) =
        match app
            .store
            .create_grant(&client.id, &resource, app.cfg.refresh_token_ttl)
        {
            Ok(v) => v,
            Err(e) => return storage_error(e),
        };
    if let Ok(mut codes) = app.codes.codes.lock() {
        if let Some(c) = codes.get_mut(&key) {
            c.redeemed = Some(Some(grant.clone()));
        }
    }
    match app.store.issue_access(
        &client.id,
        Some(&grant),
        &resource,
        app.cfg.access_token_ttl,
        true,
    ) {
        Ok(access) => token_response(app, &access, Some(&refresh)),
        Err(e) => storage_error(e),
    }
}

pub fn refresh_token(app: &App, client: &Client, form: &Form) -> Response {
    let Some(presented) = form.get("refresh_token") else {
        return error(400, "invalid_request", "refresh_token is required");
    };
    match app
        .store
        .rotate_refresh(presented, &client.id, app.cfg.refresh_token_ttl)
    {
        Ok((grant_id, grant, refresh)) => match app.store.issue_access(
            &client.id,
            Some(&grant_id),
            &grant.res,
            app.cfg.access_token_ttl,
            true,
        ) {
            Ok(access) => token_response(app, &access, Some(&refresh)),
            Err(e) => storage_error(e),
        },
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
