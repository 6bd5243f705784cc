//! Notes: the list (newest first, paged), search with the `search` tool's syntax and filters,
//! a note's page with every version and the changes between them, editing (an `update`),
//! forgetting after a confirmation, a new note, the notes awaiting review with their accept
//! and reject buttons, and tag and space counts.
//!
//! Every write from these pages is the owner's: recorded with the writer `owner` (issue 12,
//! item 1), never held for review, and able to reach every space and every pending note.

use std::collections::HashMap;

use super::html::{
    csrf_field, esc, note_path, notice, page, query, see_other, snippet, space_link, tag_links,
    time, writer_link,
};
use super::{activity::Event, decode_segment, diff, params, posted, Signed};
use crate::brain::snippet::title;
use crate::brain::{
    normalize_space, normalize_tag, Author, BrainError, Filter, Note, Updated, Version, Writer,
    MAIN_SPACE, MAX_TAGS,
};
use crate::http::{Request, Response};
use crate::router::App;
use crate::time::{format_rfc3339, parse_rfc3339_or_date};

/// Notes per page, in the list and in search results.
pub const PAGE: usize = 25;
/// Search pages reachable by paging (each page ranks everything before it again).
pub const MAX_SEARCH_PAGES: usize = 200;
/// The `search` tool's limits (src/mcp/tools.rs): the longest query, and the snippet length.
pub const MAX_QUERY_BYTES: usize = 4096;
const SNIPPET_CHARS: usize = 300;
/// Characters of a note shown in the list.
const PREVIEW: usize = 280;
/// Pending notes the review page shows at once (accepting or rejecting some shows the next).
pub const PENDING_SHOWN: usize = 200;

/// The owner writing from these pages: recorded as `owner`, not under review, seeing
/// everything (so the duplicate check and the notes it may change span every space).
fn owner() -> Author {
    Author {
        by: Some(Writer::of_kind("owner")),
        review: false,
        view: Filter::default(),
    }
}

/// The list's and search's parameters, as the form has them (kept to fill the form again).
#[derive(Default)]
struct Wanted {
    q: String,
    tag: String,
    any: String,
    since: String,
    until: String,
    spaces: String,
    by: String,
}

impl Wanted {
    fn from(p: &HashMap<String, String>) -> Wanted {
        let get = |k: &str| p.get(k).map(|v| v.trim().to_string()).unwrap_or_default();
        Wanted {
            q: get("q"),
            tag: get("tag"),
            any: get("any"),
            since: get("since"),
            until: get("until"),
            spaces: get("spaces"),
            by: get("by"),
        }
    }

    fn pairs(&self) -> Vec<(&str, &str)> {
        vec![
            ("q", &self.q),
            ("tag", &self.tag),
            ("any", &self.any),
            ("since", &self.since),
            ("until", &self.until),
            ("spaces", &self.spaces),
            ("by", &self.by),
        ]
    }

    fn filtered(&self) -> bool {
        !(self.tag.is_empty()
            && self.any.is_empty()
            && self.since.is_empty()
            && self.until.is_empty()
            && self.spaces.is_empty()
            && self.by.is_empty())
    }

    /// The filter the `search` and `list_notes` tools would build from the same values:
    /// `tag` is their `tags_all`, `any` their `tags_any`, and `since`/`until` an RFC 3339
    /// time or a date (as `until`, the end of that day, UTC); `spaces` their `spaces` (the
    /// owner may name any), `by` their `by` (a kind, grant or client ID, subject or client
    /// name; `unknown` for versions from before provenance).
    fn filter(&self) -> Result<Filter, String> {
        let since = time_bound(&self.since, "Since", false)?;
        let until = time_bound(&self.until, "Until", true)?;
        if let (Some(a), Some(b)) = (since, until) {
            if a > b {
                return Err(format!(
                    "Since ({}) is after Until ({}): no note can match. Swap them or widen the range.",
                    format_rfc3339(a),
                    format_rfc3339(b)
                ));
            }
        }
        Ok(Filter {
            tags_all: tag_list(&self.tag, "Tags")?,
            tags_any: tag_list(&self.any, "Any of tags")?,
            since,
            until,
            spaces: space_list(&self.spaces)?,
            by: if self.by.is_empty() {
                Vec::new()
            } else {
                vec![self.by.clone()]
            },
            ..Filter::default()
        })
    }
}

