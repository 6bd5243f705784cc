//! Test helpers: a handle on the real `brain-mcp` binary running on port 0, a raw HTTP/1.1
//! client over `TcpStream` (so a test controls every byte it sends), and a runner for the
//! binary's one-shot commands. Nothing here knows about OAuth or MCP beyond the test secrets.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// The static bearer token every test server starts with.
pub const TOKEN: &str = "test-static-token.0123456789abcdefghijklmnopqrstuv";
/// The pre-registered OAuth client.
pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-client-secret-0123456789ABCDEFGHIJKLMNOP";
/// An owner password, for tests that set `BRAIN_OWNER_PASSWORD`.
pub const OWNER_PASSWORD: &str = "owner-password-for-tests-42";

/// Every secret above: none of them may ever appear in a log or in `check-config` output.
pub const SECRETS: [&str; 3] = [TOKEN, CLIENT_SECRET, OWNER_PASSWORD];

/// How long the server may take to print its `listening on` line.
const START_TIMEOUT: Duration = Duration::from_secs(20);

/// The path of the binary under test; cargo builds it for integration tests.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_brain-mcp")
}

/// A fresh, unique directory under the system temp dir, so parallel tests never share a data
/// directory (the server locks it) and nothing is left in the source tree.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!(
        "brain-mcp-test-{tag}-{}-{}-{nanos}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("create temp dir");
    dir
}

/// The environment a test server starts with: fixed secrets, port 0, and the given data dir.
fn base_env(data_dir: &Path) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert("BRAIN_MCP_TOKEN".into(), TOKEN.into());
    env.insert("OAUTH_CLIENT_ID".into(), CLIENT_ID.into());
    env.insert("OAUTH_CLIENT_SECRET".into(), CLIENT_SECRET.into());
    env.insert("LISTEN_ADDR".into(), "127.0.0.1:0".into());
    env.insert(
        "BRAIN_DATA_DIR".into(),
        data_dir.to_string_lossy().into_owned(),
    );
    env
}

/// The server's stderr, collected by a reader thread, with a condvar so `start` can wait for
/// the `listening on` line without polling.
#[derive(Default)]
struct Log {
    text: Mutex<String>,
    grew: Condvar,
}

/// Builds a [`Server`]: the default environment plus changes, because many tests need one
/// setting changed (`BRAIN_WORKERS=2`, a resource URL, a failure limit).
pub struct ServerBuilder {
    env: BTreeMap<String, String>,
    dir: PathBuf,
    nofile: Option<u64>,
}

impl ServerBuilder {
    /// Sets (or overrides) an environment variable.
    pub fn env(mut self, k: &str, v: &str) -> ServerBuilder {
        self.env.insert(k.into(), v.into());
        self
    }

    /// Removes a variable from the default environment.
    pub fn without(mut self, k: &str) -> ServerBuilder {
        self.env.remove(k);
        self
    }

    /// Starts the server with this file-descriptor limit (`RLIMIT_NOFILE`), to show what it
    /// does when descriptors run out without exhausting the test machine's.
    pub fn nofile(mut self, n: u64) -> ServerBuilder {
        self.nofile = Some(n);
        self
    }

    /// The data directory the server will use, so a test can put files there first (a
    /// crafted store, an old version's files).
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// Spawns the binary and waits for its `listening on http://ADDR` line.
    pub fn start(self) -> Server {
        let mut s = Server {
            env: self.env,
            dir: self.dir,
            nofile: self.nofile,
            child: None,
            addr: "0.0.0.0:0".parse().unwrap(),
            log: Arc::new(Log::default()),
            reader: None,
        };
        s.spawn();
        s
    }
}

/// The real binary, running on `127.0.0.1:0` with its own temp data directory. `Drop` kills
/// it; when the test failed it prints the server log (and keeps the data directory) so the
/// failure can be understood from the test output alone.
pub struct Server {
    env: BTreeMap<String, String>,
    dir: PathBuf,
    nofile: Option<u64>,
    child: Option<Child>,
    pub addr: SocketAddr,
    log: Arc<Log>,
    reader: Option<JoinHandle<()>>,
}

impl Server {
    /// A server with the default test environment.
    pub fn start() -> Server {
        Server::builder().start()
    }

