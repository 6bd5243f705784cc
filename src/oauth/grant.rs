//! Grants `authorization_code` and `refresh_token`.

use super::client_auth::Form;
use super::error;
use super::token::Client;
use crate::http::Response;
use crate::router::App;

#[derive(Default)]
pub struct Codes {}

pub fn authorization_code(_app: &App, _client: &Client, _form: &Form) -> Response {
    error(400, "unsupported_grant_type", "not yet")
}

pub fn refresh_token(_app: &App, _client: &Client, _form: &Form) -> Response {
    error(400, "unsupported_grant_type", "not yet")
}
