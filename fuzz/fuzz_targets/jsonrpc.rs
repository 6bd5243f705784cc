//! The MCP endpoint against a real brain: never panics, answers only with the statuses of the
//! module's table, and every 200 is a JSON-RPC 2.0 message.
//!
//! Input layout: the first byte picks the routing headers, the rest is the POST body.
//! - bits 0-2: MCP-Protocol-Version: 0-4 one of the served versions, 5 an unknown one, 6-7 none
//! - bits 3-4: Mcp-Method: 0 none, 1 the body's own `method`, 2 "tools/call", 3 "initialize"
//! - bit 5: Mcp-Name: the body's `params.name` (plain, or base64-sentinel encoded with bit 6)
//! - bit 7: send MCP-Protocol-Version twice
//!
//! Note ids are random, so a fuzzer cannot guess one: in the body, `$ID` is replaced by the id
//! of the newest note and `$CURSOR` by a `list_notes` cursor the brain issued, which lets
//! recall, forget and paging reach past "no such note".
#![no_main]

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use brain_mcp::brain::Brain;
use brain_mcp::http::Request;
use brain_mcp::mcp::{handle, Mcp, SUPPORTED_VERSIONS};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn mcp() -> &'static Mcp {
    static MCP: OnceLock<Mcp> = OnceLock::new();
    MCP.get_or_init(|| {
        // One directory per fuzzing process; those of processes that are gone are removed.
        let base = Path::new("/tmp/brain-mcp-fuzz-jsonrpc");
        if let Ok(entries) = std::fs::read_dir(base) {
            for e in entries.flatten() {
                let pid = e.file_name().to_string_lossy().into_owned();
                if !Path::new("/proc").join(&pid).exists() {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        let dir = base.join(std::process::id().to_string());
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        Mcp::new(
            Arc::new(Brain::open(&dir).expect("open brain")),
            "http://127.0.0.1:8080",
        )
    })
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

fn replace(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hay.len());
    let mut i = 0;
    while i < hay.len() {
        if hay[i..].starts_with(needle) {
            out.extend_from_slice(with);
            i += needle.len();
        } else {
            out.push(hay[i]);
            i += 1;
        }
    }
    out
}

/// `$ID` and `$CURSOR` → a live note id and an issued cursor (when the brain has them).
fn substitute(body: &[u8]) -> Vec<u8> {
    let mut body = body.to_vec();
    let (want_id, want_cursor) = (contains(&body, b"$ID"), contains(&body, b"$CURSOR"));
    if want_id || want_cursor {
        if let Ok((notes, cursor)) = mcp().brain.list(None, 1, None) {
            if let Some(n) = notes.first() {
                body = replace(&body, b"$ID", n.id.as_bytes());
            }
            if let Some(c) = cursor {
                body = replace(&body, b"$CURSOR", c.as_bytes());
            }
        }
    }
    body
}

fuzz_target!(|data: &[u8]| {
    let Some((&ctl, body)) = data.split_first() else {
        return;
    };
    let body = &substitute(body)[..];
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let method = parsed
        .as_ref()
        .and_then(|v| v.get("method"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let name = parsed
        .as_ref()
        .and_then(|v| v.pointer("/params/name"))
        .and_then(Value::as_str)
        .map(str::to_string);

    let mut headers: Vec<(String, Vec<u8>)> = vec![
        ("content-type".into(), b"application/json".to_vec()),
        (
            "accept".into(),
            b"application/json, text/event-stream".to_vec(),
        ),
    ];
    let version: Option<&str> = match ctl & 0x07 {
        i @ 0..=4 => Some(SUPPORTED_VERSIONS[usize::from(i)]),
        5 => Some("1999-01-01"),
        _ => None,
    };
    if let Some(v) = version {
        headers.push(("mcp-protocol-version".into(), v.as_bytes().to_vec()));
        if ctl & 0x80 != 0 {
            headers.push(("mcp-protocol-version".into(), v.as_bytes().to_vec()));
        }
    }
    match (ctl >> 3) & 0x03 {
        1 => {
            if let Some(m) = &method {
                headers.push(("mcp-method".into(), m.as_bytes().to_vec()));
            }
        }
        2 => headers.push(("mcp-method".into(), b"tools/call".to_vec())),
        3 => headers.push(("mcp-method".into(), b"initialize".to_vec())),
        _ => {}
    }
    if ctl & 0x20 != 0 {
        if let Some(n) = &name {
            let value = if ctl & 0x40 != 0 {
                format!(
                    "=?base64?{}?=",
                    base64::engine::general_purpose::STANDARD.encode(n)
                )
            } else {
                n.clone()
            };
            headers.push(("mcp-name".into(), value.into_bytes()));
        }
    }

    let req = Request {
        method: "POST".into(),
        path: "/mcp".into(),
        query: None,
        headers,
        body: body.to_vec(),
        client: IpAddr::V4(Ipv4Addr::LOCALHOST),
    };
    let resp = handle(mcp(), &req, &brain_mcp::caller::Caller::static_token());
    assert!(
        matches!(resp.status, 200 | 202 | 400 | 404 | 406 | 415),
        "unexpected status {}",
        resp.status
    );
    if resp.status == 202 {
        assert!(resp.body.is_empty(), "202 with a body");
    }
    if resp.status == 200 {
        let v: Value = serde_json::from_slice(&resp.body).expect("200 body is JSON");
        assert_eq!(v.get("jsonrpc").and_then(Value::as_str), Some("2.0"));
        assert!(v.get("result").is_some() != v.get("error").is_some());
    }
});
