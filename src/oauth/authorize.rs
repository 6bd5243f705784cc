//! `GET`/`POST /oauth/authorize`: the authorization-code flow with PKCE (RFC 6749 §4.1,
//! RFC 7636, OAuth 2.1) and the owner's consent page.
//!
//! The order of checks matters (RFC 6749 §4.1.2.1): while the client or its redirect URI is
//! in doubt we must not redirect (an open redirector otherwise), so those errors are a plain
//! page; after that, errors go back to the client in the redirect.
//!
//! The owner consents with the owner password or, with `BRAIN_OIDC_LOGIN=on`, by signing in
//! through the OpenID provider (src/oidc/login.rs): the page's "Sign in with" button goes to
//! the provider, [`callback`] brings the owner back to the same page, now "signed in as", and
//! Allow needs no password then.

use std::collections::HashMap;
use std::time::Duration;

use subtle::ConstantTimeEq;

use super::sign::Refused;
use super::token::Client;
use super::{names_this_server, sha256};
use crate::config;
use crate::http::{Request, Response};
use crate::router::App;
use crate::web::html::esc as html;

/// Redirect URIs claude.ai and claude.com use (Anthropic's connector documentation).
const CLAUDE_CALLBACKS: [&str; 2] = [
    "https://claude.ai/api/mcp/auth_callback",
    "https://claude.com/api/mcp/auth_callback",
];

/// How long a consent page stays valid.
const CONSENT_TTL: Duration = Duration::from_secs(600);

/// Anti-forgery tokens for the consent form, each bound to the exact authorization request
/// it was shown for: a form posted with other parameters, or a token from another page, is
/// refused. Signed rather than stored, so that no number of strangers' page views can crowd
/// out the owner's (see [`super::sign`]).
pub struct ConsentTokens(super::sign::FormTokens);

impl Default for ConsentTokens {
    fn default() -> Self {
        ConsentTokens(super::sign::FormTokens::new(b"consent", CONSENT_TTL))
    }
}

impl ConsentTokens {
    fn issue(&self, bound_to: [u8; 32]) -> String {
        self.0.issue(&bound_to)
    }

    /// Single use: a valid token is consumed.
    fn take(&self, token: &str, bound_to: &[u8; 32]) -> bool {
        self.0.take(token, bound_to)
    }
}

/// The parameters of one authorization request.
#[derive(Debug, Default)]
struct AuthRequest {
    client_id: String,
    redirect_uri: String,
    /// Whether the request named `redirect_uri` (it may be left out by a client with one
    /// registered URI; the token request must then leave it out too, RFC 6749 §4.1.3).
    redirect_uri_sent: bool,
    response_type: String,
    state: Option<String>,
    code_challenge: String,
    code_challenge_method: String,
    resource: Option<String>,
    scope: Option<String>,
}

impl AuthRequest {
    /// What the consent token is bound to.
    fn digest(&self) -> [u8; 32] {
        let parts = [
            self.client_id.as_str(),
            if self.redirect_uri_sent {
                &self.redirect_uri
            } else {
                "\u{0}"
            },
            &self.response_type,
            self.state.as_deref().unwrap_or("\u{0}"),
            &self.code_challenge,
            &self.code_challenge_method,
            self.resource.as_deref().unwrap_or("\u{0}"),
            self.scope.as_deref().unwrap_or("\u{0}"),
        ];
        sha256(parts.join("\u{1}").as_bytes())
    }

    /// The request's parameters, as the consent form posts them back.
    fn fields(&self) -> Vec<(&'static str, &str)> {
        let mut out = vec![("client_id", self.client_id.as_str())];
        if self.redirect_uri_sent {
            out.push(("redirect_uri", &self.redirect_uri));
        }
        out.push(("response_type", &self.response_type));
        if let Some(s) = &self.state {
            out.push(("state", s));
        }
        out.push(("code_challenge", &self.code_challenge));
        out.push(("code_challenge_method", &self.code_challenge_method));
        if let Some(r) = &self.resource {
            out.push(("resource", r));
        }
        if let Some(s) = &self.scope {
            out.push(("scope", s));
        }
        out
    }

