//! The owner's pages (issue 13) against the real binary:
//! - in a real browser: Debian's Chromium driven by playwright-core (`tests/web/e2e.mjs`):
//!   sign in, search, open a note, edit it and see the new version with "owner" as its writer,
//!   forget one, put a grant under review and accept the note its client then writes (pending,
//!   with its writer, until accepted), revoke a grant and watch that client's next call fail,
//!   export, import; screenshots of the main pages;
//! - over plain HTTP, every refusal by its exact status: no page without a session, each form
//!   without or with a wrong anti-forgery token, a form from another site, a cookie from
//!   another data directory, the sign-in failure limit, expiry, sign-out, the cookie's
//!   attributes, the headers of every page, and markup in notes, tags, client names, redirect
//!   URIs, queries and import files shown as text; the review toggle, accept and reject
//!   (issue 12) with their refusals, and who wrote each version.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::flow::{consent_form, enc, location_params, query, token, VERIFIER};
use crate::util::{
    raw_request, run, temp_dir, Response, Server, ServerBuilder, CLIENT_ID, CLIENT_SECRET,
    OWNER_PASSWORD, TOKEN,
};

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

fn owner() -> ServerBuilder {
    Server::builder().env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
}

/// A browser's view of one server: its session cookie, sent with every request, and the
/// `Origin` a browser sends on form posts.
struct Session<'a> {
    s: &'a Server,
    cookie: String,
}

impl<'a> Session<'a> {
    fn get(&self, path: &str) -> Response {
        self.s
            .request("GET", path, &[("Cookie", &self.cookie)], b"")
    }

    fn post(&self, path: &str, form: &[(&str, &str)]) -> Response {
        let origin = format!("http://{}", self.s.host());
        self.s.post_form(
            path,
            &[("Cookie", &self.cookie), ("Origin", &origin)],
            &query(form),
        )
    }

    /// The anti-forgery token of the form posting to `action` on the page at `page`.
    fn token(&self, page: &str, action: &str) -> String {
        let r = self.get(page);
        assert_eq!(r.status, 200, "{page}: {r:?}");
        form_token(r.body_str(), action)
    }
}

/// The hidden `csrf` value of the first form whose `action` is `action`.
fn form_token(html: &str, action: &str) -> String {
    let at = html
        .find(&format!("action=\"{action}\""))
        .unwrap_or_else(|| panic!("no form posting to {action} in:\n{html}"));
    let rest = &html[at..];
    let v = rest
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap_or_else(|| panic!("no csrf field after {action}"));
    v.split('"').next().unwrap().to_string()
}

/// The sign-in form as a browser posts it: a fresh form (its token), then the password.
fn post_sign_in(s: &Server, headers: &[(&str, &str)], password: &str, next: &str) -> Response {
    let page = s.request("GET", "/signin", headers, b"");
    assert_eq!(page.status, 200, "{page:?}");
    let csrf = form_token(page.body_str(), "/signin");
    s.post_form(
        "/signin",
        headers,
        &query(&[("csrf", &csrf), ("password", password), ("next", next)]),
    )
}

/// Signs in with the owner password as a browser would (the form's token, then the post).
fn sign_in(s: &Server) -> Session<'_> {
    let r = post_sign_in(s, &[], OWNER_PASSWORD, "/notes");
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/notes"));
    let set = r.header("set-cookie").expect("Set-Cookie");
    Session {
        s,
        cookie: set.split(';').next().unwrap().to_string(),
    }
}

fn call(s: &Server, bearer: &str, tool: &str, args: Value) -> Response {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":args}});
    s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {bearer}")),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        body.to_string().as_bytes(),
    )
}

/// `remember` through `/mcp` with the static token; the note's id.
fn remember(s: &Server, text: &str, tags: &[&str]) -> String {
    let r = call(s, TOKEN, "remember", json!({"text": text, "tags": tags}));
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

fn note_path(id: &str) -> String {
    let mut p = String::from("/notes/");
    for b in id.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            p.push(b as char);
        } else {
            p.push_str(&format!("%{b:02X}"));
        }
    }
    p
}

/// Approves the pre-registered client on the consent page (as the owner in a browser) and
/// redeems the code: a grant, with its access and refresh tokens.
fn grant(s: &Server, client_id: &str, redirect: &str, secret: Option<&str>) -> (String, String) {
    let params = [
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect),
        ("code_challenge", crate::flow::CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "s"),
    ];
    let page = s.get(&format!("/oauth/authorize?{}", query(&params)));
    assert_eq!(page.status, 200, "{page:?}");
    let mut fields = consent_form(&page);
    fields.push(("password".into(), OWNER_PASSWORD.into()));
    fields.push(("action".into(), "approve".into()));
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    let r = s.post_form("/oauth/authorize", &[], &body);
    let (_, p) = location_params(&r);
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", p["code"].as_str()),
        ("code_verifier", VERIFIER),
        ("client_id", client_id),
        ("redirect_uri", redirect),
    ];
    if let Some(sec) = secret {
        form.push(("client_secret", sec));
    }
    let t = token(s, &form);
    assert_eq!(t.status, 200, "{t:?}");
    let v = t.json();
    (
        v["access_token"].as_str().unwrap().to_string(),
        v["refresh_token"].as_str().unwrap().to_string(),
    )
}