/// Spaces typed into a field, separated by commas or spaces; `None` (every space) when empty.
fn space_list(s: &str) -> Result<Option<Vec<String>>, String> {
    let mut out: Vec<String> = Vec::new();
    for sp in split_tags(s) {
        let sp = normalize_space(&sp).map_err(|e| format!("Spaces: {e}"))?;
        if !out.contains(&sp) {
            out.push(sp);
        }
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Tags typed into a field: separated by commas or spaces.
fn split_tags(s: &str) -> Vec<String> {
    s.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .collect()
}

fn tag_list(s: &str, field: &str) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for t in split_tags(s) {
        let t = normalize_tag(&t).map_err(|e| format!("{field}: {e}"))?;
        if !out.contains(&t) {
            out.push(t);
        }
    }
    if out.len() > MAX_TAGS {
        return Err(format!(
            "{field}: {} tags; at most {MAX_TAGS} are allowed.",
            out.len()
        ));
    }
    Ok(out)
}

fn time_bound(s: &str, field: &str, end_of_day: bool) -> Result<Option<u64>, String> {
    if s.is_empty() {
        return Ok(None);
    }
    let t = parse_rfc3339_or_date(s).ok_or_else(|| {
        format!(
            "{field} must be a date like 2026-01-31 or an RFC 3339 time like 2026-01-31T09:00:00Z (UTC), not \"{}\".",
            s.chars().take(64).collect::<String>()
        )
    })?;
    Ok(Some(if end_of_day && s.len() == 10 {
        t + 86_399
    } else {
        t
    }))
}

fn search_form(w: &Wanted) -> String {
    format!(
        "<form method=\"get\" action=\"/notes\" class=\"search\" role=\"search\">\
<div class=\"row\"><input type=\"search\" name=\"q\" value=\"{}\" placeholder=\"Search your notes\" aria-label=\"Search\" maxlength=\"{MAX_QUERY_BYTES}\"><button type=\"submit\">Search</button></div>\
<details{}><summary>Filters and syntax</summary>\
<div class=\"filters\"><label>Tags, all of <input name=\"tag\" value=\"{}\" placeholder=\"work, ideas\"></label>\
<label>Any of these tags <input name=\"any\" value=\"{}\" placeholder=\"home travel\"></label>\
<label>Written since <input name=\"since\" value=\"{}\" placeholder=\"2026-01-01\" inputmode=\"numeric\"></label>\
<label>Written until <input name=\"until\" value=\"{}\" placeholder=\"2026-01-31\" inputmode=\"numeric\"></label>\
<label>In the spaces <input name=\"spaces\" value=\"{}\" placeholder=\"main, work\"></label>\
<label>Written by <input name=\"by\" value=\"{}\" placeholder=\"owner, a grant id, a client name\"></label></div>\
<p class=\"muted\">Words are matched with their variants (<code>running</code> finds <code>runs</code>, small typos too); <code>\"an exact phrase\"</code> only as written; <code>-word</code> leaves notes out. Dates are UTC; a date as <em>until</em> includes that whole day. <em>Written by</em> is the writer of the current version: a kind (<code>owner</code>, <code>import</code>, <code>static</code>, <code>grant</code>), a grant or client id, a client's name, or <code>unknown</code>. Filters apply to the list too, without a search.</p></details></form>",
        esc(&w.q),
        if w.filtered() { " open" } else { "" },
        esc(&w.tag),
        esc(&w.any),
        esc(&w.since),
        esc(&w.until),
        esc(&w.spaces),
        esc(&w.by),
    )
}

fn done_notice(p: &HashMap<String, String>) -> String {
    match p.get("done").map(String::as_str) {
        Some("forgot") => notice("The note was forgotten, with its history.", false),
        Some("saved") => notice("Saved: a new version of the note.", false),
        Some("unchanged") => notice("Nothing changed: the note already said that.", false),
        Some("created") => notice("The note was saved.", false),
        Some("duplicate") => notice(
            "A note with exactly this text and these tags already exists in this space: here it is. Nothing new was stored.",
            false,
        ),
        Some("accepted") => notice(
            "Accepted: every client that may see its space sees the note now.",
            false,
        ),
        Some("rejected") => notice("Rejected: the note is forgotten.", false),
        _ => String::new(),
    }
}

fn note_item(n: &Note, body_html: &str) -> String {
    let edited = if n.updated_at != n.created_at {
        format!(" · edited {}", time(&n.updated_at))
    } else {
        String::new()
    };
    let body_html = if body_html.is_empty() {
        String::new()
    } else {
        format!("<p class=\"snippet\">{body_html}</p>")
    };
    let space = if n.space == MAIN_SPACE {
        String::new()
    } else {
        format!(" · in {}", space_link(&n.space))
    };
    format!(
        "<li{}><a class=\"title\" href=\"{}\">{}</a>{}{body_html}<p class=\"meta\">{}{edited}{space} · by {} · {} · {} characters</p></li>",
        if n.pending { " class=\"pending\"" } else { "" },
        esc(&note_path(&n.id)),
        esc(&title(&n.text)),
        pending_mark(n),
        time(&n.created_at),
        writer_link(n.by.as_ref()),
        tag_links(&n.tags),
        n.text.chars().count(),
    )
}

fn pending_mark(n: &Note) -> &'static str {
    if n.pending {
        " <span class=\"badge pending\">pending</span>"
    } else {
        ""
    }
}

