//! Owner sign-in through the OpenID provider (`BRAIN_OIDC_LOGIN=on`, issue 11 item 3).
//!
//! brain-mcp stays the authorization server of every MCP client; the provider only proves who
//! the owner is, beside or instead of the owner password, in two places: the consent page
//! ([`Flow::Consent`]) and the sign-in page of the owner's pages ([`Flow::Pages`], src/web).
//! Both use the same machinery below (one callback, one cookie, one signed `state`). brain-mcp
//! is an ordinary relying party using the authorization code flow (OpenID Connect Core §3.1):
//!
//! 1. The owner presses "Sign in with <provider>" on the consent page or on `/signin` (a POST
//!    carrying that page's anti-forgery token). brain-mcp draws a 32-byte secret, sets it as a cookie
//!    (`HttpOnly`, `SameSite=Lax`, [`TTL`]) and sends the browser to the provider's
//!    `authorization_endpoint` with `state`, `nonce` and PKCE S256. The nonce and the PKCE
//!    verifier are hashes of the secret: OpenID Connect Core §15.5.2 suggests exactly this
//!    ("store a cryptographically random value as an HttpOnly session cookie and use a
//!    cryptographic hash of the value as the nonce parameter"), and it means nothing is kept
//!    on the server per sign-in.
//! 2. What the sign-in is for travels in `state`, signed: `state` is the flow's tag (`c` for
//!    a pending authorization request: client, redirect URI, PKCE challenge, state, resource,
//!    scope; `p` for a sign-in to the pages: the path to go on to), a dot, a [`FormTokens`]
//!    token bound to SHA-256(secret, tag, payload), a dot, and base64url(payload). The tag is
//!    under the signature, so a state made for one flow is refused by the other (a consent
//!    state relabelled `p` does not verify, nor a pages state relabelled `c`). No table holds pending
//!    sign-ins, so strangers cannot fill one and crowd out the owner's (the lesson of issue
//!    16's consent tokens). The token expires after [`TTL`] and is spent on first use; it is
//!    good only together with the cookie of the browser that started the sign-in.
//! 3. On the callback the state is checked against the cookie, the code is exchanged on the
//!    back channel through the one outbound client (client_secret_basic, or _post when the
//!    provider offers only that), and the ID token is verified with the provider's keys (our
//!    client ID in `aud`, `azp`, the nonce; [`super::Oidc::id_token_claims`]) and the same
//!    owner rule as external access tokens.
//! 4. [`Flow::Consent`]: the consent page is shown again, "signed in as ...", with a second
//!    signed token bound to the same cookie and request. Signing in is not consent: the owner
//!    still sees which client asks and where the approval goes, and presses Allow.
//!    [`Flow::Pages`]: the owner gets a session of the pages (`web::provider`) and goes on to
//!    the path in the state, which is a path on this server (checked when the state is made
//!    and again when it is used).
//!
//! The cookie is `SameSite=Lax`, not `Strict`: the provider's redirect back to the callback
//! is a top-level cross-site navigation, on which browsers withhold `Strict` cookies and send
//! `Lax` ones for a GET (RFC 6265bis, "SameSite" cookies). It is `__Host-`-prefixed and
//! `Secure` when brain-mcp is served over https.

use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::keys::Discovered;
use super::rule::OwnerRule;
use super::Oidc;
use crate::config::{self, Secret};
use crate::error::Error;
use crate::http::Request;
use crate::net::{self, printable, Policy};
use crate::oauth::sign::{FormTokens, Refused};

/// How long a sign-in may take, from pressing the button to pressing Allow (a password and a
/// second factor at the provider fit in it).
pub const TTL: Duration = Duration::from_secs(600);

/// Where the provider sends the browser back, on brain-mcp's own origin.
pub const CALLBACK_PATH: &str = "/oauth/oidc/callback";

/// The longest pending authorization request carried in `state` (encoded as a form). A
/// claude.ai request is about 350 bytes; providers store or echo `state`, so it stays short.
pub const MAX_REQUEST: usize = 2048;

/// The token endpoint's answer is small (an ID token of a few KB).
const MAX_TOKEN_RESPONSE: usize = 64 * 1024;

