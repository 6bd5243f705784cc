//! Connected clients: what `brain-mcp grants` lists (every grant, every client holding
//! `client_credentials` tokens, every registered client no authorization has used), with a
//! button to revoke one grant or a whole client. A revoked client's next call is a `401`.
//! Each grant shows what the owner granted (read and write or read only; every space or some),
//! whether its writes wait for review, with a button to turn that on or off (`brain-mcp
//! review GRANT on|off`), and the note it wrote last (issue 12, items 2, 5 and 6).

use super::html::{csrf_field, esc, note_path, notice, page, query, see_other, time, time_secs};
use super::{activity::Event, bad_form, params, posted, Signed};
use crate::brain::snippet::title;
use crate::http::{Request, Response};
use crate::oauth::scope::Scope;
use crate::oauth::store::valid_grant_id;
use crate::router::App;

/// The action every revoke form's token is bound to.
const REVOKE: &str = "revoke";
/// The action every review toggle's token is bound to.
const REVIEW: &str = "review";

/// A grant's scope for people (what `brain-mcp grants` prints, in words).
fn scope_text(s: &Scope) -> String {
    let access = if s.write {
        "read and write"
    } else {
        "read only"
    };
    match &s.spaces {
        None => format!("{access}, every space"),
        Some(sp) => format!(
            "{access}, space{} {}",
            if sp.len() == 1 { "" } else { "s" },
            sp.join(", ")
        ),
    }
}

fn review_button(token: &str, grant: &str, on: bool) -> String {
    format!(
        "<form method=\"post\" action=\"/clients/review\" class=\"inline\">{}<input type=\"hidden\" name=\"grant\" value=\"{}\"><input type=\"hidden\" name=\"review\" value=\"{}\"><button type=\"submit\">{}</button></form>",
        csrf_field(token),
        esc(grant),
        if on { "off" } else { "on" },
        if on { "Stop reviewing" } else { "Review its writes" },
    )
}

fn revoke_button(token: &str, field: &str, value: &str, label: &str, confirm: &str) -> String {
    format!(
        "<form method=\"post\" action=\"/clients/revoke\" class=\"inline\" data-confirm=\"{}\">{}<input type=\"hidden\" name=\"{field}\" value=\"{}\"><button type=\"submit\" class=\"danger\">{}</button></form>",
        esc(confirm),
        csrf_field(token),
        esc(value),
        esc(label)
    )
}

