//! `POST /oauth/token` with `grant_type=client_credentials` for the pre-registered client:
//! both client authentication methods, every error the issue names, the failure limiter, token
//! persistence and lifetime.

use serde_json::json;

use crate::util::{basic, basic_raw, Response, Server, CLIENT_ID, CLIENT_SECRET, TOKEN};

const FORM_CREDS: &str =
    "client_id=test-client&client_secret=test-client-secret-0123456789ABCDEFGHIJKLMNOP";

fn token_form(s: &Server, headers: &[(&str, &str)], form: &str) -> Response {
    s.post_form("/oauth/token", headers, form)
}

/// A successful token response, exactly as RFC 6749 §5.1 and the contract say. Returns the
/// access token.
fn assert_token_response(r: &Response, expires_in: u64) -> String {
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.header("pragma"), Some("no-cache"));
    let doc = r.json();
    let obj = doc.as_object().unwrap();
    let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    keys.sort();
    assert_eq!(keys, ["access_token", "expires_in", "scope", "token_type"]);
    assert_eq!(doc["token_type"], "Bearer");
    assert_eq!(doc["expires_in"], json!(expires_in));
    assert_eq!(doc["scope"], "mcp");
    let token = doc["access_token"].as_str().unwrap().to_string();
    assert!(token.len() >= 32, "{token}");
    assert_ne!(token, TOKEN);
    token
}

/// An OAuth error: status, `error`, JSON and `no-store`.
fn assert_oauth_error(r: &Response, status: u16, error: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.header("cache-control"), Some("no-store"));
    assert_eq!(r.error(), error, "{r:?}");
    assert!(r.json()["error_description"].is_string());
}

/// A JSON-RPC `ping` on `/mcp` with `token` as the bearer.
fn ping(s: &Server, token: &str) -> Response {
    s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#,
    )
}

fn assert_invalid_client(r: &Response) {
    assert_oauth_error(r, 401, "invalid_client");
    assert_eq!(
        r.header("www-authenticate"),
        Some(r#"Basic realm="brain-mcp""#)
    );
}

#[test]
fn form_encoded_credentials_200() {
    let s = Server::start();
    let r = token_form(
        &s,
        &[],
        &format!("grant_type=client_credentials&{FORM_CREDS}"),
    );
    let token = assert_token_response(&r, 3600);
    // Two requests give two different tokens.
    let r = token_form(
        &s,
        &[],
        &format!("grant_type=client_credentials&{FORM_CREDS}"),
    );
    assert_ne!(assert_token_response(&r, 3600), token);
    s.assert_log_clean(&[&token]);
}

#[test]
fn http_basic_200() {
    let s = Server::start();
    let auth = basic(CLIENT_ID, CLIENT_SECRET);
    let r = token_form(
        &s,
        &[("Authorization", &auth)],
        "grant_type=client_credentials",
    );
    let token = assert_token_response(&r, 3600);
    // A body client_id equal to the header's is fine: some clients send both.
    let r = token_form(
        &s,
        &[("Authorization", &auth)],
        &format!("grant_type=client_credentials&client_id={CLIENT_ID}"),
    );
    assert_token_response(&r, 3600);
    // A charset parameter on the Content-Type is fine.
    let r = s.request(
        "POST",
        "/oauth/token",
        &[
            ("Authorization", &auth),
            (
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            ),
        ],
        b"grant_type=client_credentials",
    );
    assert_token_response(&r, 3600);
    s.assert_log_clean(&[&token, &auth[6..]]);
}

#[test]
fn wrong_secret_401_invalid_client() {
    let s = Server::start();
    let wrong = "wrong-secret-0123456789abcdefghijklmnopqrst";
    let r = token_form(
        &s,
        &[],
        &format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={wrong}"),
    );
    assert_invalid_client(&r);
    let r = token_form(
        &s,
        &[("Authorization", &basic(CLIENT_ID, wrong))],
        "grant_type=client_credentials",
    );
    assert_invalid_client(&r);
    s.assert_log_clean(&[wrong]);
}

#[test]
fn unknown_client_and_wrong_secret_are_indistinguishable() {
    let s = Server::start();
    let wrong = token_form(
        &s,
        &[],
        &format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret=nope-nope-nope"
        ),
    );
    let unknown = token_form(
        &s,
        &[],
        &format!(
            "grant_type=client_credentials&client_id=someone-else&client_secret={CLIENT_SECRET}"
        ),
    );
    assert_invalid_client(&wrong);
    assert_invalid_client(&unknown);
    assert_eq!(wrong.body, unknown.body);
    assert_eq!(wrong.headers, unknown.headers);
    s.assert_log_clean(&[]);
}

