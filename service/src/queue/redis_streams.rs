//! Redis Streams as the queue: a consumer group delivers each job to one worker, which
//! acknowledges it after the outcome is committed. The job row stays the durable record:
//!
//! * a new job row starts leased, and is published (`XADD`) after its transaction commits;
//! * if the process dies between commit and `XADD`, or a worker dies holding a message, the
//!   row's lease runs out and [`JobQueue::maintain`] re-claims and re-publishes it;
//! * a retry releases the row with a delay; `maintain` publishes it again when it is due;
//! * every delivery is one counted attempt (the insert counts the first, each re-claim the
//!   next, as on the table queue), and an outcome is recorded only by the holder of the latest
//!   attempt (see [`crate::db::Fenced`]): a copy delivered to a worker whose lease ran out
//!   changes nothing.

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
    breaker::Breaker,
    cache::redis::{client, open_manager},
    config::QueueConfig,
    db::Database,
};

const WHAT: &str = "queue";
/// Longest a write waits for its XADD: past it, the outbox publishes the job later.
const PUBLISH_TIMEOUT: Duration = Duration::from_millis(500);
/// Longest one maintenance pass (re-publishing expired jobs, dropping stale copies) may take.
const MAINTAIN_TIMEOUT: Duration = Duration::from_secs(10);

/// The connections, made on first use: the broker is optional (the job table is the durable
/// queue), so the service starts and takes writes while Redis is down.
struct Links {
    /// Short commands (XADD, XACK, XAUTOCLAIM).
    conn: ConnectionManager,
    /// Blocking reads get their own connection so they never stall the short commands.
    reader: ConnectionManager,
}

pub struct StreamQueue {
    db: Arc<dyn Database>,
    client: redis::Client,
    /// Made on first use, dropped after a failure so that the next use connects afresh (a
    /// connection manager whose Redis was killed can keep waiting on its own reconnection
    /// after Redis is back: jobs would wait in the outbox for good).
    links: std::sync::RwLock<Option<Arc<Links>>>,
    connecting: tokio::sync::Mutex<()>,
    /// Keeps writes from paying a timeout each while Redis is down (their jobs wait in the
    /// outbox either way).
    publish_breaker: Breaker,
    stream: String,
    group: String,
    consumer: String,
    lease: Duration,
}

fn redis_err(e: redis::RedisError) -> BackendError {
    BackendError::unavailable(WHAT, e)
}

fn job_of(entry: &StreamId) -> Option<Job> {
    Some(Job { job_id: entry.get("job_id")?, content_id: entry.get("content_id")?, attempts: entry.get("attempts")? })
}

impl StreamQueue {
    /// Checks the URL only; connecting (and creating the consumer group) happens on first use.
    pub fn new(cfg: &QueueConfig, db: Arc<dyn Database>) -> Result<Self, BackendError> {
        let consumer = format!("{}-{}", std::process::id(), rand::random::<u32>());
        Ok(Self {
            db,
            client: client(&cfg.url, WHAT)?,
            links: std::sync::RwLock::new(None),
            connecting: tokio::sync::Mutex::new(()),
            publish_breaker: Breaker::new(Duration::from_secs(1)),
            stream: cfg.stream.clone(),
            group: cfg.group.clone(),
            consumer,
            lease: cfg.lease,
        })
    }

    fn current(&self) -> Option<Arc<Links>> {
        self.links.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    async fn links(&self) -> Result<Arc<Links>, BackendError> {
        if let Some(l) = self.current() {
            return Ok(l);
        }
        let _one = self.connecting.lock().await;
        if let Some(l) = self.current() {
            return Ok(l);
        }
        let conn = open_manager(self.client.clone(), WHAT).await?;
        let reader = open_manager(self.client.clone(), WHAT).await?;
        self.create_group(&conn).await?;
        let links = Arc::new(Links { conn, reader });
        *self.links.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(links.clone());
        Ok(links)
    }

    /// Passes `result` on; after a failure the connections are dropped (see `links`).
    fn forget_on_err<T>(&self, result: Result<T, BackendError>) -> Result<T, BackendError> {
        if result.is_err() {
            *self.links.write().unwrap_or_else(std::sync::PoisonError::into_inner) = None;
        }
        result
    }

    /// Creates the consumer group (and the stream); again after a Redis restart lost it.
    async fn create_group(&self, conn: &ConnectionManager) -> Result<(), BackendError> {
        // "0": deliver entries added before the group existed too.
        let created: redis::RedisResult<()> = conn.clone().xgroup_create_mkstream(&self.stream, &self.group, "0").await;
        match created {
            Err(e) if e.code() != Some("BUSYGROUP") => Err(redis_err(e)),
            _ => Ok(()),
        }
    }

    async fn xadd(&self, job: &Job) -> Result<(), BackendError> {
        let mut conn = self.links().await?.conn.clone();
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
        // The row was inserted leased with its first attempt counted: the message carries it,
        // so the worker's outcome is fenced on the same attempt the row holds.
        if !self.publish_breaker.allow() {
            return Err(BackendError::unavailable(WHAT, anyhow::anyhow!("circuit open after a recent failure")));
        }
        let sent = tokio::time::timeout(PUBLISH_TIMEOUT, self.xadd(job)).await.unwrap_or_else(|_| {
            Err(BackendError::unavailable(WHAT, anyhow::anyhow!("XADD timed out after {PUBLISH_TIMEOUT:?}")))
        });
        match &sent {
            Ok(()) => self.publish_breaker.success(),
            Err(_) => self.publish_breaker.failure(),
        }
        self.forget_on_err(sent)
    }

    async fn take(&self, max: usize, wait: Duration) -> Result<Vec<Delivery>, BackendError> {
        // Bounded beyond the blocking read's own wait: a read left hanging on a connection
        // whose Redis was killed must end in an error that drops the connections, or the
        // worker would wait on it for good.
        let bound = wait + Duration::from_secs(2);
        let taken = tokio::time::timeout(bound, async {
            let opts = StreamReadOptions::default()
                .group(&self.group, &self.consumer)
                .count(max)
                .block(wait.as_millis().max(1) as usize);
            let links = self.links().await?;
            let mut reader = links.reader.clone();
            let read: redis::RedisResult<Option<StreamReadReply>> =
                reader.xread_options(&[&self.stream], &[">"], &opts).await;
            let reply = match read {
                Err(e) if e.code() == Some("NOGROUP") => {
                    // Redis came back without its data: the outbox re-publishes what was pending.
                    self.create_group(&links.conn).await?;
                    return Ok(Vec::new());
                }
                other => other.map_err(redis_err)?,
            };
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
                let mut conn = links.conn.clone();
                let _: i64 = conn.xack(&self.stream, &self.group, &malformed).await.map_err(redis_err)?;
            }
            Ok(out)
        })
        .await
        .unwrap_or_else(|_| {
            Err(BackendError::unavailable(WHAT, anyhow::anyhow!("XREADGROUP did not return within {bound:?}")))
        });
        self.forget_on_err(taken)
    }

