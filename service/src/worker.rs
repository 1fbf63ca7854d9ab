//! Workers: take write jobs off the queue, compute the content's metadata from its payload,
//! and mark the row ready. A failed attempt is retried with exponential backoff until
//! `max_attempts`, then the content is marked failed. The metadata is a pure function of the
//! payload, so a job that runs twice (a redelivery after a crash) writes the same result.
//!
//! Each outcome (done, retry, failed for good) is fenced by the attempt the worker claimed: a
//! worker whose lease ran out while the job was claimed again records nothing.
//!
//! Shutdown: once the token is cancelled no new jobs are taken; the batch in hand finishes.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use sha2::{Digest, Sha256};
use tokio_util::sync::CancellationToken;

use crate::{
    backend::{BackendError, Job, ProcessedMetadata},
    cache::Cache,
    config::{QueueConfig, WorkerConfig},
    db::{Database, Fenced, ReadRoute},
    metrics::{AppMetrics, Tier},
    queue::{Delivery, JobQueue},
    store::PayloadStore,
};

/// What the workers need; cheap to clone.
#[derive(Clone)]
pub struct WorkerDeps {
    pub db: Arc<dyn Database>,
    pub store: Arc<PayloadStore>,
    pub cache: Option<Arc<dyn Cache>>,
    pub queue: Arc<dyn JobQueue>,
    pub metrics: Arc<AppMetrics>,
}

/// The metadata of a payload: deterministic, so repeated runs agree.
pub fn process_payload(payload: &[u8]) -> ProcessedMetadata {
    ProcessedMetadata {
        size_bytes: payload.len() as u64,
        sha256: hex::encode(Sha256::digest(payload)),
        lines: bytecount_lines(payload),
    }
}

fn bytecount_lines(payload: &[u8]) -> u64 {
    let newlines = payload.iter().filter(|&&b| b == b'\n').count() as u64;
    newlines + u64::from(!payload.is_empty() && payload.last() != Some(&b'\n'))
}

/// Busy-loops for `d` of CPU time: the test knob that makes a tier CPU-bound on purpose.
pub fn burn_cpu(d: Duration) {
    let start = std::time::Instant::now();
    let mut x = 0u64;
    while start.elapsed() < d {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
}

/// Delay before the next attempt: `base * 2^(attempts-1)`, capped at one minute.
pub fn backoff(base: Duration, attempts: i32) -> Duration {
    let exp = attempts.saturating_sub(1).clamp(0, 16) as u32;
    base.saturating_mul(1 << exp).min(Duration::from_secs(60))
}

/// Runs the worker loop and the queue's upkeep until `shutdown` is cancelled.
pub async fn run(deps: WorkerDeps, worker: WorkerConfig, queue: QueueConfig, shutdown: CancellationToken) {
    let upkeep = tokio::spawn(upkeep_loop(deps.clone(), worker.poll_interval, shutdown.clone()));
    let batch = worker.concurrency.max(1);
    while !shutdown.is_cancelled() {
        let taken = tokio::select! {
            () = shutdown.cancelled() => break,
            taken = deps.metrics.timed(Tier::Queue, deps.queue.take(batch, worker.poll_interval)) => taken,
        };
        let deliveries = match taken {
            Ok(d) => d,
            Err(e) => {
                tracing::warn!(error = %e, "taking jobs failed; retrying");
                Vec::new()
            }
        };
        if deliveries.is_empty() {
            tokio::select! {
                () = shutdown.cancelled() => break,
                () = tokio::time::sleep(worker.poll_interval) => continue,
            }
        }
        // The batch in hand is finished even during shutdown: draining, not abandoning.
        futures::future::join_all(deliveries.iter().map(|d| handle(&deps, &worker, &queue, d))).await;
    }
    let _ = upkeep.await;
}

async fn upkeep_loop(deps: WorkerDeps, poll: Duration, shutdown: CancellationToken) {
    let every = (poll * 20).clamp(Duration::from_millis(250), Duration::from_secs(5));
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        if let Err(e) = deps.metrics.timed(Tier::Queue, deps.queue.maintain()).await {
            tracing::warn!(error = %e, "queue upkeep failed");
        }
    }
}

