//! Building pages: escaping, the layout every page shares, and the headers every answer of
//! the pages carries.
//!
//! Everything that comes from a note, a client, a request or a file is text: it goes through
//! [`esc`] (element content and quoted attribute values alike) and nowhere else. Links are
//! built from percent-encoded path segments and form-encoded queries, then escaped too.

use crate::brain::Writer;
use crate::http::Response;

/// HTML-escapes text for element content and for double- or single-quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// One path segment, percent-encoded exactly as a note's canonical URL encodes its id
/// ([`crate::mcp::note_url`]): an imported id may hold `/`, `?` or `#`.
pub fn segment(s: &str) -> String {
    crate::mcp::note_url("", s)
}

/// A query string from pairs (form-encoded), to put after `?` (then through [`esc`]).
pub fn query(pairs: &[(&str, &str)]) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        if !v.is_empty() {
            q.append_pair(k, v);
        }
    }
    q.finish()
}

/// The note page's path.
pub fn note_path(id: &str) -> String {
    format!("/notes/{}", segment(id))
}

/// `<time>` with the UTC time as text; `app.js` shows it in the reader's own time zone, and
/// the UTC time stays in the tooltip.
pub fn time(rfc3339: &str) -> String {
    let shown = rfc3339.replacen('T', " ", 1).replace('Z', " UTC");
    format!("<time datetime=\"{}\">{}</time>", esc(rfc3339), esc(&shown))
}

/// [`time`] for Unix seconds.
pub fn time_secs(secs: u64) -> String {
    time(&crate::time::format_rfc3339(secs))
}

/// The policy every answer of the pages carries. No inline script or style at all: a note
/// that somehow reached the page as markup still could not run (CSP Level 3 §6.7.1); only
/// our own files load; forms post only to us; never framed (clickjacking the forget and revoke
/// buttons); no `<base>` to redirect relative links.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// The headers of every answer of the pages: the policy above, no framing for browsers that
/// predate `frame-ancestors`, nothing cached anywhere (a shared computer's back button or a
/// proxy must not show a note after sign-out), no sniffing, and `Referrer-Policy:
/// same-origin`: with `no-referrer` a browser sends `Origin: null` on our own form posts
/// (Fetch, "serializing a request origin"), and the origin check needs the real one.
pub fn secure(resp: Response) -> Response {
    resp.header("Content-Security-Policy", CSP)
        .header("X-Frame-Options", "DENY")
        .header("Cache-Control", "no-store")
        .header("Pragma", "no-cache")
        .header("X-Content-Type-Options", "nosniff")
        .header("Referrer-Policy", "same-origin")
        .header("Cross-Origin-Opener-Policy", "same-origin")
        .header("Cross-Origin-Resource-Policy", "same-origin")
}

/// The navigation of a signed-in page; `sign_out` is the sign-out form's token.
pub struct Nav<'a> {
    pub active: &'a str,
    pub sign_out: String,
}

const SECTIONS: [(&str, &str); 6] = [
    ("/notes", "Notes"),
    ("/pending", "Pending"),
    ("/tags", "Tags"),
    ("/clients", "Clients"),
    ("/activity", "Activity"),
    ("/transfer", "Export / import"),
];

/// A whole page: the layout around `body` (already HTML), with the navigation when signed in.
pub fn page(status: u16, title: &str, nav: Option<&Nav>, body: &str) -> Response {
    page_with_head(status, title, "", nav, body)
}

/// [`page`] with more in `<head>` (already HTML).
pub fn page_with_head(
    status: u16,
    title: &str,
    head: &str,
    nav: Option<&Nav>,
    body: &str,
) -> Response {
    let mut header = String::from("<header><a class=\"brand\" href=\"/\">brain</a>");
    if let Some(nav) = nav {
        header.push_str("<nav aria-label=\"Sections\">");
        for (href, label) in SECTIONS {
            let current = if nav.active == href {
                " aria-current=\"page\""
            } else {
                ""
            };
            header.push_str(&format!("<a href=\"{href}\"{current}>{label}</a>"));
        }
        header.push_str(&format!(
            "<form method=\"post\" action=\"/signout\" class=\"signout\"><input type=\"hidden\" name=\"csrf\" value=\"{}\"><button type=\"submit\">Sign out</button></form></nav>",
            esc(&nav.sign_out)
        ));
    }
    header.push_str("</header>");
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>{} · brain</title><link rel=\"stylesheet\" href=\"/assets/style.css\"><link rel=\"icon\" href=\"/assets/icon.svg\" type=\"image/svg+xml\"><script src=\"/assets/app.js\" defer></script>{head}</head><body>{header}<main>{body}</main></body></html>",
        esc(title)
    );
    secure(
        Response::new(status)
            .header("Content-Type", "text/html; charset=utf-8")
            .body(html.into_bytes()),
    )
}

