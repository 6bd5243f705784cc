//! Who may use the brain with a provider's token. A valid signature only says the provider
//! issued the token; any user of that provider (every GitHub account, behind a Dex GitHub
//! connector) gets one. RFC 8725 §3.8: the application "MUST validate that the subject value
//! corresponds to a valid subject". brain-mcp has one owner, so the rule names them, and it
//! must be configured.

use serde_json::{Map, Value};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OwnerRule {
    /// `BRAIN_OIDC_ALLOWED_SUBJECTS`: exact `sub` values.
    pub subjects: Vec<String>,
    /// `BRAIN_OIDC_ALLOWED_EMAILS`: `email`, compared without regard to ASCII case, and only
    /// with `email_verified: true` (the JSON boolean).
    pub emails: Vec<String>,
    /// `BRAIN_OIDC_REQUIRED_GROUP`: a member of `groups` (an array of strings).
    pub group: Option<String>,
}

impl OwnerRule {
    pub fn is_empty(&self) -> bool {
        self.subjects.is_empty() && self.emails.is_empty() && self.group.is_none()
    }

    /// A token passes when it matches any one of the rules that are set.
    pub fn check(&self, sub: &str, claims: &Map<String, Value>) -> Result<(), String> {
        if self.subjects.iter().any(|s| s == sub) {
            return Ok(());
        }
        let mut why = Vec::new();
        if !self.subjects.is_empty() {
            why.push(format!(
                "sub {:?} is not in BRAIN_OIDC_ALLOWED_SUBJECTS",
                crate::net::printable(sub, 80)
            ));
        }
        if !self.emails.is_empty() {
            let email = claims.get("email").and_then(Value::as_str);
            let verified = claims.get("email_verified") == Some(&Value::Bool(true));
            match email {
                Some(e) if self.emails.iter().any(|a| a.eq_ignore_ascii_case(e)) => {
                    if verified {
                        return Ok(());
                    }
                    why.push("the email is allowed but email_verified is not true".into());
                }
                Some(e) => why.push(format!(
                    "email {:?} is not in BRAIN_OIDC_ALLOWED_EMAILS",
                    crate::net::printable(e, 80)
                )),
                None => why.push("no email claim".into()),
            }
        }
        if let Some(g) = &self.group {
            let member = claims
                .get("groups")
                .and_then(Value::as_array)
                .is_some_and(|gs| gs.iter().any(|x| x.as_str() == Some(g)));
            if member {
                return Ok(());
            }
            why.push(format!(
                "not a member of the group {g:?} (BRAIN_OIDC_REQUIRED_GROUP)"
            ));
        }
        Err(format!("the owner rule refuses it: {}", why.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn any_configured_rule_admits() {
        let rule = OwnerRule {
            subjects: vec!["CgcyMzQyNzQ5EgZnaXRodWI".into()],
            emails: vec!["Owner@Example.com".into()],
            group: Some("brain-owners".into()),
        };
        assert!(rule
            .check("CgcyMzQyNzQ5EgZnaXRodWI", &claims(json!({})))
            .is_ok());
        assert!(rule
            .check(
                "x",
                &claims(json!({"email":"owner@example.com","email_verified":true}))
            )
            .is_ok());
        assert!(rule
            .check("x", &claims(json!({"groups":["a","brain-owners"]})))
            .is_ok());
    }

    #[test]
    fn refusals_say_why() {
        let rule = OwnerRule {
            subjects: vec!["alice".into()],
            emails: vec!["alice@example.com".into()],
            group: Some("owners".into()),
        };
        assert_eq!(
            rule.check("mallory", &claims(json!({"email":"alice@example.com","email_verified":"true","groups":"owners"}))),
            Err("the owner rule refuses it: sub \"mallory\" is not in BRAIN_OIDC_ALLOWED_SUBJECTS; the email is allowed but email_verified is not true; not a member of the group \"owners\" (BRAIN_OIDC_REQUIRED_GROUP)".into())
        );
        let only_email = OwnerRule {
            emails: vec!["alice@example.com".into()],
            ..OwnerRule::default()
        };
        assert_eq!(
            only_email.check("a", &claims(json!({"email":"bob@example.com","email_verified":true}))),
            Err("the owner rule refuses it: email \"bob@example.com\" is not in BRAIN_OIDC_ALLOWED_EMAILS".into())
        );
        assert!(OwnerRule::default().check("a", &claims(json!({}))).is_err());
    }
}