    async fn ack(&self, delivery: &Delivery) -> Result<(), BackendError> {
        let Some(id) = &delivery.message_id else { return Ok(()) };
        let mut conn = self.links().await?.conn.clone();
        let _: i64 = conn.xack(&self.stream, &self.group, &[id]).await.map_err(redis_err)?;
        // Acknowledged entries are not needed again; deleting keeps the stream bounded.
        let _: i64 = conn.xdel(&self.stream, &[id]).await.map_err(redis_err)?;
        Ok(())
    }

    async fn maintain(&self) -> Result<(), BackendError> {
        let maintained = tokio::time::timeout(MAINTAIN_TIMEOUT, async {
            // Claiming counts an attempt: while the broker is away, claim nothing (the jobs wait
            // in the table) rather than use up attempts on deliveries that cannot happen.
            let mut conn = self.links().await?.conn.clone();
            let _: String = redis::cmd("PING").query_async(&mut conn).await.map_err(redis_err)?;
            // Jobs whose lease ran out (never published, worker died, or retry due): publish again.
            for job in self.db.claim_jobs(256, self.lease).await? {
                self.xadd(&job).await?;
            }
            // Messages stuck with a dead consumer were re-published above once their row's lease
            // expired; drop the stale copies so the pending list does not grow without bound.
            let min_idle = (self.lease * 2).as_millis() as u64;
            let reply: StreamAutoClaimReply = conn
                .xautoclaim_options(
                    &self.stream,
                    &self.group,
                    &self.consumer,
                    min_idle,
                    "0-0",
                    StreamAutoClaimOptions::default().count(256),
                )
                .await
                .map_err(redis_err)?;
            let stale: Vec<String> = reply.claimed.into_iter().map(|e| e.id).collect();
            if !stale.is_empty() {
                let _: i64 = conn.xack(&self.stream, &self.group, &stale).await.map_err(redis_err)?;
                let _: i64 = conn.xdel(&self.stream, &stale).await.map_err(redis_err)?;
            }
            Ok(())
        })
        .await
        .unwrap_or_else(|_| {
            Err(BackendError::unavailable(
                WHAT,
                anyhow::anyhow!("maintenance did not finish within {MAINTAIN_TIMEOUT:?}"),
            ))
        });
        self.forget_on_err(maintained)
    }

    fn required(&self) -> bool {
        // Writes commit their job to the table whether or not XADD works; without Redis, jobs
        // wait in that outbox until it is back. Processing is delayed, nothing is lost.
        false
    }

    async fn ping(&self) -> Option<String> {
        // Bounded like a publish: while a dead Redis is being reconnected to, a PING waits
        // for the reconnection, and the broker is optional — it must not hold the probe.
        let pong = tokio::time::timeout(PUBLISH_TIMEOUT, async {
            let mut conn = self.links().await.map_err(|e| e.to_string())?.conn.clone();
            redis::cmd("PING").query_async::<String>(&mut conn).await.map_err(|e| e.to_string())
        })
        .await
        .unwrap_or_else(|_| Err(format!("PING timed out after {PUBLISH_TIMEOUT:?}")));
        if pong.is_ok() {
            self.publish_breaker.success();
        }
        self.forget_on_err(pong.map_err(|e| BackendError::unavailable(WHAT, anyhow::anyhow!(e))))
            .err()
            .map(|e| e.to_string())
    }
}