/// A short page saying one thing (an error, a refusal), with a link onwards.
pub fn message(status: u16, title: &str, text: &str, link: Option<(&str, &str)>) -> Response {
    let link = link
        .map(|(href, label)| format!("<p><a href=\"{}\">{}</a></p>", esc(href), esc(label)))
        .unwrap_or_default();
    page(
        status,
        title,
        None,
        &format!(
            "<h1>{}</h1><p class=\"lead\">{}</p>{link}",
            esc(title),
            esc(text)
        ),
    )
}

/// `303 See Other` to a path of ours (after a form post, so a reload does not post again).
pub fn see_other(location: &str) -> Response {
    secure(Response::new(303).header("Location", location))
}

/// A notice at the top of a page (`role="status"`), or an error (`role="alert"`).
pub fn notice(text: &str, error: bool) -> String {
    if error {
        format!("<p class=\"notice err\" role=\"alert\">{}</p>", esc(text))
    } else {
        format!("<p class=\"notice ok\" role=\"status\">{}</p>", esc(text))
    }
}

/// A hidden anti-forgery field.
pub fn csrf_field(token: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(token)
    )
}

/// Tags as links to the notes that carry them.
pub fn tag_links(tags: &[String]) -> String {
    if tags.is_empty() {
        return "<span class=\"muted\">no tags</span>".into();
    }
    tags.iter()
        .map(|t| {
            format!(
                "<a class=\"tag\" href=\"/notes?{}\">{}</a>",
                esc(&query(&[("tag", t)])),
                esc(t)
            )
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a `by` filter names `w` by (what [`Writer::matches`] takes): its grant ID, client ID
/// or subject when it has one, else its kind; `unknown` for versions from before provenance.
pub fn writer_key(w: Option<&Writer>) -> &str {
    match w {
        Some(w) if !w.id.is_empty() => &w.id,
        Some(w) => &w.kind,
        None => "unknown",
    }
}

/// Who wrote a version, for people ([`Writer::label`], or "unknown" for a version from before
/// provenance), as a link to the notes whose current version they wrote.
pub fn writer_link(w: Option<&Writer>) -> String {
    let label = w.map_or_else(|| "unknown".to_string(), Writer::label);
    format!(
        "<a class=\"by{}\" href=\"/notes?{}\">{}</a>",
        if w.is_none() { " muted" } else { "" },
        esc(&query(&[("by", writer_key(w))])),
        esc(&label)
    )
}

/// A space as a link to its notes.
pub fn space_link(space: &str) -> String {
    format!(
        "<a class=\"space\" href=\"/notes?{}\">{}</a>",
        esc(&query(&[("spaces", space)])),
        esc(space)
    )
}

/// A search snippet: the brain marks matches `**like this**`; the text is escaped first, then
/// each marked run becomes `<mark>`. An unpaired `**` stays as text.
pub fn snippet(s: &str) -> String {
    let escaped = esc(s);
    let parts: Vec<&str> = escaped.split("**").collect();
    if parts.len() < 3 {
        return escaped;
    }
    let mut out = String::with_capacity(escaped.len() + 32);
    let pairs = (parts.len() - 1) / 2;
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            let closing = i % 2 == 0;
            if i <= pairs * 2 {
                out.push_str(if closing { "</mark>" } else { "<mark>" });
            } else {
                out.push_str("**");
            }
        }
        out.push_str(part);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_and_spaces_are_text_and_links_to_their_notes() {
        let w = Writer {
            kind: "grant".into(),
            id: "g_x\"y".into(),
            client: "c".into(),
            name: "<script>Claude</script>".into(),
        };
        let link = writer_link(Some(&w));
        assert_eq!(
            link,
            "<a class=\"by\" href=\"/notes?by=g_x%22y\">&lt;script&gt;Claude&lt;/script&gt; (grant g_x&quot;y)</a>"
        );
        assert_eq!(
            writer_link(None),
            "<a class=\"by muted\" href=\"/notes?by=unknown\">unknown</a>"
        );
        assert_eq!(writer_key(Some(&Writer::of_kind("owner"))), "owner");
        assert_eq!(
            space_link("work"),
            "<a class=\"space\" href=\"/notes?spaces=work\">work</a>"
        );
    }

    #[test]
    fn escapes_text_and_attributes() {
        assert_eq!(
            esc("<a href=\"x\" onclick='y'>&</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn snippets_mark_pairs_only_and_stay_escaped() {
        assert_eq!(
            snippet("a **b** c **d** e"),
            "a <mark>b</mark> c <mark>d</mark> e"
        );
        assert_eq!(snippet("**<b>** and **x"), "<mark>&lt;b&gt;</mark> and **x");
        assert_eq!(snippet("no marks"), "no marks");
    }

    #[test]
    fn segments_and_queries_are_encoded() {
        assert_eq!(note_path("a/b?c#d e"), "/notes/a%2Fb%3Fc%23d%20e");
        assert_eq!(query(&[("q", "a&b \"c\""), ("tag", "")]), "q=a%26b+%22c%22");
    }
}
