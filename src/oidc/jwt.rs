//! Verifying a JWT signed by the provider (RFC 7515 compact JWS, RFC 7519 claims), for
//! access tokens (RFC 9068, or the OpenID-style tokens Dex issues) and for ID tokens (OpenID
//! Connect Core §3.1.3.7, for signing in through the provider).
//!
//! The order is fixed and every step refuses rather than guesses:
//! 1. shape: at most [`MAX_TOKEN`] bytes, three base64url segments without padding (the
//!    payload and signature are decoded after the header is judged, so that a token with
//!    `alg: none` is refused as that);
//! 2. header: a JSON object with no duplicate member; `alg` in the allow-list (never `none`,
//!    never an HMAC); no `crit` (RFC 7515 §4.1.11); no `jku`, `x5u`, `jwk` or `x5c`, which
//!    would name a key of the token's choosing (RFC 8725 §3.10); a short printable `kid`;
//! 3. key: the provider's key with that `kid` *and* that algorithm; no `kid` only when the
//!    provider publishes exactly one key for the algorithm;
//! 4. signature, over the exact ASCII of `header.payload`;
//! 5. claims, typed: a `exp` that is a string or a float is a failure, never "absent"
//!    (CVE-2026-25537 in jsonwebtoken treated it as absent); `iss` byte for byte; `aud`
//!    naming one of ours; the profile's own rules (RFC 8725 §3.12: the kinds are mutually
//!    exclusive).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{Map, Value};

use super::jwk::{self, Alg, KeySet};
use crate::net::printable;

/// The longest token considered (RFC 9068 tokens from oidc-provider are ~600 bytes, Dex's
/// with groups ~1 KB). A longer one is refused before any decoding.
pub const MAX_TOKEN: usize = 8 * 1024;

/// Which kind of JWT is expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// RFC 9068 §4: `typ` must be `at+jwt` (or `application/at+jwt`); `client_id`, `jti`
    /// and `iat` are required (§2.2).
    Rfc9068,
    /// OpenID-style access tokens (Dex, Keycloak, Authentik): `typ` absent or `JWT`, `aud` is
    /// a client ID, and with several audiences `azp` names the client that asked.
    Oidc,
    /// An ID token for signing in (OpenID Connect Core §3.1.3.7): `aud` contains our client
    /// ID, an `azp` if present is our client ID, and `nonce` equals the one we sent.
    IdToken,
}

impl Profile {
    pub fn name(self) -> &'static str {
        match self {
            Profile::Rfc9068 => "rfc9068",
            Profile::Oidc => "oidc",
            Profile::IdToken => "id_token",
        }
    }
}

/// What the verifier compares the token with.
#[derive(Debug, Clone)]
pub struct Expect<'a> {
    pub issuer: &'a str,
    /// At least one must be in `aud`. A URL also matches with or without a trailing slash.
    pub audiences: &'a [String],
    pub profile: Profile,
    pub algs: &'a [Alg],
    /// Seconds of clock skew allowed on `exp`, `nbf` and `iat`.
    pub leeway: u64,
    /// Now, in seconds since the epoch.
    pub now: u64,
    /// [`Profile::IdToken`]: the nonce sent with the authorization request.
    pub nonce: Option<&'a str>,
}

/// A verified token.
#[derive(Debug, Clone)]
pub struct Verified {
    pub alg: Alg,
    pub kid: Option<String>,
    pub sub: String,
    /// The client the token was issued to: `client_id` (RFC 9068), else `azp`, else the one
    /// audience.
    pub client: Option<String>,
    pub exp: u64,
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

/// Why a token was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reject {
    /// No key with the token's `kid` (and algorithm family) is in the set: worth one refetch
    /// of the provider's keys.
    UnknownKey(String),
    Invalid(String),
}

impl std::fmt::Display for Reject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reject::UnknownKey(m) | Reject::Invalid(m) => f.write_str(m),
        }
    }
}

fn invalid<T>(m: impl Into<String>) -> Result<T, Reject> {
    Err(Reject::Invalid(m.into()))
}

/// The cheap test the router makes before anything else: three segments, the first of which
/// starts like a base64url JSON object (`{"` is `eyJ`).
pub fn looks_like_jwt(token: &str) -> bool {
    token.starts_with("eyJ") && token.bytes().filter(|b| *b == b'.').count() == 2
}

