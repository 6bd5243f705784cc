//! `POST /oauth/revoke` (RFC 7009).

use super::error;
use crate::http::{Request, Response};
use crate::router::App;

pub fn revoke(_app: &App, _req: &Request) -> Response {
    error(400, "unsupported_token_type", "not yet")
}
