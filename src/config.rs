//! Configuration from the environment. Every secret may instead come from `NAME_FILE` (a file
//! path), as systemd's `LoadCredential=` and container secrets provide. Every error names its
//! variable and never its value.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use crate::error::Error;

/// A secret that never prints itself.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: String) -> Secret {
        Secret(s)
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("[secret]")
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub static_token: Secret,
    pub client: Option<(String, Secret)>,
    /// `MCP_RESOURCE_URL` as given; `None` means "derive from the bound address".
    pub resource_url: Option<String>,
    pub listen: SocketAddr,
    pub data_dir: PathBuf,
    pub owner_password: Option<Secret>,
    pub redirect_uris: Vec<String>,
    pub allowed_origins: Vec<String>,
    pub workers: usize,
    pub trusted_proxies: Vec<IpAddr>,
    pub auth_failure_limit: u32,
    pub access_token_ttl: u64,
    pub refresh_token_ttl: u64,
    /// Client ID Metadata Documents the owner pinned (`BRAIN_CIMD_DOCUMENTS`), checked.
    pub cimd_documents: Vec<crate::oauth::cimd::Document>,
    /// `OAUTH_CLIENT_CREDENTIALS_SCOPE`: what the pre-registered client's `client_credentials`
    /// tokens may do (default everything).
    pub client_credentials_scope: crate::oauth::scope::Scope,
    /// `BRAIN_CIMD_FETCH=on`: fetch the documents of clients nobody pinned.
    pub cimd_fetch: bool,
    /// `BRAIN_CIMD_ALLOW`: the hosts documents may be fetched from (empty: any).
    pub cimd_allow: Vec<String>,
    /// The outbound client's settings (src/net).
    pub outbound: crate::net::Settings,
    /// External JWT access tokens (src/oidc), when `BRAIN_OIDC_ISSUER` is set.
    pub oidc: Option<crate::oidc::Settings>,
    /// Search by meaning, when `BRAIN_EMBED_URL` is set (see [`embed_settings`]).
    pub embed: Option<crate::brain::meaning::Settings>,
}

/// Characters allowed in tokens, client IDs and secrets (RFC 6749 Appendix A "unreserved"
/// plus what bearer tokens may hold). IDs and secrets stay in `[A-Za-z0-9._~-]` so that
/// clients that form-encode Basic credentials and clients that do not agree on them.
fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '~' | '-')
}

fn is_b64token(c: char) -> bool {
    is_unreserved(c) || matches!(c, '+' | '/' | '=')
}

