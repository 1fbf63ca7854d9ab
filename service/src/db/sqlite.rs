//! Embedded SQLite (the single-box default): one file in WAL mode, one writer connection (SQLite
//! serialises writers anyway; a pool of one makes that queue visible as pool waiters) and a
//! pool of readers that WAL lets run beside it.

use std::{path::Path, time::Duration};

use async_trait::async_trait;
use chrono::{DateTime, TimeZone, Utc};
use sqlx::{
    sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous},
    Row, Sqlite,
};

use super::{parse_metadata, sqlite_readers::SqliteReaders, Database, Fenced, ReadRoute, TrackedPool};
use crate::{
    backend::{
        classify_sqlx, BackendError, ContentRow, ContentStatus, Job, NewContent, PoolStats, Probe, ProcessedMetadata,
        QueueStats,
    },
    config::{SqliteConfig, SqliteSync},
};

const WHAT: &str = "database";

pub struct SqliteDb {
    writer: TrackedPool<Sqlite>,
    readers: SqliteReaders,
}

fn now_ms() -> i64 {
    Utc::now().timestamp_millis()
}

fn from_ms(ms: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(ms).single().unwrap_or_default()
}

fn db_err(e: sqlx::Error) -> BackendError {
    classify_sqlx(WHAT, e)
}

impl SqliteDb {
    pub async fn connect(cfg: &SqliteConfig, file: &Path) -> Result<Self, BackendError> {
        if let Some(dir) = file.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| BackendError::unavailable(WHAT, anyhow::anyhow!("creating {}: {e}", dir.display())))?;
        }
        let sync = match cfg.synchronous {
            SqliteSync::Full => SqliteSynchronous::Full,
            SqliteSync::Normal => SqliteSynchronous::Normal,
        };
        let opts = SqliteConnectOptions::new()
            .filename(file)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(sync)
            .busy_timeout(cfg.acquire_timeout)
            .foreign_keys(true);
        let writer = SqlitePoolOptions::new()
            .max_connections(1)
            .acquire_timeout(cfg.acquire_timeout)
            .connect_with(opts.clone())
            .await
            .map_err(db_err)?;
        super::migrations::sqlite()
            .run(&writer)
            .await
            .map_err(|e| BackendError::Other(anyhow::anyhow!("sqlite migration failed: {e}")))?;
        let readers = SqliteReaders::open(file, cfg.pool_size, cfg.acquire_timeout, "db_primary")?;
        Ok(Self { writer: TrackedPool::new(writer, "db_primary_writer", 1), readers })
    }
}

