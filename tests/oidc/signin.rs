//! The owner signing in through the provider (`BRAIN_OIDC_LOGIN`, issue 11 item 3), against
//! the real binary and a real OpenID provider (npm oidc-provider, tests/oidc/provider.mjs,
//! with its login and consent forms), driven by a headless browser (tests/oidc/signin.mjs on
//! tests/oidc/browser.mjs: redirects, forms, and a cookie jar that enforces SameSite). The
//! provider's issuer is `http://localhost:PORT` and brain-mcp is `http://127.0.0.1:PORT`, two
//! sites to a browser, as in production: the way back from the provider is a cross-site
//! navigation.
//!
//! claude.ai's side (its pinned client metadata document, the code at its callback, the
//! token exchange, refresh, tools/list) is played with raw requests, as tests/cimd.rs does.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use super::idp::{self, NodeProvider, ALICE_PASSWORD, BOB_PASSWORD, LOGIN_ID, LOGIN_SECRET};
use crate::flow::{
    auth_params, location_params, mcp_status, post_consent_with, query, token, CLAUDE_CALLBACK,
    VERIFIER,
};
use crate::util::{minimal_env, run, temp_dir, Response, Server, ServerBuilder};

const CLAUDE: &str = "https://claude.ai/oauth/mcp-oauth-client-metadata";
const NAME: &str = "Test ID";

fn provider() -> NodeProvider {
    NodeProvider::start_on("ES256", "localhost")
}

/// brain-mcp with sign-in through `p`, no owner password, alice the owner.
fn brain(p: &NodeProvider) -> ServerBuilder {
    Server::builder()
        .env("BRAIN_OIDC_ISSUER", &p.issuer)
        .env("BRAIN_OIDC_ALLOWED_SUBJECTS", "alice")
        .env("BRAIN_OIDC_LOGIN", "on")
        .env("BRAIN_OIDC_CLIENT_ID", LOGIN_ID)
        .env("BRAIN_OIDC_CLIENT_SECRET", LOGIN_SECRET)
        .env("BRAIN_OIDC_LOGIN_SCOPES", "openid email")
        .env("BRAIN_OIDC_PROVIDER_NAME", NAME)
}

fn started(b: ServerBuilder) -> Server {
    let s = b.start();
    s.wait_for_log("oidc: keys loaded");
    s
}

/// The URL claude.ai sends the owner's browser to.
fn authorize_url(s: &Server, client: &str, redirect: &str) -> String {
    let resource = format!("http://{}/mcp", s.addr);
    let mut params = auth_params(client, redirect);
    params.push(("resource", &resource));
    format!("http://{}/oauth/authorize?{}", s.addr, query(&params))
}

/// Runs the browser with `plan` (see signin.mjs) on claude.ai's authorization request.
fn browse(s: &Server, plan: Value) -> Value {
    browse_for(s, CLAUDE, CLAUDE_CALLBACK, plan)
}

fn browse_for(s: &Server, client: &str, redirect: &str, mut plan: Value) -> Value {
    plan["authorize"] = json!(authorize_url(s, client, redirect));
    let origin = redirect.split('/').take(3).collect::<Vec<_>>().join("/");
    plan["client"] = json!(origin);
    let out = idp::node_run("signin.mjs", &[&plan.to_string()], "");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn alice() -> Value {
    json!({"user": "alice", "password": ALICE_PASSWORD})
}

fn with(mut plan: Value, k: &str, v: Value) -> Value {
    plan[k] = v;
    plan
}

fn text(v: &Value) -> &str {
    v["text"].as_str().unwrap_or_else(|| panic!("no page: {v}"))
}

/// The code and state at the client's redirect URI.
fn code_at(out: &Value, redirect: &str) -> HashMap<String, String> {
    let stopped = out["final"]["stopped"]
        .as_str()
        .unwrap_or_else(|| panic!("not sent to the client: {out:#}"));
    let (base, q) = stopped.split_once('?').unwrap();
    assert_eq!(base, redirect, "{out:#}");
    form_urlencoded::parse(q.as_bytes()).into_owned().collect()
}

/// Redeems `code` as a public client (`none`, PKCE), refreshes once, and lists tools.
fn redeem(
    s: &Server,
    client: &str,
    redirect: &str,
    code: &str,
    secret: Option<&str>,
) -> Vec<String> {
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
        ("redirect_uri", redirect),
        ("client_id", client),
    ];
    if let Some(sec) = secret {
        form.push(("client_secret", sec));
    }
    let r = token(s, &form);
    assert_eq!(r.status, 200, "{r:?}");
    let refresh = r.json()["refresh_token"].as_str().unwrap().to_string();
    let first = r.json()["access_token"].as_str().unwrap().to_string();
    let mut form = vec![
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh.as_str()),
        ("client_id", client),
    ];
    if let Some(sec) = secret {
        form.push(("client_secret", sec));
    }
    let r = token(s, &form);
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(mcp_status(s, &access), 200);
    vec![first, refresh, access]
}

/// The exact error page brain-mcp shows.
fn assert_page(page: &Value, status: u64, message: &str) {
    assert_eq!(page["status"], status, "{page:#}");
    let want = format!("<h1>Authorization error</h1><p>{}</p>", html(message));
    assert!(text(page).contains(&want), "wanted {want:?} in {page:#}");
}

fn assert_response_page(r: &Response, status: u16, message: &str) {
    assert_eq!(r.status, status, "{r:?}");
    let want = format!("<h1>Authorization error</h1><p>{}</p>", html(message));
    assert!(r.body_str().contains(&want), "wanted {want:?} in {r:?}");
    assert_eq!(r.header("location"), None);
}