    fn hidden_fields(&self) -> String {
        self.fields()
            .into_iter()
            .map(|(k, v)| {
                format!(
                    "<input type=\"hidden\" name=\"{k}\" value=\"{}\">\n",
                    html(v)
                )
            })
            .collect()
    }

    /// The request as a form, carried through sign-in at the provider and checked again by
    /// [`begin`] when it comes back.
    fn form(&self) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        for (k, v) in self.fields() {
            q.append_pair(k, v);
        }
        q.finish()
    }
}

pub fn get(app: &App, req: &Request) -> Response {
    let pairs = req.query.as_deref().unwrap_or("").as_bytes();
    let (client, ar) = match begin(app, req, pairs) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    if app.owner_can_consent() {
        // With sign-in on, the pre-registered client too is shown to the owner first.
        return consent_page(app, &client, &ar, Consent::Ask(None), 200);
    }
    if client.preregistered {
        // No owner password: the pre-registered confidential client is approved here, and
        // its secret, checked at the token endpoint, is the gate.
        // The pre-registered client keeps full access (the operator configured it).
        return approve(app, req, &client, &ar, &super::scope::Scope::full(), false);
    }
    // Never without consent for any other, and above all not for a metadata-document client:
    // anyone can present claude.ai's client ID, and without the owner's approval another
    // person's claude.ai account would receive tokens to this brain.
    refuse(
        app,
        &client,
        &ar,
        "access_denied",
        "this server has no owner password, so it cannot ask the owner's consent; set BRAIN_OWNER_PASSWORD to connect this application",
    )
}

pub fn post(app: &App, req: &Request) -> Response {
    if let Some(wait) = app.limiter.blocked(req.client) {
        return too_many_page(wait);
    }
    if !app.owner_can_consent() {
        return page(400, "No consent form is in use on this server.");
    }
    if !super::client_auth::is_form(req) {
        return page(400, "The consent form must be posted as a form.");
    }
    let (client, ar) = match begin(app, req, &req.body) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let form: HashMap<String, String> = form_urlencoded::parse(&req.body).into_owned().collect();
    let action = form.get("action").map(String::as_str);
    if let Some(proof) = form.get("signin") {
        return signed_in_decision(app, req, &client, &ar, proof, &form);
    }
    let csrf = form.get("csrf").map(String::as_str).unwrap_or("");
    if !app.consent.take(csrf, &ar.digest()) {
        return page(
            400,
            "This consent form has expired or was not issued for this request. Go back to the application and connect again.",
        );
    }
    if action == Some("deny") {
        // The owner decided: the client hears it (RFC 6749 §4.1.2.1 access_denied).
        return redirect_error(app, &ar, "access_denied", "the owner denied access");
    }
    if action == Some("signin") {
        return start_sign_in(app, &ar);
    }
    let Some(password) = &app.cfg.owner_password else {
        // Sign-in is the only way here; an Allow without it was not made on our page.
        let name = app
            .login
            .as_ref()
            .map(|l| l.settings.name.as_str())
            .unwrap_or("");
        return consent_page(
            app,
            &client,
            &ar,
            Consent::Ask(Some(&format!(
                "This server has no owner password: sign in with {name} to allow access."
            ))),
            403,
        );
    };
    let given = form.get("password").map(String::as_str).unwrap_or("");
    let ok = sha256(given.as_bytes()).ct_eq(&sha256(password.expose().as_bytes()));
    if !bool::from(ok) {
        // Counted like the token endpoint's failures: each of the first N wrong passwords
        // gets the page again, the next attempt is 429 (checked at the top).
        app.limiter.fail(req.client);
        return consent_page(
            app,
            &client,
            &ar,
            Consent::Ask(Some("Wrong password. Try again.")),
            403,
        );
    }
    let (scope, review) = match chosen_scope(&form) {
        Ok(s) => s,
        Err(why) => return consent_page(app, &client, &ar, Consent::Ask(Some(&why)), 400),
    };
    approve(app, req, &client, &ar, &scope, review)
}