impl Config {
    /// Reads the configuration through `get` (the process environment in production, a map
    /// in tests).
    pub fn from_env(get: &dyn Fn(&str) -> Option<String>) -> Result<Config, Error> {
        let var = |name: &str| -> Option<String> { get(name).filter(|v| !v.is_empty()) };
        let secret = |name: &str| secret_var(&var, name);

        let static_token = secret("BRAIN_MCP_TOKEN")?.ok_or_else(|| {
            Error::Config("BRAIN_MCP_TOKEN is required (or BRAIN_MCP_TOKEN_FILE); generate one with `brain-mcp gen-secret`".into())
        })?;
        if static_token.chars().count() < 32 || !static_token.chars().all(is_b64token) {
            return Err(Error::Config(
                "BRAIN_MCP_TOKEN must be at least 32 characters of [A-Za-z0-9._~+/=-]".into(),
            ));
        }

        let client =
            match (secret("OAUTH_CLIENT_ID")?, secret("OAUTH_CLIENT_SECRET")?) {
                (None, None) => None,
                (Some(_), None) => return Err(Error::Config(
                    "OAUTH_CLIENT_ID is set but OAUTH_CLIENT_SECRET is not; set both or neither"
                        .into(),
                )),
                (None, Some(_)) => return Err(Error::Config(
                    "OAUTH_CLIENT_SECRET is set but OAUTH_CLIENT_ID is not; set both or neither"
                        .into(),
                )),
                (Some(id), Some(sec)) => {
                    if id.len() > 255 || !id.chars().all(is_unreserved) {
                        return Err(Error::Config(
                            "OAUTH_CLIENT_ID must be 1 to 255 characters of [A-Za-z0-9._~-]".into(),
                        ));
                    }
                    if sec.len() < 32 || !sec.chars().all(is_unreserved) {
                        return Err(Error::Config(
                            "OAUTH_CLIENT_SECRET must be at least 32 characters of [A-Za-z0-9._~-]"
                                .into(),
                        ));
                    }
                    Some((id, Secret(sec)))
                }
            };

        let listen_raw = var("LISTEN_ADDR").unwrap_or_else(|| "127.0.0.1:8080".into());
        let listen: SocketAddr = listen_raw.parse().map_err(|_| {
            Error::Config(format!(
                "LISTEN_ADDR must be IP:PORT, like 127.0.0.1:8080 or [::]:8080 (got {listen_raw:?})"
            ))
        })?;

        let resource_url = match var("MCP_RESOURCE_URL") {
            Some(u) => {
                check_resource_url(&u)
                    .map_err(|why| Error::Config(format!("MCP_RESOURCE_URL {why} (got {u:?})")))?;
                Some(u)
            }
            None => None,
        };

        let data_dir = data_dir(get);

        let owner_password = secret("BRAIN_OWNER_PASSWORD")?;
        if let Some(p) = &owner_password {
            if p.chars().count() < 12 {
                return Err(Error::Config(
                    "BRAIN_OWNER_PASSWORD must be at least 12 characters".into(),
                ));
            }
        }

        let redirect_uris = list(var("OAUTH_REDIRECT_URIS"));
        for u in &redirect_uris {
            if !is_acceptable_redirect(u) {
                return Err(Error::Config(format!(
                    "OAUTH_REDIRECT_URIS: {u:?} must be an absolute https:// URL (or http:// on a loopback host) without a fragment"
                )));
            }
        }
        let allowed_origins = list(var("BRAIN_ALLOWED_ORIGINS"));
        for o in &allowed_origins {
            if !is_origin(o) {
                return Err(Error::Config(format!(
                    "BRAIN_ALLOWED_ORIGINS: {o:?} must be an origin like https://app.example.com (scheme, host, optional port, no path)"
                )));
            }
        }

        let workers = number(&var, "BRAIN_WORKERS", 8, 1, 1024)? as usize;
        let mut trusted_proxies = Vec::new();
        for p in list(var("BRAIN_TRUSTED_PROXIES")) {
            let ip: IpAddr = p.parse().map_err(|_| {
                Error::Config(format!("BRAIN_TRUSTED_PROXIES: {p:?} is not an IP address"))
            })?;
            trusted_proxies.push(crate::http::parse::canonical(ip));
        }
        let auth_failure_limit = number(&var, "BRAIN_AUTH_FAILURE_LIMIT", 10, 0, 1_000_000)? as u32;
        let access_token_ttl = number(&var, "BRAIN_ACCESS_TOKEN_TTL", 3600, 60, 86_400 * 7)?;
        let refresh_token_ttl = number(
            &var,
            "BRAIN_REFRESH_TOKEN_TTL",
            30 * 86_400,
            3600,
            366 * 86_400,
        )?;

        let cimd_documents = match var("BRAIN_CIMD_DOCUMENTS") {
            Some(v) => cimd_documents(&v)?,
            None => Vec::new(),
        };
        let client_credentials_scope = match var("OAUTH_CLIENT_CREDENTIALS_SCOPE") {
            None => crate::oauth::scope::Scope::full(),
            Some(v) => crate::oauth::scope::Scope::parse_stored(&v).ok_or_else(|| {
                Error::Config(
                    "OAUTH_CLIENT_CREDENTIALS_SCOPE must be mcp, or brain:read [brain:write] followed by brain:space:NAME entries in name order, space-separated".into(),
                )
            })?,
        };
        let cimd_fetch = match var("BRAIN_CIMD_FETCH").as_deref() {
            None | Some("off") => false,
            Some("on") => true,
            Some(_) => return Err(Error::Config("BRAIN_CIMD_FETCH must be on or off".into())),
        };
        let cimd_allow: Vec<String> = list(var("BRAIN_CIMD_ALLOW"))
            .into_iter()
            .map(|h| h.to_ascii_lowercase())
            .collect();
        for h in &cimd_allow {
            let ok = !h.is_empty()
                && h.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'));
            if !ok {
                return Err(Error::Config(format!(
                    "BRAIN_CIMD_ALLOW: {h:?} is not a host name (no scheme, port or path)"
                )));
            }
        }
        if !cimd_allow.is_empty() && !cimd_fetch {
            return Err(Error::Config(
                "BRAIN_CIMD_ALLOW is set but BRAIN_CIMD_FETCH is not on; set BRAIN_CIMD_FETCH=on to fetch from those hosts".into(),
            ));
        }
        let resource_is_loopback = resource_url
            .as_deref()
            .and_then(parse_url)
            .is_none_or(|u| is_loopback_host(u.host));
        let outbound = crate::net::Settings::from_env(&var, resource_is_loopback)?;
        let oidc = crate::oidc::Settings::from_env(&var, &outbound.http_hosts, true)?;
        let embed = embed_settings(&var, &outbound.http_hosts)?;

        Ok(Config {
            embed,
            client_credentials_scope,
            cimd_documents,
            cimd_fetch,
            cimd_allow,
            static_token: Secret(static_token),
            client,
            resource_url,
            listen,
            data_dir,
            owner_password: owner_password.map(Secret),
            redirect_uris,
            allowed_origins,
            workers,
            trusted_proxies,
            auth_failure_limit,
            access_token_ttl,
            refresh_token_ttl,
            outbound,
            oidc,
        })
    }

