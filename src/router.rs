//! The one `match` on (method, path), the checks every request to `/mcp` passes (Origin,
//! Host, bearer token), and CORS.

use std::sync::Arc;

use serde_json::json;
use subtle::ConstantTimeEq;

use crate::caller::{Caller, Who};
use crate::config::{self, Config};
use crate::http::server::Service;
use crate::http::{Request, Response};
use crate::limiter::Limiter;
use crate::mcp::Mcp;
use crate::oauth::{self, store::Store};

/// Body caps: OAuth forms and registration documents are small; an MCP request may carry a
/// 64 KiB note plus JSON overhead, so 1 MiB leaves room without letting a client make us
/// buffer much.
pub const OAUTH_BODY_CAP: usize = 64 * 1024;
pub const MCP_BODY_CAP: usize = 1024 * 1024;

/// Every grant the token endpoint serves (and the metadata advertises).
pub const GRANT_TYPES: [&str; 3] = ["authorization_code", "refresh_token", "client_credentials"];

/// Everything a handler may need, shared by all workers.
pub struct App {
    pub cfg: Config,
    /// `MCP_RESOURCE_URL` (RES), e.g. `https://brain.example.com/mcp`.
    pub resource: String,
    /// Its origin, the OAuth issuer (ISS), without a trailing slash.
    pub issuer: String,
    /// The host of RES (lower-case, IPv6 in brackets), for the DNS-rebinding check.
    pub resource_host: String,
    pub store: Store,
    pub limiter: Limiter,
    pub mcp: Mcp,
    pub codes: oauth::grant::Codes,
    pub consent: oauth::authorize::ConsentTokens,
    pub registrations: oauth::register::RegistrationLimiter,
    /// SHA-256 of the pre-registered client's ID and secret, made once: every client
    /// authentication compares digests in constant time.
    pub client_digests: Option<([u8; 32], [u8; 32])>,
    /// Client ID Metadata Documents: pinned in the binary and by the owner.
    pub cimd: oauth::cimd::Registry,
    /// The one outbound HTTP(S) client (src/net), for everything that talks to other servers.
    pub outbound: crate::net::Client,
    /// External JWT access tokens, when `BRAIN_OIDC_ISSUER` is set; their keys are fetched in
    /// the background from here on.
    pub oidc: Option<crate::oidc::Oidc>,
    /// Owner sign-in through that provider (`BRAIN_OIDC_LOGIN=on`).
    pub login: Option<crate::oidc::login::Login>,
    /// The owner's pages (src/web): sessions and their key, the sign-in journal.
    pub web: crate::web::Web,
}

impl App {
    pub fn new(cfg: Config, resource: String, store: Store, mcp: Mcp) -> Result<App, String> {
        let url = config::parse_url(&resource).ok_or("MCP_RESOURCE_URL does not parse")?;
        let issuer = url.origin.clone();
        let resource_host = url.host.to_ascii_lowercase();
        let limiter = Limiter::new(cfg.auth_failure_limit);
        let outbound = crate::net::Client::new(&cfg.outbound);
        let oidc = cfg
            .oidc
            .as_ref()
            .map(|o| crate::oidc::Oidc::start(o, &resource, outbound.clone()));
        let web = crate::web::Web::open(&cfg.data_dir)?;
        let mut cimd = oauth::cimd::Registry::new(&cfg.cimd_documents);
        if cfg.cimd_fetch {
            cimd = cimd.with_fetching(outbound.clone(), cfg.cimd_allow.clone());
        }
        let login = cfg
            .oidc
            .as_ref()
            .and_then(|o| o.login.as_ref())
            .map(|l| crate::oidc::login::Login::new(l, &issuer));
        let client_digests = cfg.client.as_ref().map(|(id, secret)| {
            (
                oauth::sha256(id.as_bytes()),
                oauth::sha256(secret.expose().as_bytes()),
            )
        });
        Ok(App {
            client_digests,
            web,
            cimd,
            login,
            outbound,
            oidc,
            resource,
            issuer,
            resource_host,
            store,
            limiter,
            mcp,
            codes: oauth::grant::Codes::default(),
            consent: oauth::authorize::ConsentTokens::default(),
            registrations: oauth::register::RegistrationLimiter::default(),
            cfg,
        })
    }

    /// Dynamic client registration is on only while the owner can consent (a password or
    /// sign-in through the provider): an open registration endpoint without consent would
    /// let anyone mint a client.
    pub fn registration_enabled(&self) -> bool {
        self.owner_can_consent()
    }