    /// A builder, for tests that need a different environment.
    pub fn builder() -> ServerBuilder {
        let dir = temp_dir("server");
        ServerBuilder {
            env: base_env(&dir),
            dir,
            nofile: None,
        }
    }

    fn spawn(&mut self) {
        let from = self.log.text.lock().unwrap().len();
        let mut cmd = Command::new(bin());
        cmd.env_clear()
            .envs(&self.env)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(n) = self.nofile {
            use std::os::unix::process::CommandExt;
            let lim = libc::rlimit {
                rlim_cur: n as libc::rlim_t,
                rlim_max: n as libc::rlim_t,
            };
            // SAFETY: setrlimit is async-signal-safe and touches only the child.
            unsafe {
                cmd.pre_exec(move || {
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = cmd.spawn().expect("spawn brain-mcp");
        let stderr = child.stderr.take().unwrap();
        let log = self.log.clone();
        self.reader = Some(thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                {
                    let mut text = log.text.lock().unwrap();
                    text.push_str(&line);
                    text.push('\n');
                }
                log.grew.notify_all();
            }
        }));
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let mut text = self.log.text.lock().unwrap();
        loop {
            let fresh = &text[from..];
            if let Some(i) = fresh.find("listening on http://") {
                let rest = &fresh[i + "listening on http://".len()..];
                let addr = rest.split_whitespace().next().unwrap_or("");
                self.addr = addr
                    .parse()
                    .unwrap_or_else(|_| panic!("bad address in listening line: {fresh}"));
                return;
            }
            let exited = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            if let Some(status) = exited {
                drop(text);
                thread::sleep(Duration::from_millis(100));
                panic!(
                    "brain-mcp exited with {status} before listening\n--- server log ---\n{}",
                    self.log()
                );
            }
            if Instant::now() >= deadline {
                panic!("brain-mcp did not print its listening line in time\n{fresh}");
            }
            text = self
                .log
                .grew
                .wait_timeout(text, Duration::from_millis(100))
                .unwrap()
                .0;
        }
    }

    /// Everything the server has written to stderr so far (across restarts).
    pub fn log(&self) -> String {
        self.log.text.lock().unwrap().clone()
    }

    /// Waits until the log contains `needle` (a request's log line is written after its
    /// response, so a test that checks the log right after a response may race it).
    pub fn wait_for_log(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(5);
        let mut text = self.log.text.lock().unwrap();
        while !text.contains(needle) {
            if Instant::now() >= deadline {
                panic!("the server log never contained {needle:?}:\n{text}");
            }
            text = self
                .log
                .grew
                .wait_timeout(text, Duration::from_millis(50))
                .unwrap()
                .0;
        }
        text.clone()
    }

    /// The server's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.dir
    }

