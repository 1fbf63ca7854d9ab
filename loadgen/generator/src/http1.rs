//! Lean HTTP/1.1 connections for the paced sends.
//!
//! A send takes a keep-alive connection (hyper's `client::conn::http1`) from the run's
//! [`ConnectionPool`], uses it for one request and gives it back, instead of going through
//! reqwest's client: its pool checkout, `Url` → `Uri` conversion and middleware were about a
//! tenth of the sending thread's CPU and tens of microseconds on every request's latency,
//! which an independent HTTP/1.1 client (oha) did not show.
//!
//! The pool hands out the connection given back last: the number of connections follows the
//! requests actually in flight (a few at 10,000/s on a fast target), not the number of users,
//! which is sized for the worst case (a thousand at 10,000/s). A thousand connections, each
//! used once every tenth of a second, cost the generator (and the target) about a quarter more
//! CPU per request than a few warm ones.
//!
//! For plain-HTTP targets only: over HTTPS the sends use the shared reqwest client (its TLS),
//! as they did before (`attack.rs` chooses by the base URL's scheme).
//!
//! The connection is opened on first use, and again whenever it is found closed or a
//! request fails. A request the connection never took (hyper hands it back) is retried once
//! on a fresh connection, as reqwest's pool does: nothing was written, so a write cannot be
//! doubled. Everything else counts as an error of the kind the recorder knows (`connect`,
//! `timeout`, `body`, `body_too_large`, `request`, `http_<code>`).

use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use crate::keys::WriteBody;
use crate::requests::{self, failed, ApiUrls, Reply};

/// One connection to the target; empty until the first request opens it.
#[derive(Debug)]
pub struct Connection {
    sender: Option<SendRequest<Full<Bytes>>>,
    timeout: Duration,
}

impl Default for Connection {
    fn default() -> Self {
        Self::with_timeout(REQUEST_TIMEOUT)
    }
}

/// Idle connections of one run, given back last handed out first.
#[derive(Debug, Default)]
pub struct ConnectionPool {
    idle: std::sync::Mutex<Vec<Connection>>,
}

impl ConnectionPool {
    /// The connection given back last, or a new (not yet open) one.
    pub fn take(&self) -> Connection {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).pop().unwrap_or_default()
    }

    /// Gives `connection` back for the next send, unless it is closed.
    pub fn give_back(&self, connection: Connection) {
        if connection.is_open() {
            self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).push(connection);
        }
    }

    /// How many connections are idle in the pool.
    pub fn idle(&self) -> usize {
        self.idle.lock().unwrap_or_else(std::sync::PoisonError::into_inner).len()
    }
}

/// How long one request may take, connecting included, before it counts as a `timeout`.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

impl Connection {
    /// A connection whose requests time out after `timeout` (default [`REQUEST_TIMEOUT`]).
    pub fn with_timeout(timeout: Duration) -> Self {
        Self { sender: None, timeout }
    }

    /// Whether a connection is open (for tests: it is reused between requests).
    pub fn is_open(&self) -> bool {
        self.sender.as_ref().is_some_and(|s| !s.is_closed())
    }

    /// `GET /api/v1/content/{id}`; success is `200`. The body is read whole but not decoded.
    pub async fn read(&mut self, api: &ApiUrls, id: &str) -> Reply {
        let Ok(path) = api.item_path(id) else {
            return failed(None, "request".into());
        };
        let request = hyper::Request::get(path).header(hyper::header::HOST, api.origin.host_header.clone());
        match self.exchange(api, request.body(Full::default())).await {
            Ok((status, bytes)) => requests::item_read(status, &bytes, false),
            Err(reply) => reply,
        }
    }

    /// `POST /api/v1/content`; success is `202` with a `content_id`.
    pub async fn write(&mut self, api: &ApiUrls, body: &WriteBody) -> Reply {
        let Ok(json) = serde_json::to_vec(body) else {
            return failed(None, "request".into());
        };
        let request = hyper::Request::post(api.content_path.clone())
            .header(hyper::header::HOST, api.origin.host_header.clone())
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(json)));
        match self.exchange(api, request).await {
            Ok((status, bytes)) => requests::written(status, &bytes),
            Err(reply) => reply,
        }
    }

    /// Sends `request` (connecting first if need be) and reads the whole answer, within the
    /// timeout. On any failure the connection is dropped: its state is unknown.
    async fn exchange(
        &mut self,
        api: &ApiUrls,
        request: Result<hyper::Request<Full<Bytes>>, http::Error>,
    ) -> Result<(u16, Bytes), Reply> {
        let request = request.map_err(|_| failed(None, "request".into()))?;
        let answer = match tokio::time::timeout(self.timeout, self.send(api, request)).await {
            Ok(answer) => answer,
            Err(_) => Err(failed(None, "timeout".into())),
        };
        if answer.is_err() {
            self.sender = None;
        }
        answer
    }

    async fn send(&mut self, api: &ApiUrls, mut request: hyper::Request<Full<Bytes>>) -> Result<(u16, Bytes), Reply> {
        let mut retried = false;
        let response = loop {
            let sender = self.ready(api).await?;
            match sender.try_send_request(request).await {
                Ok(response) => break response,
                Err(mut refused) => {
                    self.sender = None;
                    match refused.take_message() {
                        // Never written: safe to send again, once, on a fresh connection.
                        Some(unsent) if !retried => {
                            retried = true;
                            request = unsent;
                        }
                        _ => return Err(failed(None, "request".into())),
                    }
                }
            }
        };
        let status = response.status().as_u16();
        // Read at most the cap: a body past it fails the request (and the connection, whose
        // unread rest is dropped with it) instead of growing the generator's memory.
        match http_body_util::Limited::new(response.into_body(), api.max_response_bytes).collect().await {
            Ok(body) => Ok((status, body.to_bytes())),
            Err(e) if e.is::<http_body_util::LengthLimitError>() => {
                Err(failed(Some(status), requests::BODY_TOO_LARGE.into()))
            }
            Err(_) => Err(failed(Some(status), "body".into())),
        }
    }

    /// The open connection once it can take a request, or a new one.
    async fn ready(&mut self, api: &ApiUrls) -> Result<&mut SendRequest<Full<Bytes>>, Reply> {
        if let Some(sender) = &mut self.sender {
            // After an answer the connection needs a moment to be ready for the next request;
            // an error here means the server closed it while it sat idle.
            if sender.ready().await.is_err() {
                self.sender = None;
            }
        }
        if self.sender.is_none() {
            self.sender = Some(connect(api).await?);
        }
        Ok(self.sender.as_mut().expect("just connected"))
    }
}

/// Opens a connection to the API's host and port, with Nagle off (small requests must leave
/// at once), and drives it on a task of the current runtime.
async fn connect(api: &ApiUrls) -> Result<SendRequest<Full<Bytes>>, Reply> {
    let origin = &api.origin;
    let refused = |_| failed(None, "connect".into());
    let stream = tokio::net::TcpStream::connect((origin.host.as_str(), origin.port)).await.map_err(refused)?;
    stream.set_nodelay(true).map_err(refused)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|_| failed(None, "connect".into()))?;
    tokio::spawn(async move {
        // Ends when the server closes the connection or the user drops its sender; either
        // way the next request finds it closed and opens another.
        let _ = connection.await;
    });
    sender.ready().await.map_err(|_| failed(None, "connect".into()))?;
    Ok(sender)
}
