//! Every OAuth error the server can produce, driven through the real binary, against RFC 6749's
//! character rules: §5.2 (token, revocation) and §4.1.2.1 (authorization redirects) say
//! "Values for the "error_description" parameter MUST NOT include characters outside the set
//! %x20-21 / %x23-5B / %x5D-7E", and `error` is from the same set without spaces. Values that
//! come from the client (a grant type, a parameter name, a redirect URI) are quoted with every
//! other character percent-encoded.

use std::collections::BTreeSet;

use serde_json::json;

use crate::flow::{auth_params, authorize, location_params, CLAUDE_CALLBACK, VERIFIER};
use crate::util::{basic, Response, Server, CLIENT_ID, CLIENT_SECRET, OWNER_PASSWORD};

fn rfc6749_description(s: &str) -> bool {
    s.chars()
        .all(|c| matches!(c, '\x20'..='\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

fn rfc6749_code(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
}

/// Checks one JSON error answer; returns its `error`.
fn check(what: &str, r: &Response) -> String {
    assert!(r.status >= 400, "{what}: {r:?}");
    let j = r.json();
    let code = j["error"]
        .as_str()
        .unwrap_or_else(|| panic!("{what}: {r:?}"));
    let desc = j["error_description"].as_str().unwrap_or("");
    assert!(rfc6749_code(code), "{what}: error {code:?}");
    assert!(
        rfc6749_description(desc),
        "{what}: error_description {desc:?}"
    );
    assert!(!desc.is_empty(), "{what}: no description");
    code.to_string()
}

#[test]
fn every_oauth_error_keeps_to_rfc6749_characters() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("BRAIN_AUTH_FAILURE_LIMIT", "3")
        .start();
    let form = |body: &str| s.post_form("/oauth/token", &[], body);
    let creds = format!("client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}");
    let mut seen = BTreeSet::new();
    let reg = |body: serde_json::Value| {
        s.request(
            "POST",
            "/oauth/register",
            &[("Content-Type", "application/json")],
            body.to_string().as_bytes(),
        )
    };
    // client_credentials for a registered client (before the limiter below trips).
    let j = reg(json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "client_secret_post"})).json();
    let r = s.post_form(
        "/oauth/token",
        &[],
        &format!(
            "grant_type=client_credentials&client_id={}&client_secret={}",
            j["client_id"].as_str().unwrap(),
            j["client_secret"].as_str().unwrap()
        ),
    );
    seen.insert(check("client_credentials for a registered client", &r));

    let mut token_cases: Vec<(&str, Response)> = vec![
        (
            "not a form",
            s.request(
                "POST",
                "/oauth/token",
                &[("Content-Type", "application/json")],
                b"{}",
            ),
        ),
        ("no grant_type", form(&creds)),
        (
            "grant_type with quotes, a backslash and UTF-8",
            form(&format!("grant_type=%22x%5C%C3%A9%22&{creds}")),
        ),
        (
            "repeated parameter with a quote in its name",
            form(&format!(
                "grant_type=client_credentials&a%22b=1&a%22b=2&{creds}"
            )),
        ),
        (
            "credentials in the query",
            s.request(
                "POST",
                "/oauth/token?client_secret=x",
                &[("Content-Type", "application/x-www-form-urlencoded")],
                b"grant_type=client_credentials",
            ),
        ),
        (
            "resource naming another server",
            form(&format!(
                "grant_type=client_credentials&resource=https%3A%2F%2Fother.example%2F%22&{creds}"
            )),
        ),
        (
            "unknown code",
            form(&format!(
                "grant_type=authorization_code&code=nope&code_verifier={VERIFIER}&{creds}"
            )),
        ),
        (
            "code without verifier",
            form(&format!("grant_type=authorization_code&code=nope&{creds}")),
        ),
        (
            "unknown refresh token",
            form(&format!(
                "grant_type=refresh_token&refresh_token=nope&{creds}"
            )),
        ),
        (
            "refresh without token",
            form(&format!("grant_type=refresh_token&{creds}")),
        ),
        (
            "both Basic and a secret in the body",
            s.post_form(
                "/oauth/token",
                &[("Authorization", &basic(CLIENT_ID, CLIENT_SECRET))],
                &format!("grant_type=client_credentials&client_secret={CLIENT_SECRET}"),
            ),
        ),
    ];
    // Wrong secrets until the limiter answers 429.
    for i in 0..4 {
        let r = form(&format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=wrong{i}"
        ));
        token_cases.push(("wrong secret", r));
    }
    for (what, r) in &token_cases {
        seen.insert(check(what, r));
    }
    for (what, body) in [
        (
            "redirect URI with quotes and UTF-8",
            json!({"redirect_uris": ["ftp://\"é\\\"/x"]}),
        ),
        ("no redirect URIs", json!({"client_name": "x"})),
        (
            "bad auth method",
            json!({"redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "\"x\""}),
        ),
        (
            "only client_credentials",
            json!({"redirect_uris": ["https://a.example/cb"], "grant_types": ["client_credentials"]}),
        ),
        (
            "bad response type",
            json!({"redirect_uris": ["https://a.example/cb"], "response_types": ["token"]}),
        ),
        (
            "name with a newline",
            json!({"redirect_uris": ["https://a.example/cb"], "client_name": "a\nb"}),
        ),
    ] {
        seen.insert(check(what, &reg(body)));
    }
    let r = s.request(
        "POST",
        "/oauth/register",
        &[("Content-Type", "text/plain")],
        b"x",
    );
    seen.insert(check("registration not JSON", &r));
    // Revocation.
    let r = s.post_form("/oauth/revoke", &[], &creds);
    seen.insert(check("revoke without token", &r));
    // Authorization errors that go back to the (pre-registered, hence approved) client: the
    // description is in the redirect's query.
    for (k, v) in [
        ("response_type", "\"token\""),
        ("code_challenge_method", "plain"),
        ("resource", "https://other.example/\"é"),
    ] {
        let mut p = auth_params(CLIENT_ID, CLAUDE_CALLBACK);
        p.retain(|(pk, _)| *pk != k);
        p.push((k, v));
        let (_, q) = location_params(&authorize(&s, &p));
        assert!(rfc6749_code(&q["error"]), "{k}: {q:?}");
        assert!(rfc6749_description(&q["error_description"]), "{k}: {q:?}");
        seen.insert(q["error"].clone());
    }
    let want: BTreeSet<String> = [
        "invalid_client",
        "invalid_client_metadata",
        "invalid_grant",
        "invalid_redirect_uri",
        "invalid_request",
        "invalid_target",
        "too_many_requests",
        "unauthorized_client",
        "unsupported_grant_type",
        "unsupported_response_type",
    ]
    .into_iter()
    .map(String::from)
    .collect();
    assert_eq!(seen, want);
    // The values are still readable in their quoted form.
    let (_, r) = &token_cases[2];
    assert_eq!(
        r.json()["error_description"],
        "grant_type '%22x%5C%C3%A9%22' is not supported here; use one of authorization_code, refresh_token, client_credentials"
    );
}
