//! Saturation: connection pools in use, waiters and their size, and the job queue's depth.

use super::{draw, labels, palette, timeline_points, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::series;
use loadgen_model::Timeline;

const IN_USE: &str = series::SERVICE_POOL_IN_USE_PREFIX;
const WAITING: &str = series::SERVICE_POOL_WAITING_PREFIX;
const MAX: &str = series::SERVICE_POOL_MAX_PREFIX;

/// Per pool: in use (solid), waiting (solid, next colour), size (dashed); plus
/// `service.queue_depth`.
pub fn draw_saturation(timeline: &Timeline) -> Result<String, HtmlError> {
    let mut plot = Plot::new("saturation", "Saturation: pools and queue", "connections / jobs");
    let mut pools = labels(timeline, IN_USE);
    for p in labels(timeline, WAITING).into_iter().chain(labels(timeline, MAX)) {
        if !pools.contains(&p) {
            pools.push(p);
        }
    }
    pools.sort();
    for (i, pool) in pools.iter().enumerate() {
        let (used, waiting) = (palette(2 * i), palette(2 * i + 1));
        plot.series.push(Series::new(
            format!("{pool} in use"),
            Style::Line,
            used,
            timeline_points(timeline, &format!("{IN_USE}{pool}")),
        ));
        plot.series.push(Series::new(
            format!("{pool} waiting"),
            Style::Line,
            waiting,
            timeline_points(timeline, &format!("{WAITING}{pool}")),
        ));
        plot.series.push(Series::new(
            format!("{pool} size"),
            Style::Dashed,
            used,
            timeline_points(timeline, &format!("{MAX}{pool}")),
        ));
    }
    plot.series.push(Series::new(
        "queue depth",
        Style::Line,
        palette(7),
        timeline_points(timeline, series::SERVICE_QUEUE_DEPTH),
    ));
    draw(&plot)
}
