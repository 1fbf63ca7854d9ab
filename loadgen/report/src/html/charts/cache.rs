//! The cache's hit ratio per second, from the service's hit and miss counters.

use super::{draw, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::series;
use loadgen_model::Timeline;

/// hits / (hits + misses) per second, in percent; a gap where the cache saw no lookup.
pub fn hit_ratio(timeline: &Timeline) -> Vec<(f64, Option<f64>)> {
    let hits = timeline_points(timeline, series::SERVICE_CACHE_HITS);
    let misses = timeline_points(timeline, series::SERVICE_CACHE_MISSES);
    if hits.is_empty() && misses.is_empty() {
        return Vec::new();
    }
    timeline
        .t
        .iter()
        .enumerate()
        .map(|(k, &t)| {
            let h = hits.get(k).and_then(|p| p.1);
            let m = misses.get(k).and_then(|p| p.1);
            let ratio = match (h, m) {
                (None, None) => None,
                (h, m) => {
                    let (h, m) = (h.unwrap_or(0.0), m.unwrap_or(0.0));
                    (h + m > 0.0).then(|| 100.0 * h / (h + m))
                }
            };
            (t as f64, ratio)
        })
        .collect()
}

/// The hit ratio over time.
pub fn draw_cache(timeline: &Timeline) -> Result<String, HtmlError> {
    let mut plot = Plot::new("cache", "Cache hit ratio", "hits, % of lookups");
    plot.series.push(Series::new("hit ratio", Style::Line, palette(2), hit_ratio(timeline)));
    draw(&plot)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn ratio_per_second() {
        let mut tl = Timeline::default();
        for (t, h, m) in [(0, 3.0, 1.0), (1, 0.0, 0.0), (2, 1.0, 1.0)] {
            tl.push(
                t,
                &BTreeMap::from([("service.cache_hits".to_string(), h), ("service.cache_misses".to_string(), m)]),
            );
        }
        tl.push(3, &BTreeMap::new());
        assert_eq!(hit_ratio(&tl), vec![(0.0, Some(75.0)), (1.0, None), (2.0, Some(50.0)), (3.0, None)]);
        assert!(hit_ratio(&Timeline::default()).is_empty());
    }
}
