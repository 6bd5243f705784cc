//! Scopes chosen at consent (issue 12): the owner grants read and write or read only, and
//! which spaces; the grant and every token from it carry that; a write tool with a read-only
//! token is refused as MCP 2025-11-25 says (403 `insufficient_scope`) or, for clients of older
//! revisions, as a tool error; `tools/list` shows only what the token may call.

use crate::flow::{
    auth_params, authorize, consent_form, enc, location_params, token, CLAUDE_CALLBACK, VERIFIER,
};
use crate::util::{run, Response, Server, CLIENT_ID, CLIENT_SECRET, OWNER_PASSWORD};

const CLAUDE: &str = "https://claude.ai/oauth/mcp-oauth-client-metadata";

/// Posts the consent form with the owner's choices.
fn consent_with(s: &Server, page: &Response, choices: &[(&str, &str)]) -> Response {
    let mut fields = consent_form(page);
    fields.push(("password".into(), OWNER_PASSWORD.into()));
    fields.push(("action".into(), "approve".into()));
    for (k, v) in choices {
        fields.push(((*k).into(), (*v).into()));
    }
    let body = fields
        .iter()
        .map(|(k, v)| format!("{k}={}", enc(v)))
        .collect::<Vec<_>>()
        .join("&");
    s.post_form("/oauth/authorize", &[], &body)
}

/// claude.ai's document client through consent with `choices`, asking for `asked`: the token
/// response.
fn grant(s: &Server, asked: &str, choices: &[(&str, &str)]) -> serde_json::Value {
    let mut p = auth_params(CLAUDE, CLAUDE_CALLBACK);
    p.retain(|(k, _)| *k != "scope");
    p.push(("scope", asked));
    let page = authorize(s, &p);
    assert_eq!(page.status, 200, "{page:?}");
    let r = consent_with(s, &page, choices);
    let code = location_params(&r).1["code"].clone();
    let r = token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", CLAUDE_CALLBACK),
            ("client_id", CLAUDE),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    r.json()
}

fn rpc(s: &Server, token: &str, version: Option<&str>, body: &str) -> Response {
    let auth = format!("Bearer {token}");
    let mut h = vec![
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
        ("Accept", "application/json, text/event-stream"),
    ];
    if let Some(v) = version {
        h.push(("MCP-Protocol-Version", v));
    }
    s.request("POST", "/mcp", &h, body.as_bytes())
}

fn tool_names(r: &Response) -> Vec<String> {
    r.json()["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap().to_string())
        .collect()
}

const REMEMBER: &str = r#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"remember","arguments":{"text":"a read-only client tried this"}}}"#;

#[test]
fn a_read_only_grant_reads_and_cannot_write() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    // The client asked for everything; the owner chose read only.
    let j = grant(&s, "mcp", &[("access", "read")]);
    assert_eq!(j["scope"], "brain:read");
    let read = j["access_token"].as_str().unwrap().to_string();
    // A refresh keeps what was granted.
    let r = token(
        &s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", j["refresh_token"].as_str().unwrap()),
            ("client_id", CLAUDE),
        ],
    );
    assert_eq!(r.json()["scope"], "brain:read");
    let list = r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#;
    assert_eq!(
        tool_names(&rpc(&s, &read, Some("2025-06-18"), list)),
        [
            "search",
            "recall",
            "fetch",
            "list_notes",
            "list_tags",
            "list_spaces"
        ]
    );
    assert_eq!(
        tool_names(&rpc(&s, crate::util::TOKEN, None, list)).len(),
        9
    );
    // Reading works.
    let search = r#"{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"search","arguments":{"query":"anything"}}}"#;
    let r = rpc(&s, &read, Some("2025-06-18"), search);
    assert_eq!(r.json()["result"]["isError"], false, "{r:?}");
    // 2025-11-25 defines step-up: 403 with the challenge.
    let r = rpc(&s, &read, Some("2025-11-25"), REMEMBER);
    assert_eq!(r.status, 403, "{r:?}");
    let host = s.host();
    assert_eq!(
        r.header("www-authenticate"),
        Some(format!("Bearer error=\"insufficient_scope\", scope=\"brain:write\", resource_metadata=\"http://{host}/.well-known/oauth-protected-resource/mcp\", error_description=\"remember needs brain:write\"").as_str())
    );
    assert_eq!(r.json()["error"]["code"], -32600);
    // Earlier revisions have no step-up: a tool error the model can read.
    for version in [Some("2025-06-18"), None] {
        let r = rpc(&s, &read, version, REMEMBER);
        assert_eq!(r.status, 200, "{r:?}");
        let result = &r.json()["result"];
        assert_eq!(result["isError"], true);
        assert_eq!(
            result["content"][0]["text"],
            "remember writes to the brain, and the owner granted this connection read-only access: it may search, recall, fetch and list notes. To write, ask the owner to reconnect this client with read and write access."
        );
    }
    // Nothing was written.
    let r = rpc(
        &s,
        crate::util::TOKEN,
        None,
        r#"{"jsonrpc":"2.0","id":4,"method":"tools/call","params":{"name":"list_notes","arguments":{}}}"#,
    );
    assert_eq!(
        r.json()["result"]["structuredContent"]["notes"],
        serde_json::json!([])
    );
    // The owner sees what each grant may do.
    let dir = s.data_dir().to_string_lossy().into_owned();
    let out = run(&["grants"], &[("BRAIN_DATA_DIR", dir.as_str())]);
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with("g_") && l.contains(" read-only ")),
        "{}",
        out.stdout
    );
}

