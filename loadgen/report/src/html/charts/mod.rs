//! The report's charts: each submodule turns part of the summary or of the profiler's
//! timeline into one inline SVG, drawn with plotters' SVG backend into a `String`.
//!
//! No font is needed at build or run time: without plotters' `ttf`/`ab_glyph` features it
//! estimates label sizes from the font size alone, and the SVG backend writes text as
//! `<text font-family="sans-serif">`, which the browser lays out with whatever it has.
//!
//! A chart whose series have no data is a small SVG that says "no data" instead of an error,
//! so every chart is always an `<svg>` on the page.

use plotters::coord::ranged1d::{Ranged, ValueFormatter};
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::HtmlError;
use loadgen_model::Timeline;

pub mod cache;
pub mod cloudwatch;
pub mod cpu;
pub mod errors;
pub mod faults;
pub mod fleet;
pub mod latency;
pub mod rate;
pub mod saturation;
pub mod stage_rates;
pub mod tier_busy;

/// Size of every chart in SVG user units (the page scales it to its column).
pub const WIDTH: u32 = 960;
pub const HEIGHT: u32 = 320;

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Line,
    /// A line with a dot at each point (few points, e.g. one per stage).
    LineWithPoints,
    /// Limits and capacities (quotas, pool sizes).
    Dashed,
    /// Filled down to zero; stacked charts pass cumulative values, top layer first.
    Area,
}

/// One named series: `(seconds, value)`, `None` where the sample is missing.
#[derive(Debug, Clone)]
pub struct Series {
    pub name: String,
    pub style: Style,
    pub color: RGBColor,
    pub points: Vec<(f64, Option<f64>)>,
}

impl Series {
    pub fn new(name: impl Into<String>, style: Style, color: RGBColor, points: Vec<(f64, Option<f64>)>) -> Self {
        Self { name: name.into(), style, color, points }
    }

    /// Values that can be drawn (finite; positive on a log axis).
    fn drawable(&self, log_y: bool) -> impl Iterator<Item = (f64, f64)> + '_ {
        self.points
            .iter()
            .filter_map(|&(x, y)| y.map(|y| (x, y)))
            .filter(move |&(x, y)| x.is_finite() && y.is_finite() && (!log_y || y > 0.0))
    }

    /// Runs of consecutive drawable points (a missing sample breaks a line).
    fn runs(&self, log_y: bool) -> Vec<Vec<(f64, f64)>> {
        let mut runs = vec![Vec::new()];
        for &(x, y) in &self.points {
            match y.filter(|y| x.is_finite() && y.is_finite() && (!log_y || *y > 0.0)) {
                Some(y) => runs.last_mut().expect("never empty").push((x, y)),
                None if runs.last().is_some_and(|r| !r.is_empty()) => runs.push(Vec::new()),
                None => {}
            }
        }
        runs.retain(|r| !r.is_empty());
        runs
    }
}

/// A vertical marker, e.g. the knee.
#[derive(Debug, Clone)]
pub struct Marker {
    pub x: f64,
    pub label: String,
}

/// Everything one chart shows.
#[derive(Debug, Clone)]
pub struct Plot {
    /// Short id of the chart, used in error messages.
    pub chart: &'static str,
    pub title: String,
    pub y_desc: String,
    pub log_y: bool,
    pub series: Vec<Series>,
    pub markers: Vec<Marker>,
    /// The x axis: seconds of the run unless a chart says otherwise.
    pub x_desc: &'static str,
    /// Label only whole x values (an axis of stage numbers, not of time).
    pub x_whole_only: bool,
}

impl Plot {
    pub fn new(chart: &'static str, title: impl Into<String>, y_desc: impl Into<String>) -> Self {
        Self {
            chart,
            title: title.into(),
            y_desc: y_desc.into(),
            log_y: false,
            series: Vec::new(),
            markers: Vec::new(),
            x_desc: "seconds into the measured run",
            x_whole_only: false,
        }
    }
}

/// The colours series are given in order.
pub fn palette(i: usize) -> RGBColor {
    const COLORS: [RGBColor; 8] = [
        RGBColor(31, 119, 180),
        RGBColor(255, 127, 14),
        RGBColor(44, 160, 44),
        RGBColor(214, 39, 40),
        RGBColor(148, 103, 189),
        RGBColor(140, 86, 75),
        RGBColor(227, 119, 194),
        RGBColor(127, 127, 127),
    ];
    COLORS[i % COLORS.len()]
}

/// A timeline series as chart points (`None` where the sample is missing); empty when absent.
pub fn timeline_points(timeline: &Timeline, name: &str) -> Vec<(f64, Option<f64>)> {
    match timeline.series.get(name) {
        Some(values) => timeline.t.iter().zip(values).map(|(&t, &v)| (t as f64, v)).collect(),
        None => Vec::new(),
    }
}

/// The `<label>` parts of the timeline series named `<prefix><label>`, sorted.
pub fn labels(timeline: &Timeline, prefix: &str) -> Vec<String> {
    timeline.names_with_prefix(prefix).map(|n| n[prefix.len()..].to_string()).filter(|l| !l.is_empty()).collect()
}

