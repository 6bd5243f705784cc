//! The brain's features of issue 7 against the real binary: the exact tool error messages,
//! `export` and `import` (with and without a running server), and no lost or invented writes
//! under 8 concurrent clients.

use std::collections::BTreeMap;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::mcp::call;
use crate::util::{minimal_env, run, temp_dir, Server};

fn ok(s: &Server, tool: &str, args: Value) -> Value {
    let r = call(s, tool, args.clone());
    assert_eq!(r["isError"], false, "{tool} {args}: {r}");
    r["structuredContent"].clone()
}

fn err(s: &Server, tool: &str, args: Value) -> String {
    let r = call(s, tool, args.clone());
    assert_eq!(r["isError"], true, "{tool} {args}: {r}");
    r["content"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// `brain-mcp ARGS` on `dir` (through the admin socket when a server runs there).
fn cli(dir: &Path, args: &[&str]) -> crate::util::Output {
    run(args, &minimal_env(dir))
}

fn export(dir: &Path) -> String {
    let out = cli(dir, &["export"]);
    if !out.status.success() {
        out.fail("export failed");
    }
    out.stdout
}

fn import(dir: &Path, file: &Path) -> crate::util::Output {
    cli(dir, &["import", &file.to_string_lossy()])
}

#[test]
fn tool_errors_say_exactly_what_to_change() {
    let s = Server::start();
    let id = ok(&s, "remember", json!({"text": "a note"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: Vec<(&str, Value, String)> = vec![
        (
            "update",
            json!({"id": id}),
            "nothing to change: pass `text` (the note's new content), `tags` (its new tag list, \
             replacing the old one), `space` (to move it), or any of them; for example {\"id\": \"<id from search or \
             list_notes>\", \"text\": \"The corrected note\"}"
                .into(),
        ),
        (
            "update",
            json!({"id": "n_nosuchnote00", "text": "x"}),
            "no note has id \"n_nosuchnote00\": check the id with search or list_notes (it may \
             have been forgotten)"
                .into(),
        ),
        (
            "search",
            json!({"query": "a", "tags_any": ["ok", "bad tag"]}),
            "`tags_any`: tag \"bad tag\" contains ' '; tags may only use a-z, 0-9, '_' and '-': \
             use \"bad-tag\" instead"
                .into(),
        ),
        (
            "list_notes",
            json!({"tags_all": ["x", 3]}),
            "every tag in `tags_all` must be a string, but one is a number".into(),
        ),
        (
            "list_notes",
            json!({"tags_all": "x"}),
            "`tags_all` must be an array of tags, not a string: pass [\"x\"]".into(),
        ),
        (
            "list_notes",
            json!({"since": "last week"}),
            "`since` must be an RFC 3339 time like \"2026-01-31T09:00:00Z\" or a date like \
             \"2026-01-31\" (UTC), not \"last week\""
                .into(),
        ),
        (
            "search",
            json!({"query": "a", "since": "2026-02-01", "until": "2026-01-31"}),
            "`since` (2026-02-01T00:00:00Z) is after `until` (2026-01-31T23:59:59Z): no note \
             can match; swap them or widen the range"
                .into(),
        ),
        (
            "recall",
            json!({"id": id, "offset": 6}),
            "`offset` 6 is past the end of the text, which has 6 characters: pass an offset \
             below that, or leave it out to start at the beginning"
                .into(),
        ),
        (
            "recall",
            json!({"id": id, "version": 2}),
            format!(
                "`version` 2 does not exist: note {id} has 1 version (1 is the first, 1 the \
                 current one)"
            ),
        ),
        (
            "list_notes",
            json!({"cursor": "bm9wZQ"}),
            "cursor is not one this server issued; call list_notes without a cursor to start \
             again. Pass the `next_cursor` of the previous page unchanged, or leave `cursor` \
             out to start from the newest note"
                .into(),
        ),
        (
            "search",
            json!({"query": "a", "cursor": "bm9wZQ"}),
            "`cursor` is not one this search returned: pass the `next_cursor` of the previous \
             page unchanged (with the same other arguments), or leave it out to start from the \
             first page"
                .into(),
        ),
        (
            "list_tags",
            json!({"limit": 5}),
            "unknown argument `limit` for list_tags: remove it. Accepted arguments: cursor".into(),
        ),
    ];
    for (tool, args, want) in cases {
        assert_eq!(err(&s, tool, args.clone()), want, "{tool} {args}");
    }
}

#[test]
fn export_import_round_trip_is_byte_for_byte() {
    let s = Server::start();
    let a = ok(
        &s,
        "remember",
        json!({"text": "first \"quoted\"\nnote", "tags": ["x"]}),
    );
    let id = a["id"].as_str().unwrap();
    ok(&s, "remember", json!({"text": "second note ✓", "tags": []}));
    ok(
        &s,
        "update",
        json!({"id": id, "text": "first, edited", "tags": ["x", "y"]}),
    );
    let gone = ok(&s, "remember", json!({"text": "forgotten"}));
    ok(&s, "forget", json!({"id": gone["id"]}));
    // Exported while the server runs (through its admin socket).
    let out = export(s.data_dir());
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0]["id"], id);
    assert_eq!(lines[0]["history"][0]["text"], "first \"quoted\"\nnote");
    assert_eq!(lines[0]["tags"], json!(["x", "y"]));

    let file = temp_dir("export").join("brain.jsonl");
    std::fs::write(&file, &out).unwrap();
    // Into an empty data directory, no server running: the same JSON, byte for byte.
    let empty = temp_dir("import-empty");
    let r = import(&empty, &file);
    assert_eq!(r.stdout, "added 2, skipped 0\n", "{}", r.stderr);
    assert_eq!(export(&empty), out);
    // Again: all duplicates.
    assert_eq!(import(&empty, &file).stdout, "added 0, skipped 2\n");
    assert_eq!(export(&empty), out);
    // A server started on the imported directory serves the notes, history included.
    let mut b = Server::builder()
        .env("BRAIN_DATA_DIR", &empty.to_string_lossy())
        .start();
    let r = ok(&b, "recall", json!({"id": id, "history": true}));
    assert_eq!(r["text"], "first, edited");
    assert_eq!(r["history"][0]["tags"], json!(["x"]));
    b.stop();
}

#[test]
fn import_of_a_memory_server_file_while_the_server_runs() {
    let s = Server::start();
    ok(
        &s,
        "remember",
        json!({"text": "John Smith: Graduated in 2019", "tags": ["person"]}),
    );
    let sample =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/memory-server-sample.jsonl");
    let r = import(s.data_dir(), &sample);
    assert!(r.status.success(), "{}", r.stderr);
    // 3 + 2 observations, 1 entity without any, 2 relations; one observation was already there.
    assert_eq!(r.stdout, "added 7, skipped 1\n");
    // The running server's memory has them at once.
    let tags = ok(&s, "list_tags", json!({}));
    assert_eq!(
        tags["tags"],
        json!([
            {"tag": "person", "count": 3},
            {"tag": "organization", "count": 2},
            {"tag": "relation", "count": 2},
            {"tag": "software-project", "count": 1},
        ])
    );
    let hits = ok(&s, "search", json!({"query": "spanish", "tag": "person"}));
    assert_eq!(
        hits["results"][0]["snippet"],
        "John Smith: Speaks fluent **Spanish**"
    );
    let rel = ok(&s, "list_notes", json!({"tag": "relation"}));
    let texts: Vec<&str> = rel["notes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        texts,
        [
            "John Smith leads Project Aurora",
            "John Smith works at Anthropic"
        ]
    );
    assert_eq!(import(s.data_dir(), &sample).stdout, "added 0, skipped 8\n");
}

#[test]
fn a_bad_line_imports_nothing() {
    let s = Server::start();
    ok(&s, "remember", json!({"text": "before"}));
    let before = export(s.data_dir());
    let file = temp_dir("bad-import").join("bad.jsonl");
    std::fs::write(
        &file,
        "{\"type\":\"entity\",\"name\":\"A\",\"entityType\":\"t\",\"observations\":[\"fine\"]}\n\
         {\"type\":\"entity\",\"name\":\"B\",\"entityType\":\"t\",\"observations\":[1]}\n\
         \n\
         not json\n",
    )
    .unwrap();
    let r = import(s.data_dir(), &file);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(r.stdout, "");
    assert!(
        r.stderr.starts_with(
            "error: nothing was imported; bad lines:\nline 2: every observation must be a \
             string\nline 4: not JSON: "
        ),
        "{}",
        r.stderr
    );
    assert_eq!(export(s.data_dir()), before);
    // Without a server, the same.
    let dir = temp_dir("bad-import-offline");
    let r = import(&dir, &file);
    assert_eq!(r.status.code(), Some(1));
    assert_eq!(export(&dir), "");
}

/// What a client was told: the notes it owns now, with how many versions each has.
type Model = BTreeMap<String, (String, usize)>;

#[test]
fn eight_clients_for_ten_seconds_lose_nothing() {
    let mut s = Server::start();
    let server = &s;
    let models: Vec<Model> = thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|t| {
                scope.spawn(move || {
                    let mut model = Model::new();
                    let mut order: Vec<String> = Vec::new();
                    let end = Instant::now() + Duration::from_secs(10);
                    let mut i = 0u64;
                    while Instant::now() < end {
                        i += 1;
                        match i % 5 {
                            0..=2 if order.len() < 3 || i % 5 != 2 => {
                                let text = format!("client {t} note {i} concurrent");
                                let r = ok(
                                    server,
                                    "remember",
                                    json!({"text": text, "tags": [format!("c{t}")]}),
                                );
                                assert_eq!(r["duplicate"], false);
                                let id = r["id"].as_str().unwrap().to_string();
                                model.insert(id.clone(), (text, 1));
                                order.push(id);
                            }
                            0..=3 => {
                                let id = order[(i as usize * 7) % order.len()].clone();
                                let text = format!("client {t} note {i} updated");
                                let r = ok(server, "update", json!({"id": id, "text": text}));
                                assert_eq!(r["changed"], true);
                                let e = model.get_mut(&id).unwrap();
                                *e = (text, e.1 + 1);
                            }
                            _ => {
                                if let Some(id) = order.pop() {
                                    ok(server, "forget", json!({"id": id}));
                                    model.remove(&id);
                                }
                            }
                        }
                    }
                    model
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut want = Model::new();
    for m in models {
        want.extend(m);
    }
    assert!(
        want.len() > 100,
        "only {} notes: too slow to prove much",
        want.len()
    );
    // A crash right after the last acknowledgement, then a fresh start.
    s.signal(libc::SIGKILL);
    s.wait_exit();
    s.respawn();
    let got: Model = export(s.data_dir())
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            let versions = v["history"].as_array().map_or(0, Vec::len) + 1;
            (
                v["id"].as_str().unwrap().to_string(),
                (v["text"].as_str().unwrap().to_string(), versions),
            )
        })
        .collect();
    assert_eq!(got.len(), want.len());
    assert!(
        got == want,
        "the store after restart differs from what was acknowledged"
    );
    // And the server agrees with the export.
    let total: usize = (0..8)
        .map(|t| {
            let tags = ok(&s, "list_tags", json!({}));
            tags["tags"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["tag"] == format!("c{t}"))
                .map_or(0, |x| x["count"].as_u64().unwrap() as usize)
        })
        .sum();
    assert_eq!(total, want.len());
}

/// A clean stop removes `admin.sock` (SIGTERM as systemd and container runtimes send it,
/// SIGINT as Ctrl-C does), after the drain and with exit status 0. A SIGKILL cannot, and the
/// next start replaces the stale socket and serves the owner's commands through it.
///
/// Each signal is sent once `/healthz` has answered: the server installs its SIGTERM handler
/// when it starts serving, a moment after it logs `listening on`, and a signal sent in between
/// ends the process by the default action (exit by signal 15, no drain). That window belongs
/// to the HTTP layer, not to what this test checks.
#[test]
fn a_clean_stop_removes_the_admin_socket() {
    let mut s = Server::start();
    let sock = s.data_dir().join("admin.sock");
    let exists = |p: &Path| std::fs::symlink_metadata(p).is_ok();
    assert!(exists(&sock), "no admin.sock while running");
    for sig in [libc::SIGTERM, libc::SIGINT] {
        s.assert_healthy();
        s.signal(sig);
        let status = s.wait_exit();
        assert_eq!(status.code(), Some(0), "signal {sig}: {status:?}");
        assert!(!exists(&sock), "admin.sock left after signal {sig}");
        assert!(s.log().ends_with("stopped\n"), "{}", s.log());
        s.respawn();
        assert!(exists(&sock), "no admin.sock after a restart");
    }
    s.signal(libc::SIGKILL);
    s.wait_exit();
    assert!(exists(&sock), "a SIGKILL cannot remove it");
    s.respawn();
    ok(&s, "remember", json!({"text": "after a crash"}));
    let out = export(s.data_dir());
    assert!(out.contains("after a crash"), "{out}");
    s.assert_healthy();
    assert_eq!(s.stop().code(), Some(0));
    assert!(!exists(&sock));
}

/// Snippets mark what a query is about, not the stop words it happened to contain; the
/// ranking still counts them (a note with the query's stop words is not dropped).
#[test]
fn snippets_do_not_mark_stop_words() {
    let s = Server::start();
    let id = ok(
        &s,
        "remember",
        json!({"text": "The key of the house is under the mat by the door"}),
    )["id"]
        .as_str()
        .unwrap()
        .to_string();
    let r = ok(&s, "search", json!({"query": "the key of the house"}));
    let hit = &r["results"][0];
    assert_eq!(hit["id"], id.as_str());
    assert_eq!(
        hit["snippet"],
        "The **key** of the **house** is under the mat by the door"
    );
    assert_eq!(
        hit["title"],
        "The key of the house is under the mat by the door"
    );
    // A query of stop words only still finds and marks them.
    let r = ok(&s, "search", json!({"query": "the"}));
    assert_eq!(r["results"][0]["id"], id.as_str());
    assert!(
        r["results"][0]["snippet"]
            .as_str()
            .is_some_and(|t| t.starts_with("**The** key of **the** house")),
        "{r}"
    );
}

// ---- the store on disk: crafted lines, snapshots, crashes (issue 15 items 3-4, 16 item 10) ----

const ID_ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// Removes a data directory the test made itself when the test ends, unless it failed (then
/// the directory is kept to look at, as `Server` keeps its own).
struct Cleanup(std::path::PathBuf);

impl Drop for Cleanup {
    fn drop(&mut self) {
        if !thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A valid note id made from `n` (the server's ids are `n_` and 12 of these characters).
fn note_id(mut n: u64) -> String {
    let mut id = String::from("n_");
    for _ in 0..12 {
        id.push(char::from(ID_ALPHABET[(n & 31) as usize]));
        n >>= 5;
    }
    id
}

/// A `put` line as the server writes it, with the given fields as raw JSON.
fn put(seq: u64, id: &str, text: &str, tags: &str, created: &str, updated: &str) -> String {
    format!(
        "{{\"op\":\"put\",\"seq\":{seq},\"id\":{},\"text\":{},\"tags\":{tags},\
         \"created_at\":\"{created}\",\"updated_at\":\"{updated}\"}}\n",
        json!(id),
        json!(text)
    )
}

fn good(seq: u64) -> String {
    let t = "2026-01-01T00:00:00Z";
    put(
        seq,
        &note_id(seq),
        &format!("good note {seq}"),
        "[\"ok\"]",
        t,
        t,
    )
}

/// A line of `notes.jsonl` that only someone editing the file could have written, in the middle
/// of the log or as its last line (a crash leaves a cut-off line, never a whole record that
/// breaks a rule): `serve` refuses to start, names the file, the line and the rule (the very
/// message `remember` or `import` gives for such input), and leaves the file as it was.
#[test]
fn crafted_store_lines_are_refused_at_start() {
    let t = "2026-01-01T00:00:00Z";
    let id = note_id(2);
    let many: Vec<String> = (0..17).map(|i| format!("t{i}")).collect();
    let long_tag = "a".repeat(65);
    let cases: Vec<(String, String)> = vec![
        (
            put(2, "../../etc/passwd", "x", "[]", t, t),
            "id \"../../etc/passwd\" is not a note id: ids are \"n_\" and 12 characters of 0-9 \
             and a-z without i, l, o and u"
                .into(),
        ),
        (
            put(2, "n_00000000000\n", "x", "[]", t, t),
            "id \"n_00000000000\\n\" is not a note id: ids are \"n_\" and 12 characters of 0-9 \
             and a-z without i, l, o and u"
                .into(),
        ),
        (
            put(2, &id, "x", "[\"Work\"]", t, t),
            "tags [\"Work\"] are not in their stored form (lower case, each once): [\"work\"]"
                .into(),
        ),
        (
            put(2, &id, "x", "[\"a\",\"a\"]", t, t),
            "tags [\"a\", \"a\"] are not in their stored form (lower case, each once): [\"a\"]"
                .into(),
        ),
        (
            put(2, &id, "x", "[\"a b\"]", t, t),
            "tag \"a b\" contains ' '; tags may only use a-z, 0-9, '_' and '-': use \"a-b\" \
             instead"
                .into(),
        ),
        (
            put(2, &id, "x", "[\"../x\"]", t, t),
            "tag \"../x\" contains '.'; tags may only use a-z, 0-9, '_' and '-': use \"x\" \
             instead"
                .into(),
        ),
        (
            put(2, &id, "x", &json!(many).to_string(), t, t),
            "17 distinct tags given; a note may have at most 16: keep the most useful ones".into(),
        ),
        (
            put(2, &id, "x", &json!([long_tag]).to_string(), t, t),
            "tag \"aaaaaaaaaaaaaaaaaaaa\"... is 65 characters; the limit is 64: shorten it".into(),
        ),
        (
            put(2, &id, &"x".repeat(65_537), "[]", t, t),
            "`text` is 65537 bytes; the limit is 65536 bytes (64 KiB): shorten it or split it \
             into several notes"
                .into(),
        ),
        (
            put(2, &id, " \n ", "[]", t, t),
            "`text` is empty or only whitespace: put the content of the note in `text`".into(),
        ),
        (
            put(2, &id, "x", "[]", "2026-02-30T00:00:00Z", t),
            "`created_at` \"2026-02-30T00:00:00Z\" is not an RFC 3339 time".into(),
        ),
        (
            put(2, &id, "x", "[]", t, "yesterday"),
            "`updated_at` \"yesterday\" is not an RFC 3339 time".into(),
        ),
        (
            format!("{{\"op\":\"del\",\"seq\":2,\"id\":\"/etc/shadow\",\"at\":\"{t}\"}}\n"),
            "id \"/etc/shadow\" is not a note id: ids are \"n_\" and 12 characters of 0-9 and \
             a-z without i, l, o and u"
                .into(),
        ),
        (
            format!("{{\"op\":\"del\",\"seq\":2,\"id\":\"{id}\",\"at\":\"soon\"}}\n"),
            "`at` \"soon\" is not an RFC 3339 time".into(),
        ),
        (
            format!("{{\"op\":\"put\",\"seq\":2,\"id\":\"{id}\",\"tags\":[]}}\n"),
            "put record has no `text`".into(),
        ),
        (
            format!("{{\"op\":\"zap\",\"seq\":2,\"id\":\"{id}\"}}\n"),
            "unknown op \"zap\" (expected \"put\" or \"del\")".into(),
        ),
    ];
    for (line, want) in &cases {
        for last in [false, true] {
            let dir = temp_dir("crafted");
            let _cleanup = Cleanup(dir.clone());
            let mut bytes = good(1);
            bytes.push_str(line);
            if !last {
                bytes.push_str(&good(3));
            }
            let log = dir.join("notes.jsonl");
            std::fs::write(&log, &bytes).unwrap();
            let out = cli(&dir, &["serve"]);
            assert_eq!(out.code(), Some(1), "{want}: {}", out.stderr);
            assert_eq!(
                out.stderr,
                format!("brain-mcp: {} line 2: {want}\n", log.display()),
                "last line: {last}"
            );
            assert_eq!(
                std::fs::read_to_string(&log).unwrap(),
                bytes,
                "left as it was"
            );
            let aside = std::fs::read_dir(&dir)
                .unwrap()
                .filter_map(Result::ok)
                .any(|e| e.file_name().to_string_lossy().contains(".torn."));
            assert!(!aside, "nothing set aside");
        }
    }
    // Whereas a last line cut short is what a crash leaves: set aside, and the start goes on.
    let dir = temp_dir("torn");
    let _cleanup = Cleanup(dir.clone());
    let mut bytes = good(1);
    bytes.push_str(&good(2)[..40]);
    std::fs::write(dir.join("notes.jsonl"), &bytes).unwrap();
    let s = Server::builder()
        .env("BRAIN_DATA_DIR", &dir.to_string_lossy())
        .start();
    assert!(
        s.log().contains("bytes of an unfinished write"),
        "{}",
        s.log()
    );
    let listed = ok(&s, "list_notes", json!({}));
    assert_eq!(listed["notes"].as_array().unwrap().len(), 1);
    s.assert_healthy();
}

/// Writes a log of `n` notes (32,000 are 10 MB: over the 8 MiB from which the server keeps a
/// snapshot).
fn big_store(n: u64) -> std::path::PathBuf {
    let dir = temp_dir("big");
    let mut out = String::with_capacity(n as usize * 300);
    let words = [
        "budget", "meeting", "garden", "invoice", "dentist", "router", "recipe", "passport",
        "flight", "tomato", "piano", "lawyer", "roadmap", "printer", "coffee", "backup",
    ];
    let t = "2026-01-01T00:00:00Z";
    for i in 1..=n {
        let w = |k: u64| words[((i * 7 + k * 13) % words.len() as u64) as usize];
        let text = format!(
            "Note {i} about the {} and the {}, then the {} for w{} before {}; ünïcode \"quoted\" \
             text to make the line as long as a real note is, more or less, most days.",
            w(1),
            w(2),
            w(3),
            i % 1000,
            w(4)
        );
        let tags = json!([format!("t{}", i % 9)]).to_string();
        out.push_str(&put(i, &note_id(i), &text, &tags, t, t));
    }
    std::fs::write(dir.join("notes.jsonl"), out).unwrap();
    dir
}

fn wait_for_file(path: &Path, within: Duration) {
    let end = Instant::now() + within;
    while !path.exists() {
        assert!(Instant::now() < end, "{} never appeared", path.display());
        thread::sleep(Duration::from_millis(50));
    }
}

/// What the server answers to a few searches and list_tags: compared across starts.
fn answers(s: &Server) -> Vec<Value> {
    let mut v: Vec<Value> = [
        "budget meeting",
        "w17",
        "\"the garden\"",
        "pian",
        "-budget dentist",
    ]
    .iter()
    .map(|q| ok(s, "search", json!({"query": q, "limit": 20}))["results"].clone())
    .collect();
    v.push(ok(s, "list_tags", json!({})));
    v.push(ok(s, "list_notes", json!({"limit": 20, "tag": "t3"})));
    v
}

/// A brain of 32,000 notes: the first start reads the log and writes `notes.snapshot`; the
/// next starts read the snapshot and answer exactly the same; a damaged snapshot, or one made
/// from a log that was since edited, is refused with a line saying why, and the answers are
/// still exactly those of the log.
#[test]
fn a_large_brain_starts_from_its_snapshot_and_a_bad_one_only_slows_it() {
    let dir = big_store(32_000);
    let _cleanup = Cleanup(dir.clone());
    let snapshot = dir.join("notes.snapshot");
    let mut s = Server::builder()
        .env("BRAIN_DATA_DIR", &dir.to_string_lossy())
        .start();
    let want = answers(&s);
    assert!(!want[0].as_array().unwrap().is_empty());
    wait_for_file(&snapshot, Duration::from_secs(120));
    // The rename happens last: wait until the tmp file is gone too.
    let tmp = dir.join("notes.snapshot.tmp");
    let end = Instant::now() + Duration::from_secs(60);
    while tmp.exists() && Instant::now() < end {
        thread::sleep(Duration::from_millis(50));
    }
    s.restart();
    assert_eq!(answers(&s), want, "from the snapshot");
    assert!(!s.log().contains("not using"), "{}", s.log());
    s.stop();

    let good_snapshot = std::fs::read(&snapshot).unwrap();
    let mut damaged = good_snapshot.clone();
    let mid = damaged.len() / 2;
    damaged[mid] ^= 0x55;
    std::fs::write(&snapshot, &damaged).unwrap();
    s.respawn();
    let log = s.wait_for_log("not using");
    assert!(
        log.contains(&format!(
            "brain: not using {} (its checksum does not match (the file is damaged)); loading {} \
             instead, which takes longer",
            snapshot.display(),
            dir.join("notes.jsonl").display()
        )),
        "{log}"
    );
    assert_eq!(
        answers(&s),
        want,
        "from the log, the damaged snapshot refused"
    );
    s.stop();

    // The snapshot is fine but the log was edited in place (same length): the log wins.
    std::fs::write(&snapshot, &good_snapshot).unwrap();
    let notes = dir.join("notes.jsonl");
    let text = std::fs::read_to_string(&notes).unwrap();
    let edited = text.replacen("Note 1 about", "Note 1 zebra", 1);
    assert_ne!(edited, text);
    std::fs::write(&notes, edited).unwrap();
    s.respawn();
    let log = s.wait_for_log("made from another log");
    assert!(log.contains("the log was rewritten or edited"), "{log}");
    let hits = ok(&s, "search", json!({"query": "zebra"}));
    assert_eq!(hits["results"][0]["id"], note_id(1));
    s.assert_healthy();
}

/// A tool call that may find the server gone (killed mid-test): `None` then.
fn try_call(addr: std::net::SocketAddr, tool: &str, args: Value) -> Option<Value> {
    let body = json!({"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":tool,"arguments":args}});
    let mut c = crate::util::Conn::try_open(addr).ok()?;
    let req = crate::util::raw_request(
        &addr.to_string(),
        "POST",
        "/mcp",
        &[
            ("Authorization", &format!("Bearer {}", crate::util::TOKEN)),
            ("Content-Type", "application/json"),
        ],
        body.to_string().as_bytes(),
        true,
    );
    c.try_send(&req).ok()?;
    let r = c.try_read_response(false).ok()?;
    if r.status != 200 {
        return None;
    }
    let v: Value = serde_json::from_slice(&r.body).ok()?;
    Some(v["result"].clone())
}

/// Writers on a 32,000-note brain, killed with SIGKILL at a random moment (at first while the
/// snapshot is being written, later with a snapshot and records after it): every acknowledged
/// note is there after each restart.
#[test]
fn sigkill_on_a_large_brain_loses_nothing_acknowledged() {
    let dir = big_store(32_000);
    let _cleanup = Cleanup(dir.clone());
    let mut s = Server::builder()
        .env("BRAIN_DATA_DIR", &dir.to_string_lossy())
        .start();
    let mut acked: Vec<String> = Vec::new();
    for round in 0..4u64 {
        let stop = std::sync::atomic::AtomicBool::new(false);
        let got = std::sync::Mutex::new(Vec::new());
        thread::scope(|scope| {
            for w in 0..2 {
                let (addr, stop, got) = (s.addr, &stop, &got);
                scope.spawn(move || {
                    let mut i = 0;
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        i += 1;
                        let text = format!("round {round} writer {w} note {i}");
                        match try_call(addr, "remember", json!({ "text": text })) {
                            Some(r) if r["isError"] == false => {
                                let id = r["structuredContent"]["id"].as_str().unwrap();
                                got.lock().unwrap().push(id.to_string());
                            }
                            _ => break,
                        }
                    }
                });
            }
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            thread::sleep(Duration::from_millis(150 + u64::from(nanos % 700)));
            s.signal(libc::SIGKILL);
            let _ = s.wait_exit();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
        });
        acked.extend(got.into_inner().unwrap());
        s.respawn();
        for id in &acked {
            let r = call(&s, "recall", json!({ "id": id }));
            assert_eq!(r["isError"], false, "round {round}: acknowledged {id} lost");
        }
        assert_eq!(
            ok(&s, "recall", json!({"id": note_id(32_000)}))["text"]
                .as_str()
                .map(|t| t.starts_with("Note 32000 ")),
            Some(true)
        );
        // Let the snapshot of this round be written, or not: both must hold.
        thread::sleep(Duration::from_millis(round * 400));
    }
    assert!(acked.len() > 10, "only {} writes", acked.len());
}
