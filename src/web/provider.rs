//! Signing in to the owner's pages through the OpenID provider (`BRAIN_OIDC_LOGIN=on`; issue
//! 13 item 2 with issue 11 item 3).
//!
//! The relying party is the consent page's (src/oidc/login.rs): the same button, cookie,
//! signed `state`, callback (`/oauth/oidc/callback`), ID token checks and owner rule. What
//! differs is only what the state carries and what happens on the way back:
//!
//! - `/signin` shows "Sign in with <provider>" beside the password form, or alone when there
//!   is no owner password. The button's form has its own single-use token (a token of the
//!   password form does not start a sign-in, nor the reverse).
//! - Its `state` is tagged for the pages (`Flow::Pages`) and carries the `next` path, made a
//!   path on this server before it is signed. The tag is under the signature, so a state
//!   from the consent page's sign-in cannot open a session here, and one made here cannot
//!   approve an MCP client.
//! - On the callback the verified owner gets a session ([`super::start_session`], as with the
//!   password) and goes on to `next`, checked again. The answer is a page that moves on by
//!   itself (`<meta http-equiv="refresh">`), not a `303`: the way back was started by the
//!   provider's page, another site, so every request of that navigation, the redirects that
//!   follow it included, is cross-site (RFC 6265bis, "Same-site and Cross-site Requests":
//!   the initiator's site, and the redirect chain), and a browser withholds a
//!   `SameSite=Strict` cookie, like the session's, from it. A `303` to `/notes` would arrive
//!   without the new session and be sent to the sign-in page again. The page's own refresh
//!   is a navigation started by our page, so same-site: the cookie goes with it.
//! - Sign-ins and refusals are in the activity journal like the password's; refusals count
//!   against the address in the failure limiter (as on the consent page).

use super::activity::Event;
use super::html::{self, esc, message};
use super::session::Identity;
use super::{safe_next, sign_in_form, Form};
use crate::http::{Request, Response};
use crate::oauth::sha256;
use crate::oidc::login::{Flow, Refusal, SignedIn};
use crate::router::App;

/// What the button's form token is bound to (not the password form's).
fn button_digest() -> [u8; 32] {
    sha256(b"brain-mcp web sign-in through the provider")
}

/// The button's form and a sentence for the page's footnote, when sign-in through the
/// provider is on. `next` is already escaped; `beside` says the password form is above it.
pub(super) fn button(app: &App, next: &str, beside: bool) -> Option<(String, String)> {
    let login = app.login.as_ref()?;
    let name = esc(&login.settings.name);
    let token = app.web.signin.issue(&button_digest());
    let or = if beside {
        "<p class=\"muted\">or</p>"
    } else {
        ""
    };
    let form = format!(
        "{or}<form method=\"post\" action=\"/signin\" class=\"narrow\">{}<input type=\"hidden\" name=\"next\" value=\"{next}\"><p><button type=\"submit\" name=\"action\" value=\"provider\">Sign in with {name}</button></p></form>",
        html::csrf_field(&token),
    );
    let note = format!("Signing in with {name} takes you to {name} and back; only the owner of this brain, as this server's owner rule names them, gets in.");
    Some((form, note))
}

/// The sign-in page's policy when it shows the button: the pages' own, with the provider's
/// authorization endpoint allowed as a form target. `form-action` governs every URL a form
/// submission's navigation goes to, the redirects after it included (CSP Level 3,
/// `form-action`, checked before each request of the navigation): with `'self'` alone,
/// Chromium stops the `303` from `/signin` to the provider. A host CSP cannot name (an IPv6
/// literal) drops the directive for this page instead; the rest of the policy stays.
pub(super) fn allow_form_to_provider(app: &App, mut resp: Response) -> Response {
    let Some(oidc) = &app.oidc else {
        return resp;
    };
    let endpoint = oidc
        .discovered()
        .ok()
        .and_then(|d| d.authorization_endpoint)
        .unwrap_or_else(|| oidc.issuer().to_string());
    let Some(policy) = policy_for(&endpoint) else {
        return resp;
    };
    for (name, value) in &mut resp.headers {
        if name == "Content-Security-Policy" {
            *value = policy.clone();
        }
    }
    resp
}

