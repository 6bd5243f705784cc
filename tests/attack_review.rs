//! The attack battery, part two (issue 16): what an adversarial review of the OAuth server
//! found, each as the attack itself against the real binary. Every case ends as the first
//! part's do ([`survived`]): `/healthz` answers within 1 s, memory stayed bounded, nothing was
//! answered `500`.

use std::collections::HashMap;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::attack::{baseline, exclusive, survived};
use crate::flow::{
    auth_params, authorize_with, location_params, mcp_status, post_consent_with, query, token_with,
    CHALLENGE, CLAUDE_CALLBACK, VERIFIER,
};
use crate::util::{
    minimal_env, raw_request, run, temp_dir, Response, Server, CLIENT_ID, CLIENT_SECRET,
    OWNER_PASSWORD, TOKEN,
};

/// Sends a batch of pipelined requests from another thread, so the caller can read the
/// answers as they come: a client that writes 200 KB of requests before reading a byte
/// deadlocks against any server once both directions' socket buffers fill (the server stops
/// reading while it cannot write), as real pipelining clients know.
fn send_while_reading(c: &crate::util::Conn, bytes: Vec<u8>) {
    let mut w = c.stream.try_clone().unwrap();
    thread::spawn(move || {
        let _ = w.write_all(&bytes);
    });
}

/// One connection carrying `n` pipelined requests (`bytes`), each answered `status`: the
/// floods below are batches of these, at the 1,000 requests a connection may carry.
fn pipelined(addr: std::net::SocketAddr, bytes: Vec<u8>, n: usize, status: u16) {
    let mut c = crate::util::Conn::open(addr);
    send_while_reading(&c, bytes);
    for _ in 0..n {
        let r = c.read_response();
        assert_eq!(r.status, status, "{r:?}");
    }
}

fn xff(addr: &str) -> (&'static str, &str) {
    ("X-Forwarded-For", addr)
}

/// `GET /oauth/authorize` for `client` with PKCE, from `from` (through the trusted proxy).
fn authorize(s: &Server, client: &str, redirect: &str, from: &str) -> Response {
    authorize_with(s, &auth_params(client, redirect), &[xff(from)])
}

/// The query parameters of a redirect's `Location`.
fn location(r: &Response) -> HashMap<String, String> {
    location_params(r).1
}

fn approve(s: &Server, page: &Response, password: &str, from: &str) -> Response {
    post_consent_with(s, page, password, "approve", &[xff(from)])
}

fn token(s: &Server, pairs: &[(&str, &str)], from: &str) -> Response {
    token_with(s, pairs, &[xff(from)])
}

/// A code for the pre-registered client (no owner password: approved without a page),
/// redeemed: the access and refresh tokens.
fn grant_for_preregistered(s: &Server, from: &str) -> (String, String) {
    let code = location(&authorize(s, CLIENT_ID, CLAUDE_CALLBACK, from))["code"].clone();
    let r = token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", CLAUDE_CALLBACK),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
        from,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    (
        j["access_token"].as_str().unwrap().to_string(),
        j["refresh_token"].as_str().unwrap().to_string(),
    )
}

fn refresh(s: &Server, rt: &str, from: &str) -> Response {
    token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", rt),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
        from,
    )
}

fn register(s: &Server, body: &serde_json::Value, from: &str) -> Response {
    s.request(
        "POST",
        "/oauth/register",
        &[("Content-Type", "application/json"), xff(from)],
        body.to_string().as_bytes(),
    )
}

/// `brain-mcp grants` on the server's data directory (through its admin socket).
fn grants(s: &Server) -> String {
    let dir = s.data_dir().to_string_lossy().into_owned();
    let out = run(&["grants"], &[("BRAIN_DATA_DIR", dir.as_str())]);
    if out.code() != Some(0) {
        out.fail("brain-mcp grants failed");
    }
    out.stdout
}

