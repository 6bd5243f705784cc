//! Reading one HTTP/1.1 response from a byte stream, with a deadline and a body cap: the
//! head through `httparse`, the body by `Content-Length`, chunked coding or end of stream.

use std::io::ErrorKind;
use std::time::Instant;

use super::FetchError;

/// A response head larger than this is refused: no provider sends 16 KiB of headers, and the
/// bound keeps a hostile server from making us buffer more.
pub const MAX_HEAD: usize = 16 * 1024;
const MAX_HEADERS: usize = 64;

pub struct Parsed {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What a read gives: bytes, or why not. The caller sets the socket's timeout before each
/// read so that no read outlives the deadline.
pub trait Source {
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> std::io::Result<usize>;
}

/// Reads one response to a request made with `method`. `max_body` caps the decoded body.
pub fn read_response<S: Source>(
    src: &mut S,
    method: &str,
    max_body: usize,
    deadline: Instant,
) -> Result<Parsed, FetchError> {
    let mut buf: Vec<u8> = Vec::with_capacity(4096);
    loop {
        let (status, headers, used) = loop {
            if let Some(head) = parse_head(&buf)? {
                break head;
            }
            if buf.len() >= MAX_HEAD {
                return Err(FetchError::Protocol(format!(
                    "the response head is larger than {MAX_HEAD} bytes"
                )));
            }
            if fill(src, &mut buf, deadline)? == 0 {
                return Err(FetchError::Protocol(
                    "the connection closed before a complete response head".into(),
                ));
            }
        };
        buf.drain(..used);
        // RFC 9110 §15.2: 1xx responses are interim; the final one follows.
        if (100..200).contains(&status) {
            continue;
        }
        let no_body = method == "HEAD" || status == 204 || status == 304;
        let body = if no_body {
            Vec::new()
        } else {
            read_body(src, &headers, buf, max_body, deadline)?
        };
        return Ok(Parsed {
            status,
            headers,
            body,
        });
    }
}

type Head = (u16, Vec<(String, String)>, usize);

fn parse_head(buf: &[u8]) -> Result<Option<Head>, FetchError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    match resp.parse(buf) {
        Ok(httparse::Status::Partial) => Ok(None),
        Ok(httparse::Status::Complete(used)) => {
            let status = resp.code.unwrap_or(0);
            let headers = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).trim().to_string(),
                    )
                })
                .collect();
            Ok(Some((status, headers, used)))
        }
        Err(e) => Err(FetchError::Protocol(format!(
            "the response head does not parse ({e})"
        ))),
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Vec<&'a str> {
    headers
        .iter()
        .filter(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
        .collect()
}

fn read_body<S: Source>(
    src: &mut S,
    headers: &[(String, String)],
    mut buf: Vec<u8>,
    max_body: usize,
    deadline: Instant,
) -> Result<Vec<u8>, FetchError> {
    let te = header(headers, "transfer-encoding");
    let cl = header(headers, "content-length");
    if !te.is_empty() {
        // RFC 9112 §6.1: chunked must be the final coding; we ask for no other.
        let all = te.join(",").to_ascii_lowercase();
        if all.split(',').map(str::trim).collect::<Vec<_>>() != ["chunked"] {
            return Err(FetchError::Protocol(format!(
                "unsupported Transfer-Encoding {all:?}"
            )));
        }
        let mut dec = Chunked::default();
        let mut out = Vec::new();
        loop {
            let consumed = dec.feed(&buf, &mut out, max_body)?;
            buf.drain(..consumed);
            if dec.done() {
                return Ok(out);
            }
            if fill(src, &mut buf, deadline)? == 0 {
                return Err(FetchError::Protocol(
                    "the connection closed inside a chunked body".into(),
                ));
            }
        }
    }
    if !cl.is_empty() {
        let first = cl[0];
        if cl.iter().any(|v| *v != first) {
            return Err(FetchError::Protocol(
                "conflicting Content-Length headers".into(),
            ));
        }
        let len: usize = first
            .parse()
            .map_err(|_| FetchError::Protocol("a Content-Length that is not a number".into()))?;
        if len > max_body {
            return Err(FetchError::TooLarge(max_body));
        }
        while buf.len() < len {
            if fill(src, &mut buf, deadline)? == 0 {
                return Err(FetchError::Protocol(format!(
                    "the connection closed after {} of {len} body bytes",
                    buf.len()
                )));
            }
        }
        buf.truncate(len);
        return Ok(buf);
    }
    // Neither: the body runs to the end of the connection (we always send Connection: close).
    loop {
        if buf.len() > max_body {
            return Err(FetchError::TooLarge(max_body));
        }
        if fill(src, &mut buf, deadline)? == 0 {
            return Ok(buf);
        }
    }
}

/// Appends what one read gives; 0 at the end of the stream.
fn fill<S: Source>(src: &mut S, buf: &mut Vec<u8>, deadline: Instant) -> Result<usize, FetchError> {
    let mut chunk = [0u8; 8192];
    loop {
        if Instant::now() >= deadline {
            return Err(FetchError::Timeout("total"));
        }
        match src.read_before(&mut chunk, deadline) {
            Ok(n) => {
                buf.extend_from_slice(&chunk[..n]);
                return Ok(n);
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Err(FetchError::Timeout("total"))
            }
            // A TLS peer that closes without close_notify after a complete body is common;
            // the framing above decides whether what we have is complete.
            Err(e) if e.kind() == ErrorKind::UnexpectedEof => return Ok(0),
            Err(e) => return Err(super::io_error(e)),
        }
    }
}

/// An incremental decoder of the chunked transfer coding (RFC 9112 §7.1). Chunk extensions
/// are ignored, trailers are read and dropped.
#[derive(Default)]
struct Chunked {
    state: ChunkState,
}

