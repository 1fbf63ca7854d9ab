//! CloudWatch: the utilization of each tier as CloudWatch reported it (percent of CPU of the
//! group, database, replicas or cache engine), on the run's seconds. Each step is one
//! CloudWatch period; gaps are periods CloudWatch had no point for.

use super::{draw, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::cloudwatch::signals::{self, Role};
use loadgen_model::Timeline;

/// `None` when the run has no CloudWatch series.
pub fn draw_cloudwatch(timeline: &Timeline) -> Option<Result<String, HtmlError>> {
    let mut names: Vec<(String, String)> = signals::shipped()
        .into_iter()
        .filter(|s| s.role == Role::Utilization && timeline.series.contains_key(&s.series_name()))
        .map(|s| (s.series_name(), format!("{} {}", s.tier, s.metric)))
        .collect();
    names.dedup();
    if names.is_empty() {
        return None;
    }
    let mut plot = Plot::new("cloudwatch", "CloudWatch: utilization per tier", "% busy");
    for (i, (name, label)) in names.iter().enumerate() {
        let percent = timeline_points(timeline, name).into_iter().map(|(t, v)| (t, v.map(|v| v * 100.0))).collect();
        plot.series.push(Series::new(label.clone(), Style::Line, palette(i), percent));
    }
    Some(draw(&plot))
}
