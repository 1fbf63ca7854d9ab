//! The database tier behind one small trait: embedded SQLite or PostgreSQL (primary, read
//! replicas, and user_id shards). Rows and jobs are written in one transaction, so a write is
//! acknowledged only once both are durable.

mod migrations;
mod pool;
pub mod postgres;
pub mod sharded;
pub mod sqlite;
mod sqlite_readers;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{
    backend::{BackendError, ContentRow, Job, NewContent, PoolStats, Probe, ProcessedMetadata, QueueStats},
    config::DatabaseConfig,
};

pub use pool::TrackedPool;

/// Where a read goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadRoute {
    Primary,
    /// A replica when there is one (round-robin), else the primary.
    Replica,
}

/// The operations the service needs from its database.
#[async_trait]
pub trait Database: Send + Sync + 'static {
    /// Inserts the content row and its job in one transaction; returns the job (its
    /// `content_id` is the new item's id). With `job_leased_for`, the job starts leased (a
    /// broker delivers it; the table only re-offers it if the lease runs out) and that delivery
    /// counts as its first attempt, as a claim does: attempts count the same on every queue.
    async fn insert_content(&self, new: &NewContent, job_leased_for: Option<Duration>) -> Result<Job, BackendError>;

    async fn get_content(&self, id: i64, route: ReadRoute) -> Result<Option<ContentRow>, BackendError>;

    /// Takes up to `max` due jobs, leasing each for `lease` and counting the attempt.
    async fn claim_jobs(&self, max: usize, lease: Duration) -> Result<Vec<Job>, BackendError>;

    /// Marks the content ready with its metadata and deletes the job, in one transaction.
    /// Fenced like every outcome below: it applies only while the job row still carries this
    /// claim's attempt (see [`Fenced`]); a worker whose lease ran out and whose job was
    /// claimed again gets `Fenced::Stale` and changes nothing.
    async fn complete_job(&self, job: &Job, meta: &ProcessedMetadata) -> Result<Fenced, BackendError>;

    /// Releases a failed job to run again after `delay`.
    async fn retry_job(&self, job: &Job, delay: Duration) -> Result<Fenced, BackendError>;

    /// Gives a job up: the content is marked failed and the job deleted.
    async fn fail_job(&self, job: &Job) -> Result<Fenced, BackendError>;

    async fn queue_stats(&self) -> Result<QueueStats, BackendError>;

    /// Asks every pool to answer: primaries (and shards) are required, replicas optional.
    async fn ping(&self) -> Vec<Probe>;

    fn pool_stats(&self) -> Vec<PoolStats>;

    /// Whether reads routed to `Replica` reach a replica now (there is one, and not every one
    /// is out after a failure).
    fn has_replicas(&self) -> bool;
}

/// Whether a job outcome was recorded. Each claim increments the job row's `attempts`, so the
/// attempt a worker holds is its fencing token: an outcome is written only where the row's
/// `attempts` still equals the worker's, i.e. nobody claimed the job since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[must_use]
pub enum Fenced {
    Applied,
    /// The job was claimed again (or is gone): this worker's outcome was ignored.
    Stale,
}

impl Fenced {
    fn of(rows_affected: u64) -> Self {
        if rows_affected > 0 {
            Self::Applied
        } else {
            Self::Stale
        }
    }
}

/// Opens the configured database and brings its schema up to date.
pub async fn connect(
    cfg: &DatabaseConfig,
    resolve: impl Fn(&std::path::Path) -> std::path::PathBuf,
) -> Result<Arc<dyn Database>, BackendError> {
    Ok(match cfg {
        DatabaseConfig::Sqlite(c) => Arc::new(sqlite::SqliteDb::connect(c, &resolve(&c.path)).await?),
        DatabaseConfig::Postgres(c) if c.shard_urls.is_empty() => Arc::new(postgres::PgDb::connect(c).await?),
        DatabaseConfig::Postgres(c) => Arc::new(sharded::ShardedPg::connect(c).await?),
    })
}

pub(crate) fn parse_metadata(text: Option<String>) -> Option<ProcessedMetadata> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}