/// Registers a public client (RFC 7591) with this name and redirect URI.
fn register(s: &Server, name: &str, redirect: &str) -> String {
    let body = json!({"client_name": name, "redirect_uris": [redirect], "token_endpoint_auth_method": "none"});
    let r = s.request(
        "POST",
        "/oauth/register",
        &[("Content-Type", "application/json")],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{r:?}");
    r.json()["client_id"].as_str().unwrap().to_string()
}

fn mcp_list_status(s: &Server, bearer: &str) -> u16 {
    crate::flow::mcp_status(s, bearer)
}

/// The headers every answer of the pages carries.
fn assert_page_headers(r: &Response, what: &str) {
    assert_eq!(r.header("content-security-policy"), Some(CSP), "{what}");
    assert_eq!(r.header("x-frame-options"), Some("DENY"), "{what}");
    assert_eq!(r.header("cache-control"), Some("no-store"), "{what}");
    assert_eq!(
        r.header("x-content-type-options"),
        Some("nosniff"),
        "{what}"
    );
    assert_eq!(r.header("referrer-policy"), Some("same-origin"), "{what}");
    assert!(r.header("access-control-allow-origin").is_none(), "{what}");
}

/// No inline script or style anywhere: the only script is the served file, and no element
/// has an event-handler or style attribute (escaped text may say `onerror`; a tag may not).
fn assert_no_inline_code(html: &str, what: &str) {
    assert_eq!(
        html.matches("<script").count(),
        1,
        "{what}: one script element, the served file"
    );
    assert!(
        html.contains("<script src=\"/assets/app.js\" defer></script>"),
        "{what}"
    );
    assert!(!html.contains("<style"), "{what}");
    for (name, value) in attributes(html) {
        assert!(
            !name.starts_with("on") && name != "style",
            "{what}: an element has {name}"
        );
        assert!(
            !value.to_ascii_lowercase().starts_with("javascript:"),
            "{what}: {name}={value}"
        );
    }
}

/// Every attribute of every element, names lower-cased (a small tokenizer: our pages quote
/// every value, and text never holds a raw `<`).
fn attributes(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let b = html.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'<' || b.get(i + 1).is_none_or(|c| !c.is_ascii_alphabetic()) {
            i += 1;
            continue;
        }
        // The tag name.
        while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
            i += 1;
        }
        loop {
            while i < b.len() && (b[i].is_ascii_whitespace() || b[i] == b'/') {
                i += 1;
            }
            if i >= b.len() || b[i] == b'>' {
                break;
            }
            let start = i;
            while i < b.len() && !b[i].is_ascii_whitespace() && !matches!(b[i], b'=' | b'>') {
                i += 1;
            }
            let name = html[start..i].to_ascii_lowercase();
            let mut value = String::new();
            if b.get(i) == Some(&b'=') {
                i += 1;
                let q = b[i];
                if q == b'"' || q == b'\'' {
                    let end = i + 1 + html[i + 1..].find(q as char).unwrap_or(0);
                    value = html[i + 1..end].to_string();
                    i = end + 1;
                } else {
                    let start = i;
                    while i < b.len() && !b[i].is_ascii_whitespace() && b[i] != b'>' {
                        i += 1;
                    }
                    value = html[start..i].to_string();
                }
            }
            out.push((name, value));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------
// Plain HTTP: every refusal by its exact status.

#[test]
fn without_an_owner_password_the_pages_say_how_to_turn_them_on_and_show_nothing() {
    let s = Server::start();
    let secret_note = "The vault code is 4711";
    let id = remember(&s, secret_note, &["vault"]);
    let r = s.get("/");
    assert_eq!(r.status, 200, "{r:?}");
    assert_page_headers(&r, "/");
    assert!(r.body_str().contains("The owner's pages are off"));
    assert!(r.body_str().contains("BRAIN_OWNER_PASSWORD"));
    // Either way of signing in turns them on (tests/oidc/signin.rs: the provider alone).
    assert!(r.body_str().contains("<code>BRAIN_OIDC_LOGIN=on</code>"));
    for path in [
        "/signin",
        "/notes",
        &note_path(&id),
        "/clients",
        "/export",
        "/activity",
        "/tags",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(r.body_str().contains("BRAIN_OWNER_PASSWORD"), "{path}");
        assert!(!r.body_str().contains("4711"), "{path}");
        assert!(r.header("set-cookie").is_none());
    }
    let r = s.post_form("/signin", &[], &query(&[("password", "x")]));
    assert_eq!(r.status, 404);
    // Paths that are not the pages' keep the JSON 404.
    let r = s.get("/no/such/endpoint");
    assert_eq!(r.status, 404);
    assert_eq!(r.error(), "not_found");
    s.assert_healthy();
}

#[test]
fn no_page_answers_without_a_session() {
    let s = owner().start();
    let id = remember(&s, "Passport number X1234567 expires 2031", &["travel"]);
    let np = note_path(&id);
    for path in [
        "/notes".to_string(),
        "/notes?q=passport".into(),
        np.clone(),
        format!("{np}/edit"),
        format!("{np}/forget"),
        "/new".into(),
        "/tags".into(),
        "/clients".into(),
        "/transfer".into(),
        "/export".into(),
        "/activity".into(),
    ] {
        let r = s.get(&path);
        assert_eq!(r.status, 303, "{path}: {r:?}");
        let want = format!("/signin?{}", query(&[("next", &path)]));
        assert_eq!(r.header("location"), Some(want.as_str()), "{path}");
        assert!(r.body.is_empty(), "{path}");
        assert_page_headers(&r, &path);
        // HEAD too.
        let h = s.request("HEAD", &path, &[], b"");
        assert_eq!(h.status, 303, "HEAD {path}");
    }
    for path in [
        "/new".to_string(),
        format!("{np}/edit"),
        format!("{np}/forget"),
        "/clients/revoke".into(),
        "/import".into(),
        "/activity".into(),
    ] {
        let r = s.post_form(&path, &[], &query(&[("text", "x"), ("grant", "g")]));
        assert_eq!(r.status, 403, "{path}: {r:?}");
        assert!(r.body_str().contains("Your session has ended"), "{path}");
        assert!(!r.body_str().contains("X1234567"));
    }
    // A cookie that is not ours, a forged one and a garbage one change nothing.
    let name = sign_in(&s).cookie.split('=').next().unwrap().to_string();
    for cookie in [
        "session=abc".to_string(),
        format!("{name}="),
        format!("{name}={}", "A".repeat(64)),
        format!("{name}=%00%ff"),
    ] {
        let r = s.request("GET", "/notes", &[("Cookie", &cookie)], b"");
        assert_eq!(r.status, 303, "{cookie}");
    }
    // The landing page and the static files need no session, and show no note.
    let r = s.get("/");
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("href=\"/signin\""));
    assert!(!r.body_str().contains("X1234567"));
    for (path, ctype) in [
        ("/assets/style.css", "text/css; charset=utf-8"),
        ("/assets/app.js", "text/javascript; charset=utf-8"),
        ("/assets/icon.svg", "image/svg+xml"),
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some(ctype));
        assert_page_headers(&r, path);
    }
    // The pages' own 404 and 405, as pages.
    let r = s.get("/notes/a/b");
    assert_eq!(r.status, 404);
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    let r = s.request("DELETE", "/notes", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = s.get("/signout");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("POST"));
    // A page asked for under a host name that is not ours (DNS rebinding).
    let mut c = s.connect();
    c.send(&raw_request("evil.example", "GET", "/", &[], b"", true));
    let r = c.read_response();
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body_str().contains("Wrong host name"));
    s.assert_healthy();
    s.assert_log_clean(&[]);
}

