//! The seed's content API: `POST /api/v1/content` (durable write, 202) and
//! `GET /api/v1/content/{content_id}` (cache-aside, replica-routed read).

use std::sync::atomic::Ordering;

use axum::{
    extract::{rejection::JsonRejection, Path, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::AppState;
use crate::{
    backend::{ContentRow, ContentStatus, NewContent},
    db::ReadRoute,
    error::ApiError,
    metrics::Tier,
    worker::burn_cpu,
};

/// A new content item.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateContent {
    /// Owner: 1–64 characters of `[A-Za-z0-9_-]` (enforced: anything else is a 422).
    #[schema(min_length = 1, max_length = 64, pattern = "^[A-Za-z0-9_-]{1,64}$", example = "123")]
    pub user_id: String,
    /// The content itself (UTF-8 text, non-empty; the whole body is capped by the deployment's
    /// `max_body_bytes`, 413 past it).
    #[schema(min_length = 1, example = "hello")]
    pub payload: String,
}

/// The write is durable and queued for processing.
#[derive(Debug, Serialize, ToSchema)]
pub struct Accepted {
    /// Always `processing`.
    pub status: ContentStatus,
    pub content_id: String,
}

/// A stored content item.
#[derive(Debug, Serialize, ToSchema)]
pub struct ContentBody {
    pub content_id: String,
    pub user_id: String,
    pub payload: String,
    pub metadata: ContentMetadata,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ContentMetadata {
    pub status: ContentStatus,
    /// Payload size in bytes.
    pub size_bytes: u64,
    /// SHA-256 of the payload, hex; set once processing is done.
    pub sha256: Option<String>,
    /// Line count of the payload; set once processing is done.
    pub lines: Option<u64>,
    pub created_at: DateTime<Utc>,
    /// Where the payload is kept: its key in a local store (relative, no server path) or the
    /// `s3://bucket/key` of an S3 store.
    pub asset_url: String,
}

fn validate(body: &CreateContent) -> Result<(), ApiError> {
    let id = &body.user_id;
    if id.is_empty() || id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-') {
        return Err(ApiError::Invalid {
            field: "user_id",
            reason: "must be 1-64 characters of A-Z, a-z, 0-9, '_' or '-'".into(),
        });
    }
    if body.payload.is_empty() {
        return Err(ApiError::Invalid { field: "payload", reason: "must not be empty".into() });
    }
    Ok(())
}

async fn app_cpu_knob(state: &AppState) {
    let knob = state.http.extra_cpu_per_request;
    if !knob.is_zero() {
        let _ = tokio::task::spawn_blocking(move || burn_cpu(knob)).await;
    }
}

/// Stores the payload, commits the row and its job together, then answers 202.
#[utoipa::path(post, path = "/api/v1/content", tag = "content", request_body = CreateContent,
    responses(
        (status = 202, body = Accepted),
        (status = 400, body = crate::error::ErrorBody, description = "malformed JSON, or a body that could not be read"),
        (status = 408, body = crate::error::ErrorBody, description = "the body did not arrive within the body-read timeout"),
        (status = 413, body = crate::error::ErrorBody, description = "body over the size cap"),
        (status = 415, body = crate::error::ErrorBody, description = "not application/json"),
        (status = 422, body = crate::error::ErrorBody, description = "a field is invalid"),
        (status = 503, body = crate::error::ErrorBody, description = "overloaded or a backend is down"),
    ))]
pub async fn create_content(
    State(state): State<AppState>,
    body: Result<Json<CreateContent>, JsonRejection>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    let Json(body) = body.map_err(|r| match ApiError::from(r) {
        ApiError::PayloadTooLarge { .. } => ApiError::PayloadTooLarge { limit: state.http.max_body_bytes },
        other => other,
    })?;
    validate(&body)?;
    app_cpu_knob(&state).await;
    let m = &state.metrics;
    let payload = Bytes::from(body.payload.into_bytes());
    let len = payload.len() as u64;
    let asset_url = m.timed(Tier::ObjectStore, state.store.put_new(payload)).await?;
    m.object_bytes_written.fetch_add(len, Ordering::Relaxed);
    let new = NewContent { user_id: body.user_id, asset_url, created_at: Utc::now() };
    let job = m.timed(Tier::DbPrimary, state.db.insert_content(&new, state.queue.insert_lease())).await?;
    let content_id = job.content_id;
    // Durable from here on. A failed publish loses nothing: the job row's lease runs out and
    // the queue's upkeep publishes it again.
    if let Err(e) = m.timed(Tier::Queue, state.queue.publish(&job)).await {
        tracing::warn!(job_id = job.job_id, error = %e, "publishing the job failed; the outbox will retry");
    }
    Ok((StatusCode::ACCEPTED, Json(Accepted { status: ContentStatus::Processing, content_id: content_id.to_string() })))
}