#[test]
fn the_owners_choice_wins_over_the_request() {
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start();
    // Asked for read only; the page offers it checked; the owner grants read and write.
    let mut p = auth_params(CLAUDE, CLAUDE_CALLBACK);
    p.retain(|(k, _)| *k != "scope");
    p.push(("scope", "brain:read brain:space:work"));
    let page = authorize(&s, &p);
    let html = page.body_str();
    assert!(
        html.contains("asks to read the spaces work of the notes"),
        "{html}"
    );
    assert!(html.contains(r#"value="read" checked"#), "{html}");
    assert!(html.contains(r#"name="space_list" value="work""#), "{html}");
    let j = grant(&s, "brain:read", &[("access", "write"), ("spaces", "all")]);
    assert_eq!(j["scope"], "mcp");
    // Named spaces are granted as named, sorted and checked.
    let j = grant(
        &s,
        "mcp",
        &[
            ("access", "write"),
            ("spaces", "some"),
            ("space_list", "work, Home,work"),
        ],
    );
    assert_eq!(
        j["scope"],
        "brain:read brain:write brain:space:home brain:space:work"
    );
    // A bad space name: the page again, no code.
    let page = authorize(&s, &auth_params(CLAUDE, CLAUDE_CALLBACK));
    let r = consent_with(
        &s,
        &page,
        &[("spaces", "some"), ("space_list", "no spaces/here")],
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.header("location").is_none());
    assert!(r.body_str().contains(
        "Name 1 to 32 spaces, separated by commas; a space name is 1 to 64 of a-z, 0-9, _ and -."
    ));
}

#[test]
fn client_credentials_get_what_the_operator_configured() {
    let s = Server::builder()
        .env("OAUTH_CLIENT_CREDENTIALS_SCOPE", "brain:read")
        .start();
    let r = s.post_form(
        "/oauth/token",
        &[],
        &format!(
            "grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={CLIENT_SECRET}"
        ),
    );
    assert_eq!(r.json()["scope"], "brain:read");
    let t = r.json()["access_token"].as_str().unwrap().to_string();
    let auth = format!("Bearer {t}");
    let r = s.request(
        "POST",
        "/mcp",
        &[
            ("Authorization", auth.as_str()),
            ("Content-Type", "application/json"),
            ("Accept", "application/json, text/event-stream"),
            ("MCP-Protocol-Version", "2026-07-28"),
            ("Mcp-Method", "tools/call"),
            ("Mcp-Name", "remember"),
        ],
        br#"{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"remember","arguments":{"text":"x"},"_meta":{"io.modelcontextprotocol/protocolVersion":"2026-07-28","io.modelcontextprotocol/clientCapabilities":{}}}}"#,
    );
    // The stateless revision has step-up too.
    assert_eq!(r.status, 403, "{r:?}");
    assert!(r
        .header("www-authenticate")
        .unwrap()
        .starts_with("Bearer error=\"insufficient_scope\", scope=\"brain:write\""));
    let dir = crate::util::temp_dir("cc-scope");
    let mut env = crate::util::minimal_env(&dir);
    env.push(("OAUTH_CLIENT_CREDENTIALS_SCOPE", "brain:write".into()));
    let out = run(&["check-config"], &env);
    let want = "OAUTH_CLIENT_CREDENTIALS_SCOPE must be mcp, or brain:read [brain:write] followed by brain:space:NAME entries in name order, space-separated";
    if out.code() != Some(1) || !out.stderr.contains(want) {
        out.fail(want);
    }
}
