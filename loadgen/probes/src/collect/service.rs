//! The service's own figures: scrapes `/metrics` of every service instance and sums them.
//! Each instance's counters become rates on their own, over the time since that instance's
//! last answer, and the rates are summed: an instance that misses a scrape (busy, or
//! removed by the autoscaler) leaves a gap of its own share, never a spike in the sum.
//!
//! Series: `service.tier_busy.<tier>` (busy seconds per second = mean calls in flight),
//! `service.tier_calls.<tier>` (calls/s), `service.pool_in_use.<pool>`,
//! `service.pool_waiting.<pool>`, `service.pool_max.<pool>`, `service.cache_hits`,
//! `service.cache_misses` (per s), `service.queue_depth`, `service.queue_oldest_age_s`,
//! `service.jobs_done` (per s), `service.requests`, `service.errors` (5xx per s),
//! `service.shed` (per s).

use loadgen_model::series;
use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{rate, CollectError, Collector};

pub struct ServiceCollector {
    client: reqwest::Client,
    instances: Vec<Instance>,
}

/// One instance's `/metrics` URL, its last counters and when it gave them.
struct Instance {
    url: String,
    previous: BTreeMap<String, f64>,
    answered: Option<std::time::Instant>,
}

impl ServiceCollector {
    /// `base_urls`: every instance (several behind a load balancer).
    pub fn new(client: reqwest::Client, base_urls: Vec<String>) -> Self {
        let instances = base_urls
            .iter()
            .map(|u| Instance {
                url: format!("{}/metrics", u.trim_end_matches('/')),
                previous: BTreeMap::new(),
                answered: None,
            })
            .collect();
        Self { client, instances }
    }
}

/// One sample line of Prometheus text: name, labels, value.
#[derive(Debug, PartialEq)]
pub struct PromSample<'a> {
    pub name: &'a str,
    pub labels: Vec<(&'a str, &'a str)>,
    pub value: f64,
}

/// Parses the sample lines of Prometheus text exposition (comments skipped).
pub fn parse_prometheus(text: &str) -> Vec<PromSample<'_>> {
    text.lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let value: f64 = value.parse().ok()?;
            let (name, labels) = match series.split_once('{') {
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}')?;
                    let labels = body
                        .split("\",")
                        .filter(|kv| !kv.is_empty())
                        .filter_map(|kv| {
                            let (k, v) = kv.split_once("=\"")?;
                            Some((k, v.trim_end_matches('"')))
                        })
                        .collect();
                    (name, labels)
                }
                None => (series, Vec::new()),
            };
            Some(PromSample { name, labels, value })
        })
        .collect()
}

fn label<'a>(s: &PromSample<'a>, key: &str) -> Option<&'a str> {
    s.labels.iter().find(|(k, _)| *k == key).map(|(_, v)| *v)
}

/// Sums one scrape into (counters, gauges) keyed by series name.
pub fn fold_scrape(text: &str, counters: &mut BTreeMap<String, f64>, gauges: &mut BTreeMap<String, f64>) {
    for s in parse_prometheus(text) {
        let (map, key) = match s.name {
            "scaleloop_tier_busy_seconds_total" => {
                (&mut *counters, series::of(series::SERVICE_TIER_BUSY, label(&s, "tier").unwrap_or("?")))
            }
            "scaleloop_tier_calls_total" => {
                (&mut *counters, series::of(series::SERVICE_TIER_CALLS, label(&s, "tier").unwrap_or("?")))
            }
            "scaleloop_tier_errors_total" => {
                (&mut *counters, series::of(series::SERVICE_TIER_ERRORS, label(&s, "tier").unwrap_or("?")))
            }
            "scaleloop_cache_hits_total" => (&mut *counters, series::SERVICE_CACHE_HITS.into()),
            "scaleloop_cache_misses_total" => (&mut *counters, series::SERVICE_CACHE_MISSES.into()),
            "scaleloop_jobs_done_total" => (&mut *counters, series::SERVICE_JOBS_DONE.into()),
            "scaleloop_http_shed_total" => (&mut *counters, series::SERVICE_SHED.into()),
            "scaleloop_http_requests_total" => {
                let status: u16 = label(&s, "status").and_then(|v| v.parse().ok()).unwrap_or(0);
                *counters.entry(series::SERVICE_REQUESTS.into()).or_default() += s.value;
                if status >= 500 {
                    *counters.entry(series::SERVICE_ERRORS.into()).or_default() += s.value;
                }
                continue;
            }
            "scaleloop_pool_in_use" => {
                (&mut *gauges, series::of(series::SERVICE_POOL_IN_USE, label(&s, "pool").unwrap_or("?")))
            }
            "scaleloop_pool_waiting" => {
                (&mut *gauges, series::of(series::SERVICE_POOL_WAITING, label(&s, "pool").unwrap_or("?")))
            }
            "scaleloop_pool_max" => {
                (&mut *gauges, series::of(series::SERVICE_POOL_MAX, label(&s, "pool").unwrap_or("?")))
            }
            "scaleloop_queue_depth" => (&mut *gauges, series::SERVICE_QUEUE_DEPTH.into()),
            // Instances whose last readiness probe found an optional / a required backend failing.
            "scaleloop_degraded" => (&mut *gauges, series::SERVICE_DEGRADED.into()),
            "scaleloop_unavailable" => (&mut *gauges, series::SERVICE_UNAVAILABLE.into()),
            "scaleloop_queue_oldest_job_age_seconds" => (&mut *gauges, series::SERVICE_QUEUE_OLDEST_AGE_S.into()),
            _ => continue,
        };
        *map.entry(key).or_default() += s.value;
    }
}

