//! scaleloop's report: the one HTML page of a run (verdict, knee, per-tier table, charts, the
//! stage path, faults, workers, CloudWatch), and the terminal's text of the same run.
//!
//! Reads the data model (and the analysis for a few of its figures); writes nothing but the
//! page. Each chart takes a narrow view of the run, one chart per file (`html::charts`).
//!
//! - [`html`]: the page, rebuilt from a run directory's `summary.json` and `timeline.json`.
//! - [`terminal`]: the lines printed after a run.
//! - [`workers`]: a distributed run's workers, for both.

pub mod html;
pub mod terminal;
pub mod workers;