/// Posts the form of a consent `page` as a browser would, pressing `action` (the password
/// field empty), with the sign-in cookie when given.
fn post_page(s: &Server, page: &Response, action: &str, cookie: Option<&str>) -> Response {
    let cookie = cookie.map(|c| format!("brain-signin={c}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
    post_consent_with(s, page, "", action, &headers)
}

fn html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// The part of an absolute URL after its origin.
fn path_of(url: &str) -> String {
    let rest = url.split_once("://").unwrap().1;
    rest[rest.find('/').unwrap()..].to_string()
}

fn callback(s: &Server, url: &str, cookie: Option<&str>) -> Response {
    let cookie = cookie.map(|c| format!("brain-signin={c}"));
    let headers: Vec<(&str, &str)> = cookie.iter().map(|c| ("Cookie", c.as_str())).collect();
    s.request("GET", &path_of(url), &headers, b"")
}

/// The callback URL with its state changed by `f`.
fn with_state(url: &str, f: impl Fn(&str) -> String) -> String {
    let (base, q) = url.split_once('?').unwrap();
    let pairs: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes())
        .into_owned()
        .map(|(k, v)| if k == "state" { (k, f(&v)) } else { (k, v) })
        .collect();
    let refs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    format!("{base}?{}", query(&refs))
}

#[test]
fn sign_in_approves_claude_ai_end_to_end() {
    let p = provider();
    let s = started(brain(&p));
    // With sign-in and no owner password, the owner can consent: registration and client
    // metadata documents are advertised.
    let meta = s.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(
        meta["registration_endpoint"],
        format!("http://{}/oauth/register", s.addr)
    );
    assert_eq!(meta["client_id_metadata_document_supported"], true);
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("none")));

    let out = browse(&s, alice());
    // The consent page offers the sign-in instead of a password.
    let consent = text(&out["consent_page"]);
    assert!(
        consent.contains("<strong>Claude</strong>, as described by <code>claude.ai</code>"),
        "{consent}"
    );
    assert!(consent.contains(&format!("<p>To decide, sign in as the owner of this brain.</p><p><button type=\"submit\" name=\"action\" value=\"signin\">Sign in with {NAME}</button><button type=\"submit\" name=\"action\" value=\"deny\">Deny</button></p>")), "{consent}");
    assert!(!consent.contains("name=\"password\""), "{consent}");
    // brain-mcp asked the provider as a relying party: its own client, its callback, PKCE
    // S256, a nonce, a state.
    let asked = out["provider_url"].as_str().unwrap();
    let (base, q) = asked.split_once('?').unwrap();
    assert_eq!(base, format!("{}/auth", p.issuer));
    let asked: HashMap<String, String> =
        form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    assert_eq!(asked["client_id"], LOGIN_ID);
    assert_eq!(asked["response_type"], "code");
    assert_eq!(asked["scope"], "openid email");
    assert_eq!(
        asked["redirect_uri"],
        format!("http://{}/oauth/oidc/callback", s.addr)
    );
    assert_eq!(asked["code_challenge_method"], "S256");
    assert_eq!(asked["code_challenge"].len(), 43);
    assert_eq!(asked["nonce"].len(), 43);
    assert!(asked["state"].len() < 1024, "{}", asked["state"]);
    // Back from the provider: the same client, "signed in as", Allow without a password.
    let page = text(&out["signed_in"]);
    assert_eq!(out["signed_in"]["status"], 200);
    assert!(
        page.contains(&format!("<p>Signed in as <strong>alice@example.com</strong> (subject <code>alice</code>) through {NAME}.</p>")),
        "{page}"
    );
    assert!(
        page.contains("<strong>Claude</strong>, as described by <code>claude.ai</code>"),
        "{page}"
    );
    assert!(page.contains("you will be sent back to <code>https://claude.ai</code>"));
    assert!(!page.contains("name=\"password\""), "{page}");
    // Allow: the code at claude.ai's callback, the sign-in cookie cleared.
    let q = code_at(&out, CLAUDE_CALLBACK);
    assert_eq!(q["state"], "st&ate=1 x");
    assert_eq!(q["iss"], format!("http://{}", s.addr));
    assert_eq!(out["cookie_after"], Value::Null, "{out:#}");
    let tokens = redeem(&s, CLAUDE, CLAUDE_CALLBACK, &q["code"], None);
    s.wait_for_log("oidc: signed in at the provider as sub \"alice\"");
    let cookie = out["cookie"].as_str().unwrap();
    let mut secrets = vec![LOGIN_SECRET, cookie, q["code"].as_str()];
    secrets.extend(tokens.iter().map(String::as_str));
    s.assert_log_clean(&secrets);
    s.assert_healthy();
}

#[test]
fn sign_in_approves_a_registered_client_and_the_preregistered_one_asks_first() {
    let p = provider();
    let s = started(brain(&p));
    let redirect = "https://app.example/callback";
    let r = s.request(
        "POST",
        "/oauth/register",
        &[("Content-Type", "application/json")],
        json!({"redirect_uris": [redirect], "client_name": "Some App", "token_endpoint_auth_method": "client_secret_post"}).to_string().as_bytes(),
    );
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["client_id"].as_str().unwrap().to_string();
    let secret = r.json()["client_secret"].as_str().unwrap().to_string();
    let out = browse_for(&s, &id, redirect, alice());
    assert!(text(&out["signed_in"]).contains("<strong>Some App</strong>"));
    let q = code_at(&out, redirect);
    let tokens = redeem(&s, &id, redirect, &q["code"], Some(&secret));
    // The pre-registered client is no longer approved at once: the owner signs in first.
    let r = s.get(&format!(
        "/oauth/authorize?{}",
        query(&auth_params(crate::util::CLIENT_ID, CLAUDE_CALLBACK))
    ));
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body_str().contains(&format!("Sign in with {NAME}")));
    let mut secrets = vec![LOGIN_SECRET, secret.as_str()];
    secrets.extend(tokens.iter().map(String::as_str));
    s.assert_log_clean(&secrets);
}

#[test]
fn sign_in_refusals_by_name() {
    let p = provider();
    let s = started(brain(&p).env("BRAIN_AUTH_FAILURE_LIMIT", "0"));
    // Someone else with an account at the provider.
    let out = browse(&s, json!({"user": "bob", "password": BOB_PASSWORD}));
    assert_page(
        &out["signed_in"],
        403,
        &format!("You signed in at {NAME} as bob@example.com (subject bob), who is not the owner of this brain. Nothing was approved."),
    );
    assert!(out["final"].is_null(), "{out:#}");
    s.wait_for_log("oidc: sign-in refused: the owner rule refuses it: sub \"bob\" is not in BRAIN_OIDC_ALLOWED_SUBJECTS");
    // The owner cancels at the provider: error=access_denied comes back.
    let out = browse(&s, with(alice(), "consent", json!("deny")));
    assert_page(
        &out["signed_in"],
        400,
        &format!("The sign-in at {NAME} ended without signing you in: access_denied (End-User aborted interaction). Nothing was approved; go back to the application to try again."),
    );
    s.wait_for_log("oidc: sign-in refused: the provider answered error \"access_denied\"");
    // The nonce rewritten on the way to the provider: the ID token carries another one.
    let out = browse(&s, with(alice(), "tamper", json!("nonce")));
    assert_page(
        &out["signed_in"],
        403,
        &format!("The ID token from {NAME} was refused: the nonce is not the one sent. Nothing was approved."),
    );
    s.wait_for_log("oidc: sign-in refused: ID token refused: the nonce is not the one sent");
    // The PKCE challenge rewritten: the provider refuses brain-mcp's verifier.
    let out = browse(&s, with(alice(), "tamper", json!("code_challenge")));
    assert_page(
        &out["signed_in"],
        502,
        &format!("{NAME} did not accept the sign-in: invalid_grant (grant request is invalid). Go back to the application and connect again."),
    );
    s.wait_for_log("oidc: sign-in refused: the token endpoint answered 400 invalid_grant");
    // Allow posted without signing in, on a server with no password.
    let page = s.get(&path_of(&authorize_url(&s, CLAUDE, CLAUDE_CALLBACK)));
    let r = post_page(&s, &page, "approve", None);
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body_str().contains(&format!(
        "<p class=\"err\" role=\"alert\">This server has no owner password: sign in with {NAME} to allow access.</p>"
    )));
    assert_eq!(r.header("location"), None);
    s.assert_log_clean(&[LOGIN_SECRET]);
    s.assert_healthy();
}

