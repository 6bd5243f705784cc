//! External JWT access tokens from an OpenID provider (Dex, Keycloak, Authentik, ...), on
//! `/mcp` beside the static token and brain-mcp's own tokens, when `BRAIN_OIDC_ISSUER` is set.
//!
//! - [`keys`]: discovery and the provider's key set, fetched in the background;
//! - [`jwt`]: the verifier (also for ID tokens, for signing in through the provider later);
//! - [`rule`]: the owner rule, which must be configured;
//! - [`login`]: the owner signing in through the provider (`BRAIN_OIDC_LOGIN`);
//! - [`Oidc`]: keys, verifier and rule together, with a cache of verified tokens.

pub mod json;
pub mod jwk;
pub mod jwt;
pub mod keys;
pub mod login;
pub mod rule;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};

use crate::config;
use crate::error::Error;
use crate::net::{self, printable};
use jwk::Alg;
use jwt::{Expect, Profile, Reject, Verified};
use rule::OwnerRule;

/// The largest `BRAIN_OIDC_LEEWAY`: RFC 9068 §4 allows "some small leeway, usually no more
/// than a few minutes".
pub const MAX_LEEWAY: u64 = 300;

/// Verified tokens remembered at most (a client reuses one token for its lifetime; a token per
/// request from many clients is what the bound is for).
pub const CACHE_ENTRIES: usize = 1024;

/// The `BRAIN_OIDC_*` settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BRAIN_OIDC_ISSUER`, exactly as given: compared byte for byte with discovery's
    /// `issuer` and with every token's `iss`.
    pub issuer: String,
    /// `BRAIN_OIDC_AUDIENCE`; empty means `MCP_RESOURCE_URL` (profile rfc9068 only).
    pub audiences: Vec<String>,
    pub profile: Profile,
    pub algs: Vec<Alg>,
    pub leeway: u64,
    pub rule: OwnerRule,
    /// `BRAIN_PRM_AUTHORIZATION_SERVERS=self,external`: the protected-resource metadata lists
    /// the issuer after brain-mcp's own authorization server.
    pub prm_lists_issuer: bool,
    /// `BRAIN_OIDC_SCOPES`: added to the metadata's `scopes_supported` when it lists the
    /// issuer (Dex refuses `mcp` and requires `openid`).
    pub scopes: Vec<String>,
    /// `BRAIN_OIDC_LOGIN=on`: the owner signs in through the provider on the consent page.
    pub login: Option<login::Settings>,
}

