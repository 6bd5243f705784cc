//! Client metadata documents fetched (`BRAIN_CIMD_FETCH=on`) from a real HTTPS server on
//! loopback with a CA made for the test (`BRAIN_TLS_CA_FILE`): fetched once and then served from
//! the cache; redirects, other statuses, oversize, slow, invalid and mismatched documents refused
//! and never cached; a host resolving to a loopback address refused unless the test exception is
//! on; `BRAIN_CIMD_ALLOW`; fetches limited per address.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use crate::flow::{auth_params, authorize, location_params, post_consent, token, VERIFIER};
use crate::oidc::idp::Tls;
use crate::util::{temp_dir, Response, Server, ServerBuilder, OWNER_PASSWORD};

/// How the document server answers one path.
#[derive(Clone)]
enum Answer {
    Json {
        body: String,
        cache_control: Option<&'static str>,
    },
    Status(u16),
    Redirect(String),
    ContentType(&'static str),
    /// The head at once, then the body a byte every 300 ms.
    Slow(String),
}

/// An HTTPS server on loopback serving client metadata documents: the vendor's side, which
/// brain-mcp fetches from. Counts the requests per path.
struct DocServer {
    addr: SocketAddr,
    answers: Arc<Mutex<HashMap<String, Answer>>>,
    hits: Arc<Mutex<HashMap<String, usize>>>,
    stop: Arc<AtomicBool>,
}

impl DocServer {
    fn start(tls: &Tls) -> DocServer {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let d = DocServer {
            addr,
            answers: Arc::default(),
            hits: Arc::default(),
            stop: Arc::default(),
        };
        let (answers, hits, stop, cfg) = (
            d.answers.clone(),
            d.hits.clone(),
            d.stop.clone(),
            tls.server.clone(),
        );
        thread::spawn(move || {
            for conn in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let (answers, hits, cfg, stop) =
                    (answers.clone(), hits.clone(), cfg.clone(), stop.clone());
                thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(sc) = rustls::ServerConnection::new(cfg) else {
                        return;
                    };
                    let mut s = rustls::StreamOwned::new(sc, conn);
                    let mut head = Vec::new();
                    let mut b = [0u8; 1024];
                    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                        match s.read(&mut b) {
                            Ok(0) | Err(_) => return,
                            Ok(n) => head.extend_from_slice(&b[..n]),
                        }
                    }
                    let text = String::from_utf8_lossy(&head).to_string();
                    let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
                    *hits.lock().unwrap().entry(path.clone()).or_default() += 1;
                    let answer = answers.lock().unwrap().get(&path).cloned();
                    let ok = |ctype: &str, body: &str, extra: &str| {
                        format!(
                            "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                            body.len()
                        )
                    };
                    let out = match answer {
                        Some(Answer::Json {
                            body,
                            cache_control,
                        }) => ok(
                            "application/json",
                            &body,
                            &cache_control
                                .map(|c| format!("Cache-Control: {c}\r\n"))
                                .unwrap_or_default(),
                        ),
                        Some(Answer::Status(code)) => format!(
                            "HTTP/1.1 {code} Nope\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                        ),
                        Some(Answer::Redirect(to)) => format!(
                            "HTTP/1.1 302 Found\r\nLocation: {to}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                        ),
                        Some(Answer::ContentType(t)) => ok(t, "{}", ""),
                        Some(Answer::Slow(body)) => {
                            let _ = s.write_all(
                                format!(
                                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                    body.len()
                                )
                                .as_bytes(),
                            );
                            let _ = s.flush();
                            for byte in body.as_bytes() {
                                if stop.load(Ordering::SeqCst)
                                    || s.write_all(&[*byte]).and_then(|()| s.flush()).is_err()
                                {
                                    return;
                                }
                                thread::sleep(Duration::from_millis(300));
                            }
                            return;
                        }
                        None => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".into(),
                    };
                    let _ = s.write_all(out.as_bytes());
                    let _ = s.flush();
                    s.conn.send_close_notify();
                    let _ = s.flush();
                });
            }
        });
        d
    }

    /// The document URL of `path`, on `localhost` (the name the test certificate carries).
    fn url(&self, path: &str) -> String {
        format!("https://localhost:{}{path}", self.addr.port())
    }

    fn serve(&self, path: &str, answer: Answer) {
        self.answers.lock().unwrap().insert(path.into(), answer);
    }

    fn hits(&self, path: &str) -> usize {
        self.hits.lock().unwrap().get(path).copied().unwrap_or(0)
    }

    /// A valid document for `path`, naming itself.
    fn document(&self, path: &str, name: &str) -> String {
        format!(
            r#"{{"client_id":"{}","client_name":"{name}","redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none","grant_types":["authorization_code","refresh_token","urn:x"]}}"#,
            self.url(path)
        )
    }
}

