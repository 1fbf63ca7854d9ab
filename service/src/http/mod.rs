//! The HTTP surface: routes, shared state, and the middleware every request passes through:
//! the body read whole within `body_read_timeout` (408 past it), then the in-flight cap that
//! sheds with 503 (a request holds a place only while the handler works, so clients trickling
//! their bodies cannot take every place), the request timeout, the body limit, per-route
//! metrics. The connection-level defences (header-read timeout, connection cap) are in
//! [`server`].

pub mod content;
pub mod ops;
pub mod server;

use std::{sync::Arc, time::Instant};

use axum::{
    extract::{DefaultBodyLimit, MatchedPath, Request, State},
    middleware::{self, Next},
    response::{IntoResponse, Response},
    routing::{get, post},
    Router,
};
use tokio::sync::Semaphore;

use crate::{
    backend::QueueStats,
    cache::Cache,
    config::HttpConfig,
    db::Database,
    error::ApiError,
    metrics::AppMetrics,
    queue::JobQueue,
    readiness::{Cached, Readiness},
    store::PayloadStore,
};

/// Everything a handler can reach; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    pub db: Arc<dyn Database>,
    pub cache: Option<Arc<dyn Cache>>,
    pub store: Arc<PayloadStore>,
    pub queue: Arc<dyn JobQueue>,
    pub metrics: Arc<AppMetrics>,
    pub http: Arc<HttpConfig>,
    pub in_flight: Arc<Semaphore>,
    pub readiness: Arc<Readiness>,
    /// Job backlog for `/metrics`, read from the database at most once per probe interval.
    pub queue_stats: Arc<Cached<Option<QueueStats>>>,
}

impl AppState {
    /// The backends, as a readiness probe asks them.
    pub fn backends(&self) -> crate::readiness::Backends<'_> {
        crate::readiness::Backends {
            db: self.db.as_ref(),
            cache: self.cache.as_deref(),
            store: self.store.as_ref(),
            queue: self.queue.as_ref(),
        }
    }
}

/// The service's router over `state`.
pub fn router(state: AppState) -> Router {
    let limit = state.http.max_body_bytes;
    Router::new()
        .route("/api/v1/content", post(content::create_content))
        .route("/api/v1/content/{content_id}", get(content::get_content))
        .route("/healthz", get(ops::healthz))
        .route("/livez", get(ops::livez))
        .route("/metrics", get(ops::metrics))
        .route("/openapi.json", get(ops::openapi))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn_with_state(state.clone(), guard))
        .with_state(state)
}

/// Route label for metrics: a fixed set, so label cardinality stays bounded.
fn route_label(path: Option<&MatchedPath>) -> &'static str {
    match path.map(MatchedPath::as_str) {
        Some("/api/v1/content") => "/api/v1/content",
        Some("/api/v1/content/{content_id}") => "/api/v1/content/{content_id}",
        Some("/healthz") => "/healthz",
        Some("/livez") => "/livez",
        Some("/metrics") => "/metrics",
        Some("/openapi.json") => "/openapi.json",
        _ => "unmatched",
    }
}

fn method_label(method: &axum::http::Method) -> &'static str {
    match *method {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::HEAD => "HEAD",
        _ => "OTHER",
    }
}

/// Reads the whole body within `body_read_timeout`, before any in-flight place is taken.
/// Bodies are small (`max_body_bytes`), so holding one per open connection is bounded by the
/// connection cap.
async fn read_body(http: &HttpConfig, request: Request) -> Result<Request, ApiError> {
    let (parts, body) = request.into_parts();
    let limit = http.max_body_bytes;
    match tokio::time::timeout(http.body_read_timeout, axum::body::to_bytes(body, limit)).await {
        Ok(Ok(bytes)) => Ok(Request::from_parts(parts, axum::body::Body::from(bytes))),
        Ok(Err(e)) if is_length_limit(&e) => Err(ApiError::PayloadTooLarge { limit }),
        Ok(Err(_)) => Err(ApiError::BadRequest("the request body could not be read".into())),
        Err(_) => Err(ApiError::BodyTimeout { timeout: http.body_read_timeout }),
    }
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if err.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        source = err.source();
    }
    false
}

/// Reads the body, sheds load past the in-flight cap, bounds the handler's time, and records
/// every request.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(request.extensions().get::<MatchedPath>());
    let method = method_label(request.method());
    let finish = |response: Response| {
        state.metrics.record_request(route, method, response.status().as_u16(), start.elapsed());
        response
    };
    // Operational routes bypass the cap so an overloaded service can still be observed (they
    // read the backends at most once per probe interval, so they cannot starve the pools).
    if !route.starts_with("/api/") {
        return finish(next.run(request).await);
    }
    let request = match read_body(&state.http, request).await {
        Ok(r) => r,
        Err(e) => return finish(e.into_response()),
    };
    let Ok(permit) = state.in_flight.clone().try_acquire_owned() else {
        state.metrics.shed_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        return finish(ApiError::Overloaded.into_response());
    };
    let response = match tokio::time::timeout(state.http.request_timeout, next.run(request)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout.into_response(),
    };
    drop(permit);
    finish(response)
}
