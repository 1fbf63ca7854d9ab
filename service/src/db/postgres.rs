//! PostgreSQL: a write primary plus zero or more streaming read replicas (reads round-robin over
//! the replicas). Ids are `sequence * shard_count + shard_index`, so a sharded deployment (see
//! `sharded.rs`) can route a read by id alone; unsharded that is the plain sequence.
//!
//! Replicas are optional: a replica call that fails (or a pool that cannot connect) trips that
//! replica's [`Breaker`], the read is answered by the primary, and reads skip the replica until
//! the readiness probe finds it answering again (or its cooldown lets one trial through).

use std::{
    str::FromStr,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    Postgres, Row,
};

use super::{parse_metadata, Database, Fenced, ReadRoute, TrackedPool};
use crate::{
    backend::{
        classify_sqlx, BackendError, ContentRow, ContentStatus, Job, NewContent, PoolStats, Probe, ProcessedMetadata,
        QueueStats,
    },
    breaker::Breaker,
    config::PostgresConfig,
};

const PRIMARY: &str = "database primary";
const REPLICA: &str = "database replica";

struct Replica {
    pool: TrackedPool<Postgres>,
    breaker: Breaker,
}

pub struct PgDb {
    primary: TrackedPool<Postgres>,
    replicas: Vec<Replica>,
    next_replica: AtomicUsize,
    shard_count: i64,
    shard_index: i64,
}

async fn open_pool(url: &str, cfg: &PostgresConfig, what: &'static str) -> Result<sqlx::PgPool, BackendError> {
    let opts = PgConnectOptions::from_str(url)
        .map_err(|e| BackendError::Other(anyhow::anyhow!("bad PostgreSQL URL: {e}")))?
        .options([("statement_timeout", format!("{}ms", cfg.statement_timeout.as_millis()))]);
    // No ping before each acquire (sqlx's default): it is a round trip to the server per
    // request, measured as about a third of the primary's CPU per read on these machines. A
    // connection that died answers its next query with an error, which closes it; failover
    // replaces the app instances and their pools.
    let pool = PgPoolOptions::new()
        .max_connections(cfg.pool_size)
        .acquire_timeout(cfg.acquire_timeout)
        .test_before_acquire(false);
    if what == REPLICA {
        // A replica down at start must not keep the service from starting: connect on use.
        return Ok(pool.connect_lazy_with(opts));
    }
    pool.connect_with(opts).await.map_err(|e| classify_sqlx(what, e))
}

impl PgDb {
    pub async fn connect(cfg: &PostgresConfig) -> Result<Self, BackendError> {
        Self::connect_shard(cfg, &cfg.primary_url, &cfg.replica_urls, 1, 0).await
    }

    /// Connects one shard (`shard_index` of `shard_count`) and migrates its primary.
    pub async fn connect_shard(
        cfg: &PostgresConfig,
        primary_url: &str,
        replica_urls: &[String],
        shard_count: i64,
        shard_index: i64,
    ) -> Result<Self, BackendError> {
        let primary = open_pool(primary_url, cfg, PRIMARY).await?;
        super::migrations::postgres()
            .run(&primary)
            .await
            .map_err(|e| BackendError::Other(anyhow::anyhow!("postgres migration failed: {e}")))?;
        let mut replicas = Vec::new();
        for (i, url) in replica_urls.iter().enumerate() {
            let pool = open_pool(url, cfg, REPLICA).await?;
            replicas.push(Replica {
                pool: TrackedPool::new(pool, format!("db_replica_{i}"), cfg.pool_size),
                breaker: Breaker::new(cfg.replica_cooldown),
            });
        }
        let suffix = if shard_count > 1 { format!("_shard_{shard_index}") } else { String::new() };
        Ok(Self {
            primary: TrackedPool::new(primary, format!("db_primary{suffix}"), cfg.pool_size),
            replicas,
            next_replica: AtomicUsize::new(0),
            shard_count,
            shard_index,
        })
    }

