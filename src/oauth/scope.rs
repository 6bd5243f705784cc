//! What a token may do (issue 12): read, or read and write; in every space or in some.
//!
//! Scope names a client can ask for: `brain:read`, `brain:write` (which implies read: MCP
//! 2026-07-28, "Servers MUST account for scope hierarchies, where a broader scope implies
//! narrower ones"), and `brain:space:<name>` for each space it wants (none named: every space).
//! `mcp`, the scope this server has always granted, means everything. Whatever a client asks
//! for, the owner's choice on the consent page wins, and the token response says what was
//! granted (RFC 6749 §3.3).

/// The longest list of spaces a grant may name.
pub const MAX_SPACES: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope {
    /// May call the tools that write (`remember`, `update`, `forget`).
    pub write: bool,
    /// The spaces it may see, sorted; `None`: every space.
    pub spaces: Option<Vec<String>>,
}

/// A space name follows the tag rules: 1 to 64 characters of `[a-z0-9_-]`.
pub fn valid_space(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl Scope {
    /// Everything: the static token, the pre-registered client by default, grants made before
    /// scopes existed.
    pub fn full() -> Scope {
        Scope {
            write: true,
            spaces: None,
        }
    }

    pub fn read_only() -> Scope {
        Scope {
            write: false,
            spaces: None,
        }
    }

    pub fn is_full(&self) -> bool {
        self.write && self.spaces.is_none()
    }

    /// What a client asked for in its `scope` parameter: read-only only when it asked for
    /// `brain:read` and nothing that implies writing; the spaces it named. Unknown scopes
    /// (claude.ai's `claudeai`, `openid`, `offline_access`) are ignored, never an error.
    pub fn requested(scope: Option<&str>) -> Scope {
        let words: Vec<&str> = scope.unwrap_or("").split_ascii_whitespace().collect();
        let read = words.contains(&"brain:read");
        let write = words.iter().any(|w| matches!(*w, "brain:write" | "mcp"));
        let mut spaces: Vec<String> = words
            .iter()
            .filter_map(|w| w.strip_prefix("brain:space:"))
            .filter(|s| valid_space(s))
            .map(String::from)
            .collect();
        spaces.sort();
        spaces.dedup();
        spaces.truncate(MAX_SPACES);
        Scope {
            write: write || !read,
            spaces: (!spaces.is_empty()).then_some(spaces),
        }
    }

    /// The scope string of a token response and of the stored grant: `mcp` for everything,
    /// else `brain:read`, `brain:write` and one `brain:space:NAME` per space.
    pub fn to_scope_string(&self) -> String {
        if self.is_full() {
            return "mcp".into();
        }
        let mut out = vec![if self.write {
            "brain:read brain:write"
        } else {
            "brain:read"
        }
        .to_string()];
        for s in self.spaces.iter().flatten() {
            out.push(format!("brain:space:{s}"));
        }
        out.join(" ")
    }

    /// The inverse of [`Scope::to_scope_string`], for stored grants; `None` when it is not one
    /// this server writes.
    pub fn parse_stored(s: &str) -> Option<Scope> {
        if s == "mcp" {
            return Some(Scope::full());
        }
        let mut write = false;
        let mut read = false;
        let mut spaces = Vec::new();
        for w in s.split(' ') {
            match w {
                "brain:read" => read = true,
                "brain:write" => write = true,
                _ => {
                    let space = w.strip_prefix("brain:space:")?;
                    if !valid_space(space) {
                        return None;
                    }
                    spaces.push(space.to_string());
                }
            }
        }
        if !read || spaces.len() > MAX_SPACES {
            return None;
        }
        let mut sorted = spaces.clone();
        sorted.sort();
        sorted.dedup();
        (sorted == spaces).then_some(Scope {
            write,
            spaces: (!spaces.is_empty()).then_some(spaces),
        })
    }

    /// Whether this scope lets a token see notes in `space`.
    pub fn sees(&self, space: &str) -> bool {
        self.spaces
            .as_ref()
            .is_none_or(|s| s.iter().any(|x| x == space))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requested_scopes() {
        assert_eq!(Scope::requested(None), Scope::full());
        assert_eq!(Scope::requested(Some("claudeai")), Scope::full());
        assert_eq!(Scope::requested(Some("mcp offline_access")), Scope::full());
        assert_eq!(Scope::requested(Some("brain:read")), Scope::read_only());
        assert_eq!(
            Scope::requested(Some("brain:read brain:write")),
            Scope::full()
        );
        let s = Scope::requested(Some(
            "brain:read brain:space:work brain:space:Bad brain:space:home brain:space:work",
        ));
        assert_eq!(
            s,
            Scope {
                write: false,
                spaces: Some(vec!["home".into(), "work".into()])
            }
        );
        assert_eq!(
            s.to_scope_string(),
            "brain:read brain:space:home brain:space:work"
        );
    }

    #[test]
    fn stored_strings_round_trip() {
        for s in [
            Scope::full(),
            Scope::read_only(),
            Scope {
                write: true,
                spaces: Some(vec!["a".into(), "b-c".into()]),
            },
        ] {
            assert_eq!(Scope::parse_stored(&s.to_scope_string()), Some(s.clone()));
        }
        for bad in [
            "",
            "brain:write",
            "brain:read brain:space:",
            "brain:read x",
            "brain:read brain:space:b brain:space:a",
        ] {
            assert_eq!(Scope::parse_stored(bad), None, "{bad}");
        }
        assert!(Scope::full().sees("anything"));
        let w = Scope::parse_stored("brain:read brain:space:work").unwrap();
        assert!(w.sees("work") && !w.sees("main"));
    }
}