impl Drop for DocServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn fetching(tls: &Tls) -> ServerBuilder {
    let dir = temp_dir("cimd-ca");
    Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("BRAIN_CIMD_FETCH", "on")
        .env("BRAIN_TLS_CA_FILE", &tls.ca_file(&dir))
        // The server runs on loopback, and so does the document server: the draft's one
        // exception to the special-use refusal (§6.5), which the test must switch on.
        .env("BRAIN_OUTBOUND_ALLOW_LOOPBACK", "1")
}

const REDIRECT: &str = "http://127.0.0.1:45678/callback";

/// The refusal page for `url`, with its reason.
fn refused(s: &Server, url: &str) -> String {
    let r = authorize(s, &auth_params(url, REDIRECT));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.header("location").is_none());
    let body = r.body_str().to_string();
    let prefix = format!("invalid_client: the client metadata document {url} cannot be used: ");
    let start = body.find(&prefix).unwrap_or_else(|| panic!("{body}")) + prefix.len();
    let end = start + body[start..].find(".</p>").unwrap();
    body[start..end].to_string()
}

fn consent(s: &Server, url: &str) -> Response {
    let r = authorize(s, &auth_params(url, REDIRECT));
    assert_eq!(r.status, 200, "{r:?}");
    r
}

#[test]
fn a_document_is_fetched_once_then_served_from_the_cache() {
    let tls = Tls::new();
    let docs = DocServer::start(&tls);
    docs.serve(
        "/app.json",
        Answer::Json {
            body: docs.document("/app.json", "Fetched App"),
            cache_control: Some("max-age=3600"),
        },
    );
    let s = fetching(&tls).start();
    let url = docs.url("/app.json");
    let page = consent(&s, &url);
    assert!(page
        .body_str()
        .contains("<strong>Fetched App</strong>, as described by <code>localhost</code>"));
    consent(&s, &url);
    // The whole flow, token exchange and refresh included, costs one fetch.
    let r = post_consent(&s, &page, OWNER_PASSWORD, "approve");
    let code = location_params(&r).1["code"].clone();
    let r = token(
        &s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", REDIRECT),
            ("client_id", &url),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let rt = r.json()["refresh_token"].as_str().unwrap().to_string();
    let r = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt),
            ("client_id", &url),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(docs.hits("/app.json"), 1);
    s.wait_for_log(&format!("cimd: fetched {url} ("));
    s.wait_for_log("kept 3600 s");
}

#[test]
fn every_fetch_rule_refuses_and_nothing_bad_is_cached() {
    let tls = Tls::new();
    let docs = DocServer::start(&tls);
    let s = fetching(&tls).start();
    docs.serve("/moved.json", Answer::Redirect(docs.url("/target.json")));
    docs.serve(
        "/target.json",
        Answer::Json {
            body: docs.document("/target.json", "Target"),
            cache_control: None,
        },
    );
    assert_eq!(
        refused(&s, &docs.url("/moved.json")),
        "fetching it failed: unexpected response: status 302 (wanted 200)"
    );
    assert_eq!(docs.hits("/target.json"), 0, "a redirect was followed");
    docs.serve("/gone.json", Answer::Status(404));
    assert_eq!(
        refused(&s, &docs.url("/gone.json")),
        "fetching it failed: unexpected response: status 404 (wanted 200)"
    );
    docs.serve("/html.json", Answer::ContentType("text/html"));
    assert_eq!(
        refused(&s, &docs.url("/html.json")),
        "fetching it failed: unexpected response: Content-Type &quot;text/html&quot; (wanted application/json)"
    );
    let big = docs.document("/big.json", "Big").replace(
        "\"client_name\"",
        &format!("\"pad\":\"{}\",\"client_name\"", "x".repeat(6000)),
    );
    docs.serve(
        "/big.json",
        Answer::Json {
            body: big,
            cache_control: None,
        },
    );
    assert_eq!(
        refused(&s, &docs.url("/big.json")),
        "it is over the 5 KiB limit"
    );
    docs.serve(
        "/other.json",
        Answer::Json {
            body: docs.document("/someone-else.json", "Other"),
            cache_control: None,
        },
    );
    assert_eq!(
        refused(&s, &docs.url("/other.json")),
        "its client_id is not the URL it was given for"
    );
    // An invalid document is not cached: once fixed, it is fetched again and works.
    docs.serve(
        "/fixed.json",
        Answer::Json {
            body: docs.document("/fixed.json", "Fixed").replace(
                r#""token_endpoint_auth_method":"none""#,
                r#""token_endpoint_auth_method":"client_secret_post""#,
            ),
            cache_control: Some("max-age=86400"),
        },
    );
    assert_eq!(
        refused(&s, &docs.url("/fixed.json")),
        "its token_endpoint_auth_method is a shared secret"
    );
    docs.serve(
        "/fixed.json",
        Answer::Json {
            body: docs.document("/fixed.json", "Fixed"),
            cache_control: Some("max-age=86400"),
        },
    );
    consent(&s, &docs.url("/fixed.json"));
    assert_eq!(docs.hits("/fixed.json"), 2);
    s.assert_healthy();
}

