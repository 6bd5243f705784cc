//! Form bodies and client credentials (RFC 6749 §2.3.1): `client_secret_basic` and
//! `client_secret_post`, decoded strictly.

use std::collections::HashMap;

use base64::Engine;

use crate::http::Request;

/// A decoded `application/x-www-form-urlencoded` body. A parameter sent twice is an error
/// (RFC 6749 §3.2: "Request and response parameters MUST NOT be included more than once"),
/// except `resource`, which RFC 8707 allows to repeat.
#[derive(Debug, Default)]
pub struct Form {
    params: HashMap<String, String>,
    pub resources: Vec<String>,
}

impl Form {
    pub fn parse(body: &[u8]) -> Result<Form, String> {
        let mut form = Form::default();
        for (k, v) in form_urlencoded::parse(body) {
            if k == "resource" {
                form.resources.push(v.into_owned());
                continue;
            }
            if form.params.insert(k.to_string(), v.into_owned()).is_some() {
                return Err(format!("parameter {} is repeated", super::quote(&k)));
            }
        }
        Ok(form)
    }

    /// A parameter, with an empty value treated as absent (RFC 6749 §3.1).
    pub fn get(&self, k: &str) -> Option<&str> {
        self.params
            .get(k)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// `Content-Type: application/x-www-form-urlencoded`, parameters such as charset allowed.
pub fn is_form(req: &Request) -> bool {
    req.header("content-type")
        .map(|ct| {
            ct.split(';')
                .next()
                .unwrap_or("")
                .trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
        .unwrap_or(false)
}

/// How the client presented itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Method {
    Basic,
    Post,
    /// A public client: `client_id` in the body and no secret.
    None,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presented {
    pub client_id: String,
    pub secret: Option<String>,
    pub method: Method,
}

/// Why the presented credentials are unusable.
#[derive(Debug, PartialEq, Eq)]
pub enum CredError {
    /// `400 invalid_request`: the request is malformed.
    BadRequest(&'static str),
    /// `401 invalid_client`: missing or undecodable credentials.
    Unauthorized,
}

/// Reads client credentials from the `Authorization: Basic` header and the form body.
pub fn presented(req: &Request, form: &Form) -> Result<Presented, CredError> {
    let body_id = form.get("client_id");
    let body_secret = form.get("client_secret");
    match req.header_count("authorization") {
        0 => {}
        1 => {
            let raw = req.header("authorization").ok_or(CredError::Unauthorized)?;
            let (id, secret) = decode_basic(raw).ok_or(CredError::Unauthorized)?;
            if body_secret.is_some() {
                return Err(CredError::BadRequest(
                    "client credentials were sent both in the Authorization header and in the body; use one",
                ));
            }
            // Some clients send client_id in the body as well; an equal one is harmless.
            if body_id.is_some_and(|b| b != id) {
                return Err(CredError::BadRequest(
                    "client_id in the body differs from the one in the Authorization header",
                ));
            }
            return Ok(Presented {
                client_id: id,
                secret: Some(secret),
                method: Method::Basic,
            });
        }
        _ => return Err(CredError::BadRequest("Authorization header is repeated")),
    }
    match (body_id, body_secret) {
        (Some(id), Some(secret)) => Ok(Presented {
            client_id: id.to_string(),
            secret: Some(secret.to_string()),
            method: Method::Post,
        }),
        (Some(id), None) => Ok(Presented {
            client_id: id.to_string(),
            secret: None,
            method: Method::None,
        }),
        _ => Err(CredError::Unauthorized),
    }
}

/// RFC 6749 §2.3.1 and RFC 7617: `Basic base64(urlencode(id) ":" urlencode(secret))`.
/// Strict: bad base64, no colon, a bad percent-escape, invalid UTF-8 or an empty ID or
/// secret is `None`. Clients that skip the form-encoding agree with us as long as IDs and
/// secrets stay within `[A-Za-z0-9._~-]`, which is why we only issue such.
pub fn decode_basic(header: &str) -> Option<(String, String)> {
    let (scheme, rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .ok()?;
    let colon = raw.iter().position(|b| *b == b':')?;
    let id = form_decode(&raw[..colon])?;
    let secret = form_decode(&raw[colon + 1..])?;
    if id.is_empty() || secret.is_empty() {
        return None;
    }
    Some((id, secret))
}

/// Strict application/x-www-form-urlencoded decoding of one value: `+` is a space, `%XX`
/// must be two hex digits, the result must be UTF-8.
pub fn form_decode(raw: &[u8]) -> Option<String> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'%' => {
                let hi = hex_val(*raw.get(i + 1)?)?;
                let lo = hex_val(*raw.get(i + 2)?)?;
                out.push(hi * 16 + lo);
                i += 3;
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b64(s: &[u8]) -> String {
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }

    #[test]
    fn basic_decoding_is_strict() {
        assert_eq!(
            decode_basic(&b64(b"my-client:s3cret")),
            Some(("my-client".into(), "s3cret".into()))
        );
        // Form-encoded ID and secret (RFC 6749 §2.3.1).
        assert_eq!(
            decode_basic(&b64(b"a%3Ab:c%2Bd+e")),
            Some(("a:b".into(), "c+d e".into()))
        );
        assert_eq!(
            decode_basic(&b64(b"id:a:b")),
            Some(("id".into(), "a:b".into()))
        );
        assert_eq!(
            decode_basic("basic bXktY2xpZW50OnMzY3JldA=="),
            Some(("my-client".into(), "s3cret".into()))
        );
        assert_eq!(decode_basic(&b64(b":")), None);
        assert_eq!(decode_basic(&b64(b"id:")), None);
        assert_eq!(decode_basic(&b64(b":secret")), None);
        assert_eq!(decode_basic(&b64(b"nocolon")), None);
        assert_eq!(decode_basic(&b64(b"id:%zz")), None);
        assert_eq!(decode_basic(&b64(b"id:%4")), None);
        assert_eq!(decode_basic(&b64(b"id:%ff")), None);
        assert_eq!(decode_basic(&b64(b"id:\xff")), None);
        assert_eq!(decode_basic("Basic !!!notbase64"), None);
        assert_eq!(decode_basic("Bearer abc"), None);
        assert_eq!(decode_basic("Basic"), None);
    }

    #[test]
    fn form_rejects_repeats_but_not_resource() {
        assert!(Form::parse(b"a=1&a=2").is_err());
        let f = Form::parse(b"resource=x&resource=y&grant_type=").unwrap();
        assert_eq!(f.resources, vec!["x", "y"]);
        assert_eq!(f.get("grant_type"), None);
    }
}
