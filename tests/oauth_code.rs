//! The authorization-code flow (issue 4): authorize, consent, codes, PKCE, refresh rotation,
//! registration, revocation and the owner's commands, against the real binary.

use crate::flow::{
    auth_params, authorize, consent_form, enc, issuer, location_params, mcp_status, post_consent,
    query, token, CLAUDE_CALLBACK, VERIFIER,
};
use crate::util::{Response, Server, CLIENT_ID, CLIENT_SECRET, OWNER_PASSWORD};

/// A code for the pre-registered client (no owner password: approved without a page).
fn code_for_preregistered(s: &Server, redirect: &str) -> String {
    let r = authorize(s, &auth_params(CLIENT_ID, redirect));
    let (_, p) = location_params(&r);
    p["code"].clone()
}

fn redeem(s: &Server, code: &str, redirect: Option<&str>) -> Response {
    let mut f = vec![
        ("grant_type", "authorization_code"),
        ("code", code),
        ("code_verifier", VERIFIER),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    if let Some(r) = redirect {
        f.push(("redirect_uri", r));
    }
    token(s, &f)
}

#[test]
fn preregistered_client_is_approved_without_a_page_and_gets_state_and_iss() {
    let s = Server::start();
    let r = authorize(&s, &auth_params(CLIENT_ID, CLAUDE_CALLBACK));
    let (base, p) = location_params(&r);
    assert_eq!(base, CLAUDE_CALLBACK);
    assert_eq!(p["state"], "st&ate=1 x");
    assert_eq!(p["iss"], issuer(&s));
    assert_eq!(p["code"].len(), 43);
    assert_eq!(r.header("cache-control"), Some("no-store"));
    // Claude Code: a loopback redirect on any port and path.
    for cb in [
        "http://localhost:53682/callback",
        "http://127.0.0.1:1/x",
        "http://[::1]:9999/cb",
    ] {
        let (base, _) = location_params(&authorize(&s, &auth_params(CLIENT_ID, cb)));
        assert_eq!(base, cb);
    }
}

#[test]
fn unknown_client_or_redirect_is_a_page_never_a_redirect() {
    let s = Server::builder()
        .env("OAUTH_REDIRECT_URIS", "https://app.example.com/cb")
        .start();
    let r = authorize(&s, &auth_params("nobody", CLAUDE_CALLBACK));
    assert_eq!(r.status, 400);
    assert!(r.header("location").is_none());
    assert!(
        r.body_str().contains("Unknown client_id"),
        "{}",
        r.body_str()
    );
    for bad in [
        "https://evil.example/cb",
        "https://claude.ai/api/mcp/auth_callback/../x",
        "http://example.com/callback",
        "https://localhost.evil.example/callback",
        "not a url",
    ] {
        let r = authorize(&s, &auth_params(CLIENT_ID, bad));
        assert_eq!(r.status, 400, "{bad}");
        assert!(r.header("location").is_none(), "{bad}");
        assert!(r.body_str().contains("redirect_uri"), "{bad}");
    }
    let (base, _) = location_params(&authorize(
        &s,
        &auth_params(CLIENT_ID, "https://app.example.com/cb"),
    ));
    assert_eq!(base, "https://app.example.com/cb");
    let mut p = auth_params(CLIENT_ID, CLAUDE_CALLBACK);
    p.retain(|(k, _)| *k != "redirect_uri");
    assert_eq!(authorize(&s, &p).status, 400);
}

#[test]
fn errors_after_the_redirect_is_trusted_go_back_with_state_and_iss() {
    let s = Server::start();
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("response_type", "token")],
            "unsupported_response_type",
        ),
        (vec![("code_challenge", "")], "invalid_request"),
        (vec![("code_challenge_method", "plain")], "invalid_request"),
        (vec![("code_challenge_method", "")], "invalid_request"),
        (
            vec![("resource", "https://evil.example/mcp")],
            "invalid_target",
        ),
    ];
    for (change, want) in cases {
        let mut p = auth_params(CLIENT_ID, CLAUDE_CALLBACK);
        for (k, v) in &change {
            p.retain(|(pk, _)| pk != k);
            if !v.is_empty() {
                p.push((k, v));
            }
        }
        let (base, q) = location_params(&authorize(&s, &p));
        assert_eq!(base, CLAUDE_CALLBACK);
        assert_eq!(q["error"], want, "{change:?}");
        assert!(!q["error_description"].is_empty());
        assert_eq!(q["state"], "st&ate=1 x");
        assert_eq!(q["iss"], issuer(&s));
        assert!(!q.contains_key("code"));
    }
    // resource naming this server, and any scope, are fine.
    let res = format!("{}/mcp", issuer(&s));
    for r in [res.clone(), format!("{res}/"), issuer(&s)] {
        let mut p = auth_params(CLIENT_ID, CLAUDE_CALLBACK);
        p.push(("resource", &r));
        let (_, q) = location_params(&authorize(&s, &p));
        assert!(q.contains_key("code"), "{r}");
    }
}