#[test]
fn grant_type_password_400_unsupported_grant_type() {
    let s = Server::start();
    let r = token_form(
        &s,
        &[],
        &format!("grant_type=password&username=a&password=b&{FORM_CREDS}"),
    );
    assert_oauth_error(&r, 400, "unsupported_grant_type");
}

#[test]
fn basic_colon_only_401() {
    let s = Server::start();
    for raw in [&b":"[..], b"test-client:", b":secret"] {
        let r = token_form(
            &s,
            &[("Authorization", &basic_raw(raw))],
            "grant_type=client_credentials",
        );
        assert_invalid_client(&r);
    }
}

#[test]
fn no_credentials_401() {
    let s = Server::start();
    let r = token_form(&s, &[], "grant_type=client_credentials");
    assert_invalid_client(&r);
}

#[test]
fn undecodable_basic_credentials_401() {
    let s = Server::start();
    let bad: [String; 6] = [
        "Basic !!!not-base64!!!".into(),
        "Basic".into(),
        basic_raw(b"no-colon-here"),
        basic_raw(b"test-client:%zz"),
        basic_raw(b"test-client:%4"),
        basic_raw(b"test-client:\xff\xfe"),
    ];
    for auth in &bad {
        let r = token_form(
            &s,
            &[("Authorization", auth)],
            "grant_type=client_credentials",
        );
        assert_invalid_client(&r);
    }
    // Form-encoded credentials in Basic decode (RFC 6749 §2.3.1): %2D is "-".
    let encoded = basic("test%2Dclient", CLIENT_SECRET);
    let r = token_form(
        &s,
        &[("Authorization", &encoded)],
        "grant_type=client_credentials",
    );
    assert_token_response(&r, 3600);
}

/// Extra request headers.
type Headers<'a> = Vec<(&'a str, &'a str)>;

#[test]
fn malformed_requests_400_invalid_request() {
    let s = Server::start();
    let auth = basic(CLIENT_ID, CLIENT_SECRET);
    let cases: Vec<(&str, Headers, String)> = vec![
        ("missing grant_type", vec![], FORM_CREDS.to_string()),
        (
            "duplicated grant_type",
            vec![],
            format!("grant_type=client_credentials&grant_type=client_credentials&{FORM_CREDS}"),
        ),
        (
            "duplicated client_id",
            vec![],
            format!("grant_type=client_credentials&client_id={CLIENT_ID}&{FORM_CREDS}"),
        ),
        (
            "secret in both Basic and body",
            vec![("Authorization", auth.as_str())],
            format!("grant_type=client_credentials&client_secret={CLIENT_SECRET}"),
        ),
        (
            "different client_id in body and Basic",
            vec![("Authorization", auth.as_str())],
            "grant_type=client_credentials&client_id=other-client".to_string(),
        ),
        (
            "two Authorization headers",
            vec![
                ("Authorization", auth.as_str()),
                ("Authorization", auth.as_str()),
            ],
            "grant_type=client_credentials".to_string(),
        ),
    ];
    for (what, headers, form) in cases {
        let r = token_form(&s, &headers, &form);
        assert_eq!(r.status, 400, "{what}: {r:?}");
        assert_oauth_error(&r, 400, "invalid_request");
    }
    s.assert_log_clean(&[&auth[6..]]);
}

