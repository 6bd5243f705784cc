//! JSON objects parsed strictly: a member name that appears twice anywhere is an error, and
//! nothing may follow the value.
//!
//! RFC 7515 §4 and RFC 7519 §4 let a JWS/JWT parser either reject duplicate Header Parameter
//! and claim names or take the last one; parsers that disagree (one takes the first `alg` or
//! `sub`, another the last) are how a token means one thing to a check and another to its
//! user. serde_json's `Value` silently keeps the last member, so we visit maps ourselves.

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Parses `bytes` as one JSON object, refusing duplicate member names at any depth.
pub fn object(bytes: &[u8]) -> Result<Map<String, Value>, String> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let v = Strict
        .deserialize(&mut de)
        .map_err(|e| format!("not JSON ({})", brief(&e.to_string())))?;
    de.end()
        .map_err(|_| "text after the JSON value".to_string())?;
    match v {
        Value::Object(m) => Ok(m),
        _ => Err("not a JSON object".into()),
    }
}

/// serde_json's messages name a position, and ours may name a member: short and printable.
fn brief(s: &str) -> String {
    crate::net::printable(s, 120)
}

struct Strict;

impl<'de> DeserializeSeed<'de> for Strict {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(StrictVisitor)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Value, E> {
        Ok(Number::from_f64(n)
            .map(Value::Number)
            .unwrap_or(Value::Null))
    }
    fn visit_str<E>(self, s: &str) -> Result<Value, E> {
        Ok(Value::String(s.to_string()))
    }
    fn visit_string<E>(self, s: String) -> Result<Value, E> {
        Ok(Value::String(s))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Strict)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(k) = map.next_key::<String>()? {
            if out.contains_key(&k) {
                return Err(de::Error::custom(format!(
                    "duplicate member {:?}",
                    crate::net::printable(&k, 40)
                )));
            }
            let v = map.next_value_seed(Strict)?;
            out.insert(k, v);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_parse() {
        let m = object(br#"{"a":1,"b":[true,null,"x",{"c":-2.5}]}"#).unwrap();
        assert_eq!(m["a"], 1);
        assert_eq!(m["b"][3]["c"], -2.5);
    }

    #[test]
    fn duplicates_at_any_depth_are_refused() {
        let e = object(br#"{"alg":"RS256","alg":"none"}"#).unwrap_err();
        assert!(e.contains(r#"duplicate member "alg""#), "{e}");
        let e = object(br#"{"a":{"b":1,"b":2}}"#).unwrap_err();
        assert!(e.contains(r#"duplicate member "b""#), "{e}");
        let e = object(br#"{"a":[{"x":1,"x":1}]}"#).unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
        // An escaped spelling is the same name.
        let e = object(br#"{"sub":"a","su\u0062":"b"}"#).unwrap_err();
        assert!(e.contains("duplicate"), "{e}");
    }

    #[test]
    fn other_shapes_are_refused() {
        assert_eq!(object(b"[1]").unwrap_err(), "not a JSON object");
        assert_eq!(object(b"{} x").unwrap_err(), "text after the JSON value");
        assert!(object(b"{\"a\":").unwrap_err().starts_with("not JSON"));
        assert!(object(&[b'['; 1000]).unwrap_err().starts_with("not JSON"));
    }
}
