//! The run directory, `reports/<run-id>/`: the product's interface to every later reader (the
//! report page, `merge`, `gate`, `evolve`, a CloudWatch refresh, the user's own scripts). This
//! module owns every file name in it and the reading and writing of its two JSON files.

use std::path::{Path, PathBuf};

use crate::summary::Summary;
use crate::timeline::Timeline;

/// The run's result ([`Summary`]).
pub const SUMMARY_FILE: &str = "summary.json";
/// The profiler's 1-second series, boxes and faults ([`Timeline`]).
pub const TIMELINE_FILE: &str = "timeline.json";
/// The HTML report.
pub const INDEX_FILE: &str = "index.html";
/// The scenario as run, and the stage's profile (launched stages), copied for the record.
pub const SCENARIO_FILE: &str = "scenario.toml";
pub const PROFILE_FILE: &str = "profile.toml";
/// HdrHistogram interval log of every request (tags `read`, `write`, `error`; µs).
pub const INTERVAL_LOG_FILE: &str = "latency.hlog";
/// Goose's own report, when asked for.
pub const GOOSE_REPORT_FILE: &str = "goose-report.html";
/// Every CloudWatch answer of a pull.
pub const CLOUDWATCH_FILE: &str = "cloudwatch.json";
/// The autoscaler's decisions and instance counts.
pub const FLEET_FILE: &str = "fleet.json";
/// The scaling loop's record (an `evolve` run directory).
pub const EVOLVE_FILE: &str = "evolve.json";
/// The gate's outputs (a `gate --out` directory).
pub const GATE_MARKDOWN_FILE: &str = "gate-summary.md";
pub const GATE_JUNIT_FILE: &str = "gate-junit.xml";
pub const GATE_JSON_FILE: &str = "gate-result.json";

/// A run directory's files that could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RunDirError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a valid {what}: {reason}")]
    Parse { path: PathBuf, what: &'static str, reason: String },
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// One run directory.
#[derive(Debug, Clone)]
pub struct RunDir {
    path: PathBuf,
}

impl RunDir {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into() }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The path of one of the directory's files (a `*_FILE` name of this module).
    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }

    pub fn read_summary(&self) -> Result<Summary, RunDirError> {
        self.read_json(SUMMARY_FILE, "summary")
    }

    /// Writes `summary.json` through a partial file and a rename, so a reader never sees half.
    pub fn write_summary(&self, summary: &Summary) -> Result<(), RunDirError> {
        let text = serde_json::to_string_pretty(summary).expect("a summary serializes");
        self.write_whole(SUMMARY_FILE, text + "\n")
    }

    /// The timeline; `None` when the run has none (profiling was off).
    pub fn read_timeline(&self) -> Result<Option<Timeline>, RunDirError> {
        if !self.file(TIMELINE_FILE).is_file() {
            return Ok(None);
        }
        self.read_json(TIMELINE_FILE, "timeline").map(Some)
    }

    pub fn write_timeline(&self, timeline: &Timeline) -> Result<(), RunDirError> {
        let text = serde_json::to_string(timeline).expect("a timeline serializes");
        self.write_whole(TIMELINE_FILE, text)
    }

    /// One file's text; `None` when the run has no such file (a scenario or profile copy, say).
    pub fn read_text(&self, name: &str) -> Result<Option<String>, RunDirError> {
        let path = self.file(name);
        match std::fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(RunDirError::Read { path, source }),
        }
    }

    fn read_json<T: serde::de::DeserializeOwned>(&self, name: &str, what: &'static str) -> Result<T, RunDirError> {
        let path = self.file(name);
        let text = std::fs::read_to_string(&path).map_err(|source| RunDirError::Read { path: path.clone(), source })?;
        serde_json::from_str(&text).map_err(|e| RunDirError::Parse { path, what, reason: e.to_string() })
    }

    fn write_whole(&self, name: &str, text: String) -> Result<(), RunDirError> {
        let path = self.file(name);
        let partial = self.path.join(format!(".{name}.partial"));
        std::fs::write(&partial, text)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|source| RunDirError::Write { path, source })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeline_round_trips_and_a_missing_one_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let run = RunDir::new(dir.path());
        assert!(run.read_timeline().unwrap().is_none());
        let mut timeline = Timeline { t: vec![0, 1], ..Timeline::default() };
        timeline.series.insert("host.cpu_cores.app".into(), vec![Some(0.5), None]);
        run.write_timeline(&timeline).unwrap();
        assert_eq!(run.read_timeline().unwrap(), Some(timeline));
        assert!(!dir.path().join(".timeline.json.partial").exists());
    }

    #[test]
    fn a_broken_summary_names_its_file() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SUMMARY_FILE), "{").unwrap();
        let err = RunDir::new(dir.path()).read_summary().unwrap_err().to_string();
        assert!(err.contains("summary.json") && err.contains("not a valid summary"), "{err}");
    }
}
