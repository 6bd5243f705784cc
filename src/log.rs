//! One line per event on stderr. Never a header value, a query string, a token or a secret:
//! callers pass only the fields below.

use std::io::Write;
use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A free-form operational line (start-up, recovery, accept errors).
pub fn line(msg: &str) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{} brain-mcp: {msg}", now());
}

/// The request log: time, client, method, path (no query), status, duration.
pub fn request(client: IpAddr, method: &str, path: &str, status: u16, took: Duration) {
    let path = printable(path, 200);
    let method = printable(method, 16);
    let mut err = std::io::stderr().lock();
    let _ = writeln!(
        err,
        "{} {client} {method} {path} {status} {:.1}ms",
        now(),
        took.as_secs_f64() * 1000.0
    );
}

/// At most `max` characters, control characters replaced: a path is client-chosen text and
/// must not forge log lines.
fn printable(s: &str, max: usize) -> String {
    s.chars()
        .take(max)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn now() -> String {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    crate::time::format_rfc3339_millis(d)
}