#[test]
fn the_callback_checks_the_state_against_the_cookie() {
    let p = provider();
    let s = started(brain(&p).env("BRAIN_AUTH_FAILURE_LIMIT", "3"));
    let stop = with(alice(), "stop", json!("callback"));
    let a = browse(&s, stop.clone());
    let b = browse(&s, stop);
    let url = a["callback"].as_str().unwrap();
    let cookie = a["cookie"].as_str().unwrap();
    // The browser would send the sign-in cookie on the cross-site way back (SameSite=Lax).
    assert_eq!(
        a["cookie_header"],
        format!("brain-signin={cookie}"),
        "{a:#}"
    );
    let again = "Go back to the application and connect again.";
    // Without the cookie: another browser. Not a guess: not counted.
    assert_response_page(
        &callback(&s, url, None),
        400,
        &format!("This browser has no sign-in in progress: its sign-in cookie is missing (the sign-in was started in another browser, or this browser does not keep cookies for this site). {again}"),
    );
    // The right browser: the signed-in page.
    let signed = callback(&s, url, Some(cookie));
    assert_eq!(signed.status, 200, "{signed:?}");
    assert!(signed
        .body_str()
        .contains("Signed in as <strong>alice@example.com</strong>"));
    // Replayed: the state is single use (not counted).
    assert_response_page(
        &callback(&s, url, Some(cookie)),
        400,
        &format!("This sign-in has already been used. {again}"),
    );
    // A state altered by one character (counted: 1).
    let forged = with_state(b["callback"].as_str().unwrap(), |st| {
        let mut c: Vec<char> = st.chars().collect();
        c[60] = if c[60] == 'A' { 'B' } else { 'A' };
        c.into_iter().collect()
    });
    let bad_state =
        format!("The sign-in state is not one this server issued to this browser. {again}");
    assert_response_page(
        &callback(&s, &forged, b["cookie"].as_str()),
        400,
        &bad_state,
    );
    // b's state with a's cookie: another browser's sign-in (counted: 2).
    assert_response_page(
        &callback(&s, b["callback"].as_str().unwrap(), Some(cookie)),
        400,
        &bad_state,
    );
    // The signed-in form: posted twice, and without the cookie.
    let r = post_page(&s, &signed, "approve", Some(cookie));
    let (base, q) = location_params(&r);
    assert_eq!(base, CLAUDE_CALLBACK);
    assert_eq!(
        r.header("set-cookie"),
        Some("brain-signin=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax")
    );
    let r = post_page(&s, &signed, "approve", Some(cookie));
    assert_response_page(
        &r,
        400,
        &format!("This consent form was already used. {again}"),
    );
    // Counted: 3.
    let r = post_page(&s, &signed, "approve", None);
    assert_response_page(
        &r,
        400,
        &format!("This consent form was not issued to this browser for this request. {again}"),
    );
    // Over the limit: even b's good callback waits.
    let r = callback(&s, b["callback"].as_str().unwrap(), b["cookie"].as_str());
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.header("retry-after").is_some());
    assert!(r
        .body_str()
        .contains("Too many failed attempts from your address."));
    // HEAD never spends a state.
    let r = s.request("HEAD", &path_of(url), &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET"));
    s.wait_for_log("oidc: sign-in refused: the state does not verify with this browser's cookie");
    s.wait_for_log("oidc: sign-in refused: no sign-in cookie");
    s.wait_for_log("oidc: sign-in refused: the state was already used");
    // Neither brain-mcp's code, nor the provider's codes and states, nor the cookies.
    let provider_part = |u: &str, k: &str| -> String {
        let q = u.split_once('?').unwrap().1;
        form_urlencoded::parse(q.as_bytes())
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.into_owned())
            .unwrap()
    };
    let b_url = b["callback"].as_str().unwrap();
    s.assert_log_clean(&[
        LOGIN_SECRET,
        cookie,
        b["cookie"].as_str().unwrap(),
        &q["code"],
        &provider_part(url, "code"),
        &provider_part(b_url, "code"),
        &provider_part(url, "state"),
    ]);
    s.assert_healthy();
}

#[test]
fn an_expired_sign_in_is_refused() {
    let p = provider();
    let s = started(brain(&p).env("BRAIN_MCP_TEST_SIGNIN_TTL", "1"));
    let out = browse(&s, with(alice(), "stop", json!("callback")));
    std::thread::sleep(std::time::Duration::from_millis(2100));
    assert_response_page(
        &callback(&s, out["callback"].as_str().unwrap(), out["cookie"].as_str()),
        400,
        "This sign-in has expired: it must be finished within 1 seconds. Go back to the application and connect again.",
    );
    s.wait_for_log("oidc: sign-in refused: the state has expired");
}

#[test]
fn a_provider_that_is_down_or_refuses_brain_mcp() {
    // Down: nothing listens on the issuer's port.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://localhost:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let s = Server::builder()
        .env("BRAIN_OIDC_ISSUER", &issuer)
        .env("BRAIN_OIDC_ALLOWED_SUBJECTS", "alice")
        .env("BRAIN_OIDC_LOGIN", "on")
        .env("BRAIN_OIDC_CLIENT_ID", LOGIN_ID)
        .env("BRAIN_OIDC_CLIENT_SECRET", LOGIN_SECRET)
        .start();
    s.wait_for_log("oidc: fetching the provider's keys failed");
    let page = s.get(&path_of(&authorize_url(&s, CLAUDE, CLAUDE_CALLBACK)));
    assert!(
        page.body_str().contains("Sign in with localhost"),
        "{page:?}"
    );
    let r = post_page(&s, &page, "signin", None);
    assert_eq!(r.status, 503, "{r:?}");
    assert!(
        r.body_str().contains("<p>Sign-in with localhost is not available right now: the provider&#39;s keys are not loaded yet (discovery "),
        "{r:?}"
    );
    assert!(r.body_str().contains("Try again in a minute.</p>"), "{r:?}");
    assert_eq!(r.header("set-cookie"), None);
    s.assert_healthy();

    // Up, but brain-mcp's client secret is wrong: the exchange is refused, and says what to
    // check.
    let p = provider();
    let s = started(brain(&p).env("BRAIN_OIDC_CLIENT_SECRET", "not-the-secret"));
    let out = browse(&s, alice());
    assert_page(
        &out["signed_in"],
        502,
        &format!("{NAME} did not accept the sign-in: invalid_client (client authentication failed). Check BRAIN_OIDC_CLIENT_ID and BRAIN_OIDC_CLIENT_SECRET. Go back to the application and connect again."),
    );
    s.assert_log_clean(&["not-the-secret", LOGIN_SECRET]);
}