    /// The effective resource URL once the listener is bound (port 0 becomes the real port;
    /// an unspecified address like 0.0.0.0 becomes 127.0.0.1).
    pub fn effective_resource_url(&self, bound: SocketAddr) -> String {
        if let Some(u) = &self.resource_url {
            return u.clone();
        }
        let ip = match bound.ip() {
            IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/mcp", SocketAddr::new(ip, bound.port()))
    }

    /// The settings as `check-config` prints them, every secret masked.
    pub fn describe(&self) -> String {
        let mask = |s: &Secret| format!("[set, {} characters]", s.expose().chars().count());
        let mut out = String::new();
        let mut put = |k: &str, v: String| {
            out.push_str(&format!("{k}={v}\n"));
        };
        put("BRAIN_MCP_TOKEN", mask(&self.static_token));
        match &self.client {
            Some((id, s)) => {
                put("OAUTH_CLIENT_ID", id.clone());
                put("OAUTH_CLIENT_SECRET", mask(s));
            }
            None => {
                put("OAUTH_CLIENT_ID", "[unset]".into());
                put("OAUTH_CLIENT_SECRET", "[unset]".into());
            }
        }
        put(
            "MCP_RESOURCE_URL",
            self.resource_url.clone().unwrap_or_else(|| {
                format!("[derived] {}", self.effective_resource_url(self.listen))
            }),
        );
        put("LISTEN_ADDR", self.listen.to_string());
        put("BRAIN_DATA_DIR", self.data_dir.display().to_string());
        put(
            "BRAIN_OWNER_PASSWORD",
            self.owner_password.as_ref().map(mask).unwrap_or_else(|| {
                if self.oidc.as_ref().is_some_and(|o| o.login.is_some()) {
                    "[unset] (the owner consents by signing in through the provider)".into()
                } else {
                    "[unset] (no consent page; registration off)".into()
                }
            }),
        );
        put("OAUTH_REDIRECT_URIS", self.redirect_uris.join(","));
        put("BRAIN_ALLOWED_ORIGINS", self.allowed_origins.join(","));
        put("BRAIN_WORKERS", self.workers.to_string());
        put(
            "BRAIN_TRUSTED_PROXIES",
            self.trusted_proxies
                .iter()
                .map(|ip| ip.to_string())
                .collect::<Vec<_>>()
                .join(","),
        );
        put(
            "BRAIN_AUTH_FAILURE_LIMIT",
            self.auth_failure_limit.to_string(),
        );
        put("BRAIN_ACCESS_TOKEN_TTL", self.access_token_ttl.to_string());
        put(
            "OAUTH_CLIENT_CREDENTIALS_SCOPE",
            self.client_credentials_scope.to_scope_string(),
        );
        put(
            "BRAIN_CIMD_FETCH",
            if self.cimd_fetch { "on" } else { "off" }.into(),
        );
        put("BRAIN_CIMD_ALLOW", self.cimd_allow.join(","));
        put(
            "BRAIN_CIMD_DOCUMENTS",
            self.cimd_documents
                .iter()
                .map(|d| d.client_id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        put(
            "BRAIN_REFRESH_TOKEN_TTL",
            self.refresh_token_ttl.to_string(),
        );
        for (k, v) in self.outbound.describe() {
            put(k, v);
        }
        if let Some(e) = &self.embed {
            put("BRAIN_EMBED_URL", e.embed.url.clone());
            put("BRAIN_EMBED_MODEL", e.embed.model.clone());
            put(
                "BRAIN_EMBED_KEY",
                if e.embed.key.is_some() {
                    "[set]"
                } else {
                    "[not set]"
                }
                .to_string(),
            );
            put(
                "BRAIN_EMBED_INPUT_TYPE",
                if e.embed.input_type { "on" } else { "off" }.to_string(),
            );
            put(
                "BRAIN_EMBED_QUERY_PREFIX",
                format!("{:?}", e.embed.query_prefix),
            );
            put(
                "BRAIN_EMBED_DOCUMENT_PREFIX",
                format!("{:?}", e.embed.document_prefix),
            );
            put(
                "BRAIN_EMBED_DEADLINE_MS",
                e.query_deadline.as_millis().to_string(),
            );
            put("BRAIN_EMBED_BATCH", e.embed.batch.to_string());
        }
        match &self.oidc {
            Some(o) => o
                .describe(&self.effective_resource_url(self.listen))
                .into_iter()
                .for_each(|(k, v)| put(k, v)),
            None => put("BRAIN_OIDC_ISSUER", "[unset] (no external tokens)".into()),
        }
        out
    }
}

/// Search by meaning (issue 14): `BRAIN_EMBED_URL` (an OpenAI-compatible `/v1/embeddings`;
/// plain `http://` only for a loopback host or one in `BRAIN_OUTBOUND_HTTP_HOSTS`, the outbound
/// client's rule), `BRAIN_EMBED_MODEL` (required with it: it is recorded beside the vectors),
/// `BRAIN_EMBED_KEY` or `_FILE`, `BRAIN_EMBED_INPUT_TYPE` on|off, `BRAIN_EMBED_QUERY_PREFIX`,
/// `BRAIN_EMBED_DOCUMENT_PREFIX`, `BRAIN_EMBED_DEADLINE_MS` (the query embedding's deadline,
/// default 300) and `BRAIN_EMBED_BATCH` (notes per request, default 32).
pub fn embed_settings(
    var: &dyn Fn(&str) -> Option<String>,
    http_hosts: &[String],
) -> Result<Option<crate::brain::meaning::Settings>, Error> {
    let embed_vars = [
        "BRAIN_EMBED_MODEL",
        "BRAIN_EMBED_KEY",
        "BRAIN_EMBED_KEY_FILE",
        "BRAIN_EMBED_INPUT_TYPE",
        "BRAIN_EMBED_QUERY_PREFIX",
        "BRAIN_EMBED_DOCUMENT_PREFIX",
        "BRAIN_EMBED_DEADLINE_MS",
        "BRAIN_EMBED_BATCH",
    ];
    let Some(url) = var("BRAIN_EMBED_URL") else {
        if let Some(v) = embed_vars.iter().find(|v| var(v).is_some()) {
            return Err(Error::Config(format!(
                "{v} is set but BRAIN_EMBED_URL is not; set BRAIN_EMBED_URL to turn on search by meaning"
            )));
        }
        return Ok(None);
    };
    let Some(u) = parse_url(&url) else {
        return Err(Error::Config(
            "BRAIN_EMBED_URL must be an http:// or https:// URL".into(),
        ));
    };
    let host = u
        .host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_ascii_lowercase();
    if u.scheme == "http" && !is_loopback_host(u.host) && !http_hosts.contains(&host) {
        return Err(Error::Config(format!(
            "BRAIN_EMBED_URL: plain http:// is allowed only for a loopback host or one listed in BRAIN_OUTBOUND_HTTP_HOSTS, not {host}"
        )));
    }
    let model = var("BRAIN_EMBED_MODEL").ok_or_else(|| {
        Error::Config(
            "BRAIN_EMBED_URL is set but BRAIN_EMBED_MODEL is not; name the embeddings model (e.g. multilingual-e5-small-q4)".into(),
        )
    })?;
    let mut e = crate::embed::Config::new(&url, &model);
    e.key = secret_var(var, "BRAIN_EMBED_KEY")?;
    e.input_type = match var("BRAIN_EMBED_INPUT_TYPE").as_deref() {
        None | Some("off") => false,
        Some("on") => true,
        Some(_) => {
            return Err(Error::Config(
                "BRAIN_EMBED_INPUT_TYPE must be on or off".into(),
            ))
        }
    };
    e.query_prefix = var("BRAIN_EMBED_QUERY_PREFIX").unwrap_or_default();
    e.document_prefix = var("BRAIN_EMBED_DOCUMENT_PREFIX").unwrap_or_default();
    let number = |name: &str, default: u64, min: u64, max: u64| -> Result<u64, Error> {
        match var(name) {
            None => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (min..=max).contains(n))
                .ok_or_else(|| {
                    Error::Config(format!("{name} must be a whole number from {min} to {max}"))
                }),
        }
    };
    let deadline = number("BRAIN_EMBED_DEADLINE_MS", 300, 10, 60_000)?;
    e.batch = number("BRAIN_EMBED_BATCH", 32, 1, 2048)? as usize;
    let mut s = crate::brain::meaning::Settings::new(e);
    s.query_deadline = std::time::Duration::from_millis(deadline);
    Ok(Some(s))
}

/// A secret from `NAME` or from the file `NAME_FILE` names (setting both is an error).
pub(crate) fn secret_var(
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
) -> Result<Option<String>, Error> {
    let file_var = format!("{name}_FILE");
    match (var(name), var(&file_var)) {
        (Some(_), Some(_)) => Err(Error::Config(format!(
            "{name} and {file_var} are both set; set one"
        ))),
        (Some(v), None) => Ok(Some(v)),
        (None, Some(path)) => {
            let raw = std::fs::read_to_string(&path)
                .map_err(|e| Error::Config(format!("{file_var}: cannot read {path}: {e}")))?;
            // A trailing newline is what `echo` and editors leave; nothing else is trimmed.
            let v = raw.strip_suffix('\n').unwrap_or(&raw);
            let v = v.strip_suffix('\r').unwrap_or(v);
            Ok(Some(v.to_string()).filter(|v| !v.is_empty()))
        }
        (None, None) => Ok(None),
    }
}

/// `BRAIN_DATA_DIR`, else systemd's `$STATE_DIRECTORY` (its first entry), else
/// `./brain-data`. Separate from [`Config::from_env`] so that the owner's commands (`grants`,
/// `revoke`) work with only this set.
pub fn data_dir(get: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    let var = |name: &str| get(name).filter(|v| !v.is_empty());
    var("BRAIN_DATA_DIR")
        .or_else(|| var("STATE_DIRECTORY").map(|s| s.split(':').next().unwrap_or("").to_string()))
        .filter(|s| !s.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("./brain-data"))
}

/// `BRAIN_CIMD_DOCUMENTS`: one directory (every `*.json` in it) or a comma-separated list of
/// files, each a client metadata document as its client serves it. Each must pass the rules a
/// fetched document passes, against its own `client_id`.
fn cimd_documents(v: &str) -> Result<Vec<crate::oauth::cimd::Document>, Error> {
    use crate::oauth::cimd;
    let bad = |m: String| Error::Config(format!("BRAIN_CIMD_DOCUMENTS: {m}"));
    let mut files: Vec<PathBuf> = Vec::new();
    let parts = list(Some(v.to_string()));
    if parts.len() == 1 && std::path::Path::new(&parts[0]).is_dir() {
        let dir = std::fs::read_dir(&parts[0])
            .map_err(|e| bad(format!("cannot read the directory {}: {e}", parts[0])))?;
        for entry in dir.flatten() {
            let p = entry.path();
            if p.extension().is_some_and(|x| x == "json") {
                files.push(p);
            }
        }
        files.sort();
    } else {
        files.extend(parts.iter().map(PathBuf::from));
    }
    let mut docs = Vec::new();
    for f in files {
        let name = f.display();
        let meta = std::fs::metadata(&f).map_err(|e| bad(format!("cannot read {name}: {e}")))?;
        if meta.len() > cimd::MAX_DOCUMENT as u64 {
            return Err(bad(format!("{name} is over the 5 KiB limit")));
        }
        let bytes = std::fs::read(&f).map_err(|e| bad(format!("cannot read {name}: {e}")))?;
        let id = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v.get("client_id")?.as_str().map(String::from))
            .ok_or_else(|| bad(format!("{name} is not a JSON object with a client_id")))?;
        cimd::check_url(&id).map_err(|why| bad(format!("{name}: its client_id {why}")))?;
        let doc = cimd::parse(&id, &bytes).map_err(|why| bad(format!("{name}: {why}")))?;
        docs.push(doc);
    }
    Ok(docs)
}

pub(crate) fn list(v: Option<String>) -> Vec<String> {
    v.map(|s| {
        s.split(',')
            .map(|p| p.trim().to_string())
            .filter(|p| !p.is_empty())
            .collect()
    })
    .unwrap_or_default()
}

pub(crate) fn number(
    var: &dyn Fn(&str) -> Option<String>,
    name: &str,
    default: u64,
    min: u64,
    max: u64,
) -> Result<u64, Error> {
    match var(name) {
        None => Ok(default),
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(n),
            _ => Err(Error::Config(format!(
                "{name} must be a whole number from {min} to {max} (got {v:?})"
            ))),
        },
    }
}

