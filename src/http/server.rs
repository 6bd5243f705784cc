//! The listener, a readiness reactor and a fixed pool of workers.
//!
//! One thread (the reactor) accepts connections and waits, with epoll, for any parked
//! connection to become readable. Only then is the connection handed to a worker through a
//! bounded queue. A worker reads what has arrived without blocking, answers every complete
//! request in the buffer (pipelining, in order), and parks the connection again when it needs
//! more bytes. So a client that idles, trickles its head or stalls its body never holds a
//! worker: it waits in the reactor until its deadline, and `/healthz` keeps answering at once
//! however many such clients there are. (A thread-per-connection or blocking-read pool lets
//! `workers` slow clients freeze the server; see shared/reference/http-server.md.)

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::parse::{self, Head, ParseError};
use super::{Request, Response};

/// Every limit of the HTTP layer in one place.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Request line plus headers. Beyond it: `431`. Bounds the memory a client can make us
    /// hold before we know what it wants.
    pub max_head: usize,
    /// Header fields per request. Beyond it: `431`.
    pub max_headers: usize,
    /// A whole request (head and body) must arrive within this time of its first byte, or the
    /// client gets `408` and the connection is closed: a trickling client cannot hold a
    /// connection slot for long.
    pub request_timeout: Duration,
    /// A keep-alive connection with no request in progress is closed after this.
    pub idle_timeout: Duration,
    /// A client that does not read its response loses the connection after this.
    pub write_timeout: Duration,
    /// Requests served on one connection before we answer with `Connection: close`.
    pub max_requests_per_conn: u32,
    /// Readable connections waiting for a free worker. When full: `503` + `Retry-After`.
    pub queue: usize,
    /// Open connections. Beyond it a new connection gets `503` and is closed, so file
    /// descriptors stay available for the store.
    pub max_connections: usize,
    /// On SIGTERM, how long in-flight requests may take to finish.
    pub drain_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head: 16 * 1024,
            max_headers: 64,
            request_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(5),
            write_timeout: Duration::from_secs(10),
            max_requests_per_conn: 1000,
            queue: 256,
            max_connections: default_max_connections(),
            drain_timeout: Duration::from_secs(10),
        }
    }
}

/// Leave room under the file-descriptor limit for the store, the log files and epoll.
fn default_max_connections() -> usize {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we pass and reads nothing else.
    let ok = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } == 0;
    let soft = if ok { lim.rlim_cur as usize } else { 1024 };
    soft.saturating_sub(32).clamp(16, 10_000)
}

/// What the HTTP layer asks of the application.
pub trait Service: Send + Sync + 'static {
    /// Called when a request head is complete, before a byte of its body is read: returns
    /// the largest body this request may have, or an early answer (for example `401` before
    /// a client can make us read a megabyte). Authenticate here, from the headers.
    fn admit(&self, req: &Request) -> Result<usize, Response>;
    /// Answers a complete request.
    fn handle(&self, req: &Request) -> Response;
}

pub struct Server {
    listener: TcpListener,
    limits: Limits,
    workers: usize,
    trusted_proxies: Vec<IpAddr>,
}

