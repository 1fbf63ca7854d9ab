//! CPU the hypervisor gave to other guests (Linux `steal` time, `/proc/stat`): on a shared
//! virtual machine the same work costs more CPU time when the host is busy, so a run's
//! per-request figures and the rate a box holds move with it. Series: `host.steal_cores`
//! (cores' worth of time stolen per second) and `host.steal_share` (its share of all the
//! machine's CPU time in that second). Absent where `/proc/stat` is not readable.

use loadgen_model::series;
use std::collections::BTreeMap;

use async_trait::async_trait;

use super::{CollectError, Collector};

/// Ticks of `/proc/stat`'s first line: (steal, all fields summed).
fn steal_and_total(stat: &str) -> Option<(u64, u64)> {
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line.split_whitespace().skip(1).filter_map(|f| f.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal [guest guest_nice, already in user/nice]
    let steal = *fields.get(7)?;
    Some((steal, fields.iter().take(8).sum()))
}

/// Reads the machine's steal time each second.
#[derive(Default)]
pub struct StealCollector {
    previous: Option<(u64, u64)>,
}

const TICKS_PER_SECOND: f64 = 100.0;

#[async_trait]
impl Collector for StealCollector {
    fn name(&self) -> &'static str {
        "steal"
    }

    async fn sample(&mut self, elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
        let stat = std::fs::read_to_string("/proc/stat").map_err(|e| CollectError::new("steal", e))?;
        let now = steal_and_total(&stat).ok_or_else(|| CollectError::new("steal", "no cpu line in /proc/stat"))?;
        let mut out = BTreeMap::new();
        if let (Some((s0, t0)), true) = (self.previous, elapsed_s > 0.0) {
            let (ds, dt) = (now.0.saturating_sub(s0) as f64, now.1.saturating_sub(t0) as f64);
            out.insert(series::HOST_STEAL_CORES.into(), ds / TICKS_PER_SECOND / elapsed_s);
            if dt > 0.0 {
                out.insert(series::HOST_STEAL_SHARE.into(), ds / dt);
            }
        }
        self.previous = Some(now);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_field_and_guest_time_is_not_counted_twice() {
        let stat = "cpu  100 0 50 800 0 0 10 40 7 0\ncpu0 50 0 25 400 0 0 5 20 0 0\n";
        assert_eq!(steal_and_total(stat), Some((40, 1000)));
        assert_eq!(steal_and_total("intr 1 2\n"), None);
    }

    #[tokio::test]
    async fn the_second_sample_gives_rates() {
        if !std::path::Path::new("/proc/stat").exists() {
            return;
        }
        let mut c = StealCollector::default();
        assert!(c.sample(1.0).await.unwrap().is_empty(), "no rate from one reading");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let second = c.sample(0.05).await.unwrap();
        assert!(second["host.steal_cores"] >= 0.0 && (0.0..=1.0).contains(&second["host.steal_share"]), "{second:?}");
    }
}
