//! The activity page: the latest writes to the brain and the latest sign-ins and owner actions.
//!
//! Writes come from the brain itself (the notes most recently written, by log order), each with
//! the writer its current version records (issue 12: a grant's client, the static token, a
//! client_credentials client, `owner`, `import`; "unknown" for versions from before provenance)
//! and whether it awaits review. Sign-ins (and failed attempts, sign-outs, and what the owner did on these pages) are
//! kept in a ring in memory of the last [`JOURNAL_LEN`] events: a restart empties it. It is not
//! a file because failed attempts come from strangers, and a file they can grow at will is a
//! liability; the server log keeps a line for every request (`POST /signin 303`) for as long as
//! the journal of the system keeps it.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;

use super::html::{esc, note_path, page, time, time_secs, writer_link, Nav};
use super::session::Current;
use crate::brain::snippet::title;
use crate::http::Response;
use crate::router::App;

/// Events the ring keeps.
pub const JOURNAL_LEN: usize = 200;
/// Writes the page shows.
pub const WRITES_SHOWN: usize = 50;

#[derive(Debug, Clone)]
pub enum Event {
    SignedIn(String),
    SignInFailed,
    ProviderRefused {
        via: String,
        why: String,
    },
    SignInLimited,
    SignedOut,
    Updated {
        id: String,
    },
    Created {
        id: String,
    },
    Forgot {
        id: String,
        title: String,
    },
    Accepted {
        id: String,
        by: String,
    },
    Rejected {
        id: String,
        title: String,
        by: String,
    },
    ReviewSet {
        grant: String,
        name: String,
        on: bool,
    },
    RevokedGrant {
        grant: String,
        name: String,
    },
    RevokedClient {
        client: String,
    },
    Imported {
        answer: String,
    },
    ImportRefused,
    Exported {
        notes: usize,
    },
    EndedSessions {
        count: usize,
    },
}

#[derive(Default)]
pub struct Journal(Mutex<VecDeque<(u64, IpAddr, Event)>>);

impl Journal {
    pub fn record(&self, from: IpAddr, event: Event) {
        let mut j = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if j.len() >= JOURNAL_LEN {
            j.pop_front();
        }
        j.push_back((crate::time::unix_now(), from, event));
    }

    fn newest_first(&self) -> Vec<(u64, IpAddr, Event)> {
        let j = self
            .0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        j.iter().rev().cloned().collect()
    }
}

fn describe(e: &Event) -> String {
    let note = |id: &str| {
        format!(
            "<a href=\"{}\"><code>{}</code></a>",
            esc(&note_path(id)),
            esc(id)
        )
    };
    match e {
        Event::SignedIn(how) => format!("signed in ({})", esc(how)),
        Event::SignInFailed => "<strong>wrong password</strong> at sign-in".into(),
        // A sign-in through the provider (`via`) refused, with the reason the log gives
        // (never a code, token or state).
        Event::ProviderRefused { via, why } => format!(
            "<strong>sign-in through {} refused</strong>: {}",
            esc(via),
            esc(why)
        ),
        Event::SignInLimited => "sign-in refused: too many failed attempts".into(),
        Event::SignedOut => "signed out".into(),
        Event::Updated { id } => format!("edited note {}", note(id)),
        Event::Created { id } => format!("wrote note {}", note(id)),
        Event::Forgot { id, title } => {
            format!("forgot note <code>{}</code> ({})", esc(id), esc(title))
        }
        Event::Accepted { id, by } => {
            format!("accepted note {} written by {}", note(id), esc(by))
        }
        Event::Rejected { id, title, by } => format!(
            "rejected note <code>{}</code> ({}) written by {}",
            esc(id),
            esc(title),
            esc(by)
        ),
        Event::ReviewSet { grant, name, on } => format!(
            "review {} for grant <code>{}</code> ({})",
            if *on { "on" } else { "off" },
            esc(grant),
            esc(name)
        ),
        Event::RevokedGrant { grant, name } => {
            format!("revoked grant <code>{}</code> ({})", esc(grant), esc(name))
        }
        Event::RevokedClient { client } => {
            format!("revoked client <code>{}</code>", esc(client))
        }
        Event::Imported { answer } => format!("imported: {}", esc(answer)),
        Event::ImportRefused => "import refused: nothing was imported".into(),
        Event::Exported { notes } => format!("exported {notes} notes"),
        Event::EndedSessions { count } => format!("ended every session ({count})"),
    }
}