impl Server {
    pub fn bind(
        addr: SocketAddr,
        limits: Limits,
        workers: usize,
        trusted_proxies: Vec<IpAddr>,
    ) -> io::Result<Server> {
        let listener = TcpListener::bind(addr)?;
        listener.set_nonblocking(true)?;
        Ok(Server {
            listener,
            limits,
            workers,
            trusted_proxies,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
    /// (at most `drain_timeout`) and returns.
    pub fn run(self, service: Arc<dyn Service>) -> io::Result<()> {
        let (sig_read, sig_write) = UnixStream::pair()?;
        sig_read.set_nonblocking(true)?;
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::low_level::pipe::register(sig, sig_write.try_clone()?)?;
        }
        let epoll = Epoll::new()?;
        epoll.add(self.listener.as_raw_fd(), LISTENER, false)?;
        epoll.add(sig_read.as_raw_fd(), SIGNAL, false)?;

        let shared = Arc::new(Shared {
            epoll,
            parked: Mutex::new(HashMap::new()),
            shutdown: AtomicBool::new(false),
            open: Arc::new(AtomicUsize::new(0)),
            limits: self.limits.clone(),
            trusted_proxies: self.trusted_proxies,
            service,
        });

        let (tx, rx) = mpsc::sync_channel::<Conn>(self.limits.queue);
        let rx = Arc::new(Mutex::new(rx));
        let mut workers = Vec::new();
        for i in 0..self.workers.max(1) {
            let shared = shared.clone();
            let rx = rx.clone();
            workers.push(
                thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker_loop(&shared, &rx))?,
            );
        }

        // Returns once a signal came and every in-flight request finished (or the drain
        // timeout passed).
        reactor_loop(&shared, &self.listener, &tx, &sig_read);

        drop(self.listener);
        shared.parked.lock().map(|mut p| p.clear()).ok();
        drop(tx);
        // Workers are idle by now unless the drain timed out; a handler still running gets
        // one more second, then the process exits under it.
        let deadline = Instant::now() + Duration::from_secs(1);
        while workers.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

const LISTENER: u64 = u64::MAX;
const SIGNAL: u64 = u64::MAX - 1;

struct Shared {
    epoll: Epoll,
    /// Connections waiting for bytes, by file descriptor. A connection is either here
    /// (registered one-shot with epoll), in the queue, or owned by one worker.
    parked: Mutex<HashMap<RawFd, Conn>>,
    shutdown: AtomicBool,
    open: Arc<AtomicUsize>,
    limits: Limits,
    trusted_proxies: Vec<IpAddr>,
    service: Arc<dyn Service>,
}

/// A head that was parsed and admitted, waiting for its body.
struct Pending {
    req: Request,
    head_len: usize,
    body_len: usize,
    keep_alive: bool,
}

struct Conn {
    stream: TcpStream,
    peer: SocketAddr,
    buf: Vec<u8>,
    served: u32,
    /// When the connection last went idle: accepted, or a response sent.
    idle_since: Instant,
    /// When the first byte of the request in progress arrived.
    started: Option<Instant>,
    pending: Option<Pending>,
    eof: bool,
    _open: OpenGuard,
}

/// Counts open connections; the count drops when the connection does.
struct OpenGuard(Arc<AtomicUsize>);

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn reactor_loop(
    shared: &Arc<Shared>,
    listener: &TcpListener,
    tx: &mpsc::SyncSender<Conn>,
    sig_read: &UnixStream,
) {
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; 256];
    let mut last_sweep = Instant::now();
    // Set on SIGTERM/SIGINT: until then in-flight requests may finish.
    let mut drain_until: Option<Instant> = None;
    loop {
        let n = shared.epoll.wait(&mut events, 250);
        for ev in events.iter().take(n) {
            match ev.u64 {
                LISTENER if drain_until.is_none() => accept_all(shared, listener, tx),
                LISTENER => {}
                SIGNAL => {
                    let mut b = [0u8; 16];
                    while matches!((&*sig_read).read(&mut b), Ok(k) if k > 0) {}
                    shared.shutdown.store(true, Ordering::SeqCst);
                }
                token => {
                    let conn = shared
                        .parked
                        .lock()
                        .ok()
                        .and_then(|mut p| p.remove(&(token as RawFd)));
                    if let Some(conn) = conn {
                        dispatch(conn, tx);
                    }
                }
            }
        }
        if shared.shutdown.load(Ordering::SeqCst) {
            // Draining: accept nothing more (connections left in the backlog are refused
            // when the listener closes), close idle connections, and keep serving the ones
            // with a request in flight, whose body may still be on its way, until they are
            // answered or time out. Returning while one is parked would drop it unanswered.
            let until = *drain_until.get_or_insert_with(|| {
                let _ = shared.epoll.del(listener.as_raw_fd());
                Instant::now() + shared.limits.drain_timeout
            });
            close_idle(shared);
            if shared.open.load(Ordering::SeqCst) == 0 || Instant::now() >= until {
                return;
            }
        }
        if last_sweep.elapsed() >= Duration::from_millis(250) {
            last_sweep = Instant::now();
            sweep(shared);
        }
    }
}

fn accept_all(shared: &Arc<Shared>, listener: &TcpListener, tx: &mpsc::SyncSender<Conn>) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                let open = shared.open.fetch_add(1, Ordering::Relaxed) + 1;
                let guard = OpenGuard(shared.open.clone());
                if open > shared.limits.max_connections {
                    refuse(&stream, &peer, "too many connections");
                    continue;
                }
                if stream.set_nonblocking(true).is_err() {
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let conn = Conn {
                    stream,
                    peer,
                    buf: Vec::new(),
                    served: 0,
                    idle_since: Instant::now(),
                    started: None,
                    pending: None,
                    eof: false,
                    _open: guard,
                };
                // Most clients send their request right behind the handshake: try a worker
                // at once instead of a round through epoll.
                dispatch(conn, tx);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE, ENFILE, ENOMEM, ECONNABORTED...: never fatal. The pending
                // connection stays in the backlog; back off so we do not spin on it.
                crate::log::line(&format!("accept failed: {e}; retrying"));
                thread::sleep(Duration::from_millis(50));
                return;
            }
        }
    }
}

