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
