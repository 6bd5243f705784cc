//! Trust (issue 12) against the real binary, from the sides the SDK checks in tests/interop
//! (`ts_trust.mjs`, `py_trust.py`) do not reach: a data directory written before provenance,
//! the owner's commands and their refusals, and the writer and space rules of the log.

use std::fs;

use serde_json::json;

use crate::mcp::call;
use crate::util::{minimal_env, run, Server};

fn ok(s: &Server, tool: &str, args: serde_json::Value) -> serde_json::Value {
    let r = call(s, tool, args.clone());
    assert_eq!(r["isError"], false, "{tool} {args}: {r}");
    r["structuredContent"].clone()
}

fn cli(s: &Server, args: &[&str]) -> crate::util::Output {
    run(args, &minimal_env(s.data_dir()))
}

#[test]
fn an_old_data_directory_opens_and_its_notes_were_written_by_unknown() {
    let b = Server::builder();
    // Lines as brain-mcp wrote them before spaces and provenance existed.
    fs::write(
        b.data_dir().join("notes.jsonl"),
        concat!(
            r#"{"op":"put","seq":1,"id":"n_k3v9q2m7x4ab","text":"Buy oat milk","tags":["shopping"],"created_at":"2026-11-26T23:15:57Z","updated_at":"2026-11-26T23:15:57Z"}"#,
            "\n",
            r#"{"op":"put","seq":2,"id":"n_k3v9q2m7x4ab","text":"Buy oat milk and eggs","tags":["shopping"],"created_at":"2026-11-26T23:15:57Z","updated_at":"2026-11-27T08:00:00Z"}"#,
            "\n"
        ),
    )
    .unwrap();
    let s = b.start();
    let r = ok(
        &s,
        "recall",
        json!({"id": "n_k3v9q2m7x4ab", "history": true}),
    );
    assert_eq!(
        (r["space"].as_str(), r["by"].as_str()),
        (Some("main"), Some("unknown"))
    );
    assert_eq!(r["history"][0]["by"], "unknown");
    let text = call(&s, "recall", json!({"id": "n_k3v9q2m7x4ab"}))["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        text.starts_with("Note n_k3v9q2m7x4ab (created 2026-11-26T23:15:57Z, updated 2026-11-27T08:00:00Z, tags: shopping, space main, by unknown, version 2 of 2, 21 characters):"),
        "{text}"
    );
    let hits = ok(&s, "search", json!({"query": "milk", "by": "unknown"}));
    assert_eq!(hits["results"][0]["id"], "n_k3v9q2m7x4ab");
    // A new version is by the static token; the old ones stay unknown, after a restart too.
    ok(
        &s,
        "update",
        json!({"id": "n_k3v9q2m7x4ab", "tags": ["shopping", "weekly"]}),
    );
    let mut s = s;
    s.restart();
    let r = ok(
        &s,
        "recall",
        json!({"id": "n_k3v9q2m7x4ab", "history": true}),
    );
    assert_eq!(r["by"], "static token");
    assert_eq!(r["history"][1]["by"], "unknown");
    assert!(
        ok(&s, "search", json!({"query": "milk", "by": "unknown"}))["results"]
            .as_array()
            .unwrap()
            .is_empty()
    );
}

#[test]
fn a_log_line_with_a_bad_writer_or_space_stops_the_start_with_its_line() {
    for (extra, why) in [
        (r#","space":"Work""#, "space \"Work\" is not in its stored form (lower case)"),
        (r#","space":"no spaces""#, "space"),
        (r#","by":{"kind":"root"}"#, "writer kind \"root\" is not one of static, client_credentials, grant, oidc, owner, import"),
    ] {
        let b = Server::builder();
        let line = format!(
            r#"{{"op":"put","seq":1,"id":"n_k3v9q2m7x4ab","text":"x","tags":[],"created_at":"2026-11-26T23:15:57Z","updated_at":"2026-11-26T23:15:57Z"{extra}}}"#
        );
        fs::write(b.data_dir().join("notes.jsonl"), format!("{line}\n{line}\n")).unwrap();
        let dir = b.data_dir().to_path_buf();
        let out = run(&["serve"], &minimal_env(&dir));
        assert_eq!(out.status.code(), Some(1), "{extra}: {}", out.stderr);
        assert!(out.stderr.contains("notes.jsonl line 1"), "{extra}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{extra}: {}", out.stderr);
    }
}

#[test]
fn the_owners_review_commands_and_their_refusals() {
    let s = Server::start();
    let out = cli(&s, &["pending"]);
    assert_eq!(
        (out.status.code(), out.stdout.as_str()),
        (Some(0), "no notes wait for review\n")
    );
    let id = ok(&s, "remember", json!({"text": "accepted already"}))["id"]
        .as_str()
        .unwrap()
        .to_string();
    for verb in ["accept", "reject"] {
        let out = cli(&s, &[verb, &id]);
        assert_eq!(out.status.code(), Some(1), "{verb}");
        assert_eq!(
            out.stderr,
            format!("error: no note {id} waits for review\n")
        );
    }
    assert_eq!(
        ok(&s, "recall", json!({"id": id}))["text"],
        "accepted already",
        "reject forgot nothing"
    );
    let out = cli(&s, &["review", "g_AAAAAAAAAAAAAAAA", "on"]);
    assert_eq!(
        (out.status.code(), out.stderr.as_str()),
        (Some(1), "error: no live grant g_AAAAAAAAAAAAAAAA\n")
    );
    let out = cli(&s, &["review", "g_AAAAAAAAAAAAAAAA", "maybe"]);
    assert_eq!(out.status.code(), Some(1), "{}", out.stderr);
    assert!(
        out.stderr.contains("usage: brain-mcp review GRANT on|off"),
        "{}",
        out.stderr
    );
    let out = cli(&s, &["accept"]);
    assert!(
        out.stderr
            .contains("usage: brain-mcp accept NOTE_ID, or brain-mcp reject NOTE_ID"),
        "{}",
        out.stderr
    );
    s.assert_healthy();
}

#[test]
fn spaces_are_checked_like_tags_and_listed_with_counts() {
    let s = Server::start();
    let r = call(&s, "remember", json!({"text": "x", "space": "No Spaces"}));
    assert_eq!(r["isError"], true);
    let text = r["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("space"), "{text}");
    ok(&s, "remember", json!({"text": "a", "space": "Work"}));
    ok(&s, "remember", json!({"text": "b", "space": "work"}));
    ok(&s, "remember", json!({"text": "c"}));
    assert_eq!(
        ok(&s, "list_spaces", json!({})),
        json!({"spaces": [{"space": "work", "count": 2}, {"space": "main", "count": 1}]})
    );
    let only = ok(&s, "list_notes", json!({"spaces": ["work"]}));
    assert_eq!(only["notes"].as_array().unwrap().len(), 2);
    let r = call(&s, "search", json!({"query": "a", "spaces": []}));
    assert_eq!(
        r["content"][0]["text"],
        "`spaces` is empty: name at least one space, or leave it out for every space"
    );
}