/// What the owner chose on the consent page (issue 12): `access` `write` (the default) or
/// `read`; `spaces` `all` (the default) or `some`, with `space_list` naming them. The owner's
/// choice wins over what the client asked for. With it, whether the owner reviews the
/// grant's writes (`review` checked).
fn chosen_scope(form: &HashMap<String, String>) -> Result<(super::scope::Scope, bool), String> {
    use super::scope::{valid_space, Scope, MAX_SPACES};
    let write = form.get("access").map(String::as_str) != Some("read");
    let spaces = if form.get("spaces").map(String::as_str) == Some("some") {
        let mut list: Vec<String> = form
            .get("space_list")
            .map(String::as_str)
            .unwrap_or("")
            .split(|c: char| c == ',' || c.is_whitespace())
            .filter(|s| !s.is_empty())
            .map(str::to_ascii_lowercase)
            .collect();
        if list.is_empty() || list.len() > MAX_SPACES || !list.iter().all(|s| valid_space(s)) {
            return Err("Name 1 to 32 spaces, separated by commas; a space name is 1 to 64 of a-z, 0-9, _ and -.".into());
        }
        list.sort();
        list.dedup();
        Some(list)
    } else {
        None
    };
    let review = form.get("review").map(String::as_str) == Some("on");
    Ok((Scope { write, spaces }, review))
}

/// "Sign in with <provider>": off to the provider with the pending request in `state`.
fn start_sign_in(app: &App, ar: &AuthRequest) -> Response {
    let (Some(login), Some(oidc)) = (&app.login, &app.oidc) else {
        return page(
            400,
            "Sign-in through a provider is not configured on this server.",
        );
    };
    let flow = crate::oidc::login::Flow::Consent { request: ar.form() };
    match login.start(oidc, &flow) {
        // 303: the browser follows a POST's answer with a GET (RFC 9110 §15.4.4).
        Ok(start) => Response::new(303)
            .header("Location", &start.location)
            .header("Set-Cookie", &start.set_cookie)
            .header("Cache-Control", "no-store")
            .header("Referrer-Policy", "no-referrer"),
        Err((status, message)) => page(status, &message),
    }
}