#[test]
fn sign_in_configuration() {
    let dir = temp_dir("signin-cfg");
    let base = minimal_env(&dir);
    let iss = ("BRAIN_OIDC_ISSUER", "https://auth.example");
    let rule = ("BRAIN_OIDC_ALLOWED_SUBJECTS", "alice");
    let on = ("BRAIN_OIDC_LOGIN", "on");
    let id = ("BRAIN_OIDC_CLIENT_ID", "brain");
    let secret = ("BRAIN_OIDC_CLIENT_SECRET", "s3cret-login-value");
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![on], "BRAIN_OIDC_LOGIN is on but BRAIN_OIDC_ISSUER is not set: sign-in needs the provider"),
        (vec![id], "BRAIN_OIDC_CLIENT_ID is set but BRAIN_OIDC_ISSUER is not"),
        (vec![iss, rule, ("BRAIN_OIDC_LOGIN", "yes")], "BRAIN_OIDC_LOGIN must be on or off (got \"yes\")"),
        (vec![iss, rule, id], "BRAIN_OIDC_CLIENT_ID is set but BRAIN_OIDC_LOGIN is not on"),
        (vec![iss, rule, on, secret], "BRAIN_OIDC_LOGIN is on but BRAIN_OIDC_CLIENT_ID is not set: the client ID brain-mcp has at the provider"),
        (vec![iss, rule, on, id], "BRAIN_OIDC_LOGIN is on but BRAIN_OIDC_CLIENT_SECRET (or BRAIN_OIDC_CLIENT_SECRET_FILE) is not set: the secret of brain-mcp's client at the provider"),
        (vec![iss, rule, on, ("BRAIN_OIDC_CLIENT_ID", "a b"), secret], "BRAIN_OIDC_CLIENT_ID must be 1 to 255 visible ASCII characters (no spaces)"),
        (vec![iss, rule, on, id, ("BRAIN_OIDC_CLIENT_SECRET", "has space")], "BRAIN_OIDC_CLIENT_SECRET must be 1 to 1024 visible ASCII characters (no spaces)"),
        (vec![iss, rule, on, id, secret, ("BRAIN_OIDC_CLIENT_SECRET_FILE", "/x")], "BRAIN_OIDC_CLIENT_SECRET and BRAIN_OIDC_CLIENT_SECRET_FILE are both set; set one"),
        (vec![iss, rule, on, id, secret, ("BRAIN_OIDC_LOGIN_SCOPES", "email profile")], "BRAIN_OIDC_LOGIN_SCOPES must include openid"),
        (vec![iss, rule, on, id, secret, ("BRAIN_OIDC_LOGIN_SCOPES", "openid \"x\"")], "BRAIN_OIDC_LOGIN_SCOPES: \"\\\"x\\\"\" is not a scope (RFC 6749 §3.3)"),
        (vec![iss, on, id, secret], "BRAIN_OIDC_ISSUER is set but no owner rule is"),
    ];
    for (extra, want) in cases {
        let mut env: Vec<(&str, String)> = base.clone();
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let out = run(&["serve"], &env);
        let want = format!("brain-mcp: configuration error: {want}");
        if out.code() != Some(1) || !out.stderr.starts_with(&want) {
            out.fail(&format!("wanted exit 1 and {want:?}"));
        }
        assert!(!out.stderr.contains("s3cret-login-value"), "{}", out.stderr);
    }
    // check-config shows the settings, the secret masked, and the redirect URI to register.
    let p = provider();
    let secret_file = dir.join("login-secret");
    std::fs::write(&secret_file, format!("{LOGIN_SECRET}\n")).unwrap();
    let mut env = base.clone();
    env.extend([
        ("BRAIN_OIDC_ISSUER", p.issuer.clone()),
        ("BRAIN_OIDC_ALLOWED_EMAILS", "alice@example.com".into()),
        ("BRAIN_OIDC_LOGIN", "on".into()),
        ("BRAIN_OIDC_CLIENT_ID", LOGIN_ID.into()),
        (
            "BRAIN_OIDC_CLIENT_SECRET_FILE",
            secret_file.to_string_lossy().into_owned(),
        ),
        ("MCP_RESOURCE_URL", "http://127.0.0.1:8080/mcp".into()),
    ]);
    let out = run(&["check-config"], &env);
    let want = [
        "BRAIN_OIDC_LOGIN=on (the redirect URI to register at the provider: http://127.0.0.1:8080/oauth/oidc/callback)".to_string(),
        format!("BRAIN_OIDC_CLIENT_ID={LOGIN_ID}"),
        format!("BRAIN_OIDC_CLIENT_SECRET=[set, {} characters]", LOGIN_SECRET.len()),
        // The owner rule reads the email: the default scopes ask for it.
        "BRAIN_OIDC_LOGIN_SCOPES=openid email".to_string(),
        "BRAIN_OIDC_PROVIDER_NAME=localhost".to_string(),
        "BRAIN_OWNER_PASSWORD=[unset] (the owner consents by signing in through the provider)".to_string(),
        "configuration OK".to_string(),
    ];
    for w in &want {
        if out.code() != Some(0) || !out.stdout.lines().any(|l| l == w) {
            out.fail(&format!("wanted the line {w:?}"));
        }
    }
    assert!(!out.stdout.contains(LOGIN_SECRET) && !out.stderr.contains(LOGIN_SECRET));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn malformed_callbacks_and_requests() {
    let p = provider();
    let s = started(brain(&p).env("BRAIN_AUTH_FAILURE_LIMIT", "0"));
    let out = browse(&s, with(alice(), "stop", json!("callback")));
    let url = out["callback"].as_str().unwrap();
    let cookie = out["cookie"].as_str();
    let again = "Go back to the application and connect again.";
    let (base, q) = url.split_once('?').unwrap();
    let params: Vec<(String, String)> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    let rebuilt = |f: &dyn Fn(&str, &str) -> Option<String>| {
        let kept: Vec<(&str, String)> = params
            .iter()
            .filter_map(|(k, v)| f(k, v).map(|v| (k.as_str(), v)))
            .collect();
        let refs: Vec<(&str, &str)> = kept.iter().map(|(k, v)| (*k, v.as_str())).collect();
        format!("{base}?{}", query(&refs))
    };
    assert_response_page(
        &callback(&s, &format!("{url}&code=again"), cookie),
        400,
        &format!("The answer from {NAME} repeats the parameter code."),
    );
    assert_response_page(
        &callback(&s, &rebuilt(&|k, v| (k != "state").then(|| v.to_string())), cookie),
        400,
        &format!("The answer from {NAME} has no state, so it cannot belong to a sign-in started here. {again}"),
    );
    // RFC 9207: the provider says it sends iss, so an answer without it, or naming another
    // issuer, did not come from it.
    assert_response_page(
        &callback(&s, &rebuilt(&|k, v| (k != "iss").then(|| v.to_string())), cookie),
        400,
        &format!("The answer has no iss, which {NAME} says it always sends (RFC 9207): it did not come from {NAME}."),
    );
    assert_response_page(
        &callback(
            &s,
            &rebuilt(&|k, v| Some(if k == "iss" { "https://evil.example".into() } else { v.to_string() })),
            cookie,
        ),
        400,
        &format!("The answer names the issuer \"https://evil.example\", not \"{}\" (RFC 9207): it did not come from {NAME}.", p.issuer),
    );
    // A good state without a code: the state is spent, nothing is exchanged.
    assert_response_page(
        &callback(
            &s,
            &rebuilt(&|k, v| (k != "code").then(|| v.to_string())),
            cookie,
        ),
        400,
        &format!("The answer from {NAME} has no code. {again}"),
    );
    // The callback takes GET only.
    let r = s.request("POST", &path_of(url), &[], b"");
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("GET"));
    // An authorization request too long to carry in the provider's state.
    let long = "x".repeat(2100);
    let mut params = auth_params(CLAUDE, CLAUDE_CALLBACK);
    params.retain(|(k, _)| *k != "state");
    params.push(("state", &long));
    let page = s.get(&format!("/oauth/authorize?{}", query(&params)));
    assert_eq!(page.status, 200, "{page:?}");
    assert_response_page(
        &post_page(&s, &page, "signin", None),
        400,
        &format!("This authorization request is too long to carry through the sign-in at {NAME} (over 2048 bytes)."),
    );
    s.assert_healthy();

    // Without sign-in: no callback, and a hand-made sign-in button is refused.
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", crate::util::OWNER_PASSWORD)
        .start();
    let r = s.get(&path_of(url));
    assert_eq!(r.status, 404, "{r:?}");
    let page = s.get(&path_of(&authorize_url(&s, CLAUDE, CLAUDE_CALLBACK)));
    assert!(!page.body_str().contains("Sign in with"), "{page:?}");
    assert_response_page(
        &post_page(&s, &page, "signin", None),
        400,
        "Sign-in through a provider is not configured on this server.",
    );
    s.assert_healthy();
}

