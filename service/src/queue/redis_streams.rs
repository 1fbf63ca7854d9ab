//! Redis Streams as the queue: a consumer group delivers each job to one worker, which
//! acknowledges it after the outcome is committed. The job row stays the durable record:
//!
//! * a new job row starts leased, and is published (`XADD`) after its transaction commits;
//! * if the process dies between commit and `XADD`, or a worker dies holding a message, the
//!   row's lease runs out and [`JobQueue::maintain`] re-claims and re-publishes it;
//! * a retry releases the row with a delay; `maintain` publishes it again when it is due;
//! * completion is idempotent (same payload, same metadata), so a job delivered twice is
//!   done twice to the same result, never to a different one.

use std::{sync::Arc, time::Duration};

use async_trait::async_trait;
use redis::{
    aio::ConnectionManager,
    streams::{StreamAutoClaimOptions, StreamAutoClaimReply, StreamId, StreamReadOptions, StreamReadReply},
    AsyncCommands,
};

use super::{Delivery, JobQueue};
use crate::{
    backend::{BackendError, Job},
    cache::redis::manager,
    config::QueueConfig,
    db::Database,
};

const WHAT: &str = "queue";

pub struct StreamQueue {
    db: Arc<dyn Database>,
    /// Short commands (XADD, XACK, XAUTOCLAIM).
    conn: ConnectionManager,
    /// Blocking reads get their own connection so they never stall the short commands.
    reader: ConnectionManager,
    stream: String,
    group: String,
    consumer: String,
    lease: Duration,
}

fn redis_err(e: redis::RedisError) -> BackendError {
    BackendError::unavailable(WHAT, e)
}

fn job_of(entry: &StreamId) -> Option<Job> {
    Some(Job {
        job_id: entry.get("job_id")?,
        content_id: entry.get("content_id")?,
        attempts: entry.get("attempts")?,
    })
}

impl StreamQueue {
    pub async fn connect(cfg: &QueueConfig, db: Arc<dyn Database>) -> Result<Self, BackendError> {
        let mut conn = manager(&cfg.url, WHAT).await?;
        let reader = manager(&cfg.url, WHAT).await?;
        // "0": deliver entries added before the group existed too.
        let created: redis::RedisResult<()> = conn.xgroup_create_mkstream(&cfg.stream, &cfg.group, "0").await;
        if let Err(e) = created {
            if e.code() != Some("BUSYGROUP") {
                return Err(redis_err(e));
            }
        }
        let consumer = format!("{}-{}", std::process::id(), rand::random::<u32>());
        Ok(Self {
            db,
            conn,
            reader,
            stream: cfg.stream.clone(),
            group: cfg.group.clone(),
            consumer,
            lease: cfg.lease,
        })
    }

    async fn xadd(&self, job: &Job) -> Result<(), BackendError> {
        let mut conn = self.conn.clone();
        let _: String = conn
            .xadd(
                &self.stream,
                "*",
                &[
                    ("job_id", job.job_id.to_string()),
                    ("content_id", job.content_id.to_string()),
                    ("attempts", job.attempts.to_string()),
                ],
            )
            .await
            .map_err(redis_err)?;
        Ok(())
    }
}

#[async_trait]
impl JobQueue for StreamQueue {
    fn insert_lease(&self) -> Option<Duration> {
        Some(self.lease)
    }

    async fn publish(&self, job: &Job) -> Result<(), BackendError> {
        // The first delivery counts as attempt 1.
        self.xadd(&Job { attempts: job.attempts + 1, ..job.clone() }).await
    }

    async fn take(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        let opts = StreamReadOptions::default()
            .group(&self.group, &self.consumer)
            .count(max)
            .block(wait.as_millis().max(1) as usize);
        let mut reader = self.reader.clone();
        let reply: Option<StreamReadReply> = reader
            .xread_options(&[&self.stream], &[">"], &opts)
            .await
            .map_err(redis_err)?;
        let mut out = Vec::new();
        let mut malformed = Vec::new();
        for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
            match job_of(&entry) {
                Some(job) => out.push(Delivery { job, message_id: Some(entry.id) }),
                None => malformed.push(entry.id),
            }
        }
        if !malformed.is_empty() {
            tracing::warn!(count = malformed.len(), "dropping malformed queue messages");
            let mut conn = self.conn.clone();
            let _: i64 = conn.xack(&self.stream, &self.group, &malformed).await.map_err(redis_err)?;
        }
        Ok(out)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let Some(id) = &delivery.message_id else { return Ok(()) };
        let mut conn = self.conn.clone();
        let _: i64 = conn.xack(&self.stream, &self.group, &[id]).await.map_err(redis_err)?;
        // Acknowledged entries are not needed again; deleting keeps the stream bounded.
        let _: i64 = conn.xdel(&self.stream, &[id]).await.map_err(redis_err)?;
        Ok(())
    }

    async fn maintain(&self) -> Result<(), BackendError> {
        // Jobs whose lease ran out (never published, worker died, or retry due): publish again.
        for job in self.db.claim_jobs(256, self.lease).await? {
            self.xadd(&job).await?;
        }
        // Messages stuck with a dead consumer were re-published above once their row's lease
        // expired; drop the stale copies so the pending list does not grow without bound.
        let min_idle = (self.lease * 2).as_millis() as u64;
        let mut conn = self.conn.clone();
        let reply: StreamAutoClaimReply = conn
            .xautoclaim_options(&self.stream, &self.group, &self.consumer, min_idle, "0-0", StreamAutoClaimOptions::default().count(256))
            .await
            .map_err(redis_err)?;
        let stale: Vec<String> = reply.claimed.into_iter().map(|e| e.id).collect();
        if !stale.is_empty() {
            let _: i64 = conn.xack(&self.stream, &self.group, &stale).await.map_err(redis_err)?;
            let _: i64 = conn.xdel(&self.stream, &stale).await.map_err(redis_err)?;
        }
        Ok(())
    }

    async fn ping(&self) -> Option<String> {
        let mut conn = self.conn.clone();
        let pong: redis::RedisResult<String> = redis::cmd("PING").query_async(&mut conn).await;
        pong.err().map(|e| e.to_string())
    }
}