#[test]
fn code_exchange_pkce_and_single_use() {
    let s = Server::start();
    // RFC 7636 Appendix B vector end to end.
    let code = code_for_preregistered(&s, CLAUDE_CALLBACK);
    let r = redeem(&s, &code, Some(CLAUDE_CALLBACK));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    assert_eq!(j["scope"], "mcp");
    assert_eq!(j["expires_in"], 3600);
    let access = j["access_token"].as_str().unwrap().to_string();
    assert!(j["refresh_token"].as_str().unwrap().len() > 40);
    assert_eq!(mcp_status(&s, &access), 200);

    // Replay: refused, and the tokens issued from the code are revoked.
    let r = redeem(&s, &code, None);
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
    assert_eq!(mcp_status(&s, &access), 401);
    s.assert_log_clean(&[&access, &code]);
}

#[test]
fn failed_client_auth_or_wrong_redirect_does_not_consume_the_code() {
    let s = Server::start();
    let code = code_for_preregistered(&s, CLAUDE_CALLBACK);
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("client_id", CLIENT_ID),
            ("client_secret", "wrong-secret-wrong-secret-wrong-secret"),
        ],
    );
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    let r = redeem(&s, &code, Some("https://claude.com/api/mcp/auth_callback"));
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
    // Leaving out redirect_uri when the authorization request had one is refused (RFC 6749
    // §4.1.3), and does not spend the code either.
    let r = redeem(&s, &code, None);
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));
    assert_eq!(
        r.json()["error_description"],
        "redirect_uri is required: the authorization request had one"
    );
    // The rightful redemption still works.
    let r = redeem(&s, &code, Some(CLAUDE_CALLBACK));
    assert_eq!(r.status, 200, "{r:?}");
}

#[test]
fn wrong_or_malformed_verifier_is_invalid_grant_and_spends_the_code() {
    let s = Server::start();
    for bad in [
        "x".repeat(43),
        VERIFIER[..42].to_string(),
        format!("{VERIFIER}!"),
        String::new(),
    ] {
        let code = code_for_preregistered(&s, CLAUDE_CALLBACK);
        let r = token(
            &s,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("code_verifier", &bad),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("redirect_uri", CLAUDE_CALLBACK),
            ],
        );
        let want = if bad.is_empty() {
            "invalid_request"
        } else {
            "invalid_grant"
        };
        assert_eq!((r.status, r.error().as_str()), (400, want), "{bad:?}");
    }
    let r = redeem(&s, "no-such-code", None);
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
}

#[test]
fn refresh_rotates_and_reuse_revokes_the_grant() {
    let mut s = Server::start();
    let code = code_for_preregistered(&s, CLAUDE_CALLBACK);
    let j = redeem(&s, &code, Some(CLAUDE_CALLBACK)).json();
    let r1 = j["refresh_token"].as_str().unwrap().to_string();
    let refresh = |rt: &str, s: &Server| {
        token(
            s,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", rt),
                ("client_id", CLIENT_ID),
                ("client_secret", CLIENT_SECRET),
                ("scope", "read write"),
            ],
        )
    };
    let r = refresh(&r1, &s);
    assert_eq!(r.status, 200, "{r:?}");
    let j2 = r.json();
    assert_eq!(j2["scope"], "mcp");
    let r2 = j2["refresh_token"].as_str().unwrap().to_string();
    let a2 = j2["access_token"].as_str().unwrap().to_string();
    assert_ne!(r1, r2);

    // Refresh tokens and their access tokens survive a restart.
    s.restart();
    assert_eq!(mcp_status(&s, &a2), 200);
    let r = refresh(&r2, &s);
    assert_eq!(r.status, 200, "{r:?}");
    let j3 = r.json();
    let r3 = j3["refresh_token"].as_str().unwrap().to_string();
    let a3 = j3["access_token"].as_str().unwrap().to_string();

    // The rotated r2 comes back: refused, and every token of the grant is revoked.
    let r = refresh(&r2, &s);
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
    assert_eq!(mcp_status(&s, &a3), 401);
    let r = refresh(&r3, &s);
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
    s.assert_log_clean(&[&r1, &r2, &r3, &a2, &a3]);
}

