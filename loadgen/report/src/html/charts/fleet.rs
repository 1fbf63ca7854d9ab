//! Autoscaling: app instances over time (and the fleet's mean CPU utilization, scaled to the
//! same axis as a fraction of the largest fleet), with the box-seconds used against a fleet
//! fixed at its peak size in the title.

use super::{draw, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::series;
use loadgen_model::Timeline;

/// `None` when the run had no autoscaler.
pub fn draw_fleet(timeline: &Timeline) -> Option<Result<String, HtmlError>> {
    let instances = timeline.series.get(series::AUTOSCALE_INSTANCES)?;
    let known: Vec<f64> = instances.iter().flatten().copied().collect();
    let peak = known.iter().copied().fold(0.0, f64::max);
    let used: f64 = known.iter().sum();
    let fixed = peak * known.len() as f64;
    let title =
        format!("Autoscaling: {used:.0} box-seconds used vs {fixed:.0} for a fleet fixed at its peak of {peak:.0}");
    let mut plot = Plot::new("fleet", title, "app instances");
    plot.series.push(Series::new(
        "instances",
        Style::Line,
        palette(0),
        timeline_points(timeline, series::AUTOSCALE_INSTANCES),
    ));
    let scaled: Vec<(f64, Option<f64>)> = timeline_points(timeline, series::AUTOSCALE_CPU_UTILIZATION)
        .into_iter()
        .map(|(t, u)| (t, u.map(|u| u * peak.max(1.0))))
        .collect();
    plot.series.push(Series::new("mean CPU utilization × peak fleet", Style::Dashed, palette(1), scaled));
    Some(draw(&plot))
}
