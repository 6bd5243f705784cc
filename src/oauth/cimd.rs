//! Client ID Metadata Documents (draft-ietf-oauth-client-id-metadata-document; MCP 2025-11-25
//! "Client ID Metadata Documents", the preferred way for a client to identify itself from
//! that revision on): a `client_id` that is an `https://` URL names a JSON document, published
//! by the client's vendor, holding its name and redirect URIs.
//!
//! The documents of the clients people use (claude.ai, Claude Code, ChatGPT, VS Code, Cursor)
//! are pinned in the binary, and `BRAIN_CIMD_DOCUMENTS` pins more or newer copies. The draft
//! allows it ("An Authorization Server MAY pre-register Client ID Metadata Document URLs"), and
//! it is what makes CIMD work where fetching does not: claude.ai's document answers datacenter
//! addresses with a 403 challenge page (anthropics/claude-ai-mcp#650), and a server may have no
//! outbound network at all.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::config;
use crate::net;

/// Draft §6.6: "The recommended maximum response size for client metadata documents is 5
/// kilobytes."
pub const MAX_DOCUMENT: usize = 5 * 1024;
/// Longest client ID URL accepted (they are stored with every grant and token).
const MAX_URL: usize = 1024;

/// The documents pinned in the binary, as their vendors served them (see
/// shared/reference/registration-and-clients.md §2.2; Cursor's is assembled from its reported
/// redirect URIs). A newer copy in `BRAIN_CIMD_DOCUMENTS` replaces one of these.
const PINNED: [(&str, &str); 5] = [
    ("claude.ai", include_str!("pinned/claude-ai.json")),
    ("Claude Code", include_str!("pinned/claude-code.json")),
    ("ChatGPT", include_str!("pinned/chatgpt.json")),
    ("VS Code", include_str!("pinned/vscode.json")),
    ("Cursor", include_str!("pinned/cursor.json")),
];

/// A checked document: what authorization needs of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    pub client_id: String,
    pub client_name: String,
    /// The redirect URIs this server can send a browser to: `https`, `http` on a loopback host,
    /// and a native app's private-use scheme (`cursor://...`). Others are left out.
    pub redirect_uris: Vec<String>,
}

/// Whether `id` is meant as a metadata document URL (then it must pass [`check_url`]). Our own
/// client IDs never start like this (the draft asks that of servers minting their own).
pub fn is_url(id: &str) -> bool {
    id.len() >= 8 && id[..8].eq_ignore_ascii_case("https://")
}

/// Draft §3: the URL "MUST have an "https" scheme, MUST contain a path component, MUST NOT
/// contain single-dot or double-dot path segments, MUST NOT contain a fragment component and
/// MUST NOT contain a username or password"; it MAY contain a port.
pub fn check_url(id: &str) -> Result<(), &'static str> {
    if id.len() > MAX_URL {
        return Err("it is longer than 1024 characters");
    }
    if !id.starts_with("https://") {
        return Err("it must start with https://");
    }
    if id.contains('#') {
        return Err("it must not have a fragment");
    }
    let url = config::parse_url(id).ok_or("it is not a valid https URL without userinfo")?;
    if url.path.len() <= 1 {
        return Err("it must have a path");
    }
    let dot = |s: &str| {
        let s = s.to_ascii_lowercase().replace("%2e", ".");
        s == "." || s == ".."
    };
    if url.path.split('/').any(dot) {
        return Err("it must not have . or .. path segments");
    }
    Ok(())
}

/// A redirect URI a document may list that we can use: see [`Document::redirect_uris`].
fn usable_redirect(u: &str) -> bool {
    if u.len() > 2000 || u.contains('#') || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    if let Some(url) = config::parse_url(u) {
        return url.scheme == "https" || config::is_loopback_host(url.host);
    }
    // RFC 8252 §7.1, private-use URI schemes of native apps. Never a scheme a browser would
    // run or read locally.
    let Some((scheme, rest)) = u.split_once(':') else {
        return false;
    };
    let scheme = scheme.to_ascii_lowercase();
    let known_bad = [
        "http",
        "https",
        "javascript",
        "data",
        "file",
        "vbscript",
        "blob",
        "about",
    ];
    !rest.is_empty()
        && scheme.starts_with(|c: char| c.is_ascii_lowercase())
        && scheme
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '+' | '-' | '.'))
        && !known_bad.contains(&scheme.as_str())
}

