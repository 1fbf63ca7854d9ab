//! HAProxy's view of the load-balancer tier, from its CSV stats page (`/stats;csv`): requests
//! queued waiting for a server (the LB's saturation signal), sessions, connection retries and
//! errors, 5xx answers, and how many servers are up.
//!
//! Series: `haproxy.queue` (sum of `qcur` over backends), `haproxy.sessions` (`scur`),
//! `haproxy.retries` (per s), `haproxy.errors` (`econ` + `eresp`, per s), `haproxy.http_5xx`
//! (per s), `haproxy.servers_up`, `haproxy.server_connects` (new connections HAProxy opened
//! to its servers, per s: beside the request rate it says whether keep-alive connections are
//! reused or one is opened per request).

use loadgen_model::series;
use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{CollectError, Collector, CounterRates};

pub struct HaproxyCollector {
    client: reqwest::Client,
    /// The CSV stats URL, e.g. `http://127.0.0.1:8404/stats;csv`.
    url: String,
    counters: CounterRates,
}

impl HaproxyCollector {
    pub fn new(client: reqwest::Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into(), counters: CounterRates::default() }
    }
}

/// Figures summed over the BACKEND rows (and servers up counted over server rows).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Totals {
    pub queued: f64,
    pub sessions: f64,
    pub retries: f64,
    pub errors: f64,
    pub http_5xx: f64,
    pub servers_up: f64,
    pub server_connects: f64,
}

/// Parses HAProxy's stats CSV (first line `# pxname,svname,…`).
pub fn parse_csv(csv: &str) -> Totals {
    let mut lines = csv.lines();
    let Some(header) = lines.next() else { return Totals::default() };
    let cols: Vec<&str> = header.trim_start_matches('#').trim().split(',').collect();
    let col = |name: &str| cols.iter().position(|c| *c == name);
    let num = |fields: &[&str], name: &str| {
        col(name).and_then(|i| fields.get(i)).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0)
    };
    let mut t = Totals::default();
    for line in lines.filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split(',').collect();
        let Some(sv) = col("svname").and_then(|i| f.get(i)) else { continue };
        match *sv {
            "BACKEND" => {
                t.queued += num(&f, "qcur");
                t.sessions += num(&f, "scur");
                t.retries += num(&f, "wretr");
                t.errors += num(&f, "econ") + num(&f, "eresp");
                t.http_5xx += num(&f, "hrsp_5xx");
                t.server_connects += num(&f, "connect");
            }
            "FRONTEND" => {}
            _ => {
                let up = col("status").and_then(|i| f.get(i)).is_some_and(|s| s.starts_with("UP"));
                t.servers_up += f64::from(u8::from(up));
            }
        }
    }
    t
}

#[async_trait]
impl Collector for HaproxyCollector {
    fn name(&self) -> &'static str {
        "haproxy"
    }

    async fn sample(&mut self, elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
        let err = |e: &dyn std::fmt::Display| CollectError::new("haproxy", e);
        let response =
            self.client.get(&self.url).timeout(std::time::Duration::from_secs(1)).send().await.map_err(|e| err(&e))?;
        let text = response.text().await.map_err(|e| err(&e))?;
        let t = parse_csv(&text);
        let mut out = BTreeMap::from([
            (series::HAPROXY_QUEUE.to_owned(), t.queued),
            (series::HAPROXY_SESSIONS.to_owned(), t.sessions),
            (series::HAPROXY_SERVERS_UP.to_owned(), t.servers_up),
        ]);
        for (name, value) in [
            (series::HAPROXY_RETRIES, t.retries),
            (series::HAPROXY_ERRORS, t.errors),
            (series::HAPROXY_HTTP_5XX, t.http_5xx),
            (series::HAPROXY_SERVER_CONNECTS, t.server_connects),
        ] {
            self.counters.record(name, value, elapsed_s, &mut out);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn sums_backends_and_counts_servers_up() {
        let csv = "# pxname,svname,qcur,qmax,scur,smax,econ,eresp,wretr,status,hrsp_5xx,connect\n\
                   api,FRONTEND,,,12,40,,,,OPEN,0,\n\
                   app-read,a1,0,0,3,9,,0,0,UP,1,40\n\
                   app-read,a2,0,0,2,9,,0,0,DOWN,0,2\n\
                   app-read,BACKEND,7,20,5,18,2,1,4,UP,3,42\n\
                   app-write,w1,0,0,1,2,,0,0,UP 1/2,0,7\n\
                   app-write,BACKEND,1,2,1,2,0,0,1,UP,0,7\n";
        let t = super::parse_csv(csv);
        assert_eq!(t.queued, 8.0);
        assert_eq!(t.sessions, 6.0);
        assert_eq!(t.retries, 5.0);
        assert_eq!(t.errors, 3.0);
        assert_eq!(t.http_5xx, 3.0);
        assert_eq!(t.servers_up, 2.0);
        assert_eq!(t.server_connects, 49.0, "the backends' connects, not the servers' again");
    }
}
