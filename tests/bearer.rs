//! Bearer protection of `/mcp`: the challenge, malformed and unknown tokens, the static and
//! issued tokens, Origin and Host checks against DNS rebinding, CORS, and 405s.

use crate::util::{issue_token, Response, Server, CLIENT_ID, CLIENT_SECRET, TOKEN};

const INITIALIZE: &str = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"tests","version":"0"}}}"#;

/// `POST /mcp` with an initialize request and the given extra headers.
fn post_mcp(s: &Server, headers: &[(&str, &str)]) -> Response {
    let mut h = vec![
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    h.extend_from_slice(headers);
    s.request("POST", "/mcp", &h, INITIALIZE.as_bytes())
}

fn plain_challenge(s: &Server) -> String {
    format!(
        r#"Bearer realm="brain-mcp", resource_metadata="http://{}/.well-known/oauth-protected-resource/mcp", scope="mcp""#,
        s.addr
    )
}

/// The request got past authentication: the MCP handler answered.
fn assert_reached_mcp(r: &Response) {
    assert!(
        ![400, 401, 403].contains(&r.status),
        "expected the MCP handler to answer: {r:?}"
    );
    assert_eq!(r.header("www-authenticate"), None);
    // Whatever the handler says, it is JSON-RPC.
    assert_eq!(r.json()["jsonrpc"], "2.0", "{r:?}");
}

#[test]
fn no_authorization_is_401_with_the_plain_challenge() {
    let s = Server::start();
    let r = post_mcp(&s, &[]);
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    assert_eq!(challenge, plain_challenge(&s));
    assert!(!challenge.contains("error="));
    assert_eq!(r.header("content-type"), Some("application/json"));
}

#[test]
fn basic_scheme_is_the_plain_401() {
    let s = Server::start();
    let basic = crate::util::basic(CLIENT_ID, CLIENT_SECRET);
    let r = post_mcp(&s, &[("Authorization", &basic)]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(plain_challenge(&s).as_str())
    );
    s.assert_log_clean(&[&basic[6..]]);
}

#[test]
fn unknown_token_is_401_invalid_token() {
    let s = Server::start();
    let unknown = "unknown-token-0123456789abcdefghijklmnop";
    let r = post_mcp(&s, &[("Authorization", &format!("Bearer {unknown}"))]);
    assert_eq!(r.status, 401);
    let c = r.header("www-authenticate").unwrap();
    assert!(c.starts_with(&plain_challenge(&s)), "{c}");
    assert!(c.contains(r#"error="invalid_token""#), "{c}");
    assert_eq!(r.error(), "invalid_token");
    s.assert_log_clean(&[unknown]);
}

#[test]
fn malformed_authorization_is_400_invalid_request() {
    let s = Server::start();
    for bad in [
        "Bearer",
        "Bearer ",
        "Bearer a b",
        "Bearer tok\u{1}en",
        "Bearer tok@en!",
        "Bearer \"quoted\"",
    ] {
        let r = post_mcp(&s, &[("Authorization", bad)]);
        assert_eq!(r.status, 400, "{bad:?}: {r:?}");
        assert_eq!(r.error(), "invalid_request", "{bad:?}");
    }
    s.assert_healthy();
}

#[test]
fn two_authorization_headers_are_400() {
    let s = Server::start();
    let auth = format!("Bearer {TOKEN}");
    let r = post_mcp(&s, &[("Authorization", &auth), ("Authorization", &auth)]);
    assert_eq!(r.status, 400);
    assert_eq!(r.error(), "invalid_request");
    s.assert_log_clean(&[]);
}

#[test]
fn token_in_query_string_is_ignored() {
    let s = Server::start();
    let mut h = vec![("Content-Type", "application/json")];
    h.push(("Accept", "application/json, text/event-stream"));
    let r = s.request(
        "POST",
        &format!("/mcp?access_token={TOKEN}"),
        &h,
        INITIALIZE.as_bytes(),
    );
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(plain_challenge(&s).as_str())
    );
    s.assert_log_clean(&[]);
}

#[test]
fn static_token_reaches_the_mcp_handler() {
    let s = Server::start();
    let r = post_mcp(&s, &[("Authorization", &format!("Bearer {TOKEN}"))]);
    assert_reached_mcp(&r);
    // The scheme is case-insensitive (RFC 9110 §11.1).
    let r = post_mcp(&s, &[("Authorization", &format!("bearer {TOKEN}"))]);
    assert_reached_mcp(&r);
    s.assert_log_clean(&[]);
}

#[test]
fn issued_client_credentials_token_reaches_the_mcp_handler() {
    let s = Server::start();
    let token = issue_token(&s);
    assert_ne!(token, TOKEN);
    let r = post_mcp(&s, &[("Authorization", &format!("Bearer {token}"))]);
    assert_reached_mcp(&r);
    s.assert_log_clean(&[&token]);
}

#[test]
fn foreign_origin_is_403() {
    let s = Server::start();
    let auth = format!("Bearer {TOKEN}");
    for origin in [
        "https://evil.example",
        "null",
        "http://127.0.0.1.evil.example",
    ] {
        let r = post_mcp(&s, &[("Authorization", &auth), ("Origin", origin)]);
        assert_eq!(r.status, 403, "{origin}");
        assert_eq!(r.error(), "forbidden");
        assert_eq!(r.header("access-control-allow-origin"), None);
    }
    // Even without credentials, the Origin is checked first.
    let r = post_mcp(&s, &[("Origin", "https://evil.example")]);
    assert_eq!(r.status, 403);
}

#[test]
fn loopback_origin_gets_cors_headers() {
    let s = Server::start();
    let auth = format!("Bearer {TOKEN}");
    for origin in [
        "http://localhost:6274",
        "http://127.0.0.1:3000",
        "http://[::1]:8080",
    ] {
        let r = post_mcp(&s, &[("Authorization", &auth), ("Origin", origin)]);
        assert_reached_mcp(&r);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
        let expose = r.header("access-control-expose-headers").unwrap();
        assert!(expose.contains("WWW-Authenticate") && expose.contains("Mcp-Session-Id"));
        assert_eq!(r.header("vary"), Some("Origin"));
    }
    // A 401 to an allowed origin is readable by the page, challenge included.
    let r = post_mcp(&s, &[("Origin", "http://localhost:6274")]);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:6274")
    );
}

#[test]
fn configured_allowed_origin_is_allowed() {
    let s = Server::builder()
        .env(
            "BRAIN_ALLOWED_ORIGINS",
            "https://app.example.com, https://other.example",
        )
        .start();
    let auth = format!("Bearer {TOKEN}");
    for origin in ["https://app.example.com", "https://other.example"] {
        let r = post_mcp(&s, &[("Authorization", &auth), ("Origin", origin)]);
        assert_reached_mcp(&r);
        assert_eq!(r.header("access-control-allow-origin"), Some(origin));
    }
    let r = post_mcp(
        &s,
        &[
            ("Authorization", &auth),
            ("Origin", "https://app.example.com.evil"),
        ],
    );
    assert_eq!(r.status, 403);
}

#[test]
fn preflight_on_mcp() {
    let s = Server::start();
    let r = s.request(
        "OPTIONS",
        "/mcp",
        &[
            ("Origin", "http://localhost:6274"),
            ("Access-Control-Request-Method", "POST"),
            (
                "Access-Control-Request-Headers",
                "authorization, content-type",
            ),
        ],
        b"",
    );
    assert_eq!(r.status, 204);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("http://localhost:6274")
    );
    let allowed = r.header("access-control-allow-headers").unwrap();
    assert!(allowed.contains("Authorization") && allowed.contains("Mcp-Session-Id"));
    assert!(r
        .header("access-control-allow-methods")
        .unwrap()
        .contains("POST"));
    let r = s.request(
        "OPTIONS",
        "/mcp",
        &[
            ("Origin", "https://evil.example"),
            ("Access-Control-Request-Method", "POST"),
        ],
        b"",
    );
    assert_eq!(r.status, 403);
}

