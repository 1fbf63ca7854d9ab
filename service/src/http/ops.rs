//! Operational routes: readiness, Prometheus metrics, the OpenAPI document, JSON 404/405.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use utoipa::{OpenApi, ToSchema};

use super::AppState;
use crate::error::ApiError;

/// Readiness report.
#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    /// `ok` or `unavailable`.
    pub status: &'static str,
    /// Backends that did not answer (names only; reasons go to the log).
    pub failing: Vec<String>,
}

/// Readiness: every backend answers.
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let mut failing = Vec::new();
    let mut note = |name: &str, reason: Option<String>| {
        if let Some(reason) = reason {
            tracing::warn!(backend = name, %reason, "health check failed");
            failing.push(name.to_owned());
        }
    };
    for (name, reason) in state.db.ping().await {
        note(&name, reason);
    }
    if let Some(cache) = &state.cache {
        note("cache", cache.ping().await);
    }
    note("object_store", state.store.ping().await);
    note("queue", state.queue.ping().await);
    let status = if failing.is_empty() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let body = Health {
        status: if failing.is_empty() { "ok" } else { "unavailable" },
        failing,
    };
    let mut response = (status, Json(body)).into_response();
    if status == StatusCode::SERVICE_UNAVAILABLE {
        response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("1"));
    }
    response
}

/// Liveness: the process serves HTTP. Touches no backend, so it is also the "trivial route"
/// the benchmarks compare real requests against.
#[utoipa::path(get, path = "/livez", tag = "ops", responses((status = 200, description = "alive", content_type = "text/plain")))]
pub async fn livez() -> &'static str {
    "ok"
}

/// Prometheus text: per-route requests and latency, per-tier busy time, pools, cache, queue.
#[utoipa::path(get, path = "/metrics", tag = "ops",
    responses((status = 200, description = "Prometheus text exposition", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> Response {
    let mut pools = state.db.pool_stats();
    if let Some(cache) = &state.cache {
        pools.push(crate::backend::PoolStats {
            name: "cache".into(),
            max: 0,
            size: 0,
            in_use: u32::try_from(cache.in_flight()).unwrap_or(u32::MAX),
            waiting: 0,
        });
    }
    // Queue depth is a gauge of the job table; if the database is down, the rest still renders.
    let queue = state.db.queue_stats().await.ok();
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.metrics.render(&pools, queue),
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "scaleloop reference content service", description = "The seed's content API on pluggable backends."),
    paths(super::content::create_content, super::content::get_content, healthz, livez, metrics),
    components(schemas(
        super::content::CreateContent, super::content::Accepted, super::content::ContentBody,
        super::content::ContentMetadata, crate::backend::ContentStatus, Health,
        crate::error::ErrorBody, crate::error::ErrorDetail
    ))
)]
pub struct ApiDoc;

/// The OpenAPI document, generated from the handlers' annotations.
pub async fn openapi() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

pub async fn not_found() -> ApiError {
    ApiError::NotFound("no such route".into())
}

pub async fn method_not_allowed() -> Response {
    let body = crate::error::ErrorBody {
        error: crate::error::ErrorDetail { code: "method_not_allowed", message: "method not allowed on this route".into() },
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