fn json_response(body: Bytes) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}

async fn read_row(state: &AppState, id: i64) -> Result<Option<ContentRow>, ApiError> {
    let m = &state.metrics;
    let replicas = state.db.has_replicas();
    let tier = if replicas { Tier::DbReplica } else { Tier::DbPrimary };
    let mut row = m.timed(tier, state.db.get_content(id, ReadRoute::Replica)).await?;
    for _ in 0..state.http.extra_queries_per_read {
        row = m.timed(tier, state.db.get_content(id, ReadRoute::Replica)).await?;
    }
    if row.is_none() && replicas {
        // A write this recent may not have reached the replica yet: ask the primary.
        row = m.timed(Tier::DbPrimary, state.db.get_content(id, ReadRoute::Primary)).await?;
    }
    Ok(row)
}

/// Reads one item: cache, then database (replica when configured), then object store.
#[utoipa::path(get, path = "/api/v1/content/{content_id}", tag = "content",
    params(("content_id" = String, Path, description = "id returned by the POST (anything else is a 404)")),
    responses(
        (status = 200, body = ContentBody),
        (status = 404, body = crate::error::ErrorBody, description = "unknown id"),
        (status = 408, body = crate::error::ErrorBody, description = "a request body did not arrive within the body-read timeout"),
        (status = 503, body = crate::error::ErrorBody, description = "overloaded or a backend is down"),
    ))]
pub async fn get_content(State(state): State<AppState>, Path(content_id): Path<String>) -> Result<Response, ApiError> {
    let unknown = || ApiError::NotFound(format!("no content with id {content_id:?}"));
    let id: i64 = content_id.parse().ok().filter(|&id| id > 0).ok_or_else(unknown)?;
    app_cpu_knob(&state).await;
    let m = &state.metrics;
    if let Some(cache) = &state.cache {
        match m.timed(Tier::Cache, cache.get(id)).await {
            Ok(Some(body)) => {
                m.cache_hits.fetch_add(1, Ordering::Relaxed);
                return Ok(json_response(body));
            }
            Ok(None) => {
                m.cache_misses.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => {
                // A sick cache degrades to a miss; the database still answers.
                m.cache_misses.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(error = %e, "cache read failed");
            }
        }
    }
    let row = read_row(&state, id).await?.ok_or_else(unknown)?;
    let payload = m.timed(Tier::ObjectStore, state.store.get(&row.asset_url)).await?;
    m.object_bytes_read.fetch_add(payload.len() as u64, Ordering::Relaxed);
    let payload = String::from_utf8(payload.to_vec())
        .map_err(|_| ApiError::Internal(anyhow::anyhow!("content {id} payload is not UTF-8")))?;
    let size_bytes = payload.len() as u64;
    let meta = row.metadata.as_ref();
    let body = ContentBody {
        content_id: row.id.to_string(),
        user_id: row.user_id,
        payload,
        metadata: ContentMetadata {
            status: row.status,
            size_bytes,
            sha256: meta.map(|m| m.sha256.clone()),
            lines: meta.map(|m| m.lines),
            created_at: row.created_at,
            asset_url: state.store.public_name(&row.asset_url),
        },
    };
    let bytes = Bytes::from(serde_json::to_vec(&body).map_err(|e| ApiError::Internal(e.into()))?);
    if let (Some(cache), ContentStatus::Ready) = (&state.cache, row.status) {
        // Only finished items are cached: they do not change afterwards.
        if let Err(e) = m.timed(Tier::Cache, cache.put(id, bytes.clone())).await {
            tracing::debug!(error = %e, "cache write failed");
        }
    }
    Ok(json_response(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_ids_are_validated() {
        let ok = |u: &str| validate(&CreateContent { user_id: u.into(), payload: "x".into() }).is_ok();
        assert!(ok("123") && ok("user_1-a"));
        assert!(!ok("") && !ok("a b") && !ok(&"x".repeat(65)) && !ok("é"));
        assert!(validate(&CreateContent { user_id: "1".into(), payload: String::new() }).is_err());
    }
}
