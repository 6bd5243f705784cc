//! Export and import from the page: the download is exactly what `brain-mcp export` writes,
//! and an upload is read by the same parser and stored by the same all-or-nothing import as
//! `brain-mcp import FILE`, with the same `added N, skipped M` answer.

use super::html::{csrf_field, esc, page};
use super::{activity::Event, check_origin, forged, Signed, IMPORT_CAP};
use crate::brain::BrainError;
use crate::http::{Request, Response};
use crate::router::App;

const IMPORT: &str = "import";

pub fn page_for(app: &App, s: &Signed, result: Option<(&str, bool)>) -> Response {
    let token = app.web.sessions.form_token(&s.cur, IMPORT);
    let result_html = match result {
        Some((text, ok)) => format!(
            "<div class=\"notice {}\" role=\"{}\" id=\"import-result\"><pre>{}</pre></div>",
            if ok { "ok" } else { "err" },
            if ok { "status" } else { "alert" },
            esc(text)
        ),
        None => String::new(),
    };
    let body = format!(
        "<h1>Export and import</h1>{result_html}\
<section><h2>Export</h2><p>Every note ({} now) with its whole history, one JSON object per line: the file <code>brain-mcp export</code> writes, and that import reads back.</p><p><a class=\"button\" href=\"/export\" download>Download the export</a></p></section>\
<section><h2>Import</h2><p>A file from an export, or the JSON-lines file of the official MCP memory server (its entities and relations become notes). Every line is checked first: one bad line and nothing is imported. Notes whose text and tags a note already has, and ids already in use, are skipped.</p>\
<form method=\"post\" action=\"/import\" enctype=\"multipart/form-data\" class=\"import\" data-max-bytes=\"{IMPORT_CAP}\">{}<p><label for=\"file\">File</label><input type=\"file\" id=\"file\" name=\"file\" accept=\".jsonl,.ndjson,.json,.txt,application/json,text/plain\" required></p><p class=\"size-error err\" hidden></p><p><button type=\"submit\">Import</button></p></form>\
<p class=\"muted\">Up to {} MiB here; for a larger file run <code>brain-mcp import FILE</code> on the server.</p></section>",
        app.mcp.brain.len(),
        csrf_field(&token),
        IMPORT_CAP >> 20,
    );
    let status = match result {
        Some((_, false)) => 400,
        _ => 200,
    };
    page(
        status,
        "Export and import",
        Some(&s.nav("/transfer")),
        &body,
    )
}

/// `GET /export`: a download of the export.
pub fn export(app: &App, req: &Request) -> Response {
    let bytes = app.mcp.brain.export();
    let notes = bytes.iter().filter(|&&b| b == b'\n').count();
    app.web
        .journal
        .record(req.client, Event::Exported { notes });
    let stamp = crate::time::format_rfc3339(crate::time::unix_now());
    let name = format!(
        "brain-export-{}.jsonl",
        stamp.replace(':', "").trim_end_matches('Z')
    );
    super::html::secure(
        Response::new(200)
            .header("Content-Type", "application/x-ndjson; charset=utf-8")
            .header(
                "Content-Disposition",
                &format!("attachment; filename=\"{name}\""),
            )
            .body(bytes),
    )
}

/// `POST /import` (`multipart/form-data`: the anti-forgery token and the file).
pub fn import(app: &App, req: &Request, s: &Signed) -> Response {
    if let Err(resp) = check_origin(app, req) {
        return resp;
    }
    let parts = match multipart(req) {
        Ok(p) => p,
        Err(why) => return page_for(app, s, Some((&why, false))),
    };
    let field = |name: &str| parts.iter().find(|p| p.name == name);
    let csrf = field("csrf").and_then(|p| std::str::from_utf8(&p.body).ok());
    if !csrf.is_some_and(|t| app.web.sessions.check_form_token(&s.cur, IMPORT, t)) {
        return forged();
    }
    let Some(file) = field("file") else {
        return page_for(
            app,
            s,
            Some(("error: no file was sent; nothing was imported", false)),
        );
    };
    if file.body.iter().all(u8::is_ascii_whitespace) {
        return page_for(
            app,
            s,
            Some(("error: the file is empty; nothing was imported", false)),
        );
    }
    // The answers of `brain-mcp import` (src/admin.rs), word for word.
    let (text, ok, status) = match crate::brain::transfer::parse(&file.body) {
        Err(lines) => (
            format!("error: nothing was imported; bad lines:\n{lines}"),
            false,
            400,
        ),
        Ok(notes) => match app.mcp.brain.import(&notes) {
            Ok((added, skipped)) => (format!("added {added}, skipped {skipped}"), true, 200),
            Err(e @ BrainError::Invalid(_)) => {
                (format!("error: nothing was imported: {e}"), false, 400)
            }
            Err(e) => (format!("error: nothing was imported: {e}"), false, 500),
        },
    };
    app.web.journal.record(
        req.client,
        if ok {
            Event::Imported {
                answer: text.clone(),
            }
        } else {
            Event::ImportRefused
        },
    );
    let mut resp = page_for(app, s, Some((&text, ok)));
    resp.status = status;
    resp
}

/// One part of a `multipart/form-data` body (RFC 7578).
#[derive(Debug)]
struct Part {
    name: String,
    body: Vec<u8>,
}