fn chart_error(chart: &'static str) -> impl Fn(&dyn std::fmt::Display) -> HtmlError {
    move |e| HtmlError::Chart { chart, message: e.to_string() }
}

/// Draws `plot` to an SVG string (a "no data" SVG when no series has a value).
pub fn draw(plot: &Plot) -> Result<String, HtmlError> {
    let err = chart_error(plot.chart);
    let data: Vec<&Series> = plot.series.iter().filter(|s| s.drawable(plot.log_y).next().is_some()).collect();
    if data.is_empty() {
        return Ok(placeholder(&plot.title, "no data"));
    }
    let points = || data.iter().flat_map(|s| s.drawable(plot.log_y));
    let (mut x0, mut x1) = points().fold((f64::MAX, f64::MIN), |(lo, hi), (x, _)| (lo.min(x), hi.max(x)));
    for m in &plot.markers {
        (x0, x1) = (x0.min(m.x), x1.max(m.x));
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    let y_max = points().fold(f64::MIN, |hi, (_, y)| hi.max(y));
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| err(&e))?;
        let mut builder = ChartBuilder::on(&root);
        builder.caption(&plot.title, ("sans-serif", 20)).margin(12).x_label_area_size(40).y_label_area_size(70);
        if plot.log_y {
            let y_min = points().fold(f64::MAX, |lo, (_, y)| lo.min(y));
            let (lo, hi) = (y_min / 1.5, (y_max * 1.5).max(y_min * 2.0));
            let mut chart = builder.build_cartesian_2d(x0..x1, (lo..hi).log_scale()).map_err(|e| err(&e))?;
            draw_on(&mut chart, plot, &data, lo, hi)?;
        } else {
            let hi = if y_max > 0.0 { y_max * 1.1 } else { 1.0 };
            let mut chart = builder.build_cartesian_2d(x0..x1, 0.0..hi).map_err(|e| err(&e))?;
            draw_on(&mut chart, plot, &data, 0.0, hi)?;
        }
        root.present().map_err(|e| err(&e))?;
    }
    Ok(inline(svg))
}

fn draw_on<'a, Y>(
    chart: &mut ChartContext<'a, SVGBackend<'a>, Cartesian2d<RangedCoordf64, Y>>,
    plot: &Plot,
    data: &[&Series],
    y_lo: f64,
    y_hi: f64,
) -> Result<(), HtmlError>
where
    Y: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = chart_error(plot.chart);
    chart
        .configure_mesh()
        .x_desc(plot.x_desc)
        .y_desc(plot.y_desc.as_str())
        .label_style(("sans-serif", 14))
        .axis_desc_style(("sans-serif", 15))
        .x_label_formatter(&|x| {
            if plot.x_whole_only && (x - x.round()).abs() > 1e-6 {
                String::new()
            } else {
                format!("{x:.0}")
            }
        })
        .y_label_formatter(&|y| axis_number(*y))
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.08))
        .draw()
        .map_err(|e| err(&e))?;
    for series in data {
        let color = series.color;
        for (i, run) in series.runs(plot.log_y).into_iter().enumerate() {
            let anno = match series.style {
                Style::Line => chart.draw_series(LineSeries::new(run, color.stroke_width(2))),
                Style::LineWithPoints => {
                    chart
                        .draw_series(run.iter().map(|&(x, y)| Circle::new((x, y), 5, color.filled())))
                        .map_err(|e| err(&e))?;
                    chart.draw_series(LineSeries::new(run, color.stroke_width(2)))
                }
                Style::Dashed => chart.draw_series(DashedLineSeries::new(run, 8, 5, color.stroke_width(2))),
                Style::Area => chart.draw_series(
                    AreaSeries::new(run, y_lo, lighten(color).filled()).border_style(color.stroke_width(1)),
                ),
            }
            .map_err(|e| err(&e))?;
            if i == 0 {
                let style = series.style;
                anno.label(series.name.as_str()).legend(move |(x, y)| legend_mark(style, color, x, y));
            }
        }
    }
    for marker in &plot.markers {
        let grey = RGBColor(90, 90, 90);
        chart
            .draw_series(DashedLineSeries::new(vec![(marker.x, y_lo), (marker.x, y_hi)], 4, 4, grey.stroke_width(1)))
            .map_err(|e| err(&e))?;
        chart
            .draw_series(std::iter::once(Text::new(
                marker.label.clone(),
                (marker.x, y_hi),
                ("sans-serif", 14).into_font().color(&grey).pos(Pos::new(HPos::Left, VPos::Top)),
            )))
            .map_err(|e| err(&e))?;
    }
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .label_font(("sans-serif", 14))
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .draw()
        .map_err(|e| err(&e))?;
    Ok(())
}

