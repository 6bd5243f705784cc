//! The owner's pages: HTML rendered here, for a person in a browser, to see, search, correct
//! and control the brain (issue 13). No build step, no framework; one small script
//! (`assets/app.js`, served as a file, never inline) for local times, confirmations and the
//! import size check, and every page works without it.
//!
//! Every answer passes, in order: the `Host` check (the host of `MCP_RESOURCE_URL` or a
//! loopback name, as on `/mcp`: a page reached through a DNS-rebinding name is refused), then,
//! unless the pages are off, the session (a signed-in page without one is a `303` to the
//! sign-in page for `GET`, a `403` for `POST`), then for a form post the `Origin` (ours or
//! absent) and the form's anti-forgery token. See [`session`] for the cookie.
//!
//! Routes (the router hands over every path [`owns`] says is ours):
//!
//! | path | what |
//! |---|---|
//! | `/` | what this server is; sign in |
//! | `/signin`, `/signout` | the owner password or "Sign in with <provider>" ([`provider`]); the end of the session |
//! | `/notes` | newest first, or search (`q`) with the `search` tool's syntax and filters |
//! | `/notes/<id>` | a note (the canonical URL `search` and `fetch` give): text, tags, versions, diffs |
//! | `/notes/<id>/edit`, `/notes/<id>/forget` | an `update`; `forget` after a confirmation |
//! | `POST /notes/<id>/accept`, `POST /notes/<id>/reject` | keep or forget a note awaiting review |
//! | `/new` | a new note (`remember`) |
//! | `/pending` | the notes awaiting the owner's review (issue 12, item 5) |
//! | `/tags` | every tag and every space with its count |
//! | `/clients` (+ `POST /clients/revoke`, `POST /clients/review`) | every grant, token family and registration; revoke; review on or off |
//! | `/transfer`, `/export`, `POST /import` | the export file; an import, all or nothing |
//! | `/activity` | latest writes, sessions, sign-ins and owner actions |
//! | `/assets/style.css`, `/assets/app.js`, `/assets/icon.svg` | the static files |

pub mod activity;
pub mod clients;
pub mod diff;
pub mod html;
pub mod notes;
pub mod provider;
pub mod session;
pub mod transfer;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use subtle::ConstantTimeEq;

use crate::config;
use crate::http::{Request, Response};
use crate::oauth::sha256;
use crate::oauth::sign::FormTokens;
use crate::router::App;
use activity::{Event, Journal};
use html::{esc, message, page, see_other, Nav};
use session::{Current, Identity, Sessions};

/// A form body of a signed-in page: a 64 KiB note, form-encoded (up to three bytes per byte),
/// with its tags and token. Without a session the usual 64 KiB cap applies.
pub const FORM_CAP: usize = 256 * 1024;
/// An import file from the page. Larger brains use `brain-mcp import FILE`, which has no such
/// limit; the HTTP layer also wants a whole request within 10 s, so on a slow link a large
/// upload ends in `408` whatever this says.
pub const IMPORT_CAP: usize = 16 * 1024 * 1024;
/// How long the sign-in form stays valid.
const SIGNIN_TTL: Duration = Duration::from_secs(600);

const STYLE: &str = include_str!("assets/style.css");
const SCRIPT: &str = include_str!("assets/app.js");
const ICON: &str = include_str!("assets/icon.svg");

/// The pages' state, shared by all workers.
pub struct Web {
    pub sessions: Sessions,
    /// The sign-in page's anti-forgery tokens (signed, single use; see `oauth::sign`), one
    /// binding for the password form and one for the provider's button.
    signin: FormTokens,
    pub journal: Journal,
}

impl Web {
    /// Opens the session key and table in the data directory.
    pub fn open(dir: &Path) -> Result<Web, String> {
        Ok(Web {
            sessions: Sessions::open(dir)?,
            signin: FormTokens::new(b"web sign-in", SIGNIN_TTL),
            journal: Journal::default(),
        })
    }
}

