//! brain-mcp: a personal note memory served over MCP (Streamable HTTP), with its own OAuth 2.1
//! authorization server. Data flows one way: socket → http → router → handler → store.

pub mod admin;
pub mod brain;
pub mod caller;
pub mod cli;
pub mod config;
pub mod datadir;
pub mod embed;
pub mod error;
pub mod http;
pub mod limiter;
pub mod log;
pub mod mcp;
pub mod net;
pub mod oauth;
pub mod oidc;
pub mod router;
pub mod time;
pub mod web;
