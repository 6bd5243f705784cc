//! Discovery: `/healthz`, RFC 9728 protected-resource metadata, RFC 8414 authorization-server
//! metadata, 405/404, and CORS on the public endpoints.

use serde_json::json;

use crate::util::Server;

#[test]
fn healthz_body() {
    let s = Server::start();
    let r = s.get("/healthz");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body_str(), r#"{"status":"ok"}"#);
}

#[test]
fn protected_resource_metadata_at_both_paths() {
    let s = Server::start();
    let iss = format!("http://{}", s.addr);
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = s.get(path);
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        let doc = r.json();
        assert_eq!(doc["resource"], json!(format!("{iss}/mcp")));
        assert_eq!(doc["authorization_servers"], json!([iss]));
        assert_eq!(doc["bearer_methods_supported"], json!(["header"]));
        assert_eq!(doc["scopes_supported"], json!(["mcp"]));
    }
}

#[test]
fn authorization_server_metadata() {
    let s = Server::start();
    let pr = s.get("/.well-known/oauth-protected-resource/mcp").json();
    let r = s.get("/.well-known/oauth-authorization-server");
    assert_eq!(r.status, 200);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    let doc = r.json();
    let iss = doc["issuer"].as_str().unwrap().to_string();
    // Byte-identical to the protected resource's entry, no trailing slash.
    assert_eq!(json!(iss), pr["authorization_servers"][0]);
    assert_eq!(iss, format!("http://{}", s.addr));
    assert_eq!(
        doc["authorization_endpoint"],
        json!(format!("{iss}/oauth/authorize"))
    );
    assert_eq!(doc["token_endpoint"], json!(format!("{iss}/oauth/token")));
    assert_eq!(
        doc["revocation_endpoint"],
        json!(format!("{iss}/oauth/revoke"))
    );
    assert_eq!(doc["response_types_supported"], json!(["code"]));
    assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]));
    // offline_access for clients that ask for refresh tokens by scope (ChatGPT); never in the
    // protected-resource metadata (MCP 2026-07-28).
    assert_eq!(doc["scopes_supported"], json!(["mcp", "offline_access"]));
    assert_eq!(pr["scopes_supported"], json!(["mcp"]));
    assert_eq!(
        doc["authorization_response_iss_parameter_supported"],
        json!(true)
    );
    // Without an owner password nobody can consent, so client metadata documents are not
    // advertised either (a client that picked CIMD would be stuck at /authorize).
    assert_eq!(doc["client_id_metadata_document_supported"], json!(false));
    let methods = doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap();
    assert!(methods.contains(&json!("client_secret_post")));
    assert!(methods.contains(&json!("client_secret_basic")));
    // Registration is off without an owner password: neither the endpoint nor `none`.
    assert!(!methods.contains(&json!("none")));
    assert!(doc.get("registration_endpoint").is_none());
    let grants = doc["grant_types_supported"].as_array().unwrap();
    assert!(grants.contains(&json!("client_credentials")));
}

#[test]
fn owner_password_turns_registration_on_in_metadata() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", crate::util::OWNER_PASSWORD)
        .start();
    let doc = s.get("/.well-known/oauth-authorization-server").json();
    let iss = doc["issuer"].as_str().unwrap();
    assert_eq!(
        doc["registration_endpoint"],
        json!(format!("{iss}/oauth/register"))
    );
    assert!(doc["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&json!("none")));
    // claude.ai's two gates for CIMD: the flag and `none`.
    assert_eq!(doc["client_id_metadata_document_supported"], json!(true));
    s.assert_log_clean(&[]);
}

#[test]
fn public_resource_url_sets_issuer_and_challenge() {
    let s = Server::builder()
        .env("MCP_RESOURCE_URL", "https://brain.example.com/mcp")
        .start();
    let doc = s.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(doc["issuer"], json!("https://brain.example.com"));
    assert_eq!(
        doc["token_endpoint"],
        json!("https://brain.example.com/oauth/token")
    );
    let pr = s.get("/.well-known/oauth-protected-resource").json();
    assert_eq!(pr["resource"], json!("https://brain.example.com/mcp"));
    assert_eq!(
        pr["authorization_servers"],
        json!(["https://brain.example.com"])
    );
    // The challenge's resource_metadata is absolute, on the public origin.
    let r = s.request("POST", "/mcp", &[], b"{}");
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some(
            r#"Bearer realm="brain-mcp", resource_metadata="https://brain.example.com/.well-known/oauth-protected-resource/mcp", scope="mcp""#
        )
    );
}

#[test]
fn post_to_metadata_is_405_with_allow() {
    let s = Server::start();
    for path in [
        "/.well-known/oauth-protected-resource",
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = s.request("POST", path, &[], b"");
        assert_eq!(r.status, 405, "{path}");
        assert_eq!(r.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(r.error(), "method_not_allowed");
    }
    let r = s.request("POST", "/healthz", &[], b"");
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
}

#[test]
fn unknown_path_is_404() {
    let s = Server::start();
    // (`/` is the owner's landing page since issue 13: tests/web.rs.)
    for path in ["/nope", "/.well-known/openid-configuration", "/mcp/x"] {
        let r = s.get(path);
        assert_eq!(r.status, 404, "{path}");
        assert_eq!(
            r.json(),
            json!({"error": "not_found", "error_description": "no such endpoint"})
        );
    }
}

#[test]
fn cors_on_discovery_and_token() {
    let s = Server::start();
    let origin = [("Origin", "https://inspector.example")];
    for path in [
        "/.well-known/oauth-protected-resource/mcp",
        "/.well-known/oauth-authorization-server",
    ] {
        let r = s.request("GET", path, &origin, b"");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"), "{path}");
    }
    let r = s.post_form("/oauth/token", &origin, "grant_type=client_credentials");
    assert_eq!(r.status, 401);
    assert_eq!(r.header("access-control-allow-origin"), Some("*"));
    assert!(r
        .header("access-control-expose-headers")
        .unwrap_or("")
        .contains("WWW-Authenticate"));
}

#[test]
fn options_preflight_on_public_endpoints() {
    let s = Server::start();
    for path in [
        "/oauth/token",
        "/.well-known/oauth-authorization-server",
        "/.well-known/oauth-protected-resource/mcp",
    ] {
        let r = s.request(
            "OPTIONS",
            path,
            &[
                ("Origin", "https://inspector.example"),
                ("Access-Control-Request-Method", "POST"),
                ("Access-Control-Request-Headers", "content-type"),
            ],
            b"",
        );
        assert_eq!(r.status, 204, "{path}");
        assert_eq!(r.header("access-control-allow-origin"), Some("*"));
        assert!(r
            .header("access-control-allow-methods")
            .unwrap()
            .contains("POST"));
        assert!(r
            .header("access-control-allow-headers")
            .unwrap()
            .contains("Content-Type"));
        assert!(r.body.is_empty());
    }
}

#[test]
fn every_advertised_grant_type_is_supported() {
    let s = Server::start();
    let doc = s.get("/.well-known/oauth-authorization-server").json();
    for grant in doc["grant_types_supported"].as_array().unwrap() {
        let grant = grant.as_str().unwrap();
        let form = format!(
            "grant_type={grant}&code=x&refresh_token=x&code_verifier=x&redirect_uri=http://127.0.0.1/cb&client_id={}&client_secret={}",
            crate::util::CLIENT_ID,
            crate::util::CLIENT_SECRET
        );
        let r = s.post_form("/oauth/token", &[], &form);
        assert_ne!(
            r.error(),
            "unsupported_grant_type",
            "{grant} is advertised: {r:?}"
        );
    }
}
