//! `POST /oauth/token` (RFC 6749 §3.2, §4.4; OAuth 2.1).

use serde_json::json;
use subtle::ConstantTimeEq;

use super::client_auth::{self, CredError, Form, Method, Presented};
use super::{error, names_this_server, no_store, sha256};
use crate::http::{Request, Response};
use crate::router::App;

/// The client that authenticated.
#[derive(Debug, Clone)]
pub struct Client {
    pub id: String,
    /// The pre-registered client from `OAUTH_CLIENT_ID` rather than one registered through
    /// `/oauth/register`.
    pub preregistered: bool,
    pub grant_types: Vec<String>,
    pub redirect_uris: Vec<String>,
    pub name: Option<String>,
    pub public: bool,
    /// Identified by a client metadata document (its ID is the document's URL).
    pub metadata_document: bool,
}

/// `401 invalid_client` with the Basic challenge (RFC 6749 §5.2). One body for an unknown
/// client and a wrong secret, so the answer does not tell which IDs exist.
pub fn invalid_client() -> Response {
    error(401, "invalid_client", "client authentication failed")
        .header("WWW-Authenticate", "Basic realm=\"brain-mcp\"")
}

pub fn too_many(wait: u64) -> Response {
    error(
        429,
        "too_many_requests",
        "too many failed authentications from this address; wait and try again",
    )
    .header("Retry-After", &wait.to_string())
}

/// Whether the request carries a credential besides the client's secret that no guesser can
/// have: the current refresh token, or a live authorization code, of the client it names (or,
/// at revocation, a live token of it). Such a request is served even when its address or its
/// client is over the failure limit, so strangers failing from a shared address (claude.ai's
/// token calls all come from Anthropic's) cannot lock the owner's clients out, while a
/// guesser, who has none, is refused unheard (issue 16, item 4).
fn holds_grant(app: &App, form: &Form, client_id: &str) -> bool {
    let param = |k| form.get(k).unwrap_or("");
    match (form.get("grant_type"), form.get("token")) {
        (Some("refresh_token"), _) => app
            .store
            .refresh_is_current(param("refresh_token"), client_id),
        (Some("authorization_code"), _) => app.codes.is_live(param("code"), client_id),
        (None, Some(token)) => {
            app.store.refresh_is_current(token, client_id)
                || app
                    .store
                    .check_access(token)
                    .is_some_and(|a| a.client == client_id)
        }
        _ => false,
    }
}

/// Finds the client and checks its credentials in constant time.
pub fn authenticate(app: &App, p: &Presented) -> Option<Client> {
    let presented_hash = sha256(p.secret.as_deref().unwrap_or("").as_bytes());
    if let (Some((id, _)), Some((id_digest, secret_digest))) =
        (&app.cfg.client, &app.client_digests)
    {
        let id_ok = sha256(p.client_id.as_bytes()).ct_eq(id_digest);
        if bool::from(id_ok) {
            let secret_ok = presented_hash.ct_eq(secret_digest);
            return (bool::from(secret_ok) && p.method != Method::None).then(|| Client {
                id: id.clone(),
                preregistered: true,
                grant_types: vec![
                    "authorization_code".into(),
                    "refresh_token".into(),
                    "client_credentials".into(),
                ],
                redirect_uris: Vec::new(),
                name: None,
                public: false,
                metadata_document: false,
            });
        }
    }
    if super::cimd::is_url(&p.client_id) {
        // A metadata-document client is public (its document may not hold a secret): it
        // authenticates with `none`, and PKCE and the code bound to its ID are the proof.
        // Its document (pinned, or fetched and still cached) or, once the owner approved it,
        // its grant: a refresh a day later needs no fetch.
        if p.method != Method::None {
            return None;
        }
        return match app.cimd.get(&p.client_id) {
            Some(doc) => Some(super::authorize::document_client(&doc)),
            None if app.store.has_grant(&p.client_id) => Some(Client {
                id: p.client_id.clone(),
                preregistered: false,
                grant_types: vec!["authorization_code".into(), "refresh_token".into()],
                redirect_uris: Vec::new(),
                name: None,
                public: true,
                metadata_document: true,
            }),
            None => None,
        };
    }
    let Some(reg) = app.store.client(&p.client_id) else {
        // Spend the same work as a real comparison.
        let _ = presented_hash.ct_eq(&sha256(b"no such client"));
        return None;
    };
    let ok = match (&reg.secret_hash, &p.secret) {
        (Some(stored), Some(_)) => bool::from(
            super::hex(&presented_hash)
                .as_bytes()
                .ct_eq(stored.as_bytes()),
        ),
        (None, None) => true,
        _ => false,
    };
    ok.then(|| Client {
        id: reg.client_id.clone(),
        preregistered: false,
        grant_types: reg.grant_types.clone(),
        redirect_uris: reg.redirect_uris.clone(),
        name: reg.client_name.clone(),
        public: reg.secret_hash.is_none(),
        metadata_document: false,
    })
}