/// The start of a note for the list; nothing when its title already says all of it.
fn list_preview(text: &str) -> String {
    if title(text) == text.trim() {
        String::new()
    } else {
        preview(text)
    }
}

fn preview(text: &str) -> String {
    let mut out: String = text.chars().take(PREVIEW).collect();
    if text.chars().nth(PREVIEW).is_some() {
        out.push('…');
    }
    esc(&out)
}

/// `/notes`: newest first (by when each note entered the brain, as `list_notes` pages), or
/// with `q` the best matches first, as `search` ranks them.
pub fn list(app: &App, req: &Request, s: &Signed) -> Response {
    let p = params(req.query.as_deref().unwrap_or(""));
    let w = Wanted::from(&p);
    let nav = s.nav("/notes");
    let mut body = String::from("<h1>Notes</h1>");
    body.push_str(&done_notice(&p));
    body.push_str(&search_form(&w));
    let refuse = |mut body: String, msg: &str| {
        body.push_str(&notice(msg, true));
        page(400, "Notes", Some(&nav), &body)
    };
    let filter = match w.filter() {
        Ok(f) => f,
        Err(msg) => return refuse(body, &msg),
    };
    let brain = &app.mcp.brain;
    let mut items = String::new();
    let mut next_link = None;
    let heading;
    if w.q.is_empty() {
        let cursor = p
            .get("cursor")
            .map(String::as_str)
            .filter(|c| !c.is_empty());
        let (page_notes, more) =
            match brain.list_filtered(&filter, cursor, |_| true, PAGE) {
                Ok(v) => v,
                Err(_) => return refuse(
                    body,
                    "This page link is not one this server made. Start again from the first page.",
                ),
            };
        heading = if w.filtered() {
            format!(
                "{} shown, newest first, of the notes that match the filters.",
                page_notes.len()
            )
        } else {
            format!(
                "{} in the brain, newest first.",
                plural(brain.len(), "note", "notes")
            )
        };
        for (_, n) in &page_notes {
            items.push_str(&note_item(n, &list_preview(&n.text)));
        }
        if more {
            if let Some((c, _)) = page_notes.last() {
                let mut pairs = w.pairs();
                pairs.push(("cursor", c));
                next_link = Some(format!("/notes?{}", query(&pairs)));
            }
        }
    } else {
        if w.q.len() > MAX_QUERY_BYTES {
            return refuse(
                body,
                &format!("The search is {} bytes; the limit is {MAX_QUERY_BYTES}. Use a few distinctive words.", w.q.len()),
            );
        }
        let pg: usize = p
            .get("page")
            .and_then(|v| v.parse().ok())
            .filter(|&n| (1..=MAX_SEARCH_PAGES).contains(&n))
            .unwrap_or(1);
        let offset = (pg - 1) * PAGE;
        let (hits, more) = brain.search_page(&w.q, &filter, offset, PAGE);
        heading = if hits.is_empty() && pg == 1 {
            "No notes match. Try other words or synonyms, or fewer filters.".to_string()
        } else {
            format!(
                "Results {} to {} for <q>{}</q>, best first.",
                offset + 1,
                offset + hits.len(),
                esc(&w.q)
            )
        };
        for h in &hits {
            let snip = crate::brain::snippet::snippet(&h.note.text, &w.q, SNIPPET_CHARS);
            items.push_str(&note_item(&h.note, &snippet(&snip)));
        }
        if more && pg < MAX_SEARCH_PAGES {
            let n = (pg + 1).to_string();
            let mut pairs = w.pairs();
            pairs.push(("page", &n));
            next_link = Some(format!("/notes?{}", query(&pairs)));
        }
    }
    body.push_str(&format!(
        "<p class=\"meta\" id=\"summary\">{heading} <a href=\"/new\">New note</a></p>"
    ));
    if !items.is_empty() {
        body.push_str(&format!("<ol class=\"notes\">{items}</ol>"));
    }
    body.push_str("<nav class=\"pager\" aria-label=\"Pages\">");
    if p.contains_key("cursor") || p.contains_key("page") {
        body.push_str(&format!(
            "<a href=\"/notes?{}\">First page</a>",
            esc(&query(&w.pairs()))
        ));
    }
    if let Some(link) = next_link {
        body.push_str(&format!(
            "<a href=\"{}\" rel=\"next\">Next page</a>",
            esc(&link)
        ));
    }
    body.push_str("</nav>");
    page(200, "Notes", Some(&nav), &body)
}

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn missing(s: &Signed, id: Option<&str>) -> Response {
    let text = match id {
        Some(id) => format!(
            "No note has the id \"{id}\". It may have been forgotten; search for it instead."
        ),
        None => "That is not a note id.".into(),
    };
    page(
        404,
        "No such note",
        Some(&s.nav("/notes")),
        &format!(
            "<h1>No such note</h1><p class=\"lead\">{}</p><p><a href=\"/notes\">All notes</a></p>",
            esc(&text)
        ),
    )
}