#[test]
fn password_and_sign_in_side_by_side() {
    let p = provider();
    let s = started(brain(&p).env("BRAIN_OWNER_PASSWORD", crate::util::OWNER_PASSWORD));
    let url = authorize_url(&s, CLAUDE, CLAUDE_CALLBACK);
    let page = s.get(&path_of(&url));
    let html = page.body_str();
    assert!(html.contains("name=\"password\""), "{html}");
    assert!(
        html.contains(&format!("<p>Or, instead of the password: <button type=\"submit\" name=\"action\" value=\"signin\">Sign in with {NAME}</button></p>")),
        "{html}"
    );
    // The password still works on its own.
    let r = crate::flow::post_consent(&s, &page, crate::util::OWNER_PASSWORD, "approve");
    let (base, _) = location_params(&r);
    assert_eq!(base, CLAUDE_CALLBACK);
    // And so does signing in, without typing it.
    let out = browse(&s, alice());
    let q = code_at(&out, CLAUDE_CALLBACK);
    redeem(&s, CLAUDE, CLAUDE_CALLBACK, &q["code"], None);
}

/// The same sequence in a real browser: Debian's Chromium, driven by playwright-core
/// (tests/oidc/chromium.mjs). Chromium decides whether the sign-in cookie comes back on the
/// provider's cross-site redirect (SameSite), keeps it HttpOnly, and follows the 303s.
#[test]
fn sign_in_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: tests/oidc/setup.sh installs it (as root)"
    );
    let p = provider();
    let s = started(brain(&p));
    let plan = json!({
        "authorize": authorize_url(&s, CLAUDE, CLAUDE_CALLBACK),
        "user": "alice",
        "password": ALICE_PASSWORD,
        "expect": format!("Signed in as alice@example.com (subject alice) through {NAME}."),
    });
    let out: Value =
        serde_json::from_str(&idp::node_run("chromium.mjs", &[&plan.to_string()], "")).unwrap();
    let cookie = &out["cookie"];
    assert_eq!(cookie["httpOnly"], true, "{out:#}");
    assert_eq!(cookie["sameSite"], "Lax", "{out:#}");
    assert_eq!(cookie["path"], "/", "{out:#}");
    assert_eq!(
        out["cookie_after"],
        Value::Null,
        "cleared after Allow: {out:#}"
    );
    let url = out["callback"].as_str().unwrap();
    let (base, q) = url.split_once('?').unwrap();
    assert_eq!(base, CLAUDE_CALLBACK);
    let q: HashMap<String, String> = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    assert_eq!(q["state"], "st&ate=1 x");
    let tokens = redeem(&s, CLAUDE, CLAUDE_CALLBACK, &q["code"], None);
    let mut secrets = vec![LOGIN_SECRET, q["code"].as_str()];
    secrets.extend(tokens.iter().map(String::as_str));
    s.assert_log_clean(&secrets);
}

// ---------------------------------------------------------------------------------------
// The owner's pages (src/web) signed into through the provider: the same callback, cookie
// and signed state as the consent page, a state tagged for the pages (`p.`) carrying where
// to go next.

/// `remember` through `/mcp` with the static token; the note's id.
fn remember(s: &Server, text: &str) -> String {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"remember","arguments":{"text": text}}});
    let r = s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {}", crate::util::TOKEN)),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        body.to_string().as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["result"]["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_string()
}