    /// Whether the owner can approve a client on the consent page: without that, every client
    /// but the pre-registered one is refused, so neither registration nor client metadata
    /// documents are advertised (a client that picked either would be stuck at `/authorize`;
    /// claude.ai then asks for a pasted client instead).
    pub fn owner_can_consent(&self) -> bool {
        self.cfg.owner_password.is_some() || self.login.is_some()
    }
}

impl Service for Arc<App> {
    fn admit(&self, req: &Request) -> Result<usize, Response> {
        admit(self, req)
    }

    fn handle(&self, req: &Request) -> Response {
        route(self, req)
    }
}

/// Before the body is read: `/mcp` is checked for Origin, Host and a bearer token here, so an
/// unauthenticated client cannot make us read a megabyte.
fn admit(app: &App, req: &Request) -> Result<usize, Response> {
    match req.path.as_str() {
        "/mcp" => {
            if req.method == "OPTIONS" {
                return Ok(0);
            }
            check_origin_and_host(app, req)?;
            check_bearer(app, req)?;
            Ok(MCP_BODY_CAP)
        }
        p if crate::web::owns(p) => Ok(crate::web::admit(app, req)),
        _ => Ok(OAUTH_BODY_CAP),
    }
}

fn route(app: &App, req: &Request) -> Response {
    // HEAD is GET without the body (the HTTP layer drops it).
    let method = if req.method == "HEAD" {
        "GET"
    } else {
        req.method.as_str()
    };
    let path = req.path.as_str();
    match (method, path) {
        ("GET", "/healthz") => match app.mcp.brain.meaning() {
            // Search by meaning failing is reported, not a failed health check: the server
            // still answers every search (from words alone).
            Some(m) => Response::json(200, &json!({"status": "ok", "meaning": m.health()})),
            None => Response::json(200, &json!({"status": "ok"})),
        },
        (
            "GET",
            "/.well-known/oauth-protected-resource" | "/.well-known/oauth-protected-resource/mcp",
        ) => public_cors(Response::json(
            200,
            &oauth::metadata::protected_resource(app),
        )),
        ("GET", "/.well-known/oauth-authorization-server") => public_cors(Response::json(
            200,
            &oauth::metadata::authorization_server(app),
        )),
        ("POST", "/oauth/token") => public_cors(oauth::token::token(app, req)),
        ("POST", "/oauth/revoke") => public_cors(oauth::revoke::revoke(app, req)),
        ("POST", "/oauth/register") if app.registration_enabled() => {
            public_cors(oauth::register::register(app, req))
        }
        ("GET", "/oauth/authorize") => oauth::authorize::get(app, req),
        ("POST", "/oauth/authorize") => oauth::authorize::post(app, req),
        ("GET", crate::oidc::login::CALLBACK_PATH) if app.login.is_some() => {
            oauth::authorize::callback(app, req)
        }
        ("POST", "/mcp") => match check_bearer(app, req) {
            Ok(caller) => mcp_cors(app, req, crate::mcp::handle(&app.mcp, req, &caller)),
            Err(resp) => resp,
        },
        ("OPTIONS", "/mcp") => mcp_preflight(app, req),
        ("OPTIONS", p) if is_public(app, p) => public_preflight(),
        #[cfg(debug_assertions)]
        ("GET", "/__test/panic") if std::env::var_os("BRAIN_MCP_TEST_HOOKS").is_some() => {
            panic!("test hook: a handler panicked")
        }
        // The owner's pages: HTML for a person in a browser (src/web).
        (m, p) if crate::web::owns(p) => crate::web::handle(app, req, m),
        (_, p) => match allowed(app, p) {
            Some(allow) => {
                let resp = Response::json(
                    405,
                    &json!({"error": "method_not_allowed", "error_description": format!("use {allow}")}),
                )
                .header("Allow", allow);
                if p == "/mcp" {
                    mcp_cors(app, req, resp)
                } else {
                    resp
                }
            }
            None => Response::json(
                404,
                &json!({"error": "not_found", "error_description": "no such endpoint"}),
            ),
        },
    }
}