/// Every version of a note, oldest first, the current one last.
fn versions(note: &Note, history: &[Version]) -> Vec<Version> {
    let mut v = history.to_vec();
    v.push(Version {
        text: note.text.clone(),
        tags: note.tags.clone(),
        updated_at: note.updated_at.clone(),
        space: note.space.clone(),
        by: note.by.clone(),
    });
    v
}

fn tags_change(old: &[String], new: &[String]) -> String {
    let gone: Vec<String> = old.iter().filter(|t| !new.contains(t)).cloned().collect();
    let came: Vec<String> = new.iter().filter(|t| !old.contains(t)).cloned().collect();
    if gone.is_empty() && came.is_empty() {
        return String::new();
    }
    let mut out = String::from("<p class=\"meta\">Tags: ");
    for t in &gone {
        out.push_str(&format!("<del>{}</del> ", esc(t)));
    }
    for t in &came {
        out.push_str(&format!("<ins>{}</ins> ", esc(t)));
    }
    out.push_str("</p>");
    out
}

fn space_change(old: &str, new: &str) -> String {
    if old == new {
        return String::new();
    }
    format!(
        "<p class=\"meta\">Moved from space <del>{}</del> to <ins>{}</ins></p>",
        esc(old),
        esc(new)
    )
}

/// The Accept and Reject buttons of a pending note; `from` says where to go back to.
fn review_forms(app: &App, s: &Signed, id: &str, from: &str) -> String {
    let base = esc(&note_path(id));
    let form = |action: &str, class: &str, label: &str, confirm: &str| {
        format!(
            "<form method=\"post\" action=\"{base}/{action}\" class=\"inline\"{confirm}>{}<input type=\"hidden\" name=\"from\" value=\"{}\"><button type=\"submit\"{class}>{label}</button></form>",
            csrf_field(&app.web.sessions.form_token(&s.cur, &format!("{action}:{id}"))),
            esc(from),
        )
    };
    format!(
        "{} {}",
        form("accept", "", "Accept", ""),
        form(
            "reject",
            " class=\"danger\"",
            "Reject",
            " data-confirm=\"Reject this note? It is forgotten.\""
        )
    )
}
/// `/notes/<id>`: the canonical URL of a note (what `search` and `fetch` give as `url`).
pub fn show(app: &App, req: &Request, s: &Signed, raw: &str) -> Response {
    let Some(id) = decode_segment(raw) else {
        return missing(s, None);
    };
    let Some((note, history)) = app.mcp.brain.recall_with_history(&id) else {
        return missing(s, Some(&id));
    };
    let p = params(req.query.as_deref().unwrap_or(""));
    let all = versions(&note, &history);
    let n = all.len();
    let pick = |k: &str, lo: usize| {
        p.get(k)
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&v| (lo..=n).contains(&v))
    };
    let shown = pick("version", 1).unwrap_or(n);
    let diff_to = pick("diff", 2).or((n >= 2 && !p.contains_key("version")).then_some(n));
    let base = note_path(&id);
    let v = &all[shown - 1];
    let mut body = format!("<h1>{}</h1>", esc(&title(&v.text)));
    body.push_str(&done_notice(&p));
    if shown != n {
        body.push_str(&format!(
            "<p class=\"notice\" role=\"status\">This is version {shown} of {n}, saved {}. <a href=\"{}\">See the current version</a>.</p>",
            time(&v.updated_at),
            esc(&base)
        ));
    }
    if note.pending {
        body.push_str(&format!(
            "<div class=\"notice review\" id=\"review\"><p><span class=\"badge pending\">pending</span> {} wrote this, and its writes wait for your review: no other client sees the note until you accept it. Rejecting forgets it.</p><p class=\"actions\">{}</p></div>",
            esc(&note.by.as_ref().map_or_else(|| "An unknown writer".to_string(), Writer::label)),
            review_forms(app, s, &id, "note"),
        ));
    }
    body.push_str(&format!(
        "<dl class=\"facts\"><dt>Id</dt><dd><code>{}</code></dd><dt>Written</dt><dd>{}</dd><dt>Last changed</dt><dd>{}</dd><dt>Space</dt><dd id=\"space\">{}</dd><dt>Tags</dt><dd>{}</dd><dt>Versions</dt><dd>{n}</dd><dt>Who wrote it</dt><dd id=\"by\">{}</dd><dt>Status</dt><dd id=\"status\">{}</dd></dl>",
        esc(&id),
        time(&note.created_at),
        time(&note.updated_at),
        space_link(&v.space),
        tag_links(&v.tags),
        writer_link(v.by.as_ref()),
        if note.pending { "pending: awaiting your review" } else { "accepted" },
    ));
    body.push_str(&format!(
        "<p class=\"actions\"><a class=\"button\" href=\"{}/edit\">Edit</a> <a class=\"button danger\" href=\"{}/forget\">Forget…</a></p>",
        esc(&base),
        esc(&base)
    ));
    body.push_str(&format!(
        "<div class=\"text\" id=\"text\">{}</div>",
        esc(&v.text)
    ));
    if let Some(to) = diff_to {
        let (old, new) = (&all[to - 2], &all[to - 1]);
        body.push_str(&format!(
            "<section id=\"changes\"><h2>Changes from version {} to {to}</h2><p class=\"meta\">Saved {} · by {}</p>{}{}<div class=\"text diff\">{}</div></section>",
            to - 1,
            time(&new.updated_at),
            writer_link(new.by.as_ref()),
            space_change(&old.space, &new.space),
            tags_change(&old.tags, &new.tags),
            diff::render(&diff::diff(&old.text, &new.text)),
        ));
    }
    body.push_str("<section><h2>Versions</h2><div class=\"table\"><table><thead><tr><th>Version</th><th>Saved</th><th>Who</th><th>Space</th><th>Tags</th><th>Characters</th><th></th></tr></thead><tbody>");
    for (i, ver) in all.iter().enumerate().rev() {
        let k = i + 1;
        let mut links = format!("<a href=\"{}?version={k}\">show</a>", esc(&base));
        if k >= 2 {
            links.push_str(&format!(
                " · <a href=\"{}?diff={k}#changes\">changes</a>",
                esc(&base)
            ));
        }
        let current = if k == n { " (current)" } else { "" };
        body.push_str(&format!(
            "<tr{}><td data-label=\"Version\">{k}{current}</td><td data-label=\"Saved\">{}</td><td data-label=\"Who\">{}</td><td data-label=\"Space\">{}</td><td data-label=\"Tags\">{}</td><td data-label=\"Characters\">{}</td><td>{links}</td></tr>",
            if k == shown { " class=\"shown\"" } else { "" },
            time(&ver.updated_at),
            writer_link(ver.by.as_ref()),
            esc(&ver.space),
            tag_links(&ver.tags),
            ver.text.chars().count(),
        ));
    }
    body.push_str("</tbody></table></div></section>");
    page(200, &title(&v.text), Some(&s.nav("/notes")), &body)
}

