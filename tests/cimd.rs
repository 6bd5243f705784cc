//! Client ID Metadata Documents (issue 10): each pinned client's real document used end to
//! end (consent with the owner password, code, token exchange with `none` and PKCE, refresh,
//! tools/list), every URL and document rule refused with its exact message, and grants per
//! installation.

use std::path::Path;

use crate::flow::{
    auth_params, authorize, location_params, mcp_status, post_consent, token, CLAUDE_CALLBACK,
    VERIFIER,
};
use crate::util::{run, Response, Server, OWNER_PASSWORD};

const CLAUDE: &str = "https://claude.ai/oauth/mcp-oauth-client-metadata";
const CLAUDE_CODE: &str = "https://claude.ai/oauth/claude-code-client-metadata";
const CHATGPT: &str = "https://chatgpt.com/oauth/client.json";
const VSCODE: &str = "https://vscode.dev/oauth/client-metadata.json";
const CURSOR: &str = "https://cursor.com/oauth/mcp-client.json";

fn with_password() -> Server {
    Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .start()
}

/// Authorizes `client` for `redirect` with the owner's consent, redeems the code as a public
/// client, refreshes once and lists tools. Returns the consent page and the latest access
/// token.
fn connect(s: &Server, client: &str, redirect: &str) -> (Response, String) {
    let page = authorize(s, &auth_params(client, redirect));
    assert_eq!(page.status, 200, "{page:?}");
    let r = post_consent(s, &page, OWNER_PASSWORD, "approve");
    let (base, q) = location_params(&r);
    assert_eq!(base, redirect, "sent back where the request said");
    assert_eq!(q["state"], "st&ate=1 x");
    let code = q["code"].clone();
    // `none`: the client ID in the body and no secret (the document holds none); PKCE and
    // the code bound to this client ID are the proof.
    let r = token(
        s,
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", VERIFIER),
            ("redirect_uri", redirect),
            ("client_id", client),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    assert_eq!(j["token_type"], "Bearer");
    let refresh = j["refresh_token"].as_str().unwrap().to_string();
    let r = token(
        s,
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
            ("client_id", client),
        ],
    );
    assert_eq!(r.status, 200, "{r:?}");
    let access = r.json()["access_token"].as_str().unwrap().to_string();
    assert_eq!(mcp_status(s, &access), 200);
    s.assert_log_clean(&[&access, &refresh, &code]);
    (page, access)
}

#[test]
fn every_pinned_client_connects_with_its_real_document() {
    let s = with_password();
    // (client ID, the redirect URI the client presents, name, client ID host, loopback-only)
    let cases = [
        (CLAUDE, CLAUDE_CALLBACK, "Claude", "claude.ai", false),
        // Claude Code's document lists portless loopback URIs; it listens on a random port.
        (
            CLAUDE_CODE,
            "http://localhost:49731/callback",
            "Claude Code",
            "claude.ai",
            true,
        ),
        (
            CHATGPT,
            "https://chatgpt.com/connector_platform_oauth_redirect",
            "ChatGPT",
            "chatgpt.com",
            false,
        ),
        // VS Code's names port 33418; loopback matches on any port (RFC 8252 §7.3).
        (
            VSCODE,
            "http://127.0.0.1:51234/",
            "Visual Studio Code",
            "vscode.dev",
            false,
        ),
        (
            CURSOR,
            "https://www.cursor.com/agents/mcp/oauth/callback",
            "Cursor",
            "cursor.com",
            false,
        ),
    ];
    for (client, redirect, name, host, loopback_only) in cases {
        let (page, _) = connect(&s, client, redirect);
        let html = page.body_str();
        assert!(
            html.contains(&format!(
                "<strong>{name}</strong>, as described by <code>{host}</code>"
            )),
            "{client}: {html}"
        );
        assert!(html.contains(client), "{client}: the client ID is shown");
        assert_eq!(
            html.contains("any program running here can claim to be it"),
            loopback_only,
            "{client}: loopback warning"
        );
    }
}

#[test]
fn a_native_apps_private_scheme_is_matched_exactly() {
    let s = with_password();
    let redirect = "cursor://anysphere.cursor-mcp/oauth/callback";
    let page = authorize(&s, &auth_params(CURSOR, redirect));
    assert!(page
        .body_str()
        .contains("<code>cursor: (an application on your device)</code>"));
    let r = post_consent(&s, &page, OWNER_PASSWORD, "approve");
    let loc = r.header("location").unwrap();
    assert!(
        loc.starts_with("cursor://anysphere.cursor-mcp/oauth/callback?code="),
        "{loc}"
    );
    // Not a prefix, not another path.
    for other in [
        "cursor://anysphere.cursor-mcp/oauth/callback/x",
        "cursor://evil/oauth/callback",
    ] {
        let r = authorize(&s, &auth_params(CURSOR, other));
        assert_eq!(r.status, 400);
        assert!(r.body_str().contains("not one this client may use"));
    }
}

