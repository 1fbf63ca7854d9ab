//! Operational routes: readiness, Prometheus metrics, the OpenAPI document, JSON 404/405.

use axum::{
    extract::State,
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use utoipa::OpenApi;

use super::AppState;
use crate::{
    error::ApiError,
    readiness::{Health, Status},
};

/// Readiness: 200 while every required backend answers (`ok`, or `degraded` when an optional
/// one does not), 503 when a required one fails. See [`crate::readiness`].
#[utoipa::path(get, path = "/healthz", tag = "ops",
    responses(
        (status = 200, body = Health, description = "serving (`ok` or `degraded`)"),
        (status = 503, body = Health, description = "a required backend does not answer"),
    ))]
pub async fn healthz(State(state): State<AppState>) -> Response {
    let health = state.readiness.check(state.backends()).await;
    let unavailable = health.status == Status::Unavailable;
    let status = if unavailable { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
    let mut response = (status, Json(&*health)).into_response();
    if unavailable {
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
    // Queue depth is a gauge of the job table, read at most once per probe interval however
    // often the metrics are scraped; if the database is down, the rest still renders.
    let queue = state.queue_stats.get(async { state.db.queue_stats().await.ok() }).await;
    let mut text = state.metrics.render(&pools, queue);
    if let Some(health) = state.readiness.latest() {
        crate::metrics::render_health(&mut text, &health);
    }
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(title = "scaleloop reference content service", description = "The seed's content API on pluggable backends."),
    paths(super::content::create_content, super::content::get_content, healthz, livez, metrics),
    components(schemas(
        super::content::CreateContent,
        super::content::Accepted,
        super::content::ContentBody,
        super::content::ContentMetadata,
        crate::backend::ContentStatus,
        Health,
        Status,
        crate::error::ErrorBody,
        crate::error::ErrorDetail
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
        error: crate::error::ErrorDetail {
            code: "method_not_allowed",
            message: "method not allowed on this route".into(),
        },
    };
    (StatusCode::METHOD_NOT_ALLOWED, Json(body)).into_response()
}
