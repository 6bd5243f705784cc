//! `GET`/`POST /oauth/authorize`.

use super::error;
use crate::http::{Request, Response};
use crate::router::App;

#[derive(Default)]
pub struct ConsentTokens {}

impl ConsentTokens {
    pub fn new() -> ConsentTokens {
        ConsentTokens {}
    }
}

pub fn get(_app: &App, _req: &Request) -> Response {
    error(400, "unsupported_response_type", "not yet")
}

pub fn post(_app: &App, _req: &Request) -> Response {
    error(400, "unsupported_response_type", "not yet")
}