#[test]
fn a_slow_document_server_is_given_five_seconds() {
    let tls = Tls::new();
    let docs = DocServer::start(&tls);
    let s = fetching(&tls).start();
    docs.serve(
        "/slow.json",
        Answer::Slow(docs.document("/slow.json", "Slow")),
    );
    let t = std::time::Instant::now();
    assert_eq!(
        refused(&s, &docs.url("/slow.json")),
        "fetching it failed: the total deadline passed"
    );
    let took = t.elapsed();
    assert!(
        (Duration::from_secs(4)..Duration::from_secs(8)).contains(&took),
        "{took:?}"
    );
    s.assert_healthy();
}

#[test]
fn a_host_on_a_special_use_address_is_refused() {
    let tls = Tls::new();
    let docs = DocServer::start(&tls);
    docs.serve(
        "/app.json",
        Answer::Json {
            body: docs.document("/app.json", "App"),
            cache_control: None,
        },
    );
    let dir = temp_dir("cimd-ca2");
    // Without the test exception: localhost resolves to a loopback address.
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("BRAIN_CIMD_FETCH", "on")
        .env("BRAIN_TLS_CA_FILE", &tls.ca_file(&dir))
        .start();
    let why = refused(&s, &docs.url("/app.json"));
    assert!(why.starts_with("fetching it failed: refused: "), "{why}");
    assert!(why.contains("loopback"), "{why}");
    assert_eq!(docs.hits("/app.json"), 0, "nothing was sent");
}

#[test]
fn allowed_hosts_and_the_per_address_limit() {
    let tls = Tls::new();
    let docs = DocServer::start(&tls);
    let s = fetching(&tls)
        .env("BRAIN_CIMD_ALLOW", "clients.example.com")
        .start();
    docs.serve(
        "/app.json",
        Answer::Json {
            body: docs.document("/app.json", "App"),
            cache_control: None,
        },
    );
    assert_eq!(
        refused(&s, &docs.url("/app.json")),
        "its host localhost is not in BRAIN_CIMD_ALLOW, so it is not fetched"
    );
    assert_eq!(docs.hits("/app.json"), 0);
    drop(s);
    // Each miss is a fetch the requester chose: 10 a minute per address.
    let s = fetching(&tls).start();
    for i in 0..10 {
        docs.serve(&format!("/n{i}.json"), Answer::Status(500));
        let why = refused(&s, &docs.url(&format!("/n{i}.json")));
        assert!(why.contains("status 500"), "{why}");
    }
    assert_eq!(
        refused(&s, &docs.url("/app.json")),
        "more than 10 client metadata documents were fetched for your address in the last minute; try again in a minute"
    );
    assert_eq!(docs.hits("/app.json"), 0);
}

#[test]
fn fetch_settings_are_checked() {
    let dir = temp_dir("cimd-cfg");
    for (k, v, want) in [
        (
            "BRAIN_CIMD_FETCH",
            "yes",
            "BRAIN_CIMD_FETCH must be on or off",
        ),
        (
            "BRAIN_CIMD_ALLOW",
            "https://x.example",
            "BRAIN_CIMD_ALLOW: \"https://x.example\" is not a host name (no scheme, port or path)",
        ),
    ] {
        let mut env = crate::util::minimal_env(&dir);
        env.push((k, v.to_string()));
        let out = crate::util::run(&["check-config"], &env);
        if out.code() != Some(1) || !out.stderr.contains(want) {
            out.fail(want);
        }
    }
    let mut env = crate::util::minimal_env(&dir);
    env.push(("BRAIN_CIMD_ALLOW", "x.example".to_string()));
    let out = crate::util::run(&["check-config"], &env);
    let want = "BRAIN_CIMD_ALLOW is set but BRAIN_CIMD_FETCH is not on";
    if out.code() != Some(1) || !out.stderr.contains(want) {
        out.fail(want);
    }
}
