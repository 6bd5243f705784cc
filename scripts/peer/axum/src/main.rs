//! Benchmark peer: axum 0.8 on hyper 1, a tokio runtime with 2 worker threads, answering what
//! brain-mcp's HTTP path answers for the two rows it is measured on (scripts/bench.sh):
//!
//! - `GET /healthz`: 200, `Content-Type: application/json`, `{"status":"ok"}`.
//! - `POST /oauth/token`, `grant_type=client_credentials`, as brain-mcp's: the body capped at
//!   64 KiB (413), `Content-Type` must be `application/x-www-form-urlencoded` (400), a repeated
//!   parameter is a 400, client authentication by `client_secret_basic` (RFC 6749 §2.3.1
//!   form-encoded id and secret) or `client_secret_post` (both at once: 400), compared in
//!   constant time over SHA-256 digests, 401 `invalid_client` with `WWW-Authenticate: Basic`
//!   on a wrong one. The token is `bma_` and 32 random bytes in base64url, kept in a map with
//!   its expiry; one client holds at most 100 live tokens (issuing one more drops its
//!   oldest), as brain-mcp does. brain-mcp's response headers and JSON.
//!
//! What it does not do that brain-mcp does: write each token's hash to a log file, log each
//! request, or limit failed authentications per address.
//!
//! Env: PORT (required), OAUTH_CLIENT_ID, OAUTH_CLIENT_SECRET.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

const TTL: u64 = 3600;
const BODY_CAP: usize = 64 * 1024;
const MAX_LIVE_PER_CLIENT: usize = 100;

struct App {
    id_hash: [u8; 32],
    secret_hash: [u8; 32],
    tokens: Mutex<Tokens>,
}

#[derive(Default)]
struct Tokens {
    /// token -> (client, expiry in unix seconds)
    live: HashMap<String, (String, u64)>,
    /// client -> its tokens in issue order
    issued: HashMap<String, VecDeque<String>>,
}

fn sha256(s: &[u8]) -> [u8; 32] {
    Sha256::digest(s).into()
}

fn json(status: StatusCode, extra: &[(&'static str, &'static str)], body: Vec<u8>) -> Response {
    let mut r = (status, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    for (k, v) in extra {
        h.insert(*k, HeaderValue::from_static(v));
    }
    r
}

const TOKEN_HEADERS: [(&str, &str); 4] = [
    ("cache-control", "no-store"),
    ("pragma", "no-cache"),
    ("access-control-allow-origin", "*"),
    ("access-control-expose-headers", "WWW-Authenticate"),
];

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({"error": error, "error_description": description});
    json(
        status,
        &TOKEN_HEADERS,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn invalid_client() -> Response {
    let mut r = oauth_error(
        StatusCode::UNAUTHORIZED,
        "invalid_client",
        "client authentication failed",
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Basic realm=\"brain-mcp\""),
    );
    r
}

/// RFC 6749 §2.3.1 / RFC 7617: `Basic base64(urlencode(id) ":" urlencode(secret))`.
fn decode_basic(value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = raw.iter().position(|b| *b == b':')?;
    let dec = |b: &[u8]| -> Option<String> {
        let s: String = form_urlencoded::parse([b"x=", b].concat().as_slice())
            .next()?
            .1
            .into_owned();
        Some(s)
    };
    let (id, secret) = (dec(&raw[..colon])?, dec(&raw[colon + 1..])?);
    (!id.is_empty() && !secret.is_empty()).then_some((id, secret))
}

async fn healthz() -> Response {
    json(StatusCode::OK, &[], br#"{"status":"ok"}"#.to_vec())
}

async fn token(State(app): State<Arc<App>>, headers: HeaderMap, body: Bytes) -> Response {
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false);
    if !is_form {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        );
    }
    let mut form: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(&body) {
        if k == "resource" {
            continue;
        }
        if form.insert(k.to_string(), v.into_owned()).is_some() {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                &format!("parameter {k:?} is repeated"),
            );
        }
    }
    let get = |k: &str| form.get(k).map(String::as_str).filter(|v| !v.is_empty());
    let Some(grant) = get("grant_type") else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "grant_type is required",
        );
    };
    let (id, secret) = match headers.get(header::AUTHORIZATION) {
        Some(v) => {
            let Some(basic) = v.to_str().ok().and_then(decode_basic) else {
                return invalid_client();
            };
            if get("client_secret").is_some() {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_request",
                    "client credentials were sent both in the Authorization header and in the body; use one",
                );
            }
            basic
        }
        None => match (get("client_id"), get("client_secret")) {
            (Some(i), Some(s)) => (i.to_string(), s.to_string()),
            _ => return invalid_client(),
        },
    };
    let id_ok = sha256(id.as_bytes()).ct_eq(&app.id_hash);
    let secret_ok = sha256(secret.as_bytes()).ct_eq(&app.secret_hash);
    if !bool::from(id_ok & secret_ok) {
        return invalid_client();
    }
    if grant != "client_credentials" {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            &format!("grant_type {grant:?} is not supported here; use client_credentials"),
        );
    }
    let mut raw = [0u8; 32];
    if getrandom::fill(&mut raw).is_err() {
        std::process::abort();
    }
    let access = format!(
        "bma_{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
    );
    let exp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        + TTL;
    {
        let mut t = app.tokens.lock().unwrap_or_else(|e| e.into_inner());
        t.live.insert(access.clone(), (id.clone(), exp));
        let mine = t.issued.entry(id).or_default();
        mine.push_back(access.clone());
        if mine.len() > MAX_LIVE_PER_CLIENT {
            if let Some(old) = mine.pop_front() {
                t.live.remove(&old);
            }
        }
    }
    let body = serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": TTL,
        "scope": "mcp",
    });
    json(
        StatusCode::OK,
        &TOKEN_HEADERS,
        serde_json::to_vec(&body).unwrap_or_default(),
    )
}

fn main() {
    let port: u16 = std::env::var("PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("PORT");
    let id = std::env::var("OAUTH_CLIENT_ID").unwrap_or_default();
    let secret = std::env::var("OAUTH_CLIENT_SECRET").unwrap_or_default();
    let app = Arc::new(App {
        id_hash: sha256(id.as_bytes()),
        secret_hash: sha256(secret.as_bytes()),
        tokens: Mutex::new(Tokens::default()),
    });
    let router = Router::new()
        .route("/healthz", get(healthz))
        .route("/oauth/token", post(token))
        .layer(DefaultBodyLimit::max(BODY_CAP))
        .with_state(app);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .expect("bind");
        axum::serve(listener, router).await.expect("serve");
    });
}
