//! The one outbound HTTP(S) client. Everything in brain-mcp that talks to another server goes
//! through [`Client::fetch`]: OpenID discovery and keys (src/oidc), and later client metadata
//! documents and an embeddings endpoint. One module, one set of limits:
//!
//! - TLS by rustls with the ring provider; Mozilla's roots compiled in (webpki-roots) plus the
//!   PEM certificates of `BRAIN_TLS_CA_FILE` for a private CA.
//! - Blocking, on its own thread: [`Client::fetch`] runs the request on a fresh thread (at
//!   most [`MAX_IN_FLIGHT`] at once) and waits at most the policy's total deadline, so a
//!   caller never waits on the network longer than it said, even while the system resolver
//!   (which has no timeout) is stuck.
//! - Per use, a [`Policy`]: connect and total deadlines, a body cap, how many redirects to
//!   follow (none unless the caller asks), and which addresses and schemes may be reached
//!   ([`Target`]).
//! - The caller judges the answer: [`Response::check`] takes the statuses and media types
//!   that caller accepts.
//!
//! One request per connection (`Connection: close`), HTTP/1.1 only.

pub mod addr;
mod http1;

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::config;
use crate::error::Error;

/// Requests running at once, per client. A fetch thread stuck in the system resolver cannot be
/// cancelled; this bounds how many such threads can pile up.
pub const MAX_IN_FLIGHT: usize = 16;

/// The outbound settings from the environment.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BRAIN_TLS_CA_FILE` and how many certificates it held.
    pub ca_file: Option<(PathBuf, usize)>,
    /// `BRAIN_OUTBOUND_HTTP_HOSTS`: hosts an operator-configured URL may reach over plain
    /// `http://` (besides loopback hosts, which always may), lower-cased.
    pub http_hosts: Vec<String>,
    /// `BRAIN_OUTBOUND_ALLOW_LOOPBACK`: tests only. Fetched documents may come from loopback
    /// addresses; accepted only while the server itself runs on loopback.
    pub loopback_for_tests: bool,
    tls: Arc<rustls::ClientConfig>,
}

impl Settings {
    /// Reads `BRAIN_TLS_CA_FILE`, `BRAIN_OUTBOUND_HTTP_HOSTS` and
    /// `BRAIN_OUTBOUND_ALLOW_LOOPBACK`. `resource_is_loopback` says whether `MCP_RESOURCE_URL`
    /// is unset or names a loopback host (the test exception needs it).
    pub fn from_env(
        var: &dyn Fn(&str) -> Option<String>,
        resource_is_loopback: bool,
    ) -> Result<Settings, Error> {
        let mut extra = Vec::new();
        let ca_file = match var("BRAIN_TLS_CA_FILE") {
            None => None,
            Some(path) => {
                let bad = |why: String| Error::Config(format!("BRAIN_TLS_CA_FILE: {path}: {why}"));
                let iter = CertificateDer::pem_file_iter(&path)
                    .map_err(|e| bad(format!("cannot read it ({e})")))?;
                for cert in iter {
                    extra.push(cert.map_err(|e| bad(format!("not PEM certificates ({e})")))?);
                }
                if extra.is_empty() {
                    return Err(bad("holds no PEM certificate".into()));
                }
                Some((PathBuf::from(&path), extra.len()))
            }
        };
        let tls = tls_config(extra).map_err(|why| {
            Error::Config(format!(
                "BRAIN_TLS_CA_FILE: a certificate is not a usable CA ({why})"
            ))
        })?;
        let mut http_hosts = Vec::new();
        for h in config::list(var("BRAIN_OUTBOUND_HTTP_HOSTS")) {
            let ok = !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'));
            if !ok {
                return Err(Error::Config(format!(
                    "BRAIN_OUTBOUND_HTTP_HOSTS: {h:?} is not a host name or address (no scheme, port or path)"
                )));
            }
            http_hosts.push(
                h.trim_start_matches('[')
                    .trim_end_matches(']')
                    .to_ascii_lowercase(),
            );
        }
        let loopback_for_tests = match var("BRAIN_OUTBOUND_ALLOW_LOOPBACK").as_deref() {
            None | Some("0") => false,
            Some("1") if resource_is_loopback => true,
            Some("1") => return Err(Error::Config(
                "BRAIN_OUTBOUND_ALLOW_LOOPBACK is for tests: it needs a loopback MCP_RESOURCE_URL"
                    .into(),
            )),
            Some(_) => {
                return Err(Error::Config(
                    "BRAIN_OUTBOUND_ALLOW_LOOPBACK must be 0 or 1".into(),
                ))
            }
        };
        Ok(Settings {
            ca_file,
            http_hosts,
            loopback_for_tests,
            tls: Arc::new(tls),
        })
    }

