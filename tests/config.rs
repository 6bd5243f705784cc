//! Configuration and the command line: every bad setting exits 1 with one stderr line naming
//! the variable and never its secret value; `check-config`, `gen-secret`, `--help`,
//! `--version`; one process per data directory; the listening line.

use crate::util::{
    minimal_env, run, temp_dir, Output, Server, CLIENT_ID, CLIENT_SECRET, OWNER_PASSWORD, SECRETS,
    TOKEN,
};

/// Runs `brain-mcp` (serve) with the minimal environment changed by `set` and `unset`, and
/// asserts the configuration error: exit 1, exactly one stderr line, naming `var`, holding
/// none of the secrets (nor any value in `also_hidden`), nothing on stdout, nothing bound.
fn assert_config_error(set: &[(&str, &str)], unset: &[&str], var: &str, also_hidden: &[&str]) {
    let dir = temp_dir("config");
    let mut env: Vec<(String, String)> = minimal_env(&dir)
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    env.retain(|(k, _)| !unset.contains(&k.as_str()));
    for (k, v) in set {
        env.retain(|(ek, _)| ek != k);
        env.push((k.to_string(), v.to_string()));
    }
    let out = run(&[], &env);
    check_config_error(&out, var, also_hidden);
    // "before anything binds": the data directory was not even created or locked.
    assert!(
        !dir.join("lock").exists(),
        "a config error started to use the data directory"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn check_config_error(out: &Output, var: &str, also_hidden: &[&str]) {
    if out.code() != Some(1) {
        out.fail("expected exit status 1");
    }
    let lines: Vec<&str> = out.stderr.lines().collect();
    if lines.len() != 1 {
        out.fail("expected exactly one line on stderr");
    }
    if !lines[0].contains(var) {
        out.fail(&format!("the error line does not name {var}"));
    }
    if !out.stdout.is_empty() {
        out.fail("expected nothing on stdout");
    }
    for s in SECRETS.iter().chain(also_hidden) {
        if out.stderr.contains(s) {
            out.fail("the error line shows a secret value");
        }
    }
    if out.stderr.contains("listening on") {
        out.fail("the server started");
    }
}

#[test]
fn missing_token() {
    assert_config_error(&[], &["BRAIN_MCP_TOKEN"], "BRAIN_MCP_TOKEN", &[]);
}

#[test]
fn short_token() {
    let short = "Short-token-value-31-characters";
    assert_eq!(short.len(), 31);
    assert_config_error(
        &[("BRAIN_MCP_TOKEN", short)],
        &[],
        "BRAIN_MCP_TOKEN",
        &[short],
    );
}

#[test]
fn token_with_bad_characters() {
    for bad in [
        "token with spaces 0123456789abcdefghij",
        "token;semicolon;0123456789abcdefghijkl",
        "tokén-with-non-ascii-0123456789abcdefgh",
    ] {
        assert_config_error(&[("BRAIN_MCP_TOKEN", bad)], &[], "BRAIN_MCP_TOKEN", &[bad]);
    }
}

#[test]
fn client_id_without_secret_and_vice_versa() {
    assert_config_error(
        &[("OAUTH_CLIENT_ID", CLIENT_ID)],
        &[],
        "OAUTH_CLIENT_SECRET",
        &[],
    );
    assert_config_error(
        &[("OAUTH_CLIENT_SECRET", CLIENT_SECRET)],
        &[],
        "OAUTH_CLIENT_ID",
        &[],
    );
}

#[test]
fn short_or_bad_client_secret() {
    for bad in [
        "short-secret-0123456789",
        "bad secret with spaces 0123456789abcdef",
    ] {
        assert_config_error(
            &[("OAUTH_CLIENT_ID", CLIENT_ID), ("OAUTH_CLIENT_SECRET", bad)],
            &[],
            "OAUTH_CLIENT_SECRET",
            &[bad],
        );
    }
}

#[test]
fn bad_client_id() {
    let long = "a".repeat(256);
    for bad in ["bad id", "id:with:colons", long.as_str()] {
        assert_config_error(
            &[
                ("OAUTH_CLIENT_ID", bad),
                ("OAUTH_CLIENT_SECRET", CLIENT_SECRET),
            ],
            &[],
            "OAUTH_CLIENT_ID",
            &[],
        );
    }
}

#[test]
fn bad_resource_urls() {
    for bad in [
        "brain.example.com/mcp",
        "ftp://brain.example.com/mcp",
        "https://brain.example.com",
        "https://brain.example.com/",
        "https://brain.example.com/other",
        "https://brain.example.com/mcp?x=1",
        "https://brain.example.com/mcp#frag",
        "https://user@brain.example.com/mcp",
        "https://brain.example.com:99999/mcp",
        "http://brain.example.com/mcp",
        "http://0.0.0.0/mcp",
        "http://192.168.1.2:8080/mcp",
    ] {
        assert_config_error(&[("MCP_RESOURCE_URL", bad)], &[], "MCP_RESOURCE_URL", &[]);
    }
}

#[test]
fn bad_listen_addr() {
    for bad in ["nowhere", "127.0.0.1", "127.0.0.1:99999", "localhost:8080"] {
        assert_config_error(&[("LISTEN_ADDR", bad)], &[], "LISTEN_ADDR", &[]);
    }
}

#[test]
fn bad_numbers() {
    assert_config_error(&[("BRAIN_WORKERS", "0")], &[], "BRAIN_WORKERS", &[]);
    assert_config_error(&[("BRAIN_WORKERS", "many")], &[], "BRAIN_WORKERS", &[]);
    assert_config_error(
        &[("BRAIN_AUTH_FAILURE_LIMIT", "-1")],
        &[],
        "BRAIN_AUTH_FAILURE_LIMIT",
        &[],
    );
    assert_config_error(
        &[("BRAIN_ACCESS_TOKEN_TTL", "0")],
        &[],
        "BRAIN_ACCESS_TOKEN_TTL",
        &[],
    );
}

#[test]
fn bad_lists() {
    assert_config_error(
        &[("BRAIN_TRUSTED_PROXIES", "127.0.0.1,not-an-ip")],
        &[],
        "BRAIN_TRUSTED_PROXIES",
        &[],
    );
    assert_config_error(
        &[("BRAIN_ALLOWED_ORIGINS", "https://app.example.com/path")],
        &[],
        "BRAIN_ALLOWED_ORIGINS",
        &[],
    );
    assert_config_error(
        &[("OAUTH_REDIRECT_URIS", "http://evil.example/cb")],
        &[],
        "OAUTH_REDIRECT_URIS",
        &[],
    );
}

#[test]
fn name_and_name_file_both_set() {
    let dir = temp_dir("secretfile");
    let f = dir.join("token");
    std::fs::write(&f, format!("{TOKEN}\n")).unwrap();
    assert_config_error(
        &[("BRAIN_MCP_TOKEN_FILE", f.to_str().unwrap())],
        &[],
        "BRAIN_MCP_TOKEN_FILE",
        &[],
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn unreadable_secret_file() {
    assert_config_error(
        &[("BRAIN_MCP_TOKEN_FILE", "/nonexistent/brain-mcp/token")],
        &["BRAIN_MCP_TOKEN"],
        "BRAIN_MCP_TOKEN_FILE",
        &[],
    );
}

#[test]
fn secrets_from_files_work_and_stay_masked() {
    let dir = temp_dir("secretfile");
    let tok = dir.join("token");
    let sec = dir.join("secret");
    std::fs::write(&tok, format!("{TOKEN}\n")).unwrap();
    std::fs::write(&sec, CLIENT_SECRET).unwrap();
    let data = dir.join("data");
    let out = run(
        &["check-config"],
        &[
            ("BRAIN_MCP_TOKEN_FILE", tok.to_str().unwrap()),
            ("OAUTH_CLIENT_ID", CLIENT_ID),
            ("OAUTH_CLIENT_SECRET_FILE", sec.to_str().unwrap()),
            ("BRAIN_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    if out.code() != Some(0) {
        out.fail("check-config with _FILE secrets should pass");
    }
    if SECRETS
        .iter()
        .any(|s| out.stdout.contains(s) || out.stderr.contains(s))
    {
        out.fail("check-config printed a secret");
    }
    assert!(out.stdout.contains("BRAIN_MCP_TOKEN=[set, 50 characters]"));
    // A secret file with a bad value is an error naming the variable.
    std::fs::write(&tok, "short\n").unwrap();
    let out = run(
        &[],
        &[
            ("BRAIN_MCP_TOKEN_FILE", tok.to_str().unwrap()),
            ("BRAIN_DATA_DIR", data.to_str().unwrap()),
        ],
    );
    check_config_error(&out, "BRAIN_MCP_TOKEN", &["short"]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn short_owner_password() {
    let short = "elevenchars";
    assert_config_error(
        &[("BRAIN_OWNER_PASSWORD", short)],
        &[],
        "BRAIN_OWNER_PASSWORD",
        &[short],
    );
}

#[test]
fn check_config_masks_secrets_and_exits_0() {
    let dir = temp_dir("check");
    let out = run(
        &["check-config"],
        &[
            ("BRAIN_MCP_TOKEN", TOKEN),
            ("OAUTH_CLIENT_ID", CLIENT_ID),
            ("OAUTH_CLIENT_SECRET", CLIENT_SECRET),
            ("BRAIN_OWNER_PASSWORD", OWNER_PASSWORD),
            ("MCP_RESOURCE_URL", "https://brain.example.com/mcp"),
            ("BRAIN_DATA_DIR", dir.to_str().unwrap()),
        ],
    );
    if out.code() != Some(0) {
        out.fail("check-config should exit 0");
    }
    for s in SECRETS {
        if out.stdout.contains(s) || out.stderr.contains(s) {
            out.fail("check-config printed a secret");
        }
    }
    for line in [
        "OAUTH_CLIENT_ID=test-client",
        "MCP_RESOURCE_URL=https://brain.example.com/mcp",
        "configuration OK",
    ] {
        if !out.stdout.lines().any(|l| l == line) {
            out.fail(&format!("missing line {line:?}"));
        }
    }
    for var in [
        "BRAIN_MCP_TOKEN=[set",
        "OAUTH_CLIENT_SECRET=[set",
        "BRAIN_OWNER_PASSWORD=[set",
    ] {
        if !out.stdout.contains(var) {
            out.fail(&format!("missing masked {var}"));
        }
    }
    // check-config does not serve: nothing listens, and it is quick.
    if out.stderr.contains("listening on") {
        out.fail("check-config started the server");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_config_reports_errors_with_exit_1() {
    let out = run(&["check-config"], &[("BRAIN_MCP_TOKEN", "short")]);
    check_config_error(&out, "BRAIN_MCP_TOKEN", &["short"]);
}

#[test]
fn gen_secret_prints_43_url_safe_characters_each_time_different() {
    let mut seen = std::collections::HashSet::new();
    for _ in 0..3 {
        let no_env: [(&str, &str); 0] = [];
        let out = run(&["gen-secret"], &no_env);
        if out.code() != Some(0) {
            out.fail("gen-secret should exit 0");
        }
        let s = out
            .stdout
            .strip_suffix('\n')
            .unwrap_or_else(|| out.fail("one line expected"));
        if s.len() != 43
            || !s
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            out.fail("not 43 characters of [A-Za-z0-9_-]");
        }
        assert!(seen.insert(s.to_string()), "gen-secret repeated itself");
    }
}

#[test]
fn help_and_version() {
    let no_env: [(&str, &str); 0] = [];
    let out = run(&["--help"], &no_env);
    if out.code() != Some(0) || !out.stdout.contains("USAGE") {
        out.fail("--help");
    }
    for word in [
        "check-config",
        "gen-secret",
        "BRAIN_MCP_TOKEN",
        "MCP_RESOURCE_URL",
    ] {
        if !out.stdout.contains(word) {
            out.fail(&format!("--help does not mention {word}"));
        }
    }
    let out = run(&["--version"], &no_env);
    if out.code() != Some(0)
        || out.stdout.trim() != format!("brain-mcp {}", env!("CARGO_PKG_VERSION"))
    {
        out.fail("--version");
    }
    let out = run(&["frobnicate"], &no_env);
    if out.code() != Some(1) || !out.stderr.contains("--help") {
        out.fail("an unknown command should exit 1 and point at --help");
    }
}

#[test]
fn second_process_on_the_same_data_dir_exits_1() {
    let s = Server::start();
    let dir = s.data_dir().to_str().unwrap().to_string();
    let out = run(
        &[],
        &[
            ("BRAIN_MCP_TOKEN", TOKEN),
            ("BRAIN_DATA_DIR", dir.as_str()),
            ("LISTEN_ADDR", "127.0.0.1:0"),
        ],
    );
    if out.code() != Some(1) {
        out.fail("a second process on the same data directory must exit 1");
    }
    if !out.stderr.contains("in use by another brain-mcp process") || !out.stderr.contains(&dir) {
        out.fail("the message should say the directory is in use");
    }
    if out.stderr.contains("listening on") {
        out.fail("the second process started listening");
    }
    // The first one is unaffected.
    s.assert_healthy();
}

#[test]
fn listening_line_names_the_bound_address() {
    let s = Server::start();
    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("listening on http://"))
        .unwrap();
    assert!(
        line.contains(&format!(
            "listening on http://{} (resource http://{}/mcp, 0 notes)",
            s.addr, s.addr
        )),
        "{line}"
    );
    assert_ne!(s.addr.port(), 0);
    s.assert_healthy();
}