#[test]
fn host_naming_another_host_is_403() {
    let s = Server::start();
    let auth = format!("Bearer {TOKEN}");
    for host in ["evil.example", "evil.example:80", "brain.example.com"] {
        let mut c = s.connect();
        c.send(&crate::util::raw_request(
            host,
            "POST",
            "/mcp",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
            ],
            INITIALIZE.as_bytes(),
            true,
        ));
        let r = c.read_response();
        assert_eq!(r.status, 403, "{host}");
        assert_eq!(r.error(), "forbidden");
    }
    // Loopback names are fine whatever the port.
    for host in ["localhost:1", "127.0.0.1", "[::1]:9"] {
        let mut c = s.connect();
        c.send(&crate::util::raw_request(
            host,
            "POST",
            "/mcp",
            &[
                ("Authorization", &auth),
                ("Content-Type", "application/json"),
                ("Accept", "application/json, text/event-stream"),
            ],
            INITIALIZE.as_bytes(),
            true,
        ));
        assert_reached_mcp(&c.read_response());
    }
}

#[test]
fn public_host_is_accepted_when_it_is_the_resource_host() {
    let s = Server::builder()
        .env("MCP_RESOURCE_URL", "https://brain.example.com/mcp")
        .start();
    let mut c = s.connect();
    c.send(&crate::util::raw_request(
        "brain.example.com",
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("Origin", "https://brain.example.com"),
        ],
        INITIALIZE.as_bytes(),
        true,
    ));
    let r = c.read_response();
    assert_reached_mcp(&r);
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://brain.example.com")
    );
}

#[test]
fn get_and_delete_mcp_are_405_with_allow() {
    let s = Server::start();
    let auth = format!("Bearer {TOKEN}");
    for method in ["GET", "DELETE", "PUT"] {
        let r = s.request(
            method,
            "/mcp",
            &[("Authorization", &auth), ("Accept", "text/event-stream")],
            b"",
        );
        assert_eq!(r.status, 405, "{method}");
        assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    }
    // Without credentials the answer is the challenge, not a hint about methods.
    let r = s.request("GET", "/mcp", &[], b"");
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").is_some());
}
