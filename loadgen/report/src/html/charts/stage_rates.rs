//! `loadgen evolve`: the sustainable rate of each stage against the target, with a marker per
//! stage naming it and its bottleneck (x = the stage's position in the loop).

use super::{draw, palette, Marker, Plot, Series, Style};
use crate::html::HtmlError;
use loadgen_model::evolve::StageResult;

/// Draws from the stages the loop visited and the rate it aimed at, nothing else of the walk.
pub fn draw_stage_rates(stages: &[StageResult], target_rate: f64) -> Result<String, HtmlError> {
    let mut plot = Plot::new("stage_rates", "Sustainable rate per stage", "requests / s");
    plot.x_desc = "stage (in the order the loop visited them)";
    plot.x_whole_only = true;
    let x = |i: usize| i as f64 + 1.0;
    plot.series.push(Series::new(
        "sustainable rate (SLO held)",
        Style::LineWithPoints,
        palette(0),
        stages.iter().enumerate().map(|(i, s)| (x(i), s.sustainable_rate)).collect(),
    ));
    // The seed's target dwarfs what one machine holds: drawn, it would flatten every stage's
    // point onto the axis, so it is drawn only when it is within reach of the stages shown.
    let highest = stages.iter().filter_map(|s| s.sustainable_rate).fold(0.0, f64::max);
    if target_rate <= highest * 3.0 {
        plot.series.push(Series::new(
            "target",
            Style::Dashed,
            palette(7),
            vec![(0.5, Some(target_rate)), (stages.len() as f64 + 0.5, Some(target_rate))],
        ));
    }
    for (i, s) in stages.iter().enumerate() {
        plot.markers.push(Marker { x: x(i), label: format!(" {}: {}", s.profile, s.bottleneck) });
    }
    draw(&plot)
}