/// The parts of an absolute http(s) URL that we need. Deliberately strict: no userinfo, no
/// fragment, host and optional port only.
#[derive(Debug, PartialEq, Eq)]
pub struct Url<'a> {
    pub scheme: &'a str,
    /// Host as written, with brackets for IPv6.
    pub host: &'a str,
    pub port: Option<u16>,
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// scheme://host[:port]
    pub origin: String,
}

pub fn parse_url(u: &str) -> Option<Url<'_>> {
    let (scheme, rest) = u.split_once("://")?;
    if scheme != "http" && scheme != "https" {
        return None;
    }
    if u.contains('#') || u.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    let end = rest.find(['/', '?']).unwrap_or(rest.len());
    let authority = &rest[..end];
    let after = &rest[end..];
    if authority.is_empty() || authority.contains('@') {
        return None;
    }
    let (path, query) = match after.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (after, None),
    };
    let (host, port) = if let Some(stripped) = authority.strip_prefix('[') {
        let close = stripped.find(']')?;
        let host = &authority[..close + 2];
        let tail = &stripped[close + 1..];
        let port = match tail.strip_prefix(':') {
            Some(p) => Some(p.parse::<u16>().ok()?),
            None if tail.is_empty() => None,
            None => return None,
        };
        host[1..host.len() - 1].parse::<std::net::Ipv6Addr>().ok()?;
        (host, port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p.parse::<u16>().ok()?)),
            None => (authority, None),
        }
    };
    if host.is_empty()
        || !host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '[' | ']' | ':'))
    {
        return None;
    }
    let origin = match port {
        Some(p) => format!("{scheme}://{host}:{p}"),
        None => format!("{scheme}://{host}"),
    };
    Some(Url {
        scheme,
        host,
        port,
        path,
        query,
        origin,
    })
}

