//! The HTTP/1.1 layer: a listener, a fixed worker pool and request parsing with explicit limits.
//! It knows nothing of OAuth or MCP: it hands a parsed [`Request`] to a [`Service`] and writes
//! back the [`Response`].

use std::net::IpAddr;

/// A parsed request. Header names are lower-cased; values are kept as raw bytes because
/// a client may send anything, and only the handler knows what it needs as text.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// The path without the query string, exactly as sent (no percent-decoding).
    pub path: String,
    /// The raw query string after `?`, if any.
    pub query: Option<String>,
    pub headers: Vec<(String, Vec<u8>)>,
    pub body: Vec<u8>,
    /// The client address: the TCP peer, or the `X-Forwarded-For` address when the peer is a
    /// trusted proxy.
    pub client: IpAddr,
}

impl Request {
    /// The value of a header sent exactly once, as UTF-8. `None` when it is absent, repeated or
    /// not UTF-8; use [`Request::header_count`] to tell those apart where it matters.
    pub fn header(&self, name: &str) -> Option<&str> {
        let mut found = None;
        for (n, v) in &self.headers {
            if n == name {
                if found.is_some() {
                    return None;
                }
                found = Some(v);
            }
        }
        found.and_then(|v| std::str::from_utf8(v).ok())
    }

    /// How many times a header was sent.
    pub fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n == name).count()
    }
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// A JSON body with `Content-Type: application/json`.
    pub fn json(status: u16, value: &serde_json::Value) -> Response {
        let body = serde_json::to_vec(value).unwrap_or_default();
        Response::new(status)
            .header("Content-Type", "application/json")
            .body(body)
    }

    pub fn text(status: u16, text: &str) -> Response {
        Response::new(status)
            .header("Content-Type", "text/plain; charset=utf-8")
            .body(text.as_bytes().to_vec())
    }

    pub fn header(mut self, name: &str, value: &str) -> Response {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Response {
        self.body = body;
        self
    }

    pub fn get_header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

pub mod parse;
pub mod server;