/// Whether the pages can be used: only with a way for the owner to sign in, the owner
/// password (`BRAIN_OWNER_PASSWORD`) or the OpenID provider (`BRAIN_OIDC_LOGIN=on`), or both.
pub fn enabled(app: &App) -> bool {
    app.cfg.owner_password.is_some() || app.login.is_some()
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Route<'a> {
    Landing,
    SignIn,
    SignOut,
    Notes,
    New,
    /// The raw (percent-encoded) id segment.
    Note(&'a str),
    Edit(&'a str),
    Forget(&'a str),
    Accept(&'a str),
    Reject(&'a str),
    Pending,
    Tags,
    Clients,
    Revoke,
    Review,
    Transfer,
    Export,
    Import,
    Activity,
    Style,
    Script,
    Icon,
}

fn route_of(path: &str) -> Option<Route<'_>> {
    Some(match path {
        "/" => Route::Landing,
        "/signin" => Route::SignIn,
        "/signout" => Route::SignOut,
        "/notes" | "/notes/" => Route::Notes,
        "/new" => Route::New,
        "/pending" => Route::Pending,
        "/tags" => Route::Tags,
        "/clients" => Route::Clients,
        "/clients/revoke" => Route::Revoke,
        "/clients/review" => Route::Review,
        "/transfer" => Route::Transfer,
        "/export" => Route::Export,
        "/import" => Route::Import,
        "/activity" => Route::Activity,
        "/assets/style.css" => Route::Style,
        "/assets/app.js" => Route::Script,
        "/assets/icon.svg" => Route::Icon,
        p => {
            let rest = p.strip_prefix("/notes/")?;
            match rest.split_once('/') {
                None if !rest.is_empty() => Route::Note(rest),
                Some((id, "edit")) if !id.is_empty() => Route::Edit(id),
                Some((id, "forget")) if !id.is_empty() => Route::Forget(id),
                Some((id, "accept")) if !id.is_empty() => Route::Accept(id),
                Some((id, "reject")) if !id.is_empty() => Route::Reject(id),
                _ => return None,
            }
        }
    })
}

/// Whether the router should hand `path` to the pages: every route above, and anything under
/// `/notes/` and `/assets/` (a wrong one gets the pages' own `404` page).
pub fn owns(path: &str) -> bool {
    route_of(path).is_some() || path.starts_with("/notes/") || path.starts_with("/assets/")
}

fn allow(route: Route) -> &'static str {
    match route {
        Route::SignIn | Route::New | Route::Edit(_) | Route::Forget(_) | Route::Activity => {
            "GET, HEAD, POST"
        }
        Route::SignOut
        | Route::Revoke
        | Route::Review
        | Route::Import
        | Route::Accept(_)
        | Route::Reject(_) => "POST",
        _ => "GET, HEAD",
    }
}

/// Before the body is read: a signed-in form may be larger than the default cap, and only a
/// signed-in import may be 16 MiB, so a stranger cannot make us buffer more than 64 KiB.
pub fn admit(app: &App, req: &Request) -> usize {
    if req.method == "POST" && enabled(app) && app.web.sessions.peek(req) {
        if req.path == "/import" {
            return IMPORT_CAP;
        }
        return FORM_CAP;
    }
    crate::router::OAUTH_BODY_CAP
}

/// Answers one request to a path [`owns`] says is ours. `method` is `GET` for `HEAD`.
pub fn handle(app: &App, req: &Request, method: &str) -> Response {
    if !host_allowed(app, req) {
        return message(
            403,
            "Wrong host name",
            "This page was requested under a host name that is neither this server's (the host of MCP_RESOURCE_URL) nor a loopback name, so it is refused (protection against DNS rebinding). Use the server's own address.",
            None,
        );
    }
    let Some(route) = route_of(&req.path) else {
        return not_found();
    };
    match (method, route) {
        ("GET", Route::Style) => return asset("text/css; charset=utf-8", STYLE),
        ("GET", Route::Script) => return asset("text/javascript; charset=utf-8", SCRIPT),
        ("GET", Route::Icon) => return asset("image/svg+xml", ICON),
        _ => {}
    }
    if !allow(route).split(", ").any(|m| m == method) {
        return message(
            405,
            "Method not allowed",
            &format!("This page answers {}.", allow(route)),
            Some(("/", "Home")),
        )
        .header("Allow", allow(route));
    }
    if !enabled(app) {
        return pages_off(app, route == Route::Landing);
    }
    match (method, route) {
        ("GET", Route::Landing) => return landing(app, req),
        ("GET", Route::SignIn) => return sign_in_page(app, req),
        ("POST", Route::SignIn) => return sign_in(app, req),
        ("POST", Route::SignOut) => return sign_out(app, req),
        _ => {}
    }
    let Some(cur) = app.web.sessions.check(req) else {
        if method == "GET" {
            let mut next = req.path.clone();
            if let Some(q) = &req.query {
                next.push('?');
                next.push_str(q);
            }
            return see_other(&format!(
                "/signin?{}",
                html::query(&[("next", &safe_next(&next))])
            ));
        }
        return message(
            403,
            "Signed out",
            "Your session has ended (or this browser never signed in), so nothing was changed. Sign in and try again.",
            Some(("/signin", "Sign in")),
        );
    };
    let signed = Signed {
        nav_token: app.web.sessions.form_token(&cur, "signout"),
        cur,
    };
    match (method, route) {
        ("GET", Route::Notes) => notes::list(app, req, &signed),
        ("GET", Route::New) => notes::new_page(app, &signed, None, "", "", "", 200),
        ("POST", Route::New) => notes::create(app, req, &signed),
        ("GET", Route::Note(id)) => notes::show(app, req, &signed, id),
        ("GET", Route::Edit(id)) => notes::edit_page(app, req, &signed, id),
        ("POST", Route::Edit(id)) => notes::edit(app, req, &signed, id),
        ("GET", Route::Forget(id)) => notes::forget_page(app, &signed, id),
        ("POST", Route::Forget(id)) => notes::forget(app, req, &signed, id),
        ("POST", Route::Accept(id)) => notes::accept(app, req, &signed, id),
        ("POST", Route::Reject(id)) => notes::reject(app, req, &signed, id),
        ("GET", Route::Pending) => notes::pending(app, req, &signed),
        ("GET", Route::Tags) => notes::tags(app, &signed),
        ("GET", Route::Clients) => clients::page_for(app, req, &signed),
        ("POST", Route::Revoke) => clients::revoke(app, req, &signed),
        ("POST", Route::Review) => clients::review(app, req, &signed),
        ("GET", Route::Transfer) => transfer::page_for(app, &signed, None),
        ("GET", Route::Export) => transfer::export(app, req),
        ("POST", Route::Import) => transfer::import(app, req, &signed),
        ("GET", Route::Activity) => activity::page_for(app, &signed.cur, &signed.nav("/activity")),
        ("POST", Route::Activity) => end_sessions(app, req, &signed),
        _ => not_found(),
    }
}

/// A signed-in request: its session and the sign-out form's token for the navigation.
pub struct Signed {
    pub cur: Current,
    nav_token: String,
}

impl Signed {
    pub fn nav(&self, active: &'static str) -> Nav<'static> {
        Nav {
            active,
            sign_out: self.nav_token.clone(),
        }
    }
}

fn asset(content_type: &str, body: &str) -> Response {
    html::secure(
        Response::new(200)
            .header("Content-Type", content_type)
            .body(body.as_bytes().to_vec()),
    )
}

pub fn not_found() -> Response {
    message(
        404,
        "Not found",
        "There is no such page here.",
        Some(("/notes", "Notes")),
    )
}

/// Without a way to sign in the pages show nothing of the brain: `/` says what this is and
/// how to turn the pages on, every other page is a `404` saying the same.
fn pages_off(app: &App, landing: bool) -> Response {
    let body = format!(
        "<h1>brain-mcp</h1><p class=\"lead\">A personal memory that AI assistants (Claude, ChatGPT, Cursor, …) reach over MCP at <code>{}</code>.</p><h2>The owner's pages are off</h2><p>They need a way for the owner to sign in: set <code>BRAIN_OWNER_PASSWORD</code> (at least 12 characters) in the server's environment, or turn on sign-in through your OpenID provider (<code>BRAIN_OIDC_LOGIN=on</code> with <code>BRAIN_OIDC_ISSUER</code>, an owner rule and brain-mcp's client at the provider; the README says how), and restart it. Then this page offers a sign-in, and your notes, connected clients, export and import are here.</p>",
        esc(&app.resource)
    );
    page(if landing { 200 } else { 404 }, "brain-mcp", None, &body)
}

fn landing(app: &App, req: &Request) -> Response {
    let signed = app.web.sessions.check(req);
    let action = match &signed {
        Some(_) => "<p><a class=\"button\" href=\"/notes\">Open your notes</a></p>".to_string(),
        None => "<p><a class=\"button\" href=\"/signin\">Sign in</a></p>".to_string(),
    };
    let body = format!(
        "<h1>brain-mcp</h1><p class=\"lead\">A personal memory that AI assistants (Claude, ChatGPT, Cursor, …) reach over MCP at <code>{}</code>: they remember, search and recall notes here, and you decide which of them may.</p>{action}<p class=\"muted\">These pages are for the owner of this brain: browse and search the notes, correct or forget one, see and end what is connected, export and import.</p>",
        esc(&app.resource)
    );
    let nav = signed.map(|cur| Nav {
        active: "/",
        sign_out: app.web.sessions.form_token(&cur, "signout"),
    });
    page(200, "brain-mcp", nav.as_ref(), &body)
}

/// A `next` target that is a path on this server (never `//host`, `/\host` or a scheme), so
/// the sign-in cannot be made to send the owner elsewhere.
fn safe_next(next: &str) -> String {
    let ok = next.starts_with('/')
        && !next.starts_with("//")
        && !next.starts_with("/\\")
        && next.len() <= 2048
        && !next.chars().any(|c| c.is_control() || c == '\\');
    if ok {
        next.to_string()
    } else {
        "/notes".into()
    }
}

/// What the password form's token is bound to.
fn signin_digest() -> [u8; 32] {
    sha256(b"brain-mcp web sign-in")
}

/// The sign-in page: the password form when there is an owner password, the provider's
/// button when sign-in through it is on, or both (two forms, each with its own token, so
/// that the password field's `required` never stands in the way of the button).
fn sign_in_form(app: &App, next: &str, error: Option<&str>, status: u16) -> Response {
    let err = error.map(|e| html::notice(e, true)).unwrap_or_default();
    let next = esc(&safe_next(next));
    let mut forms = String::new();
    let mut notes = Vec::new();
    if app.cfg.owner_password.is_some() {
        let token = app.web.signin.issue(&signin_digest());
        forms.push_str(&format!(
            "<form method=\"post\" action=\"/signin\" class=\"narrow\">{}<input type=\"hidden\" name=\"next\" value=\"{next}\"><input type=\"text\" name=\"username\" value=\"owner\" autocomplete=\"username\" hidden><p><label for=\"password\">Owner password</label><input type=\"password\" id=\"password\" name=\"password\" autocomplete=\"current-password\" required autofocus></p><p><button type=\"submit\">Sign in</button></p></form>",
            html::csrf_field(&token),
        ));
        notes.push("The password is the server's <code>BRAIN_OWNER_PASSWORD</code>.".to_string());
    }
    if let Some((button, note)) = provider::button(app, &next, !forms.is_empty()) {
        forms.push_str(&button);
        notes.push(note);
    }
    let body = format!(
        "<h1>Sign in</h1>{err}{forms}<p class=\"muted\">{} A session ends after {} minutes without a request, {} hours after sign-in, or when you sign out.</p>",
        notes.join(" "),
        session::IDLE / 60,
        session::ABSOLUTE / 3600,
    );
    let resp = page(status, "Sign in", None, &body);
    if app.login.is_some() {
        return provider::allow_form_to_provider(app, resp);
    }
    resp
}

fn sign_in_page(app: &App, req: &Request) -> Response {
    let q = params(req.query.as_deref().unwrap_or(""));
    let next = q.get("next").map(String::as_str).unwrap_or("/notes");
    if app.web.sessions.check(req).is_some() {
        return see_other(&safe_next(next));
    }
    sign_in_form(app, next, None, 200)
}

fn too_many(wait: u64) -> Response {
    message(
        429,
        "Too many attempts",
        &format!("Too many failed attempts from your address. Wait {wait} seconds and try again."),
        None,
    )
    .header("Retry-After", &wait.to_string())
}

fn sign_in(app: &App, req: &Request) -> Response {
    if let Some(wait) = app.limiter.blocked(req.client) {
        app.web.journal.record(req.client, Event::SignInLimited);
        return too_many(wait);
    }
    if let Err(resp) = check_origin(app, req) {
        return resp;
    }
    let form = match Form::parse(req) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let next = form.get("next");
    let next = if next.is_empty() { "/notes" } else { next };
    if form.get("action") == "provider" {
        return provider::start(app, &form, next);
    }
    let Some(password) = &app.cfg.owner_password else {
        // Only the provider's button is on the page; a password post was not made there.
        return sign_in_form(
            app,
            next,
            Some("This server has no owner password: use the button below to sign in."),
            403,
        );
    };
    if !app.web.signin.take(form.get("csrf"), &signin_digest()) {
        return sign_in_form(
            app,
            next,
            Some("This sign-in form has expired or did not come from this page. Type the password again."),
            403,
        );
    }
    let given = form.get("password");
    let ok = sha256(given.as_bytes()).ct_eq(&sha256(password.expose().as_bytes()));
    if !bool::from(ok) {
        // Counted with the consent page's and the token endpoint's failures: after the limit,
        // the next attempt from this address is a 429 (checked at the top).
        app.limiter.fail(req.client);
        app.web.journal.record(req.client, Event::SignInFailed);
        return sign_in_form(app, next, Some("Wrong password. Try again."), 403);
    }
    sign_in_as(app, req, Identity::Owner, next)
}

/// Starts a session for `who` and sends the browser on to `next` (a path here; anything else
/// becomes `/notes`) with a `303`: after the password form, a same-site post. (The provider's
/// way back is cross-site and goes on differently: [`provider::signed_in`].)
pub fn sign_in_as(app: &App, req: &Request, who: Identity, next: &str) -> Response {
    match start_session(app, req, who) {
        Ok(cookie) => see_other(&safe_next(next)).header("Set-Cookie", &cookie),
        Err(resp) => resp,
    }
}

/// The one way a session begins, whoever proved to be the owner: the password above, or the
/// provider's ID token and the owner rule ([`provider::signed_in`]). The sign-in is in the
/// journal; `Ok` is the `Set-Cookie` value.
fn start_session(app: &App, req: &Request, who: Identity) -> Result<String, Response> {
    let how = who.describe();
    match app.web.sessions.start(who, req.client) {
        Ok(cookie) => {
            app.web.journal.record(req.client, Event::SignedIn(how));
            Ok(cookie)
        }
        Err(e) => {
            crate::log::line(&format!(
                "web: could not save {}: {e}",
                session::SESSIONS_FILE
            ));
            Err(message(
                500,
                "Not signed in",
                "The session could not be saved (the data directory is not writable or full). Nothing else changed.",
                None,
            ))
        }
    }
}

fn sign_out(app: &App, req: &Request) -> Response {
    let clear = app.web.sessions.clear_cookie();
    let Some(cur) = app.web.sessions.check(req) else {
        // Nothing to end; the browser forgets whatever it held.
        return see_other("/").header("Set-Cookie", &clear);
    };
    if let Err(resp) = posted(app, req, &cur, "signout") {
        return resp;
    }
    if let Err(e) = app.web.sessions.end(&cur) {
        crate::log::line(&format!(
            "web: could not save {}: {e}",
            session::SESSIONS_FILE
        ));
        return message(
            500,
            "Still signed in",
            "The sign-out could not be saved (the data directory is not writable or full). Try again.",
            None,
        );
    }
    app.web.journal.record(req.client, Event::SignedOut);
    see_other("/").header("Set-Cookie", &clear)
}

fn end_sessions(app: &App, req: &Request, s: &Signed) -> Response {
    let form = match posted(app, req, &s.cur, "end-sessions") {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    if form.get("action") != "end-sessions" {
        return bad_form("The form asked for nothing this page does.");
    }
    match app.web.sessions.end_all() {
        Ok(count) => {
            app.web
                .journal
                .record(req.client, Event::EndedSessions { count });
            see_other("/").header("Set-Cookie", &app.web.sessions.clear_cookie())
        }
        Err(e) => {
            crate::log::line(&format!(
                "web: could not save {}: {e}",
                session::SESSIONS_FILE
            ));
            message(
                500,
                "Sessions not ended",
                "The change could not be saved. Try again.",
                None,
            )
        }
    }
}

/// `host:port` → `host`, lower-cased; `[::1]:8080` → `[::1]`.
fn host_only(h: &str) -> String {
    let h = h.trim();
    let host = if h.starts_with('[') {
        h.find(']').map(|i| &h[..=i]).unwrap_or(h)
    } else {
        h.rsplit_once(':').map(|(a, _)| a).unwrap_or(h)
    };
    host.to_ascii_lowercase()
}

/// The host of `MCP_RESOURCE_URL` or a loopback name (the rule `/mcp` follows).
fn host_allowed(app: &App, req: &Request) -> bool {
    match req.header("host") {
        Some(h) => {
            let host = host_only(h);
            host == app.resource_host || config::is_loopback_host(&host)
        }
        None => false,
    }
}

/// A form post must come from our own pages: `Origin` absent (older browsers, curl) or ours,
/// the issuer or the loopback origin the browser is on. Browsers send it on every form post
/// (Fetch §3.1), so a post from another site is refused here even before its token is looked
/// at; `SameSite=Strict` already kept our cookie off it.
fn check_origin(app: &App, req: &Request) -> Result<(), Response> {
    let refused = || {
        message(
            403,
            "Refused",
            "This form was posted from another site, so it was refused and nothing changed.",
            Some(("/", "Home")),
        )
    };
    match req.header_count("origin") {
        0 => Ok(()),
        1 => {
            let origin = req.header("origin").unwrap_or("");
            let own_loopback = req.header("host").is_some_and(|h| {
                config::is_loopback_host(&host_only(h)) && origin == format!("http://{h}")
            });
            if origin == app.issuer || own_loopback {
                Ok(())
            } else {
                Err(refused())
            }
        }
        _ => Err(refused()),
    }
}

/// A posted form's fields. Each field once: a repeated one is refused, so no two readers of
/// the same form can disagree about it.
pub struct Form(HashMap<String, String>);

impl Form {
    fn parse(req: &Request) -> Result<Form, Response> {
        let ctype = req.header("content-type").unwrap_or("");
        let essence = ctype.split(';').next().unwrap_or("").trim();
        if !essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(bad_form(
                "The form must be posted as application/x-www-form-urlencoded.",
            ));
        }
        let mut fields = HashMap::new();
        for (k, v) in form_urlencoded::parse(&req.body) {
            if fields.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(bad_form(&format!("The field {k} is repeated.")));
            }
        }
        Ok(Form(fields))
    }

    /// The field's value, `""` when absent.
    pub fn get(&self, k: &str) -> &str {
        self.0.get(k).map(String::as_str).unwrap_or("")
    }

    pub fn has(&self, k: &str) -> bool {
        self.0.contains_key(k)
    }
}

pub fn bad_form(text: &str) -> Response {
    message(400, "Bad form", text, Some(("/notes", "Notes")))
}

/// The refusal of a form whose anti-forgery token is missing or wrong.
pub fn forged() -> Response {
    message(
        403,
        "Form refused",
        "This form's anti-forgery token is missing or wrong (the form did not come from this site, or from another session), so nothing changed. Go back, reload the page and try again.",
        Some(("/notes", "Notes")),
    )
}

/// The checks of every form post of a signed-in page: the origin, the form itself and its
/// anti-forgery token for `action`.
pub fn posted(app: &App, req: &Request, cur: &Current, action: &str) -> Result<Form, Response> {
    check_origin(app, req)?;
    let form = Form::parse(req)?;
    if !app
        .web
        .sessions
        .check_form_token(cur, action, form.get("csrf"))
    {
        return Err(forged());
    }
    Ok(form)
}

/// A query string's parameters; the first of a repeated one counts.
pub fn params(q: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    for (k, v) in form_urlencoded::parse(q.as_bytes()) {
        out.entry(k.into_owned()).or_insert_with(|| v.into_owned());
    }
    out
}

/// A percent-encoded path segment as text (`+` is a plus sign in a path). `None` when it is
/// not UTF-8 or a `%` is not followed by two hex digits.
pub fn decode_segment(seg: &str) -> Option<String> {
    let b = seg.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = seg.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes() {
        assert_eq!(route_of("/"), Some(Route::Landing));
        assert_eq!(route_of("/notes/n_1"), Some(Route::Note("n_1")));
        assert_eq!(route_of("/notes/a%2Fb/edit"), Some(Route::Edit("a%2Fb")));
        assert_eq!(route_of("/notes/a/forget"), Some(Route::Forget("a")));
        assert_eq!(route_of("/notes/a/accept"), Some(Route::Accept("a")));
        assert_eq!(route_of("/notes/a/reject"), Some(Route::Reject("a")));
        assert_eq!(route_of("/pending"), Some(Route::Pending));
        assert_eq!(route_of("/notes/a/b"), None);
        assert_eq!(route_of("/notes//edit"), None);
        assert!(owns("/notes/a/b"));
        assert!(owns("/assets/x"));
        assert!(!owns("/favicon.ico"));
        assert!(!owns("/mcp"));
    }

    #[test]
    fn next_stays_here() {
        assert_eq!(safe_next("/notes/n_1?x=1"), "/notes/n_1?x=1");
        for bad in [
            "//evil.example",
            "/\\evil.example",
            "https://evil.example",
            "/a\nb",
            "",
        ] {
            assert_eq!(safe_next(bad), "/notes", "{bad:?}");
        }
    }

    #[test]
    fn segments_decode() {
        assert_eq!(decode_segment("a%2Fb+c").as_deref(), Some("a/b+c"));
        assert_eq!(decode_segment("%E2%9C%93").as_deref(), Some("✓"));
        assert_eq!(decode_segment("%zz"), None);
        assert_eq!(decode_segment("%ff"), None);
        assert_eq!(decode_segment("%4"), None);
    }
}
