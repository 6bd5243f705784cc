//! Request-head parsing with explicit limits, on `httparse`.

use std::net::IpAddr;

use super::server::Limits;

/// A complete, checked request head.
#[derive(Debug)]
pub struct Head {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Lower-cased names, raw values.
    pub headers: Vec<(String, Vec<u8>)>,
    pub head_len: usize,
    /// Declared by `Content-Length` (0 when absent). Not yet checked against a cap.
    pub body_len: u64,
    pub keep_alive: bool,
    pub expect_continue: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ParseError {
    HeadTooLarge,
    TooManyHeaders,
    BadVersion,
    Malformed(&'static str),
    UnknownMethod,
    LengthRequired,
}

impl ParseError {
    /// The status and message sent for this error.
    pub fn status(&self) -> (u16, &'static str) {
        match self {
            ParseError::HeadTooLarge => (431, "request line and headers exceed 16384 bytes"),
            ParseError::TooManyHeaders => (431, "more than 64 header fields"),
            ParseError::BadVersion => (505, "only HTTP/1.1 and HTTP/1.0 are served"),
            ParseError::Malformed(m) => (400, m),
            ParseError::UnknownMethod => (501, "unknown method"),
            ParseError::LengthRequired => (
                411,
                "Transfer-Encoding is not accepted; send the body with Content-Length",
            ),
        }
    }
}

/// Methods we recognise; a route may still answer `405` for them. Anything else is `501`.
const KNOWN_METHODS: [&str; 9] = [
    "GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH", "TRACE", "CONNECT",
];

/// Parses the head at the start of `buf`. `Ok(None)`: incomplete, read more.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<Head>, ParseError> {
    // httparse needs its header array up front; 64 slots bound the work per request.
    let mut slots = [httparse::EMPTY_HEADER; 64];
    let slots = &mut slots[..limits.max_headers.min(64)];
    let mut req = httparse::Request::new(slots);
    let head_len = match req.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => {
            // An endless header line or endless headers stop here, at the cap, having cost
            // us at most `max_head` bytes of memory.
            return if buf.len() > limits.max_head {
                Err(ParseError::HeadTooLarge)
            } else {
                Ok(None)
            };
        }
        Err(httparse::Error::TooManyHeaders) => return Err(ParseError::TooManyHeaders),
        // "PRI * HTTP/2.0" (the HTTP/2 preface) and friends.
        Err(httparse::Error::Version) => return Err(ParseError::BadVersion),
        Err(_) => return Err(ParseError::Malformed("malformed request head")),
    };
    if head_len > limits.max_head {
        return Err(ParseError::HeadTooLarge);
    }
    // RFC 9112 §2.2 lets a recipient accept a bare LF as a line end; httparse does. We do not:
    // a proxy in front that reads the same bytes otherwise may split the head differently
    // (request smuggling), and no client we serve sends one.
    let head = &buf[..head_len];
    if head
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'\n' && (i == 0 || head[i - 1] != b'\r'))
    {
        return Err(ParseError::Malformed("line endings must be CRLF"));
    }
    let method = req.method.unwrap_or("");
    if !KNOWN_METHODS.contains(&method) {
        return Err(ParseError::UnknownMethod);
    }
    let version = req.version.unwrap_or(1);
    let target = req.path.unwrap_or("");
    let (authority, target) =
        origin_form(target).ok_or(ParseError::Malformed("bad request target"))?;
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p.to_string(), Some(q.to_string())),
        None => (target.to_string(), None),
    };

    let mut headers = Vec::with_capacity(req.headers.len());
    let mut content_length: Option<u64> = None;
    let mut lengths = 0;
    let mut transfer_encoding = false;
    let mut hosts = 0;
    let mut close = version == 0;
    let mut keep_alive_token = false;
    let mut expect_continue = false;
    for h in req.headers.iter() {
        let name = h.name.to_ascii_lowercase();
        match name.as_str() {
            "content-length" => {
                lengths += 1;
                content_length = Some(parse_length(h.value)?);
            }
            "transfer-encoding" => transfer_encoding = true,
            "host" => {
                hosts += 1;
                // RFC 9112 §3.2.2: with an absolute-form target the server MUST use its
                // authority instead of Host. Otherwise `POST http://evil.example/mcp` with a
                // loopback Host would pass the DNS-rebinding check on a Host we ignore.
                if let Some(a) = authority {
                    headers.push((name, a.as_bytes().to_vec()));
                    continue;
                }
            }
            "connection" => {
                for token in h.value.split(|b| *b == b',') {
                    let token = token.trim_ascii();
                    if token.eq_ignore_ascii_case(b"close") {
                        close = true;
                    } else if token.eq_ignore_ascii_case(b"keep-alive") {
                        keep_alive_token = true;
                    }
                }
            }
            "expect" => {
                expect_continue = h.value.trim_ascii().eq_ignore_ascii_case(b"100-continue")
            }
            _ => {}
        }
        headers.push((name, h.value.to_vec()));
    }
    // RFC 9112 §6.3: Content-Length with Transfer-Encoding, or several Content-Length
    // fields, is how requests are smuggled past proxies. Refuse and close.
    if lengths > 1 {
        return Err(ParseError::Malformed("more than one Content-Length"));
    }
    if transfer_encoding && lengths > 0 {
        return Err(ParseError::Malformed(
            "both Content-Length and Transfer-Encoding",
        ));
    }
    if transfer_encoding {
        return Err(ParseError::LengthRequired);
    }
    // RFC 9112 §3.2: a 1.1 request without exactly one Host is a 400.
    if version == 1 && hosts != 1 {
        return Err(ParseError::Malformed("exactly one Host header is required"));
    }
    let keep_alive = if version == 0 {
        keep_alive_token && !close
    } else {
        !close
    };
    Ok(Some(Head {
        method: method.to_string(),
        path,
        query,
        headers,
        head_len,
        body_len: content_length.unwrap_or(0),
        keep_alive,
        expect_continue,
    }))
}