/// The methods a known path answers, for `405` + `Allow`.
fn allowed(app: &App, path: &str) -> Option<&'static str> {
    Some(match path {
        "/healthz" => "GET, HEAD",
        "/.well-known/oauth-protected-resource"
        | "/.well-known/oauth-protected-resource/mcp"
        | "/.well-known/oauth-authorization-server" => "GET, HEAD, OPTIONS",
        "/oauth/token" | "/oauth/revoke" => "POST, OPTIONS",
        "/oauth/register" if app.registration_enabled() => "POST, OPTIONS",
        "/oauth/authorize" => "GET, HEAD, POST",
        crate::oidc::login::CALLBACK_PATH if app.login.is_some() => "GET",
        // No server-initiated stream and no sessions to end (Streamable HTTP lets a server
        // answer GET and DELETE with 405).
        "/mcp" => "POST, OPTIONS",
        _ => return None,
    })
}

fn is_public(app: &App, path: &str) -> bool {
    matches!(
        path,
        "/.well-known/oauth-protected-resource"
            | "/.well-known/oauth-protected-resource/mcp"
            | "/.well-known/oauth-authorization-server"
            | "/oauth/token"
            | "/oauth/revoke"
    ) || (path == "/oauth/register" && app.registration_enabled())
}

/// Discovery, token, revocation and registration are called from browser-based clients
/// (the MCP Inspector) and carry no ambient credentials: any origin may read them.
fn public_cors(resp: Response) -> Response {
    resp.header("Access-Control-Allow-Origin", "*")
        .header("Access-Control-Expose-Headers", "WWW-Authenticate")
}