#[test]
fn consent_page_headers_password_and_csrf() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("BRAIN_AUTH_FAILURE_LIMIT", "3")
        .start();
    let page = authorize(&s, &auth_params(CLIENT_ID, CLAUDE_CALLBACK));
    assert_eq!(page.status, 200);
    assert_eq!(page.header("x-frame-options"), Some("DENY"));
    assert!(page
        .header("content-security-policy")
        .unwrap()
        .contains("frame-ancestors 'none'"));
    assert_eq!(page.header("cache-control"), Some("no-store"));
    assert!(page.header("access-control-allow-origin").is_none());
    assert!(page
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    let html = page.body_str();
    assert!(html.contains(CLIENT_ID), "names the client");
    assert!(
        html.contains("https://claude.ai"),
        "says where you will be sent"
    );
    assert!(html.contains("type=\"password\""));
    assert!(!html.contains("<script"), "works without JavaScript");

    // Wrong password: the page again, with an error and a fresh anti-forgery token.
    let again = post_consent(&s, &page, "not-the-password", "approve");
    assert_eq!(again.status, 403);
    assert!(again.body_str().contains("Wrong password"));
    // The first page's token was spent.
    let replayed = post_consent(&s, &page, OWNER_PASSWORD, "approve");
    assert_eq!(replayed.status, 400);
    // Parameters changed under the token: refused.
    let mut forged = consent_form(&again);
    for f in forged.iter_mut() {
        if f.0 == "redirect_uri" {
            f.1 = "http://localhost:1/steal".into();
        }
    }
    forged.push(("password".into(), OWNER_PASSWORD.into()));
    let body = forged
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    assert_eq!(s.post_form("/oauth/authorize", &[], &body).status, 400);

    // The right password: a code.
    let page = authorize(&s, &auth_params(CLIENT_ID, CLAUDE_CALLBACK));
    let ok = post_consent(&s, &page, OWNER_PASSWORD, "approve");
    let (_, q) = location_params(&ok);
    assert!(q.contains_key("code"));
    assert_eq!(q["state"], "st&ate=1 x");

    // Deny: access_denied back to the client.
    let page = authorize(&s, &auth_params(CLIENT_ID, CLAUDE_CALLBACK));
    let (_, q) = location_params(&post_consent(&s, &page, "", "deny"));
    assert_eq!(q["error"], "access_denied");

    // The limit of 3 counts like the token endpoint's: each of the 3 wrong passwords gets
    // the page and "Wrong password"; the attempt after them is 429, as a page (a person reads
    // it), even with the right password.
    let page = authorize(&s, &auth_params(CLIENT_ID, CLAUDE_CALLBACK));
    let second = post_consent(&s, &page, "wrong-again", "approve");
    assert_eq!(second.status, 403);
    let third = post_consent(&s, &second, "wrong-third", "approve");
    assert_eq!(third.status, 403);
    assert!(third.body_str().contains("Wrong password"));
    let limited = post_consent(&s, &third, OWNER_PASSWORD, "approve");
    assert_eq!(limited.status, 429);
    assert!(limited.header("retry-after").is_some());
    assert!(limited
        .header("content-type")
        .unwrap()
        .starts_with("text/html"));
    assert!(limited.body_str().contains("Too many failed attempts"));
    s.assert_log_clean(&[]);
}

