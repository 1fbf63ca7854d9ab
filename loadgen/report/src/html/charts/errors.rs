//! Errors per second: failed requests as the generator saw them, and the 5xx the service
//! counted itself when the profiler scraped them.

use super::{draw, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::series;
use loadgen_model::summary::SecondSample;
use loadgen_model::Timeline;

/// Generator-side errors per second (from the run's seconds) and, when present,
/// `service.errors` (from the timeline).
pub fn draw_errors(seconds: &[SecondSample], timeline: &Timeline) -> Result<String, HtmlError> {
    let mut plot = Plot::new("errors", "Errors per second", "errors / s");
    plot.series.push(Series::new(
        "failed requests (generator)",
        Style::Line,
        palette(3),
        seconds.iter().map(|s| (s.t as f64, Some(s.errors as f64))).collect(),
    ));
    plot.series.push(Series::new(
        "5xx (service)",
        Style::Dashed,
        palette(4),
        timeline_points(timeline, series::SERVICE_ERRORS),
    ));
    draw(&plot)
}
