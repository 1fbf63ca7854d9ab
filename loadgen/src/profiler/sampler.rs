//! Runs the collectors once a second until stopped, then aligns the samples onto the run's
//! measured timeline. A collector that fails leaves a gap (logged once), never stops the run.

use std::{collections::BTreeMap, time::Duration};

use tokio::time::{Instant, MissedTickBehavior};
use tokio_util::sync::CancellationToken;

use super::{collect::Collector, model::BoxInfo, Timeline};

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
    let mut last = started;
    while started.elapsed().as_secs() <= max_seconds {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let now = Instant::now();
        let elapsed = now.duration_since(last).as_secs_f64();
        last = now;
        let mut values = BTreeMap::new();
        for c in &mut collectors {
            match c.sample(elapsed).await {
                Ok(v) => values.extend(v),
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