/// What a sign-in through the provider is for: the payload its `state` carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Flow {
    /// An MCP client's authorization request awaiting the owner's consent, as the form the
    /// consent page posts.
    Consent { request: String },
    /// A sign-in to the owner's pages, then on to `next` (a path on this server).
    Pages { next: String },
}

/// Which of the two flows a callback claims to belong to, read from the tag of its `state`
/// before anything is verified: it only chooses the wording and the look of a refusal page
/// (an unknown or missing tag reads as [`Kind::Consent`], the older flow). Which flow a
/// sign-in really belongs to is [`SignedIn::flow`], taken from a verified state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Consent,
    Pages,
}

impl Flow {
    fn kind(&self) -> Kind {
        match self {
            Flow::Consent { .. } => Kind::Consent,
            Flow::Pages { .. } => Kind::Pages,
        }
    }

    fn payload(&self) -> &str {
        match self {
            Flow::Consent { request } => request,
            Flow::Pages { next } => next,
        }
    }
}

impl Kind {
    /// The first part of `state`, covered by its signature.
    fn tag(self) -> &'static str {
        match self {
            Kind::Consent => "c",
            Kind::Pages => "p",
        }
    }

    fn of_tag(tag: &str) -> Option<Kind> {
        match tag {
            "c" => Some(Kind::Consent),
            "p" => Some(Kind::Pages),
            _ => None,
        }
    }

    /// What to do after a refusal.
    fn again(self) -> &'static str {
        match self {
            Kind::Consent => "Go back to the application and connect again.",
            Kind::Pages => "Go back to the sign-in page and try again.",
        }
    }

    /// What a refusal after the provider answered did not do.
    fn nothing(self) -> &'static str {
        match self {
            Kind::Consent => "Nothing was approved.",
            Kind::Pages => "You are not signed in.",
        }
    }

    /// The end of the page when the owner cancelled at the provider.
    fn cancelled(self) -> &'static str {
        match self {
            Kind::Consent => "Nothing was approved; go back to the application to try again.",
            Kind::Pages => "You are not signed in; go back to the sign-in page to try again.",
        }
    }
}

/// The flow a callback's `state` names (see [`Kind`]: unverified, for wording only).
pub fn kind_of(req: &Request) -> Kind {
    form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes())
        .find(|(k, _)| k == "state")
        .and_then(|(_, v)| v.split_once('.').and_then(|(tag, _)| Kind::of_tag(tag)))
        .unwrap_or(Kind::Consent)
}

/// The `BRAIN_OIDC_LOGIN` settings: brain-mcp's own client at the provider.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `BRAIN_OIDC_CLIENT_ID`: the `aud` of the ID tokens brain-mcp accepts.
    pub client_id: String,
    /// `BRAIN_OIDC_CLIENT_SECRET` (or `_FILE`).
    pub client_secret: Secret,
    /// `BRAIN_OIDC_LOGIN_SCOPES`, else `openid` plus `email` and `groups` when the owner rule
    /// needs those claims.
    pub scopes: Vec<String>,
    /// `BRAIN_OIDC_PROVIDER_NAME`, else the issuer's host: the button says "Sign in with" it.
    pub name: String,
}

/// The variables of sign-in, for "set without" errors.
pub const VARIABLES: [&str; 6] = [
    "BRAIN_OIDC_LOGIN",
    "BRAIN_OIDC_CLIENT_ID",
    "BRAIN_OIDC_CLIENT_SECRET",
    "BRAIN_OIDC_CLIENT_SECRET_FILE",
    "BRAIN_OIDC_LOGIN_SCOPES",
    "BRAIN_OIDC_PROVIDER_NAME",
];

fn visible_ascii(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| (0x21..0x7f).contains(&b))
}