fn dispatch(conn: Conn, tx: &mpsc::SyncSender<Conn>) {
    match tx.try_send(conn) {
        Ok(()) => {}
        Err(mpsc::TrySendError::Full(conn)) => {
            refuse(&conn.stream, &conn.peer, "all workers busy");
        }
        Err(mpsc::TrySendError::Disconnected(_)) => {}
    }
}

/// `503` without blocking the reactor: the response is far smaller than any socket buffer,
/// and a client that cannot take it loses nothing it was promised.
fn refuse(stream: &TcpStream, peer: &SocketAddr, why: &str) {
    let resp = Response::json(
        503,
        &serde_json::json!({"error":"temporarily_unavailable","error_description":why}),
    )
    .header("Retry-After", "1");
    let bytes = serialize(&resp, true, false);
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write(&bytes);
    crate::log::request(peer.ip(), "-", "-", 503, Duration::ZERO);
}

/// While draining: closes parked connections with no request in progress (dropping a
/// connection closes its socket, which also removes it from epoll).
fn close_idle(shared: &Shared) {
    if let Ok(mut parked) = shared.parked.lock() {
        parked.retain(|_, c| c.started.is_some());
    }
}

/// Closes parked connections past their deadline.
fn sweep(shared: &Arc<Shared>) {
    let now = Instant::now();
    let expired: Vec<Conn> = match shared.parked.lock() {
        Ok(mut parked) => {
            let fds: Vec<RawFd> = parked
                .iter()
                .filter(|(_, c)| c.deadline(&shared.limits) <= now)
                .map(|(fd, _)| *fd)
                .collect();
            fds.iter().filter_map(|fd| parked.remove(fd)).collect()
        }
        Err(_) => return,
    };
    for conn in expired {
        time_out(shared, conn);
    }
}

impl Conn {
    fn deadline(&self, limits: &Limits) -> Instant {
        match self.started {
            Some(t) => t + limits.request_timeout,
            None => self.idle_since + limits.idle_timeout,
        }
    }
}

/// An idle connection is closed quietly; one with a request half-sent gets `408`.
fn time_out(shared: &Shared, conn: Conn) {
    if conn.started.is_some() {
        let resp = Response::json(
            408,
            &serde_json::json!({"error":"request_timeout","error_description":"the request did not arrive in time"}),
        );
        let _ = (&conn.stream).write(&serialize(&resp, true, false));
        let (method, path) = conn
            .pending
            .as_ref()
            .map(|p| (p.req.method.as_str(), p.req.path.as_str()))
            .unwrap_or(("-", "-"));
        let client = conn
            .pending
            .as_ref()
            .map(|p| p.req.client)
            .unwrap_or(conn.peer.ip());
        crate::log::request(
            client,
            method,
            path,
            408,
            conn.started.map(|t| t.elapsed()).unwrap_or_default(),
        );
        let _ = shared;
    }
}

fn worker_loop(shared: &Arc<Shared>, rx: &Mutex<mpsc::Receiver<Conn>>) {
    loop {
        let next = match rx.lock() {
            Ok(rx) => rx.recv(),
            Err(_) => return,
        };
        match next {
            Ok(conn) => serve(shared, conn),
            Err(_) => return,
        }
    }
}

/// What to do next with a connection.
enum Step {
    /// Wait for more bytes.
    Park,
    /// Send this response; close afterwards unless `keep_alive`.
    Reply {
        resp: Response,
        keep_alive: bool,
        method: String,
        path: String,
        client: IpAddr,
        head: bool,
    },
    /// Close without a word (the client went away).
    Close,
}

fn serve(shared: &Arc<Shared>, mut conn: Conn) {
    loop {
        if !conn.eof && read_available(&mut conn, &shared.limits).is_err() {
            return;
        }
        let step = next_step(shared, &mut conn);
        match step {
            Step::Close => return,
            Step::Park => {
                // While draining, an idle connection is closed; one with a request in
                // progress waits for the rest of it (see `reactor_loop`).
                if conn.eof || (conn.started.is_none() && shared.shutdown.load(Ordering::SeqCst)) {
                    return;
                }
                if let Some(t) = conn.started {
                    if t.elapsed() >= shared.limits.request_timeout {
                        time_out(shared, conn);
                        return;
                    }
                }
                park(shared, conn);
                return;
            }
            Step::Reply {
                resp,
                keep_alive,
                method,
                path,
                client,
                head,
            } => {
                conn.served += 1;
                let keep_alive = keep_alive
                    && !conn.eof
                    && conn.served < shared.limits.max_requests_per_conn
                    && !shared.shutdown.load(Ordering::SeqCst);
                let bytes = serialize(&resp, !keep_alive, head);
                let written = write_all(&conn.stream, &bytes, shared.limits.write_timeout);
                let took = conn.started.map(|t| t.elapsed()).unwrap_or_default();
                crate::log::request(client, &method, &path, resp.status, took);
                if written.is_err() || !keep_alive {
                    return;
                }
                conn.idle_since = Instant::now();
                conn.started = if conn.buf.is_empty() {
                    None
                } else {
                    Some(Instant::now())
                };
            }
        }
    }
}