/// Parses and authenticates a client-authenticated form request (token and revocation
/// endpoints). Checks, in order: the form itself (`400 invalid_request`), the rate limiter
/// (`429`), then the credentials (`401 invalid_client`).
/// `required` names the one parameter the endpoint cannot do without (`grant_type`, `token`);
/// its absence is reported before authentication, so a malformed request is told what is
/// wrong with it.
pub fn authenticated_form(
    app: &App,
    req: &Request,
    required: &str,
) -> Result<(Form, Client), Response> {
    if !client_auth::is_form(req) {
        return Err(error(
            400,
            "invalid_request",
            "Content-Type must be application/x-www-form-urlencoded",
        ));
    }
    // RFC 6749 §2.3.1: credentials in the URI are not allowed; they end up in logs.
    if let Some(q) = &req.query {
        if form_urlencoded::parse(q.as_bytes()).any(|(k, _)| {
            matches!(
                k.as_ref(),
                "client_secret" | "client_id" | "code" | "refresh_token"
            )
        }) {
            return Err(error(
                400,
                "invalid_request",
                "credentials must not be sent in the query string; send them in the body or the Authorization header",
            ));
        }
    }
    let form = Form::parse(&req.body).map_err(|m| error(400, "invalid_request", &m))?;
    if form.get(required).is_none() {
        return Err(error(
            400,
            "invalid_request",
            &format!("{required} is required"),
        ));
    }
    let presented = match client_auth::presented(req, &form) {
        Ok(p) => p,
        Err(CredError::BadRequest(m)) => return Err(error(400, "invalid_request", m)),
        Err(CredError::Unauthorized) => {
            if let Some(wait) = app.limiter.blocked(req.client) {
                return Err(too_many(wait));
            }
            app.limiter.fail(req.client);
            return Err(invalid_client());
        }
    };
    if let Some(wait) = app.limiter.blocked(req.client) {
        if !holds_grant(app, &form, &presented.client_id) {
            return Err(too_many(wait));
        }
    }
    match authenticate(app, &presented) {
        Some(c) => Ok((form, c)),
        None => {
            app.limiter.fail(req.client);
            Err(invalid_client())
        }
    }
}

pub fn token(app: &App, req: &Request) -> Response {
    let (form, client) = match authenticated_form(app, req, "grant_type") {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    for r in &form.resources {
        if !names_this_server(r, &app.resource, &app.issuer) {
            return error(
                400,
                "invalid_target",
                &format!("resource must be {} (this server)", app.resource),
            );
        }
    }
    match form.get("grant_type").unwrap_or("") {
        "client_credentials" => client_credentials(app, &client),
        "authorization_code" => super::grant::authorization_code(app, &client, &form),
        "refresh_token" => super::grant::refresh_token(app, &client, &form),
        other => error(
            400,
            "unsupported_grant_type",
            &format!(
                "grant_type {} is not supported here; use one of {}",
                super::quote(other),
                crate::router::GRANT_TYPES.join(", ")
            ),
        ),
    }
}

fn client_credentials(app: &App, client: &Client) -> Response {
    // Only the pre-registered client: a token from this grant needs no owner consent, so a
    // client anyone could register must never have it (issue 16, item 1).
    if !client.preregistered || client.public {
        return error(
            400,
            "unauthorized_client",
            "this client is not allowed the client_credentials grant",
        );
    }
    // Written without fsync: a crash loses at most the newest tokens, and their clients
    // simply ask again on 401 (see the store's module comment).
    match app.store.issue_access(
        &client.id,
        None,
        &app.resource,
        app.cfg.access_token_ttl,
        false,
    ) {
        Ok(token) => token_response(app, &token, None, &app.cfg.client_credentials_scope),
        Err(e) => storage_error(e),
    }
}

/// RFC 6749 §5.1. The scope is what was granted (the owner's choice on the consent page, or
/// the operator's for `client_credentials`), whatever was asked: RFC 6749 §3.3 lets the
/// server grant a different scope if it says so.
pub fn token_response(
    app: &App,
    access: &str,
    refresh: Option<&str>,
    scope: &super::scope::Scope,
) -> Response {
    let mut body = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": app.cfg.access_token_ttl,
        "scope": scope.to_scope_string(),
    });
    if let Some(r) = refresh {
        body["refresh_token"] = json!(r);
    }
    no_store(Response::json(200, &body))
}

pub fn storage_error(e: std::io::Error) -> Response {
    crate::log::line(&format!("token store write failed: {e}"));
    error(
        503,
        "temporarily_unavailable",
        "the token could not be stored; try again",
    )
}