/// Runs the owner's browser (tests/oidc/pages.mjs) from `start`, a path of `s`.
fn pages(s: &Server, start: &str, mut plan: Value) -> Value {
    plan["start"] = json!(format!("http://{}{start}", s.addr));
    let out = idp::node_run("pages.mjs", &[&plan.to_string()], "");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn bob() -> Value {
    json!({"user": "bob", "password": BOB_PASSWORD})
}

/// The pages' one-message page (`web::html::message`): its status, title and text.
fn assert_web_page(status: u16, body: &str, got_status: u16, title: &str, text: &str) {
    assert_eq!(got_status, status, "{body}");
    let want = format!(
        "<h1>{}</h1><p class=\"lead\">{}</p><p><a href=\"/signin\">Sign in</a></p>",
        html(title),
        html(text)
    );
    assert!(body.contains(&want), "wanted {want:?} in {body}");
}

fn assert_web_value(page: &Value, status: u16, title: &str, text: &str) {
    assert_web_page(
        status,
        text_of(page),
        page["status"].as_u64().unwrap_or(0) as u16,
        title,
        text,
    );
}

fn text_of(v: &Value) -> &str {
    v["text"].as_str().unwrap_or_else(|| panic!("no page: {v}"))
}

/// The provider button's form as `/signin` shows it, without its token.
fn button_form(next: &str) -> String {
    format!("<input type=\"hidden\" name=\"next\" value=\"{}\"><p><button type=\"submit\" name=\"action\" value=\"provider\">Sign in with {NAME}</button></p></form>", html(next))
}

/// The `csrf` of the form on `html` whose button is `marker` (or the first form).
fn csrf_near(html: &str, marker: &str) -> String {
    let at = html
        .find(marker)
        .unwrap_or_else(|| panic!("no {marker} in {html}"));
    let form = html[..at].rfind("<form").unwrap();
    html[form..]
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_string()
}

/// Posts the sign-in page's provider button, as a browser on `s` would, with `next`.
fn press_button(s: &Server, csrf: &str, next: &str) -> Response {
    let origin = format!("http://{}", s.addr);
    s.post_form(
        "/signin",
        &[("Origin", &origin)],
        &query(&[("csrf", csrf), ("next", next), ("action", "provider")]),
    )
}

/// A fresh button token from `/signin`.
fn button_token(s: &Server) -> String {
    let page = s.get("/signin");
    assert_eq!(page.status, 200, "{page:?}");
    csrf_near(page.body_str(), "value=\"provider\"")
}

/// The parts of a `state`: its flow tag, token, and the payload decoded.
fn state_parts(state: &str) -> (String, String, String) {
    let (tag, rest) = state.split_once('.').unwrap();
    let (token, payload) = rest.split_once('.').unwrap();
    let payload = URL_SAFE_NO_PAD.decode(payload).unwrap();
    (
        tag.to_string(),
        token.to_string(),
        String::from_utf8(payload).unwrap(),
    )
}

/// A query parameter of a URL.
fn param(url: &str, k: &str) -> String {
    let q = url.split_once('?').unwrap().1;
    form_urlencoded::parse(q.as_bytes())
        .find(|(n, _)| n == k)
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no {k} in {url}"))
}

#[test]
fn the_pages_through_the_provider_in_a_headless_browser() {
    let p = provider();
    // No owner password: sign-in through the provider alone turns the pages on.
    let s = started(brain(&p));
    let id = remember(&s, "The spare key is with the neighbour at number 12.");
    let note = format!("/notes/{id}");
    let next = format!("/signin?next=%2Fnotes%2F{id}");

    // Someone with an account at the provider who is not the owner: a page, no session.
    let out = pages(&s, &note, bob());
    let signin = &out["signin_page"];
    assert_eq!(signin["status"], 200, "{out:#}");
    assert_eq!(signin["url"], format!("http://{}{next}", s.addr));
    assert!(text_of(signin).contains(&button_form(&note)), "{signin:#}");
    assert!(!text_of(signin).contains("name=\"password\""), "{signin:#}");
    assert_web_value(
        &out["signed_in"],
        403,
        "Not signed in",
        &format!("You signed in at {NAME} as bob@example.com (subject bob), who is not the owner of this brain. You are not signed in."),
    );
    assert_eq!(out["session"], Value::Null, "{out:#}");
    assert!(out["landed"].is_null(), "{out:#}");
    s.wait_for_log("oidc: sign-in refused: the owner rule refuses it: sub \"bob\" is not in BRAIN_OIDC_ALLOWED_SUBJECTS");

    // The owner cancels at the provider.
    let out = pages(&s, &note, with(alice(), "consent", json!("deny")));
    assert_web_value(
        &out["signed_in"],
        400,
        "Not signed in",
        &format!("The sign-in at {NAME} ended without signing you in: access_denied (End-User aborted interaction). You are not signed in; go back to the sign-in page to try again."),
    );
    assert_eq!(out["session"], Value::Null, "{out:#}");

    // The owner.
    let out = pages(&s, &note, alice());
    let asked = out["provider_url"].as_str().unwrap();
    assert!(asked.starts_with(&format!("{}/auth?", p.issuer)), "{asked}");
    assert_eq!(
        param(asked, "redirect_uri"),
        format!("http://{}/oauth/oidc/callback", s.addr)
    );
    let (tag, _, payload) = state_parts(&param(asked, "state"));
    assert_eq!((tag.as_str(), payload.as_str()), ("p", note.as_str()));
    // Back through the one callback: a session, and a page that moves on by itself (a 303
    // would reach the note without the SameSite=Strict cookie, see src/web/provider.rs).
    let back = &out["signed_in"];
    assert_eq!(back["status"], 200, "{out:#}");
    assert_eq!(
        back["url"].as_str().unwrap().split('?').next(),
        Some(format!("http://{}/oauth/oidc/callback", s.addr).as_str())
    );
    let who = format!("alice@example.com, subject alice, at {}", p.issuer);
    let page = text_of(back);
    assert!(
        page.contains(&format!(
            "<meta http-equiv=\"refresh\" content=\"0; url={note}\">"
        )),
        "{page}"
    );
    assert!(
        page.contains(&format!(
            "<h1>Signed in</h1><p class=\"lead\">Signed in through {NAME} as {}.</p><p><a class=\"button\" href=\"{note}\">Continue</a></p>",
            html(&who)
        )),
        "{page}"
    );
    let set: Vec<&str> = back["set_cookie"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(set.len(), 2, "{set:?}");
    assert!(set[0].starts_with("__Host-brain-"), "{set:?}");
    assert!(
        set[0].ends_with("; Path=/; Secure; HttpOnly; SameSite=Strict"),
        "{set:?}"
    );
    assert_eq!(
        set[1],
        "brain-signin=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
    );
    assert_eq!(
        out["session"],
        json!({"name": set[0].split('=').next().unwrap(), "secure": true, "sameSite": "strict", "path": "/"})
    );
    assert_eq!(out["cookie_after"], Value::Null, "{out:#}");
    // Where the owner started: the note.
    let landed = &out["landed"];
    assert_eq!(landed["status"], 200, "{out:#}");
    assert_eq!(landed["url"], format!("http://{}{note}", s.addr));
    assert!(text_of(landed).contains("The spare key is with the neighbour at number 12."));
    // The activity page: this session, the sign-in, and the refusals before it.
    let activity = text_of(&out["activity"]);
    assert!(
        activity.contains(&format!("<td data-label=\"How\">{}</td>", html(&who))),
        "{activity}"
    );
    assert!(
        activity.contains(&format!(
            "<td data-label=\"What\">signed in ({})</td>",
            html(&who)
        )),
        "{activity}"
    );
    assert!(
        activity.contains(&format!(
            "<td data-label=\"What\"><strong>sign-in through {NAME} refused</strong>: {}</td>",
            html("the owner rule refuses it: sub \"bob\" is not in BRAIN_OIDC_ALLOWED_SUBJECTS")
        )),
        "{activity}"
    );
    assert!(
        activity.contains(&format!(
            "<td data-label=\"What\"><strong>sign-in through {NAME} refused</strong>: {}</td>",
            html("the provider answered error \"access_denied\"")
        )),
        "{activity}"
    );
    // Signed out: the session is gone, and the pages ask for a sign-in again.
    assert_eq!(out["signed_out"]["url"], format!("http://{}/", s.addr));
    assert_eq!(out["session_after_sign_out"], Value::Null);
    assert_eq!(
        out["after"]["url"],
        format!("http://{}/signin?next=%2Fnotes", s.addr)
    );
    assert!(text_of(&out["after"]).contains(&button_form("/notes")));
    s.wait_for_log("oidc: signed in at the provider as sub \"alice\" (for the owner's pages)");
    // Neither the provider's code nor state, nor either cookie, is in the log.
    let callback_url = out["log"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|l| l.as_str())
        .filter_map(|l| l.strip_prefix("GET "))
        .find(|l| l.contains("/oauth/oidc/callback?"))
        .map(|l| l.split(' ').next().unwrap().to_string())
        .unwrap();
    let session_value = set[0].split(';').next().unwrap().split_once('=').unwrap().1;
    s.assert_log_clean(&[
        LOGIN_SECRET,
        session_value,
        out["cookie"].as_str().unwrap(),
        &param(&callback_url, "code"),
        &param(&callback_url, "state"),
    ]);
    s.assert_healthy();
}

#[test]
fn a_state_made_for_one_flow_is_refused_by_the_other() {
    let p = provider();
    let s = started(brain(&p).env("BRAIN_AUTH_FAILURE_LIMIT", "0"));
    let stop = with(alice(), "stop", json!("callback"));
    // A sign-in started on the consent page, and one started on the pages, both stopped
    // before the callback.
    let consent = browse(&s, stop.clone());
    let web = pages(&s, "/signin", stop);
    let (c_url, c_cookie) = (
        consent["callback"].as_str().unwrap(),
        consent["cookie"].as_str(),
    );
    let (w_url, w_cookie) = (web["callback"].as_str().unwrap(), web["cookie"].as_str());
    assert_eq!(state_parts(&param(c_url, "state")).0, "c");
    assert_eq!(state_parts(&param(w_url, "state")).0, "p");
    let forged = "The sign-in state is not one this server issued to this browser.";
    // The consent page's state relabelled for the pages: refused, in the pages' words, and
    // no session.
    let r = callback(
        &s,
        &with_state(c_url, |st| st.replacen("c.", "p.", 1)),
        c_cookie,
    );
    assert_web_page(
        400,
        r.body_str(),
        r.status,
        "Not signed in",
        &format!("{forged} Go back to the sign-in page and try again."),
    );
    assert!(r.header("set-cookie").is_none(), "{r:?}");
    // The pages' state relabelled for the consent page: refused there.
    assert_response_page(
        &callback(
            &s,
            &with_state(w_url, |st| st.replacen("p.", "c.", 1)),
            w_cookie,
        ),
        400,
        &format!("{forged} Go back to the application and connect again."),
    );
    // The pages' token with the consent page's payload (an authorization request where a
    // path belongs), and the reverse.
    let (_, w_token, w_payload) = state_parts(&param(w_url, "state"));
    let (_, c_token, c_payload) = state_parts(&param(c_url, "state"));
    let mixed = |tag: &str, token: &str, payload: &str| {
        format!("{tag}.{token}.{}", URL_SAFE_NO_PAD.encode(payload))
    };
    let r = callback(
        &s,
        &with_state(w_url, |_| mixed("p", &w_token, &c_payload)),
        w_cookie,
    );
    assert_web_page(
        400,
        r.body_str(),
        r.status,
        "Not signed in",
        &format!("{forged} Go back to the sign-in page and try again."),
    );
    assert_response_page(
        &callback(
            &s,
            &with_state(c_url, |_| mixed("c", &c_token, &w_payload)),
            c_cookie,
        ),
        400,
        &format!("{forged} Go back to the application and connect again."),
    );
    // An unknown tag, and a state without one (the form before there were two flows).
    for bad in [
        format!("x.{w_token}.{}", URL_SAFE_NO_PAD.encode(&w_payload)),
        format!("{w_token}.{}", URL_SAFE_NO_PAD.encode(&w_payload)),
    ] {
        assert_response_page(
            &callback(&s, &with_state(w_url, |_| bad.clone()), w_cookie),
            400,
            &format!("{forged} Go back to the application and connect again."),
        );
    }
    // Each refusal was counted; none spent the real states, which still work, each in its
    // own flow.
    let r = callback(&s, w_url, w_cookie);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body_str().contains("<h1>Signed in</h1>"), "{r:?}");
    assert!(r.headers_named("set-cookie")[0].starts_with("__Host-brain-"));
    let r = callback(&s, c_url, c_cookie);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r
        .body_str()
        .contains("Signed in as <strong>alice@example.com</strong>"));
    assert!(r.header("set-cookie").is_none(), "{r:?}");
    // Single use, in the pages' words too.
    let r = callback(&s, w_url, w_cookie);
    assert_web_page(
        400,
        r.body_str(),
        r.status,
        "Not signed in",
        "This sign-in has already been used. Go back to the sign-in page and try again.",
    );
    s.wait_for_log("oidc: signed in at the provider as sub \"alice\" (for the owner's pages)");
    s.wait_for_log("oidc: signed in at the provider as sub \"alice\" (for the consent page)");
    s.assert_healthy();

    // Over the failure limit, a pages callback waits like a password (the pages' 429).
    let s = started(brain(&p).env("BRAIN_AUTH_FAILURE_LIMIT", "1"));
    let web = pages(&s, "/signin", with(alice(), "stop", json!("callback")));
    let w_url = web["callback"].as_str().unwrap();
    let r = callback(
        &s,
        &with_state(w_url, |st| st.replacen("p.", "c.", 1)),
        web["cookie"].as_str(),
    );
    assert_eq!(r.status, 400, "{r:?}");
    let r = callback(&s, w_url, web["cookie"].as_str());
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
    assert!(r.body_str().contains("<h1>Too many attempts</h1><p class=\"lead\">Too many failed attempts from your address."), "{r:?}");
    s.assert_healthy();
}