/// Reads whatever has arrived, without blocking, up to what the current request may still
/// need: a client cannot make us buffer more than one head plus one capped body.
fn read_available(conn: &mut Conn, limits: &Limits) -> io::Result<()> {
    let cap = match &conn.pending {
        Some(p) => p.head_len + p.body_len + limits.max_head,
        None => limits.max_head + 1,
    };
    let mut chunk = [0u8; 16 * 1024];
    while conn.buf.len() < cap {
        let want = (cap - conn.buf.len()).min(chunk.len());
        match (&conn.stream).read(&mut chunk[..want]) {
            Ok(0) => {
                conn.eof = true;
                return Ok(());
            }
            Ok(n) => {
                if conn.started.is_none() {
                    conn.started = Some(Instant::now());
                }
                conn.buf.extend_from_slice(&chunk[..n]);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn next_step(shared: &Arc<Shared>, conn: &mut Conn) -> Step {
    if conn.pending.is_none() {
        if conn.buf.is_empty() {
            return if conn.eof { Step::Close } else { Step::Park };
        }
        let head = match parse::parse_head(&conn.buf, &shared.limits) {
            Ok(Some(head)) => head,
            Ok(None) if conn.eof => return Step::Close,
            Ok(None) => return Step::Park,
            Err(e) => return reject(conn, e),
        };
        if let Some(step) = admit(shared, conn, head) {
            return step;
        }
    }
    let Some(p) = &conn.pending else {
        return Step::Park;
    };
    let total = p.head_len + p.body_len;
    if conn.buf.len() < total {
        return if conn.eof { Step::Close } else { Step::Park };
    }
    let Some(p) = conn.pending.take() else {
        return Step::Park;
    };
    let mut req = p.req;
    req.body = conn.buf[p.head_len..total].to_vec();
    conn.buf.drain(..total);
    let service = &shared.service;
    let resp =
        panic::catch_unwind(AssertUnwindSafe(|| service.handle(&req))).unwrap_or_else(|_| {
            Response::json(
                500,
                &serde_json::json!({"error":"server_error","error_description":"internal error"}),
            )
        });
    let head = req.method == "HEAD";
    Step::Reply {
        resp,
        keep_alive: p.keep_alive,
        method: req.method,
        path: req.path,
        client: req.client,
        head,
    }
}

/// A request we will not read further: answer and close, since the rest of its bytes are
/// unread and cannot be told apart from a next request.
fn reject(conn: &Conn, e: ParseError) -> Step {
    let (status, msg) = e.status();
    let resp = Response::json(
        status,
        &serde_json::json!({"error":"invalid_request","error_description":msg}),
    );
    Step::Reply {
        resp,
        keep_alive: false,
        method: "-".into(),
        path: "-".into(),
        client: conn.peer.ip(),
        head: false,
    }
}

/// A complete head: ask the service whether and how much body it may have.
fn admit(shared: &Arc<Shared>, conn: &mut Conn, head: Head) -> Option<Step> {
    let client = parse::client_addr(conn.peer.ip(), &head.headers, &shared.trusted_proxies);
    let req = Request {
        method: head.method,
        path: head.path,
        query: head.query,
        headers: head.headers,
        body: Vec::new(),
        client,
    };
    let early = |resp: Response, req: &Request, keep_alive: bool| Step::Reply {
        resp,
        keep_alive,
        method: req.method.clone(),
        path: req.path.clone(),
        client: req.client,
        head: req.method == "HEAD",
    };
    let service = &shared.service;
    let admitted = panic::catch_unwind(AssertUnwindSafe(|| service.admit(&req)))
        .unwrap_or_else(|_| Err(Response::new(500)));
    match admitted {
        Err(resp) => {
            // Nothing of the body was read: keep the connection only if there is none.
            let keep = head.keep_alive && head.body_len == 0;
            if keep {
                conn.buf.drain(..head.head_len);
            }
            Some(early(resp, &req, keep))
        }
        Ok(cap) if head.body_len > cap as u64 => {
            let resp = Response::json(
                413,
                &serde_json::json!({
                    "error":"invalid_request",
                    "error_description": format!("request body too large: the limit here is {cap} bytes"),
                }),
            );
            Some(early(resp, &req, false))
        }
        Ok(_) => {
            // The cap check above makes this conversion lossless.
            let body_len = usize::try_from(head.body_len).unwrap_or(usize::MAX);
            let body_missing = conn.buf.len() < head.head_len + body_len;
            if head.expect_continue && body_missing {
                // curl and others wait for this before sending a body larger than 1 KiB.
                let _ = write_all(
                    &conn.stream,
                    b"HTTP/1.1 100 Continue\r\n\r\n",
                    shared.limits.write_timeout,
                );
            }
            conn.pending = Some(Pending {
                req,
                head_len: head.head_len,
                body_len,
                keep_alive: head.keep_alive,
            });
            None
        }
    }
}

fn park(shared: &Arc<Shared>, conn: Conn) {
    let fd = conn.stream.as_raw_fd();
    let Ok(mut parked) = shared.parked.lock() else {
        return;
    };
    parked.insert(fd, conn);
    // Insert first, then arm: the reactor must find the connection when the event fires.
    if shared.epoll.arm(fd).is_err() {
        parked.remove(&fd);
    }
}

pub(crate) fn serialize(resp: &Response, close: bool, head: bool) -> Vec<u8> {
    let mut out = Vec::with_capacity(256 + resp.body.len());
    let _ = write!(out, "HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status));
    for (name, value) in &resp.headers {
        // Header values are ours, but never let one smuggle a line break onto the wire.
        if value.contains(['\r', '\n']) || name.contains(['\r', '\n', ':']) {
            continue;
        }
        let _ = write!(out, "{name}: {value}\r\n");
    }
    let _ = write!(out, "Content-Length: {}\r\n", resp.body.len());
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(&resp.body);
    }
    out
}

/// Writes everything or fails once `timeout` has passed: a client that stops reading its
/// response holds a worker for at most this long.
fn write_all(stream: &TcpStream, mut bytes: &[u8], timeout: Duration) -> io::Result<()> {
    let deadline = Instant::now() + timeout;
    while !bytes.is_empty() {
        match (&*stream).write(bytes) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => bytes = &bytes[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Err(io::ErrorKind::TimedOut.into());
                }
                let mut pfd = libc::pollfd {
                    fd: stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                };
                let ms = left.as_millis().min(i32::MAX as u128) as i32;
                // SAFETY: one valid pollfd, count 1.
                unsafe { libc::poll(&mut pfd, 1, ms.max(1)) };
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        204 => "No Content",
        302 => "Found",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        408 => "Request Timeout",
        411 => "Length Required",
        413 => "Content Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

/// A thin, safe wrapper over the three epoll calls we need.
struct Epoll(RawFd);

impl Epoll {
    fn new() -> io::Result<Epoll> {
        // SAFETY: plain syscall; the returned fd is owned by Epoll and closed in Drop.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Epoll(fd))
    }

    fn ctl(&self, op: i32, fd: RawFd, token: u64, oneshot: bool) -> io::Result<()> {
        let mut flags = libc::EPOLLIN | libc::EPOLLRDHUP;
        if oneshot {
            flags |= libc::EPOLLONESHOT;
        }
        let mut ev = libc::epoll_event {
            events: flags as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.0, op, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn add(&self, fd: RawFd, token: u64, oneshot: bool) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, token, oneshot)
    }

    fn del(&self, fd: RawFd) -> io::Result<()> {
        // SAFETY: the event argument may be null for EPOLL_CTL_DEL (Linux >= 2.6.9).
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Waits (one-shot) for `fd` to become readable. A connection is registered once and
    /// re-armed each time it is parked.
    fn arm(&self, fd: RawFd) -> io::Result<()> {
        match self.ctl(libc::EPOLL_CTL_MOD, fd, fd as u64, true) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => self.add(fd, fd as u64, true),
            r => r,
        }
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: i32) -> usize {
        // SAFETY: the buffer is valid for events.len() entries.
        let n = unsafe {
            libc::epoll_wait(self.0, events.as_mut_ptr(), events.len() as i32, timeout_ms)
        };
        n.max(0) as usize
    }
}

impl Drop for Epoll {
    fn drop(&mut self) {
        // SAFETY: we own this fd.
        unsafe { libc::close(self.0) };
    }
}
