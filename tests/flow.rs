//! Helpers for the authorization-code flow as a client and a browser perform it (authorize,
//! the consent form, the token endpoint), shared by the OAuth, CIMD and attack tests. Each
//! takes the extra headers a test needs (`X-Forwarded-For` through a trusted proxy).

#![allow(dead_code)]

use std::collections::HashMap;

use crate::util::{Response, Server};

/// RFC 7636 Appendix B: the verifier and its S256 challenge.
pub const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
pub const CHALLENGE: &str = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
pub const CLAUDE_CALLBACK: &str = "https://claude.ai/api/mcp/auth_callback";

pub fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

pub fn query(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// The standard authorization request parameters, for tweaking one at a time.
pub fn auth_params<'a>(client_id: &'a str, redirect_uri: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
        ("state", "st&ate=1 x"),
        ("scope", "claudeai"),
    ]
}

pub fn authorize(s: &Server, params: &[(&str, &str)]) -> Response {
    authorize_with(s, params, &[])
}

pub fn authorize_with(s: &Server, params: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
    s.request(
        "GET",
        &format!("/oauth/authorize?{}", query(params)),
        headers,
        b"",
    )
}

/// The query parameters of a redirect's `Location`.
pub fn location_params(r: &Response) -> (String, HashMap<String, String>) {
    assert_eq!(r.status, 302, "expected a redirect: {r:?}");
    let loc = r.header("location").expect("Location").to_string();
    let (base, q) = loc.split_once('?').expect("a query in Location");
    let params = form_urlencoded::parse(q.as_bytes()).into_owned().collect();
    (base.to_string(), params)
}

pub fn issuer(s: &Server) -> String {
    format!("http://{}", s.host())
}

/// The hidden fields and anti-forgery token of a consent page, as a browser would post them.
pub fn consent_form(page: &Response) -> Vec<(String, String)> {
    let html = page.body_str();
    let mut out = Vec::new();
    for part in html.split("<input type=\"hidden\" ").skip(1) {
        let name = part
            .split("name=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let value = part
            .split("value=\"")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap();
        let value = value
            .replace("&quot;", "\"")
            .replace("&#39;", "'")
            .replace("&lt;", "<")
            .replace("&gt;", ">")
            .replace("&amp;", "&");
        out.push((name.to_string(), value));
    }
    out
}

pub fn post_consent(s: &Server, page: &Response, password: &str, action: &str) -> Response {
    post_consent_with(s, page, password, action, &[])
}

pub fn post_consent_with(
    s: &Server,
    page: &Response,
    password: &str,
    action: &str,
    headers: &[(&str, &str)],
) -> Response {
    let mut fields = consent_form(page);
    fields.push(("password".into(), password.into()));
    fields.push(("action".into(), action.into()));
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    s.post_form("/oauth/authorize", headers, &body)
}

pub fn token(s: &Server, form: &[(&str, &str)]) -> Response {
    token_with(s, form, &[])
}

pub fn token_with(s: &Server, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Response {
    s.post_form("/oauth/token", headers, &query(form))
}

pub fn mcp_status(s: &Server, bearer: &str) -> u16 {
    s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {bearer}")),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
    .status
}
