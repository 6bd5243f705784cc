//! `POST /oauth/register`: dynamic client registration (RFC 7591), on only while
//! `BRAIN_OWNER_PASSWORD` is set, since every registered client still needs the owner's
//! consent to get a token.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::store::RegisteredClient;
use super::{hex, no_store, random_secret, sha256};
use crate::config;
use crate::http::{Request, Response};
use crate::router::App;

/// Registrations per client address per hour: enough for any real client (they register
/// once), too few to fill the disk.
const PER_HOUR: usize = 20;
const MAX_REDIRECT_URIS: usize = 10;
const MAX_URI_LEN: usize = 2000;
const MAX_NAME_LEN: usize = 200;

/// Counted per address block (IPv4 address, IPv6 /64; see [`crate::limiter::prefix`]).
#[derive(Default)]
pub struct RegistrationLimiter {
    recent: Mutex<HashMap<[u8; 16], Vec<Instant>>>,
}

impl RegistrationLimiter {
    /// Records one registration; `false` when this address already used its hour's share.
    fn allow(&self, ip: IpAddr) -> bool {
        let Ok(mut map) = self.recent.lock() else {
            return false;
        };
        let hour = Duration::from_secs(3600);
        if map.len() > 10_000 {
            map.retain(|_, v| v.iter().any(|t| t.elapsed() < hour));
        }
        let v = map.entry(crate::limiter::prefix(ip)).or_default();
        v.retain(|t| t.elapsed() < hour);
        if v.len() >= PER_HOUR {
            return false;
        }
        v.push(Instant::now());
        true
    }
}

fn bad(code: &str, description: &str) -> Response {
    super::error(400, code, description)
}

pub fn register(app: &App, req: &Request) -> Response {
    let json_type = req
        .header("content-type")
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !json_type {
        return bad(
            "invalid_client_metadata",
            "Content-Type must be application/json",
        );
    }
    let meta: Value = match serde_json::from_slice(&req.body) {
        Ok(v @ Value::Object(_)) => v,
        _ => {
            return bad(
                "invalid_client_metadata",
                "the body must be a JSON object of client metadata (RFC 7591 §2)",
            )
        }
    };
    let client = match validate(&meta) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if !app.registrations.allow(req.client) {
        return super::error(
            429,
            "too_many_requests",
            "too many registrations from this address; try again later",
        )
        .header("Retry-After", "3600");
    }
    let (mut client, secret) = client;
    let id = format!("c_{}", &random_secret()[..22]);
    client.client_id = id.clone();
    client.secret_hash = secret.as_ref().map(|s| hex(&sha256(s.as_bytes())));
    client.created = crate::time::unix_now();
    match app.store.register_client(client.clone()) {
        Ok(0) => {}
        Ok(n) => crate::log::line(&format!(
            "registration: dropped {n} registered clients unused for a day or beyond the {} unused ones kept",
            super::store::MAX_UNUSED_CLIENTS
        )),
        Err(e) => return super::token::storage_error(e),
    }
    let mut out = json!({
        "client_id": id,
        "client_id_issued_at": client.created,
        "redirect_uris": client.redirect_uris,
        "token_endpoint_auth_method": client.auth_method,
        "grant_types": client.grant_types,
        "response_types": ["code"],
        "scope": "mcp",
    });
    if let Some(name) = &client.client_name {
        out["client_name"] = json!(name);
    }
    if let Some(s) = secret {
        out["client_secret"] = json!(s);
        out["client_secret_expires_at"] = json!(0);
    }
    no_store(Response::json(201, &out))
}

type Validated = (RegisteredClient, Option<String>);

/// A redirect URI a client may register: https, or http on a loopback host (RFC 8252 §7.3),
/// no fragment, no userinfo, at most 2,000 characters.
pub fn check_redirect_uri(s: &str) -> Result<(), String> {
    let ok = s.len() <= MAX_URI_LEN
        && config::parse_url(s)
            .is_some_and(|p| p.scheme == "https" || config::is_loopback_host(p.host));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "redirect URI {} must be an https:// URL, or http:// on a loopback host, without a fragment",
            crate::oauth::quote(s)
        ))
    }
}

/// A client name is shown on the consent page and printed by `brain-mcp grants`: at most
/// 200 characters and no control characters (a newline would forge a line of that output).
pub fn check_client_name(n: &str) -> Result<(), String> {
    if n.chars().count() > MAX_NAME_LEN || n.chars().any(char::is_control) {
        Err(
            "client_name must be a string of at most 200 characters without control characters"
                .into(),
        )
    } else {
        Ok(())
    }
}

/// The grant types a registered client may hold: `client_credentials` is only for the
/// pre-registered client (a token without the owner's consent otherwise; issue 16, item 1).
const REGISTRABLE_GRANTS: [&str; 2] = ["authorization_code", "refresh_token"];

