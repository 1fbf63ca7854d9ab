//! Faults injected (scenario `[[faults]]`): requests answered and failed per second, with each
//! fault's window shaded as a band as high as the busiest second, so what the load saw during
//! a kill or a pause lines up with when it was done.

use super::{draw, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::summary::SecondSample;
use loadgen_model::Timeline;

/// `None` when the run had no faults. Draws from the run's seconds and the timeline's fault
/// bands.
pub fn draw_faults(seconds: &[SecondSample], timeline: &Timeline) -> Option<Result<String, HtmlError>> {
    let tiers: Vec<String> = timeline.faults.iter().filter(|f| !f.tier.is_empty()).map(|f| f.tier.clone()).collect();
    if tiers.is_empty() {
        return None;
    }
    let top = seconds.iter().map(|s| s.completed as f64).fold(1.0, f64::max);
    let mut plot = Plot::new("faults", "Faults injected: requests per second during each fault", "requests / s");
    let mut seen = std::collections::BTreeSet::new();
    for (i, tier) in tiers.iter().filter(|t| seen.insert(t.as_str())).enumerate() {
        let band = timeline_points(timeline, &format!("fault.{tier}"))
            .into_iter()
            .map(|(t, v)| (t, v.map(|v| v * top)))
            .collect();
        plot.series.push(Series::new(format!("{tier} faulted"), Style::Area, palette(5 + i), band));
    }
    let answered = seconds.iter().map(|s| (s.t as f64, Some(s.completed.saturating_sub(s.errors) as f64))).collect();
    plot.series.push(Series::new("answered", Style::Line, palette(0), answered));
    let failed = seconds.iter().map(|s| (s.t as f64, Some(s.errors as f64))).collect();
    plot.series.push(Series::new("failed", Style::Line, palette(3), failed));
    Some(draw(&plot))
}