/// Checks a document served for `url`, as the draft §4 and MCP 2025-11-25 ask: a JSON object
/// of at most 5 KiB, `client_id` equal to `url` by simple string comparison, `client_name` and
/// `redirect_uris` present, no shared secret (`token_endpoint_auth_method` `none`, or a method
/// we do not support with `none` also listed, as ChatGPT's documents do; no `client_secret`).
/// Members we do not know and grant types we do not support are ignored.
pub fn parse(url: &str, body: &[u8]) -> Result<Document, String> {
    if body.len() > MAX_DOCUMENT {
        return Err(format!("it is {} bytes, over the 5 KiB limit", body.len()));
    }
    let Ok(Value::Object(doc)) = serde_json::from_slice::<Value>(body) else {
        return Err("it is not a JSON object".into());
    };
    match doc.get("client_id").and_then(Value::as_str) {
        Some(id) if id == url => {}
        Some(_) => return Err("its client_id is not the URL it was given for".into()),
        None => return Err("it has no client_id".into()),
    }
    let client_name = match doc.get("client_name").and_then(Value::as_str) {
        Some(n) if !n.trim().is_empty() => {
            super::register::check_client_name(n)?;
            n.to_string()
        }
        _ => return Err("it has no client_name".into()),
    };
    let Some(uris) = doc.get("redirect_uris").and_then(Value::as_array) else {
        return Err("it has no redirect_uris list".into());
    };
    let redirect_uris: Vec<String> = uris
        .iter()
        .filter_map(Value::as_str)
        .filter(|u| usable_redirect(u))
        .map(String::from)
        .take(20)
        .collect();
    if redirect_uris.is_empty() {
        return Err("it lists no redirect URI this server can send a browser to".into());
    }
    // Draft §4.1: "the token_endpoint_auth_method ... MUST NOT be ... a shared secret";
    // §4: `client_secret` and `client_secret_expires_at` MUST NOT be used.
    if doc.contains_key("client_secret") || doc.contains_key("client_secret_expires_at") {
        return Err("it holds a client_secret, which a metadata document must not".into());
    }
    let method = doc
        .get("token_endpoint_auth_method")
        .and_then(Value::as_str);
    let also_none = doc
        .get("token_endpoint_auth_methods_supported")
        .and_then(Value::as_array)
        .is_some_and(|a| a.iter().any(|m| m.as_str() == Some("none")));
    match method {
        Some("none") => {}
        Some("client_secret_basic" | "client_secret_post" | "client_secret_jwt") => {
            return Err("its token_endpoint_auth_method is a shared secret".into())
        }
        Some(_) if also_none => {}
        _ => return Err("its token_endpoint_auth_method must be none (this server authenticates metadata-document clients by PKCE alone)".into()),
    }
    Ok(Document {
        client_id: url.to_string(),
        client_name,
        redirect_uris,
    })
}

/// How long a fetched document is kept: its `Cache-Control: max-age` within these bounds
/// (the draft: "SHOULD respect HTTP cache headers ... MAY define its own upper and/or lower
/// bounds"), this long without one.
const CACHE_MIN: Duration = Duration::from_secs(300);
const CACHE_MAX: Duration = Duration::from_secs(86_400);
const CACHE_DEFAULT: Duration = Duration::from_secs(3600);
/// Fetched documents kept at most; past it the one expiring soonest goes.
const CACHE_ENTRIES: usize = 256;
/// Fetches (cache misses) one address block may cause per minute: each costs an outbound
/// connection, and the URL is the requester's choice.
pub const FETCHES_PER_MINUTE: usize = 10;

/// Why a client ID URL cannot be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unusable {
    /// Not pinned, and fetching is off.
    Unknown,
    /// Fetching is on, but this document could not be had or is invalid: the reason.
    Refused(String),
}