/// `localhost`, `127.0.0.0/8` and `[::1]`.
pub fn is_loopback_host(host: &str) -> bool {
    let h = host.trim_start_matches('[').trim_end_matches(']');
    if h.eq_ignore_ascii_case("localhost") {
        return true;
    }
    h.parse::<IpAddr>()
        .map(|ip| ip.is_loopback())
        .unwrap_or(false)
}

fn check_resource_url(u: &str) -> Result<(), &'static str> {
    let url = parse_url(u).ok_or("must be an absolute http(s) URL without userinfo or fragment")?;
    if url.query.is_some() {
        return Err("must not have a query");
    }
    if url.path != "/mcp" {
        return Err("must have the path /mcp");
    }
    if url.scheme == "http" && !is_loopback_host(url.host) {
        return Err("must use https:// (http:// only for loopback hosts)");
    }
    if url.host.chars().any(|c| c.is_ascii_uppercase()) {
        return Err("must have a lower-case host");
    }
    Ok(())
}

fn is_acceptable_redirect(u: &str) -> bool {
    match parse_url(u) {
        Some(url) => url.scheme == "https" || is_loopback_host(url.host),
        None => false,
    }
}

fn is_origin(o: &str) -> bool {
    matches!(parse_url(o), Some(url) if url.path.is_empty() && url.query.is_none())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const TOKEN: &str = "tok_abcdefghijklmnopqrstuvwxyz0123456789";

    fn cfg(pairs: &[(&str, &str)]) -> Result<Config, Error> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_env(&|k| map.get(k).cloned())
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match cfg(pairs) {
            Err(Error::Config(m)) => m,
            other => panic!("expected a config error, got {other:?}"),
        }
    }

    #[test]
    fn defaults() {
        let c = cfg(&[("BRAIN_MCP_TOKEN", TOKEN)]).unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:8080");
        assert_eq!(c.workers, 8);
        assert_eq!(c.auth_failure_limit, 10);
        assert_eq!(c.access_token_ttl, 3600);
        assert_eq!(
            c.effective_resource_url(c.listen),
            "http://127.0.0.1:8080/mcp"
        );
        assert!(!format!("{c:?}").contains(TOKEN));
        assert!(!c.describe().contains(TOKEN));
    }

    #[test]
    fn errors_name_the_variable() {
        assert!(err(&[]).starts_with("BRAIN_MCP_TOKEN"));
        assert!(err(&[("BRAIN_MCP_TOKEN", "short")]).starts_with("BRAIN_MCP_TOKEN"));
        let m = err(&[("BRAIN_MCP_TOKEN", TOKEN), ("OAUTH_CLIENT_ID", "abc")]);
        assert!(m.starts_with("OAUTH_CLIENT_ID"), "{m}");
        let m = err(&[
            ("BRAIN_MCP_TOKEN", TOKEN),
            ("OAUTH_CLIENT_SECRET", "s3cr3t-value-that-is-long-enough-xx"),
        ]);
        assert!(m.starts_with("OAUTH_CLIENT_SECRET"), "{m}");
        assert!(!m.contains("s3cr3t"));
        for bad in [
            "ftp://x/mcp",
            "http://example.com/mcp",
            "https://example.com/",
            "https://example.com/mcp?x=1",
            "https://example.com/mcp#f",
            "https://u@example.com/mcp",
            "example.com/mcp",
        ] {
            let m = err(&[("BRAIN_MCP_TOKEN", TOKEN), ("MCP_RESOURCE_URL", bad)]);
            assert!(m.starts_with("MCP_RESOURCE_URL"), "{bad}: {m}");
        }
        let m = err(&[("BRAIN_MCP_TOKEN", TOKEN), ("BRAIN_WORKERS", "0")]);
        assert!(m.starts_with("BRAIN_WORKERS"));
        let m = err(&[("BRAIN_MCP_TOKEN", TOKEN), ("LISTEN_ADDR", "nowhere")]);
        assert!(m.starts_with("LISTEN_ADDR"));
    }

    #[test]
    fn resource_urls() {
        for good in [
            "https://brain.example.com/mcp",
            "https://brain.example.com:8443/mcp",
            "http://localhost:8080/mcp",
            "http://127.0.0.1/mcp",
            "http://[::1]:9/mcp",
        ] {
            let c = cfg(&[("BRAIN_MCP_TOKEN", TOKEN), ("MCP_RESOURCE_URL", good)]).unwrap();
            assert_eq!(c.resource_url.as_deref(), Some(good));
        }
        let u = parse_url("https://brain.example.com:8443/mcp").unwrap();
        assert_eq!(u.origin, "https://brain.example.com:8443");
        assert_eq!(u.host, "brain.example.com");
        let u = parse_url("http://[::1]:9/mcp").unwrap();
        assert_eq!(u.host, "[::1]");
        assert!(is_loopback_host(u.host));
    }

    #[test]
    fn secret_from_file() {
        let dir = std::env::temp_dir().join(format!("brain-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("tok");
        std::fs::write(&f, format!("{TOKEN}\n")).unwrap();
        let c = cfg(&[("BRAIN_MCP_TOKEN_FILE", f.to_str().unwrap())]).unwrap();
        assert_eq!(c.static_token.expose(), TOKEN);
        let m = err(&[
            ("BRAIN_MCP_TOKEN", TOKEN),
            ("BRAIN_MCP_TOKEN_FILE", f.to_str().unwrap()),
        ]);
        assert!(m.contains("both"));
        let m = err(&[("BRAIN_MCP_TOKEN_FILE", "/nonexistent/x")]);
        assert!(m.starts_with("BRAIN_MCP_TOKEN_FILE"));
        std::fs::remove_dir_all(&dir).ok();
    }
}
