//! The provider's keys: discovery (`{issuer}/.well-known/openid-configuration`), then its
//! `jwks_uri`, fetched by one background thread and kept in memory.
//!
//! - At start the thread fetches at once; the server does not wait for it, so it starts and
//!   serves its own tokens while the provider is down. External tokens fail until keys load.
//! - Refreshed after the JWK Set's `Cache-Control: max-age`, clamped to
//!   [`MIN_REFRESH`]..[`MAX_REFRESH`] ([`DEFAULT_REFRESH`] without one).
//! - A token naming an unknown `kid` asks for a refetch, at most once per [`MISS_COOLDOWN`]
//!   (Dex signs with a new key the moment it rotates, before any verifier has seen it); the
//!   request waits at most [`MISS_WAIT`] for the answer. A flood of random kids therefore
//!   costs one fetch per 30 s and never pins the worker pool.
//! - A failed refresh keeps the last good keys, for at most [`MAX_STALE`] after they were
//!   fetched (Dex keeps a demoted key 24 h), and retries with a doubling delay up to 5 min.

use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::jwk::{self, KeySet};
use crate::net::{self, printable, Policy, Request, Target};

pub const MIN_REFRESH: Duration = Duration::from_secs(5 * 60);
pub const MAX_REFRESH: Duration = Duration::from_secs(60 * 60);
pub const DEFAULT_REFRESH: Duration = Duration::from_secs(10 * 60);
pub const MISS_COOLDOWN: Duration = Duration::from_secs(30);
pub const MISS_WAIT: Duration = Duration::from_secs(2);
pub const MAX_STALE: Duration = Duration::from_secs(24 * 60 * 60);
const MAX_BACKOFF: Duration = Duration::from_secs(5 * 60);

/// Discovery documents and key sets are small (a Dex set of five RSA keys is ~2.5 KB).
pub const MAX_DOCUMENT: usize = 64 * 1024;

fn policy(target: Target) -> Policy {
    Policy {
        target,
        connect: Duration::from_secs(3),
        total: Duration::from_secs(5),
        max_body: MAX_DOCUMENT,
        max_redirects: 0,
    }
}

/// `{issuer}/.well-known/openid-configuration`; OpenID Connect Discovery §4: "any
/// terminating / MUST be removed before appending".
pub fn discovery_url(issuer: &str) -> String {
    format!(
        "{}/.well-known/openid-configuration",
        issuer.strip_suffix('/').unwrap_or(issuer)
    )
}

/// What discovery told us: the `jwks_uri` and the policy it is fetched under, and for
/// signing in through the provider (src/oidc/login.rs) its endpoints.
#[derive(Debug, Clone)]
pub struct Discovered {
    pub jwks_uri: String,
    pub target: Target,
    /// `authorization_endpoint`, where the owner's browser is sent (OpenID Connect
    /// Discovery §3: REQUIRED; a document without one leaves sign-in unavailable).
    pub authorization_endpoint: Option<String>,
    /// `token_endpoint` and the policy brain-mcp posts to it under (the issuer's host, or
    /// another host with the rules of a fetched document, as for `jwks_uri`).
    pub token_endpoint: Option<(String, Target)>,
    /// `token_endpoint_auth_methods_supported`; absent means `client_secret_basic` (OpenID
    /// Connect Discovery §3).
    pub token_auth_methods: Option<Vec<String>>,
    /// `authorization_response_iss_parameter_supported` (RFC 9207 §3): the callback must then
    /// carry `iss`.
    pub iss_parameter: bool,
}

