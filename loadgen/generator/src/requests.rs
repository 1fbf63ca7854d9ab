//! The content API as seen by the generator: one function per call, each returning what
//! happened in a form the recorder understands (status and error kind).

use std::time::Duration;

use serde::Deserialize;

use crate::keys::WriteBody;

/// What one request came back with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// HTTP status, or `None` when no response arrived.
    pub status: Option<u16>,
    /// Why it failed, or `None` on success: `http_<code>`, `timeout`, `connect`,
    /// `body`, `body_too_large`, `bad_json`, `request`.
    pub error: Option<String>,
    /// The new item's id (writes) or the item (reads), when it succeeded.
    pub body: ReplyBody,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ReplyBody {
    #[default]
    None,
    Created {
        content_id: String,
    },
    Item(Item),
}

/// The part of `GET /api/v1/content/{id}` the generator checks.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Item {
    pub content_id: String,
    pub user_id: String,
    pub payload: String,
}

#[derive(Deserialize)]
struct Created {
    content_id: String,
}

/// Why a base URL cannot be driven.
#[derive(Debug, thiserror::Error)]
pub enum ApiUrlError {
    #[error("not a URL: {0}")]
    NotAUrl(#[from] url::ParseError),
    #[error("not a base URL (it has no host and path)")]
    NotABase,
    #[error("scheme must be http or https, got {0}")]
    Scheme(String),
}

pub use crate::scenario::DEFAULT_MAX_RESPONSE_BYTES;

/// The content API's URLs under one base, parsed once. Parsing a URL string per request
/// (scheme, host with its IDNA pass, path) cost a few percent of the generator's CPU.
#[derive(Debug, Clone)]
pub struct ApiUrls {
    content: reqwest::Url,
    /// Largest response body read (see [`DEFAULT_MAX_RESPONSE_BYTES`]).
    pub(crate) max_response_bytes: usize,
    /// Where the paced sends connect, and what their `Host` header says.
    pub(crate) origin: Origin,
    /// `/…/api/v1/content` as a request target (origin-form).
    pub(crate) content_path: http::Uri,
}

/// The host and port a base URL names.
#[derive(Debug, Clone)]
pub(crate) struct Origin {
    pub host: String,
    pub port: u16,
    pub host_header: http::HeaderValue,
}

/// The characters a path segment must percent-encode (as the `url` crate's path segment set).
const PATH_SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'%')
    .add(b'/');

impl ApiUrls {
    /// `base_url` is where the API lives (`http://host:port`, optionally with a path prefix).
    pub fn new(base_url: &str) -> Result<Self, ApiUrlError> {
        let content = reqwest::Url::parse(&format!("{}/api/v1/content", base_url.trim_end_matches('/')))?;
        if !matches!(content.scheme(), "http" | "https") {
            return Err(ApiUrlError::Scheme(content.scheme().to_owned()));
        }
        let (Some(host), Some(port)) = (content.host_str(), content.port_or_known_default()) else {
            return Err(ApiUrlError::NotABase);
        };
        if content.cannot_be_a_base() {
            return Err(ApiUrlError::NotABase);
        }
        let authority = match content.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        };
        let host_header = http::HeaderValue::from_str(&authority).map_err(|_| ApiUrlError::NotABase)?;
        // A bracketed IPv6 literal connects without its brackets.
        let connect_host = host.trim_start_matches('[').trim_end_matches(']').to_owned();
        let content_path = http::Uri::try_from(content.path()).map_err(|_| ApiUrlError::NotABase)?;
        Ok(Self {
            origin: Origin { host: connect_host, port, host_header },
            content_path,
            content,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        })
    }

    /// The same URLs, reading response bodies of at most `bytes`.
    pub fn with_max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// Plain HTTP: the paced sends use their own lean connections (`http1.rs`); over HTTPS
    /// they go through the shared reqwest client and its TLS.
    pub fn is_plain_http(&self) -> bool {
        self.content.scheme() == "http"
    }

    /// `…/api/v1/content`.
    pub fn content(&self) -> reqwest::Url {
        self.content.clone()
    }

    /// `…/api/v1/content/{id}`, the id percent-encoded as one path segment.
    pub fn item(&self, id: &str) -> reqwest::Url {
        let mut url = self.content.clone();
        url.path_segments_mut().expect("checked in `new`: the URL can be a base").push(id);
        url
    }

    /// The request target of [`ApiUrls::item`] (origin-form: path only).
    pub(crate) fn item_path(&self, id: &str) -> Result<http::Uri, http::uri::InvalidUri> {
        let encoded = percent_encoding::utf8_percent_encode(id, PATH_SEGMENT);
        http::Uri::try_from(format!("{}/{encoded}", self.content_path.path()))
    }
}