    /// `check-config` lines.
    pub fn describe(&self) -> Vec<(&'static str, String)> {
        vec![
            (
                "BRAIN_TLS_CA_FILE",
                match &self.ca_file {
                    Some((p, n)) => format!(
                        "{} ({n} certificates, besides the compiled-in roots)",
                        p.display()
                    ),
                    None => "[unset] (the compiled-in Mozilla roots)".into(),
                },
            ),
            ("BRAIN_OUTBOUND_HTTP_HOSTS", self.http_hosts.join(",")),
            (
                "BRAIN_OUTBOUND_ALLOW_LOOPBACK",
                if self.loopback_for_tests {
                    "1 (tests only)"
                } else {
                    "0"
                }
                .into(),
            ),
        ]
    }
}

fn tls_config(extra: Vec<CertificateDer<'static>>) -> Result<rustls::ClientConfig, String> {
    let mut roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    for cert in extra {
        roots.add(cert).map_err(|e| e.to_string())?;
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

/// Where a URL came from, which decides what it may reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// The operator wrote it in the configuration (the OpenID issuer, an embeddings
    /// endpoint): any address it resolves to, since the operator chose the host. Plain
    /// `http://` only when the host is a loopback name or address or is listed in
    /// `BRAIN_OUTBOUND_HTTP_HOSTS` (an in-cluster `http://dex:5556`).
    Configured,
    /// Someone else chose it (a client metadata document URL, a `jwks_uri` on a host other
    /// than the issuer's): `https://` only, and every address the host resolves to must be
    /// globally reachable ([`addr::special_use`]); we connect to the address we checked.
    Fetched,
}

/// How one use of the client may behave.
#[derive(Debug, Clone)]
pub struct Policy {
    pub target: Target,
    /// For each TCP connect.
    pub connect: Duration,
    /// For everything: resolving, connecting, TLS, sending, reading the whole body.
    pub total: Duration,
    /// The largest body accepted (decoded), in bytes.
    pub max_body: usize,
    /// Redirects followed (each through the same policy); 0 returns a 3xx as it came.
    pub max_redirects: u8,
}

/// One request. Build it with [`Request::get`] or [`Request::post`].
#[derive(Debug, Clone)]
pub struct Request {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn get(url: &str) -> Request {
        Request {
            method: "GET",
            url: url.to_string(),
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    pub fn post(url: &str, content_type: &str, body: Vec<u8>) -> Request {
        Request::get(url)
            .method("POST")
            .header("Content-Type", content_type)
            .body(body)
    }

    fn method(mut self, m: &'static str) -> Request {
        self.method = m;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Request {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn body(mut self, body: Vec<u8>) -> Request {
        self.body = body;
        self
    }
}

/// A response: status, headers (names lower-cased, in order) and the decoded body.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of a header.
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The media type of `Content-Type`, lower-cased, without parameters.
    pub fn media_type(&self) -> Option<String> {
        self.header("content-type").map(|v| {
            v.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase()
        })
    }

    /// The caller's rule: the status must be one of `statuses` and the media type one of
    /// `media_types` (empty: any).
    pub fn check(&self, statuses: &[u16], media_types: &[&str]) -> Result<(), FetchError> {
        if !statuses.contains(&self.status) {
            return Err(FetchError::Unexpected(format!(
                "status {} (wanted {})",
                self.status,
                statuses
                    .iter()
                    .map(u16::to_string)
                    .collect::<Vec<_>>()
                    .join(" or ")
            )));
        }
        if !media_types.is_empty() {
            let mt = self.media_type().unwrap_or_default();
            if !media_types.contains(&mt.as_str()) {
                return Err(FetchError::Unexpected(format!(
                    "Content-Type {:?} (wanted {})",
                    printable(&mt, 64),
                    media_types.join(" or ")
                )));
            }
        }
        Ok(())
    }
}

/// Why a fetch failed. The messages name hosts and addresses, never a header value or a body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    Url(String),
    /// The policy refused the URL or an address before anything was sent.
    Refused(String),
    Resolve(String),
    Connect(String),
    Tls(String),
    /// "connect" or "total".
    Timeout(&'static str),
    /// The body exceeded the cap (bytes).
    TooLarge(usize),
    Protocol(String),
    Io(String),
    /// The caller's rule refused the response.
    Unexpected(String),
    /// [`MAX_IN_FLIGHT`] requests were already running.
    Busy,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Url(m) => write!(f, "bad URL: {m}"),
            FetchError::Refused(m) => write!(f, "refused: {m}"),
            FetchError::Resolve(m) => write!(f, "cannot resolve {m}"),
            FetchError::Connect(m) => write!(f, "cannot connect: {m}"),
            FetchError::Tls(m) => write!(f, "TLS: {m}"),
            FetchError::Timeout(which) => write!(f, "the {which} deadline passed"),
            FetchError::TooLarge(n) => write!(f, "the response body is larger than {n} bytes"),
            FetchError::Protocol(m) => write!(f, "bad HTTP response: {m}"),
            FetchError::Io(m) => write!(f, "I/O error: {m}"),
            FetchError::Unexpected(m) => write!(f, "unexpected response: {m}"),
            FetchError::Busy => write!(f, "too many outbound requests at once ({MAX_IN_FLIGHT})"),
        }
    }
}

/// At most `max` characters of `s`, control characters replaced: text a server chose, before
/// it reaches a log line.
pub fn printable(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

/// The outbound client. Cheap to clone (an `Arc`).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    tls: Arc<rustls::ClientConfig>,
    http_hosts: Vec<String>,
    loopback_for_tests: bool,
    in_flight: AtomicUsize,
}

impl Client {
    pub fn new(settings: &Settings) -> Client {
        Client {
            inner: Arc::new(Inner {
                tls: settings.tls.clone(),
                http_hosts: settings.http_hosts.clone(),
                loopback_for_tests: settings.loopback_for_tests,
                in_flight: AtomicUsize::new(0),
            }),
        }
    }

    /// Runs `req` under `policy` on its own thread; returns within the total deadline (plus
    /// the time to hand the answer over).
    pub fn fetch(&self, req: Request, policy: &Policy) -> Result<Response, FetchError> {
        if self.inner.in_flight.fetch_add(1, Ordering::SeqCst) >= MAX_IN_FLIGHT {
            self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(FetchError::Busy);
        }
        let deadline = Instant::now() + policy.total;
        let (tx, rx) = mpsc::sync_channel(1);
        let inner = self.inner.clone();
        let pol = policy.clone();
        let spawned = std::thread::Builder::new()
            .name("fetch".into())
            .spawn(move || {
                let r = run(&inner, req, &pol, deadline);
                inner.in_flight.fetch_sub(1, Ordering::SeqCst);
                let _ = tx.send(r);
            });
        if let Err(e) = spawned {
            self.inner.in_flight.fetch_sub(1, Ordering::SeqCst);
            return Err(FetchError::Io(format!("cannot start a fetch thread: {e}")));
        }
        match rx.recv_timeout(policy.total + Duration::from_millis(50)) {
            Ok(r) => r,
            Err(mpsc::RecvTimeoutError::Timeout) => Err(FetchError::Timeout("total")),
            Err(mpsc::RecvTimeoutError::Disconnected) => Err(FetchError::Io(
                "the fetch thread ended without an answer".into(),
            )),
        }
    }
}

fn run(
    inner: &Inner,
    mut req: Request,
    policy: &Policy,
    deadline: Instant,
) -> Result<Response, FetchError> {
    let mut redirects = 0;
    loop {
        let resp = once(inner, &req, policy, deadline)?;
        let redirect = matches!(resp.status, 301 | 302 | 303 | 307 | 308);
        if !redirect || redirects >= policy.max_redirects {
            return Ok(resp);
        }
        let loc = resp
            .header("location")
            .ok_or_else(|| FetchError::Protocol(format!("a {} without Location", resp.status)))?;
        req.url = resolve_location(&req.url, loc)?;
        // RFC 9110 §15.4.4: a 303 is followed with GET; so are 301/302 after a POST, as
        // every client does.
        if resp.status == 303 || (matches!(resp.status, 301 | 302) && req.method == "POST") {
            req.method = "GET";
            req.body.clear();
            req.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-type"));
        }
        redirects += 1;
    }
}

fn resolve_location(base: &str, loc: &str) -> Result<String, FetchError> {
    if config::parse_url(loc).is_some() {
        return Ok(loc.to_string());
    }
    let bad = || {
        FetchError::Protocol(format!(
            "a Location that is not a URL: {:?}",
            printable(loc, 100)
        ))
    };
    if loc.starts_with('/') && !loc.starts_with("//") {
        let url = config::parse_url(base).ok_or_else(bad)?;
        let joined = format!("{}{loc}", url.origin);
        return config::parse_url(&joined)
            .map(|_| joined.clone())
            .ok_or_else(bad);
    }
    Err(bad())
}

/// The socket, plain or under TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Conn {
    fn tcp(&self) -> &TcpStream {
        match self {
            Conn::Plain(s) => s,
            Conn::Tls(s) => s.get_ref(),
        }
    }

    fn write_before(&mut self, bytes: &[u8], deadline: Instant) -> Result<(), FetchError> {
        self.tcp()
            .set_write_timeout(Some(remaining(deadline)?))
            .map_err(|e| FetchError::Io(e.to_string()))?;
        let r = match self {
            Conn::Plain(s) => s.write_all(bytes).and_then(|()| s.flush()),
            Conn::Tls(s) => s.write_all(bytes).and_then(|()| s.flush()),
        };
        r.map_err(io_error)
    }
}

impl http1::Source for Conn {
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> std::io::Result<usize> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(std::io::ErrorKind::TimedOut.into());
        }
        self.tcp().set_read_timeout(Some(left))?;
        match self {
            Conn::Plain(s) => s.read(buf),
            Conn::Tls(s) => s.read(buf),
        }
    }
}