#[test]
fn the_session_cookie_and_the_headers_of_every_page() {
    let s = owner().start();
    let id = remember(&s, "Dentist on Tuesday at 9", &["health"]);
    let page = s.get("/signin");
    assert_page_headers(&page, "/signin");
    assert_no_inline_code(page.body_str(), "/signin");
    let r = post_sign_in(&s, &[], OWNER_PASSWORD, "/tags");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/tags"));
    assert_page_headers(&r, "POST /signin");
    let set = r.header("set-cookie").unwrap();
    let (pair, attrs) = set.split_once("; ").unwrap();
    let (name, value) = pair.split_once('=').unwrap();
    assert!(name.starts_with("__Host-brain-"), "{name}");
    assert_eq!(name.len(), "__Host-brain-".len() + 8);
    assert!(name["__Host-brain-".len()..]
        .bytes()
        .all(|b| b.is_ascii_hexdigit()));
    assert_eq!(value.len(), 64);
    // __Host-: Secure, Path=/, no Domain (RFC 6265bis §4.1.3.2); never readable by script;
    // never sent on a request another site starts; a browser-session cookie.
    assert_eq!(attrs, "Path=/; Secure; HttpOnly; SameSite=Strict");
    let sess = Session {
        s: &s,
        cookie: pair.to_string(),
    };
    for path in [
        "/".to_string(),
        "/notes".into(),
        "/notes?q=dentist".into(),
        note_path(&id),
        format!("{}/edit", note_path(&id)),
        format!("{}/forget", note_path(&id)),
        "/new".into(),
        "/tags".into(),
        "/clients".into(),
        "/transfer".into(),
        "/activity".into(),
    ] {
        let r = sess.get(&path);
        assert_eq!(r.status, 200, "{path}: {r:?}");
        assert_page_headers(&r, &path);
        assert_eq!(r.header("content-type"), Some("text/html; charset=utf-8"));
        assert_no_inline_code(r.body_str(), &path);
        // Signed-in pages never set another cookie, and carry the sign-out form.
        assert!(r.header("set-cookie").is_none(), "{path}");
        assert!(r.body_str().contains("action=\"/signout\""), "{path}");
    }
    // An already signed-in browser at /signin goes on.
    let r = sess.get("/signin?next=/activity");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/activity"));
    // The session survives a restart on the same data directory (same cookie name, key and
    // table), and the table on disk holds no session id.
    let mut s = s;
    s.restart();
    let again = Session {
        s: &s,
        cookie: pair.to_string(),
    };
    assert_eq!(again.get("/notes").status, 200);
    let table = std::fs::read_to_string(s.data_dir().join("web-sessions.json")).unwrap();
    assert!(!table.contains(value));
    let key = std::fs::metadata(s.data_dir().join("web.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key.permissions().mode() & 0o777, 0o600);
    assert_eq!(key.len(), 32);
    s.assert_log_clean(&[value]);
}

#[test]
fn a_damaged_key_stops_the_start_and_a_damaged_session_table_signs_out() {
    let dir = temp_dir("web-badkey");
    std::fs::write(dir.join("web.key"), b"too short").unwrap();
    let env = [
        ("BRAIN_MCP_TOKEN", TOKEN.to_string()),
        ("BRAIN_DATA_DIR", dir.to_string_lossy().into_owned()),
        ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
        ("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD.to_string()),
    ];
    let out = run(&["serve"], &env);
    assert_eq!(out.code(), Some(1), "{}", out.stderr);
    assert_eq!(
        out.stderr.trim(),
        format!(
            "brain-mcp: configuration error: {}/web.key is not a 32-byte key; delete it and restart (that signs every web session out)",
            dir.display()
        )
    );
    assert!(!out.stderr.contains("listening on"));
    let _ = std::fs::remove_dir_all(&dir);
    // A session table that does not parse: the server starts, says so, and nobody is signed in.
    let b = owner();
    std::fs::write(b.data_dir().join("web-sessions.json"), b"{not json").unwrap();
    let s = b.start();
    s.wait_for_log("web: web-sessions.json does not parse");
    assert_eq!(
        s.request("GET", "/notes", &[("Cookie", "x=y")], b"").status,
        303
    );
    let sess = sign_in(&s);
    assert_eq!(sess.get("/notes").status, 200);
    s.assert_healthy();
}

#[test]
fn sign_in_goes_only_to_paths_here() {
    let s = owner().start();
    for (next, want) in [
        ("/notes/n_x?version=2", "/notes/n_x?version=2"),
        ("//evil.example/x", "/notes"),
        ("https://evil.example/", "/notes"),
        ("/\\evil.example", "/notes"),
        ("", "/notes"),
    ] {
        let r = post_sign_in(&s, &[], OWNER_PASSWORD, next);
        assert_eq!(r.status, 303, "{next}");
        assert_eq!(r.header("location"), Some(want), "{next}");
    }
    // The link a search result carries, followed while signed out, comes back after sign-in.
    let id = remember(&s, "Flight LH 440 leaves at 13:05", &["travel"]);
    let r = call(&s, TOKEN, "search", json!({"query": "flight"}));
    let url = r.json()["result"]["structuredContent"]["results"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let path = url.strip_prefix(&format!("http://{}", s.host())).unwrap();
    assert_eq!(path, note_path(&id));
    let r = s.get(path);
    assert_eq!(r.status, 303);
    let signin = r.header("location").unwrap().to_string();
    let page = s.get(&signin);
    assert!(page
        .body_str()
        .contains(&format!("name=\"next\" value=\"{path}\"")));
    let sess = sign_in(&s);
    let r = sess.get(path);
    assert_eq!(r.status, 200);
    assert!(r.body_str().contains("Flight LH 440 leaves at 13:05"));
}

#[test]
fn sign_out_really_ends_the_session() {
    let mut s2 = owner().start();
    let s = &s2;
    let a = sign_in(s);
    let b = sign_in(s);
    assert_eq!(a.get("/notes").status, 200);
    // A wrong token does not sign out.
    let r = a.post("/signout", &[("csrf", "wrong")]);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r
        .body_str()
        .contains("anti-forgery token is missing or wrong"));
    assert_eq!(a.get("/notes").status, 200);
    // B's token does not sign A out.
    let tb = b.token("/notes", "/signout");
    assert_eq!(a.post("/signout", &[("csrf", &tb)]).status, 403);
    let t = a.token("/notes", "/signout");
    let r = a.post("/signout", &[("csrf", &t)]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/"));
    let name = a.cookie.split('=').next().unwrap();
    assert_eq!(
        r.header("set-cookie"),
        Some(format!("{name}=; Path=/; Secure; HttpOnly; SameSite=Strict; Max-Age=0").as_str())
    );
    // The copied cookie is dead, here and after a restart; the other session lives on.
    assert_eq!(a.get("/notes").status, 303);
    assert_eq!(b.get("/notes").status, 200);
    let (ca, cb) = (a.cookie.clone(), b.cookie.clone());
    s2.restart();
    let a2 = Session { s: &s2, cookie: ca };
    let b2 = Session { s: &s2, cookie: cb };
    assert_eq!(a2.get("/notes").status, 303);
    assert_eq!(b2.get("/notes").status, 200);
    // "Sign out everywhere" ends every session.
    let t = b2.token("/activity", "/activity");
    let r = b2.post("/activity", &[("csrf", &t), ("action", "end-sessions")]);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(b2.get("/notes").status, 303);
    s2.assert_healthy();
}

#[test]
fn a_cookie_from_another_data_directory_does_not_work() {
    let a = owner().start();
    let b = owner().start();
    let sa = sign_in(&a);
    let sb = sign_in(&b);
    let (name_a, value_a) = sa.cookie.split_once('=').unwrap();
    let name_b = sb.cookie.split('=').next().unwrap();
    // Two brains on one host keep two cookies (cookies are shared by every port of a host).
    assert_ne!(name_a, name_b);
    for cookie in [sa.cookie.clone(), format!("{name_b}={value_a}")] {
        let r = b.request("GET", "/notes", &[("Cookie", &cookie)], b"");
        assert_eq!(r.status, 303, "{cookie}: {r:?}");
    }
    // Both cookies in one header (what a browser sends to 127.0.0.1 after both sign-ins):
    // each server finds its own.
    let both = format!("{}; {}", sa.cookie, sb.cookie);
    assert_eq!(
        a.request("GET", "/notes", &[("Cookie", &both)], b"").status,
        200
    );
    assert_eq!(
        b.request("GET", "/notes", &[("Cookie", &both)], b"").status,
        200
    );
    // A's tokens are not B's either.
    let t = sa.token("/notes", "/signout");
    assert_eq!(sb.post("/signout", &[("csrf", &t)]).status, 403);
}

#[test]
fn sessions_expire_when_idle_and_at_their_absolute_limit() {
    let idle = owner()
        .env("BRAIN_MCP_TEST_HOOKS", "1")
        .env("BRAIN_WEB_TEST_IDLE", "2")
        .start();
    let s = sign_in(&idle);
    assert_eq!(s.get("/notes").status, 200);
    std::thread::sleep(Duration::from_millis(3500));
    assert_eq!(s.get("/notes").status, 303, "idle for 3.5 s of 2");

    let abs = owner()
        .env("BRAIN_MCP_TEST_HOOKS", "1")
        .env("BRAIN_WEB_TEST_IDLE", "100")
        .env("BRAIN_WEB_TEST_ABSOLUTE", "3")
        .start();
    let s = sign_in(&abs);
    let start = Instant::now();
    // Busy all along, and still ended at the absolute limit.
    while start.elapsed() < Duration::from_secs(2) {
        assert_eq!(s.get("/tags").status, 200);
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(s.get("/tags").status, 303, "4.5 s after sign-in, limit 3");
}

#[test]
fn the_sign_in_failure_limit() {
    let s = owner()
        .env("BRAIN_AUTH_FAILURE_LIMIT", "3")
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let from = |ip: &'static str| [("X-Forwarded-For", ip)];
    let attempt = |ip: &'static str, password: &str| post_sign_in(&s, &from(ip), password, "");
    for i in 0..3 {
        let r = attempt("198.51.100.7", "wrong password");
        assert_eq!(r.status, 403, "attempt {i}: {r:?}");
        assert!(r.body_str().contains("Wrong password. Try again."));
        assert!(r.header("set-cookie").is_none());
    }
    // Over the limit: even the right password waits.
    let r = attempt("198.51.100.7", OWNER_PASSWORD);
    assert_eq!(r.status, 429, "{r:?}");
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=600).contains(&wait), "{wait}");
    assert!(r.body_str().contains("Too many failed attempts"));
    assert!(r.header("set-cookie").is_none());
    // Another address is served; the consent page shares the count (one limiter).
    let r = attempt("203.0.113.9", OWNER_PASSWORD);
    assert_eq!(r.status, 303, "{r:?}");
    let consent = s.post_form("/oauth/authorize", &from("198.51.100.7"), "client_id=x");
    assert_eq!(consent.status, 429);
    s.assert_healthy();
    s.assert_log_clean(&["wrong password"]);
}

#[test]
fn every_form_refuses_a_missing_or_wrong_anti_forgery_token() {
    let s = owner().start();
    let keep = remember(
        &s,
        "Keep this note: the boiler was serviced in May",
        &["home"],
    );
    let other = remember(&s, "Another note about the garden", &["home"]);
    let (access, _) = grant(
        &s,
        CLIENT_ID,
        "https://claude.ai/api/mcp/auth_callback",
        Some(CLIENT_SECRET),
    );
    let sess = sign_in(&s);
    let second = sign_in(&s);
    let kp = note_path(&keep);
    let op = note_path(&other);
    let grant_id = {
        let page = sess.get("/clients");
        let b = page.body_str();
        let i = b.find("name=\"grant\" value=\"").unwrap() + "name=\"grant\" value=\"".len();
        b[i..i + 18].to_string()
    };
    // Valid tokens for each form, and some that are valid elsewhere.
    let t_edit = sess.token(&format!("{kp}/edit"), &format!("{kp}/edit"));
    let t_forget_other = sess.token(&format!("{op}/forget"), &format!("{op}/forget"));
    let t_revoke_second = second.token("/clients", "/clients/revoke");
    let wrongs: Vec<(&str, String)> = vec![
        ("missing", String::new()),
        ("garbage", "not-a-token".into()),
        ("another form's", t_edit.clone()),
        ("another note's", t_forget_other.clone()),
        ("another session's", t_revoke_second),
    ];
    let forms: Vec<(String, Vec<(&str, &str)>)> = vec![
        (
            format!("{kp}/edit"),
            vec![("text", "changed!"), ("tags", "home"), ("versions", "1")],
        ),
        (format!("{kp}/forget"), vec![]),
        ("/new".into(), vec![("text", "a forged note"), ("tags", "")]),
        ("/clients/revoke".into(), vec![("grant", grant_id.as_str())]),
        ("/activity".into(), vec![("action", "end-sessions")]),
        ("/signout".into(), vec![]),
    ];
    for (path, fields) in &forms {
        for (what, tok) in &wrongs {
            if path.ends_with("/edit") && what == &"another form's" {
                continue; // that one is this form's own token
            }
            let mut f = fields.clone();
            if !tok.is_empty() {
                f.push(("csrf", tok));
            }
            let r = sess.post(path, &f);
            assert_eq!(r.status, 403, "{path} with {what} token: {r:?}");
            assert!(
                r.body_str()
                    .contains("anti-forgery token is missing or wrong"),
                "{path} {what}"
            );
        }
    }
    // The import form (multipart) the same way.
    for tok in ["", "garbage", t_edit.as_str()] {
        let r = upload(&sess, tok, b"{\"type\":\"entity\",\"name\":\"X\",\"entityType\":\"t\",\"observations\":[\"forged\"]}\n");
        assert_eq!(r.status, 403, "import with {tok:?}: {r:?}");
    }
    // The sign-in form: a correct password with a missing, forged or spent token signs no one in.
    let csrf = form_token(s.get("/signin").body_str(), "/signin");
    let ok = s.post_form(
        "/signin",
        &[],
        &query(&[("csrf", &csrf), ("password", OWNER_PASSWORD)]),
    );
    assert_eq!(ok.status, 303);
    for tok in ["", "forged", csrf.as_str()] {
        let r = s.post_form(
            "/signin",
            &[],
            &query(&[("csrf", tok), ("password", OWNER_PASSWORD)]),
        );
        assert_eq!(r.status, 403, "sign-in with {tok:?}");
        assert!(r.body_str().contains("This sign-in form has expired"));
        assert!(r.header("set-cookie").is_none());
    }
    // Nothing changed: both notes as they were, the grant alive, both sessions signed in.
    let r = call(&s, TOKEN, "recall", json!({"id": keep}));
    assert_eq!(
        r.json()["result"]["structuredContent"]["version"],
        1,
        "{r:?}"
    );
    assert_eq!(
        call(&s, TOKEN, "recall", json!({"id": other})).json()["result"]["isError"],
        false
    );
    let listed = call(&s, TOKEN, "list_notes", json!({}));
    assert_eq!(
        listed.json()["result"]["structuredContent"]["notes"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(mcp_list_status(&s, &access), 200);
    assert_eq!(sess.get("/notes").status, 200);
    assert_eq!(second.get("/notes").status, 200);

    // A form posted from another site is refused before its token counts, even a good one.
    let good = sess.token(&format!("{kp}/forget"), &format!("{kp}/forget"));
    for origin in ["https://evil.example", "null", "http://127.0.0.1:1"] {
        let r = s.post_form(
            &format!("{kp}/forget"),
            &[("Cookie", &sess.cookie), ("Origin", origin)],
            &query(&[("csrf", &good)]),
        );
        assert_eq!(r.status, 403, "{origin}");
        assert!(
            r.body_str().contains("posted from another site"),
            "{origin}"
        );
    }
    // A repeated field, and a body that is not a form.
    let r = sess.post(&format!("{kp}/forget"), &[("csrf", &good), ("csrf", &good)]);
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("The field csrf is repeated."));
    let r = s.request(
        "POST",
        &format!("{kp}/forget"),
        &[
            ("Cookie", &sess.cookie),
            ("Content-Type", "application/json"),
        ],
        b"{}",
    );
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("application/x-www-form-urlencoded"));
    // And with its own token, from our origin, the form works.
    let r = sess.post(&format!("{kp}/forget"), &[("csrf", &good)]);
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/notes?done=forgot"));
    assert_eq!(sess.get(&kp).status, 404);
    s.assert_healthy();
}

/// `POST /import` as a browser sends the form: `multipart/form-data` with the token and the file.
fn upload(sess: &Session, csrf: &str, file: &[u8]) -> Response {
    let boundary = "----WebKitFormBoundaryT3stB0undary";
    let mut body = Vec::new();
    if !csrf.is_empty() {
        body.extend_from_slice(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\n{csrf}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend_from_slice(format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"brain.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\n").as_bytes());
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    let origin = format!("http://{}", sess.s.host());
    sess.s.request(
        "POST",
        "/import",
        &[
            ("Cookie", &sess.cookie),
            ("Origin", &origin),
            (
                "Content-Type",
                &format!("multipart/form-data; boundary={boundary}"),
            ),
        ],
        &body,
    )
}

#[test]
fn markup_in_notes_tags_clients_redirects_and_files_is_shown_as_text() {
    let s = owner().start();
    let evil = "<script>alert('note')</script><img src=x onerror=alert(1)> & \"quotes\"";
    let id = remember(&s, evil, &["xss"]);
    // A client with markup in its name and redirect URI: one approved (a grant), one not.
    let name = "<script>alert(\"client\")</script>";
    let redirect = "https://cb.example/<svg/onload=alert(2)>";
    let approved = register(&s, name, "https://approved.example/cb?<b>=1");
    grant(&s, &approved, "https://approved.example/cb?<b>=1", None);
    register(&s, "<b>unapproved</b>", redirect);
    let sess = sign_in(&s);
    let check = |path: &str, raw: &[&str], escaped: &[&str]| {
        let r = sess.get(path);
        let body = r.body_str();
        for bad in raw {
            assert!(!body.contains(bad), "{path}: {bad} raw in\n{body}");
        }
        for good in escaped {
            assert!(body.contains(good), "{path}: {good} missing in\n{body}");
        }
        assert_no_inline_code(body, path);
        r
    };
    let text_raw = ["<script>alert('note')", "<img src=x"];
    let text_esc = "&lt;script&gt;alert(&#39;note&#39;)&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;";
    check("/notes", &text_raw, &[text_esc]);
    check(&note_path(&id), &text_raw, &[text_esc]);
    check(&format!("{}/edit", note_path(&id)), &text_raw, &[text_esc]);
    check("/notes?q=script+alert", &["<script>alert"], &["&lt;"]);
    check(
        "/activity",
        &text_raw,
        &["&lt;script&gt;alert(&#39;note&#39;)"],
    );
    check(
        "/clients",
        &[
            "<script>alert(\"client\")",
            "<b>unapproved",
            "<svg",
            "?<b>=1",
        ],
        &[
            "&lt;script&gt;alert(&quot;client&quot;)&lt;/script&gt;",
            "&lt;b&gt;unapproved&lt;/b&gt;",
            "https://cb.example/&lt;svg/onload=alert(2)&gt;",
            "approved.example",
        ],
    );
    // Tags cannot hold markup: a tag filter with markup is refused with the value escaped,
    // and a search with markup in the query is shown escaped.
    let r = check("/notes?tag=%3Cscript%3Ex", &["<script>x"], &["Tags: "]);
    assert_eq!(r.status, 400);
    let r = check(
        "/notes?q=%3Cb%3Ebold%3C%2Fb%3E",
        &["<b>bold"],
        &["value=\"&lt;b&gt;bold&lt;/b&gt;\""],
    );
    assert_eq!(r.status, 200);
    let r = check(
        "/notes?since=%3Cscript%3E",
        &["<script>"],
        &["not &quot;&lt;script&gt;&quot;."],
    );
    assert_eq!(r.status, 400);
    // A note with a tag given with markup is refused by the brain's tag rule.
    let t = sess.token("/new", "/new");
    let r = sess.post("/new", &[("csrf", &t), ("text", "x"), ("tags", "<b>")]);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(!r.body_str().contains("\"<b>\""));
    assert!(r.body_str().contains("&lt;b&gt;"));
    // An import file whose bad line holds markup: the error shows it as text.
    let t = sess.token("/transfer", "/import");
    let r = upload(&sess, &t, b"<script>alert('file')</script>\n");
    assert_eq!(r.status, 400);
    assert!(!r.body_str().contains("<script>alert('file')"));
    assert!(r
        .body_str()
        .contains("error: nothing was imported; bad lines:\nline 1: "));
    // An id with markup is not one this server makes: the import refuses it, showing it as
    // text (ids are n_ and 12 of 0-9a-z since loaded and imported records are checked by the
    // rules of new input, so no page can carry such an id).
    let odd = "<a>\"/?#%";
    let line = json!({"id": odd, "text": "an imported note with an odd id", "tags": [], "created_at": "2026-01-02T03:04:05Z", "updated_at": "2026-01-02T03:04:05Z", "history": []});
    let r = upload(&sess, &t, format!("{line}\n").as_bytes());
    assert_eq!(r.status, 400, "{r:?}");
    assert!(!r.body_str().contains("<a>\""));
    assert!(
        r.body_str()
            .contains("id &quot;&lt;a&gt;\\&quot;/?#%&quot; is not a note id"),
        "{}",
        r.body_str()
    );
}

#[test]
fn notes_pages_edit_forget_and_their_refusals() {
    let s = owner().start();
    let id = remember(&s, "Line one\nline two\nline three", &["a"]);
    let sess = sign_in(&s);
    let np = note_path(&id);
    let t = sess.token(&format!("{np}/edit"), &format!("{np}/edit"));
    // A browser sends textarea line breaks as CRLF: the note keeps its LF.
    let r = sess.post(
        &format!("{np}/edit"),
        &[
            ("csrf", &t),
            ("text", "Line one\r\nline 2\r\nline three"),
            ("tags", "a, b"),
            ("versions", "1"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("{np}?done=saved").as_str())
    );
    let rec = call(&s, TOKEN, "recall", json!({"id": id, "history": true})).json();
    let sc = &rec["result"]["structuredContent"];
    assert_eq!(sc["text"], "Line one\nline 2\nline three", "{rec}");
    assert_eq!(sc["tags"], json!(["a", "b"]));
    assert_eq!(sc["versions"], 2);
    // The page shows both versions and what changed, word by word.
    let page = sess.get(&format!("{np}?done=saved")).body_str().to_string();
    assert!(page.contains("Saved: a new version of the note."));
    assert!(page.contains("Changes from version 1 to 2"));
    assert!(page.contains("<del>two</del><ins>2</ins>"), "{page}");
    assert!(page.contains("Tags: <ins>b</ins>"));
    let v1 = sess.get(&format!("{np}?version=1")).body_str().to_string();
    assert!(v1.contains("This is version 1 of 2"));
    assert!(v1.contains("line two"));
    // The same text again: nothing written.
    let r = sess.post(
        &format!("{np}/edit"),
        &[
            ("csrf", &t),
            ("text", "Line one\r\nline 2\r\nline three"),
            ("tags", "a b"),
            ("versions", "2"),
        ],
    );
    assert_eq!(
        r.header("location"),
        Some(format!("{np}?done=unchanged").as_str())
    );
    // A client changed the note meanwhile: 409, the owner's text kept in the form, unsaved.
    let r = call(
        &s,
        TOKEN,
        "update",
        json!({"id": id, "text": "changed by a client"}),
    );
    assert_eq!(r.status, 200);
    let r = sess.post(
        &format!("{np}/edit"),
        &[
            ("csrf", &t),
            ("text", "my edit"),
            ("tags", "a"),
            ("versions", "2"),
        ],
    );
    assert_eq!(r.status, 409, "{r:?}");
    assert!(r
        .body_str()
        .contains("This note changed while you were editing it"));
    assert!(r.body_str().contains(">\nmy edit</textarea>"));
    assert!(r.body_str().contains("name=\"versions\" value=\"3\""));
    // Refusals a model's tool would give, as a page: empty text, bad tags, too long.
    for (text, tags, status, msg) in [
        ("   ", "a", 400, "The text is empty."),
        ("fine", "no/slash", 400, "tag"),
        (&*"x".repeat(64 * 1024 + 1), "", 400, "64"),
    ] {
        let r = sess.post(
            &format!("{np}/edit"),
            &[
                ("csrf", &t),
                ("text", text),
                ("tags", tags),
                ("versions", "3"),
            ],
        );
        assert_eq!(r.status, status, "{tags}: {r:?}");
        assert!(r.body_str().contains(msg), "{msg}: {}", r.body_str());
    }
    // A bad filter, a bad cursor, an unknown note.
    let r = sess.get("/notes?since=2026-02-01&until=2026-01-01");
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("is after Until"));
    let r = sess.get("/notes?cursor=bogus");
    assert_eq!(r.status, 400);
    assert!(r
        .body_str()
        .contains("This page link is not one this server made."));
    let r = sess.get("/notes/n_nosuchnote");
    assert_eq!(r.status, 404);
    assert!(r.body_str().contains("No note has the id"));
    assert_eq!(sess.get("/notes/%ff").status, 404);
    // New note; a duplicate lands on the existing one.
    let t = sess.token("/new", "/new");
    let r = sess.post(
        "/new",
        &[("csrf", &t), ("text", "Buy oat milk"), ("tags", "shopping")],
    );
    assert_eq!(r.status, 303);
    let loc = r.header("location").unwrap().to_string();
    assert!(loc.ends_with("?done=created"), "{loc}");
    let r = sess.post(
        "/new",
        &[
            ("csrf", &t),
            ("text", "Buy  oat milk "),
            ("tags", "shopping"),
        ],
    );
    assert_eq!(
        r.header("location"),
        Some(loc.replace("created", "duplicate").as_str())
    );
    // Paging: 30 notes, 25 on the first page, the rest on the next.
    for i in 0..30 {
        remember(&s, &format!("bulk note number {i}"), &["bulk"]);
    }
    let first = sess.get("/notes?tag=bulk").body_str().to_string();
    assert_eq!(first.matches("<li><a class=\"title\"").count(), 25);
    assert!(first.contains("bulk note number 29"));
    let next = first.split("rel=\"next\"").next().unwrap();
    let href = next
        .rsplit("href=\"")
        .next()
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .replace("&amp;", "&");
    let second = sess.get(&href).body_str().to_string();
    assert_eq!(
        second.matches("<li><a class=\"title\"").count(),
        5,
        "{href}"
    );
    assert!(second.contains("bulk note number 0<"));
    // Search pages too.
    let r = sess.get("/notes?q=bulk&tag=bulk");
    assert!(r.body_str().contains("Results 1 to 25 for <q>bulk</q>"));
    let r = sess.get("/notes?q=bulk&tag=bulk&page=2");
    assert!(r.body_str().contains("Results 26 to 30"));
    // Tag counts.
    let tags = sess.get("/tags").body_str().to_string();
    assert!(
        tags.contains(
            "<a class=\"tag\" href=\"/notes?tag=bulk\">bulk</a> <span class=\"count\">30</span>"
        ),
        "{tags}"
    );
    // Forget: the confirmation page, then the post.
    let fp = format!("{np}/forget");
    let page = sess.get(&fp);
    assert!(page.body_str().contains("Forget this note?"));
    let t = form_token(page.body_str(), &fp);
    let r = sess.post(&fp, &[("csrf", &t)]);
    assert_eq!(r.status, 303);
    let r = call(&s, TOKEN, "recall", json!({"id": id}));
    assert_eq!(r.json()["result"]["isError"], true);
    // Forgetting it again: 404.
    let r = sess.post(&fp, &[("csrf", &t)]);
    assert_eq!(r.status, 404);
    s.assert_healthy();
}

#[test]
fn revoke_a_grant_or_a_client_and_the_next_call_fails() {
    let s = owner().start();
    let (phone, phone_refresh) = grant(
        &s,
        CLIENT_ID,
        "https://claude.ai/api/mcp/auth_callback",
        Some(CLIENT_SECRET),
    );
    let (laptop, _) = grant(
        &s,
        CLIENT_ID,
        "http://127.0.0.1:5555/callback",
        Some(CLIENT_SECRET),
    );
    let machine = crate::util::issue_token(&s);
    let registered = register(&s, "Unused app", "https://unused.example/cb");
    let sess = sign_in(&s);
    let page = sess.get("/clients").body_str().to_string();
    assert!(page.contains("<code>claude.ai</code>"), "{page}");
    assert!(page.contains("<code>127.0.0.1</code>"));
    assert!(page.contains("Machine tokens (client_credentials)"));
    assert!(page.contains(&registered));
    // Two grants, each with its review toggle and its revoke button.
    assert_eq!(page.matches("name=\"grant\" value=\"g_").count(), 4);
    for t in [&phone, &laptop, &machine] {
        assert_eq!(mcp_list_status(&s, t), 200);
    }
    // The grant whose redirect host is claude.ai: the row holding it.
    let row = page
        .split("<tr>")
        .find(|r| r.contains("<code>claude.ai</code>"))
        .unwrap();
    let i = row.find("name=\"grant\" value=\"").unwrap() + "name=\"grant\" value=\"".len();
    let grant_id = &row[i..i + 18];
    let t = form_token(&page, "/clients/revoke");
    let r = sess.post("/clients/revoke", &[("csrf", &t), ("grant", grant_id)]);
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/clients?done=grant"));
    // That client's next call fails, and so does its refresh; the other grant lives on.
    assert_eq!(mcp_list_status(&s, &phone), 401);
    let r = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &phone_refresh),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "invalid_grant");
    assert_eq!(mcp_list_status(&s, &laptop), 200);
    // Unknown grant: 404; nothing named: 400.
    let r = sess.post("/clients/revoke", &[("csrf", &t), ("grant", grant_id)]);
    assert_eq!(r.status, 404);
    let r = sess.post("/clients/revoke", &[("csrf", &t)]);
    assert_eq!(r.status, 400);
    // The whole client: every grant and its machine tokens.
    let r = sess.post("/clients/revoke", &[("csrf", &t), ("client", CLIENT_ID)]);
    assert_eq!(r.status, 303);
    assert_eq!(mcp_list_status(&s, &laptop), 401);
    assert_eq!(mcp_list_status(&s, &machine), 401);
    let page = sess.get("/clients?done=client").body_str().to_string();
    assert!(page.contains("No client holds a grant."));
    assert!(page.contains("The client was revoked"));
    let activity = sess.get("/activity").body_str().to_string();
    assert!(activity.contains(&format!("revoked grant <code>{grant_id}</code>")));
    assert!(activity.contains("revoked client <code>test-client</code>"));
    s.assert_log_clean(&[&phone, &laptop, &machine, &phone_refresh]);
}

#[test]
fn export_and_import_from_the_page_are_the_commands_own() {
    let s = owner().start();
    let a = remember(&s, "Alpha note", &["x"]);
    remember(&s, "Beta note", &[]);
    call(
        &s,
        TOKEN,
        "update",
        json!({"id": a, "text": "Alpha note, edited"}),
    );
    let sess = sign_in(&s);
    let r = sess.get("/export");
    assert_eq!(r.status, 200);
    assert_page_headers(&r, "/export");
    assert_eq!(
        r.header("content-type"),
        Some("application/x-ndjson; charset=utf-8")
    );
    let disp = r.header("content-disposition").unwrap();
    assert!(
        disp.starts_with("attachment; filename=\"brain-export-") && disp.ends_with(".jsonl\""),
        "{disp}"
    );
    let env = [
        ("BRAIN_MCP_TOKEN", TOKEN.to_string()),
        (
            "BRAIN_DATA_DIR",
            s.data_dir().to_string_lossy().into_owned(),
        ),
    ];
    let cli = run(&["export"], &env);
    assert_eq!(cli.code(), Some(0), "{}", cli.stderr);
    assert_eq!(
        r.body_str(),
        cli.stdout,
        "the page's export is the command's"
    );
    // Import that file into another brain from its page, then again: the CLI's answers.
    let t = temp_dir("web-import");
    let other = owner().start();
    let osess = sign_in(&other);
    let tok = osess.token("/transfer", "/import");
    let r = upload(&osess, &tok, &r.body);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.body_str().contains("<pre>added 2, skipped 0</pre>"),
        "{}",
        r.body_str()
    );
    let r = upload(&osess, &tok, cli.stdout.as_bytes());
    assert!(r.body_str().contains("<pre>added 0, skipped 2</pre>"));
    std::fs::write(t.join("brain.jsonl"), &cli.stdout).unwrap();
    let oenv = [
        ("BRAIN_MCP_TOKEN", TOKEN.to_string()),
        (
            "BRAIN_DATA_DIR",
            other.data_dir().to_string_lossy().into_owned(),
        ),
    ];
    let again = run(&["import", &t.join("brain.jsonl").to_string_lossy()], &oenv);
    assert_eq!(again.stdout, "added 0, skipped 2\n");
    // History came along.
    let rec = call(&other, TOKEN, "recall", json!({"id": a, "history": true})).json();
    assert_eq!(rec["result"]["structuredContent"]["versions"], 2, "{rec}");
    // All or nothing: one bad line and nothing is imported.
    let mut bad = b"{\"type\":\"entity\",\"name\":\"Kim\",\"entityType\":\"person\",\"observations\":[\"likes tea\"]}\n".to_vec();
    bad.extend_from_slice(b"{\"not\": \"a note\"}\n");
    let r = upload(&osess, &tok, &bad);
    assert_eq!(r.status, 400);
    assert!(
        r.body_str()
            .contains("error: nothing was imported; bad lines:\nline 2: "),
        "{}",
        r.body_str()
    );
    let n = call(&other, TOKEN, "search", json!({"query": "Kim tea"})).json();
    assert_eq!(n["result"]["structuredContent"]["results"], json!([]));
    // Empty file, no file, not multipart.
    let r = upload(&osess, &tok, b"\n \n");
    assert_eq!(r.status, 400);
    assert!(r
        .body_str()
        .contains("error: the file is empty; nothing was imported"));
    let r = osess.post("/import", &[("csrf", &tok)]);
    assert_eq!(r.status, 400);
    assert!(r
        .body_str()
        .contains("must be posted as multipart/form-data"));
    // Bodies: 16 MiB for a signed-in import; a stranger gets the 64 KiB cap.
    let origin = format!("http://{}", other.host());
    // (Only the head is sent: the answer comes before a byte of the body is read.)
    let head_only = |headers: &str, len: usize| {
        let mut c = other.connect();
        c.send(format!("POST /import HTTP/1.1\r\nHost: {}\r\n{headers}Content-Type: multipart/form-data; boundary=b\r\nContent-Length: {len}\r\n\r\n", other.host()).as_bytes());
        c.read_response()
    };
    let signed = format!("Cookie: {}\r\nOrigin: {origin}\r\n", osess.cookie);
    let r = head_only(&signed, 16 * 1024 * 1024 + 1);
    assert_eq!(r.status, 413, "{}", r.body_str());
    assert!(r.body_str().contains("the limit here is 16777216 bytes"));
    let r = head_only("", 64 * 1024 + 1);
    assert_eq!(r.status, 413);
    assert!(r.body_str().contains("the limit here is 65536 bytes"));
    other.assert_healthy();
    let r = upload(
        &osess,
        &tok,
        &bad[..bad.iter().position(|&b| b == b'\n').unwrap() + 1],
    );
    assert!(r.body_str().contains("added 1, skipped 0"));
    let activity = osess.get("/activity").body_str().to_string();
    assert!(activity.contains("imported: added 1, skipped 0"));
    assert!(activity.contains("import refused"));
    let _ = std::fs::remove_dir_all(t);
}

// ---------------------------------------------------------------------------------------
// The real browser.

fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/web")
}

