//! The listener and a fixed pool of workers that wait on one shared epoll themselves.
//!
//! Every open connection is registered once with one epoll instance, edge-triggered. Workers
//! wait in `epoll_wait` on it, asking for one event each, so the kernel hands a readable
//! connection to one idle worker. That worker takes the connection out of its slot, reads
//! what has arrived without blocking, answers every complete request in the buffer
//! (pipelining, in order), and puts the connection back in its slot once the socket is
//! drained. An event that comes for a connection while a worker has it is noted in the slot,
//! and that worker serves the connection again instead of putting it back: nothing is lost,
//! and no connection is ever served by two workers at once. A keep-alive request costs three
//! system calls (`epoll_wait`, `read`, `sendto`) and, under load, no wake-up at all: the
//! design before this one passed every request from a reactor thread to a worker through a
//! queue (two thread wake-ups and a re-arm per request; the README's "The HTTP layer" has
//! the figures).
//!
//! Only one worker per CPU waits in epoll; the others wait on a bench (see `worker_loop`),
//! from which the accept loop calls one when every running worker is stuck in a handler.
//!
//! So a client that idles, trickles its head or stalls its body never holds a worker: it
//! waits in epoll until its deadline, and `/healthz` keeps answering at once however many
//! such clients there are. A handler that blocks (a `remember` fsyncs) holds only its own
//! worker: since a worker takes one event at a time, every other ready connection goes to
//! another worker, at once or, if every running worker is stuck, within a millisecond. (A
//! thread-per-connection or blocking-read pool lets `workers` slow clients freeze the server;
//! see shared/reference/http-server.md.)
//!
//! The thread that called [`Server::run`] accepts new connections, watches the signal pipe,
//! enforces the deadlines of parked connections (a sweep every 250 ms) and calls spare
//! workers off the bench. It is never on the path of a request on an open connection.

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
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
    /// New connections waiting for a free worker. Beyond it a new connection gets `503` +
    /// `Retry-After`. Parked connections that become readable are not counted: see `accept_one`.
    pub queue: usize,
    /// Open connections. Beyond it a new connection gets `503` and is closed, so file
    /// descriptors stay available for the store.
    pub max_connections: usize,
    /// On SIGTERM, how long in-flight requests may take to finish.
    pub drain_timeout: Duration,
    /// Workers that may wait in `epoll_wait` at once; the others wait on a bench until one
    /// is stuck (see `worker_loop`). One per CPU.
    pub epoll_waiters: usize,
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
            epoll_waiters: thread::available_parallelism().map_or(2, |n| n.get()),
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
    /// The reading end of the SIGTERM/SIGINT pipe once [`Server::catch_signals`] ran.
    signals: Option<UnixStream>,
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
            signals: None,
        })
    }

    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until SIGTERM or SIGINT, then stops accepting, lets in-flight requests finish
    /// (at most `drain_timeout`) and returns.
    pub fn run(mut self, service: Arc<dyn Service>) -> io::Result<()> {
        self.catch_signals()?;
        let stop = match &self.signals {
            Some(s) => s.try_clone()?,
            None => return Err(io::Error::other("no signal pipe")),
        };
        self.serve_until(service, stop)
    }

    /// From now on SIGTERM and SIGINT start the drain instead of ending the process. Call it
    /// before saying the server listens: a supervisor that stops the server the moment it
    /// reads that line must get a clean exit, not death by signal.
    pub fn catch_signals(&mut self) -> io::Result<()> {
        if self.signals.is_some() {
            return Ok(());
        }
        let (read, write) = UnixStream::pair()?;
        for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
            signal_hook::low_level::pipe::register(sig, write.try_clone()?)?;
        }
        self.signals = Some(read);
        Ok(())
    }

    /// Serves until a byte arrives on `stop` (the signal pipe in [`Server::run`]), then
    /// drains as `run` describes.
    pub(crate) fn serve_until(self, service: Arc<dyn Service>, stop: UnixStream) -> io::Result<()> {
        stop.set_nonblocking(true)?;
        let epoll = Epoll::new()?;
        let wake = event_fd()?;
        // Level-triggered and never read: once written, every worker sees it and returns.
        epoll.add(wake.as_raw_fd(), STOP, Trigger::Level)?;
        let slots = (0..self.limits.max_connections)
            .map(|_| {
                Slot(Mutex::new(SlotState {
                    gen: 0,
                    held: Held::Free,
                }))
            })
            .collect();
        // Popped from the end: low indices are reused first, so the sweep's range stays
        // as small as the peak number of open connections.
        let free = (0..self.limits.max_connections as u32).rev().collect();
        let count = self.workers.max(1);
        let mut limits = self.limits.clone();
        limits.epoll_waiters = limits.epoll_waiters.clamp(1, count);
        let shared = Arc::new(Shared {
            epoll,
            slots,
            free: Mutex::new(free),
            high: AtomicUsize::new(0),
            open: AtomicUsize::new(0),
            waiting_new: AtomicUsize::new(0),
            waiters: AtomicUsize::new(0),
            benched: AtomicUsize::new(0),
            bench: Bench::default(),
            progress: AtomicUsize::new(0),
            shutdown: AtomicBool::new(false),
            limits,
            trusted_proxies: self.trusted_proxies,
            service,
        });

        let mut workers = Vec::new();
        for i in 0..count {
            let shared = shared.clone();
            workers.push(
                thread::Builder::new()
                    .name(format!("worker-{i}"))
                    .spawn(move || worker_loop(&shared))?,
            );
        }

        // Returns once a signal came and every in-flight request finished (or the drain
        // timeout passed).
        accept_loop(&shared, &self.listener, &stop, count);

        // Connections still in the backlog are refused here, not left hanging.
        drop(self.listener);
        shared.bench.stop();
        let one: u64 = 1;
        // SAFETY: an 8-byte write from a valid u64 to our own eventfd.
        unsafe { libc::write(wake.as_raw_fd(), (&one as *const u64).cast(), 8) };
        // Workers are idle by now unless the drain timed out; a handler still running gets
        // one more second, then the process exits under it.
        let deadline = Instant::now() + Duration::from_secs(1);
        while workers.iter().any(|w| !w.is_finished()) && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

/// The epoll token of the stop eventfd; a connection's token is its slot and generation.
const STOP: u64 = u64::MAX;

/// How often parked connections are checked against their deadlines.
const SWEEP_EVERY: Duration = Duration::from_millis(250);

struct Shared {
    epoll: Epoll,
    /// One slot per possible connection (`max_connections`). A connection is parked in its
    /// slot (registered one-shot with epoll), or out of it with exactly one worker.
    slots: Box<[Slot]>,
    /// Indices of free slots.
    free: Mutex<Vec<u32>>,
    /// Slots ever used: the sweep looks at `slots[..high]`.
    high: AtomicUsize,
    open: AtomicUsize,
    /// New connections accepted since a worker last came back to `epoll_wait` for more work
    /// (capped by `Limits::queue`): while it grows, every worker is stuck in a request.
    waiting_new: AtomicUsize,
    /// Workers in `epoll_wait`.
    waiters: AtomicUsize,
    /// Workers on the bench.
    benched: AtomicUsize,
    bench: Bench,
    /// Events taken by workers, ever: the accept loop's sign that the workers are moving.
    progress: AtomicUsize,
    shutdown: AtomicBool,
    limits: Limits,
    trusted_proxies: Vec<IpAddr>,
    service: Arc<dyn Service>,
}

struct Slot(Mutex<SlotState>);

struct SlotState {
    /// Bumped each time the slot is freed: an epoll event carries the generation it was armed
    /// with, so an event for a connection the sweep has already closed finds a different
    /// generation and is ignored, even if the slot holds a new connection by then.
    gen: u32,
    held: Held,
}

enum Held {
    Free,
    /// A worker has the connection. `again`: an event came for it meanwhile (more bytes, or
    /// the peer closed), so the worker serves it once more instead of parking it.
    Busy {
        again: bool,
    },
    Parked(Box<Conn>),
}

fn token(idx: u32, gen: u32) -> u64 {
    (u64::from(gen) << 32) | u64::from(idx)
}

impl Slot {
    /// Never fails: the sections under this lock neither panic nor run client code, and a
    /// poisoned slot is still consistent.
    fn lock(&self) -> MutexGuard<'_, SlotState> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Shared {
    /// The connection an event is for, if it is still parked under that generation. An event
    /// for a connection a worker has is noted for that worker: with edge-triggered readiness
    /// it will not come again.
    fn take(&self, token: u64) -> Option<(u32, Box<Conn>)> {
        let (idx, gen) = (token as u32, (token >> 32) as u32);
        let mut st = self.slots.get(idx as usize)?.lock();
        if st.gen != gen {
            return None;
        }
        match &mut st.held {
            Held::Busy { again } => {
                *again = true;
                None
            }
            Held::Free => None,
            Held::Parked(_) => match std::mem::replace(&mut st.held, Held::Busy { again: false }) {
                Held::Parked(conn) => Some((idx, conn)),
                _ => None,
            },
        }
    }

    /// Puts a connection back in its slot, or hands it back to the worker when an event came
    /// for it while it was being served. Both under the slot's lock, so no event is lost
    /// between the worker's last read and the connection's return to its slot.
    fn park(&self, idx: u32, conn: Box<Conn>) -> Option<Box<Conn>> {
        let mut st = self.slots[idx as usize].lock();
        if let Held::Busy { again: true } = st.held {
            st.held = Held::Busy { again: false };
            return Some(conn);
        }
        st.held = Held::Parked(conn);
        None
    }

    /// Closes a connection taken out of its slot and frees the slot.
    fn release(&self, idx: u32, conn: Box<Conn>) {
        // Closing the socket also removes it from epoll.
        drop(conn);
        {
            let mut st = self.slots[idx as usize].lock();
            st.gen = st.gen.wrapping_add(1);
            st.held = Held::Free;
        }
        if let Ok(mut free) = self.free.lock() {
            free.push(idx);
        }
        self.open.fetch_sub(1, Ordering::SeqCst);
    }

    /// Registers a new connection, parked. (`accept_one` has checked that a slot is free.)
    fn register(&self, conn: Box<Conn>) {
        let Some(idx) = self.free.lock().ok().and_then(|mut f| f.pop()) else {
            return;
        };
        self.open.fetch_add(1, Ordering::SeqCst);
        self.high.fetch_max(idx as usize + 1, Ordering::Relaxed);
        let fd = conn.stream.as_raw_fd();
        let mut st = self.slots[idx as usize].lock();
        let tok = token(idx, st.gen);
        st.held = Held::Parked(conn);
        // Under the lock: an event that fires at once waits for the connection to be in place.
        if self.epoll.add(fd, tok, Trigger::Edge).is_err() {
            if let Held::Parked(conn) = std::mem::replace(&mut st.held, Held::Busy { again: false })
            {
                drop(st);
                self.release(idx, conn);
            }
        }
    }
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
    /// Bytes received and not yet consumed, while the connection is parked. Empty (and
    /// unallocated) between requests: a worker reads into its own buffer and leaves only an
    /// unfinished request here.
    buf: Vec<u8>,
    served: u32,
    /// When the connection last went idle: accepted, or a response sent.
    idle_since: Instant,
    /// When the first byte of the request in progress arrived.
    started: Option<Instant>,
    pending: Option<Pending>,
    eof: bool,
}

impl Conn {
    fn deadline(&self, limits: &Limits) -> Instant {
        match self.started {
            Some(t) => t + limits.request_timeout,
            None => self.idle_since + limits.idle_timeout,
        }
    }
}

/// Accepts connections, handles the stop signal and sweeps deadlines until the drain is
/// over.
fn accept_loop(shared: &Shared, listener: &TcpListener, stop: &UnixStream, workers: usize) {
    let mut last_sweep = Instant::now();
    let mut last_progress = 0;
    // Set on SIGTERM/SIGINT: until then in-flight requests may finish.
    let mut drain_until: Option<Instant> = None;
    loop {
        let mut fds = [
            libc::pollfd {
                fd: stop.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: listener.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // While draining the listener is left alone: connections in its backlog are refused
        // when it closes.
        let nfds = if drain_until.is_some() { 1 } else { 2 };
        let idle = shared.waiters.load(Ordering::SeqCst) + shared.benched.load(Ordering::SeqCst);
        let serving = idle < workers;
        let wait = if serving {
            RESCUE_TICK
        } else if drain_until.is_some() {
            Duration::from_millis(20)
        } else {
            SWEEP_EVERY.saturating_sub(last_sweep.elapsed())
        };
        // SAFETY: `nfds` valid pollfds.
        unsafe { libc::poll(fds.as_mut_ptr(), nfds, wait.as_millis() as i32) };
        if fds[0].revents != 0 {
            let mut b = [0u8; 16];
            while matches!((&*stop).read(&mut b), Ok(k) if k > 0) {}
            shared.shutdown.store(true, Ordering::SeqCst);
        }
        if drain_until.is_none() && fds[1].revents != 0 {
            accept_all(shared, listener);
        }
        if serving {
            rescue(shared, &mut last_progress);
        }
        if shared.shutdown.load(Ordering::SeqCst) {
            // Draining: accept nothing more, close idle connections, and keep serving the
            // ones with a request in flight, whose body may still be on its way, until they
            // are answered or time out. Returning while one is parked would drop it
            // unanswered.
            let until =
                *drain_until.get_or_insert_with(|| Instant::now() + shared.limits.drain_timeout);
            sweep(shared, true);
            if shared.open.load(Ordering::SeqCst) == 0 || Instant::now() >= until {
                return;
            }
        }
        if last_sweep.elapsed() >= SWEEP_EVERY {
            last_sweep = Instant::now();
            sweep(shared, false);
        }
    }
}

fn accept_all(shared: &Shared, listener: &TcpListener) {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => accept_one(shared, stream, peer),
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

/// A new connection is refused (`503`) when `queue` new ones were accepted since any worker
/// last came back to epoll for more: every worker is stuck in a request (a handler that
/// blocks), and more connections would only wait. A parked connection that becomes readable is
/// never refused: it already holds one of the `max_connections` slots, and refusing it would
/// let a few hundred clients trickling bytes in step (slowloris) lose their own requests and
/// crowd every new client out with `503`.
fn accept_one(shared: &Shared, stream: TcpStream, peer: SocketAddr) {
    if shared.open.load(Ordering::SeqCst) >= shared.limits.max_connections {
        refuse(&stream, &peer, "too many connections");
        return;
    }
    if shared.waiters.load(Ordering::SeqCst) + shared.benched.load(Ordering::SeqCst) > 0 {
        // A worker is free: it takes this connection as soon as its request arrives.
        shared.waiting_new.store(0, Ordering::SeqCst);
    } else if shared.waiting_new.fetch_add(1, Ordering::SeqCst) >= shared.limits.queue {
        shared.waiting_new.fetch_sub(1, Ordering::SeqCst);
        refuse(&stream, &peer, "all workers busy");
        return;
    }
    if stream.set_nonblocking(true).is_err() {
        return;
    }
    let _ = stream.set_nodelay(true);
    let conn = Box::new(Conn {
        stream,
        peer,
        buf: Vec::new(),
        served: 0,
        idle_since: Instant::now(),
        started: None,
        pending: None,
        eof: false,
    });
    // Armed at once: most clients send their request right behind the handshake, and an
    // idle worker takes it from epoll as soon as it arrives.
    shared.register(conn);
}

/// `503` without blocking: the response is far smaller than any socket buffer, and a client
/// that cannot take it loses nothing it was promised.
fn refuse(stream: &TcpStream, peer: &SocketAddr, why: &str) {
    let resp = Response::json(
        503,
        &serde_json::json!({"error":"temporarily_unavailable","error_description":why}),
    )
    .header("Retry-After", "1");
    let mut bytes = Vec::new();
    serialize(&mut bytes, &resp, true, false);
    let _ = stream.set_nonblocking(true);
    let _ = (&*stream).write(&bytes);
    crate::log::request(peer.ip(), "-", "-", 503, Duration::ZERO);
}

/// Closes parked connections past their deadline, and while draining (`idle`) every parked
/// connection with no request in progress. A slot a worker is locking right now is looked at
/// in the next sweep.
fn sweep(shared: &Shared, idle: bool) {
    let now = Instant::now();
    let high = shared.high.load(Ordering::Relaxed);
    for (idx, slot) in shared.slots[..high].iter().enumerate() {
        let Ok(mut st) = slot.0.try_lock() else {
            continue;
        };
        let expired = match &st.held {
            Held::Parked(c) => c.deadline(&shared.limits) <= now || (idle && c.started.is_none()),
            _ => false,
        };
        if !expired {
            continue;
        }
        let Held::Parked(conn) = std::mem::replace(&mut st.held, Held::Busy { again: false })
        else {
            continue;
        };
        drop(st);
        time_out(&conn);
        shared.release(idx as u32, conn);
    }
}

/// An idle connection is closed quietly; one with a request half-sent gets `408`.
fn time_out(conn: &Conn) {
    if conn.started.is_some() {
        let resp = Response::json(
            408,
            &serde_json::json!({"error":"request_timeout","error_description":"the request did not arrive in time"}),
        );
        let mut bytes = Vec::new();
        serialize(&mut bytes, &resp, true, false);
        let _ = (&conn.stream).write(&bytes);
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
    }
}

/// A worker's own buffers, reused for every connection it serves: reading a request and
/// writing its response allocate nothing in the HTTP layer.
#[derive(Default)]
struct Scratch {
    input: Vec<u8>,
    output: Vec<u8>,
    log: LogBuf,
}

/// A worker's request log lines not yet written. One `write(2)` per request was a fifth of
/// the cost of a `/healthz` (and, through the lock on stderr, a futex wait per request with
/// 8 workers): lines are written in batches, each at most `PIPE_BUF` bytes so that it stays
/// one atomic write on a pipe, at the latest [`LOG_DELAY`] after the oldest line, and when
/// the worker goes idle. A `5xx` line is written at once.
#[derive(Default)]
struct LogBuf {
    text: String,
    since: Option<Instant>,
}

/// How long a request's log line may wait for others to share its `write(2)`.
const LOG_DELAY: Duration = Duration::from_millis(50);

/// `PIPE_BUF` on Linux: a write of at most this many bytes to a pipe is never interleaved
/// with another writer's (pipe(7)).
const LOG_BATCH: usize = 4096;

impl LogBuf {
    fn push(&mut self, client: IpAddr, method: &str, path: &str, status: u16, took: Duration) {
        let before = self.text.len();
        crate::log::push_request(&mut self.text, client, method, path, status, took);
        if self.text.len() > LOG_BATCH && before > 0 {
            crate::log::lines(&self.text[..before]);
            self.text.drain(..before);
            self.since = None;
        }
        let since = *self.since.get_or_insert_with(Instant::now);
        if status >= 500 || self.text.len() * 4 >= LOG_BATCH * 3 || since.elapsed() >= LOG_DELAY {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if !self.text.is_empty() {
            crate::log::lines(&self.text);
            self.text.clear();
        }
        self.since = None;
    }

    /// How long the worker may wait for an event before the oldest line is due: `-1`
    /// (forever) when none is waiting.
    fn wait_ms(&self) -> i32 {
        match self.since {
            None => -1,
            Some(t) => LOG_DELAY.saturating_sub(t.elapsed()).as_millis() as i32,
        }
    }
}

/// Bytes a read asks for at least.
const READ_CHUNK: usize = 16 * 1024;

/// What the worker keeps of a buffer after a connection: large enough for any head and the
/// common body; one that grew for a megabyte body is given back.
const KEEP_BUFFER: usize = 64 * 1024;

/// Why few workers wait in epoll: every event that arrives while a worker sleeps in
/// `epoll_wait` wakes one (a context switch), even when a running worker would have taken it
/// a moment later. With all 8 workers waiting there, `/healthz` at 64 connections paid a
/// wake-up per request (half the server's time in the scheduler) and ran at ~80k req/s;
/// with one waiter per CPU, a worker that finishes a request finds the next one ready and
/// takes it without sleeping (~130k req/s, the same as 2 workers). The other workers wait on
/// a bench, not in epoll, so events do not wake them. They are the spare capacity for
/// handlers that block: when no worker waits in epoll, events are ready and no worker has
/// taken one for a tick, every running worker is stuck in a handler (an fsync), and the
/// accept loop calls one from the bench (`rescue`). So a blocked handler delays other
/// connections by about a millisecond, never for its whole duration.
fn worker_loop(shared: &Shared) {
    let mut scratch = Scratch::default();
    let mut ev = [libc::epoll_event { events: 0, u64: 0 }; 1];
    loop {
        // This worker is free for more: the connections accepted so far are not waiting
        // behind stuck workers (a load first, so the cache line is written only when needed).
        if shared.waiting_new.load(Ordering::Relaxed) != 0 {
            shared.waiting_new.store(0, Ordering::Relaxed);
        }
        // One event at a time: a worker holding several ready connections would make the
        // later ones wait behind a handler that blocks, while other workers sit idle.
        let n = if shared.waiters.fetch_add(1, Ordering::SeqCst) < shared.limits.epoll_waiters {
            let n = shared.epoll.wait(&mut ev, scratch.log.wait_ms());
            shared.waiters.fetch_sub(1, Ordering::SeqCst);
            if n == 0 {
                // Idle (or interrupted): the lines waiting are due.
                scratch.log.flush();
                continue;
            }
            n
        } else {
            shared.waiters.fetch_sub(1, Ordering::SeqCst);
            // Enough workers wait in epoll: take an event that is ready, or sit on the bench.
            let n = shared.epoll.wait(&mut ev, 0);
            if n == 0 {
                scratch.log.flush();
                if !shared.bench.sit(&shared.benched) {
                    return;
                }
                continue;
            }
            n
        };
        debug_assert_eq!(n, 1);
        let tok = ev[0].u64;
        if tok == STOP {
            scratch.log.flush();
            return;
        }
        shared.progress.fetch_add(1, Ordering::Relaxed);
        let Some((idx, mut conn)) = shared.take(tok) else {
            continue;
        };
        loop {
            match serve(shared, &mut conn, &mut scratch) {
                Next::Park => match shared.park(idx, conn) {
                    Some(again) => conn = again,
                    None => break,
                },
                Next::Close => {
                    shared.release(idx, conn);
                    break;
                }
            }
        }
    }
}

/// Where spare workers wait (see `worker_loop`).
#[derive(Default)]
struct Bench {
    /// Calls not yet answered, and whether the server is stopping.
    state: Mutex<(usize, bool)>,
    called: std::sync::Condvar,
}

impl Bench {
    /// Waits until called (`true`) or the server stops (`false`).
    fn sit(&self, benched: &AtomicUsize) -> bool {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        benched.fetch_add(1, Ordering::SeqCst);
        while st.0 == 0 && !st.1 {
            st = self.called.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        benched.fetch_sub(1, Ordering::SeqCst);
        if st.1 {
            return false;
        }
        st.0 -= 1;
        true
    }

    fn call_one(&self, benched: &AtomicUsize) {
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if st.0 < benched.load(Ordering::SeqCst) {
            st.0 += 1;
            self.called.notify_one();
        }
    }

    fn stop(&self) {
        self.state.lock().unwrap_or_else(|e| e.into_inner()).1 = true;
        self.called.notify_all();
    }
}

/// Called by the accept loop every [`RESCUE_TICK`] while a worker is serving: if no worker
/// waits in epoll, an event is ready, and no worker has taken one since the last tick, the
/// workers are all stuck in handlers: one more comes off the bench.
fn rescue(shared: &Shared, last_progress: &mut usize) {
    let progress = shared.progress.load(Ordering::Relaxed);
    let moving = progress != *last_progress;
    *last_progress = progress;
    if moving
        || shared.waiters.load(Ordering::SeqCst) > 0
        || shared.benched.load(Ordering::SeqCst) == 0
    {
        return;
    }
    let mut pfd = libc::pollfd {
        fd: shared.epoll.0,
        events: libc::POLLIN,
        revents: 0,
    };
    // SAFETY: one valid pollfd; an epoll descriptor is readable while events are ready.
    if unsafe { libc::poll(&mut pfd, 1, 0) } == 1 {
        shared.bench.call_one(&shared.benched);
    }
}

/// How often the accept loop looks for stuck workers while any worker is serving.
const RESCUE_TICK: Duration = Duration::from_millis(1);

enum Next {
    Park,
    Close,
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

/// Serves a connection until it would block. The bytes live in the worker's buffer while it
/// serves; only an unfinished request's bytes stay with the connection when it parks.
fn serve(shared: &Shared, conn: &mut Conn, scratch: &mut Scratch) -> Next {
    let mut buf = std::mem::take(&mut scratch.input);
    // Whether `buf` is the connection's own buffer (a large unfinished request) rather than
    // the worker's.
    let mut own = false;
    if !conn.buf.is_empty() {
        if conn.buf.len() <= buf.capacity() {
            buf.extend_from_slice(&conn.buf);
            conn.buf = Vec::new();
        } else {
            // A big body on its way: keep reading into its own buffer rather than copy it.
            scratch.input = std::mem::replace(&mut buf, std::mem::take(&mut conn.buf));
            own = true;
        }
    }
    let next = serve_buffered(
        shared,
        conn,
        &mut buf,
        &mut scratch.output,
        &mut scratch.log,
    );
    let keep = matches!(next, Next::Park) && !buf.is_empty();
    if own {
        if keep {
            conn.buf = buf;
        }
        return next;
    }
    if keep {
        if 2 * buf.len() >= buf.capacity() {
            // Mostly full: hand the whole allocation over instead of copying it.
            conn.buf = buf;
            buf = Vec::new();
        } else {
            // A few bytes (a trickled head): a right-sized copy, so a thousand slow clients
            // cost what they sent, not a worker buffer each.
            conn.buf = buf.to_vec();
        }
    }
    buf.clear();
    if buf.capacity() > KEEP_BUFFER {
        buf = Vec::new();
    }
    scratch.input = buf;
    next
}

fn serve_buffered(
    shared: &Shared,
    conn: &mut Conn,
    buf: &mut Vec<u8>,
    out: &mut Vec<u8>,
    log: &mut LogBuf,
) -> Next {
    // Whether the socket was read to its end since the buffer was last found short of a
    // request. A connection is parked only then: readiness is edge-triggered, so bytes left
    // in the socket would never be announced again.
    let mut read = false;
    loop {
        match next_step(shared, conn, buf) {
            Step::Close => return Next::Close,
            Step::Park if !read && !conn.eof => match read_available(conn, buf, &shared.limits) {
                Ok(drained) => read = drained,
                Err(_) => return Next::Close,
            },
            Step::Park => {
                // While draining, an idle connection is closed; one with a request in
                // progress waits for the rest of it (see `accept_loop`).
                if conn.eof || (conn.started.is_none() && shared.shutdown.load(Ordering::SeqCst)) {
                    return Next::Close;
                }
                if let Some(t) = conn.started {
                    if t.elapsed() >= shared.limits.request_timeout {
                        time_out(conn);
                        return Next::Close;
                    }
                }
                return Next::Park;
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
                serialize(out, &resp, !keep_alive, head);
                let written = write_all(&conn.stream, out, shared.limits.write_timeout);
                let took = conn.started.map(|t| t.elapsed()).unwrap_or_default();
                log.push(client, &method, &path, resp.status, took);
                if written.is_err() || !keep_alive {
                    return Next::Close;
                }
                conn.idle_since = Instant::now();
                if buf.is_empty() {
                    conn.started = None;
                    if read {
                        // Nothing more to answer and the socket was drained: park without
                        // another read, which would almost always find nothing (the client is
                        // reading our answer); bytes that arrive later raise a new edge.
                        return Next::Park;
                    }
                    // The last read stopped at its cap, exactly at the end of this request:
                    // more may wait in the socket, and with edge-triggered readiness nothing
                    // will announce it again. Read before parking (falls through to `Park`).
                } else {
                    conn.started = Some(Instant::now());
                }
                read = false;
            }
        }
    }
}

/// Reads what has arrived, without blocking, up to what the current request may still need:
/// a client cannot make us buffer more than one head plus one capped body. `Ok(true)` when
/// the socket is drained for now (`EAGAIN`, end of stream, or a short read: asking again
/// would cost a call that says so); `Ok(false)` when it stopped at the cap, with bytes
/// possibly still waiting (a head's cap, before the head's `Content-Length` raised it).
fn read_available(conn: &mut Conn, buf: &mut Vec<u8>, limits: &Limits) -> io::Result<bool> {
    let cap = match &conn.pending {
        Some(p) => p.head_len + p.body_len + limits.max_head,
        None => limits.max_head + 1,
    };
    while buf.len() < cap {
        let want = cap - buf.len();
        buf.reserve(want.min(READ_CHUNK));
        let spare = (buf.capacity() - buf.len()).min(want);
        // SAFETY: the kernel writes at most `spare` bytes into the vector's spare capacity,
        // which `reserve` made at least that large; `set_len` covers only the bytes written.
        let n = unsafe {
            libc::read(
                conn.stream.as_raw_fd(),
                buf.as_mut_ptr().add(buf.len()).cast(),
                spare,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            match e.kind() {
                io::ErrorKind::WouldBlock => return Ok(true),
                io::ErrorKind::Interrupted => continue,
                _ => return Err(e),
            }
        }
        let n = n as usize;
        if n == 0 {
            conn.eof = true;
            return Ok(true);
        }
        // SAFETY: see above; n <= spare.
        unsafe { buf.set_len(buf.len() + n) };
        if conn.started.is_none() {
            conn.started = Some(Instant::now());
        }
        if n < spare {
            return Ok(true);
        }
    }
    Ok(false)
}

fn next_step(shared: &Shared, conn: &mut Conn, buf: &mut Vec<u8>) -> Step {
    if conn.pending.is_none() {
        if buf.is_empty() {
            return if conn.eof { Step::Close } else { Step::Park };
        }
        let head = match parse::parse_head(buf, &shared.limits) {
            Ok(Some(head)) => head,
            Ok(None) if conn.eof => return Step::Close,
            Ok(None) => return Step::Park,
            Err(e) => return reject(conn, e),
        };
        if let Some(step) = admit(shared, conn, buf, head) {
            return step;
        }
    }
    let Some(p) = &conn.pending else {
        return Step::Park;
    };
    let total = p.head_len + p.body_len;
    if buf.len() < total {
        return if conn.eof { Step::Close } else { Step::Park };
    }
    let Some(p) = conn.pending.take() else {
        return Step::Park;
    };
    let mut req = p.req;
    req.body = buf[p.head_len..total].to_vec();
    buf.drain(..total);
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
fn admit(shared: &Shared, conn: &mut Conn, buf: &mut Vec<u8>, head: Head) -> Option<Step> {
    let client = parse::client_addr(conn.peer.ip(), &head.headers, &shared.trusted_proxies);
    let req = Request {
        method: head.method,
        path: head.path,
        query: head.query,
        headers: head.headers,
        body: Vec::new(),
        client,
    };
    let early = |resp: Response, req: Request, keep_alive: bool| {
        let head = req.method == "HEAD";
        Step::Reply {
            resp,
            keep_alive,
            method: req.method,
            path: req.path,
            client: req.client,
            head,
        }
    };
    let service = &shared.service;
    let admitted = panic::catch_unwind(AssertUnwindSafe(|| service.admit(&req)))
        .unwrap_or_else(|_| Err(Response::new(500)));
    match admitted {
        Err(resp) => {
            // Nothing of the body was read: keep the connection only if there is none.
            let keep = head.keep_alive && head.body_len == 0;
            if keep {
                buf.drain(..head.head_len);
            }
            Some(early(resp, req, keep))
        }
        Ok(cap) if head.body_len > cap as u64 => {
            let resp = Response::json(
                413,
                &serde_json::json!({
                    "error":"invalid_request",
                    "error_description": format!("request body too large: the limit here is {cap} bytes"),
                }),
            );
            Some(early(resp, req, false))
        }
        Ok(_) => {
            // The cap check above makes this conversion lossless.
            let body_len = usize::try_from(head.body_len).unwrap_or(usize::MAX);
            let body_missing = buf.len() < head.head_len + body_len;
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

/// A non-blocking eventfd, owned.
fn event_fd() -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; on success we own the returned descriptor.
    let fd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fd is a fresh descriptor nobody else owns.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The response on the wire, into `out` (cleared first; a worker reuses one buffer).
pub(crate) fn serialize(out: &mut Vec<u8>, resp: &Response, close: bool, head: bool) {
    out.clear();
    out.reserve(128 + resp.body.len());
    out.extend_from_slice(b"HTTP/1.1 ");
    push_decimal(out, u64::from(resp.status));
    out.push(b' ');
    out.extend_from_slice(reason(resp.status).as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &resp.headers {
        // Header values are ours, but never let one smuggle a line break onto the wire.
        let breaks = |s: &str| s.bytes().any(|b| b == b'\r' || b == b'\n');
        if breaks(value) || breaks(name) || name.contains(':') {
            continue;
        }
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"Content-Length: ");
    push_decimal(out, resp.body.len() as u64);
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"Connection: close\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if !head {
        out.extend_from_slice(&resp.body);
    }
}

/// `n` in decimal, without the formatting machinery.
fn push_decimal(out: &mut Vec<u8>, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[i..]);
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

/// How a descriptor reports readiness.
enum Trigger {
    /// Once per arrival of bytes (or of the peer's FIN), however many workers wait: a
    /// connection, whose worker reads until the socket is drained before it parks it.
    Edge,
    /// As long as it is readable: the stop eventfd, which every worker must see.
    Level,
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

    fn add(&self, fd: RawFd, token: u64, trigger: Trigger) -> io::Result<()> {
        let mut flags = libc::EPOLLIN | libc::EPOLLRDHUP;
        if let Trigger::Edge = trigger {
            flags |= libc::EPOLLET;
        }
        let mut ev = libc::epoll_event {
            events: flags as u32,
            u64: token,
        };
        // SAFETY: ev is a valid epoll_event for the duration of the call.
        if unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) } < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
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

/// The layer's own properties that the real binary cannot show on demand, because they need
/// a handler that blocks until the test lets it go: the real server on a real socket, with a
/// test [`Service`].
#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    /// `/block` waits until the test releases it; everything else answers its path at once.
    struct Blocking {
        entered: Mutex<mpsc::Sender<()>>,
        release: Mutex<mpsc::Receiver<()>>,
    }

    impl Service for Blocking {
        fn admit(&self, _req: &Request) -> Result<usize, Response> {
            Ok(1024)
        }

        fn handle(&self, req: &Request) -> Response {
            if req.path == "/block" {
                let _ = self.entered.lock().unwrap().send(());
                let _ = self
                    .release
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
            }
            Response::text(200, &req.path)
        }
    }

    struct Running {
        addr: SocketAddr,
        entered: mpsc::Receiver<()>,
        release: mpsc::Sender<()>,
        stop: UnixStream,
        thread: Option<thread::JoinHandle<io::Result<()>>>,
    }

    impl Drop for Running {
        fn drop(&mut self) {
            let _ = (&self.stop).write_all(b"x");
            let _ = self.release.send(());
            if let Some(t) = self.thread.take() {
                let _ = t.join();
            }
        }
    }

    fn start(workers: usize, limits: Limits) -> Running {
        let (entered_tx, entered) = mpsc::channel();
        let (release, release_rx) = mpsc::channel();
        let service: Arc<dyn Service> = Arc::new(Blocking {
            entered: Mutex::new(entered_tx),
            release: Mutex::new(release_rx),
        });
        let server = Server::bind("127.0.0.1:0".parse().unwrap(), limits, workers, vec![]).unwrap();
        let addr = server.local_addr().unwrap();
        let (stop_rx, stop) = UnixStream::pair().unwrap();
        let thread = thread::spawn(move || server.serve_until(service, stop_rx));
        Running {
            addr,
            entered,
            release,
            stop,
            thread: Some(thread),
        }
    }

    fn connect(addr: SocketAddr) -> TcpStream {
        let c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
        c
    }

    fn send(c: &TcpStream, path: &str) {
        (&*c)
            .write_all(format!("GET {path} HTTP/1.1\r\nHost: a\r\n\r\n").as_bytes())
            .unwrap();
    }

    /// One response: (status, body). Fails after the stream's read timeout.
    fn response(c: &TcpStream) -> (u16, String) {
        let mut got = Vec::new();
        let mut byte = [0u8; 1];
        while !got.ends_with(b"\r\n\r\n") {
            let n = (&*c).read(&mut byte).expect("a response in time");
            assert_eq!(n, 1, "closed after {:?}", String::from_utf8_lossy(&got));
            got.push(byte[0]);
        }
        let head = String::from_utf8(got).unwrap();
        let status = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .parse()
            .unwrap();
        let mut body = vec![0u8; len];
        (&*c).read_exact(&mut body).unwrap();
        (status, String::from_utf8(body).unwrap())
    }

    fn nothing_yet(c: &TcpStream) -> bool {
        c.set_nonblocking(true).unwrap();
        let r = (&*c).read(&mut [0u8; 1]);
        c.set_nonblocking(false).unwrap();
        matches!(r, Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    #[test]
    fn a_blocked_handler_holds_only_its_own_worker() {
        let s = start(2, Limits::default());
        // Keep-alive connections, served once and parked. Several, so that a design which
        // ties connections to one worker (an event loop each) would have one of them behind
        // the blocked handler.
        let parked: Vec<TcpStream> = (0..4).map(|_| connect(s.addr)).collect();
        for c in &parked {
            send(c, "/fast");
            assert_eq!(response(c), (200, "/fast".into()));
        }
        let blocked = connect(s.addr);
        send(&blocked, "/block");
        s.entered.recv_timeout(Duration::from_secs(3)).unwrap();
        // While that handler blocks, each parked connection becomes readable and is served
        // by the other worker at once, as are new connections, several times over.
        for _ in 0..10 {
            for c in &parked {
                let t = Instant::now();
                send(c, "/fast");
                assert_eq!(response(c), (200, "/fast".into()));
                let fresh = connect(s.addr);
                send(&fresh, "/new");
                assert_eq!(response(&fresh), (200, "/new".into()));
                assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
            }
        }
        assert!(nothing_yet(&blocked));
        s.release.send(()).unwrap();
        assert_eq!(response(&blocked), (200, "/block".into()));
        // And the released worker serves on.
        send(&blocked, "/again");
        assert_eq!(response(&blocked), (200, "/again".into()));
    }

    #[test]
    fn a_spare_worker_comes_off_the_bench_when_the_one_waiting_in_epoll_blocks() {
        // One worker may wait in epoll, two sit on the bench: when the active one blocks in
        // a handler, the accept loop sees events nobody takes and calls a spare.
        let limits = Limits {
            epoll_waiters: 1,
            ..Limits::default()
        };
        let s = start(3, limits);
        let parked = connect(s.addr);
        send(&parked, "/fast");
        assert_eq!(response(&parked), (200, "/fast".into()));
        let blocked = connect(s.addr);
        send(&blocked, "/block");
        s.entered.recv_timeout(Duration::from_secs(3)).unwrap();
        let mut slowest = Duration::ZERO;
        for _ in 0..20 {
            let t = Instant::now();
            send(&parked, "/fast");
            assert_eq!(response(&parked), (200, "/fast".into()));
            slowest = slowest.max(t.elapsed());
        }
        // A tick of the accept loop is 1 ms; a second leaves room for a loaded machine.
        eprintln!("slowest while blocked: {slowest:?}");
        assert!(slowest < Duration::from_secs(1), "{slowest:?}");
        assert!(nothing_yet(&blocked));
        s.release.send(()).unwrap();
        assert_eq!(response(&blocked), (200, "/block".into()));
    }

    #[test]
    fn bytes_arriving_while_a_worker_serves_the_connection_are_not_lost() {
        // Edge-triggered: the second request's event goes to the other worker, which finds
        // the connection busy and leaves it to the first, which must serve it once more
        // before parking the connection.
        let s = start(2, Limits::default());
        let c = connect(s.addr);
        send(&c, "/block");
        s.entered.recv_timeout(Duration::from_secs(3)).unwrap();
        send(&c, "/second");
        thread::sleep(Duration::from_millis(200));
        s.release.send(()).unwrap();
        assert_eq!(response(&c), (200, "/block".into()));
        assert_eq!(response(&c), (200, "/second".into()));
    }

    #[test]
    fn new_connections_beyond_the_queue_get_503_while_every_worker_is_stuck() {
        let limits = Limits {
            queue: 2,
            ..Limits::default()
        };
        let s = start(1, limits);
        let blocked = connect(s.addr);
        send(&blocked, "/block");
        s.entered.recv_timeout(Duration::from_secs(3)).unwrap();
        // The only worker is stuck: two new connections may wait for it, the third is told
        // at once to come back later.
        let waiting: Vec<TcpStream> = (0..2).map(|_| connect(s.addr)).collect();
        for c in &waiting {
            send(c, "/waited");
        }
        let t = Instant::now();
        let refused = connect(s.addr);
        send(&refused, "/refused");
        let mut all = String::new();
        let _ = (&refused).read_to_string(&mut all);
        assert!(all.starts_with("HTTP/1.1 503 "), "{all}");
        assert!(all.contains("\r\nRetry-After: 1\r\n"), "{all}");
        assert!(all.contains("\r\nConnection: close\r\n"), "{all}");
        assert!(
            all.ends_with(
                r#"{"error":"temporarily_unavailable","error_description":"all workers busy"}"#
            ),
            "{all}"
        );
        assert!(t.elapsed() < Duration::from_secs(1));
        for c in &waiting {
            assert!(nothing_yet(c));
        }
        // Unstuck, the worker answers everyone who waited, and new connections are served.
        s.release.send(()).unwrap();
        assert_eq!(response(&blocked), (200, "/block".into()));
        for c in &waiting {
            assert_eq!(response(c), (200, "/waited".into()));
        }
        let fresh = connect(s.addr);
        send(&fresh, "/new");
        assert_eq!(response(&fresh), (200, "/new".into()));
    }
}