/// `GET /oauth/oidc/callback`: the provider sends the owner back, from the consent page's
/// sign-in or from the owner's pages' (`state` says which, under its signature; see
/// src/oidc/login.rs). Every failure is a page, never a redirect to the MCP client (the owner
/// has approved nothing yet); a forged state and a refused sign-in count against the address
/// like a wrong password. A sign-in to the pages goes on in `web::provider`.
pub fn callback(app: &App, req: &Request) -> Response {
    use crate::oidc::login::{Flow, Kind};
    let (Some(login), Some(oidc)) = (&app.login, &app.oidc) else {
        return page(
            404,
            "Sign-in through a provider is not configured on this server.",
        );
    };
    if req.method == "HEAD" {
        // HEAD must be safe (RFC 9110 §9.2.1), and this GET spends the state and a code.
        return page(405, "Use GET.").header("Allow", "GET");
    }
    let pages = crate::oidc::login::kind_of(req) == Kind::Pages;
    if let Some(wait) = app.limiter.blocked(req.client) {
        if pages {
            return crate::web::provider::limited(app, req, wait);
        }
        return too_many_page(wait);
    }
    let signed = match login.finish(oidc, &app.outbound, req) {
        Ok(s) => s,
        Err(r) => {
            if r.counted {
                app.limiter.fail(req.client);
            }
            if r.kind == Kind::Pages {
                return crate::web::provider::refused(app, req, &r);
            }
            return page(r.status, &r.message);
        }
    };
    let request = match &signed.flow {
        Flow::Pages { next } => return crate::web::provider::signed_in(app, req, &signed, next),
        Flow::Consent { request } => request,
    };
    // The request was signed by us, but the client may have gone (an expired registration)
    // since: it passes every check again.
    let (client, ar) = match begin(app, req, request.as_bytes()) {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let who = match &signed.email {
        Some(e) => format!(
            "<strong>{}</strong> (subject <code>{}</code>)",
            html(e),
            html(&signed.sub)
        ),
        None => format!("<strong>{}</strong>", html(&signed.sub)),
    };
    let proof = login.proof(&signed, &ar.digest());
    consent_page(app, &client, &ar, Consent::SignedIn { who, proof }, 200)
}

/// Allow or Deny on the "signed in as" page: the form's token must match this browser's
/// sign-in cookie and the request.
fn signed_in_decision(
    app: &App,
    req: &Request,
    client: &Client,
    ar: &AuthRequest,
    proof: &str,
    form: &HashMap<String, String>,
) -> Response {
    let action = form.get("action").map(String::as_str);
    // A bad choice leaves the token unspent: the owner goes back and corrects it.
    let (scope, review) = match chosen_scope(form) {
        Ok(s) => s,
        Err(why) => return page(400, &format!("{why} Go back and correct it.")),
    };
    let Some(login) = &app.login else {
        return page(
            400,
            "Sign-in through a provider is not configured on this server.",
        );
    };
    match login.take_proof(req, proof, &ar.digest()) {
        Ok(()) => {}
        Err(Refused::Invalid) => {
            app.limiter.fail(req.client);
            return page(
                400,
                "This consent form was not issued to this browser for this request. Go back to the application and connect again.",
            );
        }
        Err(Refused::Expired) => {
            return page(
                400,
                "This sign-in has expired. Go back to the application and connect again.",
            )
        }
        Err(Refused::Spent) => {
            return page(
                400,
                "This consent form was already used. Go back to the application and connect again.",
            )
        }
    }
    let resp = match action {
        Some("approve") => approve(app, req, client, ar, &scope, review),
        Some("deny") => redirect_error(app, ar, "access_denied", "the owner denied access"),
        _ => return page(400, "The consent form was posted without Allow or Deny."),
    };
    resp.header("Set-Cookie", &login.clear_cookie())
}

/// `429` as a page: the consent form is read by a person in a browser.
fn too_many_page(wait: u64) -> Response {
    page(
        429,
        &format!("Too many failed attempts from your address. Wait {wait} seconds and try again."),
    )
    .header("Retry-After", &wait.to_string())
}

/// Whether the owner has approved this client before: the pre-registered client (the
/// operator configured it) or one holding a live grant.
fn approved(app: &App, client: &Client) -> bool {
    client.preregistered || app.store.has_grant(&client.id)
}

/// An error found before consent. It goes back to the client only if the owner approved that
/// client before; otherwise it is a page, never a redirect: a client anyone can register with
/// any redirect URI would make this server an open redirector (RFC 9700 §4.11.2: the
/// authorization server "MUST NOT automatically redirect the user agent" to a URI it cannot
/// trust).
fn refuse(app: &App, client: &Client, ar: &AuthRequest, code: &str, description: &str) -> Response {
    if approved(app, client) {
        redirect_error(app, ar, code, description)
    } else {
        page(
            400,
            &format!("The authorization request was refused ({code}): {description}."),
        )
    }
}

/// Checks an authorization request. `Err` is the response to send: a plain page while the
/// client or redirect URI is in doubt, a redirect with an error after that.
fn begin(app: &App, req: &Request, raw: &[u8]) -> Result<(Client, AuthRequest), Response> {
    let mut seen: HashMap<String, String> = HashMap::new();
    for (k, v) in form_urlencoded::parse(raw) {
        if matches!(
            k.as_ref(),
            "csrf"
                | "password"
                | "action"
                | "signin"
                | "access"
                | "spaces"
                | "space_list"
                | "review"
        ) {
            continue;
        }
        if seen.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(page(
                400,
                &format!("The parameter {k} is repeated in the authorization request."),
            ));
        }
    }
    let take = |k: &str| seen.get(k).filter(|v| !v.is_empty()).cloned();
    let Some(client_id) = take("client_id") else {
        return Err(page(400, "The authorization request has no client_id."));
    };
    if super::cimd::is_url(&client_id) {
        if let Err(why) = super::cimd::check_url(&client_id) {
            return Err(page(
                400,
                &format!("invalid_client: the client_id {client_id} is not a valid client metadata document URL: {why}."),
            ));
        }
    }
    if super::cimd::is_url(&client_id) {
        match app.cimd.resolve(&client_id, req.client) {
            Ok(_) => {}
            Err(super::cimd::Unusable::Unknown) => {
                return Err(page(
                    400,
                    &format!(
                        "invalid_client: this application identifies itself with the client metadata document {client_id}, which this server does not know. To allow it, save that document as a file and name the file (or its directory) in BRAIN_CIMD_DOCUMENTS, then restart (or let this server fetch documents: BRAIN_CIMD_FETCH=on)."
                    ),
                ))
            }
            Err(super::cimd::Unusable::Refused(why)) => {
                return Err(page(
                    400,
                    &format!("invalid_client: the client metadata document {client_id} cannot be used: {why}."),
                ))
            }
        }
    }
    let Some(client) = find_client(app, &client_id) else {
        return Err(page(
            400,
            "Unknown client_id: this application is not registered with this server.",
        ));
    };
    let (redirect_uri, redirect_uri_sent) = match take("redirect_uri") {
        Some(r) => (r, true),
        // RFC 6749 §3.1.2.3: may be omitted when the client registered exactly one.
        None if client.redirect_uris.len() == 1 => (client.redirect_uris[0].clone(), false),
        None => return Err(page(400, "The authorization request has no redirect_uri.")),
    };
    if !redirect_allowed(app, &client, &redirect_uri) {
        return Err(page(
            400,
            "The redirect_uri is not one this client may use, so this server will not send you there.",
        ));
    }
    let ar = AuthRequest {
        client_id,
        redirect_uri,
        redirect_uri_sent,
        response_type: take("response_type").unwrap_or_default(),
        state: seen.get("state").cloned(),
        code_challenge: take("code_challenge").unwrap_or_default(),
        // RFC 7636 §4.3: absent means "plain", which OAuth 2.1 servers refuse.
        code_challenge_method: take("code_challenge_method").unwrap_or_else(|| "plain".into()),
        resource: take("resource"),
        scope: take("scope"),
    };
    if ar.response_type != "code" {
        return Err(refuse(
            app,
            &client,
            &ar,
            "unsupported_response_type",
            "response_type must be code",
        ));
    }
    if ar.code_challenge.is_empty() {
        return Err(refuse(
            app,
            &client,
            &ar,
            "invalid_request",
            "code_challenge is required (PKCE with S256)",
        ));
    }
    if ar.code_challenge_method != "S256" {
        return Err(refuse(
            app,
            &client,
            &ar,
            "invalid_request",
            "code_challenge_method must be S256",
        ));
    }
    // A base64url SHA-256 is 43 characters; RFC 7636 allows 43 to 128 of the verifier set.
    if !super::grant::valid_verifier(&ar.code_challenge) {
        return Err(refuse(
            app,
            &client,
            &ar,
            "invalid_request",
            "code_challenge is not a valid S256 challenge",
        ));
    }
    if let Some(r) = &ar.resource {
        if !names_this_server(r, &app.resource, &app.issuer) {
            return Err(refuse(
                app,
                &client,
                &ar,
                "invalid_target",
                "resource does not name this server",
            ));
        }
    }
    Ok((client, ar))
}