/// Fetching documents of clients nobody pinned (`BRAIN_CIMD_FETCH=on`).
pub struct Fetcher {
    client: net::Client,
    /// `BRAIN_CIMD_ALLOW`: hosts documents may come from (empty: any).
    allow: Vec<String>,
    cache: Mutex<HashMap<String, (Document, Instant)>>,
    recent: Mutex<HashMap<[u8; 16], VecDeque<Instant>>>,
}

/// The documents this server knows: the pinned ones and the owner's, and (when fetching is on)
/// those fetched lately.
pub struct Registry {
    docs: HashMap<String, Document>,
    fetcher: Option<Fetcher>,
}

impl Registry {
    /// The built-in documents, then `extra` (the owner's, already checked), which replace
    /// built-in ones with the same client ID.
    pub fn new(extra: &[Document]) -> Registry {
        let mut docs = HashMap::new();
        for (_, text) in PINNED {
            if let Some(d) = builtin(text) {
                docs.insert(d.client_id.clone(), d);
            }
        }
        for d in extra {
            docs.insert(d.client_id.clone(), d.clone());
        }
        Registry {
            docs,
            fetcher: None,
        }
    }

    /// Turns fetching on, through `client`, from the hosts in `allow` (empty: any).
    pub fn with_fetching(mut self, client: net::Client, allow: Vec<String>) -> Registry {
        self.fetcher = Some(Fetcher {
            client,
            allow,
            cache: Mutex::new(HashMap::new()),
            recent: Mutex::new(HashMap::new()),
        });
        self
    }

    /// A pinned document, or a fetched one still in the cache.
    pub fn get(&self, id: &str) -> Option<Document> {
        if let Some(d) = self.docs.get(id) {
            return Some(d.clone());
        }
        let f = self.fetcher.as_ref()?;
        let cache = f.cache.lock().ok()?;
        let (doc, until) = cache.get(id)?;
        (Instant::now() < *until).then(|| doc.clone())
    }

    /// The document for `id` (a URL that passed [`check_url`]): pinned, cached, or fetched
    /// now for a request from `from`.
    pub fn resolve(&self, id: &str, from: IpAddr) -> Result<Document, Unusable> {
        if let Some(d) = self.get(id) {
            return Ok(d);
        }
        let Some(f) = &self.fetcher else {
            return Err(Unusable::Unknown);
        };
        f.fetch(id, from).map_err(Unusable::Refused)
    }

    /// Client IDs pinned, sorted, for `check-config`.
    pub fn ids(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.docs.keys().map(String::as_str).collect();
        v.sort();
        v
    }

    pub fn fetching(&self) -> bool {
        self.fetcher.is_some()
    }
}