impl Settings {
    /// Reads the sign-in variables; `None` unless `BRAIN_OIDC_LOGIN=on`.
    pub fn from_env(
        var: &dyn Fn(&str) -> Option<String>,
        issuer: &str,
        rule: &OwnerRule,
    ) -> Result<Option<Settings>, Error> {
        let bad = |m: String| Err(Error::Config(m));
        match var("BRAIN_OIDC_LOGIN").as_deref().map(str::trim) {
            Some("on" | "1") => {}
            None | Some("off" | "0") => {
                for other in &VARIABLES[1..] {
                    if var(other).is_some() {
                        return bad(format!("{other} is set but BRAIN_OIDC_LOGIN is not on"));
                    }
                }
                return Ok(None);
            }
            Some(v) => {
                return bad(format!(
                    "BRAIN_OIDC_LOGIN must be on or off (got {:?})",
                    printable(v, 20)
                ))
            }
        }
        let Some(client_id) = var("BRAIN_OIDC_CLIENT_ID") else {
            return bad("BRAIN_OIDC_LOGIN is on but BRAIN_OIDC_CLIENT_ID is not set: the client ID brain-mcp has at the provider".into());
        };
        if client_id.len() > 255 || !visible_ascii(&client_id) {
            return bad(
                "BRAIN_OIDC_CLIENT_ID must be 1 to 255 visible ASCII characters (no spaces)".into(),
            );
        }
        let Some(secret) = config::secret_var(var, "BRAIN_OIDC_CLIENT_SECRET")? else {
            return bad("BRAIN_OIDC_LOGIN is on but BRAIN_OIDC_CLIENT_SECRET (or BRAIN_OIDC_CLIENT_SECRET_FILE) is not set: the secret of brain-mcp's client at the provider".into());
        };
        if secret.len() > 1024 || !visible_ascii(&secret) {
            return bad(
                "BRAIN_OIDC_CLIENT_SECRET must be 1 to 1024 visible ASCII characters (no spaces)"
                    .into(),
            );
        }
        let scopes: Vec<String> = match var("BRAIN_OIDC_LOGIN_SCOPES") {
            Some(s) => s.split_whitespace().map(str::to_string).collect(),
            None => {
                // The claims the owner rule reads must be in the ID token: ask for them.
                let mut s = vec!["openid".to_string()];
                if !rule.emails.is_empty() {
                    s.push("email".into());
                }
                if rule.group.is_some() {
                    s.push("groups".into());
                }
                s
            }
        };
        for s in &scopes {
            // RFC 6749 §3.3: scope-token = 1*( %x21 / %x23-5B / %x5D-7E ).
            if !s
                .bytes()
                .all(|b| b == 0x21 || (0x23..=0x5b).contains(&b) || (0x5d..=0x7e).contains(&b))
            {
                return bad(format!(
                    "BRAIN_OIDC_LOGIN_SCOPES: {:?} is not a scope (RFC 6749 §3.3)",
                    printable(s, 40)
                ));
            }
        }
        if !scopes.iter().any(|s| s == "openid") {
            // OpenID Connect Core §3.1.2.1: without openid the provider need not send an ID
            // token, and there is nothing to verify.
            return bad("BRAIN_OIDC_LOGIN_SCOPES must include openid".into());
        }
        let name = match var("BRAIN_OIDC_PROVIDER_NAME") {
            Some(n) => {
                let n = n.trim().to_string();
                if n.is_empty() || n.chars().count() > 64 || n.chars().any(char::is_control) {
                    return bad(
                        "BRAIN_OIDC_PROVIDER_NAME must be 1 to 64 characters without control characters"
                            .into(),
                    );
                }
                n
            }
            None => config::parse_url(issuer)
                .map(|u| u.host.to_string())
                .unwrap_or_else(|| issuer.to_string()),
        };
        Ok(Some(Settings {
            client_id,
            client_secret: Secret::new(secret),
            scopes,
            name,
        }))
    }

    /// `check-config` lines; `resource` is the effective `MCP_RESOURCE_URL`.
    pub fn describe(&self, resource: &str) -> Vec<(&'static str, String)> {
        let origin = config::parse_url(resource)
            .map(|u| u.origin)
            .unwrap_or_default();
        vec![
            (
                "BRAIN_OIDC_LOGIN",
                format!(
                    "on (the redirect URI to register at the provider: {origin}{CALLBACK_PATH})"
                ),
            ),
            ("BRAIN_OIDC_CLIENT_ID", self.client_id.clone()),
            (
                "BRAIN_OIDC_CLIENT_SECRET",
                format!(
                    "[set, {} characters]",
                    self.client_secret.expose().chars().count()
                ),
            ),
            ("BRAIN_OIDC_LOGIN_SCOPES", self.scopes.join(" ")),
            ("BRAIN_OIDC_PROVIDER_NAME", self.name.clone()),
        ]
    }
}