/// The client for an ID, without authenticating it (that happens at the token endpoint).
pub fn find_client(app: &App, id: &str) -> Option<Client> {
    if let Some((pre, _)) = &app.cfg.client {
        if pre == id {
            return Some(Client {
                id: pre.clone(),
                preregistered: true,
                grant_types: Vec::new(),
                redirect_uris: Vec::new(),
                name: None,
                public: false,
                metadata_document: false,
            });
        }
    }
    if super::cimd::is_url(id) {
        return app.cimd.get(id).map(|d| document_client(&d));
    }
    let reg = app.store.client(id)?;
    Some(Client {
        id: reg.client_id,
        preregistered: false,
        grant_types: reg.grant_types,
        redirect_uris: reg.redirect_uris,
        name: reg.client_name,
        public: reg.secret_hash.is_none(),
        metadata_document: false,
    })
}

/// The client a metadata document describes.
pub fn document_client(doc: &super::cimd::Document) -> Client {
    Client {
        id: doc.client_id.clone(),
        preregistered: false,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        redirect_uris: doc.redirect_uris.clone(),
        name: Some(doc.client_name.clone()),
        public: true,
        metadata_document: true,
    }
}

/// RFC 8252 §7.3: loopback redirects match on any port (native apps such as Claude Code
/// listen on a random one).
fn loopback(uri: &str) -> Option<(String, String)> {
    let u = config::parse_url(uri)?;
    (u.scheme == "http" && config::is_loopback_host(u.host)).then(|| {
        let path = match u.query {
            Some(q) => format!("{}?{q}", u.path),
            None => u.path.to_string(),
        };
        (u.host.to_ascii_lowercase(), path)
    })
}

