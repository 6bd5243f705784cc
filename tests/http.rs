//! The HTTP/1.1 layer's limits and behaviour (shared/reference/http-server.md): every limit
//! shown over a real socket, and `/healthz` still answering afterwards.

use std::io::Read;
use std::thread;
use std::time::{Duration, Instant};

use crate::util::{raw_request, Conn, Server, TOKEN};

fn form_head(s: &Server, length: &str) -> String {
    format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {length}\r\n\r\n",
        s.host()
    )
}

/// Sends `bytes` on a new connection and reads the one response, which must close the
/// connection.
fn one_shot(s: &Server, bytes: &[u8]) -> crate::util::Response {
    let mut c = s.connect();
    c.send(bytes);
    let r = c.read_response();
    assert!(r.closes(), "expected Connection: close: {r:?}");
    c.assert_closed_within(Duration::from_secs(2));
    r
}

fn assert_error(r: &crate::util::Response, status: u16, error: &str) {
    assert_eq!(r.status, status, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.error(), error, "{r:?}");
}

#[test]
fn huge_content_length_on_token_is_413_without_reading() {
    let s = Server::start();
    for len in ["1000000000000", "18446744073709551615"] {
        let t = Instant::now();
        let r = one_shot(&s, form_head(&s, len).as_bytes());
        assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
        assert_eq!(r.status, 413);
        assert_eq!(
            r.json(),
            serde_json::json!({
                "error": "invalid_request",
                "error_description": "request body too large: the limit here is 65536 bytes"
            })
        );
    }
    s.assert_healthy();
}

#[test]
fn huge_content_length_on_mcp_is_413_without_reading() {
    let s = Server::start();
    for len in ["1000000000000", "18446744073709551615"] {
        let head = format!(
            "POST /mcp HTTP/1.1\r\nHost: {}\r\nAuthorization: Bearer {TOKEN}\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: {len}\r\n\r\n",
            s.host()
        );
        let t = Instant::now();
        let r = one_shot(&s, head.as_bytes());
        assert!(t.elapsed() < Duration::from_secs(2));
        assert_eq!(r.status, 413, "{r:?}");
        assert_eq!(
            r.json()["error_description"],
            "request body too large: the limit here is 1048576 bytes"
        );
    }
    s.assert_healthy();
    s.assert_log_clean(&[]);
}

#[test]
fn content_length_over_u64_is_400() {
    let s = Server::start();
    let r = one_shot(&s, form_head(&s, "18446744073709551616").as_bytes());
    assert_error(&r, 400, "invalid_request");
    assert_eq!(r.json()["error_description"], "bad Content-Length");
    let r = one_shot(&s, form_head(&s, "-1").as_bytes());
    assert_error(&r, 400, "invalid_request");
    s.assert_healthy();
}

#[test]
fn body_over_the_oauth_cap_is_413() {
    let s = Server::start();
    let body = vec![b'a'; 64 * 1024 + 1];
    let mut c = s.connect();
    c.send(form_head(&s, &body.len().to_string()).as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 413);
    assert!(r.closes());
    // Exactly at the cap is read and answered (400: the form has no grant_type).
    let body = "x".repeat(64 * 1024);
    let r = s.post_form("/oauth/token", &[], &body);
    assert_error(&r, 400, "invalid_request");
    s.assert_healthy();
}

#[test]
fn endless_header_line_is_431() {
    let s = Server::start();
    let mut c = s.connect();
    let mut w = c.stream.try_clone().unwrap();
    let host = s.host();
    // The writer may be cut off by the server's close; only the response matters.
    let writer = thread::spawn(move || {
        use std::io::Write;
        let mut bytes = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Long: ").into_bytes();
        bytes.extend(std::iter::repeat_n(b'a', 1024 * 1024));
        let _ = w.write_all(&bytes);
    });
    let r = c.read_response();
    assert_error(&r, 431, "invalid_request");
    assert_eq!(
        r.json()["error_description"],
        "request line and headers exceed 16384 bytes"
    );
    assert!(r.closes());
    writer.join().unwrap();
    s.assert_healthy();
}

#[test]
fn too_many_headers_is_431() {
    let s = Server::start();
    let headers: Vec<(String, String)> = (0..70).map(|i| (format!("X-H{i}"), "v".into())).collect();
    let h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    let r = one_shot(
        &s,
        &raw_request(&s.host(), "GET", "/healthz", &h, b"", false),
    );
    assert_error(&r, 431, "invalid_request");
    assert_eq!(r.json()["error_description"], "more than 64 header fields");
    s.assert_healthy();
}

