//! `POST /oauth/register` (RFC 7591).

use super::error;
use crate::http::{Request, Response};
use crate::router::App;

#[derive(Default)]
pub struct RegistrationLimiter {}

pub fn register(_app: &App, _req: &Request) -> Response {
    error(400, "invalid_client_metadata", "not yet")
}
