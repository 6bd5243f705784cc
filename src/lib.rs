//! brain-mcp: a personal note memory served over MCP (Streamable HTTP), with its own OAuth 2.1
//! authorization server. Data flows one way: socket → http → router → handler → store.

pub mod brain;
pub mod http;
pub mod mcp;