fn sha256_hex(s: &str) -> String {
    Sha256::digest(s.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Item 1 (critical): registration asking for `client_credentials`, then that grant with the
/// returned secret, gave a token without the owner's consent.
#[test]
fn registration_never_yields_client_credentials() {
    let _alone = exclusive();
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let before = baseline(&s);
    // Asking for client_credentials alone: refused.
    let r = register(
        &s,
        &json!({"redirect_uris": ["https://evil.example/cb"], "grant_types": ["client_credentials"],
                "token_endpoint_auth_method": "client_secret_post"}),
        "203.0.113.10",
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(r.error(), "invalid_client_metadata");
    assert_eq!(
        r.json()["error_description"],
        "registered clients use the authorization_code grant (with refresh_token); client_credentials is only for the pre-registered client"
    );
    // Asking for it among others: registered without it, and the response says so.
    let r = register(
        &s,
        &json!({"redirect_uris": ["https://evil.example/cb"],
                "grant_types": ["authorization_code", "refresh_token", "client_credentials"],
                "token_endpoint_auth_method": "client_secret_post"}),
        "203.0.113.10",
    );
    assert_eq!(r.status, 201, "{r:?}");
    let j = r.json();
    assert_eq!(
        j["grant_types"],
        json!(["authorization_code", "refresh_token"])
    );
    let (id, secret) = (
        j["client_id"].as_str().unwrap().to_string(),
        j["client_secret"].as_str().unwrap().to_string(),
    );
    let r = token(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", &id),
            ("client_secret", &secret),
        ],
        "203.0.113.10",
    );
    assert_eq!((r.status, r.error().as_str()), (400, "unauthorized_client"));
    assert_eq!(
        r.json()["error_description"],
        "this client is not allowed the client_credentials grant"
    );
    // The pre-registered client still has it.
    let r = token(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
        "203.0.113.11",
    );
    assert_eq!(r.status, 200, "{r:?}");
    survived(&s, before, 2, "registration + client_credentials");
    s.assert_log_clean(&[&secret]);
}

/// Item 1, for a store written before the fix: a registered client holding
/// `client_credentials` tokens. They are revoked at start and refused on `/mcp`.
#[test]
fn client_credentials_tokens_of_registered_clients_end_at_start() {
    let _alone = exclusive();
    let b = Server::builder();
    let dir = b.data_dir().to_path_buf();
    let stolen = "bma_stolen-token-from-the-registration-hole-0123456";
    let id = "c_AAAAAAAAAAAAAAAAAAAAAA";
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    // The resource is bound to the address; any token of this record is refused anyway,
    // whatever it names, once its client is not the pre-registered one.
    let lines = [
        json!({"t": "client", "client_id": id, "secret_hash": sha256_hex("bms_secret"),
               "auth_method": "client_secret_post", "redirect_uris": ["https://evil.example/cb"],
               "client_name": "evil", "grant_types": ["authorization_code", "client_credentials"],
               "created": now}),
        json!({"t": "access", "h": sha256_hex(stolen), "client": id, "grant": null,
               "res": "http://127.0.0.1:1/mcp", "exp": now + 3600}),
    ];
    let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    std::fs::write(dir.join("oauth.jsonl"), text).unwrap();
    let s = b.start();
    s.wait_for_log(
        "revoked 1 client_credentials tokens held by clients other than the pre-registered one",
    );
    assert_eq!(mcp_status(&s, stolen), 401);
    // The owner sees the client it registered as.
    let out = grants(&s);
    assert!(out.contains(id), "{out}");
    assert!(out.contains("REGISTERED CLIENTS WITHOUT A GRANT"), "{out}");
}

/// Item 2: two refreshes racing with the same token both won 4 times in 150. Exactly one
/// must win, and the loser, presenting a token that is now rotated, revokes the grant.
#[test]
fn two_hundred_concurrent_refresh_pairs_have_exactly_one_winner() {
    let _alone = exclusive();
    let s = Arc::new(
        Server::builder()
            .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
            .start(),
    );
    let before = baseline(&s);
    let start = Instant::now();
    for round in 0..200u32 {
        // One address per round: codes are limited per address per minute.
        let from = format!("10.1.{}.{}", round / 200, round % 200 + 1);
        let (_, rt) = grant_for_preregistered(&s, &from);
        let gate = Arc::new(Barrier::new(2));
        let racers: Vec<_> = (0..2)
            .map(|_| {
                let (s, rt, from, gate) = (s.clone(), rt.clone(), from.clone(), gate.clone());
                thread::spawn(move || {
                    let req = raw_request(
                        &s.host(),
                        "POST",
                        "/oauth/token",
                        &[
                            ("Content-Type", "application/x-www-form-urlencoded"),
                            xff(&from),
                        ],
                        query(&[
                            ("grant_type", "refresh_token"),
                            ("refresh_token", &rt),
                            ("client_id", CLIENT_ID),
                            ("client_secret", CLIENT_SECRET),
                        ])
                        .as_bytes(),
                        true,
                    );
                    let mut c = s.connect();
                    gate.wait();
                    c.send(&req);
                    c.read_response()
                })
            })
            .collect();
        let results: Vec<Response> = racers.into_iter().map(|t| t.join().unwrap()).collect();
        let winners: Vec<&Response> = results.iter().filter(|r| r.status == 200).collect();
        let losers: Vec<&Response> = results.iter().filter(|r| r.status == 400).collect();
        assert_eq!(
            (winners.len(), losers.len()),
            (1, 1),
            "round {round}: {results:?}"
        );
        assert_eq!(losers[0].error(), "invalid_grant");
        // The loser's replay revoked the grant: the winner's tokens are dead too (it cannot be
        // told which of the two was the thief).
        let j = winners[0].json();
        assert_eq!(mcp_status(&s, j["access_token"].as_str().unwrap()), 401);
        let r = refresh(&s, j["refresh_token"].as_str().unwrap(), &from);
        assert_eq!((r.status, r.error().as_str()), (400, "invalid_grant"));
    }
    eprintln!("200 rounds in {:?}", start.elapsed());
    survived(&s, before, 4, "concurrent refreshes");
}

/// Item 3: 10,100 anonymous consent pages filled the anti-forgery table and the owner's right
/// password was refused for ten minutes. With signed tokens nothing fills.
#[test]
fn twenty_thousand_anonymous_consent_pages_do_not_lock_the_owner_out() {
    let _alone = exclusive();
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let before = baseline(&s);
    let q = query(&[
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", CLAUDE_CALLBACK),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let path = format!("/oauth/authorize?{q}");
    // The owner opens the page first; strangers then ask for 20,000 more.
    let owners = s.get(&path);
    assert_eq!(owners.status, 200);
    let start = Instant::now();
    let host = s.host();
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (addr, host, path) = (s.addr, host.clone(), path.clone());
            thread::spawn(move || {
                // 5 connections of 1,000 pipelined requests each (the per-connection cap).
                for _ in 0..5 {
                    let one = raw_request(&host, "GET", &path, &[], b"", false);
                    pipelined(addr, one.repeat(1000), 1000, 200);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    eprintln!("20,000 consent pages in {:?}", start.elapsed());
    let ok = approve(&s, &owners, OWNER_PASSWORD, "127.0.0.1");
    assert!(location(&ok).contains_key("code"), "{ok:?}");
    survived(&s, before, 2, "20,000 consent pages");
}

/// Item 4: the limiter stopped counting once it tracked 100,000 addresses. Every failure
/// counts now, whatever the number of addresses.
#[test]
fn the_limiter_still_limits_after_two_hundred_thousand_addresses() {
    let _alone = exclusive();
    const LIMIT: usize = 10;
    let s = Server::builder()
        .env("BRAIN_AUTH_FAILURE_LIMIT", &LIMIT.to_string())
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let before = baseline(&s);
    let wrong = query(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong-secret-guess-0123456789abcdef"),
    ]);
    let host = s.host();
    let start = Instant::now();
    // 200,000 addresses fail once each, pipelined 1,000 to a connection on 4 threads.
    let workers: Vec<_> = (0..4u32)
        .map(|t| {
            let (addr, host, wrong) = (s.addr, host.clone(), wrong.clone());
            thread::spawn(move || {
                for batch in 0..50u32 {
                    let mut bytes = Vec::new();
                    for i in 0..1000u32 {
                        // Each address in a /24 of its own, so that only the addresses'
                        // own counts, not their networks', fill the limiter.
                        let n = (t * 50 + batch) * 1000 + i;
                        let ip = format!("{}.{}.{}.1", 11 + (n >> 16), (n >> 8) & 255, n & 255);
                        bytes.extend(raw_request(
                            &host,
                            "POST",
                            "/oauth/token",
                            &[
                                ("Content-Type", "application/x-www-form-urlencoded"),
                                ("X-Forwarded-For", &ip),
                            ],
                            wrong.as_bytes(),
                            false,
                        ));
                    }
                    pipelined(addr, bytes, 1000, 401);
                }
            })
        })
        .collect();
    for w in workers {
        w.join().unwrap();
    }
    eprintln!("200,000 addresses in {:?}", start.elapsed());
    // Then a guesser from a new address: at most LIMIT answers, then only 429. (Counts are
    // upper bounds: after such a flood a key sharing cells with others may be stopped a
    // little early, never late.)
    let statuses: Vec<u16> = (0..LIMIT + 5)
        .map(|_| {
            s.post_form("/oauth/token", &[xff("203.0.113.77")], &wrong)
                .status
        })
        .collect();
    let answered = statuses.iter().take_while(|&&st| st == 401).count();
    assert!((LIMIT / 2..=LIMIT).contains(&answered), "{statuses:?}");
    assert!(
        statuses[answered..].iter().all(|&st| st == 429),
        "{statuses:?}"
    );
    // An address that did nothing wrong is served.
    let r = s.post_form(
        "/oauth/token",
        &[xff("203.0.114.9")],
        &query(&[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ]),
    );
    assert_eq!(r.status, 200, "{r:?}");
    survived(&s, before, 4, "200,000 addresses");
}

/// Item 4: IPv6 addresses were counted one by one; a host has a /64 to rotate through.
#[test]
fn ipv6_neighbours_in_a_64_share_one_limit() {
    let _alone = exclusive();
    const LIMIT: usize = 5;
    let s = Server::builder()
        .env("BRAIN_AUTH_FAILURE_LIMIT", &LIMIT.to_string())
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let wrong = query(&[
        ("grant_type", "client_credentials"),
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong-secret-guess-0123456789abcdef"),
    ]);
    for i in 1..=LIMIT {
        let ip = format!("2001:db8:1:2::{i:x}");
        assert_eq!(s.post_form("/oauth/token", &[xff(&ip)], &wrong).status, 401);
    }
    let r = s.post_form("/oauth/token", &[xff("2001:db8:1:2:ffff::1")], &wrong);
    assert_eq!((r.status, r.error().as_str()), (429, "too_many_requests"));
    // The next /64 is another subscriber.
    let r = s.post_form("/oauth/token", &[xff("2001:db8:1:3::1")], &wrong);
    assert_eq!(r.status, 401);
}

/// Item 4: from a shared address (claude.ai's token calls all come from Anthropic's), a
/// stranger's wrong secrets blocked the owner's correct refreshes for five minutes. A request
/// carrying the client's live refresh token or code is served; the stranger is not.
#[test]
fn the_owners_refresh_passes_where_a_stranger_failed_a_thousand_times() {
    let _alone = exclusive();
    const LIMIT: usize = 10;
    let s = Server::builder()
        .env("BRAIN_AUTH_FAILURE_LIMIT", &LIMIT.to_string())
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let before = baseline(&s);
    let shared = "160.79.104.10";
    let (_, mut rt) = grant_for_preregistered(&s, shared);
    // A code obtained before the stranger starts, redeemed after.
    let code = location(&authorize(&s, CLIENT_ID, CLAUDE_CALLBACK, shared))["code"].clone();
    let wrong = query(&[
        ("grant_type", "refresh_token"),
        ("refresh_token", "bmr_guess"),
        ("client_id", CLIENT_ID),
        ("client_secret", "wrong-secret-guess-0123456789abcdef"),
    ]);
    let mut c = s.connect();
    let mut limited = 0;
    for i in 0..1000 {
        if i % 999 == 998 {
            c = s.connect();
        }
        let r = c.request(
            &s.host(),
            "POST",
            "/oauth/token",
            &[
                ("Content-Type", "application/x-www-form-urlencoded"),
                xff(shared),
            ],
            wrong.as_bytes(),
        );
        if r.status == 429 {
            limited += 1;
        }
    }
    assert_eq!(limited, 1000 - LIMIT);
    // The owner's refreshes: served, again and again.
    for _ in 0..3 {
        let r = refresh(&s, &rt, shared);
        assert_eq!(r.status, 200, "{r:?}");
        let j = r.json();
        assert_eq!(mcp_status(&s, j["access_token"].as_str().unwrap()), 200);
        rt = j["refresh_token"].as_str().unwrap().to_string();
    }
    // And the code redemption.
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", CLAUDE_CALLBACK),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
        shared,
    );
    assert_eq!(r.status, 200, "{r:?}");
    // Without such a credential the right secret still waits at that address: a guesser has
    // nothing but the secret to try.
    let r = token(
        &s,
        &[
            ("grant_type", "client_credentials"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
        shared,
    );
    assert_eq!(r.status, 429, "{r:?}");
    // A refresh token that is not the client's current one does not open the door either.
    let r = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", "bmr_guess"),
            ("client_id", CLIENT_ID),
            ("client_secret", CLIENT_SECRET),
        ],
        shared,
    );
    assert_eq!(r.status, 429, "{r:?}");
    survived(&s, before, 2, "stranger on a shared address");
    s.assert_log_clean(&[&rt]);
}

/// Item 5: `brain-mcp grants` said "no connected clients" while a client_credentials token
/// and registered clients were live. It lists every client and every token family.
#[test]
fn grants_lists_everything_that_has_access() {
    let _alone = exclusive();
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let cc = crate::util::issue_token(&s);
    let r = register(
        &s,
        &json!({"redirect_uris": ["https://example.com/cb"], "client_name": "line\nforged 2026",
                "token_endpoint_auth_method": "none"}),
        "127.0.0.1",
    );
    // A newline in a name would forge a line of the owner's output: refused.
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        r.json()["error_description"],
        "client_name must be a string of at most 200 characters without control characters"
    );
    let r = register(
        &s,
        &json!({"redirect_uris": ["https://example.com/cb"], "client_name": "Waiting App",
                "token_endpoint_auth_method": "none"}),
        "127.0.0.1",
    );
    assert_eq!(r.status, 201);
    let waiting = r.json()["client_id"].as_str().unwrap().to_string();
    let out = grants(&s);
    assert!(out.contains("CLIENT_CREDENTIALS TOKENS"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(CLIENT_ID) && l.split_whitespace().nth(1) == Some("1")),
        "{out}"
    );
    assert!(out.contains("REGISTERED CLIENTS WITHOUT A GRANT"), "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with(&waiting) && l.contains("Waiting App")),
        "{out}"
    );
    // Revoking the pre-registered client ends its tokens, and the list says so.
    let dir = s.data_dir().to_string_lossy().into_owned();
    let r = run(&["revoke", CLIENT_ID], &[("BRAIN_DATA_DIR", dir.as_str())]);
    if r.code() != Some(0) {
        r.fail("brain-mcp revoke failed");
    }
    assert_eq!(mcp_status(&s, &cc), 401);
    assert!(!grants(&s).contains("CLIENT_CREDENTIALS TOKENS"));
    s.assert_log_clean(&[&cc]);
}

/// Item 6: registrations had no global cap and no expiry (420 were 8.5 MB of `oauth.jsonl`).
/// At most 100 unused ones are kept, the oldest making room, and the file stays small.
#[test]
fn registrations_are_capped() {
    let _alone = exclusive();
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let before = baseline(&s);
    // As large as a registration may be: ten 2,000-character redirect URIs.
    let uris: Vec<String> = (0..10)
        .map(|i| format!("https://example.com/{i}/{}", "x".repeat(1975)))
        .collect();
    let mut ids = Vec::new();
    for i in 0..420u32 {
        // 20 per address per hour: spread over addresses as an attacker would.
        let from = format!("198.18.{}.{}", i / 20, i % 20 + 1);
        let r = register(
            &s,
            &json!({"redirect_uris": uris, "client_name": format!("spam {i}"),
                    "token_endpoint_auth_method": "none"}),
            &from,
        );
        assert_eq!(r.status, 201, "{r:?}");
        ids.push(r.json()["client_id"].as_str().unwrap().to_string());
    }
    // The oldest 320 are gone (authorize does not know them); the newest 100 are there.
    let known = |id: &str| {
        let r = authorize(&s, id, &uris[0], "127.0.0.1");
        match r.status {
            200 => true,
            400 => {
                assert!(r.body_str().contains("Unknown client_id"), "{r:?}");
                false
            }
            _ => panic!("{r:?}"),
        }
    };
    assert!(!known(&ids[0]));
    assert!(!known(&ids[319]));
    assert!(known(&ids[320]));
    assert!(known(&ids[419]));
    let out = grants(&s);
    assert_eq!(out.lines().filter(|l| l.contains("spam ")).count(), 100);
    // A client the owner approved is never dropped for this: approve one, register 150 more.
    let page = authorize(&s, &ids[419], &uris[0], "127.0.0.1");
    let code = location(&approve(&s, &page, OWNER_PASSWORD, "127.0.0.1"))["code"].clone();
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", &uris[0]),
            ("client_id", &ids[419]),
        ],
        "127.0.0.1",
    );
    assert_eq!(r.status, 200, "{r:?}");
    for i in 0..150u32 {
        let from = format!("198.19.{}.{}", i / 20, i % 20 + 1);
        let r = register(
            &s,
            &json!({"redirect_uris": ["https://example.com/cb"], "token_endpoint_auth_method": "none"}),
            &from,
        );
        assert_eq!(r.status, 201, "{r:?}");
    }
    assert!(known(&ids[419]));
    let size = std::fs::metadata(s.data_dir().join("oauth.jsonl"))
        .unwrap()
        .len();
    // 100 live registrations of 20 KiB are 2 MiB; the dead ones are rewritten away at 4 MiB
    // beyond twice that.
    assert!(size < 9 << 20, "oauth.jsonl is {size} bytes");
    survived(&s, before, 16, "570 registrations");
}

/// Item 6: a registration nobody used within a day is forgotten (at start, and whenever
/// another client registers). One that was used stays.
#[test]
fn registrations_unused_for_a_day_expire() {
    let _alone = exclusive();
    let b = Server::builder().env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD);
    let dir = b.data_dir().to_path_buf();
    let two_days_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 2 * 86400;
    let client = |id: &str, first_used: Option<u64>| {
        let mut c = json!({"t": "client", "client_id": id, "secret_hash": null, "auth_method": "none",
               "redirect_uris": ["https://example.com/cb"], "client_name": id,
               "grant_types": ["authorization_code", "refresh_token"], "created": two_days_ago});
        if let Some(t) = first_used {
            c["first_used"] = json!(t);
        }
        format!("{c}\n")
    };
    let unused = "c_UNUSEDUNUSEDUNUSEDUNUS";
    let used = "c_USEDUSEDUSEDUSEDUSEDUS";
    std::fs::write(
        dir.join("oauth.jsonl"),
        client(unused, None) + &client(used, Some(two_days_ago + 60)),
    )
    .unwrap();
    let s = b.start();
    let r = authorize(&s, unused, "https://example.com/cb", "127.0.0.1");
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("Unknown client_id"), "{r:?}");
    assert_eq!(
        authorize(&s, used, "https://example.com/cb", "127.0.0.1").status,
        200
    );
    let out = grants(&s);
    assert!(!out.contains(unused) && out.contains(used), "{out}");
}