pub fn page_for(app: &App, req: &Request, s: &Signed) -> Response {
    let p = params(req.query.as_deref().unwrap_or(""));
    let token = app.web.sessions.form_token(&s.cur, REVOKE);
    let review_token = app.web.sessions.form_token(&s.cur, REVIEW);
    let wrote = app.mcp.brain.last_written_by_grants();
    let store = &app.store;
    let mut grants = store.grants();
    grants.sort_by_key(|(_, g)| std::cmp::Reverse(g.last_used));
    let mut tokens = store.grantless_tokens();
    tokens.sort();
    let mut unused = store.clients();
    unused.retain(|c| !grants.iter().any(|(_, g)| g.client == c.client_id));
    unused.sort_by_key(|c| std::cmp::Reverse(c.created));

    let mut body = String::from("<h1>Connected clients</h1>");
    match p.get("done").map(String::as_str) {
        Some("grant") => body.push_str(&notice(
            "The grant was revoked: its tokens no longer work, and that client must be approved again.",
            false,
        )),
        Some("client") => body.push_str(&notice(
            "The client was revoked: every grant and token it held no longer works.",
            false,
        )),
        Some("review-on") => body.push_str(&notice(
            "Review is on: that grant's new notes and versions now wait for you on Pending before any other client sees them.",
            false,
        )),
        Some("review-off") => body.push_str(&notice(
            "Review is off: that grant's writes are no longer held (notes already pending still wait for you).",
            false,
        )),
        _ => {}
    }
    body.push_str("<p class=\"muted\">Everything that can use this brain. The static token (<code>BRAIN_MCP_TOKEN</code>) always can: change it in the server's configuration to end it.</p>");

    body.push_str("<section><h2>Grants</h2>");
    if grants.is_empty() {
        body.push_str("<p>No client holds a grant.</p>");
    } else {
        body.push_str("<p class=\"muted\">Each approval on the consent page is one grant (a phone, a laptop). Revoking one ends its tokens; revoking the client ends all of its grants. Under review, a grant's writes wait on <a href=\"/pending\">Pending</a> until you accept them.</p><div class=\"table\"><table><thead><tr><th>Client</th><th>Sent back to</th><th>Approved</th><th>Last used</th><th>May</th><th>Review</th><th>Wrote last</th><th></th></tr></thead><tbody>");
        for (id, g) in &grants {
            let preregistered = app
                .cfg
                .client
                .as_ref()
                .is_some_and(|(id, _)| *id == g.client);
            let name = g
                .name
                .clone()
                .or_else(|| store.client(&g.client).and_then(|c| c.client_name))
                .unwrap_or_else(|| {
                    if preregistered {
                        "the pre-registered client".into()
                    } else {
                        "(no name)".into()
                    }
                });
            let last = match wrote.get(id.as_str()) {
                Some((note, at)) => format!(
                    "<a href=\"{}\">{}</a><br>{} · <a href=\"/notes?{}\">all it wrote</a>",
                    esc(&note_path(note)),
                    esc(&app
                        .mcp
                        .brain
                        .recall(note)
                        .map(|n| title(&n.text))
                        .unwrap_or_else(|| note.clone())),
                    time(at),
                    esc(&query(&[("by", id)])),
                ),
                None => "<span class=\"muted\">nothing</span>".into(),
            };
            body.push_str(&format!(
                "<tr><td data-label=\"Client\"><strong>{}</strong><br><code class=\"small\">{}</code><br><span class=\"small\">grant <code>{}</code></span></td><td data-label=\"Sent back to\"><code>{}</code></td><td data-label=\"Approved\">{}</td><td data-label=\"Last used\">{}</td><td data-label=\"May\" class=\"scope\">{}</td><td data-label=\"Review\" class=\"review\">{} {}</td><td data-label=\"Wrote last\" class=\"wrote\">{last}</td><td>{} {}</td></tr>",
                esc(&name),
                esc(&g.client),
                esc(id),
                esc(g.redirect.as_deref().unwrap_or("-")),
                time_secs(g.created),
                time_secs(g.last_used),
                esc(&scope_text(&g.scope)),
                if g.review { "<strong>on</strong>" } else { "off" },
                review_button(&review_token, id, g.review),
                revoke_button(&token, "grant", id, "Revoke", &format!("Revoke this grant of {name}?")),
                revoke_button(&token, "client", &g.client, "Revoke client", &format!("Revoke every grant of {name}?")),
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");

    body.push_str("<section><h2>Machine tokens (client_credentials)</h2>");
    if tokens.is_empty() {
        body.push_str("<p>No live client_credentials token.</p>");
    } else {
        body.push_str("<div class=\"table\"><table><thead><tr><th>Client</th><th>Live tokens</th><th>Last one expires</th><th></th></tr></thead><tbody>");
        for (client, n, exp) in &tokens {
            body.push_str(&format!(
                "<tr><td data-label=\"Client\"><code>{}</code></td><td data-label=\"Live tokens\">{n}</td><td data-label=\"Last one expires\">{}</td><td>{}</td></tr>",
                esc(client),
                time_secs(*exp),
                revoke_button(&token, "client", client, "Revoke tokens", "Revoke every token of this client? It can fetch new ones with its secret."),
            ));
        }
        body.push_str("</tbody></table></div><p class=\"muted\">The pre-registered client can fetch new tokens with its secret: to stop it for good, change <code>OAUTH_CLIENT_SECRET</code>.</p>");
    }
    body.push_str("</section>");

    body.push_str("<section><h2>Registered, never approved</h2>");
    if unused.is_empty() {
        body.push_str("<p>None.</p>");
    } else {
        body.push_str("<p class=\"muted\">Clients that registered themselves but were never approved; they are forgotten a day after registering.</p><div class=\"table\"><table><thead><tr><th>Client</th><th>Redirect URIs</th><th>Registered</th><th></th></tr></thead><tbody>");
        for c in &unused {
            let uris = c
                .redirect_uris
                .iter()
                .map(|u| format!("<code>{}</code>", esc(u)))
                .collect::<Vec<_>>()
                .join("<br>");
            body.push_str(&format!(
                "<tr><td data-label=\"Client\"><strong>{}</strong><br><code class=\"small\">{}</code></td><td data-label=\"Redirect URIs\">{uris}</td><td data-label=\"Registered\">{}</td><td>{}</td></tr>",
                esc(c.client_name.as_deref().unwrap_or("(no name)")),
                esc(&c.client_id),
                time_secs(c.created),
                revoke_button(&token, "client", &c.client_id, "Remove", "Remove this registration?"),
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");
    page(200, "Connected clients", Some(&s.nav("/clients")), &body)
}

/// `POST /clients/revoke` with `grant=g_...` (one grant) or `client=ID` (every grant and
/// token of that client).
pub fn revoke(app: &App, req: &Request, s: &Signed) -> Response {
    let form = match posted(app, req, &s.cur, REVOKE) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let failed = |e: std::io::Error| {
        crate::log::line(&format!("web: could not write a revocation: {e}"));
        page(
            500,
            "Not revoked",
            Some(&s.nav("/clients")),
            "<h1>Not revoked</h1><p class=\"lead\">The revocation could not be written (the data directory is not writable or full). Nothing changed; try again.</p>",
        )
    };
    match (form.has("grant"), form.has("client")) {
        (true, false) => {
            let id = form.get("grant");
            let grant = app.store.grants().into_iter().find(|(g, _)| g == id);
            let Some((_, g)) = grant.filter(|_| valid_grant_id(id)) else {
                return page(
                    404,
                    "No such grant",
                    Some(&s.nav("/clients")),
                    "<h1>No such grant</h1><p class=\"lead\">No live grant has that id (it may have been revoked already).</p><p><a href=\"/clients\">Connected clients</a></p>",
                );
            };
            if let Err(e) = app.store.revoke_grant(id) {
                return failed(e);
            }
            app.web.journal.record(
                req.client,
                Event::RevokedGrant {
                    grant: id.to_string(),
                    name: g.name.unwrap_or(g.client),
                },
            );
            see_other("/clients?done=grant")
        }
        (false, true) => {
            let id = form.get("client");
            if !crate::oauth::valid_client_id(id) {
                return bad_form("That is not a client id.");
            }
            if let Err(e) = app.store.revoke_client(id) {
                return failed(e);
            }
            app.web.journal.record(
                req.client,
                Event::RevokedClient {
                    client: id.to_string(),
                },
            );
            see_other("/clients?done=client")
        }
        _ => bad_form("Name one grant or one client to revoke."),
    }
}

/// `POST /clients/review` with `grant=g_...` and `review=on|off`: whether that grant's writes
/// wait for the owner (`brain-mcp review GRANT on|off`).
pub fn review(app: &App, req: &Request, s: &Signed) -> Response {
    let form = match posted(app, req, &s.cur, REVIEW) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let on = match form.get("review") {
        "on" => true,
        "off" => false,
        _ => return bad_form("Review must be on or off."),
    };
    let id = form.get("grant");
    let grant = app.store.grants().into_iter().find(|(g, _)| g == id);
    let Some((_, g)) = grant.filter(|_| valid_grant_id(id)) else {
        return page(
            404,
            "No such grant",
            Some(&s.nav("/clients")),
            "<h1>No such grant</h1><p class=\"lead\">No live grant has that id (it may have been revoked already).</p><p><a href=\"/clients\">Connected clients</a></p>",
        );
    };
    match app.store.set_review(id, on) {
        Ok(true) => {
            app.web.journal.record(
                req.client,
                Event::ReviewSet {
                    grant: id.to_string(),
                    name: g.name.unwrap_or(g.client),
                    on,
                },
            );
            see_other(if on {
                "/clients?done=review-on"
            } else {
                "/clients?done=review-off"
            })
        }
        // Revoked between the lookup and the change.
        Ok(false) => page(
            404,
            "No such grant",
            Some(&s.nav("/clients")),
            "<h1>No such grant</h1><p class=\"lead\">No live grant has that id (it may have been revoked already).</p><p><a href=\"/clients\">Connected clients</a></p>",
        ),
        Err(e) => {
            crate::log::line(&format!("web: could not write a review change: {e}"));
            page(
                500,
                "Not changed",
                Some(&s.nav("/clients")),
                "<h1>Not changed</h1><p class=\"lead\">The change could not be written (the data directory is not writable or full). Nothing changed; try again.</p>",
            )
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn revoke_forms_escape_names() {
        let b = super::revoke_button("t", "grant", "g_\"x", "Revoke", "Revoke <b>?");
        assert!(b.contains("value=\"g_&quot;x\""));
        assert!(b.contains("data-confirm=\"Revoke &lt;b&gt;?\""));
    }

    #[test]
    fn scopes_in_words() {
        use crate::oauth::scope::Scope;
        let all = Scope {
            write: true,
            spaces: None,
        };
        assert_eq!(super::scope_text(&all), "read and write, every space");
        let some = Scope {
            write: false,
            spaces: Some(vec!["home".into(), "work".into()]),
        };
        assert_eq!(super::scope_text(&some), "read only, spaces home, work");
    }
}