#[test]
fn credentials_in_query_string_400() {
    let s = Server::start();
    let r = s.post_form(
        &format!("/oauth/token?client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"),
        &[],
        "grant_type=client_credentials",
    );
    assert_oauth_error(&r, 400, "invalid_request");
    s.assert_log_clean(&[]);
}

#[test]
fn non_form_content_type_400() {
    let s = Server::start();
    let body = format!(r#"{{"grant_type":"client_credentials","client_id":"{CLIENT_ID}"}}"#);
    for ct in [Some("application/json"), Some("text/plain"), None] {
        let headers: Vec<(&str, &str)> = ct.map(|c| ("Content-Type", c)).into_iter().collect();
        let r = s.request("POST", "/oauth/token", &headers, body.as_bytes());
        assert_oauth_error(&r, 400, "invalid_request");
    }
}

#[test]
fn foreign_resource_400_invalid_target() {
    let s = Server::start();
    for res in [
        "https://evil.example/mcp",
        "http://127.0.0.1:1/mcp",
        "https%3A%2F%2Fevil.example%2Fmcp",
    ] {
        let r = token_form(
            &s,
            &[],
            &format!("grant_type=client_credentials&{FORM_CREDS}&resource={res}"),
        );
        assert_oauth_error(&r, 400, "invalid_target");
    }
}

#[test]
fn own_resource_or_issuer_200() {
    let s = Server::start();
    let iss = format!("http://{}", s.addr);
    let res = format!("{iss}/mcp");
    for r in [
        res.clone(),
        format!("{res}/"),
        iss.clone(),
        format!("{iss}/"),
    ] {
        let enc: String = form_urlencoded_value(&r);
        let resp = token_form(
            &s,
            &[],
            &format!("grant_type=client_credentials&{FORM_CREDS}&resource={enc}"),
        );
        assert_token_response(&resp, 3600);
    }
}

/// Percent-encodes the reserved characters a URL carries, as a form encoder would.
fn form_urlencoded_value(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[test]
fn any_scope_is_granted_as_mcp() {
    let s = Server::start();
    for scope in ["anything", "mcp", "read write admin", "openid%20profile"] {
        let r = token_form(
            &s,
            &[],
            &format!("grant_type=client_credentials&{FORM_CREDS}&scope={scope}"),
        );
        assert_token_response(&r, 3600);
    }
}

#[test]
fn get_token_endpoint_405() {
    let s = Server::start();
    let r = s.get("/oauth/token");
    assert_eq!(r.status, 405);
    assert!(r.header("allow").unwrap().starts_with("POST"), "{r:?}");
}

#[test]
fn body_over_64k_413() {
    let s = Server::start();
    let form = format!(
        "grant_type=client_credentials&{FORM_CREDS}&scope={}",
        "a".repeat(64 * 1024)
    );
    let r = token_form(&s, &[], &form);
    assert_eq!(r.status, 413);
    assert!(r.closes());
    s.assert_healthy();
}

#[test]
fn failure_limit_gives_429_and_ignores_untrusted_forwarded_for() {
    let s = Server::builder()
        .env("BRAIN_AUTH_FAILURE_LIMIT", "3")
        .start();
    let bad = "grant_type=client_credentials&client_id=test-client&client_secret=wrong-wrong";
    for _ in 0..3 {
        assert_invalid_client(&token_form(&s, &[], bad));
    }
    let r = token_form(&s, &[], bad);
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.error(), "too_many_requests");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let wait: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=300).contains(&wait), "{wait}");
    // Good credentials from the blocked address wait too.
    let good = format!("grant_type=client_credentials&{FORM_CREDS}");
    assert_eq!(token_form(&s, &[], &good).status, 429);
    // X-Forwarded-For from a peer that is not a trusted proxy changes nothing.
    let r = token_form(&s, &[("X-Forwarded-For", "203.0.113.7")], &good);
    assert_eq!(r.status, 429);
    // Other endpoints are not limited.
    s.assert_healthy();
}