impl Fetcher {
    /// The draft's fetch rules: https only; the host's addresses checked against RFC 6890's
    /// special-use ranges and the connection made to a checked one (the outbound client's
    /// `Target::Fetched`); no redirects ("MUST NOT automatically follow HTTP redirects");
    /// "A successful response MUST use the 200 OK HTTP status code"; 5 KiB; 5 s in all. An
    /// error or an invalid document is never cached ("MUST NOT cache error responses ... MUST
    /// NOT cache documents which are invalid or malformed").
    fn fetch(&self, id: &str, from: IpAddr) -> Result<Document, String> {
        let host = config::parse_url(id)
            .map(|u| u.host.to_ascii_lowercase())
            .unwrap_or_default();
        if !self.allow.is_empty() && !self.allow.contains(&host) {
            return Err(format!(
                "its host {host} is not in BRAIN_CIMD_ALLOW, so it is not fetched"
            ));
        }
        if !self.count(from) {
            return Err(format!(
                "more than {FETCHES_PER_MINUTE} client metadata documents were fetched for your address in the last minute; try again in a minute"
            ));
        }
        let policy = net::Policy {
            target: net::Target::Fetched,
            connect: Duration::from_secs(3),
            total: Duration::from_secs(5),
            max_body: MAX_DOCUMENT,
            max_redirects: 0,
        };
        let req = net::Request::get(id).header("Accept", "application/json");
        let outcome = self.client.fetch(req, &policy).and_then(|resp| {
            resp.check(&[200], &[])?;
            let mt = resp.media_type().unwrap_or_default();
            if mt != "application/json"
                && !(mt.starts_with("application/") && mt.ends_with("+json"))
            {
                return Err(net::FetchError::Unexpected(format!(
                    "Content-Type {:?} (wanted application/json)",
                    net::printable(&mt, 64)
                )));
            }
            Ok(resp)
        });
        let resp = match outcome {
            Ok(r) => r,
            Err(net::FetchError::TooLarge(_)) => {
                return Err(log(id, "it is over the 5 KiB limit".into()))
            }
            Err(e) => return Err(log(id, format!("fetching it failed: {e}"))),
        };
        let doc = parse(id, &resp.body).map_err(|why| log(id, why))?;
        let ttl = max_age(resp.header("cache-control"));
        crate::log::line(&format!(
            "cimd: fetched {} ({} bytes), kept {} s",
            net::printable(id, 200),
            resp.body.len(),
            ttl.as_secs()
        ));
        if let Ok(mut cache) = self.cache.lock() {
            let now = Instant::now();
            cache.retain(|_, (_, until)| *until > now);
            if cache.len() >= CACHE_ENTRIES {
                if let Some(k) = cache
                    .iter()
                    .min_by_key(|(_, (_, until))| *until)
                    .map(|(k, _)| k.clone())
                {
                    cache.remove(&k);
                }
            }
            cache.insert(id.to_string(), (doc.clone(), now + ttl));
        }
        Ok(doc)
    }

    /// Counts a fetch for `from`'s block; `false` when it is over [`FETCHES_PER_MINUTE`].
    fn count(&self, from: IpAddr) -> bool {
        let Ok(mut recent) = self.recent.lock() else {
            return false;
        };
        let minute = Duration::from_secs(60);
        if recent.len() > 10_000 {
            recent.retain(|_, q| q.back().is_some_and(|t| t.elapsed() < minute));
        }
        let q = recent.entry(crate::limiter::prefix(from)).or_default();
        while q.front().is_some_and(|t| t.elapsed() >= minute) {
            q.pop_front();
        }
        if q.len() >= FETCHES_PER_MINUTE {
            return false;
        }
        q.push_back(Instant::now());
        true
    }
}

fn log(id: &str, why: String) -> String {
    crate::log::line(&format!("cimd: {}: {why}", net::printable(id, 200)));
    why
}