/// Digits only, no sign, no overflow: `18446744073709551615` parses (and is then too large
/// for any route), `18446744073709551616` is malformed.
fn parse_length(v: &[u8]) -> Result<u64, ParseError> {
    let v = v.trim_ascii();
    if v.is_empty() || !v.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::Malformed("bad Content-Length"));
    }
    let mut n: u64 = 0;
    for d in v {
        n = n
            .checked_mul(10)
            .and_then(|n| n.checked_add(u64::from(d - b'0')))
            .ok_or(ParseError::Malformed("bad Content-Length"))?;
    }
    Ok(n)
}

/// The authority (absolute form only) and origin-form of a target. RFC 9112 §3.2.2 asks
/// servers to accept the absolute form (`http://host/path`) and to take the host from it
/// rather than from the Host header.
fn origin_form(target: &str) -> Option<(Option<&str>, &str)> {
    if target.starts_with('/') {
        return Some((None, target));
    }
    for scheme in ["http://", "https://"] {
        // Compared as bytes: the target may hold UTF-8 (httparse passes bytes >= 0x80), and
        // slicing the str at `scheme.len()` could split a character and panic.
        let t = target.as_bytes();
        if t.len() > scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme.as_bytes()) {
            let rest = &target[scheme.len()..];
            let end = rest.find(['/', '?']).unwrap_or(rest.len());
            let authority = &rest[..end];
            if authority.is_empty() {
                return None;
            }
            let path = match rest.as_bytes().get(end) {
                Some(b'/') => &rest[end..],
                _ => "/",
            };
            return Some((Some(authority), path));
        }
    }
    None
}

