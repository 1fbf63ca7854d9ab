//! Runs the collectors once a second until stopped, then aligns the samples onto the run's
//! measured timeline. A collector that fails leaves a gap (logged once), never stops the run.

use std::{collections::BTreeMap, time::Duration};

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use crate::collect::Collector;
use loadgen_model::timeline::{BoxInfo, Timeline};

/// Longest one collector may take for one sample.
const SAMPLE_TIMEOUT: Duration = Duration::from_millis(800);

/// One sample: when it was taken and what every collector answered.
pub type Sample = (Instant, BTreeMap<String, f64>);

/// Samples `collectors` every second until `stop`, or by itself after `max_seconds`.
pub async fn run(mut collectors: Vec<Box<dyn Collector>>, max_seconds: u64, stop: CancellationToken) -> Vec<Sample> {
    let mut samples = Vec::new();
    let mut warned = BTreeMap::new();
    // Prime the counters so the first real sample already has rates.
    for c in &mut collectors {
        let _ = c.sample(1.0).await;
    }
    let started = Instant::now();
    let mut ticker = tokio::time::interval_at(started + Duration::from_secs(1), Duration::from_secs(1));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    // Each collector's counters turn into rates over the time since *its* last answer: after
    // a collector missed samples (a scrape that timed out), one interval's rate must not hold
    // the increase of several.
    let mut last_answer = vec![started; collectors.len()];
    while started.elapsed().as_secs() <= max_seconds {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let mut values = BTreeMap::new();
        for (c, last) in collectors.iter_mut().zip(&mut last_answer) {
            let elapsed = now.duration_since(*last).as_secs_f64();
            // One slow source must not hold every other's sample back (a paused server's own
            // collector answers within its probe timeout; this is the backstop).
            let answer = tokio::time::timeout(SAMPLE_TIMEOUT, c.sample(elapsed)).await.unwrap_or_else(|_| {
                Err(crate::collect::CollectError::new("sampler", format!("no answer within {SAMPLE_TIMEOUT:?}")))
            });
            match answer {
                Ok(v) => {
                    *last = now;
                    values.extend(v);
                }
                Err(e) => {
                    if warned.insert(c.name(), ()).is_none() {
                        tracing::warn!(collector = c.name(), error = %e, "collector failed; its series have gaps");
                    }
                }
            }
        }
        samples.push((now, values));
    }
    samples
}

/// Places samples on the measured timeline: a sample taken at `measured_start + s` seconds
/// covers the second before it, so it lands at `t = round(s) - 1`; samples before the
/// measured part are dropped.
pub fn align(samples: &[Sample], measured_start: Instant, boxes: Vec<BoxInfo>) -> Timeline {
    let mut timeline = Timeline { boxes, ..Timeline::default() };
    for (at, values) in samples {
        let Some(since) = at.checked_duration_since(measured_start) else { continue };
        let t = since.as_secs_f64().round() as u64;
        if t == 0 || timeline.t.last().is_some_and(|&last| last >= t - 1) {
            continue;
        }
        timeline.push(t - 1, values);
    }
    timeline
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::CollectError;

    /// Answers with the elapsed time it was given, except on its third call (the first after
    /// priming and one good sample).
    struct Flaky {
        calls: u32,
    }

    #[async_trait::async_trait]
    impl Collector for Flaky {
        fn name(&self) -> &'static str {
            "flaky"
        }

        async fn sample(&mut self, elapsed_s: f64) -> Result<BTreeMap<String, f64>, CollectError> {
            self.calls += 1;
            if self.calls == 3 {
                return Err(CollectError::new("flaky", "no answer"));
            }
            Ok(BTreeMap::from([("elapsed".to_owned(), elapsed_s)]))
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_collector_that_missed_a_sample_gets_the_time_since_its_last_answer() {
        let samples = run(vec![Box::new(Flaky { calls: 0 })], 3, CancellationToken::new()).await;
        let elapsed: Vec<Option<f64>> = samples.iter().map(|(_, v)| v.get("elapsed").copied()).collect();
        let round = |v: Option<f64>| v.map(|e| e.round());
        assert_eq!(elapsed.into_iter().map(round).collect::<Vec<_>>()[..3], [Some(1.0), None, Some(2.0)]);
    }

    #[test]
    fn samples_land_on_the_measured_seconds() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let v = |x: f64| BTreeMap::from([("a".to_owned(), x)]);
        let samples = vec![(at(300), v(0.0)), (at(1290), v(1.0)), (at(2310), v(2.0)), (at(3300), v(3.0))];
        let tl = align(&samples, start + Duration::from_millis(300), Vec::new());
        assert_eq!(tl.t, vec![0, 1, 2]);
        assert_eq!(tl.values("a"), vec![1.0, 2.0, 3.0]);
    }
}