/// `Cache-Control: max-age` within [`CACHE_MIN`] and [`CACHE_MAX`]; `no-store`/`no-cache`
/// keep the lower bound, no header [`CACHE_DEFAULT`].
fn max_age(cc: Option<&str>) -> Duration {
    let Some(cc) = cc else {
        return CACHE_DEFAULT;
    };
    let mut age = None;
    for d in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if d == "no-store" || d == "no-cache" {
            return CACHE_MIN;
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            age = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    age.map_or(CACHE_DEFAULT, |s| {
        Duration::from_secs(s).clamp(CACHE_MIN, CACHE_MAX)
    })
}

fn builtin(text: &str) -> Option<Document> {
    let v: Value = serde_json::from_str(text).ok()?;
    let id = v.get("client_id")?.as_str()?;
    parse(id, text.as_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pinned_document_passes_its_own_rules() {
        for (name, text) in PINNED {
            assert!(builtin(text).is_some(), "{name}");
        }
        let r = Registry::new(&[]);
        assert_eq!(r.ids().len(), 5);
        assert!(!r.fetching());
        let cursor = r.get("https://cursor.com/oauth/mcp-client.json").unwrap();
        assert!(cursor
            .redirect_uris
            .contains(&"cursor://anysphere.cursor-mcp/oauth/callback".to_string()));
        let chatgpt = r.get("https://chatgpt.com/oauth/client.json").unwrap();
        assert_eq!(chatgpt.client_name, "ChatGPT");
    }

    #[test]
    fn cache_lifetimes_are_bounded() {
        assert_eq!(max_age(None), CACHE_DEFAULT);
        assert_eq!(max_age(Some("max-age=60")), CACHE_MIN);
        assert_eq!(
            max_age(Some("public, max-age=7200")),
            Duration::from_secs(7200)
        );
        assert_eq!(max_age(Some("max-age=99999999")), CACHE_MAX);
        assert_eq!(max_age(Some("no-store")), CACHE_MIN);
    }

    #[test]
    fn url_rules() {
        for ok in [
            "https://claude.ai/oauth/mcp-oauth-client-metadata",
            "https://example.com:8443/a/b.json",
            "https://example.com/a?v=1",
        ] {
            assert_eq!(check_url(ok), Ok(()), "{ok}");
        }
        for (bad, why) in [
            ("http://example.com/a", "it must start with https://"),
            ("https://example.com", "it must have a path"),
            ("https://example.com/", "it must have a path"),
            (
                "https://example.com/a/../b",
                "it must not have . or .. path segments",
            ),
            (
                "https://example.com/./b",
                "it must not have . or .. path segments",
            ),
            (
                "https://example.com/a/%2E%2e",
                "it must not have . or .. path segments",
            ),
            ("https://example.com/a#x", "it must not have a fragment"),
            (
                "https://user:pw@example.com/a",
                "it is not a valid https URL without userinfo",
            ),
        ] {
            assert_eq!(check_url(bad), Err(why), "{bad}");
        }
        assert!(is_url("HTTPS://x/y") && !is_url("c_abc") && !is_url("https:/"));
    }

    #[test]
    fn document_rules() {
        let url = "https://app.example/client.json";
        let doc = |extra: &str| {
            format!(
                r#"{{"client_id":"{url}","client_name":"App","redirect_uris":["https://app.example/cb"]{extra}}}"#
            )
        };
        let ok = parse(
            url,
            doc(r#","token_endpoint_auth_method":"none""#).as_bytes(),
        )
        .unwrap();
        assert_eq!(ok.redirect_uris, ["https://app.example/cb"]);
        // ChatGPT's: a method we do not support, with none also listed.
        assert!(parse(
            url,
            doc(r#","token_endpoint_auth_method":"private_key_jwt","token_endpoint_auth_methods_supported":["none","private_key_jwt"]"#).as_bytes()
        )
        .is_ok());
        // Unknown members and grant types are ignored.
        assert!(parse(
            url,
            doc(r#","token_endpoint_auth_method":"none","grant_types":["urn:x"],"x":{"y":1}"#)
                .as_bytes()
        )
        .is_ok());
        for (body, why) in [
            ("[]".to_string(), "it is not a JSON object"),
            (
                doc(r#","token_endpoint_auth_method":"none""#).replace(url, "https://app.example/other.json"),
                "its client_id is not the URL it was given for",
            ),
            (doc(""), "its token_endpoint_auth_method must be none (this server authenticates metadata-document clients by PKCE alone)"),
            (
                doc(r#","token_endpoint_auth_method":"private_key_jwt""#),
                "its token_endpoint_auth_method must be none (this server authenticates metadata-document clients by PKCE alone)",
            ),
            (
                doc(r#","token_endpoint_auth_method":"client_secret_post""#),
                "its token_endpoint_auth_method is a shared secret",
            ),
            (
                doc(r#","token_endpoint_auth_method":"none","client_secret":"s""#),
                "it holds a client_secret, which a metadata document must not",
            ),
            (
                format!(r#"{{"client_id":"{url}","redirect_uris":["https://a/b"],"token_endpoint_auth_method":"none"}}"#),
                "it has no client_name",
            ),
            (
                format!(r#"{{"client_id":"{url}","client_name":"A","redirect_uris":["javascript:alert(1)","http://evil.example/cb"],"token_endpoint_auth_method":"none"}}"#),
                "it lists no redirect URI this server can send a browser to",
            ),
        ] {
            assert_eq!(parse(url, body.as_bytes()), Err(why.to_string()), "{body}");
        }
        let big = doc(&format!(
            r#","token_endpoint_auth_method":"none","pad":"{}""#,
            "x".repeat(5200)
        ));
        assert!(parse(url, big.as_bytes())
            .unwrap_err()
            .contains("over the 5 KiB limit"));
    }
}