/// Exact string match against the client's redirect URIs (RFC 6749 §3.1.2.3; the CIMD
/// draft), except loopback ones, which match on any port even when the registration or the
/// document names one or none (RFC 8252 §7.3; Claude Code's document lists
/// `http://localhost/callback` and it listens on a random port).
fn redirect_allowed(app: &App, client: &Client, uri: &str) -> bool {
    if client.metadata_document && client.redirect_uris.iter().any(|r| r == uri) {
        // A native app's private-use scheme (`cursor://...`) is allowed only this way.
        return true;
    }
    if config::parse_url(uri).is_none() {
        return false;
    }
    if client.preregistered {
        return CLAUDE_CALLBACKS.contains(&uri)
            || loopback(uri).is_some()
            || app.cfg.redirect_uris.iter().any(|r| r == uri);
    }
    if client.redirect_uris.iter().any(|r| r == uri) {
        return true;
    }
    match loopback(uri) {
        Some(want) => client
            .redirect_uris
            .iter()
            .filter_map(|r| loopback(r))
            .any(|have| have == want),
        None => false,
    }
}

fn approve(
    app: &App,
    req: &Request,
    client: &Client,
    ar: &AuthRequest,
    scope: &super::scope::Scope,
    review: bool,
) -> Response {
    let code = app.codes.issue(&super::grant::CodeRequest {
        client: &client.id,
        redirect_uri: &ar.redirect_uri,
        redirect_uri_sent: ar.redirect_uri_sent,
        challenge: &ar.code_challenge,
        scope: scope.clone(),
        review,
        from: req.client,
    });
    match code {
        Some(code) => redirect(app, ar, &[("code", &code)]),
        None => page(
            429,
            "Too many authorization requests from your address in the last minute. Wait a minute and try again.",
        )
        .header("Retry-After", "60"),
    }
}

fn redirect_error(app: &App, ar: &AuthRequest, code: &str, description: &str) -> Response {
    redirect(
        app,
        ar,
        &[("error", code), ("error_description", description)],
    )
}

/// `302` back to the client with `state` echoed exactly and `iss` (RFC 9207), so a client
/// talking to several servers can tell which one answered.
fn redirect(app: &App, ar: &AuthRequest, params: &[(&str, &str)]) -> Response {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        q.append_pair(k, v);
    }
    if let Some(s) = &ar.state {
        q.append_pair("state", s);
    }
    q.append_pair("iss", &app.issuer);
    let sep = if ar.redirect_uri.contains('?') {
        '&'
    } else {
        '?'
    };
    let location = format!("{}{sep}{}", visible_ascii(&ar.redirect_uri), q.finish());
    Response::new(302)
        .header("Location", &location)
        .header("Cache-Control", "no-store")
        .header("Referrer-Policy", "no-referrer")
}

