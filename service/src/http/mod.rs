//! The HTTP surface: routes, shared state, and the middleware every request passes through
//! (in-flight cap that sheds with 503, request timeout, body limit, per-route metrics).

pub mod content;
pub mod ops;

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
    cache::Cache, config::HttpConfig, db::Database, error::ApiError, metrics::AppMetrics,
    queue::JobQueue, store::PayloadStore,
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

/// Sheds load past the in-flight cap, bounds request time, and records every request.
async fn guard(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = route_label(request.extensions().get::<MatchedPath>());
    let method = method_label(request.method());
    // Operational routes bypass the cap so an overloaded service can still be observed.
    let capped = route.starts_with("/api/");
    let permit = if capped {
        match state.in_flight.clone().try_acquire_owned() {
            Ok(p) => Some(p),
            Err(_) => {
                state.metrics.shed_requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let response = ApiError::Overloaded.into_response();
                state.metrics.record_request(route, method, response.status().as_u16(), start.elapsed());
                return response;
            }
        }
    } else {
        None
    };
    let response = match tokio::time::timeout(state.http.request_timeout, next.run(request)).await {
        Ok(r) => r,
        Err(_) => ApiError::Timeout.into_response(),
    };
    drop(permit);
    state.metrics.record_request(route, method, response.status().as_u16(), start.elapsed());
    response
}