#[async_trait]
impl Collector for ServiceCollector {
    fn name(&self) -> &'static str {
        "service"
    }

    async fn sample(&mut self, _elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
        let mut out = BTreeMap::new();
        let mut last_error = None;
        let mut answered = 0;
        for instance in &mut self.instances {
            let text = async { self.client.get(&instance.url).send().await?.error_for_status()?.text().await }.await;
            let text = match text {
                Ok(t) => t,
                Err(e) => {
                    last_error = Some(e);
                    continue;
                }
            };
            answered += 1;
            let now = std::time::Instant::now();
            let elapsed = instance.answered.map(|a| now.duration_since(a).as_secs_f64());
            instance.answered = Some(now);
            let (mut counters, mut gauges) = (BTreeMap::new(), BTreeMap::new());
            fold_scrape(&text, &mut counters, &mut gauges);
            for (name, value) in gauges {
                *out.entry(name).or_insert(0.0) += value;
            }
            for (name, value) in counters {
                if let Some(r) = elapsed.and_then(|e| rate(instance.previous.get(&name).copied(), value, e)) {
                    *out.entry(name.clone()).or_insert(0.0) += r;
                }
                instance.previous.insert(name, value);
            }
        }
        match (answered, last_error) {
            (0, Some(e)) => Err(CollectError::new("service", e)),
            _ => Ok(out),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = "# HELP x y\n\
        scaleloop_tier_busy_seconds_total{tier=\"db_primary\"} 1.5\n\
        scaleloop_http_requests_total{route=\"/a\",method=\"GET\",status=\"200\"} 10\n\
        scaleloop_http_requests_total{route=\"/a\",method=\"GET\",status=\"503\"} 2\n\
        scaleloop_pool_waiting{pool=\"db_primary\"} 3\n\
        scaleloop_queue_depth 7\n";

    #[test]
    fn parses_labels_and_values() {
        let s = parse_prometheus(SCRAPE);
        assert_eq!(
            s[0],
            PromSample { name: "scaleloop_tier_busy_seconds_total", labels: vec![("tier", "db_primary")], value: 1.5 }
        );
        assert_eq!(s[1].labels, vec![("route", "/a"), ("method", "GET"), ("status", "200")]);
        assert_eq!(s.len(), 5);
    }

    #[test]
    fn folds_into_counters_and_gauges() {
        let (mut c, mut g) = (BTreeMap::new(), BTreeMap::new());
        fold_scrape(SCRAPE, &mut c, &mut g);
        fold_scrape(SCRAPE, &mut c, &mut g); // a second instance sums
        assert_eq!(c["service.requests"], 24.0);
        assert_eq!(c["service.errors"], 4.0);
        assert_eq!(c["service.tier_busy.db_primary"], 3.0);
        assert_eq!(g["service.pool_waiting.db_primary"], 6.0);
        assert_eq!(g["service.queue_depth"], 14.0);
    }
}
