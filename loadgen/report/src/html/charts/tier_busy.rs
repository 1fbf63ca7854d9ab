//! Busy seconds per second of each service tier (db_primary, db_replica, cache, object_store,
//! queue), stacked: the total height is the work the request path spent in its tiers.

use super::{draw, labels, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::series;
use loadgen_model::Timeline;

const BUSY: &str = series::SERVICE_TIER_BUSY_PREFIX;

/// Stacked areas from `service.tier_busy.<tier>`; a second where every tier is missing is a
/// gap, a single missing tier counts as 0.
pub fn draw_tier_busy(timeline: &Timeline) -> Result<String, HtmlError> {
    let mut plot = Plot::new("tier_busy", "Busy time per tier (stacked)", "busy seconds / s");
    let tiers = labels(timeline, BUSY);
    let columns: Vec<Vec<Option<f64>>> = tiers
        .iter()
        .map(|tier| timeline_points(timeline, &format!("{BUSY}{tier}")).into_iter().map(|(_, v)| v).collect())
        .collect();
    let mut stacked = Vec::with_capacity(tiers.len());
    let mut below: Vec<Option<f64>> = vec![None; timeline.t.len()];
    for (i, tier) in tiers.iter().enumerate() {
        let mut points = Vec::with_capacity(timeline.t.len());
        for (k, &t) in timeline.t.iter().enumerate() {
            let any = columns.iter().any(|c| c[k].is_some());
            let top = any.then(|| below[k].unwrap_or(0.0) + columns[i][k].unwrap_or(0.0));
            below[k] = top;
            points.push((t as f64, top));
        }
        stacked.push(Series::new(tier.clone(), Style::Area, palette(i), points));
    }
    // Draw the highest layer first so each lower one covers the part of it below.
    stacked.reverse();
    plot.series = stacked;
    draw(&plot)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn stacks_tiers() {
        let mut tl = Timeline::default();
        for t in 0..3 {
            let mut v = BTreeMap::new();
            v.insert("service.tier_busy.db_primary".to_string(), 0.5);
            if t != 1 {
                v.insert("service.tier_busy.cache".to_string(), 0.25);
            }
            tl.push(t, &v);
        }
        let svg = draw_tier_busy(&tl).unwrap();
        assert!(svg.contains("db_primary") && svg.contains("cache"));
        assert!(draw_tier_busy(&Timeline::default()).unwrap().contains("no data"));
    }
}