/// Sign-in at run time: the settings and the two signers.
pub struct Login {
    pub settings: Settings,
    /// `{brain-mcp's origin}/oauth/oidc/callback`, sent as `redirect_uri`.
    pub redirect_uri: String,
    /// brain-mcp is served over https: the cookie is `Secure` and `__Host-`.
    secure: bool,
    ttl: Duration,
    /// `state` tokens, bound to the cookie secret and the pending request.
    pending: FormTokens,
    /// The "signed in" consent form's tokens, bound to the cookie secret and the request.
    signed_in: FormTokens,
}

/// Where to send the browser, and the cookie to set on the way.
pub struct Start {
    pub location: String,
    pub set_cookie: String,
}

/// A successful callback.
pub struct SignedIn {
    pub sub: String,
    /// The email, when the ID token carries one that the provider says is verified.
    pub email: Option<String>,
    /// What the sign-in was for, from the verified state.
    pub flow: Flow,
    secret: String,
}

/// A sign-in that failed: the page's status and exact message, the log line, and whether
/// it counts against the address in the failure limiter.
#[derive(Debug)]
pub struct Refusal {
    pub status: u16,
    pub message: String,
    pub log: String,
    pub counted: bool,
    /// The flow the state claimed (unverified: for the look of the page).
    pub kind: Kind,
}

fn refusal(kind: Kind, status: u16, message: String, log: &str, counted: bool) -> Refusal {
    Refusal {
        status,
        message,
        log: log.to_string(),
        counted,
        kind,
    }
}

