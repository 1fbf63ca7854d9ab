//! Puts CloudWatch's answers on a run's timeline. A data point stamped `ts` with period `p`
//! covers `[ts, ts + p)`: every second of the run inside it gets its value (scaled, and turned
//! into a per-second rate for counts). Seconds no point covers stay empty: nothing is invented.
//! Several resources of a tier are combined per second as the mapping says.

use std::collections::BTreeMap;

use super::{signals::Signal, source::PulledSeries};
use loadgen_model::Timeline;

/// Prefix of every CloudWatch series in a timeline.
pub const PREFIX: &str = "cloudwatch.";

/// Value of `pulled` at each of `seconds` (seconds since `started_at`, unix seconds).
pub fn per_second(
    pulled: &PulledSeries,
    signal: &Signal,
    period_s: i64,
    started_at: f64,
    seconds: &[u64],
) -> Vec<Option<f64>> {
    let divisor = if signal.per_second { period_s as f64 } else { 1.0 };
    seconds
        .iter()
        .map(|&t| {
            // The middle of the second, so a second straddling two points takes the later one
            // only when most of it lies there.
            let at = started_at + t as f64 + 0.5;
            let i = pulled.timestamps.partition_point(|&ts| ts as f64 <= at);
            let i = i.checked_sub(1)?;
            let ts = pulled.timestamps[i] as f64;
            (at < ts + period_s as f64).then(|| pulled.values[i] * signal.scale / divisor)
        })
        .collect()
}

/// Series id of one resource: resource ids may hold `/` (load balancers), kept as they are.
fn resource_series(signal: &Signal, resource: &str) -> String {
    format!("{}.{resource}", signal.series_name())
}

/// Replaces the timeline's CloudWatch series with `pulled`. `signal_of` gives each answer's
/// mapping row. A timeline with no seconds (a run without the profiler) gets the run's
/// seconds `0..duration_s`.
pub fn merge_into(
    timeline: &mut Timeline,
    pulled: &[(PulledSeries, Signal)],
    period_s: i64,
    started_at: f64,
    duration_s: f64,
) {
    timeline.series.retain(|name, _| !name.starts_with(PREFIX));
    if timeline.t.is_empty() {
        timeline.t = (0..duration_s.ceil().max(0.0) as u64).collect();
    }
    let seconds = timeline.t.clone();
    // Combined series name → its mapping row and each resource's per-second values.
    type Columns = (Signal, Vec<Vec<Option<f64>>>);
    let mut groups: BTreeMap<String, Columns> = BTreeMap::new();
    for (series, signal) in pulled {
        if series.values.is_empty() {
            continue;
        }
        let values = per_second(series, signal, period_s, started_at, &seconds);
        timeline.series.insert(resource_series(signal, &series.resource), values.clone());
        groups.entry(signal.series_name()).or_insert_with(|| (signal.clone(), Vec::new())).1.push(values);
    }
    for (name, (signal, columns)) in groups {
        let combined = (0..seconds.len())
            .map(|i| {
                let known: Vec<f64> = columns.iter().filter_map(|c| c[i]).collect();
                signal.combine.apply(&known)
            })
            .collect();
        timeline.series.insert(name, combined);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cloudwatch::signals::{self, Combine};

    fn signal(series: &str) -> Signal {
        signals::shipped().into_iter().find(|s| s.tier == "db_primary" && s.series == series).unwrap()
    }

    fn pulled(resource: &str, timestamps: Vec<i64>, values: Vec<f64>) -> PulledSeries {
        PulledSeries {
            id: "q0".into(),
            tier: "db_primary".into(),
            series: "x".into(),
            resource: resource.into(),
            query: String::new(),
            timestamps,
            values,
            status: "Complete".into(),
            messages: Vec::new(),
        }
    }

    #[test]
    fn each_second_takes_the_point_covering_it_and_gaps_stay_empty() {
        let cpu = signal("cpu_utilization");
        // Run starts 30 s into the 1000 s minute; points at 1000 and 1120 (1060 missing).
        let p = pulled("db", vec![1000, 1120], vec![50.0, 90.0]);
        let v = per_second(&p, &cpu, 60, 1030.0, &[0, 29, 30, 89, 90, 149, 150]);
        assert_eq!(v, vec![Some(0.5), Some(0.5), None, None, Some(0.9), Some(0.9), None]);
    }

    #[test]
    fn counts_become_rates_and_resources_combine() {
        let mut evictions = signal("cpu_utilization");
        evictions.per_second = true;
        evictions.scale = 1.0;
        evictions.combine = Combine::Sum;
        let a = pulled("a", vec![0], vec![120.0]);
        let b = pulled("b", vec![0], vec![60.0]);
        let mut tl = Timeline::default();
        tl.series.insert("cloudwatch.stale".into(), vec![]);
        merge_into(&mut tl, &[(a, evictions.clone()), (b, evictions.clone())], 60, 0.0, 3.0);
        assert_eq!(tl.t, vec![0, 1, 2]);
        assert!(!tl.series.contains_key("cloudwatch.stale"));
        assert_eq!(tl.values("cloudwatch.db_primary.cpu_utilization.a"), vec![2.0; 3]);
        assert_eq!(tl.values("cloudwatch.db_primary.cpu_utilization"), vec![3.0; 3]);
    }

    #[test]
    fn a_series_with_no_points_adds_nothing() {
        let mut tl = Timeline::default();
        merge_into(&mut tl, &[(pulled("db", vec![], vec![]), signal("cpu_utilization"))], 60, 0.0, 2.0);
        assert!(tl.series.is_empty());
    }
}