/// The pages' policy with `endpoint`'s origin as a form target (see above); `None` when
/// `endpoint` is not a URL.
fn policy_for(endpoint: &str) -> Option<String> {
    let url = crate::config::parse_url(endpoint)?;
    // CSP Level 3, host-source: host-char = ALPHA / DIGIT / "-", in labels split by ".".
    let nameable = url
        .host
        .split('.')
        .all(|l| !l.is_empty() && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'));
    Some(if nameable {
        html::CSP.replace(
            "form-action 'self'",
            &format!("form-action 'self' {}", url.origin),
        )
    } else {
        html::CSP.replace(" form-action 'self';", "")
    })
}

/// `POST /signin` with the button: off to the provider, with `next` in the signed state.
/// The origin was checked by the caller; the form's token is checked here.
pub(super) fn start(app: &App, form: &Form, next: &str) -> Response {
    let (Some(login), Some(oidc)) = (&app.login, &app.oidc) else {
        return sign_in_form(
            app,
            next,
            Some("Sign-in through a provider is not configured on this server."),
            400,
        );
    };
    if !app.web.signin.take(form.get("csrf"), &button_digest()) {
        return sign_in_form(
            app,
            next,
            Some("This sign-in form has expired or did not come from this page. Press the button again."),
            403,
        );
    }
    let flow = Flow::Pages {
        next: safe_next(next),
    };
    match login.start(oidc, &flow) {
        // 303: the browser follows a POST's answer with a GET (RFC 9110 §15.4.4).
        Ok(start) => html::secure(
            Response::new(303)
                .header("Location", &start.location)
                .header("Set-Cookie", &start.set_cookie),
        ),
        Err((status, text)) => sign_in_form(app, next, Some(&text), status),
    }
}

/// The callback verified the owner for the pages: a session, and on to `next`.
pub fn signed_in(app: &App, req: &Request, signed: &SignedIn, next: &str) -> Response {
    let (Some(login), Some(oidc)) = (&app.login, &app.oidc) else {
        return super::not_found();
    };
    let who = Identity::Provider {
        issuer: oidc.issuer().to_string(),
        subject: signed.sub.clone(),
        email: signed.email.clone(),
    };
    let shown = who.describe();
    let cookie = match super::start_session(app, req, who) {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    // Checked when the state was made, and again here.
    let next = safe_next(next);
    let url = esc(&next);
    // HTML, "Shared declarative refresh steps": after `0;` and `url=` the rest is the URL
    // (it cannot hold a quote or a control character: `safe_next`; `esc` keeps the attribute).
    let head = format!("<meta http-equiv=\"refresh\" content=\"0; url={url}\">");
    let body = format!(
        "<h1>Signed in</h1><p class=\"lead\">Signed in through {} as {}.</p><p><a class=\"button\" href=\"{url}\">Continue</a></p>",
        esc(&login.settings.name),
        esc(&shown),
    );
    html::page_with_head(200, "Signed in", &head, None, &body)
        .header("Set-Cookie", &cookie)
        .header("Set-Cookie", &login.clear_cookie())
}

/// A refused sign-in for the pages: the page says why (exact wording in src/oidc/login.rs),
/// and the journal keeps it.
pub fn refused(app: &App, req: &Request, r: &Refusal) -> Response {
    let name = app
        .login
        .as_ref()
        .map(|l| l.settings.name.clone())
        .unwrap_or_default();
    app.web.journal.record(
        req.client,
        Event::ProviderRefused {
            via: name,
            why: r.log.clone(),
        },
    );
    message(
        r.status,
        "Not signed in",
        &r.message,
        Some(("/signin", "Sign in")),
    )
}

/// The callback of a sign-in for the pages from an address over the failure limit.
pub fn limited(app: &App, req: &Request, wait: u64) -> Response {
    app.web.journal.record(req.client, Event::SignInLimited);
    super::too_many(wait)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_sign_in_page_may_post_on_to_the_provider() {
        assert_eq!(
            policy_for("https://id.example.com:8443/auth?x=1").as_deref(),
            Some("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self' https://id.example.com:8443; base-uri 'none'; frame-ancestors 'none'")
        );
        // CSP cannot name an IPv6 literal: the page goes without form-action.
        assert_eq!(
            policy_for("http://[::1]:5556/dex/auth").as_deref(),
            Some("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; base-uri 'none'; frame-ancestors 'none'")
        );
        assert_eq!(policy_for("not a url"), None);
    }
}
