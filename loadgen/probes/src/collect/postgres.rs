//! PostgreSQL's own view, from its statistics views over one connection:
//! `pg_stat_activity` (backends active / waiting on locks), `pg_stat_database` (commits,
//! block reads and hits), `pg_stat_replication` (replay lag of each standby).
//!
//! Series: `postgres.active_backends`, `postgres.lock_waiting_backends`, `postgres.backends`,
//! `postgres.xacts` (per s), `postgres.blocks_read` (per s), `postgres.cache_hit_ratio`,
//! `postgres.replication_lag_bytes` (max over standbys), `postgres.standbys`, and
//! `postgres.unanswered` (1 when the server did not answer within [`PROBE_TIMEOUT`]).

use loadgen_model::series;
use std::collections::BTreeMap;

use async_trait::async_trait;
use sqlx::{postgres::PgConnection, Connection, Row};

use super::{CollectError, Collector, CounterRates};

/// How long the server gets to answer one sample's queries.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

pub struct PostgresCollector {
    url: String,
    conn: Option<PgConnection>,
    counters: CounterRates,
}

impl PostgresCollector {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), conn: None, counters: CounterRates::default() }
    }
}

fn err(e: impl std::fmt::Display) -> CollectError {
    CollectError::new("postgres", e)
}

type Rows = (sqlx::postgres::PgRow, sqlx::postgres::PgRow, sqlx::postgres::PgRow);

impl PostgresCollector {
    async fn query(&mut self) -> Result<Rows, CollectError> {
        if self.conn.is_none() {
            self.conn = Some(PgConnection::connect(&self.url).await.map_err(err)?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        let a = sqlx::query(ACTIVITY).fetch_one(&mut *conn).await.map_err(err)?;
        let d = sqlx::query(DATABASE).fetch_one(&mut *conn).await.map_err(err)?;
        let r = sqlx::query(REPLICATION).fetch_one(&mut *conn).await.map_err(err)?;
        Ok((a, d, r))
    }
}

const ACTIVITY: &str = "SELECT count(*) FILTER (WHERE state = 'active' AND pid <> pg_backend_pid())::float8, \
     count(*) FILTER (WHERE wait_event_type = 'Lock')::float8, count(*)::float8 \
     FROM pg_stat_activity WHERE backend_type = 'client backend'";
const DATABASE: &str = "SELECT coalesce(sum(xact_commit + xact_rollback), 0)::float8, \
     coalesce(sum(blks_read), 0)::float8, coalesce(sum(blks_hit), 0)::float8 FROM pg_stat_database";
const REPLICATION: &str = "SELECT coalesce(max(pg_wal_lsn_diff(pg_current_wal_lsn(), replay_lsn)), 0)::float8, \
     count(*)::float8 FROM pg_stat_replication";

#[async_trait]
impl Collector for PostgresCollector {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn sample(&mut self, elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
        let (a, d, r) = match tokio::time::timeout(PROBE_TIMEOUT, self.query()).await {
            Ok(Ok(rows)) => rows,
            Ok(Err(_)) | Err(_) => {
                self.conn = None; // reconnect next time
                                  // The next answer starts the counters afresh: its increase would span the
                                  // silence, not one interval.
                self.counters = CounterRates::default();
                return Ok(BTreeMap::from([(series::POSTGRES_UNANSWERED.to_owned(), 1.0)]));
            }
        };
        let mut out = BTreeMap::from([(series::POSTGRES_UNANSWERED.to_owned(), 0.0)]);
        out.insert(series::POSTGRES_ACTIVE_BACKENDS.into(), a.get::<f64, _>(0));
        out.insert(series::POSTGRES_LOCK_WAITING_BACKENDS.into(), a.get::<f64, _>(1));
        out.insert(series::POSTGRES_BACKENDS.into(), a.get::<f64, _>(2));
        out.insert(series::POSTGRES_REPLICATION_LAG_BYTES.into(), r.get::<f64, _>(0));
        out.insert(series::POSTGRES_STANDBYS.into(), r.get::<f64, _>(1));
        let (xacts, read, hit): (f64, f64, f64) = (d.get(0), d.get(1), d.get(2));
        for (name, value) in
            [(series::POSTGRES_XACTS, xacts), (series::POSTGRES_BLOCKS_READ, read), (series::POSTGRES_BLOCKS_HIT, hit)]
        {
            self.counters.record(name, value, elapsed_s, &mut out);
        }
        if let (Some(r), Some(h)) = (out.get(series::POSTGRES_BLOCKS_READ), out.get(series::POSTGRES_BLOCKS_HIT)) {
            if r + h > 0.0 {
                out.insert(series::POSTGRES_CACHE_HIT_RATIO.into(), h / (r + h));
            }
        }
        Ok(out)
    }
}