fn editor(
    action: &str,
    token: &str,
    text: &str,
    tags: &str,
    space: &str,
    versions: Option<usize>,
    cancel: &str,
) -> String {
    let versions = versions
        .map(|n| format!("<input type=\"hidden\" name=\"versions\" value=\"{n}\">"))
        .unwrap_or_default();
    // The newline right after <textarea> is eaten by the HTML parser, so a note that starts
    // with a newline keeps it.
    format!(
        "<form method=\"post\" action=\"{}\" class=\"editor\">{}{versions}<p><label for=\"text\">Text</label><textarea id=\"text\" name=\"text\" rows=\"14\" required>\n{}</textarea></p><p><label for=\"tags\">Tags <span class=\"muted\">(separated by spaces or commas; letters, digits, <code>-</code> and <code>_</code>)</span></label><input id=\"tags\" name=\"tags\" value=\"{}\" autocomplete=\"off\"></p><p><label for=\"space\">Space <span class=\"muted\">(empty: <code>main</code>; another space moves the note there, as a new version)</span></label><input id=\"space\" name=\"space\" value=\"{}\" autocomplete=\"off\" placeholder=\"main\"></p><p><button type=\"submit\">Save</button> <a href=\"{}\">Cancel</a></p></form>",
        esc(action),
        csrf_field(token),
        esc(text),
        esc(tags),
        esc(space),
        esc(cancel),
    )
}

/// `/notes/<id>/edit`.
pub fn edit_page(app: &App, req: &Request, s: &Signed, raw: &str) -> Response {
    let _ = req;
    let Some(id) = decode_segment(raw) else {
        return missing(s, None);
    };
    let Some((note, history)) = app.mcp.brain.recall_with_history(&id) else {
        return missing(s, Some(&id));
    };
    edit_form(
        app,
        s,
        &id,
        &note.text,
        &note.tags.join(" "),
        &note.space,
        history.len() + 1,
        None,
        200,
    )
}

#[allow(clippy::too_many_arguments)]
fn edit_form(
    app: &App,
    s: &Signed,
    id: &str,
    text: &str,
    tags: &str,
    space: &str,
    versions: usize,
    error: Option<&str>,
    status: u16,
) -> Response {
    let base = note_path(id);
    let token = app.web.sessions.form_token(&s.cur, &format!("update:{id}"));
    let pending = if app.mcp.brain.recall(id).is_some_and(|n| n.pending) {
        notice(
            "This note awaits your review. Saving a change makes the new version yours (written by owner) and accepts it.",
            false,
        )
    } else {
        String::new()
    };
    let body = format!(
        "<h1>Edit note</h1><p class=\"meta\"><code>{}</code> · saving makes version {} (the earlier ones stay readable)</p>{pending}{}{}",
        esc(id),
        versions + 1,
        error.map(|e| notice(e, true)).unwrap_or_default(),
        editor(
            &format!("{base}/edit"),
            &token,
            text,
            tags,
            space,
            Some(versions),
            &base
        ),
    );
    page(status, "Edit note", Some(&s.nav("/notes")), &body)
}

