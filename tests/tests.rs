//! Black-box tests: the real `brain-mcp` binary, started on port 0, spoken to over real
//! sockets. One crate (one test binary) with a module per area, as ripgrep does.

mod flow;
mod util;

mod attack;
mod attack_review;
mod bearer;
mod brain;
mod cimd;
mod cimd_fetch;
mod config;
mod discovery;
mod embed;
mod http;
mod mcp;
mod oauth_cc;
mod oauth_code;
mod oauth_errors;
mod oidc;
mod scopes;
mod trust;
mod web;