/// The parts of a `multipart/form-data` body: the boundary from `Content-Type` (RFC 2046
/// §5.1.1: 1 to 70 characters), each part's name from its `Content-Disposition`. Strict: a
/// body that does not start with the boundary, a part without a name, a name given twice or a
/// missing closing boundary is refused, with the reason for the page.
fn multipart(req: &Request) -> Result<Vec<Part>, String> {
    let ctype = req.header("content-type").unwrap_or("");
    let mut params = ctype.split(';');
    if !params
        .next()
        .is_some_and(|e| e.trim().eq_ignore_ascii_case("multipart/form-data"))
    {
        return Err("error: the import must be posted as multipart/form-data (the page's form does that); nothing was imported".into());
    }
    let boundary = params
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("boundary"))
        .map(|(_, v)| v.trim().trim_matches('"').to_string())
        .filter(|b| (1..=70).contains(&b.len()))
        .ok_or("error: the form has no usable multipart boundary; nothing was imported")?;
    let bad = || {
        "error: the upload is not a well-formed multipart form; nothing was imported".to_string()
    };
    let body = &req.body;
    let first = format!("--{boundary}");
    let delim = format!("\r\n--{boundary}");
    let mut at = if body.starts_with(first.as_bytes()) {
        first.len()
    } else {
        find(body, delim.as_bytes(), 0).ok_or_else(bad)? + delim.len()
    };
    let mut parts: Vec<Part> = Vec::new();
    loop {
        let rest = body.get(at..).ok_or_else(bad)?;
        if rest.starts_with(b"--") {
            return Ok(parts);
        }
        if !rest.starts_with(b"\r\n") {
            return Err(bad());
        }
        let head_start = at + 2;
        let head_end = find(body, b"\r\n\r\n", head_start)
            .filter(|&e| e - head_start <= 8192)
            .ok_or_else(bad)?;
        let head = std::str::from_utf8(&body[head_start..head_end]).map_err(|_| bad())?;
        let name = part_name(head).ok_or_else(bad)?;
        let content = head_end + 4;
        let end = find(body, delim.as_bytes(), content).ok_or_else(bad)?;
        if parts.iter().any(|p| p.name == name) {
            return Err(bad());
        }
        parts.push(Part {
            name,
            body: body[content..end].to_vec(),
        });
        at = end + delim.len();
    }
}

/// The `name` of a part's `Content-Disposition: form-data; name="..."`.
fn part_name(head: &str) -> Option<String> {
    for line in head.split("\r\n") {
        let (k, v) = line.split_once(':')?;
        if !k.trim().eq_ignore_ascii_case("content-disposition") {
            continue;
        }
        let mut it = v.split(';');
        if !it.next()?.trim().eq_ignore_ascii_case("form-data") {
            return None;
        }
        for p in it {
            if let Some((pk, pv)) = p.trim().split_once('=') {
                if pk.trim().eq_ignore_ascii_case("name") {
                    return Some(pv.trim().trim_matches('"').to_string());
                }
            }
        }
    }
    None
}

/// The first position of `needle` in `hay` at or after `from`.
fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    let first = *needle.first()?;
    let mut i = from;
    while i + needle.len() <= hay.len() {
        match hay[i..hay.len() - needle.len() + 1]
            .iter()
            .position(|&b| b == first)
        {
            None => return None,
            Some(p) => {
                i += p;
                if &hay[i..i + needle.len()] == needle {
                    return Some(i);
                }
                i += 1;
            }
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ctype: &str, body: &[u8]) -> Request {
        Request {
            method: "POST".into(),
            path: "/import".into(),
            query: None,
            headers: vec![("content-type".into(), ctype.as_bytes().to_vec())],
            body: body.to_vec(),
            client: "127.0.0.1".parse().unwrap(),
        }
    }

    #[test]
    fn parses_what_a_browser_sends() {
        let body = b"------WebKitFormBoundaryab12\r\nContent-Disposition: form-data; name=\"csrf\"\r\n\r\ntok\r\n------WebKitFormBoundaryab12\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.jsonl\"\r\nContent-Type: application/octet-stream\r\n\r\nline1\r\n--not-the-boundary\nline2\r\n------WebKitFormBoundaryab12--\r\n";
        let parts = multipart(&req(
            "multipart/form-data; boundary=----WebKitFormBoundaryab12",
            body,
        ))
        .unwrap();
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].name, "csrf");
        assert_eq!(parts[0].body, b"tok");
        assert_eq!(parts[1].name, "file");
        assert_eq!(parts[1].body, b"line1\r\n--not-the-boundary\nline2");
    }

    #[test]
    fn refuses_malformed_uploads() {
        let ok = "multipart/form-data; boundary=b";
        for (ctype, body) in [
            ("text/plain", &b"x"[..]),
            ("multipart/form-data", b"--b\r\n"),
            (ok, b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--"),
            (ok, b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx"),
            (
                ok,
                b"--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nx\r\n--b\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\ny\r\n--b--",
            ),
        ] {
            assert!(multipart(&req(ctype, body)).is_err(), "{ctype} {body:?}");
        }
    }

    #[test]
    fn finds_needles() {
        assert_eq!(find(b"abcabd", b"abd", 0), Some(3));
        assert_eq!(find(b"abcabd", b"abd", 4), None);
        assert_eq!(find(b"ab", b"abc", 0), None);
    }
}