async fn handle(deps: &WorkerDeps, worker: &WorkerConfig, queue: &QueueConfig, delivery: &Delivery) {
    let job = &delivery.job;
    let m = &deps.metrics;
    let recorded = match attempt(deps, worker, job).await {
        Ok(fenced) => Ok(fenced),
        Err(e) if job.attempts >= queue.max_attempts as i32 => {
            tracing::error!(job = job.job_id, content = job.content_id, error = %e, "job failed for good");
            m.timed(Tier::DbPrimary, deps.db.fail_job(job)).await.inspect(|f| {
                if *f == Fenced::Applied {
                    m.jobs_failed.fetch_add(1, Ordering::Relaxed);
                }
            })
        }
        Err(e) => {
            let delay = backoff(queue.backoff_base, job.attempts);
            tracing::warn!(job = job.job_id, attempts = job.attempts, ?delay, error = %e, "job failed; will retry");
            m.timed(Tier::DbPrimary, deps.db.retry_job(job, delay)).await.inspect(|f| {
                if *f == Fenced::Applied {
                    m.jobs_retried.fetch_add(1, Ordering::Relaxed);
                }
            })
        }
    };
    match recorded {
        // Acknowledge only what the database has recorded (or refused as stale: the newer
        // claim has a delivery of its own); otherwise the lease brings the job back.
        Ok(fenced) => {
            if fenced == Fenced::Stale {
                tracing::info!(
                    job = job.job_id,
                    attempt = job.attempts,
                    "the job was claimed again meanwhile; this outcome is ignored"
                );
                m.jobs_stale.fetch_add(1, Ordering::Relaxed);
            }
            if let Err(e) = m.timed(Tier::Queue, deps.queue.ack(delivery)).await {
                tracing::warn!(job = job.job_id, error = %e, "ack failed; the job may run again");
            }
        }
        Err(e) => {
            tracing::warn!(job = job.job_id, error = %e, "recording the job outcome failed; its lease will expire")
        }
    }
}

/// Processes one job and records its outcome (fenced: `Stale` when another claim took over).
async fn attempt(deps: &WorkerDeps, worker: &WorkerConfig, job: &Job) -> Result<Fenced, BackendError> {
    let m = &deps.metrics;
    let row = m
        .timed(Tier::DbPrimary, deps.db.get_content(job.content_id, ReadRoute::Primary))
        .await?
        .ok_or_else(|| BackendError::Other(anyhow::anyhow!("job {} points at missing content", job.job_id)))?;
    let payload = m.timed(Tier::ObjectStore, deps.store.get(&row.asset_url)).await?;
    m.object_bytes_read.fetch_add(payload.len() as u64, Ordering::Relaxed);
    let knob = worker.extra_cpu_per_job;
    let meta = tokio::task::spawn_blocking(move || {
        burn_cpu(knob);
        process_payload(&payload)
    })
    .await
    .map_err(|e| BackendError::Other(e.into()))?;
    let fenced = m.timed(Tier::DbPrimary, deps.db.complete_job(job, &meta)).await?;
    if fenced == Fenced::Stale {
        return Ok(fenced);
    }
    m.jobs_done.fetch_add(1, Ordering::Relaxed);
    if let Some(cache) = &deps.cache {
        // Only ready bodies are cached, but a versioned update must never leave a stale copy.
        if let Err(e) = m.timed(Tier::Cache, cache.invalidate(job.content_id)).await {
            tracing::warn!(content = job.content_id, error = %e, "cache invalidation failed");
        }
    }
    Ok(fenced)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_is_deterministic() {
        let a = process_payload(b"one\ntwo\nthree");
        assert_eq!(a, process_payload(b"one\ntwo\nthree"));
        assert_eq!(a.lines, 3);
        assert_eq!(a.size_bytes, 13);
        assert_eq!(process_payload(b"").lines, 0);
        assert_eq!(process_payload(b"x\n").lines, 1);
        assert_eq!(process_payload(b"abc").sha256, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let base = Duration::from_millis(100);
        assert_eq!(backoff(base, 1), Duration::from_millis(100));
        assert_eq!(backoff(base, 3), Duration::from_millis(400));
        assert_eq!(backoff(base, 40), Duration::from_secs(60));
    }
}