/// Anyone can present claude.ai's client ID: without the owner's approval another person's
/// claude.ai account would get tokens to this brain.
#[test]
fn without_an_owner_password_a_document_client_is_refused() {
    let s = Server::start();
    let doc = s.get("/.well-known/oauth-authorization-server").json();
    assert_eq!(doc["client_id_metadata_document_supported"], false);
    let r = authorize(&s, &auth_params(CLAUDE, CLAUDE_CALLBACK));
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.header("location").is_none());
    assert!(
        r.body_str().contains("The authorization request was refused (access_denied): this server has no owner password, so it cannot ask the owner&#39;s consent; set BRAIN_OWNER_PASSWORD to connect this application."),
        "{}",
        r.body_str()
    );
}

#[test]
fn client_id_urls_are_checked_as_the_draft_says() {
    let s = with_password();
    for (id, why) in [
        (
            "https://claude.ai/oauth/../mcp-oauth-client-metadata",
            "it must not have . or .. path segments",
        ),
        (
            "https://claude.ai/./x",
            "it must not have . or .. path segments",
        ),
        ("https://claude.ai", "it must have a path"),
        ("https://claude.ai/", "it must have a path"),
        (
            "https://user@claude.ai/oauth/x",
            "it is not a valid https URL without userinfo",
        ),
        ("https://claude.ai/x#frag", "it must not have a fragment"),
        ("HTTPS://claude.ai/x", "it must start with https://"),
    ] {
        let r = authorize(&s, &auth_params(id, CLAUDE_CALLBACK));
        assert_eq!(r.status, 400, "{id}: {r:?}");
        assert!(r.header("location").is_none());
        let want = format!("is not a valid client metadata document URL: {why}.");
        assert!(r.body_str().contains(&want), "{id}: {}", r.body_str());
    }
    // A valid URL this server has no document for: how to pin it.
    let r = authorize(
        &s,
        &auth_params("https://app.example/client.json", "https://app.example/cb"),
    );
    assert_eq!(r.status, 400);
    assert!(r.body_str().contains("invalid_client: this application identifies itself with the client metadata document https://app.example/client.json, which this server does not know. To allow it, save that document as a file and name the file (or its directory) in BRAIN_CIMD_DOCUMENTS, then restart (or let this server fetch documents: BRAIN_CIMD_FETCH=on)."), "{}", r.body_str());
}

#[test]
fn redirect_uris_come_from_the_document() {
    let s = with_password();
    for (client, redirect) in [
        (CLAUDE, "https://evil.example/cb"),
        (CLAUDE, "https://claude.ai/api/mcp/auth_callback/x"),
        // Claude's document names no loopback URI, so no port of it matches.
        (CLAUDE, "http://localhost:4000/callback"),
        // Loopback matches any port, not any path.
        (CLAUDE_CODE, "http://localhost:4000/other"),
        (CLAUDE_CODE, "https://localhost/callback"),
    ] {
        let r = authorize(&s, &auth_params(client, redirect));
        assert_eq!(r.status, 400, "{client} {redirect}: {r:?}");
        assert!(r.header("location").is_none());
        assert!(
            r.body_str()
                .contains("The redirect_uri is not one this client may use"),
            "{}",
            r.body_str()
        );
    }
}

#[test]
fn a_document_client_authenticates_with_none_only() {
    let s = with_password();
    let page = authorize(&s, &auth_params(CLAUDE, CLAUDE_CALLBACK));
    let code =
        location_params(&post_consent(&s, &page, OWNER_PASSWORD, "approve")).1["code"].clone();
    let base = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("code_verifier", VERIFIER),
        ("redirect_uri", CLAUDE_CALLBACK),
        ("client_id", CLAUDE),
    ];
    // A secret, where the document may hold none: refused, and the code stays usable.
    let mut with_secret = base.to_vec();
    with_secret.push(("client_secret", "something-something-something-1234"));
    let r = token(&s, &with_secret);
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    // An unknown document URL at the token endpoint.
    let mut unknown = base.to_vec();
    unknown[4] = ("client_id", "https://app.example/client.json");
    let r = token(&s, &unknown);
    assert_eq!((r.status, r.error().as_str()), (401, "invalid_client"));
    assert_eq!(token(&s, &base).status, 200);
}

