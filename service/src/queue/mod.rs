//! The job queue between the write path and the workers, behind one small trait.
//!
//! The database's job table is always the durable record of work to do (it is committed in the
//! same transaction as the content row, so an acknowledged write always has its job). The
//! queue decides how workers *learn* of jobs: by claiming table rows directly (`table`), or by
//! Redis Streams deliveries (`redis-streams`) with the table as an outbox that re-publishes any
//! job whose delivery was lost.

pub mod redis_streams;
pub mod table;

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use crate::{
    backend::{BackendError, Job},
    config::{QueueConfig, QueueKind},
    db::Database,
};

/// One job handed to a worker, with what the queue needs to acknowledge it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub job: Job,
    /// The broker's message id, when a broker delivered it.
    pub message_id: Option<String>,
}

#[async_trait]
pub trait JobQueue: Send + Sync + 'static {
    /// Lease a new job row starts with (a broker delivers it; the table re-offers it only when
    /// the lease runs out). `None`: the job is claimable at once.
    fn insert_lease(&self) -> Option<Duration>;

    /// Announces a committed job. Failure here loses nothing: the outbox re-publishes it.
    async fn publish(&self, job: &Job) -> Result<(), BackendError>;

    /// Up to `max` jobs; may wait up to `wait` for one to arrive.
    async fn take(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError>;

    /// The delivery is finished with (its outcome is already recorded in the database).
    async fn ack(&self, delivery: &Delivery) -> Result<(), BackendError>;

    /// Periodic upkeep: re-publishes jobs whose delivery was lost or whose worker died.
    async fn maintain(&self) -> Result<(), BackendError>;

    /// `None` when healthy, else the reason.
    async fn ping(&self) -> Option<String>;

    /// Whether the service needs this queue to accept writes (readiness). The job table is the
    /// durable queue and part of the database; a broker that only delivers jobs is optional.
    fn required(&self) -> bool {
        true
    }
}

/// Builds the configured queue over the given database.
pub async fn connect(cfg: &QueueConfig, db: Arc<dyn Database>) -> Result<Arc<dyn JobQueue>, BackendError> {
    Ok(match cfg.kind {
        QueueKind::Table => Arc::new(table::TableQueue::new(db, cfg.lease)),
        QueueKind::RedisStreams => Arc::new(redis_streams::StreamQueue::new(cfg, db)?),
    })
}