#[test]
fn the_pages_are_on_with_sign_in_and_no_password() {
    let p = provider();
    let s = started(brain(&p));
    let r = s.get("/");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(!r.body_str().contains("The owner's pages are off"), "{r:?}");
    assert!(r
        .body_str()
        .contains("<a class=\"button\" href=\"/signin\">Sign in</a>"));
    let r = s.get("/notes");
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/signin?next=%2Fnotes"));
    // The sign-in page: the button alone, its own form and token.
    let page = s.get("/signin?next=/tags");
    let html_page = page.body_str();
    assert_eq!(page.status, 200);
    assert!(html_page.contains(&button_form("/tags")), "{html_page}");
    assert!(!html_page.contains("name=\"password\""), "{html_page}");
    assert!(html_page.contains(&format!("<p class=\"muted\">Signing in with {NAME} takes you to {NAME} and back; only the owner of this brain, as this server's owner rule names them, gets in. A session ends after 30 minutes without a request, 12 hours after sign-in, or when you sign out.</p>")), "{html_page}");
    // The page may send its form on to the provider (CSP form-action covers the redirect).
    assert_eq!(
        page.header("content-security-policy").map(str::to_string),
        Some(format!("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' {}; base-uri 'none'; frame-ancestors 'none'", p.issuer))
    );
    let notice = |r: &Response, status: u16, text: &str| {
        assert_eq!(r.status, status, "{r:?}");
        let want = format!("<p class=\"notice err\" role=\"alert\">{}</p>", html(text));
        assert!(r.body_str().contains(&want), "wanted {want:?} in {r:?}");
        assert!(r.header("set-cookie").is_none(), "{r:?}");
        assert!(r.header("location").is_none(), "{r:?}");
    };
    // A password posted anyway.
    let origin = format!("http://{}", s.addr);
    let csrf = csrf_near(html_page, "value=\"provider\"");
    let r = s.post_form(
        "/signin",
        &[("Origin", &origin)],
        &query(&[("csrf", &csrf), ("password", crate::util::OWNER_PASSWORD)]),
    );
    notice(
        &r,
        403,
        "This server has no owner password: use the button below to sign in.",
    );
    // The button: without its token, with it twice, and from another site.
    let pressed =
        "This sign-in form has expired or did not come from this page. Press the button again.";
    notice(&press_button(&s, "", "/notes"), 403, pressed);
    let r = press_button(&s, &csrf, "/tags");
    assert_eq!(r.status, 303, "{r:?}");
    let to = r.header("location").unwrap();
    assert!(to.starts_with(&format!("{}/auth?", p.issuer)), "{to}");
    assert_eq!(param(to, "client_id"), LOGIN_ID);
    assert_eq!(param(to, "code_challenge_method"), "S256");
    let (tag, _, next) = state_parts(&param(to, "state"));
    assert_eq!((tag.as_str(), next.as_str()), ("p", "/tags"));
    let cookie = r.header("set-cookie").unwrap();
    assert!(
        cookie.starts_with("brain-signin=")
            && cookie.ends_with("; Path=/; Max-Age=600; HttpOnly; SameSite=Lax"),
        "{cookie}"
    );
    assert_eq!(
        r.header("content-security-policy"),
        Some("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    );
    assert_eq!(r.header("cache-control"), Some("no-store"));
    notice(&press_button(&s, &csrf, "/tags"), 403, pressed);
    let r = s.post_form(
        "/signin",
        &[("Origin", "https://evil.example")],
        &query(&[("csrf", &button_token(&s)), ("action", "provider")]),
    );
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r.body_str().contains(
        "This form was posted from another site, so it was refused and nothing changed."
    ));
    assert!(r.header("set-cookie").is_none());
    s.assert_healthy();

    // With the password as well: both forms, each token for its own.
    let s = started(brain(&p).env("BRAIN_OWNER_PASSWORD", crate::util::OWNER_PASSWORD));
    let page = s.get("/signin");
    let body = page.body_str();
    assert!(body.contains("name=\"password\""), "{body}");
    assert!(
        body.contains(
            "</form><p class=\"muted\">or</p><form method=\"post\" action=\"/signin\" class=\"narrow\">"
        ),
        "{body}"
    );
    assert!(body.contains(&button_form("/notes")), "{body}");
    let password_token = csrf_near(body, "name=\"password\"");
    let button = csrf_near(body, "value=\"provider\"");
    assert_ne!(password_token, button);
    notice(&press_button(&s, &password_token, "/notes"), 403, pressed);
    let r = s.post_form(
        "/signin",
        &[("Origin", &format!("http://{}", s.addr))],
        &query(&[("csrf", &button), ("password", crate::util::OWNER_PASSWORD)]),
    );
    notice(
        &r,
        403,
        "This sign-in form has expired or did not come from this page. Type the password again.",
    );
    s.assert_healthy();

    // The provider down: the sign-in page says so, and the password is still there.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let issuer = format!("http://localhost:{}", closed.local_addr().unwrap().port());
    drop(closed);
    let s = Server::builder()
        .env("BRAIN_OIDC_ISSUER", &issuer)
        .env("BRAIN_OIDC_ALLOWED_SUBJECTS", "alice")
        .env("BRAIN_OIDC_LOGIN", "on")
        .env("BRAIN_OIDC_CLIENT_ID", LOGIN_ID)
        .env("BRAIN_OIDC_CLIENT_SECRET", LOGIN_SECRET)
        .env("BRAIN_OWNER_PASSWORD", crate::util::OWNER_PASSWORD)
        .start();
    s.wait_for_log("oidc: fetching the provider's keys failed");
    let r = press_button(&s, &button_token(&s), "/notes");
    assert_eq!(r.status, 503, "{r:?}");
    assert!(r.body_str().contains("<p class=\"notice err\" role=\"alert\">Sign-in with localhost is not available right now: the provider&#39;s keys are not loaded yet (discovery "), "{r:?}");
    assert!(r.body_str().contains("name=\"password\""), "{r:?}");
    assert!(r.header("set-cookie").is_none());
    s.assert_healthy();

    // A password-only server has no button, and refuses a hand-made one.
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", crate::util::OWNER_PASSWORD)
        .start();
    let page = s.get("/signin");
    assert!(!page.body_str().contains("Sign in with"), "{page:?}");
    let csrf = csrf_near(page.body_str(), "name=\"password\"");
    notice(
        &press_button(&s, &csrf, "/notes"),
        400,
        "Sign-in through a provider is not configured on this server.",
    );
    s.assert_healthy();
}

#[test]
fn next_stays_on_this_server() {
    let p = provider();
    let s = started(brain(&p).env("BRAIN_AUTH_FAILURE_LIMIT", "0"));
    for (next, want) in [
        ("/notes/n_x?version=2", "/notes/n_x?version=2"),
        ("//evil.example/x", "/notes"),
        ("https://evil.example/", "/notes"),
        ("/\\evil.example", "/notes"),
        ("/a\nb", "/notes"),
        ("", "/notes"),
    ] {
        let r = press_button(&s, &button_token(&s), next);
        assert_eq!(r.status, 303, "{next:?}: {r:?}");
        let (_, _, carried) = state_parts(&param(r.header("location").unwrap(), "state"));
        assert_eq!(carried, want, "{next:?}");
    }
    // End to end: another site posted as next, the owner lands on /notes here.
    let out = pages(
        &s,
        "/signin",
        with(alice(), "next", json!("//evil.example/x")),
    );
    assert!(
        text_of(&out["signed_in"])
            .contains("<meta http-equiv=\"refresh\" content=\"0; url=/notes\">"),
        "{out:#}"
    );
    assert_eq!(out["landed"]["url"], format!("http://{}/notes", s.addr));
    assert_eq!(out["landed"]["status"], 200);
    // A state whose path was rewritten (to another site) no longer verifies.
    let out = pages(&s, "/signin", with(alice(), "stop", json!("callback")));
    let url = out["callback"].as_str().unwrap();
    let (_, token, _) = state_parts(&param(url, "state"));
    let r = callback(
        &s,
        &with_state(url, |_| {
            format!("p.{token}.{}", URL_SAFE_NO_PAD.encode("//evil.example/"))
        }),
        out["cookie"].as_str(),
    );
    assert_web_page(
        400,
        r.body_str(),
        r.status,
        "Not signed in",
        "The sign-in state is not one this server issued to this browser. Go back to the sign-in page and try again.",
    );
    assert!(r.header("set-cookie").is_none());
    s.assert_healthy();
}

/// The same in a real browser: Debian's Chromium through playwright-core
/// (tests/oidc/pages_chromium.mjs). Chromium decides whether the SameSite=Strict session
/// cookie goes with the navigation after the provider's cross-site redirect, and keeps the
/// Secure `__Host-` cookie on `http://127.0.0.1`. `BRAIN_UPDATE_SCREENSHOTS=1` writes the
/// sign-in page to docs/screenshots/sign-in-provider.png.
#[test]
fn the_pages_through_the_provider_in_chromium() {
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is missing: tests/oidc/setup.sh installs it (as root)"
    );
    let p = provider();
    let s = started(brain(&p));
    let id = remember(&s, "The piano tuner comes on the first Monday of October.");
    let dir = temp_dir("pages-chromium");
    let shot = match std::env::var_os("BRAIN_UPDATE_SCREENSHOTS") {
        Some(_) => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("docs/screenshots/sign-in-provider.png"),
        None => dir.join("sign-in-provider.png"),
    };
    let plan = json!({
        "start": format!("http://{}/notes/{id}", s.addr),
        "user": "alice",
        "password": ALICE_PASSWORD,
        "expect": "The piano tuner comes on the first Monday of October.",
        "expectActivity": format!("signed in (alice@example.com, subject alice, at {})", p.issuer),
        "screenshot": shot,
    });
    let out: Value = serde_json::from_str(&idp::node_run(
        "pages_chromium.mjs",
        &[&plan.to_string()],
        "",
    ))
    .unwrap();
    assert_eq!(out["landed"], format!("http://{}/notes/{id}", s.addr));
    let c = &out["session"];
    assert!(
        c["name"].as_str().unwrap().starts_with("__Host-brain-"),
        "{out:#}"
    );
    assert_eq!(c["sameSite"], "Strict", "{out:#}");
    assert_eq!(c["httpOnly"], true, "{out:#}");
    assert_eq!(c["secure"], true, "{out:#}");
    assert_eq!(c["path"], "/", "{out:#}");
    assert_eq!(out["signin_cookie_after"], Value::Null, "{out:#}");
    assert_eq!(
        out["after_sign_out"],
        format!("http://{}/signin?next=%2Fnotes", s.addr)
    );
    assert_eq!(out["session_after_sign_out"], Value::Null, "{out:#}");
    assert!(std::fs::metadata(&shot).unwrap().len() > 1000);
    s.wait_for_log("oidc: signed in at the provider as sub \"alice\" (for the owner's pages)");
    s.assert_log_clean(&[LOGIN_SECRET, c["value"].as_str().unwrap()]);
    assert!(!s.log().contains(" 500 "), "{}", s.log());
    let _ = std::fs::remove_dir_all(&dir);
}