fn b64(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// SHA-256 over the parts, each preceded by its length: what a token is bound to.
fn digest(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The nonce sent for a cookie secret (OpenID Connect Core §15.5.2: a hash of it).
fn nonce(secret: &str) -> String {
    b64(&digest(&[b"brain-mcp oidc nonce", secret.as_bytes()]))
}

/// The PKCE verifier (RFC 7636 §4.1: 43 characters of base64url from 32 bytes).
fn verifier(secret: &str) -> String {
    b64(&digest(&[b"brain-mcp oidc pkce", secret.as_bytes()]))
}

/// S256 (RFC 7636 §4.2).
fn challenge(verifier: &str) -> String {
    b64(&Sha256::digest(verifier.as_bytes()))
}

impl Login {
    /// `issuer` is brain-mcp's own origin (the OAuth issuer).
    pub fn new(settings: &Settings, issuer: &str) -> Login {
        let ttl = test_ttl().unwrap_or(TTL);
        Login {
            settings: settings.clone(),
            redirect_uri: format!("{issuer}{CALLBACK_PATH}"),
            secure: issuer.starts_with("https://"),
            ttl,
            pending: FormTokens::new(b"oidc sign-in state", ttl),
            signed_in: FormTokens::new(b"oidc signed in", ttl),
        }
    }

    fn cookie_name(&self) -> &'static str {
        // RFC 6265bis, the "__Host-" prefix: such a cookie must be Secure, Path=/ and
        // host-only, so a sibling subdomain cannot plant or overwrite it. It cannot be Secure
        // on http.
        if self.secure {
            "__Host-brain-signin"
        } else {
            "brain-signin"
        }
    }

    fn cookie(&self, value: &str, max_age: u64) -> String {
        format!(
            "{}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{}",
            self.cookie_name(),
            if self.secure { "; Secure" } else { "" }
        )
    }

    /// The `Set-Cookie` that ends a sign-in (after Allow or Deny).
    pub fn clear_cookie(&self) -> String {
        self.cookie("", 0)
    }

    /// The values of our cookie in the request (at most four: a browser sends one).
    fn cookies(&self, req: &Request) -> Vec<String> {
        let name = self.cookie_name();
        let mut out = Vec::new();
        for (n, v) in &req.headers {
            if n != "cookie" {
                continue;
            }
            let Ok(v) = std::str::from_utf8(v) else {
                continue;
            };
            for pair in v.split(';') {
                if let Some((k, val)) = pair.trim().split_once('=') {
                    if k == name && !val.is_empty() && out.len() < 4 {
                        out.push(val.to_string());
                    }
                }
            }
        }
        out
    }

    /// "10 minutes", for messages.
    fn ttl_text(&self) -> String {
        let s = self.ttl.as_secs();
        if s >= 60 {
            format!("{} minutes", s / 60)
        } else {
            format!("{s} seconds")
        }
    }

    /// Begins a sign-in for `flow`. `Err` is the status and message of the page to show.
    pub fn start(&self, oidc: &Oidc, flow: &Flow) -> Result<Start, (u16, String)> {
        let request = flow.payload();
        let tag = flow.kind().tag();
        let name = &self.settings.name;
        let unavailable = |why: String| {
            (
                503,
                format!(
                    "Sign-in with {name} is not available right now: {why}. Try again in a minute."
                ),
            )
        };
        let d = oidc.discovered().map_err(unavailable)?;
        let Some(endpoint) = &d.authorization_endpoint else {
            return Err(unavailable(
                "the provider's discovery document names no usable authorization_endpoint".into(),
            ));
        };
        if request.len() > MAX_REQUEST {
            return Err((
                400,
                format!("This authorization request is too long to carry through the sign-in at {name} (over {MAX_REQUEST} bytes)."),
            ));
        }
        let secret = b64(&crate::oauth::random_bytes::<32>());
        let token = self.pending.issue(&digest(&[
            secret.as_bytes(),
            tag.as_bytes(),
            request.as_bytes(),
        ]));
        let state = format!("{tag}.{token}.{}", b64(request.as_bytes()));
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", &self.settings.scopes.join(" "))
            .append_pair("state", &state)
            .append_pair("nonce", &nonce(&secret))
            .append_pair("code_challenge", &challenge(&verifier(&secret)))
            .append_pair("code_challenge_method", "S256");
        // RFC 6749 §3.1: the endpoint's own query component is kept.
        let sep = if endpoint.contains('?') { '&' } else { '?' };
        Ok(Start {
            location: format!("{endpoint}{sep}{}", q.finish()),
            set_cookie: self.cookie(&secret, self.ttl.as_secs()),
        })
    }

    /// The provider sent the browser back: checks the answer, redeems the code and verifies
    /// the ID token. Refusals and the sign-in are logged (never a code, token, state or
    /// cookie).
    pub fn finish(
        &self,
        oidc: &Oidc,
        client: &net::Client,
        req: &Request,
    ) -> Result<SignedIn, Refusal> {
        let result = self.check(oidc, client, req);
        match &result {
            Ok(s) => crate::log::line(&format!(
                "{} oidc: signed in at the provider as sub {:?} ({})",
                req.client,
                printable(&s.sub, 80),
                match s.flow {
                    Flow::Consent { .. } => "for the consent page",
                    Flow::Pages { .. } => "for the owner's pages",
                }
            )),
            Err(r) => crate::log::line(&format!("{} oidc: sign-in refused: {}", req.client, r.log)),
        }
        result
    }

    fn check(&self, oidc: &Oidc, client: &net::Client, req: &Request) -> Result<SignedIn, Refusal> {
        let name = &self.settings.name;
        let kind = kind_of(req);
        let again = kind.again();
        let refusal =
            |status, message, log: &str, counted| refusal(kind, status, message, log, counted);
        let mut params: Vec<(String, String)> = Vec::new();
        for (k, v) in form_urlencoded::parse(req.query.as_deref().unwrap_or("").as_bytes()) {
            if params.iter().any(|(seen, _)| *seen == k) {
                return Err(refusal(
                    400,
                    format!(
                        "The answer from {name} repeats the parameter {}.",
                        printable(&k, 40)
                    ),
                    "a parameter is repeated",
                    false,
                ));
            }
            params.push((k.into_owned(), v.into_owned()));
        }
        let get = |k: &str| {
            params
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        // OpenID Connect Core §3.1.2.6: the provider's refusal (the owner cancelled, or the
        // provider would not sign them in). A page, never a redirect to the MCP client.
        if let Some(error) = get("error") {
            let error = printable(error, 60);
            let detail = get("error_description")
                .map(|d| format!(" ({})", printable(d, 200)))
                .unwrap_or_default();
            return Err(refusal(
                400,
                format!(
                    "The sign-in at {name} ended without signing you in: {error}{detail}. {}",
                    kind.cancelled()
                ),
                &format!("the provider answered error {error:?}"),
                false,
            ));
        }
        let d = oidc.discovered().map_err(|why| {
            refusal(
                503,
                format!(
                    "Sign-in with {name} is not available right now: {why}. Try again in a minute."
                ),
                &why,
                false,
            )
        })?;
        // RFC 9207 §2.4: a client that talks to one provider checks `iss` when it is sent,
        // and requires it when the provider says it sends it (a mix-up defence).
        let issuer = oidc.issuer();
        match get("iss") {
            Some(iss) if iss != issuer => {
                return Err(refusal(
                    400,
                    format!("The answer names the issuer {:?}, not {issuer:?} (RFC 9207): it did not come from {name}.", printable(iss, 100)),
                    "iss names another issuer",
                    true,
                ))
            }
            None if d.iss_parameter => {
                return Err(refusal(
                    400,
                    format!("The answer has no iss, which {name} says it always sends (RFC 9207): it did not come from {name}."),
                    "no iss",
                    true,
                ))
            }
            _ => {}
        }
        let Some(state) = get("state") else {
            return Err(refusal(
                400,
                format!("The answer from {name} has no state, so it cannot belong to a sign-in started here. {again}"),
                "no state",
                false,
            ));
        };
        let cookies = self.cookies(req);
        if cookies.is_empty() {
            return Err(refusal(
                400,
                format!("This browser has no sign-in in progress: its sign-in cookie is missing (the sign-in was started in another browser, or this browser does not keep cookies for this site). {again}"),
                "no sign-in cookie",
                false,
            ));
        }
        let forged = || {
            refusal(
                400,
                format!("The sign-in state is not one this server issued to this browser. {again}"),
                "the state does not verify with this browser's cookie",
                true,
            )
        };
        let (tag, rest) = state.split_once('.').ok_or_else(forged)?;
        let claimed = Kind::of_tag(tag).ok_or_else(forged)?;
        let (token, payload) = rest.split_once('.').ok_or_else(forged)?;
        let payload = URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|r| String::from_utf8(r).ok())
            .ok_or_else(forged)?;
        // The tag is signed with the payload: a state is good only for the flow it was made
        // for.
        let (outcome, secret) = spend(
            &self.pending,
            token,
            cookies,
            &[tag.as_bytes(), payload.as_bytes()],
        );
        match outcome {
            Ok(()) => {}
            Err(Refused::Invalid) => return Err(forged()),
            Err(Refused::Expired) => {
                return Err(refusal(
                    400,
                    format!(
                        "This sign-in has expired: it must be finished within {}. {again}",
                        self.ttl_text()
                    ),
                    "the state has expired",
                    false,
                ))
            }
            Err(Refused::Spent) => {
                return Err(refusal(
                    400,
                    format!("This sign-in has already been used. {again}"),
                    "the state was already used",
                    false,
                ))
            }
        }
        let Some(code) = get("code") else {
            return Err(refusal(
                400,
                format!("The answer from {name} has no code. {again}"),
                "no code",
                false,
            ));
        };
        let id_token = self.exchange(kind, client, &d, code, &verifier(&secret))?;
        let v = oidc
            .id_token_claims(&id_token, &self.settings.client_id, &nonce(&secret))
            .map_err(|why| {
                refusal(
                    403,
                    format!(
                        "The ID token from {name} was refused: {why}. {}",
                        kind.nothing()
                    ),
                    &format!("ID token refused: {why}"),
                    true,
                )
            })?;
        let email = match (v.claims.get("email"), v.claims.get("email_verified")) {
            (Some(Value::String(e)), Some(Value::Bool(true))) => Some(e.clone()),
            _ => None,
        };
        if let Err(why) = oidc.owner_rule().check(&v.sub, &v.claims) {
            let who = match &email {
                Some(e) => format!("{} (subject {})", printable(e, 80), printable(&v.sub, 80)),
                None => printable(&v.sub, 80),
            };
            return Err(refusal(
                403,
                format!(
                    "You signed in at {name} as {who}, who is not the owner of this brain. {}",
                    kind.nothing()
                ),
                &why,
                true,
            ));
        }
        let flow = match claimed {
            Kind::Consent => Flow::Consent { request: payload },
            Kind::Pages => Flow::Pages { next: payload },
        };
        Ok(SignedIn {
            sub: v.sub,
            email,
            flow,
            secret,
        })
    }

    /// Redeems the code at the token endpoint (OpenID Connect Core §3.1.3.1) and returns the
    /// ID token.
    fn exchange(
        &self,
        kind: Kind,
        client: &net::Client,
        d: &Discovered,
        code: &str,
        verifier: &str,
    ) -> Result<String, Refusal> {
        let name = &self.settings.name;
        let broken = |why: String| {
            refusal(
                kind,
                502,
                format!("{name}'s token endpoint could not be used: {why}. Try again in a minute."),
                &format!("the code exchange failed: {why}"),
                false,
            )
        };
        let Some((url, target)) = &d.token_endpoint else {
            return Err(broken(
                "the provider's discovery document names no usable token_endpoint".into(),
            ));
        };
        // OpenID Connect Discovery §3: absent means client_secret_basic. Basic is preferred
        // (RFC 6749 §2.3.1 requires servers to support it); _post when only it is offered.
        let post = d.token_auth_methods.as_ref().is_some_and(|m| {
            !m.iter().any(|x| x == "client_secret_basic")
                && m.iter().any(|x| x == "client_secret_post")
        });
        let id = &self.settings.client_id;
        let secret = self.settings.client_secret.expose();
        let mut form = form_urlencoded::Serializer::new(String::new());
        form.append_pair("grant_type", "authorization_code")
            .append_pair("code", code)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("code_verifier", verifier);
        if post {
            form.append_pair("client_id", id)
                .append_pair("client_secret", secret);
        }
        let mut request = net::Request::post(
            url,
            "application/x-www-form-urlencoded",
            form.finish().into_bytes(),
        )
        .header("Accept", "application/json");
        if !post {
            // RFC 6749 §2.3.1: the ID and secret are form-encoded before Basic.
            let enc = |s: &str| form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request = request.header(
                "Authorization",
                &format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(format!(
                        "{}:{}",
                        enc(id),
                        enc(secret)
                    ))
                ),
            );
        }
        let policy = Policy {
            target: *target,
            connect: Duration::from_secs(3),
            total: Duration::from_secs(5),
            max_body: MAX_TOKEN_RESPONSE,
            max_redirects: 0,
        };
        let resp = client
            .fetch(request, &policy)
            .map_err(|e| broken(e.to_string()))?;
        let json = super::json::object(&resp.body).ok();
        if resp.status != 200 {
            // RFC 6749 §5.2: the provider refused the code or our credentials. Counted: a
            // code nobody was given is a guess.
            let field = |k: &str| {
                json.as_ref()
                    .and_then(|j| j.get(k))
                    .and_then(Value::as_str)
                    .map(|s| printable(s, 200))
            };
            let error = field("error").unwrap_or_else(|| format!("HTTP {}", resp.status));
            let detail = field("error_description")
                .map(|d| format!(" ({d})"))
                .unwrap_or_default();
            let hint = if error == "invalid_client" {
                " Check BRAIN_OIDC_CLIENT_ID and BRAIN_OIDC_CLIENT_SECRET."
            } else {
                ""
            };
            return Err(refusal(
                kind,
                502,
                format!(
                    "{name} did not accept the sign-in: {error}{detail}.{hint} {}",
                    kind.again()
                ),
                &format!(
                    "the token endpoint answered {} {error}{detail}",
                    resp.status
                ),
                true,
            ));
        }
        resp.check(&[200], &["application/json"])
            .map_err(|e| broken(e.to_string()))?;
        match json.as_ref().and_then(|j| j.get("id_token")) {
            Some(Value::String(t)) => Ok(t.clone()),
            _ => Err(broken("its answer holds no id_token".into())),
        }
    }

    /// The token of the "signed in" consent form, bound to the browser's cookie and the
    /// request (`digest`, the consent token's binding).
    pub fn proof(&self, signed: &SignedIn, request_digest: &[u8; 32]) -> String {
        self.signed_in
            .issue(&digest(&[signed.secret.as_bytes(), request_digest]))
    }

    /// Checks and spends a "signed in" form token against the browser's cookie.
    pub fn take_proof(
        &self,
        req: &Request,
        proof: &str,
        request_digest: &[u8; 32],
    ) -> Result<(), Refused> {
        spend(&self.signed_in, proof, self.cookies(req), &[request_digest]).0
    }
}

