//! MCP over Streamable HTTP: JSON-RPC framing, protocol revisions and the brain's tools.
//!
//! API CONTRACT: the router calls [`handle`] for an authenticated `POST /mcp` whose `Origin` and
//! `Host` have already been checked. Everything else about the request (Content-Type, Accept,
//! MCP-Protocol-Version, Mcp-Method, the JSON-RPC body) is this module's job.

use crate::brain::Brain;
use crate::http::{Request, Response};

pub struct Mcp {
    pub brain: std::sync::Arc<Brain>,
}

impl Mcp {
    pub fn new(brain: std::sync::Arc<Brain>) -> Mcp {
        Mcp { brain }
    }
}

pub fn handle(_mcp: &Mcp, _req: &Request) -> Response {
    Response::json(
        500,
        &serde_json::json!({"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"not implemented"}}),
    )
}
