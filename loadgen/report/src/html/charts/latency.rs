//! Latency percentiles (p50, p99, p99.9) per second, on a log axis, from the summary's series
//! (measured from the intended send time).

use super::{draw, palette, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::summary::{Percentiles, SecondSample};

type Pick = fn(&Percentiles) -> u64;

/// p50/p99/p99.9 of everything completed each second, milliseconds; seconds without a
/// completed request are gaps. Draws from the run's seconds alone.
pub fn draw_latency(seconds: &[SecondSample]) -> Result<String, HtmlError> {
    let mut plot = Plot::new("latency", "Latency per second (from intended send time)", "milliseconds (log)");
    plot.log_y = true;
    let pick: [(&str, Pick); 3] = [("p50", |p| p.p50), ("p99", |p| p.p99), ("p99.9", |p| p.p999)];
    for (i, (name, value)) in pick.into_iter().enumerate() {
        let points = seconds
            .iter()
            .map(|s| (s.t as f64, (s.latency_us.count > 0).then(|| value(&s.latency_us) as f64 / 1000.0)))
            .collect();
        plot.series.push(Series::new(name, Style::Line, palette([2, 1, 3][i]), points));
    }
    draw(&plot)
}
