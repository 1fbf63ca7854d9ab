//! The job table as the queue: workers claim due rows with a lease (`SKIP LOCKED` on
//! PostgreSQL, a single writer on SQLite); a worker that dies lets its lease run out and the
//! job is claimed again. No broker to run, at the price of polling the database.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;

use super::{Delivery, JobQueue};
use crate::{
    backend::{BackendError, Job},
    db::Database,
};

pub struct TableQueue {
    db: Arc<dyn Database>,
    lease: Duration,
}

impl TableQueue {
    pub fn new(db: Arc<dyn Database>, lease: Duration) -> Self {
        Self { db, lease }
    }
}

#[async_trait]
impl JobQueue for TableQueue {
    fn insert_lease(&self) -> Option<Duration> {
        None
    }

    async fn publish(&self, _job: &Job) -> Result<(), BackendError> {
        // The committed row is the announcement.
        Ok(())
    }

    async fn take(&self, max: usize, _wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        let jobs = self.db.claim_jobs(max, self.lease).await?;
        Ok(jobs.into_iter().map(|job| Delivery { job, message_id: None }).collect())
    }

    async fn ack(&self, _delivery: &Delivery) -> Result<(), BackendError> {
        Ok(())
    }

    async fn maintain(&self) -> Result<(), BackendError> {
        Ok(())
    }

    async fn ping(&self) -> Option<String> {
        None
    }
}