fn remaining(deadline: Instant) -> Result<Duration, FetchError> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        Err(FetchError::Timeout("total"))
    } else {
        Ok(left)
    }
}

/// An I/O error from the socket or from rustls under it.
fn io_error(e: std::io::Error) -> FetchError {
    if matches!(
        e.kind(),
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
    ) {
        return FetchError::Timeout("total");
    }
    match e
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
    {
        Some(tls) => FetchError::Tls(tls.to_string()),
        None => FetchError::Io(e.to_string()),
    }
}

fn once(
    inner: &Inner,
    req: &Request,
    policy: &Policy,
    deadline: Instant,
) -> Result<Response, FetchError> {
    let url = config::parse_url(&req.url).ok_or_else(|| {
        FetchError::Url("not an absolute http(s) URL without userinfo or fragment".into())
    })?;
    let https = url.scheme == "https";
    let host = url.host.trim_start_matches('[').trim_end_matches(']');
    if !https {
        match policy.target {
            Target::Fetched => {
                return Err(FetchError::Refused(format!(
                    "plain http:// to {host} (fetched documents need https://)"
                )))
            }
            Target::Configured => {
                let listed = inner
                    .http_hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(host));
                if !listed && !config::is_loopback_host(url.host) {
                    return Err(FetchError::Refused(format!(
                        "plain http:// to {host}, which is neither a loopback host nor listed in BRAIN_OUTBOUND_HTTP_HOSTS"
                    )));
                }
            }
        }
    }
    for (n, v) in &req.headers {
        if n.contains(['\r', '\n', ':']) || v.contains(['\r', '\n']) {
            return Err(FetchError::Url("a request header with a line break".into()));
        }
    }
    let port = url.port.unwrap_or(if https { 443 } else { 80 });
    let addrs = resolve(host, port)?;
    remaining(deadline)?;
    if policy.target == Target::Fetched {
        for a in &addrs {
            if let Some(range) = addr::special_use(a.ip()) {
                if !(inner.loopback_for_tests && a.ip().is_loopback()) {
                    return Err(FetchError::Refused(format!(
                        "{host} resolves to {}, a special-use address ({range})",
                        a.ip()
                    )));
                }
            }
        }
    }
    let tcp = connect(&addrs, policy.connect, deadline)?;
    let _ = tcp.set_nodelay(true);
    let mut conn = if https {
        let name = ServerName::try_from(host.to_string())
            .map_err(|_| FetchError::Url(format!("{host:?} is not a TLS server name")))?;
        let tls = rustls::ClientConnection::new(inner.tls.clone(), name)
            .map_err(|e| FetchError::Tls(e.to_string()))?;
        Conn::Tls(Box::new(rustls::StreamOwned::new(tls, tcp)))
    } else {
        Conn::Plain(tcp)
    };

    let target = match url.query {
        Some(q) => format!("{}?{q}", if url.path.is_empty() { "/" } else { url.path }),
        None => (if url.path.is_empty() { "/" } else { url.path }).to_string(),
    };
    let host_header = match url.port {
        Some(p) => format!("{}:{p}", url.host),
        None => url.host.to_string(),
    };
    let mut head = format!(
        "{} {target} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: brain-mcp/{}\r\nConnection: close\r\n",
        req.method,
        env!("CARGO_PKG_VERSION")
    );
    for (n, v) in &req.headers {
        head.push_str(&format!("{n}: {v}\r\n"));
    }
    if !req.body.is_empty() || req.method == "POST" {
        head.push_str(&format!("Content-Length: {}\r\n", req.body.len()));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(&req.body);
    conn.write_before(&bytes, deadline)?;
    let parsed = http1::read_response(&mut conn, req.method, policy.max_body, deadline)?;
    Ok(Response {
        status: parsed.status,
        headers: parsed.headers,
        body: parsed.body,
    })
}

fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, FetchError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(vec![SocketAddr::new(ip, port)]);
    }
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| FetchError::Resolve(format!("{host}: {e}")))?
        .collect();
    if addrs.is_empty() {
        return Err(FetchError::Resolve(format!("{host}: no addresses")));
    }
    Ok(addrs)
}

/// Tries each address in turn (the resolver's order), each within the connect deadline and
/// all within the total one.
fn connect(
    addrs: &[SocketAddr],
    each: Duration,
    deadline: Instant,
) -> Result<TcpStream, FetchError> {
    let mut last = FetchError::Connect("no address to try".into());
    for a in addrs {
        let left = remaining(deadline)?;
        match TcpStream::connect_timeout(a, each.min(left)) {
            Ok(s) => return Ok(s),
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {
                last = FetchError::Timeout("connect")
            }
            Err(e) => last = FetchError::Connect(format!("{a}: {e}")),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpListener;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, Error> {
        let map: std::collections::HashMap<&str, &str> = pairs.iter().copied().collect();
        Settings::from_env(&|k| map.get(k).map(|v| v.to_string()), true)
    }

    fn client(pairs: &[(&str, &str)]) -> Client {
        Client::new(&settings(pairs).unwrap())
    }

    fn policy(target: Target) -> Policy {
        Policy {
            target,
            connect: Duration::from_secs(2),
            total: Duration::from_secs(3),
            max_body: 1024,
            max_redirects: 0,
        }
    }

    /// A plain-HTTP server on loopback that answers each connection with `answer` and counts
    /// the connections it saw.
    fn serve(answer: &'static str) -> (SocketAddr, Arc<AtomicUsize>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let h = hits.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                h.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf);
                let _ = s.write_all(answer.as_bytes());
            }
        });
        (addr, hits)
    }

    #[test]
    fn fetches_from_a_configured_loopback_host_over_http() {
        let (addr, hits) = serve("HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8\r\nContent-Length: 2\r\n\r\n{}");
        let r = client(&[])
            .fetch(
                Request::get(&format!("http://{addr}/x")),
                &policy(Target::Configured),
            )
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"{}");
        assert_eq!(r.media_type().as_deref(), Some("application/json"));
        r.check(&[200], &["application/json"]).unwrap();
        assert!(r.check(&[200], &["text/html"]).is_err());
        assert!(r.check(&[201], &[]).is_err());
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn plain_http_needs_loopback_or_a_listed_host() {
        let c = client(&[]);
        let e = c
            .fetch(
                Request::get("http://192.0.2.1/x"),
                &policy(Target::Configured),
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused: plain http:// to 192.0.2.1, which is neither a loopback host nor listed in BRAIN_OUTBOUND_HTTP_HOSTS"
        );
        // Listed: allowed (and then the connection fails or times out, which is not a refusal).
        let listed = client(&[("BRAIN_OUTBOUND_HTTP_HOSTS", "192.0.2.1, dex")]);
        let mut p = policy(Target::Configured);
        p.connect = Duration::from_millis(100);
        let e = listed
            .fetch(Request::get("http://192.0.2.1/x"), &p)
            .unwrap_err();
        assert!(!matches!(e, FetchError::Refused(_)), "{e}");
    }

    #[test]
    fn fetched_documents_refuse_http_and_special_use_addresses_before_connecting() {
        let (addr, hits) = serve("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        let c = client(&[]);
        let e = c
            .fetch(
                Request::get(&format!("http://{addr}/")),
                &policy(Target::Fetched),
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused: plain http:// to 127.0.0.1 (fetched documents need https://)"
        );
        let e = c
            .fetch(
                Request::get(&format!("https://{addr}/")),
                &policy(Target::Fetched),
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "refused: 127.0.0.1 resolves to 127.0.0.1, a special-use address (loopback 127.0.0.0/8)"
        );
        let e = c
            .fetch(
                Request::get("https://[::ffff:10.0.0.1]/"),
                &policy(Target::Fetched),
            )
            .unwrap_err();
        assert!(matches!(e, FetchError::Refused(_)), "{e}");
        // `localhost` is resolved, and its addresses are loopback.
        let e = c
            .fetch(
                Request::get(&format!("https://localhost:{}/", addr.port())),
                &policy(Target::Fetched),
            )
            .unwrap_err();
        assert!(matches!(e, FetchError::Refused(_)), "{e}");
        assert_eq!(hits.load(Ordering::SeqCst), 0, "nothing may connect");
    }

    #[test]
    fn the_test_exception_allows_loopback_and_only_loopback() {
        assert!(settings(&[("BRAIN_OUTBOUND_ALLOW_LOOPBACK", "2")]).is_err());
        let map = [("BRAIN_OUTBOUND_ALLOW_LOOPBACK", "1")];
        let e = Settings::from_env(
            &|k| {
                map.iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            },
            false,
        )
        .unwrap_err();
        assert!(
            e.to_string().contains("needs a loopback MCP_RESOURCE_URL"),
            "{e}"
        );
        let c = client(&[("BRAIN_OUTBOUND_ALLOW_LOOPBACK", "1")]);
        let (addr, hits) = serve("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
        // Loopback passes the address check (and then TLS fails against a plain server).
        let e = c
            .fetch(
                Request::get(&format!("https://{addr}/")),
                &policy(Target::Fetched),
            )
            .unwrap_err();
        assert!(!matches!(e, FetchError::Refused(_)), "{e}");
        assert_eq!(hits.load(Ordering::SeqCst), 1);
        let e = c
            .fetch(Request::get("https://10.0.0.1/"), &policy(Target::Fetched))
            .unwrap_err();
        assert!(matches!(e, FetchError::Refused(_)), "{e}");
    }

    #[test]
    fn redirects_are_returned_unless_asked_for() {
        let (to, to_hits) = serve("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        let answer: &'static str = Box::leak(
            format!(
                "HTTP/1.1 302 Found\r\nLocation: http://{to}/there\r\nContent-Length: 0\r\n\r\n"
            )
            .into_boxed_str(),
        );
        let (from, _) = serve(answer);
        let c = client(&[]);
        let r = c
            .fetch(
                Request::get(&format!("http://{from}/")),
                &policy(Target::Configured),
            )
            .unwrap();
        assert_eq!(r.status, 302);
        assert_eq!(to_hits.load(Ordering::SeqCst), 0);
        let mut p = policy(Target::Configured);
        p.max_redirects = 1;
        let r = c
            .fetch(Request::get(&format!("http://{from}/")), &p)
            .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"ok");
        assert_eq!(to_hits.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn a_trickling_server_ends_at_the_total_deadline() {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            if let Ok((mut s, _)) = l.accept() {
                let _ = s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
                for _ in 0..100 {
                    if s.write_all(b"x").is_err() {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        });
        let mut p = policy(Target::Configured);
        p.total = Duration::from_millis(800);
        let t = Instant::now();
        let e = client(&[])
            .fetch(Request::get(&format!("http://{addr}/")), &p)
            .unwrap_err();
        assert_eq!(e, FetchError::Timeout("total"));
        assert!(t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    }

    #[test]
    fn bodies_over_the_cap_are_refused() {
        let (addr, _) = serve("HTTP/1.1 200 OK\r\nContent-Length: 2000\r\n\r\n");
        let e = client(&[])
            .fetch(
                Request::get(&format!("http://{addr}/")),
                &policy(Target::Configured),
            )
            .unwrap_err();
        assert_eq!(e, FetchError::TooLarge(1024));
    }

    #[test]
    fn ca_file_errors_name_the_variable() {
        let e = settings(&[("BRAIN_TLS_CA_FILE", "/nonexistent/ca.pem")]).unwrap_err();
        assert!(
            e.to_string()
                .contains("BRAIN_TLS_CA_FILE: /nonexistent/ca.pem: cannot read it"),
            "{e}"
        );
        let dir = std::env::temp_dir().join(format!("brain-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("empty.pem");
        std::fs::write(&f, "not a certificate\n").unwrap();
        let e = settings(&[("BRAIN_TLS_CA_FILE", f.to_str().unwrap())]).unwrap_err();
        assert!(e.to_string().ends_with("holds no PEM certificate"), "{e}");
        std::fs::remove_dir_all(&dir).ok();
        let e = settings(&[("BRAIN_OUTBOUND_HTTP_HOSTS", "http://dex:5556")]).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("configuration error: BRAIN_OUTBOUND_HTTP_HOSTS"),
            "{e}"
        );
    }

    #[test]
    fn locations_resolve_against_the_request_origin() {
        assert_eq!(
            resolve_location("https://a.example/x/y?q", "/keys").unwrap(),
            "https://a.example/keys"
        );
        assert_eq!(
            resolve_location("https://a.example/x", "https://b.example/k").unwrap(),
            "https://b.example/k"
        );
        assert!(resolve_location("https://a.example/x", "//evil.example/k").is_err());
        assert!(resolve_location("https://a.example/x", "keys").is_err());
    }
}