    /// The process id, for tests that send signals themselves.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("server running").id()
    }

    /// Sends a signal to the server (SIGTERM as systemd and container runtimes do).
    pub fn signal(&self, sig: libc::c_int) {
        let pid = self.pid() as libc::pid_t;
        // SAFETY: kill(2) with a pid we spawned and have not yet reaped.
        let rc = unsafe { libc::kill(pid, sig) };
        assert_eq!(rc, 0, "kill({sig}) failed");
    }

    /// Sends SIGTERM and waits (at most 20 s) for the exit status.
    pub fn stop(&mut self) -> ExitStatus {
        self.signal(libc::SIGTERM);
        self.wait_exit()
    }

    /// Waits (at most 20 s) for the server to exit on its own, after a signal the test sent.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let mut child = self.child.take().expect("server running");
        let deadline = Instant::now() + Duration::from_secs(20);
        let status = loop {
            if let Some(status) = child.try_wait().expect("wait") {
                break status;
            }
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "brain-mcp did not exit within 20 s\n--- server log ---\n{}",
                    self.log()
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        status
    }

    /// Starts the server again after it exited on its own (a crash test's SIGKILL), on the
    /// same data directory and address: recovery from a crash is part of the contract.
    pub fn respawn(&mut self) {
        assert!(self.child.is_none(), "respawn: the server is still running");
        self.env.insert("LISTEN_ADDR".into(), self.addr.to_string());
        self.spawn();
    }

    /// Stops the server cleanly and starts it again on the same data directory and the same
    /// address: what survives a restart is part of the contract, and issued tokens are bound
    /// to the resource URL, which is derived from the address.
    pub fn restart(&mut self) {
        let status = self.stop();
        assert!(
            status.success(),
            "exit status {status} on SIGTERM\n{}",
            self.log()
        );
        self.env.insert("LISTEN_ADDR".into(), self.addr.to_string());
        self.spawn();
    }

    /// The server process's resident memory now (`VmRSS`) and its peak so far (`VmHWM`),
    /// read from `/proc/PID/status`: the attack battery shows memory stays bounded.
    pub fn memory(&self) -> Memory {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status of the server");
        let kib = |key: &str| -> u64 {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
                .unwrap_or_else(|| panic!("no {key} in /proc/PID/status:\n{status}"))
        };
        Memory {
            rss_kib: kib("VmRSS:"),
            hwm_kib: kib("VmHWM:"),
        }
    }

    /// How many file descriptors the server process has open (`/proc/PID/fd`): shows that
    /// connections it dropped were really closed.
    pub fn open_fds(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .expect("read /proc/PID/fd of the server")
            .count()
    }

    /// A new connection to the server.
    pub fn connect(&self) -> Conn {
        Conn::open(self.addr)
    }

    /// The `Host` header value that names this server.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// One request on a fresh connection, `Connection: close` added: the common case, so
    /// tests read as "method, path, headers, body → response".
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        let mut c = self.connect();
        c.send(&raw_request(
            &self.host(),
            method,
            path,
            headers,
            body,
            true,
        ));
        if method == "HEAD" {
            c.read_head_response()
        } else {
            c.read_response()
        }
    }

    /// `GET path` with no extra headers.
    pub fn get(&self, path: &str) -> Response {
        self.request("GET", path, &[], b"")
    }

    /// `POST path` with a form body.
    pub fn post_form(&self, path: &str, headers: &[(&str, &str)], form: &str) -> Response {
        let mut h = vec![("Content-Type", "application/x-www-form-urlencoded")];
        h.extend_from_slice(headers);
        self.request("POST", path, &h, form.as_bytes())
    }

    /// Asserts `GET /healthz` answers `200 {"status":"ok"}` within a second: every limit test
    /// ends with it, to show the server survived.
    pub fn assert_healthy(&self) {
        let t = Instant::now();
        let r = self.get("/healthz");
        assert_eq!(r.status, 200, "healthz after the test: {r:?}");
        assert_eq!(r.body_str(), r#"{"status":"ok"}"#);
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "healthz took {:?}",
            t.elapsed()
        );
    }

    /// Asserts the server log holds none of the test secrets nor any of `also` (issued
    /// tokens, Basic credentials): secrets and tokens never appear in logs.
    pub fn assert_log_clean(&self, also: &[&str]) {
        let log = self.log();
        for s in SECRETS.iter().chain(also) {
            assert!(!s.is_empty());
            assert!(
                !log.contains(s),
                "the server log contains a secret or token ({} characters, starts {:?})",
                s.len(),
                &s[..4.min(s.len())]
            );
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Some(r) = self.reader.take() {
            let _ = r.join();
        }
        if thread::panicking() {
            eprintln!(
                "--- brain-mcp log (data dir {} kept) ---\n{}--- end of log ---",
                self.dir.display(),
                self.log()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// A server's memory, from `/proc/PID/status` (see [`Server::memory`]), in KiB.
#[derive(Debug, Clone, Copy)]
pub struct Memory {
    /// Resident set size now (`VmRSS`).
    pub rss_kib: u64,
    /// Peak resident set size since the process started (`VmHWM`).
    pub hwm_kib: u64,
}

/// Serialises a request. `Host` is added when `host` is non-empty; `Content-Length` whenever
/// there is a body or the method is POST.
pub fn raw_request(
    host: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    close: bool,
) -> Vec<u8> {
    let mut s = format!("{method} {path} HTTP/1.1\r\n");
    if !host.is_empty() {
        let _ = write!(s, "Host: {host}\r\n");
    }
    for (k, v) in headers {
        let _ = write!(s, "{k}: {v}\r\n");
    }
    if !body.is_empty() || method == "POST" {
        let _ = write!(s, "Content-Length: {}\r\n", body.len());
    }
    if close {
        s.push_str("Connection: close\r\n");
    }
    s.push_str("\r\n");
    let mut out = s.into_bytes();
    out.extend_from_slice(body);
    out
}

/// A parsed response, headers in order with lower-cased names.
#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Response {
    /// The value of a header that must appear at most once (panics when repeated, since a
    /// repeated header is itself a bug worth a failure).
    pub fn header(&self, name: &str) -> Option<&str> {
        let all = self.headers_named(name);
        assert!(all.len() <= 1, "header {name} repeated: {self:?}");
        all.first().copied()
    }

    /// Every value of a header.
    pub fn headers_named(&self, name: &str) -> Vec<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    pub fn body_str(&self) -> &str {
        std::str::from_utf8(&self.body).expect("UTF-8 body")
    }

    /// The body as JSON; panics with the body when it is not.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {:?}", self.body_str()))
    }

    /// `error` of a JSON error body.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap_or("").to_string()
    }

    /// Says whether the server announced it closes the connection.
    pub fn closes(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// One client connection with a read buffer, so pipelined responses that arrive in one
/// segment are split correctly.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    /// Connects with a 15 s read timeout (longer than any server timeout, so a hung server
    /// fails the test instead of hanging it).
    pub fn open(addr: SocketAddr) -> Conn {
        Conn::try_open(addr).expect("connect")
    }

    /// Connects, reporting failure: a crash test's clients race the server's death.
    pub fn try_open(addr: SocketAddr) -> std::io::Result<Conn> {
        let stream = TcpStream::connect(addr)?;
        stream.set_read_timeout(Some(Duration::from_secs(15)))?;
        stream.set_write_timeout(Some(Duration::from_secs(15)))?;
        Ok(Conn {
            stream,
            buf: Vec::new(),
        })
    }

    /// Writes raw bytes; panics on failure.
    pub fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write request");
    }

    /// Writes raw bytes, reporting failure (the server may close first).
    pub fn try_send(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Sends a request built by [`raw_request`] and reads its response, keeping the
    /// connection open.
    pub fn request(
        &mut self,
        host: &str,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        self.send(&raw_request(host, method, path, headers, body, false));
        self.read_response()
    }

    /// Reads one response with a `Content-Length` body; panics on error.
    pub fn read_response(&mut self) -> Response {
        self.try_read_response(false)
            .unwrap_or_else(|e| panic!("reading a response: {e}"))
    }

    /// Reads the response to a `HEAD` request: no body follows, whatever Content-Length says.
    pub fn read_head_response(&mut self) -> Response {
        self.try_read_response(true)
            .unwrap_or_else(|e| panic!("reading a response: {e}"))
    }

    /// Reads one response. Errors: I/O errors, EOF before a complete response, and malformed
    /// responses (all as `io::Error`).
    pub fn try_read_response(&mut self, head_only: bool) -> std::io::Result<Response> {
        let bad = |m: String| std::io::Error::new(ErrorKind::InvalidData, m);
        let head_end = loop {
            if let Some(i) = find(&self.buf, b"\r\n\r\n") {
                break i + 4;
            }
            self.fill()?;
        };
        let head = std::str::from_utf8(&self.buf[..head_end])
            .map_err(|_| bad("non-UTF-8 response head".into()))?
            .to_string();
        let mut lines = head.split("\r\n");
        let status_line = lines.next().unwrap_or("");
        let mut parts = status_line.splitn(3, ' ');
        if parts.next() != Some("HTTP/1.1") {
            return Err(bad(format!("bad status line {status_line:?}")));
        }
        let status: u16 = parts
            .next()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| bad(format!("bad status line {status_line:?}")))?;
        let mut headers = Vec::new();
        for line in lines.filter(|l| !l.is_empty()) {
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| bad(format!("bad header line {line:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
        // 1xx responses (100 Continue) never have a body.
        let len: usize = if head_only || status < 200 {
            0
        } else {
            headers
                .iter()
                .find(|(k, _)| k == "content-length")
                .map(|(_, v)| v.parse().map_err(|_| bad(format!("bad length {v:?}"))))
                .transpose()?
                .ok_or_else(|| bad("response without Content-Length".into()))?
        };
        while self.buf.len() < head_end + len {
            self.fill()?;
        }
        let body = self.buf[head_end..head_end + len].to_vec();
        self.buf.drain(..head_end + len);
        Ok(Response {
            status,
            headers,
            body,
        })
    }

    fn fill(&mut self) -> std::io::Result<()> {
        let mut chunk = [0u8; 16 * 1024];
        let n = loop {
            match self.stream.read(&mut chunk) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            return Err(std::io::Error::new(
                ErrorKind::UnexpectedEof,
                format!(
                    "connection closed; unparsed bytes: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            ));
        }
        self.buf.extend_from_slice(&chunk[..n]);
        Ok(())
    }

    /// Asserts that the server closes the connection (EOF or reset) within `within`, with no
    /// further bytes, and returns how long that took.
    pub fn assert_closed_within(&mut self, within: Duration) -> Duration {
        let t = Instant::now();
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut b = [0u8; 1024];
        let r = loop {
            match self.stream.read(&mut b) {
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                r => break r,
            }
        };
        match r {
            Ok(0) => {}
            Err(e) if e.kind() == ErrorKind::ConnectionReset => {}
            Ok(n) => panic!(
                "expected the connection closed, got bytes {:?}",
                String::from_utf8_lossy(&b[..n])
            ),
            Err(e) => panic!(
                "expected the connection closed within {within:?}, got {e} after {:?}",
                t.elapsed()
            ),
        }
        assert!(self.buf.is_empty(), "unread bytes {:?}", self.buf);
        t.elapsed()
    }

    /// Asserts the connection is still open: nothing to read for a moment, and no EOF.
    pub fn assert_open(&mut self) {
        self.stream
            .set_read_timeout(Some(Duration::from_millis(100)))
            .unwrap();
        let mut b = [0u8; 1];
        match self.stream.read(&mut b) {
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            other => panic!("expected an open, quiet connection, got {other:?}"),
        }
        self.stream
            .set_read_timeout(Some(Duration::from_secs(15)))
            .unwrap();
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// `Basic base64(id:secret)` (RFC 7617), for client_secret_basic tests.
pub fn basic(id: &str, secret: &str) -> String {
    basic_raw(format!("{id}:{secret}").as_bytes())
}

/// `Basic base64(raw)`: lets tests send undecodable credentials.
pub fn basic_raw(raw: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in raw.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    format!("Basic {out}")
}

/// The output of one run of the binary.
pub struct Output {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The command line and environment, for failure messages.
    pub command: String,
}

impl Output {
    /// Panics with one block holding the command, status, stdout and stderr: the whole story
    /// of a failed run in one place.
    pub fn fail(&self, why: &str) -> ! {
        panic!(
            "{why}\n--- command ---\n{}\n--- status ---\n{}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command, self.status, self.stdout, self.stderr
        );
    }

    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }
}

/// Runs the binary once with exactly `env` (nothing inherited) and returns what it did:
/// for configuration errors, `check-config`, `gen-secret`, `--help` and `--version`. Killed
/// after 20 s, since a command that would serve forever is a failure here.
pub fn run<K: AsRef<str>, V: AsRef<str>>(args: &[&str], env: &[(K, V)]) -> Output {
    let mut child = Command::new(bin())
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_ref(), v.as_ref())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn brain-mcp");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            break child.wait().expect("wait");
        }
        thread::sleep(Duration::from_millis(10));
    };
    let command = format!(
        "{} {} {}",
        env.iter()
            .map(|(k, v)| format!("{}={:?}", k.as_ref(), v.as_ref()))
            .collect::<Vec<_>>()
            .join(" "),
        bin(),
        args.join(" ")
    );
    Output {
        status,
        stdout: t_out.join().unwrap(),
        stderr: t_err.join().unwrap(),
        command,
    }
}

/// The minimal valid environment for one-shot runs: the static token and a data directory.
pub fn minimal_env(dir: &Path) -> Vec<(&'static str, String)> {
    vec![
        ("BRAIN_MCP_TOKEN", TOKEN.to_string()),
        ("BRAIN_DATA_DIR", dir.to_string_lossy().into_owned()),
        ("LISTEN_ADDR", "127.0.0.1:0".to_string()),
    ]
}

/// Obtains a `client_credentials` access token with form-encoded credentials: most tests of
/// `/mcp` need an issued token, not only the static one.
pub fn issue_token(s: &Server) -> String {
    let r = s.post_form(
        "/oauth/token",
        &[],
        &format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        ),
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["access_token"].as_str().unwrap().to_string()
}
