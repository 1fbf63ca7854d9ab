//! The database tier behind one small trait: embedded SQLite or PostgreSQL (primary, read
//! replicas, and user_id shards). Rows and jobs are written in one transaction, so a write is
//! acknowledged only once both are durable.

mod pool;
pub mod postgres;
pub mod sharded;
pub mod sqlite;
mod sqlite_readers;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{
    backend::{BackendError, ContentRow, Job, NewContent, PoolStats, ProcessedMetadata, QueueStats},
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
    /// Inserts the content row and its job in one transaction; returns (content_id, job_id).
    /// With `job_leased_for`, the job starts leased (a broker delivers it; the table only
    /// re-offers it if the lease runs out).
    async fn insert_content(
        &self,
        new: &NewContent,
        job_leased_for: Option<Duration>,
    ) -> Result<(i64, i64), BackendError>;

    async fn get_content(&self, id: i64, route: ReadRoute) -> Result<Option<ContentRow>, BackendError>;

    /// Takes up to `max` due jobs, leasing each for `lease` and counting the attempt.
    async fn claim_jobs(&self, max: usize, lease: Duration) -> Result<Vec<Job>, BackendError>;

    /// Marks the content ready with its metadata and deletes the job, in one transaction.
    /// Idempotent: completing a job twice writes the same row.
    async fn complete_job(&self, job: &Job, meta: &ProcessedMetadata) -> Result<(), BackendError>;

    /// Releases a failed job to run again after `delay`.
    async fn retry_job(&self, job: &Job, delay: Duration) -> Result<(), BackendError>;

    /// Gives a job up: the content is marked failed and the job deleted.
    async fn fail_job(&self, job: &Job) -> Result<(), BackendError>;

    async fn queue_stats(&self) -> Result<QueueStats, BackendError>;

    /// Checks every pool answers; returns the name of each that does not.
    async fn ping(&self) -> Vec<(String, Option<String>)>;

    fn pool_stats(&self) -> Vec<PoolStats>;

    /// Whether reads routed to `Replica` really reach a replica.
    fn has_replicas(&self) -> bool;
}

/// Opens the configured database and brings its schema up to date.
pub async fn connect(
    cfg: &DatabaseConfig,
    resolve: impl Fn(&std::path::Path) -> std::path::PathBuf,
) -> Result<Arc<dyn Database>, BackendError> {
    Ok(match cfg {
        DatabaseConfig::Sqlite(c) => Arc::new(sqlite::SqliteDb::connect(c, &resolve(&c.path)).await?),
        DatabaseConfig::Postgres(c) if c.shard_urls.is_empty() => {
            Arc::new(postgres::PgDb::connect(c).await?)
        }
        DatabaseConfig::Postgres(c) => Arc::new(postgres::ShardedPg::connect(c).await?),
    })
}

pub(crate) fn parse_metadata(text: Option<String>) -> Option<ProcessedMetadata> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}