fn segment(s: &str, what: &str) -> Result<Vec<u8>, Reject> {
    if s.is_empty() {
        return invalid(format!("the {what} segment is empty"));
    }
    // The engine refuses padding, characters outside base64url and non-zero trailing bits:
    // one spelling per value.
    URL_SAFE_NO_PAD
        .decode(s)
        .or_else(|_| invalid(format!("the {what} segment is not unpadded base64url")))
}

fn text(s: &str) -> String {
    format!("{:?}", printable(s, 80))
}

/// Verifies `token` against `keys` and `expect`. The owner rule is separate
/// ([`super::rule::OwnerRule`]).
pub fn verify(token: &str, keys: &KeySet, expect: &Expect) -> Result<Verified, Reject> {
    // 1. Shape.
    if token.len() > MAX_TOKEN {
        return invalid(format!("the token is longer than {MAX_TOKEN} bytes"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts.len() {
        3 => {}
        5 => return invalid("an encrypted token (JWE) is not accepted"),
        n => return invalid(format!("not a compact JWS: {n} segments, not 3")),
    }
    let header_bytes = segment(parts[0], "header")?;
    let header =
        super::json::object(&header_bytes).or_else(|e| invalid(format!("the header is {e}")))?;

    // 2. Header.
    let alg_name = match header.get("alg") {
        Some(Value::String(a)) => a.as_str(),
        Some(_) => return invalid("alg is not a string"),
        None => return invalid("the header has no alg"),
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return invalid("alg \"none\" is never accepted (RFC 8725 §3.2)");
    }
    let alg = match Alg::parse(alg_name).filter(|a| expect.algs.contains(a)) {
        Some(a) => a,
        None => {
            return invalid(format!(
                "alg {} is not allowed (allowed: {})",
                text(alg_name),
                expect
                    .algs
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        }
    };
    if header.contains_key("crit") {
        return invalid("the header has crit, and no extension is supported (RFC 7515 §4.1.11)");
    }
    for named in ["jku", "x5u", "jwk", "x5c"] {
        if header.contains_key(named) {
            return invalid(format!(
                "the header names its own key ({named}), which is never used (RFC 8725 §3.10)"
            ));
        }
    }
    let kid = match header.get("kid") {
        None => None,
        Some(Value::String(k)) if jwk::valid_kid(k) => Some(k.clone()),
        Some(_) => return invalid("kid is not a short printable string"),
    };
    let typ = match header.get("typ") {
        None => None,
        Some(Value::String(t)) => Some(t.to_ascii_lowercase()),
        Some(_) => return invalid("typ is not a string"),
    };
    // RFC 7515 §4.1.9: typ is a media type, compared case-insensitively, "application/"
    // omitted or not. RFC 9068's own example header says "at+JWT".
    let typ = typ
        .as_deref()
        .map(|t| t.strip_prefix("application/").unwrap_or(t));
    match (expect.profile, typ) {
        (Profile::Rfc9068, Some("at+jwt")) => {}
        (Profile::Rfc9068, other) => {
            return invalid(format!(
                "typ is {}, not at+jwt (RFC 9068 §4; BRAIN_OIDC_PROFILE=oidc accepts OpenID-style tokens)",
                other.map(text).unwrap_or_else(|| "absent".into())
            ))
        }
        (Profile::Oidc | Profile::IdToken, None | Some("jwt")) => {}
        (Profile::Oidc | Profile::IdToken, Some(other)) => {
            return invalid(format!("typ is {}, not absent or JWT", text(other)))
        }
    }

    let payload_bytes = segment(parts[1], "payload")?;
    let sig = segment(parts[2], "signature")?;

    // 3. Key.
    let same_kid: Vec<&jwk::Key> = keys
        .keys
        .iter()
        .filter(|k| kid.is_none() || k.kid == kid)
        .collect();
    let key = match &kid {
        Some(k) => {
            if same_kid.is_empty() {
                if let Some((_, why)) = keys.unusable.iter().find(|(u, _)| u == k) {
                    return invalid(format!("key {} is not usable: {why}", text(k)));
                }
                return Err(Reject::UnknownKey(format!("no key with kid {}", text(k))));
            }
            match same_kid.iter().find(|key| key.alg == alg) {
                Some(key) => *key,
                None => {
                    return invalid(format!(
                        "key {} is for {}, and the token says {}",
                        text(k),
                        same_kid[0].alg.name(),
                        alg.name()
                    ))
                }
            }
        }
        None => {
            let for_alg: Vec<&&jwk::Key> = same_kid.iter().filter(|k| k.alg == alg).collect();
            match for_alg.len() {
                1 => *for_alg[0],
                0 => return Err(Reject::UnknownKey(format!("no {} key", alg.name()))),
                n => {
                    return invalid(format!(
                        "the token has no kid and the provider publishes {n} {} keys",
                        alg.name()
                    ))
                }
            }
        }
    };

    // 4. Signature, over the bytes as sent.
    let signed = &token[..parts[0].len() + 1 + parts[1].len()];
    if !key.verify(signed.as_bytes(), &sig) {
        return invalid("the signature does not verify");
    }

    // 5. Claims.
    let claims =
        super::json::object(&payload_bytes).or_else(|e| invalid(format!("the payload is {e}")))?;
    let iss = string(&claims, "iss")?.ok_or_else(|| Reject::Invalid("no iss".into()))?;
    if iss != expect.issuer {
        return invalid(format!(
            "iss {} is not the configured issuer {} (compared byte for byte)",
            text(iss),
            text(expect.issuer)
        ));
    }
    let sub = match string(&claims, "sub")? {
        Some(s) if !s.is_empty() => s.to_string(),
        _ => return invalid("no sub"),
    };
    let aud: Vec<&str> = match claims.get("aud") {
        Some(Value::String(a)) => vec![a.as_str()],
        Some(Value::Array(list)) if !list.is_empty() => {
            let mut out = Vec::new();
            for a in list {
                match a.as_str() {
                    Some(s) => out.push(s),
                    None => return invalid("aud holds something other than strings"),
                }
            }
            out
        }
        Some(Value::Array(_)) => return invalid("aud is an empty array"),
        Some(_) => return invalid("aud is neither a string nor an array of strings"),
        None => return invalid("no aud"),
    };
    if !aud
        .iter()
        .any(|a| expect.audiences.iter().any(|want| same_audience(a, want)))
    {
        return invalid(format!(
            "aud {} names none of {} (BRAIN_OIDC_AUDIENCE)",
            aud.iter()
                .take(4)
                .map(|a| text(a))
                .collect::<Vec<_>>()
                .join(", "),
            expect
                .audiences
                .iter()
                .map(|a| text(a))
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    let now = expect.now;
    let exp = time(&claims, "exp")?.ok_or_else(|| Reject::Invalid("no exp".into()))?;
    if now >= exp.saturating_add(expect.leeway) {
        return invalid(format!("expired {} s ago", now - exp));
    }
    if let Some(nbf) = time(&claims, "nbf")? {
        if now.saturating_add(expect.leeway) < nbf {
            return invalid(format!("not valid for another {} s (nbf)", nbf - now));
        }
    }
    let iat = time(&claims, "iat")?;
    if let Some(iat) = iat {
        if iat > now.saturating_add(expect.leeway) {
            return invalid(format!("issued {} s in the future (iat)", iat - now));
        }
    }
    let azp = string(&claims, "azp")?;
    let client_id = string(&claims, "client_id")?;
    let client = match expect.profile {
        Profile::Rfc9068 => {
            if iat.is_none() {
                return invalid("no iat (RFC 9068 §2.2)");
            }
            if string(&claims, "jti")?.is_none() {
                return invalid("no jti (RFC 9068 §2.2)");
            }
            match client_id {
                Some(c) => Some(c.to_string()),
                None => return invalid("no client_id (RFC 9068 §2.2)"),
            }
        }
        Profile::Oidc => {
            // OpenID Connect Core §2: azp names the party the token was issued to when there
            // are several audiences (Dex's cross-client tokens: aud [brain-mcp, claude-ai]).
            if aud.len() > 1 && azp.is_none() {
                return invalid("several audiences and no azp");
            }
            azp.or(client_id)
                .or(if aud.len() == 1 { Some(aud[0]) } else { None })
                .map(str::to_string)
        }
        Profile::IdToken => {
            if let Some(a) = azp {
                if !expect.audiences.iter().any(|w| w == a) {
                    return invalid(format!("azp {} is not our client ID", text(a)));
                }
            } else if aud.len() > 1 {
                return invalid("several audiences and no azp");
            }
            match (expect.nonce, string(&claims, "nonce")?) {
                (None, _) => {}
                (Some(want), Some(got)) if want == got => {}
                (Some(_), _) => return invalid("the nonce is not the one sent"),
            }
            Some(expect.audiences.first().cloned().unwrap_or_default())
        }
    };
    Ok(Verified {
        alg,
        kid,
        sub,
        client,
        exp,
        header,
        claims,
    })
}

/// A URL audience also matches with or without one trailing slash (`https://b.example/mcp/`
/// is the same resource); other strings (client IDs) match exactly.
fn same_audience(got: &str, want: &str) -> bool {
    if got == want {
        return true;
    }
    want.contains("://")
        && got.strip_suffix('/').unwrap_or(got) == want.strip_suffix('/').unwrap_or(want)
}

/// A claim that must be a string when present.
fn string<'a>(claims: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, Reject> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => invalid(format!("{name} is not a string")),
    }
}

/// A NumericDate (RFC 7519 §2) that must be a non-negative integer when present. Any other
/// type is a failure, not an absence.
fn time(claims: &Map<String, Value>, name: &str) -> Result<Option<u64>, Reject> {
    match claims.get(name) {
        None => Ok(None),
        Some(Value::Number(n)) => match n.as_u64() {
            Some(t) => Ok(Some(t)),
            None => invalid(format!("{name} is not a whole number of seconds")),
        },
        Some(Value::String(_)) => invalid(format!("{name} is a string, not a number")),
        Some(_) => invalid(format!("{name} is not a number")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use ring::rand::SystemRandom;
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_FIXED_SIGNING};
    use serde_json::json;

    pub const ISS: &str = "https://id.example";
    pub const NOW: u64 = 1_800_000_000;

    /// A P-256 key generated for the test, its kid, and a set holding its public half.
    pub struct Signer {
        pub pair: EcdsaKeyPair,
        pub kid: String,
    }

    impl Signer {
        pub fn new(kid: &str) -> Signer {
            let rng = SystemRandom::new();
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
            let pair =
                EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                    .unwrap();
            Signer {
                pair,
                kid: kid.into(),
            }
        }

        pub fn jwk(&self) -> Value {
            let p = self.pair.public_key().as_ref();
            json!({"kty":"EC","crv":"P-256","kid":self.kid,"use":"sig","alg":"ES256",
                   "x":URL_SAFE_NO_PAD.encode(&p[1..33]),"y":URL_SAFE_NO_PAD.encode(&p[33..65])})
        }

        pub fn set(&self) -> KeySet {
            jwk::parse_set(json!({"keys":[self.jwk()]}).to_string().as_bytes()).unwrap()
        }

        /// Signs the raw header and payload text as given (so tests can send duplicates).
        pub fn sign_raw(&self, header: &str, payload: &str) -> String {
            let input = format!(
                "{}.{}",
                URL_SAFE_NO_PAD.encode(header),
                URL_SAFE_NO_PAD.encode(payload)
            );
            let sig = self
                .pair
                .sign(&SystemRandom::new(), input.as_bytes())
                .unwrap();
            format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.as_ref()))
        }

        pub fn sign(&self, header: Value, claims: Value) -> String {
            self.sign_raw(&header.to_string(), &claims.to_string())
        }

        pub fn header(&self) -> Value {
            json!({"alg":"ES256","typ":"at+jwt","kid":self.kid})
        }
    }

    pub fn claims() -> Value {
        json!({"iss":ISS,"sub":"alice","aud":"https://brain.example/mcp","exp":NOW+300,
               "iat":NOW,"jti":"j1","client_id":"cli","scope":"mcp"})
    }

    fn expect<'a>(aud: &'a [String], profile: Profile) -> Expect<'a> {
        Expect {
            issuer: ISS,
            audiences: aud,
            profile,
            algs: &[Alg::Rs256, Alg::Es256],
            leeway: 60,
            now: NOW,
            nonce: None,
        }
    }

    fn aud() -> Vec<String> {
        vec!["https://brain.example/mcp".into()]
    }

    fn check(s: &Signer, token: &str, profile: Profile) -> Result<Verified, Reject> {
        verify(token, &s.set(), &expect(&aud(), profile))
    }

    fn refused(s: &Signer, token: &str, profile: Profile) -> String {
        match check(s, token, profile) {
            Err(Reject::Invalid(m)) => m,
            other => panic!("expected a refusal, got {other:?}"),
        }
    }

    fn with(mut v: Value, k: &str, x: Value) -> Value {
        v[k] = x;
        v
    }

    fn without(mut v: Value, k: &str) -> Value {
        v.as_object_mut().unwrap().remove(k);
        v
    }

    #[test]
    fn an_rfc9068_token_verifies() {
        let s = Signer::new("k1");
        let v = check(&s, &s.sign(s.header(), claims()), Profile::Rfc9068).unwrap();
        assert_eq!(v.sub, "alice");
        assert_eq!(v.client.as_deref(), Some("cli"));
        assert_eq!(v.exp, NOW + 300);
        // RFC 9068's own example casing, and the long media type.
        for typ in ["at+JWT", "application/at+jwt"] {
            let t = s.sign(with(s.header(), "typ", json!(typ)), claims());
            check(&s, &t, Profile::Rfc9068).unwrap();
        }
        // A trailing slash on a URL audience is the same resource.
        let t = s.sign(
            s.header(),
            with(
                claims(),
                "aud",
                json!(["other", "https://brain.example/mcp/"]),
            ),
        );
        check(&s, &t, Profile::Rfc9068).unwrap();
    }

    #[test]
    fn the_profiles_are_mutually_exclusive() {
        let s = Signer::new("k1");
        let id_like = s.sign(json!({"alg":"ES256","kid":"k1"}), claims());
        assert_eq!(
            refused(&s, &id_like, Profile::Rfc9068),
            "typ is absent, not at+jwt (RFC 9068 §4; BRAIN_OIDC_PROFILE=oidc accepts OpenID-style tokens)"
        );
        check(&s, &id_like, Profile::Oidc).unwrap();
        let at = s.sign(s.header(), claims());
        assert_eq!(
            refused(&s, &at, Profile::Oidc),
            "typ is \"at+jwt\", not absent or JWT"
        );
        let jwt = s.sign(with(s.header(), "typ", json!("JWT")), claims());
        assert!(refused(&s, &jwt, Profile::Rfc9068).starts_with("typ is \"jwt\", not at+jwt"));
        for missing in ["client_id", "jti", "iat"] {
            let t = s.sign(s.header(), without(claims(), missing));
            assert!(refused(&s, &t, Profile::Rfc9068).starts_with(&format!("no {missing}")));
        }
    }

    #[test]
    fn oidc_profile_needs_azp_with_several_audiences() {
        let s = Signer::new("k1");
        let h = json!({"alg":"ES256","kid":"k1"});
        let c = without(without(claims(), "client_id"), "jti");
        let multi = with(
            c.clone(),
            "aud",
            json!(["https://brain.example/mcp", "claude-ai"]),
        );
        assert_eq!(
            refused(&s, &s.sign(h.clone(), multi.clone()), Profile::Oidc),
            "several audiences and no azp"
        );
        let v = check(
            &s,
            &s.sign(h.clone(), with(multi, "azp", json!("claude-ai"))),
            Profile::Oidc,
        )
        .unwrap();
        assert_eq!(v.client.as_deref(), Some("claude-ai"));
        let v = check(&s, &s.sign(h, c), Profile::Oidc).unwrap();
        assert_eq!(v.client.as_deref(), Some("https://brain.example/mcp"));
    }

    #[test]
    fn id_tokens_check_the_nonce_and_azp() {
        let s = Signer::new("k1");
        let h = json!({"alg":"ES256","kid":"k1"});
        let aud = vec!["webapp".to_string()];
        let c = json!({"iss":ISS,"sub":"alice","aud":"webapp","exp":NOW+60,"iat":NOW,"nonce":"n1"});
        let mut e = expect(&aud, Profile::IdToken);
        e.nonce = Some("n1");
        verify(&s.sign(h.clone(), c.clone()), &s.set(), &e).unwrap();
        e.nonce = Some("n2");
        let r = verify(&s.sign(h.clone(), c.clone()), &s.set(), &e).unwrap_err();
        assert_eq!(r.to_string(), "the nonce is not the one sent");
        e.nonce = Some("n1");
        let r = verify(
            &s.sign(h.clone(), with(c.clone(), "azp", json!("other"))),
            &s.set(),
            &e,
        )
        .unwrap_err();
        assert_eq!(r.to_string(), "azp \"other\" is not our client ID");
        let r = verify(&s.sign(h, without(c, "nonce")), &s.set(), &e).unwrap_err();
        assert_eq!(r.to_string(), "the nonce is not the one sent");
    }

    #[test]
    fn claims_are_checked_by_type_and_value() {
        let s = Signer::new("k1");
        let h = s.header();
        let cases: Vec<(Value, &str)> = vec![
            (with(claims(), "iss", json!("https://id.example/")), "iss \"https://id.example/\" is not the configured issuer \"https://id.example\" (compared byte for byte)"),
            (with(claims(), "iss", json!("https://ID.example")), "iss \"https://ID.example\" is not the configured issuer"),
            (without(claims(), "iss"), "no iss"),
            (with(claims(), "aud", json!("https://other.example/mcp")), "aud \"https://other.example/mcp\" names none of \"https://brain.example/mcp\" (BRAIN_OIDC_AUDIENCE)"),
            (with(claims(), "aud", json!([])), "aud is an empty array"),
            (with(claims(), "aud", json!([1])), "aud holds something other than strings"),
            (without(claims(), "aud"), "no aud"),
            (without(claims(), "sub"), "no sub"),
            (with(claims(), "sub", json!("")), "no sub"),
            (with(claims(), "sub", json!(7)), "sub is not a string"),
            (without(claims(), "exp"), "no exp"),
            (with(claims(), "exp", json!("9999999999")), "exp is a string, not a number"),
            (with(claims(), "exp", json!(9999999999.5)), "exp is not a whole number of seconds"),
            (with(claims(), "exp", json!(-1)), "exp is not a whole number of seconds"),
            (with(claims(), "exp", json!(null)), "exp is not a number"),
            (with(claims(), "exp", json!(NOW - 61)), "expired 61 s ago"),
            (with(claims(), "nbf", json!("0")), "nbf is a string, not a number"),
            (with(claims(), "nbf", json!(NOW + 61)), "not valid for another 61 s (nbf)"),
            (with(claims(), "iat", json!(NOW + 61)), "issued 61 s in the future (iat)"),
            (with(claims(), "client_id", json!(["x"])), "client_id is not a string"),
        ];
        for (c, want) in cases {
            let got = refused(&s, &s.sign(h.clone(), c.clone()), Profile::Rfc9068);
            assert!(got.starts_with(want), "{c}: got {got:?}, want {want:?}");
        }
        // Inside the leeway.
        check(
            &s,
            &s.sign(h.clone(), with(claims(), "exp", json!(NOW - 59))),
            Profile::Rfc9068,
        )
        .unwrap();
        check(
            &s,
            &s.sign(h, with(claims(), "nbf", json!(NOW + 59))),
            Profile::Rfc9068,
        )
        .unwrap();
    }

    #[test]
    fn headers_are_checked() {
        let s = Signer::new("k1");
        let c = claims();
        let cases: Vec<(Value, &str)> = vec![
            (
                json!({"alg":"none","typ":"at+jwt","kid":"k1"}),
                "alg \"none\" is never accepted",
            ),
            (
                json!({"alg":"NONE","typ":"at+jwt"}),
                "alg \"none\" is never accepted",
            ),
            (
                json!({"alg":"HS256","typ":"at+jwt","kid":"k1"}),
                "alg \"HS256\" is not allowed (allowed: RS256, ES256)",
            ),
            (
                json!({"alg":"ES384","typ":"at+jwt","kid":"k1"}),
                "alg \"ES384\" is not allowed",
            ),
            (
                json!({"alg":["ES256"],"typ":"at+jwt","kid":"k1"}),
                "alg is not a string",
            ),
            (json!({"typ":"at+jwt","kid":"k1"}), "the header has no alg"),
            (
                json!({"alg":"ES256","typ":"at+jwt","kid":"k1","crit":["exp"]}),
                "the header has crit",
            ),
            (
                json!({"alg":"ES256","typ":"at+jwt","kid":"k1","jku":"https://evil.example/k"}),
                "the header names its own key (jku)",
            ),
            (
                json!({"alg":"ES256","typ":"at+jwt","kid":"k1","jwk":{}}),
                "the header names its own key (jwk)",
            ),
            (
                json!({"alg":"ES256","typ":"at+jwt","kid":"k1","x5u":"x"}),
                "the header names its own key (x5u)",
            ),
            (
                json!({"alg":"ES256","typ":"at+jwt","kid":"k1","x5c":[]}),
                "the header names its own key (x5c)",
            ),
            (
                json!({"alg":"ES256","typ":"at+jwt","kid":"k 1"}),
                "kid is not a short printable string",
            ),
            (
                json!({"alg":"ES256","typ":"at+jwt","kid":"k".repeat(129)}),
                "kid is not a short printable string",
            ),
            (
                json!({"alg":"ES256","typ":7,"kid":"k1"}),
                "typ is not a string",
            ),
            (
                json!({"alg":"RS256","typ":"at+jwt","kid":"k1"}),
                "key \"k1\" is for ES256, and the token says RS256",
            ),
        ];
        for (h, want) in cases {
            let got = refused(&s, &s.sign(h.clone(), c.clone()), Profile::Rfc9068);
            assert!(got.starts_with(want), "{h}: got {got:?}, want {want:?}");
        }
        // Not in the allow-list even though a key exists.
        let a = aud();
        let e = Expect {
            algs: &[Alg::Rs256],
            ..expect(&a, Profile::Rfc9068)
        };
        let r = verify(&s.sign(s.header(), c.clone()), &s.set(), &e).unwrap_err();
        assert_eq!(
            r.to_string(),
            "alg \"ES256\" is not allowed (allowed: RS256)"
        );
    }

    #[test]
    fn keys_are_found_by_kid_or_refused() {
        let s = Signer::new("k1");
        let t = s.sign(with(s.header(), "kid", json!("k2")), claims());
        assert_eq!(
            check(&s, &t, Profile::Rfc9068).unwrap_err(),
            Reject::UnknownKey("no key with kid \"k2\"".into())
        );
        // No kid: fine with one key, refused with two.
        let t = s.sign(json!({"alg":"ES256","typ":"at+jwt"}), claims());
        check(&s, &t, Profile::Rfc9068).unwrap();
        let other = Signer::new("k2");
        let two = jwk::parse_set(
            json!({"keys":[s.jwk(), other.jwk()]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let r = verify(&t, &two, &expect(&aud(), Profile::Rfc9068)).unwrap_err();
        assert_eq!(
            r.to_string(),
            "the token has no kid and the provider publishes 2 ES256 keys"
        );
        // A key the provider publishes but we skipped: refused with its reason, no refetch.
        let mut with_skipped = s.set();
        with_skipped.unusable.push((
            "small".into(),
            "an RSA key of 1024 bits (at least 2048)".into(),
        ));
        let small = s.sign(with(s.header(), "kid", json!("small")), claims());
        let r = verify(&small, &with_skipped, &expect(&aud(), Profile::Rfc9068)).unwrap_err();
        assert_eq!(
            r,
            Reject::Invalid(
                "key \"small\" is not usable: an RSA key of 1024 bits (at least 2048)".into()
            )
        );
        // No keys at all.
        let r = verify(&t, &KeySet::default(), &expect(&aud(), Profile::Rfc9068)).unwrap_err();
        assert_eq!(r, Reject::UnknownKey("no ES256 key".into()));
        // Signed by another key under our kid.
        let forged = Signer {
            kid: "k1".into(),
            ..Signer::new("x")
        };
        let t = forged.sign(forged.header(), claims());
        assert_eq!(
            refused(&s, &t, Profile::Rfc9068),
            "the signature does not verify"
        );
    }

    #[test]
    fn signatures_and_segments_are_strict() {
        let s = Signer::new("k1");
        let good = s.sign(s.header(), claims());
        let parts: Vec<&str> = good.split('.').collect();
        // Payload altered after signing.
        let other = URL_SAFE_NO_PAD.encode(with(claims(), "sub", json!("mallory")).to_string());
        let t = format!("{}.{other}.{}", parts[0], parts[2]);
        assert_eq!(
            refused(&s, &t, Profile::Rfc9068),
            "the signature does not verify"
        );
        // A flipped signature bit.
        let mut sig = URL_SAFE_NO_PAD.decode(parts[2]).unwrap();
        sig[10] ^= 1;
        let t = format!("{}.{}.{}", parts[0], parts[1], URL_SAFE_NO_PAD.encode(&sig));
        assert_eq!(
            refused(&s, &t, Profile::Rfc9068),
            "the signature does not verify"
        );
        // A DER-encoded ECDSA signature of the same input.
        let rng = SystemRandom::new();
        let der_pair = {
            use ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING;
            let pkcs8 =
                EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
            EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap()
        };
        let p = der_pair.public_key().as_ref();
        let der_set = jwk::parse_set(
            json!({"keys":[{"kty":"EC","crv":"P-256","kid":"k1","x":URL_SAFE_NO_PAD.encode(&p[1..33]),"y":URL_SAFE_NO_PAD.encode(&p[33..65])}]})
                .to_string()
                .as_bytes(),
        )
        .unwrap();
        let input = format!("{}.{}", parts[0], parts[1]);
        let der = der_pair.sign(&rng, input.as_bytes()).unwrap();
        let t = format!("{input}.{}", URL_SAFE_NO_PAD.encode(der.as_ref()));
        let r = verify(&t, &der_set, &expect(&aud(), Profile::Rfc9068)).unwrap_err();
        assert_eq!(r.to_string(), "the signature does not verify");
        // Shapes.
        let cases = [
            (format!("{good}.x"), "not a compact JWS: 4 segments, not 3"),
            (
                "a.b.c.d.e".to_string(),
                "an encrypted token (JWE) is not accepted",
            ),
            (
                format!("{}.{}.", parts[0], parts[1]),
                "the signature segment is empty",
            ),
            (
                format!("{}=.{}.{}", parts[0], parts[1], parts[2]),
                "the header segment is not unpadded base64url",
            ),
            (
                format!("{}.{}!.{}", parts[0], parts[1], parts[2]),
                "the payload segment is not unpadded base64url",
            ),
            (
                format!("{}.{}.{}", parts[0], "x".repeat(MAX_TOKEN), parts[2]),
                "the token is longer than 8192 bytes",
            ),
        ];
        for (t, want) in cases {
            assert_eq!(refused(&s, &t, Profile::Rfc9068), want);
        }
    }

    #[test]
    fn duplicate_members_and_trailing_text_are_refused_even_when_signed() {
        let s = Signer::new("k1");
        let c = claims().to_string();
        let t = s.sign_raw(
            r#"{"alg":"ES256","typ":"at+jwt","kid":"k1","alg":"none"}"#,
            &c,
        );
        assert!(refused(&s, &t, Profile::Rfc9068).contains(r#"duplicate member "alg""#));
        let dup = c.replacen('{', r#"{"sub":"mallory","#, 1);
        let t = s.sign_raw(&s.header().to_string(), &dup);
        let got = refused(&s, &t, Profile::Rfc9068);
        assert!(
            got.starts_with("the payload is not JSON (duplicate member \"sub\""),
            "{got}"
        );
        let t = s.sign_raw(&s.header().to_string(), &format!("{c} garbage"));
        assert_eq!(
            refused(&s, &t, Profile::Rfc9068),
            "the payload is text after the JSON value"
        );
        let t = s.sign_raw(&format!("{} x", s.header()), &c);
        assert_eq!(
            refused(&s, &t, Profile::Rfc9068),
            "the header is text after the JSON value"
        );
    }

    #[test]
    fn the_router_shape_test() {
        assert!(looks_like_jwt("eyJhbGciOi.eyJ.sig"));
        assert!(!looks_like_jwt("bma_abc"));
        assert!(!looks_like_jwt("eyJ.a"));
        assert!(!looks_like_jwt("eyJ.a.b.c"));
    }
}