/// Item 7: without an owner password anyone can mint codes for the pre-registered client;
/// the map of codes was scanned under one lock per request (1,966 -> 788 req/s, 4 -> 14 MB).
/// Codes are bounded per address, expire in O(1), and the table is capped.
#[test]
fn a_code_flood_is_bounded_in_memory_and_per_address() {
    let _alone = exclusive();
    let s = Server::builder()
        .env("BRAIN_TRUSTED_PROXIES", "127.0.0.1")
        .start();
    let before = baseline(&s);
    let q = query(&[
        ("response_type", "code"),
        ("client_id", CLIENT_ID),
        ("redirect_uri", CLAUDE_CALLBACK),
        ("code_challenge", CHALLENGE),
        ("code_challenge_method", "S256"),
    ]);
    let path = format!("/oauth/authorize?{q}");
    // One address: 30 codes a minute, then a 429 page.
    let statuses: Vec<u16> = (0..40)
        .map(|_| s.request("GET", &path, &[xff("203.0.113.5")], b"").status)
        .collect();
    assert_eq!(&statuses[..30], &[302; 30]);
    assert_eq!(&statuses[30..], &[429; 10]);
    let r = s.request("GET", &path, &[xff("203.0.113.5")], b"");
    assert_eq!(r.header("retry-after"), Some("60"));
    assert!(r.header("content-type").unwrap().starts_with("text/html"));
    // 30,000 codes from 1,000 addresses, pipelined: the table keeps at most 10,000.
    let host = s.host();
    let start = Instant::now();
    let mut times = Vec::new();
    for batch in 0..30u32 {
        let t = Instant::now();
        let mut bytes = Vec::new();
        for i in 0..1000u32 {
            let ip = format!("10.9.{}.{}", (batch * 1000 + i) % 1000 / 250, i % 250 + 1);
            bytes.extend(raw_request(
                &host,
                "GET",
                &path,
                &[("X-Forwarded-For", &ip)],
                b"",
                false,
            ));
        }
        pipelined(s.addr, bytes, 1000, 302);
        times.push(t.elapsed());
    }
    eprintln!("30,000 codes in {:?}; batches {times:?}", start.elapsed());
    // The last thousands cost about what the first did (no scan of the whole table): the
    // median of the last three batches against that of the first three.
    let median = |t: &[Duration]| {
        let mut v = t.to_vec();
        v.sort();
        v[1].as_secs_f64()
    };
    let (first, last) = (median(&times[..3]), median(&times[27..]));
    assert!(last < 3.0 * first + 0.2, "{first} s then {last} s");
    // A person's code still works.
    let (access, _) = grant_for_preregistered(&s, "192.0.2.44");
    assert_eq!(mcp_status(&s, &access), 200);
    survived(&s, before, 8, "30,000 codes");
}