    /// The next replica (round-robin) whose breaker lets a read through, if any.
    fn replica(&self) -> Option<&Replica> {
        let n = self.replicas.len();
        let start = self.next_replica.fetch_add(1, Ordering::Relaxed);
        (0..n).map(|k| &self.replicas[(start + k) % n]).find(|r| r.breaker.allow())
    }
}

async fn select_content(
    pool: &TrackedPool<Postgres>,
    what: &'static str,
    id: i64,
) -> Result<Option<ContentRow>, BackendError> {
    let mut conn = pool.acquire(what).await?;
    let row = sqlx::query(
        "SELECT id, user_id, asset_url, status, created_at, content_metadata::text \
         FROM user_content WHERE id = $1",
    )
    .bind(id)
    .fetch_optional(&mut *conn)
    .await
    .map_err(|e| classify_sqlx(what, e))?;
    Ok(row.map(|r| ContentRow {
        id: r.get(0),
        user_id: r.get(1),
        asset_url: r.get(2),
        status: ContentStatus::parse(r.get::<&str, _>(3)),
        created_at: r.get::<DateTime<Utc>, _>(4),
        metadata: parse_metadata(r.get(5)),
    }))
}

fn db_err(e: sqlx::Error) -> BackendError {
    classify_sqlx(PRIMARY, e)
}

#[async_trait]
impl Database for PgDb {
    async fn insert_content(&self, new: &NewContent, job_leased_for: Option<Duration>) -> Result<Job, BackendError> {
        // One statement, so the row and its job commit together in one round trip. A job that
        // starts leased is being delivered by a broker: that delivery is its first attempt.
        let mut conn = self.primary.acquire(PRIMARY).await?;
        let row = sqlx::query(
            "WITH c AS ( \
                 INSERT INTO user_content (id, user_id, asset_url, status, created_at) \
                 VALUES (nextval('user_content_id_seq') * $4 + $5, $1, $2, 'processing', $3) \
                 RETURNING id) \
             INSERT INTO jobs (content_id, locked_until, attempts) \
             SELECT id, CASE WHEN $6::float8 IS NULL THEN NULL \
                             ELSE now() + make_interval(secs => $6::float8) END, \
                    CASE WHEN $6::float8 IS NULL THEN 0 ELSE 1 END FROM c \
             RETURNING content_id, id, attempts",
        )
        .bind(&new.user_id)
        .bind(&new.asset_url)
        .bind(new.created_at)
        .bind(self.shard_count)
        .bind(self.shard_index)
        .bind(job_leased_for.map(|d| d.as_secs_f64()))
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(Job { content_id: row.get(0), job_id: row.get(1), attempts: row.get(2) })
    }

    async fn get_content(&self, id: i64, route: ReadRoute) -> Result<Option<ContentRow>, BackendError> {
        if route == ReadRoute::Replica {
            if let Some(replica) = self.replica() {
                match select_content(&replica.pool, REPLICA, id).await {
                    Ok(row) => {
                        replica.breaker.success();
                        return Ok(row);
                    }
                    // Whatever went wrong there, the primary holds the truth: ask it.
                    Err(e) => {
                        tracing::warn!(replica = %replica.pool.name, error = %e, "replica failed; reading from the primary");
                        replica.breaker.failure();
                    }
                }
            }
        }
        select_content(&self.primary, PRIMARY, id).await
    }