#[test]
fn duplicate_content_length_is_400_and_closes() {
    let s = Server::start();
    let bytes = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        s.host()
    );
    let r = one_shot(&s, bytes.as_bytes());
    assert_error(&r, 400, "invalid_request");
    assert_eq!(
        r.json()["error_description"],
        "more than one Content-Length"
    );
    s.assert_healthy();
}

#[test]
fn content_length_with_transfer_encoding_is_400() {
    let s = Server::start();
    let bytes = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        s.host()
    );
    let r = one_shot(&s, bytes.as_bytes());
    assert_error(&r, 400, "invalid_request");
    s.assert_healthy();
}

#[test]
fn transfer_encoding_alone_is_411() {
    let s = Server::start();
    let bytes = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        s.host()
    );
    let r = one_shot(&s, bytes.as_bytes());
    assert_eq!(r.status, 411);
    assert_eq!(
        r.json()["error_description"],
        "Transfer-Encoding is not accepted; send the body with Content-Length"
    );
    s.assert_healthy();
}

#[test]
fn http2_preface_is_505() {
    let s = Server::start();
    let r = one_shot(&s, b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n");
    assert_error(&r, 505, "invalid_request");
    s.assert_healthy();
}

#[test]
fn http09_request_is_400() {
    let s = Server::start();
    let t = Instant::now();
    let r = one_shot(&s, b"GET /\r\n");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(t.elapsed() < Duration::from_secs(2));
    s.assert_healthy();
}

#[test]
fn unknown_method_is_501() {
    let s = Server::start();
    let r = one_shot(
        &s,
        &raw_request(&s.host(), "BREW", "/healthz", &[], b"", false),
    );
    assert_error(&r, 501, "invalid_request");
    s.assert_healthy();
}

#[test]
fn missing_host_is_400() {
    let s = Server::start();
    let r = one_shot(&s, b"GET /healthz HTTP/1.1\r\n\r\n");
    assert_error(&r, 400, "invalid_request");
    assert_eq!(
        r.json()["error_description"],
        "exactly one Host header is required"
    );
    let two = format!(
        "GET /healthz HTTP/1.1\r\nHost: {0}\r\nHost: {0}\r\n\r\n",
        s.host()
    );
    assert_error(&one_shot(&s, two.as_bytes()), 400, "invalid_request");
    s.assert_healthy();
}

#[test]
fn absolute_form_target_works() {
    let s = Server::start();
    let target = format!("http://{}/healthz?x=1", s.host());
    let r = s.request("GET", &target, &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), r#"{"status":"ok"}"#);
    // The asterisk form is only for OPTIONS of the whole server; we reject it cleanly.
    let r = one_shot(&s, &raw_request(&s.host(), "GET", "*", &[], b"", false));
    assert_eq!(r.status, 400);
    s.assert_healthy();
}

#[test]
fn pipelined_requests_are_answered_in_order() {
    let s = Server::start();
    let mut c = s.connect();
    let h = s.host();
    let mut bytes = raw_request(&h, "GET", "/healthz", &[], b"", false);
    bytes.extend(raw_request(&h, "GET", "/nope", &[], b"", false));
    bytes.extend(raw_request(
        &h,
        "GET",
        "/.well-known/oauth-protected-resource",
        &[],
        b"",
        true,
    ));
    c.send(&bytes);
    let a = c.read_response();
    let b = c.read_response();
    let d = c.read_response();
    assert_eq!((a.status, b.status, d.status), (200, 404, 200));
    assert_eq!(a.body_str(), r#"{"status":"ok"}"#);
    assert_eq!(b.error(), "not_found");
    assert!(d.json()["resource"].is_string());
    assert!(!a.closes() && !b.closes() && d.closes());
    c.assert_closed_within(Duration::from_secs(2));
    s.assert_healthy();
}

#[test]
fn keep_alive_connection_is_reused() {
    let s = Server::start();
    let mut c = s.connect();
    for _ in 0..5 {
        let r = c.request(&s.host(), "GET", "/healthz", &[], b"");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("connection"), None);
        assert_eq!(r.header("content-length"), Some("15"));
    }
    c.assert_open();
}

#[test]
fn connection_close_is_honoured_and_announced() {
    let s = Server::start();
    let mut c = s.connect();
    c.send(&raw_request(&s.host(), "GET", "/healthz", &[], b"", true));
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("connection"), Some("close"));
    c.assert_closed_within(Duration::from_secs(2));
}

#[test]
fn http10_closes_after_the_response() {
    let s = Server::start();
    let mut c = s.connect();
    c.send(b"GET /healthz HTTP/1.0\r\n\r\n");
    let r = c.read_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), r#"{"status":"ok"}"#);
    assert_eq!(r.header("connection"), Some("close"));
    c.assert_closed_within(Duration::from_secs(2));
}