/// Installs Chromium and playwright-core when missing (tests/web/setup.sh: apt as root, npm
/// ci from the lock file), as CI's scripts/test.sh does before `cargo test`.
fn ensure_browser() {
    let dir = harness();
    let ready = Path::new("/usr/bin/chromium").exists()
        && dir
            .join("node_modules/playwright-core/package.json")
            .exists();
    if ready {
        return;
    }
    let out = Command::new("bash")
        .arg(dir.join("setup.sh"))
        .output()
        .expect("run tests/web/setup.sh");
    assert!(
        out.status.success(),
        "tests/web/setup.sh failed (the browser tests need Debian's chromium and npm):\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn in_a_real_browser_sign_in_search_edit_forget_revoke_import_export() {
    ensure_browser();
    let s = owner().start();
    // The brain as the owner finds it: notes written by clients, one of them edited.
    let passport = remember(&s, "Passport renewal: the appointment at the town hall is on 12 March, bring two photos and the old passport.", &["travel", "admin"]);
    remember(
        &s,
        "Anna's birthday is on 4 June. She likes dark chocolate and jazz records.",
        &["family"],
    );
    remember(
        &s,
        "Wi-Fi password for the holiday flat in Porto: sardinha2026 (router behind the sofa).",
        &["travel", "home"],
    );
    let boiler = remember(
        &s,
        "The boiler was serviced in May 2026 by Kessler & Sons; next service due May 2027.",
        &["home"],
    );
    remember(
        &s,
        "Book idea: a detective who only solves crimes by reading old shopping lists.",
        &["ideas"],
    );
    remember(
        &s,
        "Quarterly budget meeting moved to Thursday 10:00, room 3.14; bring the Q3 numbers.",
        &["work"],
    );
    remember(
        &s,
        "Running plan: 5 km on Monday, intervals on Wednesday, long run of 15 km on Saturday.",
        &["health"],
    );
    call(
        &s,
        TOKEN,
        "update",
        json!({"id": boiler, "text": "The boiler was serviced in May 2026 by Kessler & Sons; next service due May 2027. Code for the panel: 0815."}),
    );
    let forgettable = remember(
        &s,
        "Old note: the spare key is under the blue flowerpot.",
        &["home"],
    );
    // A connected client: claude.ai's grant through the consent page.
    let (client_token, _) = grant(
        &s,
        CLIENT_ID,
        "https://claude.ai/api/mcp/auth_callback",
        Some(CLIENT_SECRET),
    );
    // A file to import: two new notes and one the brain already has.
    let dir = temp_dir("web-e2e");
    let import_file = dir.join("memory.jsonl");
    std::fs::write(
        &import_file,
        concat!(
            "{\"type\":\"entity\",\"name\":\"Kim\",\"entityType\":\"person\",\"observations\":[\"plays the cello\",\"lives in Ghent\"]}\n",
            "{\"id\":\"n_0123456789ab\",\"text\":\"Book idea: a detective who only solves crimes by reading old shopping lists.\",\"tags\":[\"ideas\"],\"created_at\":\"2026-01-01T00:00:00Z\",\"updated_at\":\"2026-01-01T00:00:00Z\",\"history\":[]}\n",
        ),
    )
    .unwrap();
    let shots = match std::env::var_os("BRAIN_UPDATE_SCREENSHOTS") {
        Some(_) => Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots"),
        None => dir.join("screenshots"),
    };
    std::fs::create_dir_all(&shots).unwrap();
    let config = json!({
        "base": format!("http://{}", s.host()),
        "password": OWNER_PASSWORD,
        "staticToken": TOKEN,
        "clientToken": client_token,
        "passport": passport,
        "boiler": boiler,
        "forgettable": forgettable,
        "importFile": import_file,
        "downloads": dir.join("downloads"),
        "shots": shots,
    });
    let started = Instant::now();
    // Bounded: a browser that hangs fails the test after five minutes instead of holding CI.
    let out = Command::new("timeout")
        .args(["--kill-after=10", "300", "node"])
        .arg(harness().join("e2e.mjs"))
        .arg(config.to_string())
        .current_dir(harness())
        .stdin(Stdio::null())
        .output()
        .expect("run node tests/web/e2e.mjs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed ({:?}, {:?})\n--- stdout ---\n{stdout}\n--- stderr ---\n{stderr}\n--- server log ---\n{}",
        out.status,
        started.elapsed(),
        s.log()
    );
    assert!(stdout.contains("ok all steps"), "{stdout}");
    // What the browser did, seen by a client through /mcp.
    let rec = call(
        &s,
        TOKEN,
        "recall",
        json!({"id": passport, "history": true}),
    )
    .json();
    let sc = &rec["result"]["structuredContent"];
    assert_eq!(sc["versions"], 2, "{rec}");
    assert!(
        sc["text"].as_str().unwrap().contains("three photos"),
        "{rec}"
    );
    let r = call(&s, TOKEN, "recall", json!({"id": forgettable})).json();
    assert_eq!(r["result"]["isError"], true);
    assert_eq!(mcp_list_status(&s, &client_token), 401);
    let r = call(&s, TOKEN, "search", json!({"query": "cello"})).json();
    assert_eq!(
        r["result"]["structuredContent"]["results"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
    s.assert_log_clean(&[&client_token]);
    // Every request the browser made was answered without a 5xx.
    assert!(!s.log().contains(" 500 "), "{}", s.log());
    let _ = std::fs::remove_dir_all(&dir);
}

/// The grant id on the clients page (the first grant's).
fn first_grant_id(sess: &Session) -> String {
    let page = sess.get("/clients");
    let b = page.body_str();
    let i = b.find("name=\"grant\" value=\"").unwrap() + "name=\"grant\" value=\"".len();
    b[i..i + 18].to_string()
}

fn remember_as(s: &Server, bearer: &str, text: &str) -> Value {
    let r = call(
        s,
        bearer,
        "remember",
        json!({"text": text, "tags": ["planted"]}),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["result"]["structuredContent"].clone()
}

#[test]
fn review_pending_accept_reject_and_who_wrote_each_version() {
    let s = owner().start();
    let mine = remember(&s, "Dentist appointment on the 14th at 9:30", &["health"]);
    let (access, _) = grant(
        &s,
        CLIENT_ID,
        "https://claude.ai/api/mcp/auth_callback",
        Some(CLIENT_SECRET),
    );
    let sess = sign_in(&s);
    let gid = first_grant_id(&sess);

    // The clients page: what was granted, review off, nothing written yet.
    let page = sess.get("/clients");
    let b = page.body_str();
    assert!(b.contains("read and write, every space"), "{b}");
    assert!(
        b.contains("<td data-label=\"Review\" class=\"review\">off "),
        "{b}"
    );
    assert!(b.contains("<span class=\"muted\">nothing</span>"), "{b}");

    // The review toggle refuses a missing, garbage or another form's token, and changes nothing.
    let t_review = sess.token("/clients", "/clients/review");
    let t_revoke = sess.token("/clients", "/clients/revoke");
    for (what, tok) in [
        ("missing", ""),
        ("garbage", "x"),
        ("another form's", t_revoke.as_str()),
    ] {
        let mut f = vec![("grant", gid.as_str()), ("review", "on")];
        if !tok.is_empty() {
            f.push(("csrf", tok));
        }
        let r = sess.post("/clients/review", &f);
        assert_eq!(r.status, 403, "review with {what} token: {r:?}");
        assert!(r
            .body_str()
            .contains("anti-forgery token is missing or wrong"));
    }
    let r = sess.post(
        "/clients/review",
        &[("csrf", &t_review), ("grant", &gid), ("review", "maybe")],
    );
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("Review must be on or off."), "{r:?}");
    let r = sess.post(
        "/clients/review",
        &[
            ("csrf", &t_review),
            ("grant", "g_AAAAAAAAAAAAAAAA"),
            ("review", "on"),
        ],
    );
    assert_eq!(r.status, 404);
    assert!(r.body_str().contains("No live grant has that id"));
    // Still off: the client's write is not held.
    let free = remember_as(
        &s,
        &access,
        "Written before review: the bins go out on Tuesday",
    );
    assert_eq!(free["pending"], Value::Null, "{free}");

    // On, from the page.
    let r = sess.post(
        "/clients/review",
        &[("csrf", &t_review), ("grant", &gid), ("review", "on")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/clients?done=review-on"));
    let b = sess.get("/clients").body_str().to_string();
    assert!(b.contains("<strong>on</strong>"), "{b}");
    assert!(b.contains("Stop reviewing"));
    assert!(b.contains("Written before review"), "wrote last: {b}");

    // The client's writes are now pending: invisible to another client, listed for the owner.
    let planted = remember_as(&s, &access, "Planted: the owner's PIN is 1234");
    assert_eq!(planted["pending"], true, "{planted}");
    let pid = planted["id"].as_str().unwrap().to_string();
    let other = remember_as(&s, &access, "Planted too: wire money to account 42");
    let oid = other["id"].as_str().unwrap().to_string();
    let r = call(&s, TOKEN, "recall", json!({"id": pid}));
    assert_eq!(r.json()["result"]["isError"], true, "{r:?}");
    let pending = sess.get("/pending");
    assert_eq!(pending.status, 200);
    let b = pending.body_str();
    assert!(b.contains("2 notes awaiting review"), "{b}");
    assert!(
        b.contains("Planted: the owner&#39;s PIN") || b.contains("Planted: the owner&#x27;s PIN"),
        "{b}"
    );
    assert!(b.contains(&gid), "the writer's grant: {b}");
    assert!(!b.contains("Dentist"));
    // The list marks it, with its writer; the filters by writer and pending agree.
    let b = sess.get(&format!("/notes?by={gid}")).body_str().to_string();
    assert!(
        b.contains("<span class=\"badge pending\">pending</span>"),
        "{b}"
    );
    assert!(b.contains("Written before review"));
    assert!(!b.contains("Dentist"));
    let b = sess.get("/notes?by=static").body_str().to_string();
    assert!(b.contains("Dentist") && !b.contains("Planted"), "{b}");
    // The note's page: pending, who wrote it, Accept and Reject.
    let pp = note_path(&pid);
    let b = sess.get(&pp).body_str().to_string();
    assert!(b.contains("id=\"review\""), "{b}");
    assert!(b.contains("pending: awaiting your review"));
    assert!(b.contains(&format!("action=\"{pp}/accept\"")));
    assert!(b.contains(&format!("action=\"{pp}/reject\"")));

    // Accept and reject refuse a missing or wrong token (another note's, another action's).
    let op = note_path(&oid);
    let t_accept_other = sess.token(&op, &format!("{op}/accept"));
    let t_reject = sess.token(&pp, &format!("{pp}/reject"));
    let t_accept = sess.token(&pp, &format!("{pp}/accept"));
    for (path, own) in [
        (format!("{pp}/accept"), &t_accept),
        (format!("{pp}/reject"), &t_reject),
    ] {
        for (what, tok) in [
            ("missing", ""),
            ("garbage", "x"),
            ("another note's", t_accept_other.as_str()),
            (
                "the other button's",
                if own == &t_accept {
                    t_reject.as_str()
                } else {
                    t_accept.as_str()
                },
            ),
        ] {
            let mut f = vec![("from", "note")];
            if !tok.is_empty() {
                f.push(("csrf", tok));
            }
            let r = sess.post(&path, &f);
            assert_eq!(r.status, 403, "{path} with {what} token: {r:?}");
            assert!(
                r.body_str()
                    .contains("anti-forgery token is missing or wrong"),
                "{path} {what}"
            );
        }
    }
    assert!(sess
        .get("/pending")
        .body_str()
        .contains("2 notes awaiting review"));

    // Accept one from its page: every client sees it now, and the page says accepted.
    let r = sess.post(
        &format!("{pp}/accept"),
        &[("csrf", &t_accept), ("from", "note")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(
        r.header("location"),
        Some(format!("{pp}?done=accepted").as_str())
    );
    let r = call(&s, TOKEN, "recall", json!({"id": pid}));
    assert_eq!(r.json()["result"]["isError"], false, "{r:?}");
    let b = sess.get(&pp).body_str().to_string();
    assert!(b.contains("<dd id=\"status\">accepted</dd>"), "{b}");
    assert!(!b.contains("id=\"review\""));
    // Accepting it again: not pending.
    let r = sess.post(&format!("{pp}/accept"), &[("csrf", &t_accept)]);
    assert_eq!(r.status, 404);
    assert!(r.body_str().contains("waits for review"), "{r:?}");
    let r = sess.post(&format!("{pp}/reject"), &[("csrf", &t_reject)]);
    assert_eq!(r.status, 404);
    assert!(r.body_str().contains("waits for review"), "{r:?}");
    assert_eq!(
        call(&s, TOKEN, "recall", json!({"id": pid})).json()["result"]["isError"],
        false
    );

    // Reject the other from the review page: forgotten.
    let t = sess.token("/pending", &format!("{op}/reject"));
    let r = sess.post(
        &format!("{op}/reject"),
        &[("csrf", &t), ("from", "pending")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/pending?done=rejected"));
    let b = sess.get("/pending?done=rejected").body_str().to_string();
    assert!(b.contains("Rejected: the note is forgotten."));
    assert!(b.contains("No notes wait for review."), "{b}");
    assert_eq!(sess.get(&op).status, 404);

    // The owner's edit from the page is recorded as the owner; the first version keeps its
    // writer; a move to another space is that edit too.
    let mp = note_path(&mine);
    let t = sess.token(&format!("{mp}/edit"), &format!("{mp}/edit"));
    let r = sess.post(
        &format!("{mp}/edit"),
        &[
            ("csrf", &t),
            ("text", "Dentist appointment on the 14th at 10:00"),
            ("tags", "health"),
            ("space", "work"),
            ("versions", "1"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let b = sess.get(&mp).body_str().to_string();
    assert!(
        b.contains("<dd id=\"by\"><a class=\"by\" href=\"/notes?by=owner\">owner</a></dd>"),
        "{b}"
    );
    assert!(
        b.contains("Moved from space <del>main</del> to <ins>work</ins>"),
        "{b}"
    );
    assert!(b.contains(">static token</a>"), "version 1's writer: {b}");
    let rec = call(&s, TOKEN, "recall", json!({"id": mine, "history": true})).json();
    let sc = &rec["result"]["structuredContent"];
    assert_eq!(sc["space"], "work", "{rec}");
    assert_eq!(sc["by"], "owner", "{rec}");
    assert_eq!(sc["history"][0]["by"], "static token", "{rec}");
    // A bad space is refused with the brain's rule, and the form comes back.
    let t = sess.token(&format!("{mp}/edit"), &format!("{mp}/edit"));
    let r = sess.post(
        &format!("{mp}/edit"),
        &[
            ("csrf", &t),
            ("text", "x"),
            ("tags", ""),
            ("space", "no/slash"),
            ("versions", "2"),
        ],
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body_str().contains("space"), "{r:?}");
    // The list and search filter by space and writer; a bad space name is a 400.
    let b = sess.get("/notes?spaces=work").body_str().to_string();
    assert!(b.contains("Dentist") && !b.contains("Planted"), "{b}");
    assert!(
        b.contains("· in <a class=\"space\" href=\"/notes?spaces=work\">work</a>"),
        "{b}"
    );
    let b = sess
        .get("/notes?q=dentist&by=owner&spaces=main,work")
        .body_str()
        .to_string();
    assert!(b.contains("Dentist"), "{b}");
    let b = sess
        .get("/notes?q=dentist&spaces=main")
        .body_str()
        .to_string();
    assert!(b.contains("No notes match"), "{b}");
    let r = sess.get("/notes?spaces=no/slash");
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("Spaces: "), "{r:?}");
    // A new note from the page: the owner's, in the space named.
    let t = sess.token("/new", "/new");
    let r = sess.post(
        "/new",
        &[
            ("csrf", &t),
            ("text", "Home wifi is on the router label"),
            ("tags", "home"),
            ("space", "home"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let loc = r.header("location").unwrap().to_string();
    let b = sess.get(&loc).body_str().to_string();
    assert!(b.contains("href=\"/notes?spaces=home\">home</a>"), "{b}");
    assert!(b.contains(">owner</a>"));
    // Space counts on the tags page.
    let b = sess.get("/tags").body_str().to_string();
    for want in [
        "spaces=main\">main</a> <span class=\"count\">2</span>",
        "spaces=work\">work</a> <span class=\"count\">1</span>",
        "spaces=home\">home</a> <span class=\"count\">1</span>",
    ] {
        assert!(b.contains(want), "{want} in {b}");
    }
    // The activity page names each write's writer, and the owner's review actions.
    let b = sess.get("/activity").body_str().to_string();
    assert!(b.contains(">owner</a></td>"), "{b}");
    assert!(b.contains(&gid));
    assert!(b.contains("review on for grant"), "{b}");
    assert!(b.contains("accepted note"), "{b}");
    assert!(b.contains("rejected note"), "{b}");

    // The owner's edit of a pending note makes the new version the owner's, and accepted.
    let third = remember_as(&s, &access, "Pending: the plumber comes on Friday");
    assert_eq!(third["pending"], true, "{third}");
    let tp = note_path(third["id"].as_str().unwrap());
    let b = sess.get(&format!("{tp}/edit")).body_str().to_string();
    assert!(
        b.contains("This note awaits your review. Saving a change makes the new version yours"),
        "{b}"
    );
    let t = form_token(&b, &format!("{tp}/edit"));
    let r = sess.post(
        &format!("{tp}/edit"),
        &[
            ("csrf", &t),
            ("text", "The plumber comes on Friday at 8"),
            ("tags", "planted"),
            ("space", ""),
            ("versions", "1"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let b = sess.get(&tp).body_str().to_string();
    assert!(b.contains("<dd id=\"status\">accepted</dd>"), "{b}");
    assert!(
        b.contains("<dd id=\"by\"><a class=\"by\" href=\"/notes?by=owner\">owner</a></dd>"),
        "{b}"
    );
    assert!(sess
        .get("/pending")
        .body_str()
        .contains("No notes wait for review."));

    // Off again: the client's next write is not held.
    let t = sess.token("/clients", "/clients/review");
    let r = sess.post(
        "/clients/review",
        &[("csrf", &t), ("grant", &gid), ("review", "off")],
    );
    assert_eq!(r.header("location"), Some("/clients?done=review-off"));
    let later = remember_as(&s, &access, "After review: the car is due for inspection");
    assert_eq!(later["pending"], Value::Null, "{later}");
    s.assert_log_clean(&[&access]);
    s.assert_healthy();
}
