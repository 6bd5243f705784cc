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
             replacing the old one), or both; for example {\"id\": \"<id from search or \
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
