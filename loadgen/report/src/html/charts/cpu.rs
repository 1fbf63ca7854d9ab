//! CPU cores used by each box (generator, app, db, cache, …) with its quota as a dashed line,
//! and the machine's cores.

use super::{draw, labels, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::series;
use loadgen_model::Timeline;

const USED: &str = series::HOST_CPU_CORES_PREFIX;
const QUOTA: &str = series::HOST_CPU_QUOTA_PREFIX;

/// One line per box from `host.cpu_cores.<box>`; quotas from `host.cpu_quota.<box>`, else the
/// timeline's box list; `host.machine_cpu_cores` in grey.
pub fn draw_cpu(timeline: &Timeline) -> Result<String, HtmlError> {
    let mut plot = Plot::new("cpu", "CPU per box", "cores");
    for (i, name) in labels(timeline, USED).into_iter().enumerate() {
        let color = palette(i);
        plot.series.push(Series::new(
            name.clone(),
            Style::Line,
            color,
            timeline_points(timeline, &format!("{USED}{name}")),
        ));
        let mut quota = timeline_points(timeline, &format!("{QUOTA}{name}"));
        if quota.iter().all(|(_, v)| v.is_none()) {
            if let Some(b) = timeline.boxes.iter().find(|b| b.tier == name) {
                quota = timeline.t.iter().map(|&t| (t as f64, Some(b.cpu_cores))).collect();
            }
        }
        plot.series.push(Series::new(format!("{name} quota"), Style::Dashed, color, quota));
    }
    plot.series.push(Series::new(
        "machine cores",
        Style::Dashed,
        palette(7),
        timeline_points(timeline, series::HOST_MACHINE_CPU_CORES),
    ));
    draw(&plot)
}