#[derive(Default, PartialEq)]
enum ChunkState {
    #[default]
    Size,
    Data(usize),
    DataEnd,
    Trailers,
    Done,
}

/// A chunk-size line longer than this is not a size line.
const MAX_CHUNK_LINE: usize = 1024;

impl Chunked {
    fn done(&self) -> bool {
        self.state == ChunkState::Done
    }

    /// Decodes what it can from `buf` into `out`; returns how many bytes of `buf` it used.
    fn feed(&mut self, buf: &[u8], out: &mut Vec<u8>, max: usize) -> Result<usize, FetchError> {
        let bad = |m: &str| FetchError::Protocol(format!("bad chunked body: {m}"));
        let mut pos = 0;
        loop {
            match self.state {
                ChunkState::Done => return Ok(pos),
                ChunkState::Size | ChunkState::Trailers | ChunkState::DataEnd => {
                    let rest = &buf[pos..];
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if rest.len() > MAX_CHUNK_LINE {
                            return Err(bad("a line is too long"));
                        }
                        return Ok(pos);
                    };
                    let line = &rest[..end];
                    pos += end + 2;
                    match self.state {
                        ChunkState::DataEnd => {
                            if !line.is_empty() {
                                return Err(bad("no CRLF after a chunk"));
                            }
                            self.state = ChunkState::Size;
                        }
                        ChunkState::Trailers => {
                            if line.is_empty() {
                                self.state = ChunkState::Done;
                            }
                        }
                        _ => {
                            let size_text = line.split(|b| *b == b';').next().unwrap_or(b"");
                            let size_text = std::str::from_utf8(size_text)
                                .map_err(|_| bad("a chunk size is not text"))?
                                .trim();
                            if size_text.is_empty() || size_text.len() > 8 {
                                return Err(bad("a chunk size is missing or too long"));
                            }
                            let size = usize::from_str_radix(size_text, 16)
                                .map_err(|_| bad("a chunk size is not hexadecimal"))?;
                            if size == 0 {
                                self.state = ChunkState::Trailers;
                            } else {
                                if out.len() + size > max {
                                    return Err(FetchError::TooLarge(max));
                                }
                                self.state = ChunkState::Data(size);
                            }
                        }
                    }
                }
                ChunkState::Data(left) => {
                    let avail = buf.len() - pos;
                    if avail == 0 {
                        return Ok(pos);
                    }
                    let take = avail.min(left);
                    out.extend_from_slice(&buf[pos..pos + take]);
                    pos += take;
                    self.state = if take == left {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left - take)
                    };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// A source that hands out the given pieces one read at a time.
    struct Pieces(Vec<Vec<u8>>);

    impl Source for Pieces {
        fn read_before(&mut self, buf: &mut [u8], _: Instant) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return Ok(0);
            }
            let n = self.0[0].len().min(buf.len());
            buf[..n].copy_from_slice(&self.0[0][..n]);
            self.0[0].drain(..n);
            if self.0[0].is_empty() {
                self.0.remove(0);
            }
            Ok(n)
        }
    }

    fn read(pieces: &[&[u8]], max: usize) -> Result<Parsed, FetchError> {
        let mut src = Pieces(pieces.iter().map(|p| p.to_vec()).collect());
        read_response(
            &mut src,
            "GET",
            max,
            Instant::now() + Duration::from_secs(5),
        )
    }

    #[test]
    fn content_length_body_split_across_reads() {
        let r = read(
            &[
                b"HTTP/1.1 200 OK\r\nContent-Le",
                b"ngth: 5\r\n\r\nhel",
                b"lo trailing",
            ],
            100,
        )
        .unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.body, b"hello");
    }

    #[test]
    fn chunked_body_with_extensions_and_trailers() {
        let r = read(
            &[
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nWi",
                b"ki\r\n5\r\npedia\r\n0\r\nTrailer: t\r\n\r\n",
            ],
            100,
        )
        .unwrap();
        assert_eq!(r.body, b"Wikipedia");
    }

    #[test]
    fn interim_responses_are_skipped() {
        let r = read(
            &[b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n"],
            100,
        )
        .unwrap();
        assert_eq!(r.status, 204);
    }

    #[test]
    fn body_to_end_of_stream() {
        let r = read(&[b"HTTP/1.1 200 OK\r\n\r\nabc", b"def"], 100).unwrap();
        assert_eq!(r.body, b"abcdef");
    }

    #[test]
    fn every_framing_is_capped() {
        let big = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: 101\r\n\r\n{}",
            "x".repeat(101)
        );
        assert!(matches!(
            read(&[big.as_bytes()], 100),
            Err(FetchError::TooLarge(100))
        ));
        let chunked = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n65\r\n";
        assert!(matches!(
            read(&[chunked], 100),
            Err(FetchError::TooLarge(100))
        ));
        let eof = format!("HTTP/1.1 200 OK\r\n\r\n{}", "x".repeat(101));
        assert!(matches!(
            read(&[eof.as_bytes()], 100),
            Err(FetchError::TooLarge(100))
        ));
    }

    #[test]
    fn malformed_responses_are_errors() {
        for bad in [
            &b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab"[..],
            b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
            b"SSH-2.0-OpenSSH\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n",
        ] {
            assert!(
                matches!(read(&[bad], 100), Err(FetchError::Protocol(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        let huge_head = format!("HTTP/1.1 200 OK\r\nX: {}\r\n", "a".repeat(MAX_HEAD));
        assert!(matches!(
            read(&[huge_head.as_bytes()], 100),
            Err(FetchError::Protocol(_))
        ));
    }
}