fn register(s: &Server, body: &str) -> Response {
    s.request(
        "POST",
        "/oauth/register",
        &[("Content-Type", "application/json")],
        body.as_bytes(),
    )
}

#[test]
fn registration_only_with_owner_password() {
    let s = Server::start();
    assert_eq!(
        register(
            &s,
            r#"{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}"#
        )
        .status,
        404
    );
    let meta = s.get("/.well-known/oauth-authorization-server").json();
    assert!(meta.get("registration_endpoint").is_none());
    assert!(!meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&"none".into()));

    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let meta = s.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(
        meta["registration_endpoint"],
        format!("{}/oauth/register", issuer(&s))
    );
    assert!(meta["token_endpoint_auth_methods_supported"]
        .as_array()
        .unwrap()
        .contains(&"none".into()));
}

#[test]
fn registration_rules() {
    let mut s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let r = register(
        &s,
        r#"{"redirect_uris":["https://claude.ai/api/mcp/auth_callback"],"token_endpoint_auth_method":"client_secret_post","client_name":"Claude","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"scope":"claudeai"}"#,
    );
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(r.header("cache-control"), Some("no-store"));
    let j = r.json();
    assert_eq!(j["token_endpoint_auth_method"], "client_secret_post");
    assert_eq!(j["client_secret_expires_at"], 0);
    assert!(j["client_id_issued_at"].as_u64().unwrap() > 1_700_000_000);
    assert_eq!(j["client_name"], "Claude");
    assert_eq!(j["redirect_uris"][0], CLAUDE_CALLBACK);
    let id = j["client_id"].as_str().unwrap().to_string();
    let secret = j["client_secret"].as_str().unwrap().to_string();
    assert!(id
        .chars()
        .chain(secret.chars())
        .all(|c| c.is_ascii_alphanumeric() || "._~-".contains(c)));

    let public = register(
        &s,
        r#"{"redirect_uris":["http://localhost:3000/callback"],"token_endpoint_auth_method":"none"}"#,
    )
    .json();
    assert!(public.get("client_secret").is_none());
    assert_eq!(public["token_endpoint_auth_method"], "none");
    // Default method is client_secret_basic (RFC 7591 §2).
    let basic = register(&s, r#"{"redirect_uris":["https://app.example.com/cb"]}"#).json();
    assert_eq!(basic["token_endpoint_auth_method"], "client_secret_basic");

    for (body, want) in [
        (r#"{}"#, "invalid_redirect_uri"),
        (r#"{"redirect_uris":[]}"#, "invalid_redirect_uri"),
        (
            r#"{"redirect_uris":["http://example.com/cb"]}"#,
            "invalid_redirect_uri",
        ),
        (
            r#"{"redirect_uris":["https://a.example/cb#frag"]}"#,
            "invalid_redirect_uri",
        ),
        (r#"{"redirect_uris":[42]}"#, "invalid_redirect_uri"),
        (
            r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"private_key_jwt"}"#,
            "invalid_client_metadata",
        ),
        (
            r#"{"redirect_uris":["https://a.example/cb"],"grant_types":["password"]}"#,
            "invalid_client_metadata",
        ),
        (r#"[1,2]"#, "invalid_client_metadata"),
        (r#"not json"#, "invalid_client_metadata"),
    ] {
        let r = register(&s, body);
        assert_eq!((r.status, r.error().as_str()), (400, want), "{body}");
    }

    // A registered client's redirect URIs: exactly those, loopback on any port.
    let (base, _) = location_params(&post_consent(
        &s,
        &authorize(
            &s,
            &auth_params(
                public["client_id"].as_str().unwrap(),
                "http://localhost:4567/callback",
            ),
        ),
        OWNER_PASSWORD,
        "approve",
    ));
    assert_eq!(base, "http://localhost:4567/callback");
    assert_eq!(
        authorize(
            &s,
            &auth_params(
                public["client_id"].as_str().unwrap(),
                "http://localhost:4567/other"
            )
        )
        .status,
        400
    );
    assert_eq!(
        authorize(
            &s,
            &auth_params(&id, "https://claude.com/api/mcp/auth_callback")
        )
        .status,
        400
    );

    // Registered clients persist.
    s.restart();
    assert_eq!(
        authorize(&s, &auth_params(&id, CLAUDE_CALLBACK)).status,
        200
    );
    s.assert_log_clean(&[&secret]);
}

#[test]
fn registration_is_rate_limited_per_address() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let body = r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"none"}"#;
    for i in 0..20 {
        assert_eq!(register(&s, body).status, 201, "registration {i}");
    }
    let r = register(&s, body);
    assert_eq!((r.status, r.error().as_str()), (429, "too_many_requests"));
}

#[test]
fn public_client_full_flow_with_none() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let cb = "http://127.0.0.1:33333/callback";
    let reg = register(
        &s,
        &format!(r#"{{"redirect_uris":["{cb}"],"token_endpoint_auth_method":"none"}}"#),
    )
    .json();
    let id = reg["client_id"].as_str().unwrap();
    let page = authorize(&s, &auth_params(id, "http://127.0.0.1:40000/callback"));
    let (_, q) = location_params(&post_consent(&s, &page, OWNER_PASSWORD, "approve"));
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("code_verifier", VERIFIER),
            ("client_id", id),
            ("redirect_uri", "http://127.0.0.1:40000/callback"),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    assert_eq!(mcp_status(&s, j["access_token"].as_str().unwrap()), 200);
    // A public client cannot use client_credentials.
    let r = token(
        &s,
        &[("grant_type", "client_credentials"), ("client_id", id)],
    );
    assert_eq!((r.status, r.error().as_str()), (400, "unauthorized_client"));
}

#[test]
fn revocation() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let cc = token(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
    )
    .json();
    let access = cc["access_token"].as_str().unwrap();
    let revoke = |tok: &str, id: &str, secret: &str| {
        s.post_form(
            "/oauth/revoke",
            &[],
            &query(&[("token", tok), ("client_id", id), ("client_secret", secret)]),
        )
    };
    // Another client cannot revoke it.
    let other = register(
        &s,
        r#"{"redirect_uris":["https://a.example/cb"],"token_endpoint_auth_method":"client_secret_post"}"#,
    )
    .json();
    let (oid, osec) = (
        other["client_id"].as_str().unwrap(),
        other["client_secret"].as_str().unwrap(),
    );
    assert_eq!(revoke(access, oid, osec).status, 200);
    assert_eq!(mcp_status(&s, access), 200);
    // Its own client can.
    let r = revoke(access, CLIENT_ID, CLIENT_SECRET);
    assert_eq!(r.status, 200);
    assert_eq!(mcp_status(&s, access), 401);
    // Unknown tokens: 200 too. Wrong credentials: 401. No token: 400.
    assert_eq!(revoke("nonsense", CLIENT_ID, CLIENT_SECRET).status, 200);
    assert_eq!(revoke("nonsense", CLIENT_ID, "bad").status, 401);
    let r = s.post_form(
        "/oauth/revoke",
        &[],
        &query(&[("client_id", CLIENT_ID), ("client_secret", CLIENT_SECRET)]),
    );
    assert_eq!((r.status, r.error().as_str()), (400, "invalid_request"));

    // Revoking a refresh token ends its grant's access tokens.
    let page = authorize(&s, &auth_params(CLIENT_ID, CLAUDE_CALLBACK));
    let (_, q) = location_params(&post_consent(&s, &page, OWNER_PASSWORD, "approve"));
    let j = redeem(&s, &q["code"], Some(CLAUDE_CALLBACK)).json();
    let (a, rt) = (
        j["access_token"].as_str().unwrap(),
        j["refresh_token"].as_str().unwrap(),
    );
    assert_eq!(mcp_status(&s, a), 200);
    assert_eq!(revoke(rt, CLIENT_ID, CLIENT_SECRET).status, 200);
    assert_eq!(mcp_status(&s, a), 401);
}

/// claude.ai's sequence, step by step, as its servers and the user's browser perform it.
fn claude_ai_sequence(s: &Server, registered: bool) {
    // 1. POST /mcp without a token: 401 and the challenge.
    let r = s.request(
        "POST",
        "/mcp",
        &[("Content-Type", "application/json")],
        br#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"claude-ai","version":"0.1.0"}}}"#,
    );
    assert_eq!(r.status, 401);
    let challenge = r.header("www-authenticate").unwrap();
    let prm_url = challenge
        .split("resource_metadata=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap();
    let iss = issuer(s);
    assert_eq!(
        prm_url,
        format!("{iss}/.well-known/oauth-protected-resource/mcp")
    );
    // 2. The path-inserted protected-resource metadata, then the AS metadata.
    let prm = s
        .request(
            "GET",
            &prm_url[iss.len()..],
            &[("MCP-Protocol-Version", "2025-06-18")],
            b"",
        )
        .json();
    assert_eq!(prm["resource"], format!("{iss}/mcp"));
    let as_url = prm["authorization_servers"][0].as_str().unwrap();
    assert_eq!(as_url, iss);
    let meta = s.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(meta["issuer"], as_url);
    // 3. Registration (way B) or the pasted client (way A).
    let (id, secret) = if registered {
        let reg = register(
            s,
            r#"{"client_name":"claudeai","grant_types":["authorization_code","refresh_token"],"response_types":["code"],"token_endpoint_auth_method":"client_secret_post","scope":"claudeai","redirect_uris":["https://claude.ai/api/mcp/auth_callback"]}"#,
        );
        assert_eq!(reg.status, 201);
        let j = reg.json();
        (
            j["client_id"].as_str().unwrap().to_string(),
            j["client_secret"].as_str().unwrap().to_string(),
        )
    } else {
        (CLIENT_ID.to_string(), CLIENT_SECRET.to_string())
    };
    // 4. The browser: authorize with resource and scope=claudeai (and consent for way B).
    let resource = format!("{iss}/mcp");
    let mut p = auth_params(&id, CLAUDE_CALLBACK);
    p.push(("resource", &resource));
    let r = authorize(s, &p);
    let r = if registered {
        assert_eq!(r.status, 200);
        post_consent(s, &r, OWNER_PASSWORD, "approve")
    } else {
        r
    };
    let (_, q) = location_params(&r);
    assert_eq!(q["iss"], iss);
    // 5. Token with client_secret_post and resource.
    let t = token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", CLAUDE_CALLBACK),
            ("code_verifier", VERIFIER),
            ("client_id", &id),
            ("client_secret", &secret),
            ("resource", &resource),
        ],
    );
    assert_eq!(t.status, 200, "{t:?}");
    let t = t.json();
    // 6. tools/list with the bearer.
    let access = t["access_token"].as_str().unwrap();
    let r = s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {access}")),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2025-06-18"),
        ],
        br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.json()["result"]["tools"].as_array().unwrap().len() >= 5);
    // 7. Refresh, then the old refresh token fails.
    let old = t["refresh_token"].as_str().unwrap();
    let fresh = token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old),
            ("client_id", &id),
            ("client_secret", &secret),
            ("resource", &resource),
        ],
    );
    assert_eq!(fresh.status, 200, "{fresh:?}");
    let again = token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", old),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
    );
    assert_eq!(
        (again.status, again.error().as_str()),
        (400, "invalid_grant")
    );
}

#[test]
fn claude_ai_sequence_with_pasted_client() {
    let s = Server::start();
    claude_ai_sequence(&s, false);
    s.assert_log_clean(&[]);
}

#[test]
fn claude_ai_sequence_with_registration_and_consent() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    claude_ai_sequence(&s, true);
    s.assert_log_clean(&[]);
}

#[test]
fn owner_commands_work_while_the_server_runs() {
    let s = Server::start();
    let code = code_for_preregistered(&s, CLAUDE_CALLBACK);
    let access = redeem(&s, &code, Some(CLAUDE_CALLBACK)).json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(crate::util::bin())
            .args(args)
            .env("BRAIN_DATA_DIR", s.data_dir())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
        )
    };
    let (code, out) = run(&["grants"]);
    assert_eq!(code, Some(0), "{out}");
    assert!(out.contains(CLIENT_ID), "{out}");
    let (code, out) = run(&["revoke", CLIENT_ID]);
    assert_eq!(code, Some(0), "{out}");
    assert_eq!(mcp_status(&s, &access), 401);
    let (_, out) = run(&["grants"]);
    assert!(out.contains("no connected clients"), "{out}");
}
