//! Redis's own view, from `INFO`: commands per second, hit ratio, evictions, clients, and the
//! server's CPU (Redis executes commands on one thread, so its CPU in cores is its
//! utilization).
//!
//! Series: `redis.ops` (per s), `redis.hits`, `redis.misses`, `redis.evictions` (per s),
//! `redis.clients`, `redis.blocked_clients`, `redis.cpu_cores`, `redis.used_memory_bytes`,
//! and `redis.unanswered` (1 when the server did not answer `INFO` within
//! [`PROBE_TIMEOUT`], else 0): a server that stops answering is the server's own evidence,
//! not a client's guess.

use loadgen_model::series;
use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{CollectError, Collector, CounterRates};

/// How long the server gets to answer one `INFO` before the second counts as unanswered.
pub const PROBE_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);

pub struct RedisCollector {
    url: String,
    conn: Option<redis::aio::MultiplexedConnection>,
    counters: CounterRates,
}

impl RedisCollector {
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), conn: None, counters: CounterRates::default() }
    }
}

fn err(e: impl std::fmt::Display) -> CollectError {
    CollectError::new("redis", e)
}

/// `field:value` pairs of an `INFO` reply.
pub fn parse_info(text: &str) -> BTreeMap<&str, f64> {
    text.lines().filter_map(|l| l.trim_end().split_once(':')).filter_map(|(k, v)| Some((k, v.parse().ok()?))).collect()
}

#[async_trait]
impl Collector for RedisCollector {
    fn name(&self) -> &'static str {
        "redis"
    }

    async fn sample(&mut self, elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
        let text = match tokio::time::timeout(PROBE_TIMEOUT, self.info()).await {
            Ok(Ok(text)) => text,
            // No answer in time, or a refused or broken connection: the server did not answer.
            Ok(Err(_)) | Err(_) => {
                self.conn = None;
                // The next answer starts the counters afresh: its increase would span the
                // silence, not one interval.
                self.counters = CounterRates::default();
                return Ok(BTreeMap::from([(series::REDIS_UNANSWERED.to_owned(), 1.0)]));
            }
        };
        let info = parse_info(&text);
        let mut out = BTreeMap::from([(series::REDIS_UNANSWERED.to_owned(), 0.0)]);
        let get = |k: &str| info.get(k).copied();
        if let Some(v) = get("connected_clients") {
            out.insert(series::REDIS_CLIENTS.into(), v);
        }
        if let Some(v) = get("blocked_clients") {
            out.insert(series::REDIS_BLOCKED_CLIENTS.into(), v);
        }
        if let Some(v) = get("used_memory") {
            out.insert(series::REDIS_USED_MEMORY_BYTES.into(), v);
        }
        let cpu = get("used_cpu_sys").unwrap_or(0.0) + get("used_cpu_user").unwrap_or(0.0);
        for (name, value) in [
            (series::REDIS_OPS, get("total_commands_processed")),
            (series::REDIS_HITS, get("keyspace_hits")),
            (series::REDIS_MISSES, get("keyspace_misses")),
            (series::REDIS_EVICTIONS, get("evicted_keys")),
            (series::REDIS_CPU_CORES, Some(cpu)),
        ] {
            let Some(value) = value else { continue };
            self.counters.record(name, value, elapsed_s, &mut out);
        }
        Ok(out)
    }
}

impl RedisCollector {
    async fn info(&mut self) -> Result<String, CollectError> {
        if self.conn.is_none() {
            let client = redis::Client::open(self.url.as_str()).map_err(err)?;
            self.conn = Some(client.get_multiplexed_async_connection().await.map_err(err)?);
        }
        let conn = self.conn.as_mut().expect("connected above");
        redis::cmd("INFO").query_async(conn).await.map_err(err)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn parses_info_fields() {
        let info = super::parse_info("# Stats\r\ntotal_commands_processed:42\r\nused_cpu_sys:1.25\r\nrole:master\r\n");
        assert_eq!(info["total_commands_processed"], 42.0);
        assert_eq!(info["used_cpu_sys"], 1.25);
        assert!(!info.contains_key("role"));
    }
}