/// Fetches and checks the discovery document.
pub fn discover(client: &net::Client, issuer: &str) -> Result<Discovered, String> {
    let url = discovery_url(issuer);
    let fail = |e: String| format!("discovery {url}: {e}");
    let resp = client
        .fetch(
            Request::get(&url).header("Accept", "application/json"),
            &policy(Target::Configured),
        )
        .map_err(|e| fail(e.to_string()))?;
    resp.check(&[200], &["application/json"])
        .map_err(|e| fail(e.to_string()))?;
    let doc = super::json::object(&resp.body).map_err(|e| fail(format!("the document is {e}")))?;
    // OpenID Connect Discovery §4.3: the issuer in the document MUST be identical to the one
    // the URL was built from; otherwise it is someone else's metadata.
    match doc.get("issuer") {
        Some(Value::String(i)) if i == issuer => {}
        Some(Value::String(i)) => {
            return Err(fail(format!(
                "it names the issuer {:?}, not {issuer:?} (compared byte for byte)",
                printable(i, 100)
            )))
        }
        _ => return Err(fail("it has no issuer".into())),
    }
    let jwks_uri = match doc.get("jwks_uri") {
        Some(Value::String(u)) => u.clone(),
        _ => return Err(fail("it has no jwks_uri".into())),
    };
    let (Some(iss_url), Some(jwks_url)) = (
        crate::config::parse_url(issuer),
        crate::config::parse_url(&jwks_uri),
    ) else {
        return Err(fail(format!(
            "jwks_uri {:?} is not a URL",
            printable(&jwks_uri, 100)
        )));
    };
    // The operator chose the issuer's host; a jwks_uri elsewhere was chosen by whoever wrote
    // the document, so it gets the rules of a fetched document (https, public addresses).
    let target_of = |u: &crate::config::Url| {
        if u.host.eq_ignore_ascii_case(iss_url.host) {
            Target::Configured
        } else {
            Target::Fetched
        }
    };
    let target = target_of(&jwks_url);
    // The endpoints sign-in needs. A bad one does not spoil the keys (external tokens work
    // without sign-in); sign-in then says which is missing.
    let endpoint = |name: &str| match doc.get(name) {
        Some(Value::String(u)) => crate::config::parse_url(u).map(|p| (u.clone(), target_of(&p))),
        _ => None,
    };
    let authorization_endpoint = endpoint("authorization_endpoint").map(|(u, _)| u);
    let token_endpoint = endpoint("token_endpoint");
    let token_auth_methods = match doc.get("token_endpoint_auth_methods_supported") {
        Some(Value::Array(list)) => Some(
            list.iter()
                .filter_map(|m| m.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    };
    let iss_parameter =
        doc.get("authorization_response_iss_parameter_supported") == Some(&Value::Bool(true));
    Ok(Discovered {
        jwks_uri,
        target,
        authorization_endpoint,
        token_endpoint,
        token_auth_methods,
        iss_parameter,
    })
}

/// Fetches and parses the key set; also returns how long it may be cached.
pub fn fetch_keys(client: &net::Client, d: &Discovered) -> Result<(KeySet, Duration), String> {
    let fail = |e: String| format!("keys {}: {e}", d.jwks_uri);
    let resp = client
        .fetch(
            Request::get(&d.jwks_uri)
                .header("Accept", "application/jwk-set+json, application/json"),
            &policy(d.target),
        )
        .map_err(|e| fail(e.to_string()))?;
    resp.check(&[200], &["application/json", "application/jwk-set+json"])
        .map_err(|e| fail(e.to_string()))?;
    let set = jwk::parse_set(&resp.body).map_err(|e| fail(format!("the document is {e}")))?;
    if set.keys.is_empty() {
        return Err(fail(format!(
            "no usable key ({})",
            if set.skipped.is_empty() {
                "the set is empty".into()
            } else {
                set.skipped.join("; ")
            }
        )));
    }
    Ok((set, refresh_after(resp.header("cache-control"))))
}

/// Discovery and keys, once, synchronously: for `check-config` and `oidc-whoami`.
pub fn load(client: &net::Client, issuer: &str) -> Result<(Discovered, KeySet, Duration), String> {
    let d = discover(client, issuer)?;
    let (set, ttl) = fetch_keys(client, &d)?;
    Ok((d, set, ttl))
}

/// How long a key set may be kept, from its `Cache-Control`.
pub fn refresh_after(cache_control: Option<&str>) -> Duration {
    let Some(cc) = cache_control else {
        return DEFAULT_REFRESH;
    };
    let mut age = None;
    for d in cc.split(',').map(|d| d.trim().to_ascii_lowercase()) {
        if d == "no-store" || d == "no-cache" {
            return MIN_REFRESH;
        }
        if let Some(v) = d.strip_prefix("max-age=") {
            age = v.trim_matches('"').parse::<u64>().ok();
        }
    }
    match age {
        Some(s) => Duration::from_secs(s).clamp(MIN_REFRESH, MAX_REFRESH),
        None => DEFAULT_REFRESH,
    }
}

/// The delay before the `failures`-th retry: 1 s, 2 s, 4 s ... at most 5 min.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(1u64 << failures.saturating_sub(1).min(9)).min(MAX_BACKOFF)
}

/// The key cache and its background fetcher.
pub struct Keys {
    issuer: String,
    client: net::Client,
    /// The last good set and when it was fetched. Read on every external-token request, so
    /// it has its own lock, apart from the fetcher's bookkeeping.
    keys: RwLock<Option<(Arc<KeySet>, Instant)>>,
    /// The last discovery document that led to good keys, for sign-in. Kept when a later
    /// refresh fails, like the keys.
    discovered: RwLock<Option<Discovered>>,
    state: Mutex<State>,
    changed: Condvar,
}

struct State {
    discovered: Option<Discovered>,
    /// Bumped after every fetch, good or bad: waiters watch it.
    generation: u64,
    fetching: bool,
    miss_wanted: bool,
    last_miss: Option<Instant>,
    next: Instant,
    failures: u32,
    last_error: Option<String>,
}

impl Keys {
    /// Starts the fetcher thread; the first fetch begins at once.
    pub fn start(issuer: &str, client: net::Client) -> Arc<Keys> {
        let keys = Arc::new(Keys {
            issuer: issuer.to_string(),
            client,
            keys: RwLock::new(None),
            discovered: RwLock::new(None),
            state: Mutex::new(State {
                discovered: None,
                generation: 0,
                fetching: false,
                miss_wanted: false,
                last_miss: None,
                next: Instant::now(),
                failures: 0,
                last_error: None,
            }),
            changed: Condvar::new(),
        });
        let k = keys.clone();
        let spawned = std::thread::Builder::new()
            .name("oidc-keys".into())
            .spawn(move || k.run());
        if let Err(e) = spawned {
            crate::log::line(&format!("oidc: cannot start the key fetcher: {e}"));
        }
        keys
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The current keys, unless none loaded yet or the last good ones are too old. The error
    /// says why, for the log.
    pub fn current(&self) -> Result<Arc<KeySet>, String> {
        let keys = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
        if let Some((k, at)) = &keys {
            if at.elapsed() < MAX_STALE {
                return Ok(k.clone());
            }
        }
        let st = self.lock();
        match keys {
            Some(_) => Err(format!(
                "the provider's keys could not be refreshed for 24 hours ({})",
                st.last_error.as_deref().unwrap_or("no error recorded")
            )),
            None => Err(format!(
                "the provider's keys are not loaded yet ({})",
                st.last_error
                    .as_deref()
                    .unwrap_or("the first fetch is running")
            )),
        }
    }

    /// The provider's endpoints from the last discovery that loaded keys; `None` until then.
    pub fn discovered(&self) -> Option<Discovered> {
        self.discovered
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// A token named a key we do not have: ask for a refetch (at most one per
    /// [`MISS_COOLDOWN`]) and wait at most [`MISS_WAIT`] for a fetch to finish. True when a
    /// fetch finished meanwhile (the caller looks again).
    pub fn refetch_for_miss(&self) -> bool {
        let mut st = self.lock();
        let seen = st.generation;
        if !st.fetching {
            if st.last_miss.is_some_and(|t| t.elapsed() < MISS_COOLDOWN) {
                return false;
            }
            st.last_miss = Some(Instant::now());
            st.miss_wanted = true;
            self.changed.notify_all();
        }
        let deadline = Instant::now() + MISS_WAIT;
        while st.generation == seen {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            st = self
                .changed
                .wait_timeout(st, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    fn run(&self) {
        loop {
            let discovered = {
                let mut st = self.lock();
                loop {
                    let now = Instant::now();
                    if st.miss_wanted || now >= st.next {
                        break;
                    }
                    let wait = st.next - now;
                    st = self
                        .changed
                        .wait_timeout(st, wait)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
                st.miss_wanted = false;
                st.fetching = true;
                st.discovered.clone()
            };
            // Discovery once; again whenever fetching the keys failed (the URL may have moved).
            let result = match discovered {
                Some(d) => fetch_keys(&self.client, &d).map(|(s, t)| (d, s, t)),
                None => load(&self.client, &self.issuer),
            };
            let mut st = self.lock();
            st.fetching = false;
            st.generation += 1;
            let now = Instant::now();
            let old = self.keys.read().unwrap_or_else(|p| p.into_inner()).clone();
            match result {
                Ok((d, set, ttl)) => {
                    let kids = set.kids();
                    let changed = old.as_ref().is_none_or(|(old, _)| old.kids() != kids);
                    if changed || st.failures > 0 {
                        let skipped = if set.skipped.is_empty() {
                            String::new()
                        } else {
                            format!("; skipped {}", set.skipped.join("; "))
                        };
                        crate::log::line(&format!(
                            "oidc: keys loaded from {}: {kids}{skipped}; next refresh in {} s",
                            d.jwks_uri,
                            ttl.as_secs()
                        ));
                    }
                    // Before the waiters are woken (below), so they see the new set.
                    *self.keys.write().unwrap_or_else(|p| p.into_inner()) =
                        Some((Arc::new(set), now));
                    *self.discovered.write().unwrap_or_else(|p| p.into_inner()) = Some(d.clone());
                    st.discovered = Some(d);
                    st.failures = 0;
                    st.last_error = None;
                    st.next = now + ttl;
                }
                Err(e) => {
                    st.failures += 1;
                    st.discovered = None;
                    let wait = backoff(st.failures);
                    let kept = match &old {
                        Some((k, at)) => format!(
                            "keeping {} keys fetched {} s ago",
                            k.keys.len(),
                            at.elapsed().as_secs()
                        ),
                        None => "no keys yet: external tokens are refused".into(),
                    };
                    crate::log::line(&format!(
                        "oidc: fetching the provider's keys failed: {e}; {kept}; next try in {} s",
                        wait.as_secs()
                    ));
                    st.last_error = Some(e);
                    st.next = now + wait;
                }
            }
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_headers_are_obeyed_within_bounds() {
        assert_eq!(refresh_after(None), DEFAULT_REFRESH);
        assert_eq!(
            refresh_after(Some("max-age=600, must-revalidate")),
            Duration::from_secs(600)
        );
        assert_eq!(refresh_after(Some("public, max-age=1")), MIN_REFRESH);
        assert_eq!(refresh_after(Some("max-age=86400")), MAX_REFRESH);
        assert_eq!(refresh_after(Some("no-store")), MIN_REFRESH);
        assert_eq!(refresh_after(Some("max-age=x")), DEFAULT_REFRESH);
    }

    #[test]
    fn retries_back_off_to_five_minutes() {
        let secs: Vec<u64> = (1..=12).map(|f| backoff(f).as_secs()).collect();
        assert_eq!(secs, [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]);
    }

    #[test]
    fn discovery_url_drops_one_trailing_slash() {
        assert_eq!(
            discovery_url("https://a.example"),
            "https://a.example/.well-known/openid-configuration"
        );
        assert_eq!(
            discovery_url("https://a.example/dex/"),
            "https://a.example/dex/.well-known/openid-configuration"
        );
    }
}
