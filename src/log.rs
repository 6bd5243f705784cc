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
    let mut out = String::new();
    push_request(&mut out, client, method, path, status, took);
    emit(out);
}

/// Appends [`request`]'s line to `out`, for a caller that writes its lines in batches with
/// [`lines`]. Written without the formatting machinery, which was half the instructions of a
/// `/healthz` (callgrind): the time's date and second are formatted once per second per
/// thread.
pub fn push_request(
    out: &mut String,
    client: IpAddr,
    method: &str,
    path: &str,
    status: u16,
    took: Duration,
) {
    push_now(out);
    out.push(' ');
    match client {
        IpAddr::V4(v4) => {
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    out.push('.');
                }
                push_decimal(out, u64::from(octet));
            }
        }
        v6 => {
            let _ = write!(out, "{v6}");
        }
    }
    out.push(' ');
    push_printable(out, method, 16);
    out.push(' ');
    push_printable(out, path, 200);
    out.push(' ');
    push_decimal(out, u64::from(status));
    out.push(' ');
    // Milliseconds with one decimal, rounded half up.
    let tenths = (took.as_nanos() + 50_000) / 100_000;
    push_decimal(out, u64::try_from(tenths / 10).unwrap_or(u64::MAX));
    out.push('.');
    out.push(char::from(b'0' + (tenths % 10) as u8));
    out.push_str("ms\n");
}

fn push_decimal(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend(digits[i..].iter().map(|d| char::from(*d)));
}

/// [`now`], appended: the `2026-11-26T23:15:57.` part is kept per thread for its second.
fn push_now(out: &mut String) {
    thread_local! {
        static SECOND: std::cell::RefCell<(u64, String)> = const {
            std::cell::RefCell::new((u64::MAX, String::new()))
        };
    }
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != d.as_secs() {
            let full = crate::time::format_rfc3339_millis(Duration::from_secs(d.as_secs()));
            // Everything but "000Z".
            let prefix = full.get(..full.len().saturating_sub(4)).unwrap_or("");
            *cached = (d.as_secs(), prefix.to_string());
        }
        out.push_str(&cached.1);
    });
    let ms = d.subsec_millis();
    for digit in [ms / 100, (ms / 10) % 10, ms % 10] {
        out.push(char::from(b'0' + digit as u8));
    }
    out.push('Z');
}

/// Whole lines, written with one `write(2)`.
pub fn lines(text: &str) {
    let _ = std::io::stderr().lock().write_all(text.as_bytes());
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
    // The common case, printable ASCII within the limit, is copied as it is.
    if s.len() <= max && s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        out.push_str(s);
        return;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The batched form of a line is the one `request` has always written.
    #[test]
    fn request_line_format() {
        let mut out = String::new();
        let ip: IpAddr = "203.0.113.9".parse().unwrap();
        push_request(
            &mut out,
            ip,
            "GET",
            "/healthz",
            200,
            Duration::from_micros(1234),
        );
        let (time, rest) = out.split_once(' ').unwrap();
        assert_eq!(rest, "203.0.113.9 GET /healthz 200 1.2ms\n");
        // 2026-11-26T23:15:57.123Z
        assert_eq!(time.len(), 24, "{time}");
        assert!(time.ends_with('Z') && time.as_bytes()[19] == b'.', "{time}");
        let mut out = String::new();
        let v6: IpAddr = "::1".parse().unwrap();
        push_request(
            &mut out,
            v6,
            "PO\nST",
            "/a\u{7}b",
            503,
            Duration::from_nanos(49_999),
        );
        assert!(out.ends_with(" ::1 PO?ST /a?b 503 0.0ms\n"), "{out}");
        let mut out = String::new();
        push_request(&mut out, ip, "GET", "/", 200, Duration::from_secs(12));
        assert!(out.ends_with(" 200 12000.0ms\n"), "{out}");
    }
}