impl Settings {
    /// Reads the `BRAIN_OIDC_*` variables; `None` when `BRAIN_OIDC_ISSUER` is unset (and then
    /// none of the others may be set). `need_rule` is false only for `oidc-whoami`, which is
    /// how an owner learns the subject to put in the rule.
    pub fn from_env(
        var: &dyn Fn(&str) -> Option<String>,
        http_hosts: &[String],
        need_rule: bool,
    ) -> Result<Option<Settings>, Error> {
        let bad = |m: String| Err(Error::Config(m));
        let prm = var("BRAIN_PRM_AUTHORIZATION_SERVERS");
        let Some(issuer) = var("BRAIN_OIDC_ISSUER") else {
            for other in [
                "BRAIN_OIDC_AUDIENCE",
                "BRAIN_OIDC_PROFILE",
                "BRAIN_OIDC_ALGS",
                "BRAIN_OIDC_LEEWAY",
                "BRAIN_OIDC_ALLOWED_SUBJECTS",
                "BRAIN_OIDC_ALLOWED_EMAILS",
                "BRAIN_OIDC_REQUIRED_GROUP",
                "BRAIN_OIDC_SCOPES",
            ]
            .iter()
            .chain(&login::VARIABLES[1..])
            {
                if var(other).is_some() {
                    return bad(format!("{other} is set but BRAIN_OIDC_ISSUER is not"));
                }
            }
            if var("BRAIN_OIDC_LOGIN").is_some_and(|v| !matches!(v.trim(), "off" | "0")) {
                return bad("BRAIN_OIDC_LOGIN is on but BRAIN_OIDC_ISSUER is not set: sign-in needs the provider".into());
            }
            if prm.is_some_and(|p| p.trim() != "self") {
                return bad("BRAIN_PRM_AUTHORIZATION_SERVERS lists external, but BRAIN_OIDC_ISSUER is not set".into());
            }
            return Ok(None);
        };
        let url = match config::parse_url(&issuer) {
            Some(u) if u.query.is_none() => u,
            _ => {
                return bad(format!(
                    "BRAIN_OIDC_ISSUER must be an absolute http(s) URL without query, fragment or userinfo (got {issuer:?})"
                ))
            }
        };
        if url.scheme == "http" {
            let host = url.host.trim_start_matches('[').trim_end_matches(']');
            if !config::is_loopback_host(url.host)
                && !http_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
            {
                return bad(format!(
                    "BRAIN_OIDC_ISSUER must use https:// (http:// only for a loopback host or one listed in BRAIN_OUTBOUND_HTTP_HOSTS; got {issuer:?})"
                ));
            }
        }
        let profile = match var("BRAIN_OIDC_PROFILE").as_deref() {
            None | Some("rfc9068") => Profile::Rfc9068,
            Some("oidc") => Profile::Oidc,
            Some(p) => {
                return bad(format!(
                    "BRAIN_OIDC_PROFILE must be rfc9068 or oidc (got {p:?})"
                ))
            }
        };
        let audiences = config::list(var("BRAIN_OIDC_AUDIENCE"));
        for a in &audiences {
            if a.chars().any(|c| c.is_whitespace() || c.is_control()) || a.len() > 255 {
                return bad(format!(
                    "BRAIN_OIDC_AUDIENCE: {a:?} is not an audience (a client ID or URL)"
                ));
            }
        }
        if audiences.is_empty() && profile == Profile::Oidc {
            return bad(
                "BRAIN_OIDC_AUDIENCE is required with BRAIN_OIDC_PROFILE=oidc: the client ID the provider puts in aud (with Dex's cross-client scope, brain-mcp's own client ID)"
                    .into(),
            );
        }
        let mut algs = Vec::new();
        for a in config::list(var("BRAIN_OIDC_ALGS").or_else(|| Some("RS256,ES256".into()))) {
            match Alg::parse(&a) {
                Some(alg) if !algs.contains(&alg) => algs.push(alg),
                Some(_) => {}
                None => {
                    return bad(format!(
                        "BRAIN_OIDC_ALGS: {a:?} is not allowed: only RS256 and ES256 (never none or an HMAC)"
                    ))
                }
            }
        }
        if algs.is_empty() {
            return bad("BRAIN_OIDC_ALGS must name RS256, ES256 or both".into());
        }
        let leeway = config::number(var, "BRAIN_OIDC_LEEWAY", 60, 0, MAX_LEEWAY)?;
        let group = var("BRAIN_OIDC_REQUIRED_GROUP").map(|g| g.trim().to_string());
        let rule = OwnerRule {
            subjects: config::list(var("BRAIN_OIDC_ALLOWED_SUBJECTS")),
            emails: config::list(var("BRAIN_OIDC_ALLOWED_EMAILS")),
            group: group.filter(|g| !g.is_empty()),
        };
        if need_rule && rule.is_empty() {
            return bad(
                "BRAIN_OIDC_ISSUER is set but no owner rule is: set BRAIN_OIDC_ALLOWED_SUBJECTS, BRAIN_OIDC_ALLOWED_EMAILS or BRAIN_OIDC_REQUIRED_GROUP, or anyone with an account at the provider could use this brain (`brain-mcp oidc-whoami` prints a token's subject)"
                    .into(),
            );
        }
        let prm_lists_issuer = match prm.as_deref().map(str::trim) {
            None | Some("self") => false,
            Some("self,external") | Some("self, external") => true,
            Some(p) => {
                return bad(format!(
                    "BRAIN_PRM_AUTHORIZATION_SERVERS must be self or self,external: brain-mcp's own server stays first (got {p:?})"
                ))
            }
        };
        let scopes: Vec<String> = var("BRAIN_OIDC_SCOPES")
            .unwrap_or_else(|| "openid".into())
            .split_whitespace()
            .map(str::to_string)
            .collect();
        for s in &scopes {
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
            if !s
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return bad(format!(
                    "BRAIN_OIDC_SCOPES: {s:?} is not a scope (RFC 6749 §3.3)"
                ));
            }
        }
        let login = login::Settings::from_env(var, &issuer, &rule)?;
        Ok(Some(Settings {
            issuer,
            audiences,
            profile,
            algs,
            leeway,
            rule,
            prm_lists_issuer,
            scopes,
            login,
        }))
    }

    /// The audiences tokens must name: `BRAIN_OIDC_AUDIENCE`, else the resource URL.
    pub fn audiences_for(&self, resource: &str) -> Vec<String> {
        if self.audiences.is_empty() {
            vec![resource.to_string()]
        } else {
            self.audiences.clone()
        }
    }

    /// `check-config` lines; `resource` is the effective `MCP_RESOURCE_URL`.
    pub fn describe(&self, resource: &str) -> Vec<(&'static str, String)> {
        let or_unset = |v: String| {
            if v.is_empty() {
                "[unset]".to_string()
            } else {
                v
            }
        };
        let mut lines = vec![
            ("BRAIN_OIDC_ISSUER", self.issuer.clone()),
            (
                "BRAIN_OIDC_AUDIENCE",
                if self.audiences.is_empty() {
                    "[unset] (MCP_RESOURCE_URL)".into()
                } else {
                    self.audiences.join(",")
                },
            ),
            ("BRAIN_OIDC_PROFILE", self.profile.name().into()),
            (
                "BRAIN_OIDC_ALGS",
                self.algs
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(","),
            ),
            ("BRAIN_OIDC_LEEWAY", self.leeway.to_string()),
            (
                "BRAIN_OIDC_ALLOWED_SUBJECTS",
                or_unset(self.rule.subjects.join(",")),
            ),
            (
                "BRAIN_OIDC_ALLOWED_EMAILS",
                or_unset(self.rule.emails.join(",")),
            ),
            (
                "BRAIN_OIDC_REQUIRED_GROUP",
                self.rule.group.clone().unwrap_or_else(|| "[unset]".into()),
            ),
            (
                "BRAIN_PRM_AUTHORIZATION_SERVERS",
                if self.prm_lists_issuer {
                    "self,external"
                } else {
                    "self"
                }
                .into(),
            ),
            ("BRAIN_OIDC_SCOPES", self.scopes.join(" ")),
        ];
        match &self.login {
            Some(l) => lines.extend(l.describe(resource)),
            None => lines.push(("BRAIN_OIDC_LOGIN", "off".into())),
        }
        lines
    }
}

