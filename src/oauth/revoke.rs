//! `POST /oauth/revoke` (RFC 7009).

use super::token::authenticated_form;
use crate::http::{Request, Response};
use crate::router::App;

/// RFC 7009 §2.2: `200` whether or not the token was known ("invalid tokens do not cause an
/// error response"), so the endpoint tells nothing about which tokens exist. A token of
/// another client is left alone. Revoking a refresh token ends its whole grant.
pub fn revoke(app: &App, req: &Request) -> Response {
    let (form, client) = match authenticated_form(app, req, "token") {
        Ok(v) => v,
        Err(resp) => return resp,
    };
    let token = form.get("token").unwrap_or_default();
    match app.store.revoke_token(token, &client.id) {
        Ok(_) => super::no_store(Response::new(200)),
        Err(e) => super::token::storage_error(e),
    }
}
