//! External JWT access tokens on `/mcp` (`BRAIN_OIDC_ISSUER`), through the real binary:
//! - a real OpenID provider, npm `oidc-provider` (tests/oidc/provider.mjs), issuing RFC 9068
//!   access tokens and ID tokens, used with raw requests and with the MCP TypeScript SDK;
//! - Dex-shaped tokens and keys (RS256, `aud` a client ID, no `typ`, five keys, a key used
//!   before it is published), signed by Node's crypto and served by the test's own discovery
//!   and JWKS server ([`idp::Idp`]), with every refusal by name;
//! - the outbound client against that server over HTTPS with a CA made for the test
//!   (`BRAIN_TLS_CA_FILE`): size cap, total deadline, no redirect followed, special-use
//!   address refusal;
//! - the provider down at start and coming back; `check-config` and `oidc-whoami`.

pub(crate) mod idp;
mod signin;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};

use crate::util::{bin, minimal_env, run, temp_dir, Response, Server, ServerBuilder, TOKEN};
use idp::{dex_kid, published, sign, Idp, Job, Mode, NodeProvider, Tls};

/// The owner's Dex subject: base64 of (user ID, connector ID), as in Dex's docs
/// (dexidp/website content/docs/configuration/tokens.md).
const DEX_SUB: &str = "CgcyMzQyNzQ5EgZnaXRodWI";
/// brain-mcp's own Dex client, the cross-client audience (README "Dex").
const DEX_AUD: &str = "brain-mcp";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// `POST /mcp tools/list` with a bearer token.
fn tools_list(s: &Server, token: &str) -> Response {
    mcp(
        s,
        token,
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#,
    )
}

fn mcp(s: &Server, token: &str, body: &str) -> Response {
    s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {token}")),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2025-06-18"),
        ],
        body.as_bytes(),
    )
}

fn assert_accepted(s: &Server, token: &str) {
    let r = tools_list(s, token);
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.json()["result"]["tools"]
            .as_array()
            .is_some_and(|t| !t.is_empty()),
        "{r:?}"
    );
}

/// The exact challenge of a refused token.
fn invalid_token_challenge(s: &Server) -> String {
    format!(
        r#"Bearer realm="brain-mcp", resource_metadata="http://{}/.well-known/oauth-protected-resource/mcp", scope="mcp", error="invalid_token", error_description="the access token is unknown, expired or revoked""#,
        s.addr
    )
}

/// The token gets the usual `401 invalid_token`, the log says `reason`, and the log never
/// holds the token.
fn assert_refused(s: &Server, token: &str, reason: &str) {
    let r = tools_list(s, token);
    assert_eq!(r.status, 401, "{reason}: {r:?}");
    assert_eq!(
        r.header("www-authenticate"),
        Some(invalid_token_challenge(s).as_str()),
        "{reason}"
    );
    assert_eq!(r.error(), "invalid_token");
    let log = s.wait_for_log(reason);
    assert!(
        log.lines()
            .any(|l| l.contains("oidc: token refused: ") && l.contains(reason)),
        "no refusal line with {reason:?}:\n{log}"
    );
    s.assert_log_clean(&[token]);
    // The signature alone must not be in the log either (a token's distinctive part).
    let sig = token.rsplit('.').next().unwrap_or(token);
    if sig.len() > 16 {
        s.assert_log_clean(&[sig]);
    }
}

