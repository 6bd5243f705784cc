//! MCP over Streamable HTTP against the real binary: transport rules, both protocol eras,
//! the tools, and a store that loses nothing acknowledged when the process is killed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::util::{Response, Server, TOKEN};

/// POSTs one JSON-RPC message to `/mcp` with the static bearer and the headers real clients
/// send, plus `extra`.
pub fn mcp(s: &Server, extra: &[(&str, &str)], body: &str) -> Response {
    let auth = format!("Bearer {TOKEN}");
    let mut h = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    h.extend_from_slice(extra);
    s.request("POST", "/mcp", &h, body.as_bytes())
}

/// Calls a tool and returns the JSON-RPC `result`.
pub fn call(s: &Server, tool: &str, args: Value) -> Value {
    let body = json!({"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":tool,"arguments":args}});
    let r = mcp(s, &[], &body.to_string());
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["result"].clone()
}

#[test]
fn transport_rules() {
    let s = Server::start();
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    let r = mcp(&s, &[], list);
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert!(r.header("mcp-session-id").is_none());

    // Content-Type other than JSON: 415. Accept that excludes JSON: 406. No Accept: fine.
    let auth = format!("Bearer {TOKEN}");
    let r = s.request(
        "POST",
        "/mcp",
        &[("Authorization", &auth), ("Content-Type", "text/plain")],
        list.as_bytes(),
    );
    assert_eq!(r.status, 415);
    let r = s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
            ("Accept", "text/html"),
        ],
        list.as_bytes(),
    );
    assert_eq!(r.status, 406);
    let r = s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/json"),
        ],
        list.as_bytes(),
    );
    assert_eq!(r.status, 200);

    // Unsupported MCP-Protocol-Version: 400 with a JSON-RPC error.
    let r = mcp(&s, &[("MCP-Protocol-Version", "1999-01-01")], list);
    assert_eq!(r.status, 400);
    assert_eq!(r.json()["jsonrpc"], "2.0");
    assert!(r.json()["error"]["code"].is_i64());

    // Notifications and responses: 202, no body.
    let r = mcp(
        &s,
        &[],
        r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#,
    );
    assert_eq!((r.status, r.body.len()), (202, 0));
    let r = mcp(&s, &[], r#"{"jsonrpc":"2.0","id":5,"result":{}}"#);
    assert_eq!((r.status, r.body.len()), (202, 0));

    // Framing errors.
    let r = mcp(&s, &[], "{not json");
    assert_eq!(r.json()["error"]["code"], -32700);
    let r = mcp(&s, &[], r#"[{"jsonrpc":"2.0","id":1,"method":"ping"}]"#);
    assert_eq!(r.json()["error"]["code"], -32600);
    let r = mcp(
        &s,
        &[],
        r#"{"jsonrpc":"2.0","id":"x-1","method":"no/such"}"#,
    );
    assert_eq!(r.json()["error"]["code"], -32601);
    assert_eq!(r.json()["id"], "x-1");
    let r = mcp(&s, &[], &"[".repeat(100_000));
    assert_eq!(r.json()["error"]["code"], -32700);

    // No stream and no sessions: GET and DELETE are 405 with Allow.
    for m in ["GET", "DELETE"] {
        let r = s.request(m, "/mcp", &[("Authorization", &auth)], b"");
        assert_eq!(r.status, 405, "{m}");
        assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
    }
    s.assert_healthy();
}

#[test]
fn handshake_and_stateless_revisions() {
    let s = Server::start();
    for v in ["2025-11-25", "2025-06-18", "2025-03-26", "2024-11-05"] {
        let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":v,"capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
        let r = mcp(&s, &[], &body.to_string()).json();
        assert_eq!(r["result"]["protocolVersion"], v);
        assert_eq!(r["result"]["serverInfo"]["name"], "brain-mcp");
        assert_eq!(
            r["result"]["serverInfo"]["version"],
            env!("CARGO_PKG_VERSION")
        );
        assert!(r["result"]["capabilities"]["tools"].is_object());
        assert!(r["result"]["instructions"].as_str().unwrap().len() > 100);
    }
    let body = json!({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2030-01-01","capabilities":{},"clientInfo":{"name":"t","version":"1"}}});
    assert_eq!(
        mcp(&s, &[], &body.to_string()).json()["result"]["protocolVersion"],
        "2025-11-25"
    );
    let r = mcp(&s, &[], r#"{"jsonrpc":"2.0","id":3,"method":"ping"}"#).json();
    assert_eq!(r["result"], json!({}));

    // 2026-07-28: server/discover, then requests carrying the version in _meta.
    let meta = json!({"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}});
    let body = json!({"jsonrpc":"2.0","id":1,"method":"server/discover","params":{"_meta":meta}});
    let r = mcp(
        &s,
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "server/discover"),
        ],
        &body.to_string(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let d = r.json()["result"].clone();
    assert!(d["supportedVersions"]
        .as_array()
        .unwrap()
        .contains(&json!("2026-07-28")));
    assert_eq!(
        d["_meta"]["io.modelcontextprotocol/serverInfo"]["name"],
        "brain-mcp"
    );
    let body = json!({"jsonrpc":"2.0","id":2,"method":"tools/list","params":{"_meta":meta}});
    let r = mcp(
        &s,
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/list"),
        ],
        &body.to_string(),
    );
    let l = r.json()["result"].clone();
    assert_eq!(l["resultType"], "complete");
    assert!(l["ttlMs"].is_u64());
    assert!(l["cacheScope"].is_string());
    // Mcp-Method disagreeing with the body: -32020.
    let r = mcp(
        &s,
        &[
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
        ],
        &body.to_string(),
    );
    assert_eq!(
        (r.status, r.json()["error"]["code"].clone()),
        (400, json!(-32020))
    );
}

#[test]
fn tools_round_trip_through_http() {
    let s = Server::start();
    let names: Vec<String> = mcp(&s, &[], r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .json()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect();
    for want in ["remember", "search", "recall", "forget", "list_notes"] {
        assert!(names.iter().any(|n| n == want), "{names:?}");
    }
    let saved = call(
        &s,
        "remember",
        json!({"text":"Café meeting with Zoë on Tuesday","tags":["Work"]}),
    );
    assert_eq!(saved["isError"], false);
    let id = saved["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let found = call(&s, "search", json!({"query":"cafe zoe"}));
    assert_eq!(found["structuredContent"]["results"][0]["id"], id);
    assert_eq!(
        found["structuredContent"]["results"][0]["tags"],
        json!(["work"])
    );
    let bad = call(&s, "remember", json!({"text":""}));
    assert_eq!(bad["isError"], true);
    let r = mcp(
        &s,
        &[],
        r#"{"jsonrpc":"2.0","id":9,"method":"tools/call","params":{"name":"nope","arguments":{}}}"#,
    );
    assert_eq!(r.json()["error"]["code"], -32602);
    assert_eq!(call(&s, "forget", json!({"id": id}))["isError"], false);
    assert_eq!(call(&s, "recall", json!({"id": id}))["isError"], true);
}

/// Several clients call `remember` while the server is killed with SIGKILL at a random
/// moment; after each restart every acknowledged note is there and the store opens.
#[test]
fn sigkill_loses_nothing_acknowledged() {
    let mut s = Server::start();
    let mut acked: Vec<String> = Vec::new();
    for round in 0..5 {
        let stop = Arc::new(AtomicBool::new(false));
        let got = Arc::new(Mutex::new(Vec::new()));
        let addr = s.addr;
        let workers: Vec<_> = (0..4)
            .map(|w| {
                let (stop, got) = (stop.clone(), got.clone());
                thread::spawn(move || {
                    let mut i = 0;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let body = json!({"jsonrpc":"2.0","id":i,"method":"tools/call","params":{"name":"remember","arguments":{"text":format!("round {round} worker {w} note {i}")}}});
                        let Ok(mut c) = crate::util::Conn::try_open(addr) else {
                            break;
                        };
                        let req = crate::util::raw_request(
                            &addr.to_string(),
                            "POST",
                            "/mcp",
                            &[
                                ("Authorization", &format!("Bearer {TOKEN}")),
                                ("Content-Type", "application/json"),
                            ],
                            body.to_string().as_bytes(),
                            true,
                        );
                        if c.try_send(&req).is_err() {
                            break;
                        }
                        match c.try_read_response(false) {
                            Ok(r) if r.status == 200 => {
                                let v: Value = serde_json::from_slice(&r.body).unwrap();
                                if let Some(id) = v["result"]["structuredContent"]["id"].as_str() {
                                    got.lock().unwrap().push(id.to_string());
                                }
                            }
                            _ => break,
                        }
                    }
                })
            })
            .collect();
        // A pseudo-random moment between 100 and 600 ms.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        thread::sleep(Duration::from_millis(100 + u64::from(nanos % 500)));
        s.signal(libc::SIGKILL);
        let _ = s.wait_exit();
        stop.store(true, Ordering::Relaxed);
        for w in workers {
            w.join().unwrap();
        }
        acked.extend(got.lock().unwrap().drain(..));
        s.respawn();
        let t = Instant::now();
        for id in &acked {
            let r = call(&s, "recall", json!({"id": id}));
            assert_eq!(
                r["isError"], false,
                "round {round}: acknowledged note {id} lost"
            );
        }
        assert!(t.elapsed() < Duration::from_secs(30));
    }
    assert!(
        acked.len() > 20,
        "too few notes were written to prove anything: {}",
        acked.len()
    );
}

/// A full disk: `remember` fails with a tool error that says the note was not saved, nothing
/// half-written is left behind, the server keeps serving, and after a restart exactly the
/// acknowledged notes are there. Needs root to mount a small tmpfs; skipped (with a line on
/// stderr) where mounting is not allowed.
#[test]
fn disk_full_is_a_tool_error_and_the_store_stays_consistent() {
    let mnt = crate::util::temp_dir("diskfull");
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=384k", "tmpfs"])
        .arg(&mnt)
        .status()
        .is_ok_and(|s| s.success());
    if !mounted {
        eprintln!("SKIP disk_full_...: cannot mount a tmpfs here (not root?)");
        return;
    }
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&self.0)
                .status();
        }
    }
    let _guard = Unmount(mnt.clone());
    let data = mnt.join("data");
    let mut s = Server::builder()
        .env("BRAIN_DATA_DIR", data.to_str().unwrap())
        .start();
    let mut acked = Vec::new();
    let mut failed = None;
    for i in 0..40 {
        let text = format!("note {i} {}", "x".repeat(30_000));
        let r = call(&s, "remember", json!({ "text": text }));
        if r["isError"] == true {
            failed = Some(r);
            break;
        }
        acked.push(r["structuredContent"]["id"].as_str().unwrap().to_string());
    }
    let failed = failed.expect("the disk never filled up");
    let msg = failed["content"][0]["text"]
        .as_str()
        .unwrap()
        .to_lowercase();
    assert!(msg.contains("not saved"), "{msg}");
    assert!(!acked.is_empty());
    // Still serving: reads work, and a small write fails cleanly or succeeds.
    s.assert_healthy();
    for id in &acked {
        assert_eq!(call(&s, "recall", json!({ "id": id }))["isError"], false);
    }
    s.restart();
    for id in &acked {
        assert_eq!(
            call(&s, "recall", json!({ "id": id }))["isError"],
            false,
            "{id} lost after restart"
        );
    }
    // Every page (the byte budget makes them several) until there is no next_cursor.
    let mut n = 0;
    let mut cursor = Value::Null;
    loop {
        let listed = call(&s, "list_notes", json!({"limit": 50, "cursor": cursor}));
        n += listed["structuredContent"]["notes"]
            .as_array()
            .unwrap()
            .len();
        cursor = listed["structuredContent"]["next_cursor"].clone();
        if cursor.is_null() {
            break;
        }
    }
    assert_eq!(n, acked.len(), "exactly the acknowledged notes");
    let _ = s.stop();
}

// ---- ChatGPT: search and fetch in OpenAI's shape (issue 10) ----

/// OpenAI's documented shapes of `search` and `fetch` results and of their one text item, as
/// JSON Schemas (the file says where each rule comes from). The Python interop check runs the
/// same file through the `jsonschema` package.
fn openai_shapes() -> Value {
    serde_json::from_str(include_str!("interop/openai-shapes.json")).expect("openai-shapes.json")
}

/// Checks `v` against `schema`, for the keywords the OpenAI shapes use. Any other keyword is
/// an error, so the schema file cannot say something this check silently skips.
fn validate(v: &Value, schema: &Value, at: &str) -> Result<(), String> {
    let Some(s) = schema.as_object() else {
        return Err(format!("{at}: schema is not an object"));
    };
    for (k, rule) in s {
        match k.as_str() {
            "$schema" | "$comment" | "description" => {}
            "type" => {
                let types: Vec<&str> = match rule {
                    Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
                    t => t.as_str().into_iter().collect(),
                };
                let ok = types.iter().any(|t| match *t {
                    "object" => v.is_object(),
                    "array" => v.is_array(),
                    "string" => v.is_string(),
                    "integer" => v.is_i64() || v.is_u64(),
                    "number" => v.is_number(),
                    "boolean" => v.is_boolean(),
                    "null" => v.is_null(),
                    _ => false,
                });
                if !ok {
                    return Err(format!("{at}: {v} is not of type {types:?}"));
                }
            }
            "const" if v != rule => return Err(format!("{at}: {v} is not {rule}")),
            "const" => {}
            "required" => {
                for key in rule
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                {
                    if v.as_object().is_some_and(|o| !o.contains_key(key)) {
                        return Err(format!("{at}: missing required {key:?}"));
                    }
                }
            }
            "properties" => {
                for (key, sub) in rule.as_object().into_iter().flatten() {
                    if let Some(x) = v.as_object().and_then(|o| o.get(key)) {
                        validate(x, sub, &format!("{at}.{key}"))?;
                    }
                }
            }
            "items" => {
                for (i, x) in v.as_array().into_iter().flatten().enumerate() {
                    validate(x, rule, &format!("{at}[{i}]"))?;
                }
            }
            "minItems" | "maxItems" => {
                let (n, bound) = (v.as_array().map_or(0, Vec::len), rule.as_u64().unwrap_or(0));
                let bad = if k == "minItems" {
                    (n as u64) < bound
                } else {
                    n as u64 > bound
                };
                if v.is_array() && bad {
                    return Err(format!("{at}: {n} items, {k} is {bound}"));
                }
            }
            "minLength" => {
                let n = v.as_str().map(|s| s.chars().count());
                if n.is_some_and(|n| (n as u64) < rule.as_u64().unwrap_or(0)) {
                    return Err(format!("{at}: {v} is shorter than {rule}"));
                }
            }
            other => return Err(format!("{at}: the validator does not know {other:?}")),
        }
    }
    Ok(())
}

/// `tools/call` with extra headers (a `User-Agent`, the stateless routing headers) and
/// `_meta`; the JSON-RPC `result`.
fn call_as(s: &Server, extra: &[(&str, &str)], meta: Value, tool: &str, args: Value) -> Value {
    let mut params = json!({"name": tool, "arguments": args});
    if !meta.is_null() {
        params["_meta"] = meta;
    }
    let body = json!({"jsonrpc": "2.0", "id": 11, "method": "tools/call", "params": params});
    let r = mcp(s, extra, &body.to_string());
    assert_eq!(r.status, 200, "{r:?}");
    r.json()["result"].clone()
}

/// A result in OpenAI's shape: one text item, whose text is JSON that satisfies OpenAI's
/// documented shape of `tool` and decodes to exactly the `structuredContent`.
fn assert_openai_shape(r: &Value, tool: &str) -> Value {
    let shapes = openai_shapes();
    assert_eq!(r["isError"], false, "{r}");
    validate(&r["content"], &shapes["content"], "content").unwrap_or_else(|e| panic!("{e}: {r}"));
    let text = r["content"][0]["text"].as_str().unwrap_or_default();
    let parsed: Value = serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"));
    validate(&parsed, &shapes[tool], tool).unwrap_or_else(|e| panic!("{e}: {parsed}"));
    assert_eq!(
        parsed, r["structuredContent"],
        "the text does not round-trip"
    );
    parsed
}

#[test]
fn search_and_fetch_in_openai_shape() {
    let s = Server::start();
    let origin = format!("http://{}", s.addr);
    let note = "Passport renewal: book the appointment in March\nbring two photos";
    let saved = call(&s, "remember", json!({"text": note, "tags": ["admin"]}));
    let id = saved["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let url = format!("{origin}/notes/{id}");
    let meta_v = |name: &str| {
        json!({
            "io.modelcontextprotocol/protocolVersion": "2026-07-28",
            "io.modelcontextprotocol/clientCapabilities": {},
            "io.modelcontextprotocol/clientInfo": {"name": name, "version": "1.0.0"},
        })
    };
    // ChatGPT in the handshake era (User-Agent) and in 2026-07-28 (clientInfo in _meta; no
    // User-Agent of OpenAI's), as it calls both tools: `{query}`, then `{id}`.
    for (extra, meta) in [
        (vec![("User-Agent", "openai-mcp/1.0.0")], Value::Null),
        (
            vec![
                ("MCP-Protocol-Version", "2026-07-28"),
                ("Mcp-Method", "tools/call"),
                ("Mcp-Name", "search"),
            ],
            meta_v("openai-mcp"),
        ),
    ] {
        let r = call_as(
            &s,
            &extra,
            meta.clone(),
            "search",
            json!({"query": "passport renewal"}),
        );
        let found = assert_openai_shape(&r, "search");
        let hit = &found["results"][0];
        assert_eq!(
            (&hit["id"], &hit["title"], &hit["url"]),
            (
                &json!(id),
                &json!("Passport renewal: book the appointment in March"),
                &json!(url)
            )
        );
        let extra: Vec<_> = extra
            .into_iter()
            .map(|(k, v)| {
                if k == "Mcp-Name" {
                    (k, "fetch")
                } else {
                    (k, v)
                }
            })
            .collect();
        let r = call_as(&s, &extra, meta, "fetch", json!({"id": id}));
        let doc = assert_openai_shape(&r, "fetch");
        assert_eq!(doc["text"], note);
        assert_eq!(doc["url"], url.as_str());
        assert_eq!(doc["metadata"]["tags"], json!(["admin"]));
        assert_eq!(doc["next_offset"], Value::Null);
    }
    // Everyone else reads the readable rendering, with the same structured result.
    let plain = call(&s, "search", json!({"query": "passport renewal"}));
    assert!(plain["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with("1 note matches \"passport renewal\"")));
    assert_eq!(
        plain["structuredContent"]["results"][0]["url"],
        url.as_str()
    );
    let plain = call(&s, "fetch", json!({"id": id}));
    assert!(plain["content"][0]["text"]
        .as_str()
        .is_some_and(|t| t.starts_with(&format!("Note {id} (created "))));
    // An unknown id is a tool error in words, for ChatGPT too; the server keeps serving.
    let r = call_as(
        &s,
        &[("User-Agent", "openai-mcp/1.0.0")],
        Value::Null,
        "fetch",
        json!({"id": "n_gone"}),
    );
    assert_eq!(r["isError"], true);
    assert_eq!(
        r["content"][0]["text"],
        "no note has id \"n_gone\": check the id with search or list_notes (it may have been \
         forgotten)"
    );
    s.assert_healthy();
}

/// The url is on the public origin of `MCP_RESOURCE_URL` (the OAuth issuer), whatever
/// address the server listens on.
#[test]
fn note_urls_use_the_public_origin() {
    let s = Server::builder()
        .env("MCP_RESOURCE_URL", "https://brain.example.com/mcp")
        .start();
    let id = call(&s, "remember", json!({"text": "Call the plumber"}))["structuredContent"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    let want = format!("https://brain.example.com/notes/{id}");
    let r = call(&s, "search", json!({"query": "plumber"}));
    assert_eq!(r["structuredContent"]["results"][0]["url"], want.as_str());
    let r = call(&s, "fetch", json!({"id": id}));
    assert_eq!(r["structuredContent"]["url"], want.as_str());
    assert_eq!(r["structuredContent"]["title"], "Call the plumber");
}
