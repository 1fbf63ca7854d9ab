//! Offered (intended) against achieved rate, per second, with the knee when the verdict found one.

use super::{draw, palette, Marker, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::summary::SecondSample;
use loadgen_model::timeline::Knee;

/// Intended, sent and completed requests per second; a marker at the knee. Draws from the
/// run's seconds and the knee alone.
pub fn draw_rate(seconds: &[SecondSample], knee: Option<&Knee>) -> Result<String, HtmlError> {
    let mut plot = Plot::new("rate", "Offered vs achieved rate", "requests / s");
    let s = seconds;
    let t = |i: usize| s[i].t as f64;
    plot.series.push(Series::new(
        "offered (intended)",
        Style::Dashed,
        palette(7),
        (0..s.len()).map(|i| (t(i), Some(s[i].intended))).collect(),
    ));
    plot.series.push(Series::new(
        "sent",
        Style::Line,
        palette(1),
        (0..s.len()).map(|i| (t(i), Some(s[i].sent as f64))).collect(),
    ));
    plot.series.push(Series::new(
        "achieved (completed)",
        Style::Line,
        palette(0),
        (0..s.len()).map(|i| (t(i), Some(s[i].completed as f64))).collect(),
    ));
    plot.series.push(Series::new(
        "achieved without errors",
        Style::Line,
        palette(2),
        (0..s.len()).map(|i| (t(i), Some(s[i].completed.saturating_sub(s[i].errors) as f64))).collect(),
    ));
    if let Some(knee) = knee {
        plot.markers.push(Marker { x: knee.t as f64, label: format!(" knee at {} s", knee.t) });
    }
    draw(&plot)
}