fn public_preflight() -> Response {
    Response::new(204)
        .header("Access-Control-Allow-Origin", "*")
        .header("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
        .header(
            "Access-Control-Allow-Headers",
            "Authorization, Content-Type, MCP-Protocol-Version",
        )
        .header("Access-Control-Max-Age", "86400")
}

fn mcp_cors(app: &App, req: &Request, resp: Response) -> Response {
    let resp = resp.header("Vary", "Origin");
    match req.header("origin") {
        Some(o) if origin_allowed(app, o) => resp.header("Access-Control-Allow-Origin", o).header(
            "Access-Control-Expose-Headers",
            "WWW-Authenticate, Mcp-Session-Id, MCP-Protocol-Version",
        ),
        _ => resp,
    }
}

fn mcp_preflight(app: &App, req: &Request) -> Response {
    if let Err(resp) = check_origin_and_host(app, req) {
        return resp;
    }
    mcp_cors(
        app,
        req,
        Response::new(204)
            .header("Access-Control-Allow-Methods", "POST, GET, DELETE, OPTIONS")
            .header(
                "Access-Control-Allow-Headers",
                "Authorization, Content-Type, Accept, MCP-Protocol-Version, Mcp-Session-Id, Mcp-Method, Mcp-Name, Last-Event-ID",
            )
            .header("Access-Control-Max-Age", "86400"),
    )
}

/// Own origin, loopback origins on any port, and `BRAIN_ALLOWED_ORIGINS`.
fn origin_allowed(app: &App, origin: &str) -> bool {
    if origin == app.issuer || app.cfg.allowed_origins.iter().any(|o| o == origin) {
        return true;
    }
    match config::parse_url(origin) {
        Some(u) => u.path.is_empty() && u.query.is_none() && config::is_loopback_host(u.host),
        None => false,
    }
}

fn forbidden(msg: &str) -> Response {
    Response::json(
        403,
        &json!({"error": "forbidden", "error_description": msg}),
    )
}

/// DNS-rebinding protection (MCP transports, "Security Warning"): a browser page on another
/// site must not reach `/mcp`, neither directly (`Origin`) nor through a hostname that
/// resolves to us (`Host`).
fn check_origin_and_host(app: &App, req: &Request) -> Result<(), Response> {
    match req.header_count("origin") {
        0 => {}
        1 => {
            let ok = req.header("origin").is_some_and(|o| origin_allowed(app, o));
            if !ok {
                return Err(forbidden("this Origin may not call /mcp"));
            }
        }
        _ => return Err(forbidden("Origin is repeated")),
    }
    let host = req.header("host").map(host_only).unwrap_or_default();
    if host != app.resource_host && !config::is_loopback_host(&host) {
        return Err(forbidden(
            "the Host header names neither this server nor a loopback address",
        ));
    }
    Ok(())
}

/// `example.com:443` → `example.com`; `[::1]:8080` → `[::1]`. Lower-cased.
fn host_only(h: &str) -> String {
    let h = h.trim();
    let host = if h.starts_with('[') {
        match h.find(']') {
            Some(i) => &h[..=i],
            None => h,
        }
    } else {
        h.rsplit_once(':').map(|(a, _)| a).unwrap_or(h)
    };
    host.to_ascii_lowercase()
}

/// RFC 6750 §3 and RFC 9728 §5.1: the challenge that tells a client where to find the
/// authorization server. The URL is absolute; `scope` names what to ask for.
fn challenge(app: &App, error: Option<(&str, &str)>) -> String {
    let mut c = format!(
        "Bearer realm=\"brain-mcp\", resource_metadata=\"{}/.well-known/oauth-protected-resource/mcp\", scope=\"mcp\"",
        app.issuer
    );
    if let Some((code, desc)) = error {
        c.push_str(&format!(", error=\"{code}\", error_description=\"{desc}\""));
    }
    c
}

/// The caller behind the request's bearer token, or the response refusing it. Run before the
/// body is read ([`admit`]) and again when `/mcp` is served (a hash lookup; a JWT's
/// verification is cached), so the HTTP layer carries nothing between the two.
fn check_bearer(app: &App, req: &Request) -> Result<Caller, Response> {
    let unauthorized = |err: Option<(&str, &str)>| {
        let body = match err {
            Some((code, desc)) => json!({"error": code, "error_description": desc}),
            None => {
                json!({"error": "unauthorized", "error_description": "a bearer token is required"})
            }
        };
        mcp_cors(app, req, Response::json(401, &body))
            .header("WWW-Authenticate", &challenge(app, err))
    };
    let bad_request = |desc: &str| {
        mcp_cors(
            app,
            req,
            Response::json(
                400,
                &json!({"error": "invalid_request", "error_description": desc}),
            ),
        )
        .header(
            "WWW-Authenticate",
            &challenge(app, Some(("invalid_request", desc))),
        )
    };
    let value = match req.header_count("authorization") {
        0 => return Err(unauthorized(None)),
        1 => match req.header("authorization") {
            Some(v) => v,
            None => return Err(bad_request("the Authorization header is not valid UTF-8")),
        },
        _ => return Err(bad_request("the Authorization header is repeated")),
    };
    let (scheme, rest) = value.trim().split_once(' ').unwrap_or((value.trim(), ""));
    if !scheme.eq_ignore_ascii_case("bearer") {
        // Another scheme is "no usable credentials": the plain challenge.
        return Err(unauthorized(None));
    }
    let token = rest.trim();
    // RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
    let well_formed = !token.is_empty()
        && token
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-._~+/=".contains(c));
    if !well_formed {
        return Err(bad_request(
            "the Authorization header is not a Bearer token",
        ));
    }
    let is_static = bool::from(
        oauth::sha256(token.as_bytes())
            .ct_eq(&oauth::sha256(app.cfg.static_token.expose().as_bytes())),
    );
    if is_static {
        return Ok(Caller::static_token());
    }
    let invalid = Some((
        "invalid_token",
        "the access token is unknown, expired or revoked",
    ));
    match app.store.caller(token) {
        // Bound to this resource (RFC 8707): a token minted for another URL is not ours.
        Some((a, _)) if a.res != app.resource => return Err(unauthorized(invalid)),
        Some((a, Some(g))) => {
            return Ok(Caller {
                who: Who::Grant {
                    grant: a.grant.unwrap_or_default(),
                    client: a.client,
                    name: g.name,
                },
                scope: g.scope,
                review: g.review,
            })
        }
        // A token outside a grant (client_credentials) is good only for the pre-registered
        // client, the one client allowed that grant (issue 16, item 1).
        Some((a, None))
            if a.grant.is_none()
                && app
                    .cfg
                    .client
                    .as_ref()
                    .is_some_and(|(id, _)| *id == a.client) =>
        {
            return Ok(Caller {
                who: Who::ClientCredentials { client: a.client },
                scope: app.cfg.client_credentials_scope.clone(),
                review: false,
            })
        }
        Some(_) => return Err(unauthorized(invalid)),
        None => {}
    }
    // Last and dearest: a JWT from the OpenID provider (a signature check, cached per token).
    // Failures count against the address like a wrong client secret does.
    if let Some(oidc) = &app.oidc {
        if crate::oidc::jwt::looks_like_jwt(token) {
            if let Some(wait) = app.limiter.blocked(req.client) {
                return Err(mcp_cors(app, req, oauth::token::too_many(wait)));
            }
            if let Some(id) = oidc.verify_bearer(token, req.client) {
                // The owner rule passed: the owner, with everything.
                return Ok(Caller {
                    who: Who::External { subject: id.sub },
                    scope: crate::oauth::scope::Scope::full(),
                    review: false,
                });
            }
            app.limiter.fail(req.client);
        }
    }
    Err(unauthorized(invalid))
}