/// Spends `token` if it is bound to one of the cookie values and `parts`; also returns the
/// cookie value it was bound to. A refusal other than [`Refused::Invalid`] names the token's
/// own fate (expired, used), whichever cookie it came with.
fn spend(
    tokens: &FormTokens,
    token: &str,
    cookies: Vec<String>,
    parts: &[&[u8]],
) -> (Result<(), Refused>, String) {
    for c in cookies {
        let mut bound: Vec<&[u8]> = vec![c.as_bytes()];
        bound.extend_from_slice(parts);
        let outcome = tokens.spend(token, &digest(&bound));
        if outcome != Err(Refused::Invalid) {
            return (outcome, c);
        }
    }
    (Err(Refused::Invalid), String::new())
}

/// Tests only (debug builds): `BRAIN_MCP_TEST_SIGNIN_TTL` seconds instead of [`TTL`], so that
/// a test can watch a pending sign-in expire.
#[cfg(debug_assertions)]
fn test_ttl() -> Option<Duration> {
    std::env::var("BRAIN_MCP_TEST_SIGNIN_TTL")
        .ok()?
        .parse::<u64>()
        .ok()
        .map(Duration::from_secs)
}

#[cfg(not(debug_assertions))]
fn test_ttl() -> Option<Duration> {
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonce_and_verifier_are_distinct_hashes_of_the_secret() {
        let v = verifier("s");
        assert_eq!(v.len(), 43);
        assert!(crate::oauth::grant::valid_verifier(&v));
        assert_ne!(v, nonce("s"));
        assert_ne!(v, verifier("t"));
        // RFC 7636 Appendix B.
        assert_eq!(
            challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    #[test]
    fn the_tag_of_a_state_chooses_only_the_wording() {
        let req = |q: &str| Request {
            method: "GET".into(),
            path: CALLBACK_PATH.into(),
            query: Some(q.into()),
            headers: Vec::new(),
            body: Vec::new(),
            client: "127.0.0.1".parse().unwrap(),
        };
        assert_eq!(kind_of(&req("code=x&state=p.t.cA")), Kind::Pages);
        assert_eq!(kind_of(&req("state=c.t.cA")), Kind::Consent);
        // Unknown, untagged or missing: the consent page's words.
        for q in ["state=x.t.cA", "state=tcA", "state=", "code=x", "state=p"] {
            assert_eq!(kind_of(&req(q)), Kind::Consent, "{q}");
        }
        assert_eq!(
            Flow::Pages {
                next: "/notes".into()
            }
            .kind()
            .tag(),
            "p"
        );
        assert_eq!(Kind::of_tag("c"), Some(Kind::Consent));
        assert_eq!(Kind::of_tag("P"), None);
    }

    #[test]
    fn the_cookie_is_host_only_and_lax() {
        let s = Settings {
            client_id: "brain".into(),
            client_secret: Secret::new("x".into()),
            scopes: vec!["openid".into()],
            name: "id.example".into(),
        };
        let https = Login::new(&s, "https://brain.example");
        assert_eq!(
            https.cookie("v", 600),
            "__Host-brain-signin=v; Path=/; Max-Age=600; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            https.redirect_uri,
            "https://brain.example/oauth/oidc/callback"
        );
        let http = Login::new(&s, "http://127.0.0.1:8080");
        assert_eq!(
            http.clear_cookie(),
            "brain-signin=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax"
        );
    }
}