/// Item 8: a self-registered client with redirect `https://evil.example` and a bad
/// `response_type` got an immediate 302 there. Before the owner has approved a client, errors
/// are a page.
#[test]
fn no_redirect_to_an_unapproved_client() {
    let _alone = exclusive();
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    let r = register(
        &s,
        &json!({"redirect_uris": ["https://evil.example/cb"], "token_endpoint_auth_method": "none"}),
        "127.0.0.1",
    );
    let id = r.json()["client_id"].as_str().unwrap().to_string();
    let bad = |extra: &[(&str, &str)]| {
        let mut p = vec![
            ("response_type", "code"),
            ("client_id", id.as_str()),
            ("redirect_uri", "https://evil.example/cb"),
            ("code_challenge", CHALLENGE),
            ("code_challenge_method", "S256"),
        ];
        for (k, v) in extra {
            p.retain(|(pk, _)| pk != k);
            p.push((k, v));
        }
        s.get(&format!("/oauth/authorize?{}", query(&p)))
    };
    for (extra, code) in [
        ([("response_type", "token")], "unsupported_response_type"),
        ([("code_challenge_method", "plain")], "invalid_request"),
        ([("code_challenge", "short")], "invalid_request"),
        (
            [("resource", "https://other.example/mcp")],
            "invalid_target",
        ),
    ] {
        let r = bad(&extra);
        assert_eq!(r.status, 400, "{extra:?}: {r:?}");
        assert!(r.header("location").is_none(), "{r:?}");
        assert!(r.header("content-type").unwrap().starts_with("text/html"));
        assert!(
            r.body_str()
                .contains(&format!("The authorization request was refused ({code})")),
            "{}",
            r.body_str()
        );
    }
    // Once the owner approved it, the client hears its errors as RFC 6749 §4.1.2.1 says.
    let page = bad(&[]);
    let code = location(&approve(&s, &page, OWNER_PASSWORD, "127.0.0.1"))["code"].clone();
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", "https://evil.example/cb"),
            ("client_id", &id),
        ],
        "127.0.0.1",
    );
    assert_eq!(r.status, 200, "{r:?}");
    let r = bad(&[("response_type", "token")]);
    assert_eq!(location(&r)["error"], "unsupported_response_type");
}

