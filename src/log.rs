//! One line per event on stderr. Never a header value, a query string, a token or a secret:
//! callers pass only the fields below.

use std::fmt::Write as _;
use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A free-form operational line (start-up, recovery, accept errors).
pub fn line(msg: &str) {
    emit(format!("{} brain-mcp: {msg}\n", now()));
}

/// The request log: time, client, method, path (no query), status, duration.
pub fn request(client: IpAddr, method: &str, path: &str, status: u16, took: Duration) {
    let mut out = now();
    let _ = write!(out, " {client} ");
    push_printable(&mut out, method, 16);
    out.push(' ');
    push_printable(&mut out, path, 200);
    let _ = writeln!(out, " {status} {:.1}ms", took.as_secs_f64() * 1000.0);
    emit(out);
}

/// One `write(2)` per line (stderr is unbuffered; `writeln!` on it writes each formatted
/// fragment separately), so lines from different workers never interleave and a request
/// costs one syscall for its log line.
fn emit(line: String) {
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}

/// At most `max` characters, control characters replaced: a path is client-chosen text and
/// must not forge log lines.
fn push_printable(out: &mut String, s: &str, max: usize) {
    out.extend(
        s.chars()
            .take(max)
            .map(|c| if c.is_control() { '?' } else { c }),
    );
}

fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    crate::time::format_rfc3339_millis(d)
}