/// A URI with every byte outside visible ASCII percent-encoded, for a `Location` header: a
/// registered redirect URI may hold UTF-8 in its path, and raw bytes there are not a valid
/// header value (RFC 9110 §5.5) nor a URI (RFC 3986 §2.1).
fn visible_ascii(uri: &str) -> String {
    let mut out = String::with_capacity(uri.len());
    for b in uri.bytes() {
        if (0x21..0x7f).contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Headers for every page here: never framed (clickjacking the consent button), never
/// cached, no CORS.
fn secure(resp: Response) -> Response {
    resp.header("X-Frame-Options", "DENY")
        .header(
            "Content-Security-Policy",
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
        )
        .header("Cache-Control", "no-store")
        .header("Referrer-Policy", "no-referrer")
        .header("X-Content-Type-Options", "nosniff")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:34rem;margin:3rem auto;padding:0 1rem;line-height:1.5}code{background:#f3f3f3;padding:0 .2rem}.err{color:#b00020}button{font-size:1rem;padding:.4rem 1rem;margin-right:.5rem}input[type=password]{font-size:1rem;padding:.3rem;width:100%;box-sizing:border-box}";

/// A plain page for errors that must not redirect.
fn page(status: u16, message: &str) -> Response {
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>brain-mcp: authorization error</title><style>{STYLE}</style></head><body><h1>Authorization error</h1><p>{}</p></body></html>",
        html(message)
    );
    secure(
        Response::new(status)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(body.into_bytes()),
    )
}

/// Which consent page to show.
enum Consent<'a> {
    /// Asking the owner: the password, "Sign in with", or both; an error to show.
    Ask(Option<&'a str>),
    /// Back from the provider, signed in as `who` (HTML); `proof` is the form's token.
    SignedIn { who: String, proof: String },
}

fn consent_page(
    app: &App,
    client: &Client,
    ar: &AuthRequest,
    mode: Consent,
    status: u16,
) -> Response {
    let who = match (&client.name, client.preregistered) {
        (_, true) => format!(
            "the pre-registered client <code>{}</code>",
            html(&client.id)
        ),
        // CIMD draft §6 (phishing): "SHOULD display the hostname of the client_id".
        (Some(name), false) if client.metadata_document => format!(
            "<strong>{}</strong>, as described by <code>{}</code> (client ID <code>{}</code>),",
            html(name),
            html(
                config::parse_url(&client.id)
                    .map(|u| u.host)
                    .unwrap_or_default()
            ),
            html(&client.id)
        ),
        (Some(name), false) => format!(
            "<strong>{}</strong> (client <code>{}</code>)",
            html(name),
            html(&client.id)
        ),
        (None, false) => format!("client <code>{}</code>", html(&client.id)),
    };
    // MCP 2025-11-25, Client ID Metadata Document Security: the server "MUST clearly display
    // the redirect URI hostname" and "SHOULD display additional warnings for localhost-only
    // redirect URIs": any program on the owner's computer can present a well-known client ID
    // and listen on a loopback port.
    let target = config::parse_url(&ar.redirect_uri)
        .map(|u| u.origin)
        .unwrap_or_else(|| {
            ar.redirect_uri
                .split_once(':')
                .map(|(scheme, _)| format!("{scheme}: (an application on your device)"))
                .unwrap_or_default()
        });
    // What the client asked for, as the form's defaults; the owner's choice wins.
    let asked = super::scope::Scope::requested(ar.scope.as_deref());
    let asks = match (asked.write, &asked.spaces) {
        (true, None) => "read and write".to_string(),
        (false, None) => "read".to_string(),
        (w, Some(sp)) => format!(
            "{} the spaces {} of",
            if w { "read and write" } else { "read" },
            html(&sp.join(", "))
        ),
    };
    let checked = |on: bool| if on { " checked" } else { "" };
    let choices = format!(
        "<fieldset><legend>Access</legend>\
<label><input type=\"radio\" name=\"access\" value=\"write\"{}> Read and write</label><br>\
<label><input type=\"radio\" name=\"access\" value=\"read\"{}> Read only</label></fieldset>\
<fieldset><legend>Spaces</legend>\
<label><input type=\"radio\" name=\"spaces\" value=\"all\"{}> Every space</label><br>\
<label><input type=\"radio\" name=\"spaces\" value=\"some\"{}> Only these:</label> \
<input type=\"text\" name=\"space_list\" value=\"{}\" aria-label=\"space names, separated by commas\" placeholder=\"work, side-project\"></fieldset>\
<fieldset><legend>Review</legend><label><input type=\"checkbox\" name=\"review\" value=\"on\"> Hold what it writes until I accept it</label></fieldset>",
        checked(asked.write),
        checked(!asked.write),
        checked(asked.spaces.is_none()),
        checked(asked.spaces.is_some()),
        html(&asked.spaces.clone().unwrap_or_default().join(", ")),
    );
    let loopback_only = !client.preregistered
        && !client.redirect_uris.is_empty()
        && client.redirect_uris.iter().all(|r| loopback(r).is_some());
    let warning = if loopback_only {
        "<p class=\"err\"><strong>Check before you allow:</strong> this application receives the approval on this computer (a loopback address), and any program running here can claim to be it. Allow only if you have just started it yourself.</p>"
    } else {
        ""
    };
    let allow_deny = "<p><button type=\"submit\" name=\"action\" value=\"approve\">Allow</button><button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></p>";
    let sign_in = app.login.as_ref().map(|l| {
        format!(
            "<button type=\"submit\" name=\"action\" value=\"signin\">Sign in with {}</button>",
            html(&l.settings.name)
        )
    });
    let (notice, decide) = match mode {
        Consent::Ask(error) => {
            let err = error
                .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", html(e)))
                .unwrap_or_default();
            let csrf = format!(
                "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
                html(&app.consent.issue(ar.digest()))
            );
            let decide = match (&app.cfg.owner_password, sign_in) {
                (Some(_), None) => format!("{csrf}{choices}{PASSWORD_FIELD}{allow_deny}"),
                (Some(_), Some(button)) => format!(
                    "{csrf}{choices}{PASSWORD_FIELD}{allow_deny}<p>Or, instead of the password: {button}</p>"
                ),
                (None, button) => format!(
                    "{csrf}<p>To decide, sign in as the owner of this brain.</p><p>{}<button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></p>",
                    button.unwrap_or_default()
                ),
            };
            (err, decide)
        }
        Consent::SignedIn { who, proof } => (
            format!(
                "<p>Signed in as {who} through {}.</p>",
                html(
                    app.login
                        .as_ref()
                        .map(|l| l.settings.name.as_str())
                        .unwrap_or("")
                )
            ),
            format!(
                "<input type=\"hidden\" name=\"signin\" value=\"{}\">{choices}{allow_deny}",
                html(&proof)
            ),
        ),
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\"><title>brain-mcp: allow access?</title><style>{STYLE}</style></head><body>\
<h1>Allow access to your brain?</h1>\
<p>{who} asks to {asks} the notes in this brain.</p>\
<p>If you allow it, you will be sent back to <code>{}</code>.</p>\
{warning}{notice}\
<form method=\"post\" action=\"/oauth/authorize\">\n{}{decide}</form></body></html>",
        html(&target),
        ar.hidden_fields(),
    );
    secure(
        Response::new(status)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(body.into_bytes()),
    )
}

const PASSWORD_FIELD: &str = "<p><label for=\"password\">Owner password</label><br><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" autofocus></p>";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_matching_ignores_port() {
        assert_eq!(
            loopback("http://localhost:1234/callback"),
            loopback("http://localhost:9/callback")
        );
        assert!(loopback("https://localhost/callback").is_none());
        assert!(loopback("http://example.com/callback").is_none());
        assert!(loopback("http://[::1]:5/cb").is_some());
        assert!(loopback("http://127.0.0.1/cb").is_some());
    }

    #[test]
    fn consent_tokens_are_bound_and_single_use() {
        let c = ConsentTokens::default();
        let t = c.issue([1; 32]);
        assert!(!c.take(&t, &[2; 32]));
        assert!(c.take(&t, &[1; 32]));
        assert!(!c.take(&t, &[1; 32]));
    }
}