    async fn claim_jobs(&self, max: usize, lease: Duration) -> Result<Vec<Job>, BackendError> {
        let mut conn = self.primary.acquire(PRIMARY).await?;
        let rows = sqlx::query(
            "UPDATE jobs SET locked_until = now() + make_interval(secs => $2), attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE run_at <= now() \
                          AND (locked_until IS NULL OR locked_until < now()) \
                          ORDER BY run_at LIMIT $1 FOR UPDATE SKIP LOCKED) \
             RETURNING id, content_id, attempts",
        )
        .bind(max as i64)
        .bind(lease.as_secs_f64())
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|r| Job { job_id: r.get(0), content_id: r.get(1), attempts: r.get(2) }).collect())
    }

    async fn complete_job(&self, job: &Job, meta: &ProcessedMetadata) -> Result<Fenced, BackendError> {
        let meta = serde_json::to_string(meta).map_err(anyhow::Error::from)?;
        let mut conn = self.primary.acquire(PRIMARY).await?;
        let done = sqlx::query(
            "WITH done AS (DELETE FROM jobs WHERE id = $2 AND attempts = $3 RETURNING content_id) \
             UPDATE user_content SET status = 'ready', content_metadata = $1::jsonb \
             WHERE id IN (SELECT content_id FROM done)",
        )
        .bind(meta)
        .bind(job.job_id)
        .bind(job.attempts)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(Fenced::of(done.rows_affected()))
    }

    async fn retry_job(&self, job: &Job, delay: Duration) -> Result<Fenced, BackendError> {
        let mut conn = self.primary.acquire(PRIMARY).await?;
        let done = sqlx::query(
            "UPDATE jobs SET run_at = now() + make_interval(secs => $2), locked_until = NULL \
             WHERE id = $1 AND attempts = $3",
        )
        .bind(job.job_id)
        .bind(delay.as_secs_f64())
        .bind(job.attempts)
        .execute(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(Fenced::of(done.rows_affected()))
    }

    async fn fail_job(&self, job: &Job) -> Result<Fenced, BackendError> {
        let mut conn = self.primary.acquire(PRIMARY).await?;
        // Counted on the job's deletion: the content may already be `ready` and stay so.
        let deleted: i64 = sqlx::query_scalar(
            "WITH done AS (DELETE FROM jobs WHERE id = $1 AND attempts = $2 RETURNING content_id), \
                  marked AS (UPDATE user_content SET status = 'failed' \
                             WHERE id IN (SELECT content_id FROM done) AND status <> 'ready') \
             SELECT count(*) FROM done",
        )
        .bind(job.job_id)
        .bind(job.attempts)
        .fetch_one(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(Fenced::of(deleted as u64))
    }

    async fn queue_stats(&self) -> Result<QueueStats, BackendError> {
        let mut conn = self.primary.acquire(PRIMARY).await?;
        let (depth, age): (i64, Option<f64>) =
            sqlx::query_as("SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM jobs")
                .fetch_one(&mut *conn)
                .await
                .map_err(db_err)?;
        Ok(QueueStats { depth, oldest_age_seconds: age.unwrap_or(0.0).max(0.0) })
    }

    async fn ping(&self) -> Vec<Probe> {
        let replicas = futures::future::join_all(self.replicas.iter().map(|r| ping_pool(&r.pool, REPLICA)));
        let (primary, replicas) = futures::join!(ping_pool(&self.primary, PRIMARY), replicas);
        let mut out = vec![Probe::new(self.primary.name.clone(), true, primary)];
        for (replica, failure) in self.replicas.iter().zip(replicas) {
            // The probe is what brings a tripped replica back (or keeps a sick one out).
            if failure.is_none() {
                replica.breaker.success();
            } else {
                replica.breaker.failure();
            }
            out.push(Probe::new(replica.pool.name.clone(), false, failure));
        }
        out
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        std::iter::once(&self.primary).chain(self.replicas.iter().map(|r| &r.pool)).map(TrackedPool::stats).collect()
    }

    fn has_replicas(&self) -> bool {
        self.replicas.iter().any(|r| !r.breaker.is_open())
    }
}

async fn ping_pool(pool: &TrackedPool<Postgres>, what: &'static str) -> Option<String> {
    let ping = async {
        match pool.acquire(what).await {
            Ok(mut conn) => sqlx::query("SELECT 1").execute(&mut *conn).await.err().map(|e| e.to_string()),
            Err(e) => Some(e.to_string()),
        }
    };
    let limit = crate::backend::PING_TIMEOUT;
    tokio::time::timeout(limit, ping).await.unwrap_or_else(|_| Some(format!("no answer within {limit:?}")))
}