/// Waits up to `secs` for the server log to contain `needle`.
fn wait_log(s: &Server, needle: &str, secs: u64) -> String {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let log = s.log();
        if log.contains(needle) {
            return log;
        }
        if Instant::now() > deadline {
            panic!("the log never contained {needle:?} within {secs} s:\n{log}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ---------------------------------------------------------------------------------------
// The real provider: npm oidc-provider.

fn brain_for(issuer: &str) -> ServerBuilder {
    Server::builder()
        .env("BRAIN_OIDC_ISSUER", issuer)
        .env("BRAIN_AUTH_FAILURE_LIMIT", "0")
}

#[test]
fn real_provider_client_credentials_tokens_open_mcp_es256_and_rs256() {
    for alg in ["ES256", "RS256"] {
        let p = NodeProvider::start(alg);
        let s = brain_for(&p.issuer)
            .env("BRAIN_OIDC_ALLOWED_SUBJECTS", "machine")
            .start();
        s.wait_for_log("oidc: keys loaded");
        let resource = format!("http://{}/mcp", s.addr);
        let token = p.machine_token(&resource);
        let header: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(token.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        assert_eq!(header["alg"], alg);
        assert_eq!(header["typ"], "at+jwt");
        assert_accepted(&s, &token);
        let r = mcp(
            &s,
            &token,
            r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"remember","arguments":{"text":"Provider tokens work.","tags":["oidc"]}}}"#,
        );
        assert_eq!(r.status, 200, "{r:?}");
        assert_eq!(r.json()["result"]["isError"], false, "{r:?}");
        // Verified once, then served from the cache: one acceptance line for two requests.
        let log = s.log();
        assert_eq!(
            log.matches("oidc: accepted a token for sub \"machine\"")
                .count(),
            1,
            "{log}"
        );
        // A token the provider issued for another resource is not ours.
        let other = p.machine_token("http://127.0.0.1:1/mcp");
        assert_refused(
            &s,
            &other,
            &format!(
                "aud \"http://127.0.0.1:1/mcp\" names none of \"{resource}\" (BRAIN_OIDC_AUDIENCE)"
            ),
        );
        s.assert_log_clean(&[&token, &other]);
    }
}

#[test]
fn the_typescript_sdk_uses_a_provider_token() {
    let p = NodeProvider::start("ES256");
    let s = brain_for(&p.issuer)
        .env("BRAIN_OIDC_ALLOWED_SUBJECTS", "machine")
        .start();
    s.wait_for_log("oidc: keys loaded");
    let out = idp::node_run(
        "sdk_client.mjs",
        &[&p.issuer, &format!("http://{}/mcp", s.addr)],
        "",
    );
    assert!(out.starts_with("ok 9 "), "{out}");
    s.wait_for_log("oidc: accepted a token for sub \"machine\" (client \"machine\"");
}

#[test]
fn real_provider_user_tokens_the_owner_rule_and_id_tokens() {
    let p = NodeProvider::start("RS256");
    // The machine client is a user of the provider too; the owner rule names alice only.
    let s = brain_for(&p.issuer)
        .env("BRAIN_OIDC_ALLOWED_SUBJECTS", "alice")
        .start();
    s.wait_for_log("oidc: keys loaded");
    let resource = format!("http://{}/mcp", s.addr);
    let login: Value =
        serde_json::from_str(&idp::node_run("login.mjs", &[&p.issuer, &resource], "")).unwrap();
    let access = login["access_token"].as_str().unwrap();
    let id_token = login["id_token"].as_str().unwrap();
    assert_accepted(&s, access);
    s.wait_for_log("oidc: accepted a token for sub \"alice\" (client \"webapp\"");
    assert_refused(
        &s,
        &p.machine_token(&resource),
        "the owner rule refuses it: sub \"machine\" is not in BRAIN_OIDC_ALLOWED_SUBJECTS",
    );
    // RFC 9068 §4 / RFC 8725 §3.12: an ID token is not an access token.
    assert_refused(&s, id_token, "typ is absent, not at+jwt");

    // The OpenID-style profile takes ID-token-shaped tokens whose aud is a client ID; here
    // the owner is named by verified email.
    let s2 = brain_for(&p.issuer)
        .env("BRAIN_OIDC_PROFILE", "oidc")
        .env("BRAIN_OIDC_AUDIENCE", "webapp")
        .env("BRAIN_OIDC_ALLOWED_EMAILS", "Alice@Example.com")
        .start();
    s2.wait_for_log("oidc: keys loaded");
    assert_accepted(&s2, id_token);
    assert_refused(&s2, access, "typ is \"at+jwt\", not absent or JWT");

    // oidc-whoami verifies the same way and prints the subject to copy into the rule.
    let out = whoami(
        &[
            ("BRAIN_OIDC_ISSUER", &p.issuer),
            ("BRAIN_OIDC_PROFILE", "oidc"),
            ("BRAIN_OIDC_AUDIENCE", "webapp"),
        ],
        id_token,
    );
    assert_eq!(out.0, Some(0), "{out:?}");
    assert!(
        out.1
            .contains("signature and claims verified (RS256 key rs1, profile oidc)"),
        "{out:?}"
    );
    assert!(
        out.1.contains("\"email\": \"alice@example.com\""),
        "{out:?}"
    );
    assert!(
        out.1.contains(
            "owner rule: none is set yet; BRAIN_OIDC_ALLOWED_SUBJECTS=alice would allow this token"
        ),
        "{out:?}"
    );
    s.assert_log_clean(&[access, id_token]);
    s2.assert_log_clean(&[access, id_token]);
}

/// Runs `brain-mcp oidc-whoami` with `env` and `stdin`: (exit code, stdout, stderr).
fn whoami(env: &[(&str, &str)], stdin: &str) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin())
        .arg("oidc-whoami")
        .env_clear()
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

// ---------------------------------------------------------------------------------------
// Dex-shaped tokens (dexidp/dex server/tokens/claims.go IDTokenClaims; server/signer):
// header {"alg":"RS256","kid":<40 hex>} without typ, aud the client ID (a string, or an
// array with azp for cross-client scopes), no client_id, no scope, no nbf, exp = iat + 24 h.

fn dex_header(kid: &str) -> String {
    json!({"alg": "RS256", "kid": kid}).to_string()
}

fn dex_claims(issuer: &str) -> Value {
    let t = now();
    json!({
        "iss": issuer,
        "sub": DEX_SUB,
        "aud": DEX_AUD,
        "exp": t + 86_400,
        "iat": t,
        "at_hash": "ZjU3NmYwNDRkNDQ3MjJlNA",
        "email": "owner@example.com",
        "email_verified": true,
        "groups": ["brain-owners"],
        "name": "Owner",
    })
}

fn job(key: &'static str, header: String, payload: &Value) -> Job {
    Job {
        key,
        how: "RS256",
        header,
        payload: payload.to_string(),
    }
}

fn dex_brain(issuer: &str) -> ServerBuilder {
    brain_for(issuer)
        .env("BRAIN_OIDC_PROFILE", "oidc")
        .env("BRAIN_OIDC_AUDIENCE", DEX_AUD)
        .env("BRAIN_OIDC_ALLOWED_SUBJECTS", DEX_SUB)
}

#[test]
fn dex_shaped_tokens_are_accepted_and_a_new_key_is_fetched_when_first_used() {
    // Dex's JWKS with default settings: the signing key and up to four demoted ones.
    let names = ["k0", "k1", "k2", "k3", "k4", "next"];
    let kids: Vec<String> = (0..6).map(|i| dex_kid(i as u8)).collect();
    let idp = Idp::start(vec![]);
    let iss = idp.issuer.clone();
    let mut cross = dex_claims(&iss);
    cross["aud"] = json!([DEX_AUD, "claude-ai"]);
    cross["azp"] = json!("claude-ai");
    let mut cross_no_azp = cross.clone();
    cross_no_azp.as_object_mut().unwrap().remove("azp");
    let signed = sign(
        &names.iter().map(|n| (*n, 2048)).collect::<Vec<_>>(),
        &[
            job("k0", dex_header(&kids[0]), &dex_claims(&iss)),
            job("k3", dex_header(&kids[3]), &dex_claims(&iss)),
            job("k0", dex_header(&kids[0]), &cross),
            job("k0", dex_header(&kids[0]), &cross_no_azp),
            job("next", dex_header(&kids[5]), &dex_claims(&iss)),
        ],
    );
    let five: Vec<Value> = (0..5)
        .map(|i| published(&signed.jwks[names[i]], &kids[i]))
        .collect();
    idp.set_keys(five.clone());
    let s = dex_brain(&iss).start();
    let log = s.wait_for_log("oidc: keys loaded");
    assert!(log.contains(&format!("{} (RS256)", kids[4])), "{log}");
    assert!(
        log.contains("next refresh in 600 s"),
        "Cache-Control max-age=600 obeyed: {log}"
    );
    let t = &signed.tokens;
    assert_accepted(&s, &t[0]);
    assert_accepted(&s, &t[1]);
    assert_accepted(&s, &t[2]);
    s.wait_for_log("(client \"claude-ai\"");
    assert_refused(&s, &t[3], "several audiences and no azp");

    // Dex rotates: the new key signs at once; the JWKS has it, brain-mcp's copy does not.
    let before = idp.jwks();
    let mut rotated = five.clone();
    rotated.insert(0, published(&signed.jwks["next"], &kids[5]));
    idp.set_keys(rotated);
    assert_accepted(&s, &t[4]);
    assert_eq!(
        idp.jwks(),
        before + 1,
        "exactly one refetch for the unknown kid"
    );
    // The old keys still verify, with no further fetch.
    assert_accepted(&s, &t[1]);
    assert_eq!(idp.jwks(), before + 1);
    s.assert_log_clean(&t.iter().map(String::as_str).collect::<Vec<_>>());
}

#[test]
fn a_key_never_published_is_refused_and_refetching_is_rate_limited() {
    let idp = Idp::start(vec![]);
    let iss = idp.issuer.clone();
    let kid = dex_kid(1);
    let mut jobs = vec![job(
        "unpublished",
        dex_header(&dex_kid(2)),
        &dex_claims(&iss),
    )];
    // Twenty tokens naming random key IDs: a flood of cache misses.
    for i in 0..20u8 {
        jobs.push(job(
            "published",
            dex_header(&dex_kid(100 + i)),
            &dex_claims(&iss),
        ));
    }
    jobs.push(job("published", dex_header(&kid), &dex_claims(&iss)));
    let signed = sign(&[("published", 2048), ("unpublished", 2048)], &jobs);
    idp.set_keys(vec![published(&signed.jwks["published"], &kid)]);
    let s = dex_brain(&iss).start();
    s.wait_for_log("oidc: keys loaded");
    let before = idp.jwks();
    assert_refused(
        &s,
        &signed.tokens[0],
        &format!(
            "no key with kid \"{}\", even after refetching the provider's keys",
            dex_kid(2)
        ),
    );
    assert_eq!(idp.jwks(), before + 1);
    for t in &signed.tokens[1..21] {
        let r = tools_list(&s, t);
        assert_eq!(r.status, 401);
    }
    s.wait_for_log("(the keys were refetched less than 30 s ago)");
    assert_eq!(idp.jwks(), before + 1, "no refetch within 30 s of the last");
    // The published key keeps working throughout.
    assert_accepted(&s, &signed.tokens[21]);
    s.assert_healthy();
}

#[test]
fn every_refusal_by_name() {
    let idp = Idp::start(vec![]);
    let iss = idp.issuer.clone();
    let kid = dex_kid(7);
    let small = dex_kid(8);
    let good = dex_claims(&iss);
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let t = now();
    let raw_dup_sub = good
        .to_string()
        .replacen('{', r#"{"sub":"someone-else","#, 1);
    let jobs = vec![
        job(
            "main",
            dex_header(&kid),
            &with("iss", json!(format!("{iss}/"))),
        ),
        job(
            "main",
            dex_header(&kid),
            &with("aud", json!("other-client")),
        ),
        job("main", dex_header(&kid), &with("exp", json!(t - 3600))),
        job("main", dex_header(&kid), &with("nbf", json!(t + 3600))),
        job(
            "main",
            dex_header(&kid),
            &with("exp", json!((t + 3600).to_string())),
        ),
        job(
            "main",
            dex_header(&kid),
            &with("sub", json!("someone-else")),
        ),
        Job {
            key: "main",
            how: "HS256-public-pem",
            header: json!({"alg": "HS256", "kid": kid}).to_string(),
            payload: good.to_string(),
        },
        job("small", dex_header(&small), &good),
        job(
            "main",
            dex_header(&kid),
            &with("pad", json!("x".repeat(9000))),
        ),
        Job {
            key: "main",
            how: "RS256",
            header: dex_header(&kid),
            payload: raw_dup_sub,
        },
        Job {
            key: "main",
            how: "RS256",
            header: format!(r#"{{"alg":"RS256","kid":"{kid}","alg":"none"}}"#),
            payload: good.to_string(),
        },
        job("main", dex_header(&kid), &good),
    ];
    let signed = sign(&[("main", 2048), ("small", 1024)], &jobs);
    idp.set_keys(vec![
        published(&signed.jwks["main"], &kid),
        published(&signed.jwks["small"], &small),
    ]);
    let s = dex_brain(&iss).start();
    let log = s.wait_for_log("oidc: keys loaded");
    assert!(
        log.contains(&format!(
            "skipped key \"{small}\": an RSA key of 1024 bits (at least 2048)"
        )),
        "{log}"
    );
    let tk = &signed.tokens;
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(json!({"alg": "none"}).to_string()),
        URL_SAFE_NO_PAD.encode(good.to_string())
    );
    let none_with_sig = format!(
        "{}.{}",
        &none[..none.len() - 1],
        tk[11].rsplit('.').next().unwrap()
    );
    let cases: Vec<(&str, String)> = vec![
        (
            &tk[0],
            format!(
                "iss \"{iss}/\" is not the configured issuer \"{iss}\" (compared byte for byte)"
            ),
        ),
        (
            &tk[1],
            "aud \"other-client\" names none of \"brain-mcp\" (BRAIN_OIDC_AUDIENCE)".into(),
        ),
        (&tk[2], "expired 3".into()),
        (&tk[3], "not valid for another 3".into()),
        (&tk[4], "exp is a string, not a number".into()),
        (
            &tk[5],
            "the owner rule refuses it: sub \"someone-else\" is not in BRAIN_OIDC_ALLOWED_SUBJECTS"
                .into(),
        ),
        (
            &tk[6],
            "alg \"HS256\" is not allowed (allowed: RS256, ES256)".into(),
        ),
        (
            &tk[7],
            format!("key \"{small}\" is not usable: an RSA key of 1024 bits (at least 2048)"),
        ),
        (&tk[8], "the token is longer than 8192 bytes".into()),
        (
            &tk[9],
            "the payload is not JSON (duplicate member \"sub\"".into(),
        ),
        (
            &tk[10],
            "the header is not JSON (duplicate member \"alg\"".into(),
        ),
        (
            &none,
            "alg \"none\" is never accepted (RFC 8725 §3.2)".into(),
        ),
        (
            &none_with_sig,
            "alg \"none\" is never accepted (RFC 8725 §3.2)".into(),
        ),
        (
            "eyJhbGciOiJSUzI1NiJ9.e30=.c2ln",
            "the payload segment is not unpadded base64url".into(),
        ),
        (
            "eyJhbGciOiJSUzI1NiJ9.e30.",
            "the signature segment is empty".into(),
        ),
        ("eyJub3QganNvbg.e30.c2ln", "the header is not JSON".into()),
    ];
    for (token, reason) in &cases {
        assert_refused(&s, token, reason);
    }
    // The signed original is fine, and the server served everything else meanwhile.
    assert_accepted(&s, &tk[11]);
    assert_accepted(&s, TOKEN);
    s.assert_healthy();
}

#[test]
fn failures_count_against_the_address() {
    let idp = Idp::start(vec![]);
    let iss = idp.issuer.clone();
    let kid = dex_kid(3);
    let mut bad = dex_claims(&iss);
    bad["aud"] = json!("nobody");
    let signed = sign(
        &[("k", 2048)],
        &[
            job("k", dex_header(&kid), &bad),
            job("k", dex_header(&kid), &dex_claims(&iss)),
        ],
    );
    idp.set_keys(vec![published(&signed.jwks["k"], &kid)]);
    let s = dex_brain(&iss).env("BRAIN_AUTH_FAILURE_LIMIT", "3").start();
    s.wait_for_log("oidc: keys loaded");
    for _ in 0..3 {
        assert_eq!(tools_list(&s, &signed.tokens[0]).status, 401);
    }
    // Blocked now, even with a good token; the static token is checked first and still works.
    let r = tools_list(&s, &signed.tokens[1]);
    assert_eq!(r.status, 429, "{r:?}");
    assert_eq!(r.error(), "too_many_requests");
    assert!(r
        .header("retry-after")
        .is_some_and(|v| v.parse::<u64>().is_ok_and(|n| (1..=300).contains(&n))));
    assert_accepted(&s, TOKEN);
    s.assert_healthy();
}

#[test]
fn the_provider_down_at_start_and_coming_back() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let iss = format!("http://127.0.0.1:{port}");
    let kid = dex_kid(9);
    let mut second = dex_claims(&iss);
    second["iat"] = json!(now() - 1);
    let signed = sign(
        &[("k", 2048)],
        &[
            job("k", dex_header(&kid), &dex_claims(&iss)),
            job("k", dex_header(&kid), &second),
        ],
    );
    let s = dex_brain(&iss).start();
    // The server is up and serves its own tokens while the provider is unreachable.
    s.wait_for_log("oidc: fetching the provider's keys failed: discovery");
    assert_accepted(&s, TOKEN);
    let issued = crate::util::issue_token(&s);
    assert_accepted(&s, &issued);
    assert_refused(
        &s,
        &signed.tokens[0],
        "the provider's keys are not loaded yet (discovery",
    );
    // The provider comes up; the fetcher retries (1 s, 2 s, 4 s ...) and finds it.
    let idp = Idp::start_on(port, vec![published(&signed.jwks["k"], &kid)]);
    wait_log(&s, "oidc: keys loaded", 20);
    assert_accepted(&s, &signed.tokens[0]);
    // Down again: the keys in memory keep working for a token not seen before.
    drop(idp);
    assert_accepted(&s, &signed.tokens[1]);
}

// ---------------------------------------------------------------------------------------
// The outbound client against a hostile or misconfigured provider, over HTTPS with a CA
// made for the test.

/// A Dex-shaped key and two different tokens it signed, for `issuer`.
fn one_key(issuer: &str, kid: &str) -> (Value, String, String) {
    let mut second = dex_claims(issuer);
    second["iat"] = json!(now() - 1);
    let signed = sign(
        &[("k", 2048)],
        &[
            job("k", dex_header(kid), &dex_claims(issuer)),
            job("k", dex_header(kid), &second),
        ],
    );
    (
        published(&signed.jwks["k"], kid),
        signed.tokens[0].clone(),
        signed.tokens[1].clone(),
    )
}

/// A TLS provider, a brain that trusts its CA, and a token it accepts.
fn tls_setup(mode: Mode) -> (Idp, Server, String) {
    let (idp, s, token, _) = tls_setup2(mode);
    (idp, s, token)
}

/// The same with a second token from the same key.
fn tls_setup2(mode: Mode) -> (Idp, Server, String, String) {
    let tls = Tls::new();
    let idp = Idp::start_tls(vec![], &tls);
    let (jwk, token, token2) = one_key(&idp.issuer, &dex_kid(4));
    idp.set_keys(vec![jwk]);
    idp.set_mode(mode);
    let dir = temp_dir("ca");
    let s = dex_brain(&idp.issuer)
        .env("BRAIN_TLS_CA_FILE", &tls.ca_file(&dir))
        .start();
    (idp, s, token, token2)
}

#[test]
fn https_with_a_private_ca_and_without_it() {
    let (idp, s, token) = tls_setup(Mode::Normal);
    s.wait_for_log("oidc: keys loaded from https://127.0.0.1:");
    assert_accepted(&s, &token);
    // Without BRAIN_TLS_CA_FILE the compiled-in roots do not know the test CA.
    let s2 = dex_brain(&idp.issuer).start();
    let log = s2.wait_for_log("oidc: fetching the provider's keys failed");
    assert!(
        log.contains("TLS: invalid peer certificate: UnknownIssuer"),
        "{log}"
    );
    assert_refused(
        &s2,
        &token,
        "the provider's keys are not loaded yet (discovery https://",
    );
}

#[test]
fn hostile_key_servers_end_within_their_limits() {
    let cases: Vec<(Mode, &str)> = vec![
        (Mode::Huge, "the response body is larger than 65536 bytes"),
        (Mode::Redirect, "unexpected response: status 302 (wanted 200)"),
        (Mode::Status(500), "unexpected response: status 500 (wanted 200)"),
        (
            Mode::ContentType("text/html"),
            "unexpected response: Content-Type \"text/html\" (wanted application/json or application/jwk-set+json)",
        ),
    ];
    for (mode, reason) in cases {
        let (idp, s, token) = tls_setup(mode.clone());
        let log = s.wait_for_log("oidc: fetching the provider's keys failed: keys https://");
        assert!(log.contains(reason), "{mode:?}: {log}");
        assert_refused(&s, &token, "the provider's keys are not loaded yet");
        if mode == Mode::Redirect {
            assert_eq!(
                idp.moved_hits.load(std::sync::atomic::Ordering::SeqCst),
                0,
                "a redirect was followed"
            );
        }
        s.assert_healthy();
    }
}

#[test]
fn a_trickling_key_server_meets_the_total_deadline_and_workers_stay_free() {
    let (_idp, s, _token) = tls_setup(Mode::Trickle);
    let t = Instant::now();
    // While the fetch thread waits on the trickle, requests are served.
    assert_accepted(&s, TOKEN);
    s.assert_healthy();
    let log = wait_log(
        &s,
        "oidc: fetching the provider's keys failed: keys https://",
        15,
    );
    assert!(log.contains("the total deadline passed"), "{log}");
    // 5 s total deadline; the failure is logged when it passes, not after the 100 s trickle.
    assert!(t.elapsed() < Duration::from_secs(12), "{:?}", t.elapsed());
}

#[test]
fn a_failed_refresh_keeps_the_last_good_keys() {
    let (idp, s, token, fresh) = tls_setup2(Mode::Normal);
    s.wait_for_log("oidc: keys loaded");
    assert_accepted(&s, &token);
    idp.set_mode(Mode::Status(500));
    // An unknown kid makes it refetch now; the refetch fails.
    let (_, stranger, _) = one_key(&idp.issuer, &dex_kid(5));
    assert_refused(&s, &stranger, "even after refetching");
    let log = s.wait_for_log("keeping 1 keys fetched");
    assert!(log.contains("unexpected response: status 500"), "{log}");
    // A token of the known key not seen before is verified with the kept keys.
    assert_accepted(&s, &fresh);
    // The server's log reaches the test through a reader thread: wait for the line.
    let deadline = Instant::now() + Duration::from_secs(5);
    while s.log().matches("oidc: accepted a token").count() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(s.log().matches("oidc: accepted a token").count(), 2);
}

#[test]
fn too_many_keys_are_cut_at_32() {
    let tls = Tls::new();
    let idp = Idp::start_tls(vec![], &tls);
    let (jwk, token, _) = one_key(&idp.issuer, &dex_kid(6));
    let mut keys = vec![jwk.clone()];
    for i in 0..39u8 {
        keys.push(published(&jwk, &dex_kid(200 + i)));
    }
    idp.set_keys(keys);
    let dir = temp_dir("ca");
    let s = dex_brain(&idp.issuer)
        .env("BRAIN_TLS_CA_FILE", &tls.ca_file(&dir))
        .start();
    let log = s.wait_for_log("oidc: keys loaded");
    assert!(
        log.contains("skipped 8 more keys ignored (at most 32)"),
        "{log}"
    );
    assert_accepted(&s, &token);
}

#[test]
fn a_jwks_uri_on_another_host_must_not_reach_special_use_addresses() {
    let tls = Tls::new();
    let idp = Idp::start_tls(vec![], &tls);
    let (jwk, token, _) = one_key(&idp.issuer, &dex_kid(10));
    idp.set_keys(vec![jwk]);
    // Discovery names a jwks_uri on "localhost": not the issuer's host (127.0.0.1), so a
    // document chose it, and it resolves to loopback.
    idp.state.lock().unwrap().jwks_uri =
        Some(format!("https://localhost:{}/keys", idp.addr.port()));
    let dir = temp_dir("ca");
    let ca = tls.ca_file(&dir);
    let s = dex_brain(&idp.issuer).env("BRAIN_TLS_CA_FILE", &ca).start();
    let log = s.wait_for_log("oidc: fetching the provider's keys failed");
    assert!(
        log.contains("refused: localhost resolves to ")
            && log.contains(", a special-use address (loopback "),
        "{log}"
    );
    assert_eq!(
        idp.jwks(),
        0,
        "nothing may be fetched from a refused address"
    );
    assert_refused(&s, &token, "the provider's keys are not loaded yet");
    // The test exception (the server itself on loopback, and the test says so).
    let s2 = dex_brain(&idp.issuer)
        .env("BRAIN_TLS_CA_FILE", &ca)
        .env("BRAIN_OUTBOUND_ALLOW_LOOPBACK", "1")
        .start();
    s2.wait_for_log("oidc: keys loaded from https://localhost:");
    assert_accepted(&s2, &token);
}

// ---------------------------------------------------------------------------------------
// Configuration, discovery documents, check-config.

#[test]
fn protected_resource_metadata_may_list_the_external_issuer_second() {
    let idp = Idp::start(vec![]);
    let s = dex_brain(&idp.issuer)
        .env("BRAIN_PRM_AUTHORIZATION_SERVERS", "self,external")
        .env(
            "BRAIN_OIDC_SCOPES",
            "openid offline_access audience:server:client_id:brain-mcp",
        )
        .start();
    let doc = s.get("/.well-known/oauth-protected-resource/mcp").json();
    assert_eq!(
        doc["authorization_servers"],
        json!([format!("http://{}", s.addr), idp.issuer])
    );
    assert_eq!(
        doc["scopes_supported"],
        json!([
            "mcp",
            "openid",
            "offline_access",
            "audience:server:client_id:brain-mcp"
        ])
    );
    // Without it, only brain-mcp's own server, as before.
    let s2 = dex_brain(&idp.issuer).start();
    let doc = s2.get("/.well-known/oauth-protected-resource").json();
    assert_eq!(
        doc["authorization_servers"],
        json!([format!("http://{}", s2.addr)])
    );
    assert_eq!(doc["scopes_supported"], json!(["mcp"]));
}

#[test]
fn bad_oidc_configuration_stops_the_start() {
    let dir = temp_dir("oidc-cfg");
    let base = minimal_env(&dir);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (
            vec![("BRAIN_OIDC_ISSUER", "https://auth.example")],
            "brain-mcp: configuration error: BRAIN_OIDC_ISSUER is set but no owner rule is: set BRAIN_OIDC_ALLOWED_SUBJECTS, BRAIN_OIDC_ALLOWED_EMAILS or BRAIN_OIDC_REQUIRED_GROUP, or anyone with an account at the provider could use this brain (`brain-mcp oidc-whoami` prints a token's subject)",
        ),
        (
            vec![("BRAIN_OIDC_ISSUER", "https://auth.example"), ("BRAIN_OIDC_ALLOWED_SUBJECTS", "a"), ("BRAIN_OIDC_ALGS", "RS256,none")],
            "brain-mcp: configuration error: BRAIN_OIDC_ALGS: \"none\" is not allowed: only RS256 and ES256 (never none or an HMAC)",
        ),
        (
            vec![("BRAIN_OIDC_ISSUER", "http://dex:5556"), ("BRAIN_OIDC_ALLOWED_SUBJECTS", "a")],
            "brain-mcp: configuration error: BRAIN_OIDC_ISSUER must use https:// (http:// only for a loopback host or one listed in BRAIN_OUTBOUND_HTTP_HOSTS; got \"http://dex:5556\")",
        ),
        (
            vec![("BRAIN_OIDC_ISSUER", "https://auth.example"), ("BRAIN_OIDC_ALLOWED_SUBJECTS", "a"), ("BRAIN_OIDC_PROFILE", "oidc")],
            "brain-mcp: configuration error: BRAIN_OIDC_AUDIENCE is required with BRAIN_OIDC_PROFILE=oidc: the client ID the provider puts in aud (with Dex's cross-client scope, brain-mcp's own client ID)",
        ),
        (
            vec![("BRAIN_TLS_CA_FILE", "/nonexistent/ca.pem")],
            "brain-mcp: configuration error: BRAIN_TLS_CA_FILE: /nonexistent/ca.pem: cannot read it",
        ),
        (
            vec![("BRAIN_OIDC_ALLOWED_SUBJECTS", "a")],
            "brain-mcp: configuration error: BRAIN_OIDC_ALLOWED_SUBJECTS is set but BRAIN_OIDC_ISSUER is not",
        ),
    ];
    for (extra, want) in cases {
        let mut env: Vec<(&str, String)> = base.clone();
        env.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        let out = run(&["serve"], &env);
        if out.code() != Some(1) || !out.stderr.starts_with(want) {
            out.fail(&format!("wanted exit 1 and {want:?}"));
        }
        assert!(!out.stderr.contains("listening"), "{}", out.stderr);
    }
    // An in-cluster plain-HTTP issuer is fine once listed.
    let mut env = base.clone();
    env.extend([
        ("BRAIN_OIDC_ISSUER", "http://dex.invalid:5556".to_string()),
        ("BRAIN_OIDC_ALLOWED_SUBJECTS", "a".to_string()),
        ("BRAIN_OUTBOUND_HTTP_HOSTS", "dex.invalid".to_string()),
    ]);
    let out = run(&["check-config"], &env);
    // The configuration parses; the probe fails (RFC 6761: .invalid never resolves).
    let want = "brain-mcp: oidc: cannot load the provider's keys: discovery http://dex.invalid:5556/.well-known/openid-configuration: ";
    if out.code() != Some(1)
        || !out.stderr.contains(want)
        || !out.stdout.contains("BRAIN_OUTBOUND_HTTP_HOSTS=dex.invalid")
    {
        out.fail("wanted the probe to fail on dex.invalid");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn check_config_fetches_discovery_and_keys() {
    let idp = Idp::start(vec![]);
    let kid = dex_kid(11);
    let small = dex_kid(12);
    let signed = sign(&[("k", 2048), ("s", 1024)], &[]);
    idp.set_keys(vec![
        published(&signed.jwks["k"], &kid),
        published(&signed.jwks["s"], &small),
    ]);
    let dir = temp_dir("oidc-check");
    let mut env = minimal_env(&dir);
    env.extend([
        ("BRAIN_OIDC_ISSUER", idp.issuer.clone()),
        ("BRAIN_OIDC_ALLOWED_SUBJECTS", DEX_SUB.to_string()),
        ("BRAIN_OIDC_PROFILE", "oidc".to_string()),
        ("BRAIN_OIDC_AUDIENCE", DEX_AUD.to_string()),
    ]);
    let out = run(&["check-config"], &env);
    let want = [
        format!("BRAIN_OIDC_ISSUER={}", idp.issuer),
        "BRAIN_OIDC_PROFILE=oidc".to_string(),
        format!("oidc: discovery {}/.well-known/openid-configuration names this issuer; jwks_uri {}/keys (the issuer's host)", idp.issuer, idp.issuer),
        format!("oidc: key {kid} RS256 RSA 2048 bits"),
        format!("oidc: skipped key \"{small}\": an RSA key of 1024 bits (at least 2048)"),
        "oidc: keys are refreshed every 600 s".to_string(),
        "configuration OK".to_string(),
    ];
    for w in &want {
        if out.code() != Some(0) || !out.stdout.lines().any(|l| l == w) {
            out.fail(&format!("wanted the line {w:?}"));
        }
    }
    // A provider whose discovery names another issuer is not this provider.
    idp.state.lock().unwrap().issuer = Some(format!("{}/", idp.issuer));
    let out = run(&["check-config"], &env);
    let want = format!(
        "it names the issuer \"{}/\", not \"{}\" (compared byte for byte)",
        idp.issuer, idp.issuer
    );
    if out.code() != Some(1) || !out.stderr.contains(&want) {
        out.fail(&format!("wanted {want:?}"));
    }
    // oidc-whoami with a bad token says why and exits 1, printing no claims.
    let (code, stdout, stderr) = whoami(
        &[
            ("BRAIN_OIDC_ISSUER", &idp.issuer),
            ("BRAIN_OIDC_PROFILE", "oidc"),
            ("BRAIN_OIDC_AUDIENCE", DEX_AUD),
        ],
        "not-a-token",
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("it names the issuer"), "{stderr}");
    idp.state.lock().unwrap().issuer = None;
    let (code, stdout, stderr) = whoami(
        &[
            ("BRAIN_OIDC_ISSUER", &idp.issuer),
            ("BRAIN_OIDC_PROFILE", "oidc"),
            ("BRAIN_OIDC_AUDIENCE", DEX_AUD),
        ],
        "eyJhbGciOiJub25lIn0.e30.",
    );
    assert_eq!(code, Some(1), "{stdout}{stderr}");
    assert_eq!(
        stderr,
        "not accepted: alg \"none\" is never accepted (RFC 8725 §3.2)\n"
    );
    std::fs::remove_dir_all(&dir).ok();
}
