//! Who is calling `/mcp`, and what they may do: decided once from the bearer token by the
//! router, then handed to the MCP layer, which enforces the scope per tool call (issue 12) and
//! records the writer of every version it stores.

use crate::brain::{Author, Filter, Writer};
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
    /// The owner reviews this grant's writes: they are stored pending (issue 12, item 5).
    pub review: bool,
}

impl Caller {
    /// The static token: everything.
    pub fn static_token() -> Caller {
        Caller {
            who: Who::StaticToken,
            scope: Scope::full(),
            review: false,
        }
    }
}

impl Caller {
    /// Who this caller is as the brain records it on every version it writes.
    pub fn writer(&self) -> Writer {
        match &self.who {
            Who::StaticToken => Writer::of_kind("static"),
            Who::ClientCredentials { client } => Writer {
                id: client.clone(),
                ..Writer::of_kind("client_credentials")
            },
            Who::Grant {
                grant,
                client,
                name,
            } => Writer {
                kind: "grant".into(),
                id: grant.clone(),
                client: client.clone(),
                name: name.clone().unwrap_or_default(),
            },
            Who::External { subject } => Writer {
                id: subject.clone(),
                ..Writer::of_kind("oidc")
            },
        }
    }

    /// What the brain lets this caller see and do: its spaces, its own pending notes, its
    /// writes recorded as its own and held for review when its grant says so.
    pub fn author(&self) -> Author {
        let by = self.writer();
        Author {
            view: Filter {
                spaces: self.scope.spaces.clone(),
                viewer: Some(by.clone()),
                ..Filter::default()
            },
            by: Some(by),
            review: self.review,
        }
    }
}