/// Who a verified external token speaks for.
#[derive(Debug, Clone)]
pub struct Identity {
    pub sub: String,
    pub client: Option<String>,
    pub exp: u64,
}

struct Cached {
    /// Unix time after which the token is no longer accepted (`exp` plus the leeway).
    until: u64,
    kid: Option<String>,
    alg: Alg,
    identity: Identity,
}

/// The running verifier: settings, the provider's keys and verified tokens.
pub struct Oidc {
    settings: Settings,
    audiences: Vec<String>,
    keys: Arc<keys::Keys>,
    /// SHA-256 of a token → its verification. The token itself is never kept.
    cache: RwLock<HashMap<[u8; 32], Cached>>,
}

impl Oidc {
    /// Starts fetching the provider's keys in the background and returns at once.
    pub fn start(settings: &Settings, resource: &str, client: net::Client) -> Oidc {
        Oidc {
            audiences: settings.audiences_for(resource),
            keys: keys::Keys::start(&settings.issuer, client),
            settings: settings.clone(),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// Verifies a bearer token on `/mcp`. Refusals are logged with their reason (never the
    /// token); the first acceptance of a token is logged with its subject and client. `None`
    /// when refused.
    pub fn verify_bearer(&self, token: &str, peer: IpAddr) -> Option<Identity> {
        let now = crate::time::unix_now();
        let digest = crate::oauth::sha256(token.as_bytes());
        match self.check(token, &digest, now) {
            Ok((identity, fresh)) => {
                if fresh {
                    crate::log::line(&format!(
                        "{peer} oidc: accepted a token for sub {:?} (client {:?}, expires in {} s)",
                        printable(&identity.sub, 80),
                        printable(identity.client.as_deref().unwrap_or("-"), 80),
                        identity.exp.saturating_sub(now)
                    ));
                }
                Some(identity)
            }
            Err(why) => {
                crate::log::line(&format!("{peer} oidc: token refused: {why}"));
                None
            }
        }
    }

    fn expect(&self, now: u64) -> Expect<'_> {
        Expect {
            issuer: &self.settings.issuer,
            audiences: &self.audiences,
            profile: self.settings.profile,
            algs: &self.settings.algs,
            leeway: self.settings.leeway,
            now,
            nonce: None,
        }
    }

    /// The identity and whether it was verified just now (not from the cache).
    fn check(&self, token: &str, digest: &[u8; 32], now: u64) -> Result<(Identity, bool), String> {
        let keys = self.loaded_keys()?;
        if let Some(hit) = self.cached(digest, now, &keys) {
            return Ok((hit, false));
        }
        let verified = self.verify_with(keys, token, &self.expect(now))?;
        self.settings.rule.check(&verified.sub, &verified.claims)?;
        let identity = Identity {
            sub: verified.sub.clone(),
            client: verified.client.clone(),
            exp: verified.exp,
        };
        self.remember(digest, &verified, identity.clone(), now);
        Ok((identity, true))
    }

    /// The current keys; when none are loaded (the provider was down at start), after one
    /// bounded refetch.
    fn loaded_keys(&self) -> Result<Arc<jwk::KeySet>, String> {
        match self.keys.current() {
            Ok(k) => Ok(k),
            Err(why) => {
                if !self.keys.refetch_for_miss() {
                    return Err(why);
                }
                self.keys.current()
            }
        }
    }

    /// [`jwt::verify`], and once more after a refetch when the token names a key we lack.
    fn verify_with(
        &self,
        keys: Arc<jwk::KeySet>,
        token: &str,
        expect: &Expect,
    ) -> Result<Verified, String> {
        match jwt::verify(token, &keys, expect) {
            Ok(v) => Ok(v),
            Err(Reject::Invalid(why)) => Err(why),
            Err(Reject::UnknownKey(why)) => {
                if !self.keys.refetch_for_miss() {
                    return Err(format!(
                        "{why} (the keys were refetched less than 30 s ago)"
                    ));
                }
                let keys = self.keys.current()?;
                jwt::verify(token, &keys, expect).map_err(|r| match r {
                    Reject::UnknownKey(m) => {
                        format!("{m}, even after refetching the provider's keys")
                    }
                    Reject::Invalid(m) => m,
                })
            }
        }
    }

    /// For signing in through the provider (issue 11 item 3): verifies an ID token from the
    /// token endpoint (OpenID Connect Core §3.1.3.7: our `client_id` in `aud`, `azp` if
    /// present ours, the `nonce` we sent) with the same keys, and applies the same owner
    /// rule. The error is the reason, for the log.
    pub fn verify_id_token(
        &self,
        raw: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<Verified, String> {
        let v = self.id_token_claims(raw, client_id, nonce)?;
        self.settings.rule.check(&v.sub, &v.claims)?;
        Ok(v)
    }

    /// [`Oidc::verify_id_token`] without the owner rule, so that sign-in can tell the owner
    /// apart from a token that failed a check; apply [`Oidc::owner_rule`] after it.
    pub fn id_token_claims(
        &self,
        raw: &str,
        client_id: &str,
        nonce: &str,
    ) -> Result<Verified, String> {
        let audiences = [client_id.to_string()];
        let expect = Expect {
            audiences: &audiences,
            profile: Profile::IdToken,
            nonce: Some(nonce),
            ..self.expect(crate::time::unix_now())
        };
        self.verify_with(self.loaded_keys()?, raw, &expect)
    }

    pub fn owner_rule(&self) -> &OwnerRule {
        &self.settings.rule
    }

    /// `BRAIN_OIDC_ISSUER`, exactly as configured.
    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    /// The provider's endpoints from discovery; when none are loaded yet (the provider was
    /// down), after one bounded refetch. The error says why, for the sign-in page.
    pub fn discovered(&self) -> Result<keys::Discovered, String> {
        if let Some(d) = self.keys.discovered() {
            return Ok(d);
        }
        self.keys.refetch_for_miss();
        self.keys
            .discovered()
            .ok_or_else(|| match self.keys.current() {
                Err(why) => why,
                Ok(_) => "the provider's discovery document is not loaded yet".into(),
            })
    }

    /// A cached verification, while the token has not expired and its key is still published
    /// (a key the provider withdrew stops its tokens at the next refresh).
    fn cached(&self, digest: &[u8; 32], now: u64, keys: &jwk::KeySet) -> Option<Identity> {
        let cache = self.cache.read().ok()?;
        let c = cache.get(digest)?;
        (now < c.until && keys.has(c.kid.as_deref(), c.alg)).then(|| c.identity.clone())
    }

    fn remember(&self, digest: &[u8; 32], v: &Verified, identity: Identity, now: u64) {
        let Ok(mut cache) = self.cache.write() else {
            return;
        };
        if cache.len() >= CACHE_ENTRIES {
            cache.retain(|_, c| now < c.until);
            if cache.len() >= CACHE_ENTRIES {
                // All live: forget an arbitrary one; it is verified again if it comes back.
                if let Some(k) = cache.keys().next().copied() {
                    cache.remove(&k);
                }
            }
        }
        cache.insert(
            *digest,
            Cached {
                until: v.exp.saturating_add(self.settings.leeway),
                kid: v.kid.clone(),
                alg: v.alg,
                identity,
            },
        );
    }
}

/// `check-config`: discovery and keys, fetched now, as text. Err when they cannot be loaded.
pub fn probe(settings: &Settings, client: &net::Client) -> Result<String, String> {
    let (d, set, ttl) = keys::load(client, &settings.issuer)?;
    let mut out = format!(
        "oidc: discovery {} names this issuer; jwks_uri {} ({})\n",
        keys::discovery_url(&settings.issuer),
        d.jwks_uri,
        match d.target {
            net::Target::Configured => "the issuer's host",
            net::Target::Fetched => "another host: https and public addresses only",
        }
    );
    for k in &set.keys {
        let allowed = if settings.algs.contains(&k.alg) {
            ""
        } else {
            " (not in BRAIN_OIDC_ALGS)"
        };
        out.push_str(&format!(
            "oidc: key {} {} {}{allowed}\n",
            k.kid.as_deref().unwrap_or("(no kid)"),
            k.alg.name(),
            k.detail
        ));
    }
    for s in &set.skipped {
        out.push_str(&format!("oidc: skipped {s}\n"));
    }
    out.push_str(&format!(
        "oidc: keys are refreshed every {} s\n",
        ttl.as_secs()
    ));
    Ok(out)
}

/// `oidc-whoami`: verifies `token` as `/mcp` would and describes it. Ok(text) when `/mcp`
/// would accept it (or no owner rule is set yet); Err(text) otherwise.
pub fn whoami(
    settings: &Settings,
    resource: &str,
    client: &net::Client,
    token: &str,
) -> Result<String, String> {
    let (_, set, _) = keys::load(client, &settings.issuer)?;
    let audiences = settings.audiences_for(resource);
    let expect = Expect {
        issuer: &settings.issuer,
        audiences: &audiences,
        profile: settings.profile,
        algs: &settings.algs,
        leeway: settings.leeway,
        now: crate::time::unix_now(),
        nonce: None,
    };
    let v = jwt::verify(token, &set, &expect).map_err(|r| format!("not accepted: {r}"))?;
    let pretty = |m: &serde_json::Map<String, serde_json::Value>| {
        serde_json::to_string_pretty(m).unwrap_or_default()
    };
    let mut out = format!(
        "signature and claims verified ({} key {}, profile {})\nheader: {}\nclaims: {}\nsub: {}\n",
        v.alg.name(),
        v.kid.as_deref().unwrap_or("(no kid)"),
        settings.profile.name(),
        pretty(&v.header),
        pretty(&v.claims),
        v.sub
    );
    if settings.rule.is_empty() {
        out.push_str(&format!(
            "owner rule: none is set yet; BRAIN_OIDC_ALLOWED_SUBJECTS={} would allow this token\n",
            v.sub
        ));
        return Ok(out);
    }
    match settings.rule.check(&v.sub, &v.claims) {
        Ok(()) => {
            out.push_str("owner rule: allowed; /mcp accepts this token\n");
            Ok(out)
        }
        Err(why) => {
            out.push_str(&format!("owner rule: {why}\n"));
            Err(out)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Option<Settings>, Error> {
        let map: HashMap<&str, &str> = pairs.iter().copied().collect();
        Settings::from_env(
            &|k| map.get(k).map(|v| v.to_string()),
            &["dex".to_string()],
            true,
        )
    }

    fn err(pairs: &[(&str, &str)]) -> String {
        match settings(pairs) {
            Err(Error::Config(m)) => m,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    const ISS: (&str, &str) = ("BRAIN_OIDC_ISSUER", "https://auth.example");
    const SUB: (&str, &str) = ("BRAIN_OIDC_ALLOWED_SUBJECTS", "alice");

    #[test]
    fn defaults() {
        assert!(settings(&[]).unwrap().is_none());
        let s = settings(&[ISS, SUB]).unwrap().unwrap();
        assert_eq!(s.profile, Profile::Rfc9068);
        assert_eq!(s.algs, [Alg::Rs256, Alg::Es256]);
        assert_eq!(s.leeway, 60);
        assert_eq!(
            s.audiences_for("https://b.example/mcp"),
            ["https://b.example/mcp"]
        );
        assert!(!s.prm_lists_issuer);
        assert_eq!(s.scopes, ["openid"]);
        // In-cluster plain HTTP when listed; loopback always.
        settings(&[("BRAIN_OIDC_ISSUER", "http://dex:5556"), SUB])
            .unwrap()
            .unwrap();
        settings(&[("BRAIN_OIDC_ISSUER", "http://127.0.0.1:5556/dex"), SUB])
            .unwrap()
            .unwrap();
    }

    #[test]
    fn bad_settings_name_their_variable() {
        assert!(err(&[ISS]).starts_with("BRAIN_OIDC_ISSUER is set but no owner rule is"));
        assert!(err(&[("BRAIN_OIDC_AUDIENCE", "x")])
            .starts_with("BRAIN_OIDC_AUDIENCE is set but BRAIN_OIDC_ISSUER is not"));
        assert!(err(&[("BRAIN_OIDC_ISSUER", "http://auth.example"), SUB])
            .starts_with("BRAIN_OIDC_ISSUER must use https://"));
        assert!(err(&[("BRAIN_OIDC_ISSUER", "auth.example"), SUB])
            .starts_with("BRAIN_OIDC_ISSUER must be an absolute"));
        assert!(err(&[ISS, SUB, ("BRAIN_OIDC_PROFILE", "dex")])
            .starts_with("BRAIN_OIDC_PROFILE must be rfc9068 or oidc"));
        assert!(err(&[ISS, SUB, ("BRAIN_OIDC_PROFILE", "oidc")])
            .starts_with("BRAIN_OIDC_AUDIENCE is required"));
        for alg in ["none", "HS256", "RS384", ""] {
            let m = err(&[
                ISS,
                SUB,
                ("BRAIN_OIDC_ALGS", if alg.is_empty() { "," } else { alg }),
            ]);
            assert!(m.starts_with("BRAIN_OIDC_ALGS"), "{alg}: {m}");
        }
        assert!(err(&[ISS, SUB, ("BRAIN_OIDC_LEEWAY", "301")]).starts_with("BRAIN_OIDC_LEEWAY"));
        assert!(
            err(&[ISS, SUB, ("BRAIN_PRM_AUTHORIZATION_SERVERS", "external")])
                .starts_with("BRAIN_PRM_AUTHORIZATION_SERVERS must be self or self,external")
        );
        assert!(err(&[("BRAIN_PRM_AUTHORIZATION_SERVERS", "self,external")])
            .contains("BRAIN_OIDC_ISSUER is not set"));
        assert!(err(&[ISS, SUB, ("BRAIN_OIDC_SCOPES", "openid \"x\"")])
            .starts_with("BRAIN_OIDC_SCOPES"));
    }

    /// A discovery + JWKS server on loopback for `keys`, answering every connection.
    fn provider(keys: serde_json::Value) -> String {
        use std::io::{Read, Write};
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let iss = format!("http://{}", l.local_addr().unwrap());
        let i = iss.clone();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { continue };
                let mut buf = [0u8; 4096];
                let n = s.read(&mut buf).unwrap_or(0);
                let req = String::from_utf8_lossy(&buf[..n]).to_string();
                let body = if req.starts_with("GET /.well-known/openid-configuration ") {
                    serde_json::json!({"issuer": i, "jwks_uri": format!("{i}/keys")}).to_string()
                } else {
                    serde_json::json!({"keys": [keys.clone()]}).to_string()
                };
                let _ = write!(
                    s,
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                );
            }
        });
        iss
    }

    #[test]
    fn id_tokens_for_sign_in_use_the_same_keys_and_owner_rule() {
        use serde_json::json;
        let signer = jwt::tests::Signer::new("k1");
        let iss = provider(signer.jwk());
        let map: HashMap<&str, String> = [
            ("BRAIN_OIDC_ISSUER", iss.clone()),
            ("BRAIN_OIDC_ALLOWED_SUBJECTS", "alice".to_string()),
        ]
        .into_iter()
        .collect();
        let settings = Settings::from_env(&|k| map.get(k).cloned(), &[], true)
            .unwrap()
            .unwrap();
        let client = net::Client::new(&net::Settings::from_env(&|_| None, true).unwrap());
        let oidc = Oidc::start(&settings, "http://127.0.0.1:1/mcp", client);
        let now = crate::time::unix_now();
        let id = |sub: &str, nonce: &str| {
            signer.sign(
                json!({"alg": "ES256", "kid": "k1"}),
                json!({"iss": iss, "sub": sub, "aud": "brain-client", "exp": now + 60, "iat": now, "nonce": nonce}),
            )
        };
        let v = oidc
            .verify_id_token(&id("alice", "n1"), "brain-client", "n1")
            .unwrap();
        assert_eq!(v.sub, "alice");
        assert_eq!(
            oidc.verify_id_token(&id("alice", "n2"), "brain-client", "n1")
                .unwrap_err(),
            "the nonce is not the one sent"
        );
        assert!(oidc
            .verify_id_token(&id("alice", "n1"), "other-client", "n1")
            .unwrap_err()
            .starts_with("aud \"brain-client\" names none of \"other-client\""));
        assert_eq!(
            oidc.verify_id_token(&id("bob", "n1"), "brain-client", "n1")
                .unwrap_err(),
            "the owner rule refuses it: sub \"bob\" is not in BRAIN_OIDC_ALLOWED_SUBJECTS"
        );
        // An access token is not an ID token, and the other way round.
        let at = signer.sign(signer.header(), json!({"iss": iss, "sub": "alice", "aud": "brain-client", "exp": now + 60, "iat": now, "nonce": "n1"}));
        assert!(oidc
            .verify_id_token(&at, "brain-client", "n1")
            .unwrap_err()
            .starts_with("typ is \"at+jwt\""));
    }

    #[test]
    fn oidc_whoami_needs_no_rule() {
        let map: HashMap<&str, &str> = [ISS].into_iter().collect();
        let s = Settings::from_env(&|k| map.get(k).map(|v| v.to_string()), &[], false).unwrap();
        assert!(s.unwrap().rule.is_empty());
    }
}