/// Every authorization is its own grant: re-authorizing one device never logs out another,
/// and the owner can end one.
#[test]
fn grants_per_installation() {
    let s = with_password();
    let (_, phone) = connect(&s, CLAUDE, CLAUDE_CALLBACK);
    let (_, laptop) = connect(&s, CLAUDE, CLAUDE_CALLBACK);
    let (_, code) = connect(&s, CLAUDE_CODE, "http://127.0.0.1:50001/callback");
    for t in [&phone, &laptop, &code] {
        assert_eq!(mcp_status(&s, t), 200);
    }
    let dir = s.data_dir().to_string_lossy().into_owned();
    let env = [("BRAIN_DATA_DIR", dir.as_str())];
    let out = run(&["grants"], &env);
    let rows: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with("g_")).collect();
    assert_eq!(rows.len(), 3, "{}", out.stdout);
    let claude_rows: Vec<&&str> = rows
        .iter()
        .filter(|l| l.contains(" Claude ") && l.contains(" claude.ai ") && l.ends_with(CLAUDE))
        .collect();
    assert_eq!(claude_rows.len(), 2, "{}", out.stdout);
    assert!(
        rows.iter()
            .any(|l| l.contains("Claude Code") && l.contains(" 127.0.0.1 ")),
        "{}",
        out.stdout
    );
    // Revoke the newest claude.ai grant: the phone's token keeps working.
    let newest = claude_rows[0].split_whitespace().next().unwrap();
    let r = run(&["revoke", newest], &env);
    assert_eq!(r.stdout, format!("revoked grant {newest} and its tokens\n"));
    let live: Vec<bool> = [&phone, &laptop]
        .iter()
        .map(|t| mcp_status(&s, t) == 200)
        .collect();
    assert_eq!(live.iter().filter(|l| **l).count(), 1, "{live:?}");
    assert_eq!(mcp_status(&s, &code), 200);
    let r = run(&["revoke", "g_nosuchgrant00000"], &env);
    assert_eq!(r.code(), Some(1));
    assert_eq!(r.stderr, "error: no live grant g_nosuchgrant00000\n");
    // The whole client: every grant of it ends.
    let r = run(&["revoke", CLAUDE], &env);
    assert_eq!(r.code(), Some(0));
    assert_eq!(mcp_status(&s, &phone), 401);
    assert_eq!(mcp_status(&s, &laptop), 401);
    assert_eq!(mcp_status(&s, &code), 200);
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.to_string_lossy().into_owned()
}

/// The owner pins more documents, or newer copies of the built-in ones.
#[test]
fn the_owner_pins_documents() {
    let dir = crate::util::temp_dir("cimd-docs");
    write(
        &dir,
        "claude.json",
        r#"{"client_id":"https://claude.ai/oauth/mcp-oauth-client-metadata","client_name":"Claude (newer copy)",
            "redirect_uris":["https://claude.ai/api/mcp/auth_callback","https://claude.com/api/mcp/auth_callback"],
            "token_endpoint_auth_method":"none"}"#,
    );
    write(
        &dir,
        "zed.json",
        r#"{"client_id":"https://zed.dev/oauth/client-metadata.json","client_name":"Zed",
            "redirect_uris":["http://127.0.0.1/callback"],"token_endpoint_auth_method":"none"}"#,
    );
    write(
        &dir,
        "README.txt",
        "not a document; only *.json files are read",
    );
    let s = Server::builder()
        .env("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD)
        .env("BRAIN_CIMD_DOCUMENTS", &dir.to_string_lossy())
        .start();
    let (page, _) = connect(&s, CLAUDE, "https://claude.com/api/mcp/auth_callback");
    assert!(page.body_str().contains("Claude (newer copy)"));
    connect(
        &s,
        "https://zed.dev/oauth/client-metadata.json",
        "http://127.0.0.1:40404/callback",
    );
}

/// A bad pinned document stops the start with one line naming the variable, the file and
/// the rule.
#[test]
fn bad_pinned_documents_stop_the_start() {
    let dir = crate::util::temp_dir("cimd-bad");
    let url = "https://app.example/client.json";
    let doc = |extra: &str| {
        format!(
            r#"{{"client_id":"{url}","client_name":"App","redirect_uris":["https://app.example/cb"]{extra}}}"#
        )
    };
    let cases = [
        (
            doc(r#","token_endpoint_auth_method":"client_secret_basic""#),
            "its token_endpoint_auth_method is a shared secret".to_string(),
        ),
        (
            doc(r#","token_endpoint_auth_method":"none","client_secret":"x""#),
            "it holds a client_secret, which a metadata document must not".to_string(),
        ),
        (
            doc(r#","token_endpoint_auth_method":"none""#).replace(r#""client_name":"App","#, ""),
            "it has no client_name".to_string(),
        ),
        (
            doc(r#","token_endpoint_auth_method":"none""#)
                .replace(url, "http://app.example/c.json"),
            "its client_id it must start with https://".to_string(),
        ),
        (
            doc(&format!(
                r#","token_endpoint_auth_method":"none","x":"{}""#,
                "y".repeat(6000)
            )),
            "is over the 5 KiB limit".to_string(),
        ),
        (
            "[1,2]".to_string(),
            "is not a JSON object with a client_id".to_string(),
        ),
    ];
    for (i, (text, why)) in cases.iter().enumerate() {
        let file = write(&dir, &format!("d{i}.json"), text);
        let mut env = crate::util::minimal_env(&crate::util::temp_dir("cimd-bad-data"));
        env.push(("BRAIN_CIMD_DOCUMENTS", file.clone()));
        let out = run(&[], &env);
        let want = format!("brain-mcp: configuration error: BRAIN_CIMD_DOCUMENTS: {file}");
        if out.code() != Some(1)
            || !out.stderr.contains(&want)
            || !out.stderr.contains(why.as_str())
        {
            out.fail(&format!("{want} ... {why}"));
        }
    }
}