fn transport_error(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connect".into()
    } else if e.is_body() || e.is_decode() {
        "body".into()
    } else {
        "request".into()
    }
}

pub(crate) fn failed(status: Option<u16>, kind: String) -> Reply {
    Reply { status, error: Some(kind), body: ReplyBody::None }
}

/// The error kind of an answer whose body is over the cap.
pub const BODY_TOO_LARGE: &str = "body_too_large";

/// Sends `request` and reads the whole body, at most `max` bytes of it (past that the request
/// fails as [`BODY_TOO_LARGE`] and the rest is never read); a transport failure is already a
/// `Reply`.
async fn exchange(request: reqwest::RequestBuilder, max: usize) -> Result<(u16, bytes::Bytes), Reply> {
    let mut response = request.send().await.map_err(|e| failed(None, transport_error(&e)))?;
    let status = response.status().as_u16();
    if response.content_length().is_some_and(|n| n > max as u64) {
        return Err(failed(Some(status), BODY_TOO_LARGE.into()));
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| failed(Some(status), transport_error(&e)))? {
        if body.len() + chunk.len() > max {
            return Err(failed(Some(status), BODY_TOO_LARGE.into()));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body.freeze()))
}

/// `POST /api/v1/content`; success is `202` with a `content_id`.
pub async fn write(client: &reqwest::Client, api: &ApiUrls, body: &WriteBody) -> Reply {
    match exchange(client.post(api.content()).json(body), api.max_response_bytes).await {
        Ok((status, bytes)) => written(status, &bytes),
        Err(reply) => reply,
    }
}

/// `GET /api/v1/content/{id}`; success is `200`. With `parse`, the body is decoded.
pub async fn read(client: &reqwest::Client, api: &ApiUrls, id: &str, parse: bool) -> Reply {
    match exchange(client.get(api.item(id)), api.max_response_bytes).await {
        Ok((status, bytes)) => item_read(status, &bytes, parse),
        Err(reply) => reply,
    }
}

/// What a write's answer means, however it was sent.
pub(crate) fn written(status: u16, bytes: &[u8]) -> Reply {
    if status != 202 && status != 201 && status != 200 {
        return failed(Some(status), format!("http_{status}"));
    }
    match serde_json::from_slice::<Created>(bytes) {
        Ok(c) => Reply { status: Some(status), error: None, body: ReplyBody::Created { content_id: c.content_id } },
        Err(_) => failed(Some(status), "bad_json".into()),
    }
}

/// What a read's answer means, however it was sent; with `parse`, the item is decoded.
pub(crate) fn item_read(status: u16, bytes: &[u8], parse: bool) -> Reply {
    if status != 200 {
        return failed(Some(status), format!("http_{status}"));
    }
    if !parse {
        return Reply { status: Some(status), error: None, body: ReplyBody::None };
    }
    match serde_json::from_slice::<Item>(bytes) {
        Ok(item) => Reply { status: Some(status), error: None, body: ReplyBody::Item(item) },
        Err(_) => failed(Some(status), "bad_json".into()),
    }
}

/// Polls `GET /healthz` until it answers 200 or `within` passes.
pub async fn wait_healthy(client: &reqwest::Client, base_url: &str, within: Duration) -> Result<(), String> {
    let deadline = tokio::time::Instant::now() + within;
    let mut last;
    loop {
        match client.get(format!("{base_url}/healthz")).timeout(Duration::from_secs(2)).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = format!("HTTP {}", r.status()),
            Err(e) => last = e.to_string(),
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(last);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}
