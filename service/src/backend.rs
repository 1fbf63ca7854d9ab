//! What every backend (database, cache, object store, queue) shares: the error they return at
//! the library boundary, and the row/job types that cross between them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Longest one backend's probe may take before it counts as failing.
pub const PING_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// A backend call failed. `Unavailable` means "the server did not answer" (503, retry later);
/// `Other` is a bug or data problem (500).
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("{what} unavailable: {source}")]
    Unavailable {
        what: &'static str,
        #[source]
        source: anyhow::Error,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl BackendError {
    pub fn unavailable(what: &'static str, source: impl Into<anyhow::Error>) -> Self {
        Self::Unavailable { what, source: source.into() }
    }
}

/// Maps a sqlx error: connection-level problems are "unavailable", the rest are bugs.
pub fn classify_sqlx(what: &'static str, e: sqlx::Error) -> BackendError {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::WorkerCrashed => BackendError::unavailable(what, e),
        sqlx::Error::Database(ref db) if is_transient_db_code(db.code().as_deref()) => {
            BackendError::unavailable(what, e)
        }
        other => BackendError::Other(anyhow::Error::new(other).context(what)),
    }
}

fn is_transient_db_code(code: Option<&str>) -> bool {
    matches!(
        code,
        // PostgreSQL: admin shutdown, cannot connect now, read-only (a standby), statement timeout;
        // SQLite: SQLITE_BUSY (5), SQLITE_LOCKED (6).
        Some("57P01" | "57P02" | "57P03" | "25006" | "57014" | "5" | "6")
    )
}

/// Processing state of a content item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ContentStatus {
    Processing,
    Ready,
    Failed,
}

impl ContentStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Processing => "processing",
            Self::Ready => "ready",
            Self::Failed => "failed",
        }
    }

    pub fn parse(s: &str) -> Self {
        match s {
            "ready" => Self::Ready,
            "failed" => Self::Failed,
            _ => Self::Processing,
        }
    }
}

/// A row of `user_content`.
#[derive(Debug, Clone)]
pub struct ContentRow {
    pub id: i64,
    pub user_id: String,
    pub asset_url: String,
    pub status: ContentStatus,
    pub created_at: DateTime<Utc>,
    /// Filled by the worker: size, hash, processing time.
    pub metadata: Option<ProcessedMetadata>,
}

/// What a worker computes from a payload. Deterministic in the payload, so a job done twice
/// writes the same result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProcessedMetadata {
    pub size_bytes: u64,
    pub sha256: String,
    pub lines: u64,
}

/// A new write: the payload is already in the object store at `asset_url`.
#[derive(Debug, Clone)]
pub struct NewContent {
    pub user_id: String,
    pub asset_url: String,
    pub created_at: DateTime<Utc>,
}

/// A post-processing job (one per write), as held in the durable job table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub job_id: i64,
    pub content_id: i64,
    /// Attempts made so far, this one included.
    pub attempts: i32,
}

/// Depth of the durable job backlog.
#[derive(Debug, Clone, Copy, Default)]
pub struct QueueStats {
    pub depth: i64,
    pub oldest_age_seconds: f64,
}

/// One backend's answer to the readiness probe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Probe {
    /// Name as reported in `/healthz` and `/metrics` (`db_primary`, `db_replica_0`, `cache`, …).
    pub name: String,
    /// Whether the service can serve without it: a failing required backend makes the
    /// instance unavailable (503), a failing optional one only degraded (200).
    pub required: bool,
    /// `None` when it answered, else why not (for the log only, never the response).
    pub failure: Option<String>,
}

impl Probe {
    pub fn new(name: impl Into<String>, required: bool, failure: Option<String>) -> Self {
        Self { name: name.into(), required, failure }
    }
}

/// Size and use of one connection pool.
#[derive(Debug, Clone)]
pub struct PoolStats {
    pub name: String,
    pub max: u32,
    pub size: u32,
    pub in_use: u32,
    pub waiting: u64,
}
