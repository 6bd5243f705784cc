//! Who is calling `/mcp`, and what they may do: decided once from the bearer token by the
//! router, then handed to the MCP layer, which enforces the scope per tool call (issue 12) and
//! records the writer of every version it stores.

use crate::oauth::scope::Scope;

/// The credential behind a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Who {
    /// `BRAIN_MCP_TOKEN`.
    StaticToken,
    /// A `client_credentials` token of the pre-registered client.
    ClientCredentials { client: String },
    /// A token from a grant the owner approved.
    Grant {
        grant: String,
        client: String,
        name: Option<String>,
    },
    /// A JWT from the owner's OpenID provider.
    External { subject: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub who: Who,
    pub scope: Scope,
}

impl Caller {
    /// The static token: everything.
    pub fn static_token() -> Caller {
        Caller {
            who: Who::StaticToken,
            scope: Scope::full(),
        }
    }
}