/// Text from a `<textarea>`: browsers send its line breaks as CRLF (HTML, "textarea
/// wrapping"), which would change every line of a note on its first edit.
fn from_textarea(s: &str) -> String {
    s.replace("\r\n", "\n")
}

fn write_failed(e: &BrainError) -> String {
    match e {
        BrainError::Invalid(m) => m.clone(),
        other => format!("Not saved: {other}. Nothing changed; try again later."),
    }
}

/// `POST /notes/<id>/edit`: an `update` with the text and tags of the form. The form names
/// the number of versions it was made from: if the note changed in between (a client wrote
/// to it), nothing is saved and the owner sees the form again with their text.
pub fn edit(app: &App, req: &Request, s: &Signed, raw: &str) -> Response {
    let Some(id) = decode_segment(raw) else {
        return missing(s, None);
    };
    let form = match posted(app, req, &s.cur, &format!("update:{id}")) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let Some((note, history)) = app.mcp.brain.recall_with_history(&id) else {
        return missing(s, Some(&id));
    };
    let now = history.len() + 1;
    let text = from_textarea(form.get("text"));
    let tags_field = form.get("tags");
    let space_field = form.get("space");
    if form.get("versions") != now.to_string() {
        return edit_form(
            app,
            s,
            &id,
            &text,
            tags_field,
            space_field,
            now,
            Some(&format!("This note changed while you were editing it (it now has {now} versions). Your text is below, unsaved: compare it with the current note, then save again.")),
            409,
        );
    }
    if text.trim().is_empty() {
        return edit_form(
            app,
            s,
            &id,
            &text,
            tags_field,
            space_field,
            now,
            Some("The text is empty. To remove the note, use Forget instead."),
            400,
        );
    }
    let tags = split_tags(tags_field);
    let new_text = (text != from_textarea(&note.text)).then_some(text.as_str());
    match app.mcp.brain.update_by(
        &id,
        new_text,
        Some(&tags),
        Some(space_or_main(space_field)),
        &owner(),
    ) {
        Ok(Updated::Changed(_)) => {
            app.web
                .journal
                .record(req.client, Event::Updated { id: id.clone() });
            see_other(&format!("{}?done=saved", note_path(&id)))
        }
        Ok(Updated::Unchanged(_)) => see_other(&format!("{}?done=unchanged", note_path(&id))),
        Ok(Updated::NotFound) => missing(s, Some(&id)),
        Err(e) => {
            let status = if matches!(e, BrainError::Invalid(_)) {
                400
            } else {
                500
            };
            edit_form(
                app,
                s,
                &id,
                &text,
                tags_field,
                space_field,
                now,
                Some(&write_failed(&e)),
                status,
            )
        }
    }
}

/// `/notes/<id>/forget`: the confirmation step.
pub fn forget_page(app: &App, s: &Signed, raw: &str) -> Response {
    let Some(id) = decode_segment(raw) else {
        return missing(s, None);
    };
    let Some((note, history)) = app.mcp.brain.recall_with_history(&id) else {
        return missing(s, Some(&id));
    };
    let base = note_path(&id);
    let token = app.web.sessions.form_token(&s.cur, &format!("forget:{id}"));
    let body = format!(
        "<h1>Forget this note?</h1><p class=\"lead\">The note and all {} of its versions are deleted for good: no client can find it again, and it is not in later exports.</p><blockquote class=\"text\">{}</blockquote><form method=\"post\" action=\"{}/forget\">{}<p><button type=\"submit\" class=\"danger\">Forget it</button> <a href=\"{}\">Keep it</a></p></form>",
        history.len() + 1,
        preview(&note.text),
        esc(&base),
        csrf_field(&token),
        esc(&base),
    );
    page(200, "Forget this note?", Some(&s.nav("/notes")), &body)
}

/// `POST /notes/<id>/forget`.
pub fn forget(app: &App, req: &Request, s: &Signed, raw: &str) -> Response {
    let Some(id) = decode_segment(raw) else {
        return missing(s, None);
    };
    if let Err(resp) = posted(app, req, &s.cur, &format!("forget:{id}")) {
        return resp;
    }
    let t = app
        .mcp
        .brain
        .recall(&id)
        .map(|n| title(&n.text))
        .unwrap_or_default();
    match app.mcp.brain.forget_by(&id, &owner()) {
        Ok(true) => {
            app.web
                .journal
                .record(req.client, Event::Forgot { id, title: t });
            see_other("/notes?done=forgot")
        }
        Ok(false) => missing(s, Some(&id)),
        Err(e) => page(
            500,
            "Not forgotten",
            Some(&s.nav("/notes")),
            &format!("<h1>Not forgotten</h1>{}", notice(&write_failed(&e), true)),
        ),
    }
}