pub fn page_for(app: &App, cur: &Current, nav: &Nav) -> Response {
    let mut body = String::from("<h1>Activity</h1>");
    // Latest writes.
    body.push_str("<section><h2>Latest writes</h2><p class=\"muted\">The notes written or changed most recently, newest first, with who wrote each one's current version (<em>unknown</em> for versions from before this server recorded it).</p>");
    let writes = app.mcp.brain.recently_written(WRITES_SHOWN);
    if writes.is_empty() {
        body.push_str("<p>No notes yet.</p>");
    } else {
        body.push_str("<div class=\"table\"><table><thead><tr><th>When</th><th>Note</th><th>What</th><th>Who</th></tr></thead><tbody>");
        for (n, versions) in &writes {
            let what = if *versions == 1 {
                "written".to_string()
            } else {
                format!("version {versions}")
            };
            body.push_str(&format!(
                "<tr><td data-label=\"When\">{}</td><td data-label=\"Note\"><a href=\"{}\">{}</a></td><td data-label=\"What\">{what}{}</td><td data-label=\"Who\">{}</td></tr>",
                time(&n.updated_at),
                esc(&note_path(&n.id)),
                esc(&title(&n.text)),
                if n.pending { ", <span class=\"badge pending\">pending</span>" } else { "" },
                writer_link(n.by.as_ref()),
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");

    // Sessions.
    body.push_str("<section><h2>Signed-in sessions</h2><div class=\"table\"><table><thead><tr><th>Signed in</th><th>Last request</th><th>From</th><th>How</th></tr></thead><tbody>");
    for s in app.web.sessions.list(cur) {
        body.push_str(&format!(
            "<tr><td data-label=\"Signed in\">{}{}</td><td data-label=\"Last request\">{}</td><td data-label=\"From\"><code>{}</code></td><td data-label=\"How\">{}</td></tr>",
            time_secs(s.created),
            if s.this_one { " <strong>(this one)</strong>" } else { "" },
            time_secs(s.seen),
            esc(&s.from),
            esc(&s.who.describe()),
        ));
    }
    body.push_str(&format!(
        "</tbody></table></div><form method=\"post\" action=\"/activity\" data-confirm=\"End every session, this one too?\">{}<input type=\"hidden\" name=\"action\" value=\"end-sessions\"><button type=\"submit\" class=\"danger\">Sign out everywhere</button></form></section>",
        super::html::csrf_field(&app.web.sessions.form_token(cur, "end-sessions"))
    ));

    // Journal.
    body.push_str(&format!("<section><h2>Sign-ins and owner actions</h2><p class=\"muted\">Kept in memory since the server started (the last {JOURNAL_LEN}).</p>"));
    let events = app.web.journal.newest_first();
    if events.is_empty() {
        body.push_str("<p>Nothing yet.</p>");
    } else {
        body.push_str("<div class=\"table\"><table><thead><tr><th>When</th><th>From</th><th>What</th></tr></thead><tbody>");
        for (at, from, e) in events {
            body.push_str(&format!(
                "<tr><td data-label=\"When\">{}</td><td data-label=\"From\"><code>{}</code></td><td data-label=\"What\">{}</td></tr>",
                time_secs(at),
                esc(&from.to_string()),
                describe(&e)
            ));
        }
        body.push_str("</tbody></table></div>");
    }
    body.push_str("</section>");
    page(200, "Activity", Some(nav), &body)
}