/// The client's address. Only when the TCP peer is a trusted proxy do we believe
/// `X-Forwarded-For`, and then we take the rightmost address not itself a trusted proxy: the
/// leftmost entries are whatever the client chose to send.
pub fn client_addr(peer: IpAddr, headers: &[(String, Vec<u8>)], trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&canonical(peer)) {
        return peer;
    }
    let mut addrs: Vec<IpAddr> = Vec::new();
    for (name, value) in headers {
        if name != "x-forwarded-for" {
            continue;
        }
        let Ok(value) = std::str::from_utf8(value) else {
            return peer;
        };
        for part in value.split(',') {
            match part.trim().parse::<IpAddr>() {
                Ok(ip) => addrs.push(canonical(ip)),
                Err(_) => return peer,
            }
        }
    }
    addrs
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// IPv4-mapped IPv6 (`::ffff:127.0.0.1`) compares equal to the IPv4 address.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map(IpAddr::V4)
            .unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits::default()
    }

    fn parse(s: &str) -> Result<Option<Head>, ParseError> {
        parse_head(s.as_bytes(), &limits())
    }

    /// Fuzzing (http_parse) found a panic: a target starting like an absolute URI with a
    /// multi-byte character straddling byte 7 (`http:/` + U+051E) was sliced inside the
    /// character. It is now a 400, like any other target that is neither form.
    #[test]
    fn non_ascii_target_prefix_does_not_panic() {
        let crash = b"GET http:/\xd4\x9e\xd0\x9d?c HTTP/1.0\r\nConnection: keep-alivg\r\n\r\n";
        assert_eq!(
            parse_head(crash, &limits()).unwrap_err(),
            ParseError::Malformed("bad request target")
        );
        for target in ["httpsé/x", "httpséé", "HTTP://é/a", "éééé/"] {
            let req = format!("GET {target} HTTP/1.1\r\nHost: a\r\n\r\n");
            let _ = parse(&req);
        }
        let h = parse("GET http://é/a?b HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.path, "/a");
    }

    #[test]
    fn bare_lf_is_refused() {
        for req in [
            "GET / HTTP/1.1\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\n\n",
            "GET / HTTP/1.1\nHost: a\n\n",
        ] {
            assert_eq!(
                parse(req).unwrap_err(),
                ParseError::Malformed("line endings must be CRLF"),
                "{req:?}"
            );
        }
        assert!(parse("\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n").is_ok());
    }

    #[test]
    fn simple_get() {
        let h = parse("GET /healthz?x=1 HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.method, "GET");
        assert_eq!(h.path, "/healthz");
        assert_eq!(h.query.as_deref(), Some("x=1"));
        assert!(h.keep_alive);
        assert_eq!(h.body_len, 0);
    }

    #[test]
    fn partial_then_too_large() {
        assert!(parse("GET / HTTP/1.1\r\nHost: a\r\n").unwrap().is_none());
        let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(17000));
        assert_eq!(parse(&long).unwrap_err(), ParseError::HeadTooLarge);
    }

    #[test]
    fn too_many_headers() {
        let mut s = String::from("GET / HTTP/1.1\r\nHost: a\r\n");
        for i in 0..70 {
            s.push_str(&format!("X-{i}: y\r\n"));
        }
        s.push_str("\r\n");
        assert_eq!(parse(&s).unwrap_err(), ParseError::TooManyHeaders);
    }

    #[test]
    fn smuggling_shapes_rejected() {
        let two = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\n";
        assert!(matches!(parse(two), Err(ParseError::Malformed(_))));
        let both =
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(matches!(parse(both), Err(ParseError::Malformed(_))));
        let te = "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(parse(te).unwrap_err(), ParseError::LengthRequired);
        let neg = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n";
        assert!(matches!(parse(neg), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn content_length_extremes() {
        let max = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551615\r\n\r\n";
        assert_eq!(parse(max).unwrap().unwrap().body_len, u64::MAX);
        let over = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 18446744073709551616\r\n\r\n";
        assert!(matches!(parse(over), Err(ParseError::Malformed(_))));
    }

    #[test]
    fn versions_and_methods() {
        assert_eq!(
            parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").unwrap_err(),
            ParseError::BadVersion
        );
        assert!(parse("GET /\r\n\r\n").is_err());
        assert_eq!(
            parse("BREW / HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            ParseError::UnknownMethod
        );
        assert!(matches!(
            parse("GET / HTTP/1.1\r\n\r\n"),
            Err(ParseError::Malformed(_))
        ));
        let h10 = parse("GET / HTTP/1.0\r\n\r\n").unwrap().unwrap();
        assert!(!h10.keep_alive);
    }

    #[test]
    fn absolute_form() {
        let h = parse("GET http://example.com/mcp?a HTTP/1.1\r\nHost: a\r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!(h.path, "/mcp");
        let host: Vec<_> = h.headers.iter().filter(|(n, _)| n == "host").collect();
        assert_eq!(host, [&("host".to_string(), b"example.com".to_vec())]);
        assert!(parse("GET * HTTP/1.1\r\nHost: a\r\n\r\n").is_err());
        assert!(parse("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n").is_err());
    }

    #[test]
    fn forwarded_for_only_from_trusted() {
        let proxy: IpAddr = "127.0.0.1".parse().unwrap();
        let h = vec![(
            "x-forwarded-for".to_string(),
            b"6.6.6.6, 203.0.113.9".to_vec(),
        )];
        let other: IpAddr = "10.0.0.1".parse().unwrap();
        assert_eq!(client_addr(other, &h, &[proxy]), other);
        assert_eq!(
            client_addr(proxy, &h, &[proxy]),
            "203.0.113.9".parse::<IpAddr>().unwrap()
        );
        let bad = vec![("x-forwarded-for".to_string(), b"nonsense".to_vec())];
        assert_eq!(client_addr(proxy, &bad, &[proxy]), proxy);
    }
}