#[test]
fn trusted_proxy_forwarded_for_addresses_are_limited_separately() {
    let s = Server::builder()
        .env("BRAIN_AUTH_FAILURE_LIMIT", "3")
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let bad = "grant_type=client_credentials&client_id=test-client&client_secret=wrong-wrong";
    let good = format!("grant_type=client_credentials&{FORM_CREDS}");
    let a = [("X-Forwarded-For", "203.0.113.1")];
    let b = [("X-Forwarded-For", "198.51.100.2, 203.0.113.2")];
    for _ in 0..3 {
        assert_invalid_client(&token_form(&s, &a, bad));
    }
    assert_eq!(token_form(&s, &a, bad).status, 429);
    assert_eq!(token_form(&s, &a, &good).status, 429);
    // Another client behind the same proxy is served as usual (rightmost untrusted address).
    assert_token_response(&token_form(&s, &b, &good), 3600);
    // The proxy itself (no header) is its own client.
    assert_token_response(&token_form(&s, &[], &good), 3600);
    // The leftmost entry is whatever the client chose; it does not escape the limit.
    let spoof = [("X-Forwarded-For", "192.0.2.99, 203.0.113.1")];
    assert_eq!(token_form(&s, &spoof, &good).status, 429);
    // Logs show the client address.
    s.wait_for_log("203.0.113.1 POST /oauth/token 429");
}

#[test]
fn restart_keeps_an_issued_token_valid() {
    let mut s = Server::start();
    let token = crate::util::issue_token(&s);
    s.restart();
    let r = ping(&s, &token);
    assert!(![400, 401, 403].contains(&r.status), "{r:?}");
    // Only hashes are stored: the token is nowhere in the data directory.
    for entry in std::fs::read_dir(s.data_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.is_file() {
            let bytes = std::fs::read(&path).unwrap();
            let text = String::from_utf8_lossy(&bytes);
            assert!(!text.contains(&token), "{} holds the token", path.display());
            assert!(!text.contains(CLIENT_SECRET) && !text.contains(TOKEN));
        }
    }
    s.assert_log_clean(&[&token]);
}

#[test]
fn access_token_ttl_sets_expires_in() {
    let s = Server::builder()
        .env("BRAIN_ACCESS_TOKEN_TTL", "60")
        .start();
    let r = token_form(
        &s,
        &[],
        &format!("grant_type=client_credentials&{FORM_CREDS}"),
    );
    assert_token_response(&r, 60);
}

#[test]
fn without_a_configured_client_every_client_is_unknown() {
    let s = Server::builder()
        .without("OAUTH_CLIENT_ID")
        .without("OAUTH_CLIENT_SECRET")
        .start();
    let r = token_form(
        &s,
        &[],
        &format!("grant_type=client_credentials&{FORM_CREDS}"),
    );
    assert_invalid_client(&r);
}

/// A client holds at most 100 live tokens: the 101st revokes its oldest, and the order holds
/// across a restart.
#[test]
fn the_101st_live_token_of_a_client_revokes_its_oldest() {
    let mut s = Server::start();
    let status = |s: &Server, token: &str| ping(s, token).status;
    let tokens: Vec<String> = (0..101).map(|_| crate::util::issue_token(&s)).collect();
    assert_eq!(status(&s, &tokens[0]), 401);
    assert_eq!(status(&s, &tokens[1]), 200);
    assert_eq!(status(&s, &tokens[100]), 200);
    s.restart();
    assert_eq!(status(&s, &tokens[0]), 401);
    assert_eq!(status(&s, &tokens[1]), 200);
    let newest = crate::util::issue_token(&s);
    assert_eq!(status(&s, &newest), 200);
    assert_eq!(status(&s, &tokens[1]), 401);
    assert_eq!(status(&s, &tokens[2]), 200);
}