#[async_trait]
impl Database for SqliteDb {
    async fn insert_content(&self, new: &NewContent, job_leased_for: Option<Duration>) -> Result<Job, BackendError> {
        let now = now_ms();
        // A job that starts leased is being delivered by a broker: its first attempt.
        let attempts = i32::from(job_leased_for.is_some());
        let locked_until = job_leased_for.map(|d| now + d.as_millis() as i64);
        let mut tx = self.writer.begin(WHAT).await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO user_content (user_id, asset_url, status, created_at) \
             VALUES (?, ?, 'processing', ?) RETURNING id",
        )
        .bind(&new.user_id)
        .bind(&new.asset_url)
        .bind(new.created_at.timestamp_millis())
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        let job_id: i64 = sqlx::query_scalar(
            "INSERT INTO jobs (content_id, run_at, locked_until, created_at, attempts) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(id)
        .bind(now)
        .bind(locked_until)
        .bind(now)
        .bind(attempts)
        .fetch_one(&mut *tx)
        .await
        .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Job { job_id, content_id: id, attempts })
    }

    async fn get_content(&self, id: i64, _route: ReadRoute) -> Result<Option<ContentRow>, BackendError> {
        use rusqlite::OptionalExtension;
        self.readers.with(|conn| {
            conn.prepare_cached(
                "SELECT id, user_id, asset_url, status, created_at, content_metadata \
                 FROM user_content WHERE id = ?1",
            )?
            .query_row([id], |r| {
                Ok(ContentRow {
                    id: r.get(0)?,
                    user_id: r.get(1)?,
                    asset_url: r.get(2)?,
                    status: ContentStatus::parse(&r.get::<_, String>(3)?),
                    created_at: from_ms(r.get(4)?),
                    metadata: parse_metadata(r.get(5)?),
                })
            })
            .optional()
        })
    }

    async fn claim_jobs(&self, max: usize, lease: Duration) -> Result<Vec<Job>, BackendError> {
        let now = now_ms();
        let mut conn = self.writer.acquire(WHAT).await?;
        let rows = sqlx::query(
            "UPDATE jobs SET locked_until = ?, attempts = attempts + 1 \
             WHERE id IN (SELECT id FROM jobs WHERE run_at <= ? \
                          AND (locked_until IS NULL OR locked_until < ?) ORDER BY run_at LIMIT ?) \
             RETURNING id, content_id, attempts",
        )
        .bind(now + lease.as_millis() as i64)
        .bind(now)
        .bind(now)
        .bind(max as i64)
        .fetch_all(&mut *conn)
        .await
        .map_err(db_err)?;
        Ok(rows.into_iter().map(|r| Job { job_id: r.get(0), content_id: r.get(1), attempts: r.get(2) }).collect())
    }

    async fn complete_job(&self, job: &Job, meta: &ProcessedMetadata) -> Result<Fenced, BackendError> {
        let meta = serde_json::to_string(meta).map_err(anyhow::Error::from)?;
        let mut tx = self.writer.begin(WHAT).await?;
        // The fence first: only the holder of the job's latest claim may record its outcome.
        if delete_claimed(&mut tx, job).await? == Fenced::Stale {
            return Ok(Fenced::Stale);
        }
        sqlx::query("UPDATE user_content SET status = 'ready', content_metadata = ? WHERE id = ?")
            .bind(meta)
            .bind(job.content_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Fenced::Applied)
    }

    async fn retry_job(&self, job: &Job, delay: Duration) -> Result<Fenced, BackendError> {
        let mut conn = self.writer.acquire(WHAT).await?;
        let done = sqlx::query("UPDATE jobs SET run_at = ?, locked_until = NULL WHERE id = ? AND attempts = ?")
            .bind(now_ms() + delay.as_millis() as i64)
            .bind(job.job_id)
            .bind(job.attempts)
            .execute(&mut *conn)
            .await
            .map_err(db_err)?;
        Ok(Fenced::of(done.rows_affected()))
    }

    async fn fail_job(&self, job: &Job) -> Result<Fenced, BackendError> {
        let mut tx = self.writer.begin(WHAT).await?;
        if delete_claimed(&mut tx, job).await? == Fenced::Stale {
            return Ok(Fenced::Stale);
        }
        sqlx::query("UPDATE user_content SET status = 'failed' WHERE id = ? AND status <> 'ready'")
            .bind(job.content_id)
            .execute(&mut *tx)
            .await
            .map_err(db_err)?;
        tx.commit().await.map_err(db_err)?;
        Ok(Fenced::Applied)
    }

    async fn queue_stats(&self) -> Result<QueueStats, BackendError> {
        let (depth, oldest): (i64, Option<i64>) = self.readers.with(|conn| {
            conn.prepare_cached("SELECT count(*), min(created_at) FROM jobs")?
                .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        })?;
        Ok(QueueStats { depth, oldest_age_seconds: oldest.map_or(0.0, |t| (now_ms() - t).max(0) as f64 / 1000.0) })
    }

    async fn ping(&self) -> Vec<Probe> {
        let result = self
            .readers
            .with(|conn| conn.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)))
            .err()
            .map(|e| e.to_string());
        vec![Probe::new("database", true, result)]
    }

    fn pool_stats(&self) -> Vec<PoolStats> {
        vec![self.readers.stats(), self.writer.stats()]
    }

    fn has_replicas(&self) -> bool {
        false
    }
}

/// Deletes the job row if it still carries `job`'s claim (the fence of every outcome).
async fn delete_claimed(tx: &mut sqlx::Transaction<'static, Sqlite>, job: &Job) -> Result<Fenced, BackendError> {
    let done = sqlx::query("DELETE FROM jobs WHERE id = ? AND attempts = ?")
        .bind(job.job_id)
        .bind(job.attempts)
        .execute(&mut **tx)
        .await
        .map_err(db_err)?;
    Ok(Fenced::of(done.rows_affected()))
}