/// `/new`: a new note, as `remember` stores one.
pub fn new_page(
    app: &App,
    s: &Signed,
    error: Option<&str>,
    text: &str,
    tags: &str,
    space: &str,
    status: u16,
) -> Response {
    let token = app.web.sessions.form_token(&s.cur, "remember");
    let body = format!(
        "<h1>New note</h1>{}{}",
        error.map(|e| notice(e, true)).unwrap_or_default(),
        editor("/new", &token, text, tags, space, None, "/notes")
    );
    page(status, "New note", Some(&s.nav("/notes")), &body)
}

pub fn create(app: &App, req: &Request, s: &Signed) -> Response {
    let form = match posted(app, req, &s.cur, "remember") {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let text = from_textarea(form.get("text"));
    let tags_field = form.get("tags");
    let space_field = form.get("space");
    if text.trim().is_empty() {
        return new_page(
            app,
            s,
            Some("The text is empty."),
            &text,
            tags_field,
            space_field,
            400,
        );
    }
    match app.mcp.brain.remember_by(
        &text,
        &split_tags(tags_field),
        Some(space_or_main(space_field)),
        &owner(),
    ) {
        Ok((note, duplicate)) => {
            if !duplicate {
                app.web.journal.record(
                    req.client,
                    Event::Created {
                        id: note.id.clone(),
                    },
                );
            }
            let done = if duplicate { "duplicate" } else { "created" };
            see_other(&format!("{}?done={done}", note_path(&note.id)))
        }
        Err(e) => {
            let status = if matches!(e, BrainError::Invalid(_)) {
                400
            } else {
                500
            };
            new_page(
                app,
                s,
                Some(&write_failed(&e)),
                &text,
                tags_field,
                space_field,
                status,
            )
        }
    }
}

/// The space field of the editor: empty is `main`, as `remember` without `space`.
fn space_or_main(field: &str) -> &str {
    match field.trim() {
        "" => MAIN_SPACE,
        sp => sp,
    }
}

/// Where an accept or reject form goes back to: the review page, or the note's page.
fn back(form: &super::Form, id: &str, done: &str, gone: bool) -> Response {
    if form.get("from") == "pending" {
        see_other(&format!("/pending?done={done}"))
    } else if gone {
        see_other(&format!("/notes?done={done}"))
    } else {
        see_other(&format!("{}?done={done}", note_path(id)))
    }
}

fn not_pending(s: &Signed, id: &str) -> Response {
    page(
        404,
        "Not awaiting review",
        Some(&s.nav("/pending")),
        &format!(
            "<h1>Not awaiting review</h1><p class=\"lead\">{}</p><p><a href=\"/pending\">Pending notes</a></p>",
            esc(&format!("No note \"{id}\" waits for review: it may have been accepted or rejected already, or forgotten."))
        ),
    )
}

fn review_failed(s: &Signed, title: &str, e: &BrainError) -> Response {
    page(
        500,
        title,
        Some(&s.nav("/pending")),
        &format!("<h1>{}</h1>{}", esc(title), notice(&write_failed(e), true)),
    )
}

/// `POST /notes/<id>/accept`: the owner keeps a note awaiting review (`brain-mcp accept`).
pub fn accept(app: &App, req: &Request, s: &Signed, raw: &str) -> Response {
    let Some(id) = decode_segment(raw) else {
        return missing(s, None);
    };
    let form = match posted(app, req, &s.cur, &format!("accept:{id}")) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    match app.mcp.brain.accept(&id) {
        Ok(Some(n)) => {
            app.web.journal.record(
                req.client,
                Event::Accepted {
                    id: id.clone(),
                    by: n
                        .by
                        .as_ref()
                        .map_or_else(|| "unknown".into(), Writer::label),
                },
            );
            back(&form, &id, "accepted", false)
        }
        Ok(None) => not_pending(s, &id),
        Err(e) => review_failed(s, "Not accepted", &e),
    }
}

/// `POST /notes/<id>/reject`: rejecting is forgetting, for a note that waits for review
/// (never another; `brain-mcp reject`).
pub fn reject(app: &App, req: &Request, s: &Signed, raw: &str) -> Response {
    let Some(id) = decode_segment(raw) else {
        return missing(s, None);
    };
    let form = match posted(app, req, &s.cur, &format!("reject:{id}")) {
        Ok(f) => f,
        Err(resp) => return resp,
    };
    let Some(n) = app.mcp.brain.recall(&id).filter(|n| n.pending) else {
        return not_pending(s, &id);
    };
    match app.mcp.brain.forget_by(&id, &owner()) {
        Ok(true) => {
            app.web.journal.record(
                req.client,
                Event::Rejected {
                    id: id.clone(),
                    title: title(&n.text),
                    by: n
                        .by
                        .as_ref()
                        .map_or_else(|| "unknown".into(), Writer::label),
                },
            );
            back(&form, &id, "rejected", true)
        }
        Ok(false) => not_pending(s, &id),
        Err(e) => review_failed(s, "Not rejected", &e),
    }
}

/// `/pending`: the notes awaiting the owner's review, newest first, each with Accept and
/// Reject (what `brain-mcp pending` lists).
pub fn pending(app: &App, req: &Request, s: &Signed) -> Response {
    let p = params(req.query.as_deref().unwrap_or(""));
    let nav = s.nav("/pending");
    let filter = Filter {
        pending_only: true,
        ..Filter::default()
    };
    let mut body = String::from("<h1>Pending notes</h1>");
    body.push_str(&done_notice(&p));
    let Ok((notes, more)) = app
        .mcp
        .brain
        .list_filtered(&filter, None, |_| true, PENDING_SHOWN)
    else {
        return page(
            500,
            "Pending notes",
            Some(&nav),
            "<h1>Pending notes</h1><p class=\"lead\">The pending notes could not be read.</p>",
        );
    };
    body.push_str("<p class=\"muted\">Notes and versions written by a client whose grant is under review (turn it on or off on <a href=\"/clients\">Connected clients</a>). Until you accept one, only its writer and you see it; rejecting forgets it.</p>");
    if notes.is_empty() {
        body.push_str("<p id=\"summary\">No notes wait for review.</p>");
    } else {
        body.push_str(&format!(
            "<p class=\"meta\" id=\"summary\">{} awaiting review{}, newest first.</p><ol class=\"notes\">",
            plural(notes.len(), "note", "notes"),
            if more { " shown (more follow when you accept or reject these)" } else { "" },
        ));
        for (_, n) in &notes {
            let item = note_item(n, &list_preview(&n.text));
            let forms = format!(
                "<p class=\"actions\">{}</p></li>",
                review_forms(app, s, &n.id, "pending")
            );
            body.push_str(&item.replacen("</li>", &forms, 1));
        }
        body.push_str("</ol>");
    }
    page(200, "Pending notes", Some(&nav), &body)
}

/// `/tags`: every tag with the number of notes carrying it, most used first, and every space
/// with its count.
pub fn tags(app: &App, s: &Signed) -> Response {
    let counts = app.mcp.brain.tag_counts();
    let mut body = String::from("<h1>Tags</h1>");
    if counts.is_empty() {
        body.push_str("<p>No note has a tag yet.</p>");
    } else {
        body.push_str(&format!(
            "<p class=\"meta\">{}, most used first.</p><ul class=\"tags\">",
            plural(counts.len(), "tag", "tags")
        ));
        for (t, n) in &counts {
            body.push_str(&format!(
                "<li><a class=\"tag\" href=\"/notes?{}\">{}</a> <span class=\"count\">{n}</span></li>",
                esc(&query(&[("tag", t)])),
                esc(t)
            ));
        }
        body.push_str("</ul>");
    }
    let spaces = app.mcp.brain.space_counts(&Filter::default());
    body.push_str(&format!(
        "<section id=\"spaces\"><h2>Spaces</h2><p class=\"meta\">{}, most used first. A note lives in one space; a client limited to some spaces sees nothing of the others.</p><ul class=\"spaces\">",
        plural(spaces.len(), "space", "spaces")
    ));
    for (sp, n) in &spaces {
        body.push_str(&format!(
            "<li>{} <span class=\"count\">{n}</span></li>",
            space_link(sp)
        ));
    }
    body.push_str("</ul></section>");
    page(200, "Tags", Some(&s.nav("/tags")), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_as_the_tools_read_them() {
        let w = Wanted {
            tag: "Work, ideas work".into(),
            since: "2026-01-01".into(),
            until: "2026-01-31".into(),
            ..Wanted::default()
        };
        let f = w.filter().unwrap();
        assert_eq!(f.tags_all, vec!["work", "ideas"]);
        assert_eq!(f.until.unwrap() - f.since.unwrap(), 31 * 86_400 - 1);
        let bad = Wanted {
            tag: "no/slash".into(),
            ..Wanted::default()
        };
        assert!(bad.filter().unwrap_err().starts_with("Tags: "));
        let swapped = Wanted {
            since: "2026-02-01".into(),
            until: "2026-01-01".into(),
            ..Wanted::default()
        };
        assert!(swapped.filter().unwrap_err().contains("is after"));
        let garbage = Wanted {
            since: "yesterday".into(),
            ..Wanted::default()
        };
        assert!(garbage.filter().unwrap_err().starts_with("Since must be"));
    }

    #[test]
    fn textarea_line_breaks() {
        assert_eq!(from_textarea("a\r\nb\r\n"), "a\nb\n");
    }
}