/// The rules of [`validate`] for a client read back from `oauth.jsonl`.
pub fn check_stored(c: &RegisteredClient) -> Result<(), String> {
    if c.redirect_uris.is_empty() || c.redirect_uris.len() > MAX_REDIRECT_URIS {
        return Err("a registered client has no or too many redirect URIs".into());
    }
    for u in &c.redirect_uris {
        check_redirect_uri(u)?;
    }
    if let Some(n) = &c.client_name {
        check_client_name(n)?;
    }
    if !matches!(
        c.auth_method.as_str(),
        "none" | "client_secret_post" | "client_secret_basic"
    ) || (c.auth_method == "none") != c.secret_hash.is_none()
    {
        return Err("a registered client has a bad token_endpoint_auth_method".into());
    }
    // `client_credentials` may appear in clients registered before it was refused; it is
    // dropped when the record is applied.
    if !c
        .grant_types
        .iter()
        .all(|g| REGISTRABLE_GRANTS.contains(&g.as_str()) || g == "client_credentials")
    {
        return Err("a registered client has an unknown grant type".into());
    }
    Ok(())
}

fn validate(meta: &Value) -> Result<Validated, Response> {
    let uris = match meta.get("redirect_uris") {
        Some(Value::Array(a)) if !a.is_empty() && a.len() <= MAX_REDIRECT_URIS => a,
        _ => {
            return Err(bad(
                "invalid_redirect_uri",
                "redirect_uris must be a list of 1 to 10 URIs",
            ))
        }
    };
    let mut redirect_uris = Vec::new();
    for u in uris {
        let Some(s) = u.as_str() else {
            return Err(bad(
                "invalid_redirect_uri",
                "each redirect URI must be a string",
            ));
        };
        check_redirect_uri(s).map_err(|m| bad("invalid_redirect_uri", &m))?;
        redirect_uris.push(s.to_string());
    }
    // RFC 7591 §2: the default is client_secret_basic.
    let auth_method = match meta.get("token_endpoint_auth_method") {
        None | Some(Value::Null) => "client_secret_basic".to_string(),
        Some(Value::String(m))
            if matches!(
                m.as_str(),
                "none" | "client_secret_post" | "client_secret_basic"
            ) =>
        {
            m.clone()
        }
        Some(_) => return Err(bad(
            "invalid_client_metadata",
            "token_endpoint_auth_method must be none, client_secret_post or client_secret_basic",
        )),
    };
    let public = auth_method == "none";
    // RFC 7591 §3.2.1: the server "MAY reject or replace any of the client's requested
    // metadata values"; grant types we do not register (client_credentials, jwt-bearer,
    // device_code ...) are left out, and the response says which were registered.
    let grant_types = match meta.get("grant_types") {
        None | Some(Value::Null) => REGISTRABLE_GRANTS.map(String::from).to_vec(),
        Some(Value::Array(a)) => {
            let mut out: Vec<String> = Vec::new();
            for g in a {
                let Some(g) = g.as_str() else {
                    return Err(bad(
                        "invalid_client_metadata",
                        "grant_types must be a list of strings",
                    ));
                };
                if REGISTRABLE_GRANTS.contains(&g) && !out.iter().any(|o| o == g) {
                    out.push(g.to_string());
                }
            }
            if !out.iter().any(|g| g == "authorization_code") {
                return Err(bad(
                    "invalid_client_metadata",
                    "registered clients use the authorization_code grant (with refresh_token); client_credentials is only for the pre-registered client",
                ));
            }
            out
        }
        Some(_) => return Err(bad("invalid_client_metadata", "grant_types must be a list")),
    };
    if let Some(rt) = meta.get("response_types") {
        let ok = rt
            .as_array()
            .is_some_and(|a| a.iter().all(|t| t.as_str() == Some("code")));
        if !ok {
            return Err(bad(
                "invalid_client_metadata",
                "response_types may only hold code",
            ));
        }
    }
    let client_name =
        match meta.get("client_name") {
            None | Some(Value::Null) => None,
            Some(Value::String(n)) => {
                check_client_name(n).map_err(|m| bad("invalid_client_metadata", &m))?;
                Some(n.clone())
            }
            Some(_) => return Err(bad(
                "invalid_client_metadata",
                "client_name must be a string of at most 200 characters without control characters",
            )),
        };
    let secret = (!public).then(|| format!("bms_{}", random_secret()));
    Ok((
        RegisteredClient {
            client_id: String::new(),
            secret_hash: None,
            auth_method,
            redirect_uris,
            client_name,
            grant_types,
            created: 0,
            first_used: None,
        },
        secret,
    ))
}
