//! Discovery documents: RFC 9728 (protected resource) and RFC 8414 (authorization server).

use serde_json::{json, Value};

use crate::router::App;

/// RFC 9728 §3.2. Served at `/.well-known/oauth-protected-resource` and at the path-inserted
/// `/.well-known/oauth-protected-resource/mcp`, which is where clients look first for a
/// resource at `/mcp` (claude.ai guesses `<origin>/authorize` when it is missing).
pub fn protected_resource(app: &App) -> Value {
    let mut servers = vec![app.issuer.clone()];
    let mut scopes = vec!["mcp".to_string()];
    // BRAIN_PRM_AUTHORIZATION_SERVERS=self,external: the OpenID provider after our own server
    // (RFC 9728 §2 allows several; the client picks), with the scopes that provider needs.
    if let Some(o) = app.cfg.oidc.as_ref().filter(|o| o.prm_lists_issuer) {
        servers.push(o.issuer.clone());
        scopes.extend(o.scopes.iter().filter(|s| *s != "mcp").cloned());
    }
    json!({
        "resource": app.resource,
        "authorization_servers": servers,
        "bearer_methods_supported": ["header"],
        "scopes_supported": scopes,
        "resource_name": "brain-mcp",
    })
}

/// RFC 8414 §2. `issuer` is byte-identical to the `authorization_servers` entry above: both
/// SDK clients and claude.ai compare them exactly.
pub fn authorization_server(app: &App) -> Value {
    let iss = &app.issuer;
    let registration = app.registration_enabled();
    let consent = app.owner_can_consent();
    // claude.ai uses CIMD only when the flag is true *and* `none` is listed
    // (registration-and-clients.md §2.1); both follow whether the owner can consent.
    let mut auth_methods = vec!["client_secret_post", "client_secret_basic"];
    if registration || consent {
        auth_methods.push("none");
    }
    let mut doc = json!({
        "issuer": iss,
        "authorization_endpoint": format!("{iss}/oauth/authorize"),
        "token_endpoint": format!("{iss}/oauth/token"),
        "revocation_endpoint": format!("{iss}/oauth/revoke"),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": crate::router::GRANT_TYPES,
        "token_endpoint_auth_methods_supported": auth_methods,
        "revocation_endpoint_auth_methods_supported": auth_methods,
        "code_challenge_methods_supported": ["S256"],
        // `offline_access` here, never in the protected-resource metadata (MCP 2026-07-28:
        // servers "SHOULD NOT include offline_access in ... Protected Resource Metadata
        // scopes_supported"). ChatGPT asks for it; refresh tokens are issued either way, since
        // claude.ai never asks.
        "scopes_supported": ["mcp", "offline_access"],
        "authorization_response_iss_parameter_supported": true,
        "client_id_metadata_document_supported": consent,
    });
    if registration {
        doc["registration_endpoint"] = json!(format!("{iss}/oauth/register"));
    }
    doc
}