/// Item 9: a world-writable data directory owned by another user was used silently, and
/// files were created 0644. Refused; and ours are private.
#[test]
fn data_directory_ownership_and_modes() {
    let _alone = exclusive();
    // A directory of ours made too open is tightened, and every file is 0600.
    let b = Server::builder();
    let dir = b.data_dir().to_path_buf();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(dir.join("oauth.jsonl"), "").unwrap();
    std::fs::set_permissions(
        dir.join("oauth.jsonl"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    let s = b.start();
    crate::util::issue_token(&s);
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    drop(s);
    // Another user's directory (only root can make one here).
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: cannot make a directory owned by another user; skipped");
        return;
    }
    let theirs = temp_dir("theirs");
    std::os::unix::fs::chown(&theirs, Some(65534), Some(65534)).unwrap();
    std::fs::set_permissions(&theirs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run(&[], &minimal_env(&theirs));
    let want = format!(
        "data directory {} belongs to uid 65534 (mode 0777), and this process runs as uid 0",
        theirs.display()
    );
    if out.code() != Some(1) || !out.stderr.contains(&want) {
        out.fail(&want);
    }
    assert!(!theirs.join("notes.jsonl").exists() && !theirs.join("lock").exists());
}

/// Item 10: a crafted record (a newline in a client ID, which `grants` printed raw) loaded
/// and was served. Every record passes the rules new input does; a bad one stops the start
/// naming the file and line.
#[test]
fn crafted_oauth_records_stop_the_start() {
    let _alone = exclusive();
    let now = 1_900_000_000u64;
    let good_client = json!({"t": "client", "client_id": "c_GOODGOODGOODGOODGOODGO", "secret_hash": null,
        "auth_method": "none", "redirect_uris": ["https://example.com/cb"], "client_name": "ok",
        "grant_types": ["authorization_code"], "created": now});
    let cases = [
        (
            json!({"t": "client", "client_id": "c_evil\nCLIENT_ID forged", "secret_hash": null,
                   "auth_method": "none", "redirect_uris": ["https://example.com/cb"],
                   "client_name": null, "grant_types": ["authorization_code"], "created": now}),
            "a client ID is neither 1 to 255 characters of [A-Za-z0-9._~-] nor a client metadata document URL",
        ),
        (
            json!({"t": "client", "client_id": "c_EVILEVILEVILEVILEVILEV", "secret_hash": null,
                   "auth_method": "none", "redirect_uris": ["javascript:alert(1)"],
                   "client_name": null, "grant_types": ["authorization_code"], "created": now}),
            "redirect URI 'javascript:alert(1)' must be an https:// URL",
        ),
        (
            json!({"t": "client", "client_id": "c_EVILEVILEVILEVILEVILEV", "secret_hash": null,
                   "auth_method": "none", "redirect_uris": ["https://example.com/cb"],
                   "client_name": "two\nlines", "grant_types": ["authorization_code"], "created": now}),
            "client_name must be a string of at most 200 characters without control characters",
        ),
        (
            json!({"t": "grant", "id": "../../etc/passwd", "client": "c_GOODGOODGOODGOODGOODGO",
                   "res": "http://127.0.0.1:1/mcp", "at": now}),
            "a grant ID is malformed",
        ),
        (
            json!({"t": "access", "h": "zz", "client": "c_GOODGOODGOODGOODGOODGO", "grant": null,
                   "res": "http://127.0.0.1:1/mcp", "exp": now}),
            "a token hash is not 64 hex digits",
        ),
    ];
    for (bad, why) in cases {
        let dir = temp_dir("crafted");
        let mut f = std::fs::File::create(dir.join("oauth.jsonl")).unwrap();
        writeln!(f, "{good_client}").unwrap();
        writeln!(f, "{bad}").unwrap();
        writeln!(f, "{good_client}").unwrap();
        drop(f);
        let out = run(&[], &minimal_env(&dir));
        let want = format!("{} line 2: {why}", dir.join("oauth.jsonl").display());
        if out.code() != Some(1) || !out.stderr.contains(&want) {
            out.fail(&want);
        }
    }
}

/// Item 11: bare LF line endings were accepted; raw non-ASCII bytes of a redirect path went
/// into `Location`.
#[test]
fn bare_lf_and_raw_bytes_in_location() {
    let _alone = exclusive();
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    for req in [
        "GET /healthz HTTP/1.1\nHost: x\r\n\r\n".to_string(),
        format!("GET /healthz HTTP/1.1\r\nHost: {}\n\n", s.host()),
    ] {
        let mut c = s.connect();
        c.send(req.as_bytes());
        let r = c.read_response();
        assert_eq!(r.status, 400, "{r:?}");
        assert!(r.body_str().contains("line endings must be CRLF"), "{r:?}");
        assert!(r.closes());
    }
    let cb = "https://example.com/café/cb";
    let r = register(
        &s,
        &json!({"redirect_uris": [cb], "token_endpoint_auth_method": "none"}),
        "127.0.0.1",
    );
    let id = r.json()["client_id"].as_str().unwrap().to_string();
    let page = authorize(&s, &id, cb, "127.0.0.1");
    let r = approve(&s, &page, OWNER_PASSWORD, "127.0.0.1");
    assert_eq!(r.status, 302, "{r:?}");
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with("https://example.com/caf%C3%A9/cb?code="),
        "{loc}"
    );
    assert!(loc.is_ascii());
    s.assert_healthy();
    let _ = TOKEN;
}
