//! `user_content` partitioned by user_id across several PostgreSQL primaries (the seed's
//! Users+++++ "federation/sharding" step). A write goes to the shard of its user; every id
//! carries its shard (`id % shard_count`), so a read by id goes straight to the right shard.
//! Each shard keeps its own job table, so a write and its job still commit together.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use async_trait::async_trait;

use super::{postgres::PgDb, Database, Fenced, ReadRoute};
use crate::{
    backend::{BackendError, ContentRow, Job, NewContent, PoolStats, Probe, ProcessedMetadata, QueueStats},
    config::PostgresConfig,
};

pub struct ShardedPg {
    shards: Vec<PgDb>,
    next_claim: AtomicUsize,
}

/// The shard of a user: FNV-1a of the id, so the mapping is stable across processes.
pub fn shard_of_user(user_id: &str, shard_count: usize) -> usize {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in user_id.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h % shard_count as u64) as usize
}

impl ShardedPg {
    pub async fn connect(cfg: &PostgresConfig) -> Result<Self, BackendError> {
        let n = cfg.shard_urls.len() as i64;
        let mut shards = Vec::with_capacity(cfg.shard_urls.len());
        for (i, url) in cfg.shard_urls.iter().enumerate() {
            shards.push(PgDb::connect_shard(cfg, url, &[], n, i as i64).await?);
        }
        Ok(Self { shards, next_claim: AtomicUsize::new(0) })
    }

    fn shard_of_id(&self, id: i64) -> &PgDb {
        &self.shards[id.rem_euclid(self.shards.len() as i64) as usize]
    }
}

#[async_trait]
impl Database for ShardedPg {
    async fn insert_content(&self, new: &NewContent, job_leased_for: Option<Duration>) -> Result<Job, BackendError> {
        let shard = &self.shards[shard_of_user(&new.user_id, self.shards.len())];
        shard.insert_content(new, job_leased_for).await
    }

    async fn get_content(&self, id: i64, route: ReadRoute) -> Result<Option<ContentRow>, BackendError> {
        self.shard_of_id(id).get_content(id, route).await
    }

    async fn claim_jobs(&self, max: usize, lease: Duration) -> Result<Vec<Job>, BackendError> {
        // Rotate the starting shard so no shard's backlog starves.
        let start = self.next_claim.fetch_add(1, Ordering::Relaxed);
        let mut jobs = Vec::new();
        for k in 0..self.shards.len() {
            let shard = &self.shards[(start + k) % self.shards.len()];
            jobs.extend(shard.claim_jobs(max - jobs.len(), lease).await?);
            if jobs.len() >= max {
                break;
            }
        }
        Ok(jobs)
    }

    async fn complete_job(&self, job: &Job, meta: &ProcessedMetadata) -> Result<Fenced, BackendError> {
        self.shard_of_id(job.content_id).complete_job(job, meta).await
    }

    async fn retry_job(&self, job: &Job, delay: Duration) -> Result<Fenced, BackendError> {
        self.shard_of_id(job.content_id).retry_job(job, delay).await
    }

    async fn fail_job(&self, job: &Job) -> Result<Fenced, BackendError> {
        self.shard_of_id(job.content_id).fail_job(job).await
    }

    async fn queue_stats(&self) -> Result<QueueStats, BackendError> {
        let mut total = QueueStats::default();
        for shard in &self.shards {
            let s = shard.queue_stats().await?;
            total.depth += s.depth;
            total.oldest_age_seconds = total.oldest_age_seconds.max(s.oldest_age_seconds);
        }
        Ok(total)
    }

    async fn ping(&self) -> Vec<Probe> {
        let mut out = Vec::new();
        for shard in &self.shards {
            out.extend(shard.ping().await);
        }
        out
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        self.shards.iter().flat_map(PgDb::pool_stats).collect()
    }

    fn has_replicas(&self) -> bool {
        false
    }
}

#[cfg(test)]
mod tests {
    use super::shard_of_user;

    #[test]
    fn users_spread_over_shards_and_stay_put() {
        let mut counts = [0usize; 2];
        for u in 0..1000 {
            counts[shard_of_user(&format!("user-{u}"), 2)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 400), "{counts:?}");
        assert_eq!(shard_of_user("42", 2), shard_of_user("42", 2));
    }
}