#[test]
fn http10_without_host_is_403_on_mcp_with_the_reason() {
    let s = Server::start();
    let mut c = s.connect();
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"ping"}"#;
    let head = format!(
        "POST /mcp HTTP/1.0\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        crate::util::TOKEN,
        body.len()
    );
    c.send(head.as_bytes());
    c.send(body);
    let r = c.read_response();
    assert_eq!(r.status, 403, "{r:?}");
    assert!(
        r.body_str()
            .contains("the Host header names neither this server nor a loopback address"),
        "{r:?}"
    );
    c.assert_closed_within(Duration::from_secs(2));
    s.assert_healthy();
}

#[test]
fn head_has_content_length_and_no_body() {
    let s = Server::start();
    let mut c = s.connect();
    c.send(&raw_request(&s.host(), "HEAD", "/healthz", &[], b"", false));
    let r = c.read_head_response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-length"), Some("15"));
    assert_eq!(r.header("content-type"), Some("application/json"));
    // Were there a body, it would be read here as the next response's status line.
    let r = c.request(&s.host(), "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200);
    assert_eq!(r.body_str(), r#"{"status":"ok"}"#);
}

#[test]
fn idle_keep_alive_connection_is_closed_after_about_5s() {
    let s = Server::start();
    let mut c = s.connect();
    let r = c.request(&s.host(), "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200);
    let took = c.assert_closed_within(Duration::from_secs(10));
    assert!(
        took >= Duration::from_secs(4) && took <= Duration::from_secs(8),
        "idle connection closed after {took:?}"
    );
    // A connection that never sent anything is closed the same way.
    s.assert_healthy();
}

#[test]
fn trickled_head_gets_408_within_12s() {
    let s = Server::start();
    let mut c = s.connect();
    let mut w = c.stream.try_clone().unwrap();
    let host = s.host();
    let start = Instant::now();
    let trickler = thread::spawn(move || {
        use std::io::Write;
        let head = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Slow: ");
        let bytes = head.bytes().chain(std::iter::repeat(b'a'));
        for b in bytes {
            if w.write_all(&[b]).is_err() || start.elapsed() > Duration::from_secs(20) {
                return;
            }
            thread::sleep(Duration::from_millis(500));
        }
    });
    let r = c.read_response();
    let took = start.elapsed();
    assert_eq!(r.status, 408, "{r:?}");
    assert_eq!(r.error(), "request_timeout");
    assert!(r.closes());
    assert!(
        took >= Duration::from_secs(9) && took <= Duration::from_secs(12),
        "408 after {took:?}"
    );
    c.assert_closed_within(Duration::from_secs(2));
    drop(c);
    trickler.join().unwrap();
    s.assert_healthy();
}

#[test]
fn stalled_bodies_on_more_connections_than_workers_do_not_block_healthz() {
    let s = Server::builder().env("BRAIN_WORKERS", "2").start();
    let mut stalled: Vec<Conn> = (0..10)
        .map(|_| {
            let mut c = s.connect();
            c.send(form_head(&s, "100").as_bytes());
            c.send(b"grant_type");
            c
        })
        .collect();
    let start = Instant::now();
    // Throughout the stall, /healthz answers at once.
    for _ in 0..10 {
        s.assert_healthy();
        thread::sleep(Duration::from_millis(200));
    }
    // Every stalled client loses its connection with 408 about 10 s after its first byte.
    for c in &mut stalled {
        let r = c.read_response();
        assert_eq!(r.status, 408, "{r:?}");
        assert!(r.closes());
    }
    let took = start.elapsed();
    assert!(took <= Duration::from_secs(12), "408s after {took:?}");
    s.assert_healthy();
    s.wait_for_log("POST /oauth/token 408");
}

#[test]
fn burst_of_64_keep_alive_connections_all_answered() {
    let s = Server::start();
    let host = s.host();
    let start = Instant::now();
    let threads: Vec<_> = (0..64)
        .map(|_| {
            let addr = s.addr;
            let host = host.clone();
            thread::spawn(move || {
                let mut c = Conn::open(addr);
                for _ in 0..20 {
                    let r = c.request(&host, "GET", "/healthz", &[], b"");
                    assert_eq!(r.status, 200);
                    assert_eq!(r.body_str(), r#"{"status":"ok"}"#);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a connection of the burst failed");
    }
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "burst took {:?}",
        start.elapsed()
    );
    s.assert_healthy();
}

#[cfg(debug_assertions)]
#[test]
fn handler_panic_is_500_and_the_server_keeps_serving() {
    let s = Server::builder()
        .env("BRAIN_MCP_TEST_HOOKS", "1")
        .env("BRAIN_WORKERS", "1")
        .start();
    let mut c = s.connect();
    let r = c.request(&s.host(), "GET", "/__test/panic", &[], b"");
    assert_eq!(r.status, 500);
    assert_eq!(
        r.json(),
        serde_json::json!({"error":"server_error","error_description":"internal error"})
    );
    // The same connection and the only worker still serve.
    let r = c.request(&s.host(), "GET", "/healthz", &[], b"");
    assert_eq!(r.status, 200);
    for _ in 0..3 {
        assert_eq!(s.get("/__test/panic").status, 500);
    }
    s.assert_healthy();
    let log = s.wait_for_log("GET /__test/panic 500");
    assert!(log.contains("panic in thread worker-0"), "{log}");
}

#[test]
fn sigterm_exits_0_and_logs_stopped() {
    let mut s = Server::start();
    s.assert_healthy();
    let status = s.stop();
    assert_eq!(status.code(), Some(0), "{}", s.log());
    assert!(s.log().contains("brain-mcp: stopped"), "{}", s.log());
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mut s = Server::start();
    let mut idle = s.connect();
    assert_eq!(
        idle.request(&s.host(), "GET", "/healthz", &[], b"").status,
        200
    );
    let mut c = s.connect();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        crate::util::CLIENT_ID,
        crate::util::CLIENT_SECRET
    );
    let (first, rest) = form.as_bytes().split_at(10);
    c.send(form_head(&s, &form.len().to_string()).as_bytes());
    c.send(first);
    thread::sleep(Duration::from_millis(300));
    s.signal(libc::SIGTERM);
    // An idle keep-alive connection is closed at once.
    idle.assert_closed_within(Duration::from_secs(1));
    // A new connection is not served: it waits in the backlog and is refused when the
    // listener closes.
    let mut late = s.connect();
    late.send(&raw_request(&s.host(), "GET", "/healthz", &[], b"", true));
    thread::sleep(Duration::from_millis(300));
    // The request whose body was half sent is answered, with Connection: close.
    c.send(rest);
    let r = c.read_response();
    assert_eq!(r.status, 200, "{r:?}\n{}", s.log());
    assert!(r.closes());
    let token = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(s.wait_exit().code(), Some(0));
    assert!(late.try_read_response(false).is_err());
    assert!(s.log().contains("brain-mcp: stopped"));
    s.assert_log_clean(&[&token]);
}

#[test]
fn one_log_line_per_request_without_query_or_secrets() {
    let s = Server::start();
    let r = s.get("/healthz?token=sekrit-query-value");
    assert_eq!(r.status, 200);
    let r = s.request(
        "POST",
        "/mcp?access_token=query-token-value",
        &[("Authorization", &format!("Bearer {TOKEN}"))],
        b"{}",
    );
    assert_ne!(r.status, 401);
    // Each worker writes its log lines in batches: the two requests' lines may come in either
    // order, so wait for both.
    s.wait_for_log(" POST /mcp ");
    let log = s.wait_for_log(" GET /healthz ");
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(" GET /healthz "))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(lines[0].contains("127.0.0.1 GET /healthz 200 "), "{log}");
    assert!(lines[0].ends_with("ms"), "{log}");
    assert!(!log.contains("sekrit-query-value") && !log.contains("query-token-value"));
    s.assert_log_clean(&[]);
}

#[test]
fn request_smuggled_after_a_rejected_head_is_not_served() {
    // The bytes after a rejected head are not a next request: the connection is closed.
    let s = Server::start();
    let mut c = s.connect();
    let mut bytes = format!(
        "POST /oauth/token HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\nContent-Length: 40\r\n\r\n",
        s.host()
    )
    .into_bytes();
    bytes.extend(raw_request(&s.host(), "GET", "/healthz", &[], b"", false));
    c.send(&bytes);
    assert_eq!(c.read_response().status, 400);
    let mut rest = Vec::new();
    let _ = c.stream.read_to_end(&mut rest);
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}

#[test]
fn requests_per_connection_are_capped_at_1000() {
    let s = Server::start();
    let mut c = s.connect();
    let one = raw_request(&s.host(), "GET", "/healthz", &[], b"", false);
    let bytes: Vec<u8> = one.iter().copied().cycle().take(one.len() * 1001).collect();
    let mut w = c.stream.try_clone().unwrap();
    let writer = thread::spawn(move || {
        use std::io::Write;
        let _ = w.write_all(&bytes);
    });
    for i in 1..=1000 {
        let r = c.read_response();
        assert_eq!(r.status, 200);
        assert_eq!(r.closes(), i == 1000, "request {i}");
    }
    c.assert_closed_within(Duration::from_secs(2));
    writer.join().unwrap();
    s.assert_healthy();
}

#[test]
fn expect_100_continue() {
    let s = Server::start();
    let form = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        crate::util::CLIENT_ID,
        crate::util::CLIENT_SECRET
    );
    let mut c = s.connect();
    let head = form_head(&s, &form.len().to_string());
    let head = head.replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    c.send(head.as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 100);
    c.send(form.as_bytes());
    let r = c.read_response();
    assert_eq!(r.status, 200, "{r:?}");
    // Over the cap: 413 at once, no 100.
    let mut c = s.connect();
    let head = form_head(&s, "100000").replace("\r\n\r\n", "\r\nExpect: 100-continue\r\n\r\n");
    c.send(head.as_bytes());
    assert_eq!(c.read_response().status, 413);
    s.assert_log_clean(&[]);
}

#[test]
fn early_answer_with_an_unread_body_closes_the_connection() {
    // A 401 before the body is read: the unread body must not be taken for a next request.
    let s = Server::start();
    let mut c = s.connect();
    let smuggled = raw_request(&s.host(), "GET", "/healthz", &[], b"", false);
    let head = format!(
        "POST /mcp HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        s.host(),
        smuggled.len()
    );
    c.send(head.as_bytes());
    c.send(&smuggled);
    let r = c.read_response();
    assert_eq!(r.status, 401);
    assert!(r.closes());
    c.assert_closed_within(Duration::from_secs(2));
    s.assert_healthy();
}

#[test]
fn running_out_of_connections_answers_503_and_recovers() {
    // With 64 descriptors the server keeps at most 32 connections (the rest are for its
    // files); the next ones get 503 + Retry-After and are closed, and the server lives on.
    let s = Server::builder().nofile(64).start();
    let mut held: Vec<Conn> = (0..40).map(|_| s.connect()).collect();
    let mut refused = 0;
    for c in &mut held {
        c.send(&raw_request(&s.host(), "GET", "/healthz", &[], b"", false));
        let r = c.read_response();
        if r.status == 503 {
            refused += 1;
            assert_eq!(r.header("retry-after"), Some("1"));
            assert!(r.closes());
        } else {
            assert_eq!(r.status, 200);
        }
    }
    assert!(refused >= 8, "{refused} refused");
    drop(held);
    thread::sleep(Duration::from_millis(300));
    s.assert_healthy();
}

#[test]
fn absolute_form_authority_is_the_host_checked_on_mcp() {
    // RFC 9112 §3.2.2: with an absolute-form target the server uses its authority, not the
    // Host header, so the DNS-rebinding check cannot be sidestepped that way.
    let s = Server::start();
    let mut c = s.connect();
    c.send(&raw_request(
        &s.host(),
        "POST",
        "http://evil.example/mcp",
        &[
            ("Authorization", &format!("Bearer {TOKEN}")),
            ("Content-Type", "application/json"),
        ],
        b"{}",
        true,
    ));
    let r = c.read_response();
    assert_eq!(r.status, 403, "{r:?}");
}

/// A read stops at its cap (a head's 16 KiB and one byte) with more bytes waiting in the
/// socket. When the requests in that read end exactly at the cap, the server must read again
/// before it parks the connection: readiness is edge-triggered, so the bytes already waiting
/// are never announced again (the connection sat idle until the 5 s keep-alive timeout closed
/// it with the requests unread). Requests of exactly 113 bytes make 145 of them fill a
/// 16,385-byte read to the byte.
#[test]
fn pipelined_requests_ending_exactly_at_a_read_cap_are_all_served() {
    let s = Server::start();
    let host = s.host();
    let bare = format!("GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Pad: \r\n\r\n");
    let one = format!(
        "GET /healthz HTTP/1.1\r\nHost: {host}\r\nX-Pad: {}\r\n\r\n",
        "p".repeat(113 - bare.len())
    );
    assert_eq!(one.len(), 113);
    assert_eq!(113 * 145, 16 * 1024 + 1);
    let mut c = s.connect();
    c.stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    c.send(one.repeat(3 * 145).as_bytes());
    let t = Instant::now();
    for i in 0..3 * 145 {
        let r = c
            .try_read_response(false)
            .unwrap_or_else(|e| panic!("response {i} of {}: {e}", 3 * 145));
        assert_eq!(r.status, 200);
    }
    assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
}