fn legend_mark<'b>(style: Style, color: RGBColor, x: i32, y: i32) -> DynElement<'static, SVGBackend<'b>, (i32, i32)> {
    match style {
        Style::Area => Rectangle::new([(x, y - 5), (x + 20, y + 5)], lighten(color).filled()).into_dyn(),
        Style::Line | Style::LineWithPoints => {
            PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)).into_dyn()
        }
        Style::Dashed => PathElement::new(vec![(x, y), (x + 7, y)], color.stroke_width(2)).into_dyn(),
    }
}

/// `color` blended halfway to white, opaque: stacked areas drawn over each other keep their
/// own colour (a translucent fill would mix with the layer under it).
fn lighten(color: RGBColor) -> RGBColor {
    let mix = |c: u8| ((c as u16 + 255) / 2) as u8;
    RGBColor(mix(color.0), mix(color.1), mix(color.2))
}

/// Axis tick labels: no needless decimals.
fn axis_number(y: f64) -> String {
    let a = y.abs();
    if a == 0.0 || a >= 10.0 || (y.fract() == 0.0 && a >= 1.0) {
        format!("{y:.0}")
    } else if a >= 1.0 {
        format!("{y:.1}")
    } else {
        let text = format!("{y:.3}");
        text.trim_end_matches('0').to_string()
    }
}

/// Drops the `xmlns` attribute: inline SVG in HTML does not need it, and the page then holds
/// no `http://` reference at all.
fn inline(svg: String) -> String {
    svg.replacen(r#" xmlns="http://www.w3.org/2000/svg""#, "", 1)
}

/// A chart-sized SVG with the title and a short message, for charts without data.
pub fn placeholder(title: &str, message: &str) -> String {
    let (w, h) = (WIDTH, HEIGHT / 3);
    format!(
        r##"<svg width="{w}" height="{h}" viewBox="0 0 {w} {h}" class="placeholder"><rect x="0" y="0" width="{w}" height="{h}" fill="#fafafa" stroke="#ddd"/><text x="{x}" y="34" text-anchor="middle" font-family="sans-serif" font-size="16" fill="#333">{title}</text><text x="{x}" y="72" text-anchor="middle" font-family="sans-serif" font-size="15" fill="#888">{message}</text></svg>"##,
        x = w / 2,
        title = escape(title),
        message = escape(message),
    )
}

/// Minimal XML escaping for text we place in SVG ourselves.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(points: Vec<(f64, Option<f64>)>) -> Series {
        Series::new("s <1>", Style::Line, palette(0), points)
    }

    #[test]
    fn draws_text_without_a_font_backend() {
        let mut plot = Plot::new("test", "A & B", "things / s");
        plot.series.push(line(vec![(0.0, Some(1.0)), (1.0, None), (2.0, Some(3.0)), (3.0, Some(2.0))]));
        plot.series.push(Series::new("limit", Style::Dashed, palette(1), vec![(0.0, Some(4.0)), (3.0, Some(4.0))]));
        plot.markers.push(Marker { x: 2.0, label: "knee".into() });
        let svg = draw(&plot).unwrap();
        assert!(svg.starts_with("<svg"), "{svg}");
        assert!(svg.contains("<text"), "axis labels are text");
        assert!(svg.contains("A &amp; B"), "title escaped");
        assert!(svg.contains("s &lt;1&gt;"), "legend escaped");
        assert!(!svg.contains("http://"));
    }

    #[test]
    fn log_axis_skips_non_positive_values() {
        let mut plot = Plot::new("test", "log", "ms");
        plot.log_y = true;
        plot.series.push(line(vec![(0.0, Some(0.0)), (1.0, Some(10.0)), (2.0, Some(1000.0))]));
        assert!(draw(&plot).unwrap().contains("<polyline"));
    }

    #[test]
    fn no_data_is_a_placeholder() {
        let mut plot = Plot::new("test", "empty", "x");
        plot.series.push(line(vec![(0.0, None)]));
        let svg = draw(&plot).unwrap();
        assert!(svg.starts_with("<svg") && svg.contains("no data"));
        let mut log = Plot::new("test", "zeros on log", "x");
        log.log_y = true;
        log.series.push(line(vec![(0.0, Some(0.0))]));
        assert!(draw(&log).unwrap().contains("no data"));
    }

    #[test]
    fn one_point_is_drawn() {
        let mut plot = Plot::new("test", "single", "x");
        plot.series.push(line(vec![(5.0, Some(0.0))]));
        assert!(draw(&plot).unwrap().starts_with("<svg"));
    }

    #[test]
    fn axis_numbers_are_short() {
        assert_eq!(axis_number(200.0), "200");
        assert_eq!(axis_number(2.5), "2.5");
        assert_eq!(axis_number(1.0), "1");
        assert_eq!(axis_number(0.25), "0.25");
        assert_eq!(axis_number(0.0), "0");
    }

    #[test]
    fn runs_split_at_gaps() {
        let s = line(vec![(0.0, Some(1.0)), (1.0, None), (2.0, Some(1.0)), (3.0, Some(f64::NAN)), (4.0, Some(2.0))]);
        assert_eq!(s.runs(false).len(), 3);
    }
}
