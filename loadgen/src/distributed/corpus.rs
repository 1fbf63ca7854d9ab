//! The preloaded corpus of a distributed run, shared as a file (`--corpus FILE`).
//!
//! Reads rank their keys over the corpus ids, and the ids are the target's (it assigns them),
//! so every worker must know the same ids in the same order. Worker 0 preloads once, as a
//! single run does (seeded payloads, ids in rank order), and writes them here; the other
//! workers wait for the file and read it. Worker 0 then waits for the jobs its preload
//! queued, as a single run does, until the pinned start at the latest. The ids come from the
//! preload's own answers, never from what the target already holds, so a target with data
//! from earlier runs is fine. The file names the scenario, seed and corpus size it belongs to;
//! a file of another one is refused rather than used. `loadgen preload` writes the same file
//! as a step of its own.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::DistributedError;
use crate::scenario::Scenario;
use crate::target::drain::{wait_for_preload_jobs, MAX_DRAIN};

/// The file's contents.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct CorpusFile {
    pub scenario: String,
    pub seed: u64,
    pub preload: u32,
    /// The target the ids were written to.
    pub target: String,
    /// Content ids in popularity-rank order (rank 1 first).
    pub ids: Vec<String>,
}

impl CorpusFile {
    pub fn new(scenario: &Scenario, target: &str, ids: Vec<String>) -> Self {
        Self {
            scenario: scenario.name.clone(),
            seed: scenario.seed,
            preload: scenario.keys.preload,
            target: target.to_owned(),
            ids,
        }
    }

    /// Reads `path` and checks it is `scenario`'s corpus.
    pub fn read(path: &Path, scenario: &Scenario) -> Result<Self, DistributedError> {
        let bad = |reason: String| DistributedError::Corpus { path: path.to_owned(), reason };
        let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
        let file: Self = serde_json::from_str(&text).map_err(|e| bad(e.to_string()))?;
        let wanted = (scenario.name.as_str(), scenario.seed, scenario.keys.preload);
        if (file.scenario.as_str(), file.seed, file.preload) != wanted {
            return Err(bad(format!(
                "it is the corpus of scenario {} (seed {}, preload {}), not of {} (seed {}, preload {})",
                file.scenario, file.seed, file.preload, wanted.0, wanted.1, wanted.2
            )));
        }
        if file.ids.is_empty() && file.preload > 0 {
            return Err(bad("it holds no ids".into()));
        }
        Ok(file)
    }

    /// Writes the file whole or not at all (a temporary file renamed into place), so a worker
    /// polling for it never reads half of it.
    pub fn write(&self, path: &Path) -> Result<(), DistributedError> {
        let bad = |e: std::io::Error| DistributedError::Corpus { path: path.to_owned(), reason: e.to_string() };
        let text = serde_json::to_string_pretty(self).map_err(|e| bad(std::io::Error::other(e)))?;
        let partial = partial_path(path);
        std::fs::write(&partial, text).map_err(bad)?;
        std::fs::rename(&partial, path).map_err(bad)
    }
}

fn partial_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(format!(".partial-{}", std::process::id()));
    path.with_file_name(name)
}

/// Waits for worker 0 to write `path`, polling every 200 ms, until `deadline`.
pub async fn wait_for(
    path: &Path,
    scenario: &Scenario,
    deadline: tokio::time::Instant,
) -> Result<CorpusFile, DistributedError> {
    loop {
        if path.exists() {
            return CorpusFile::read(path, scenario);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(DistributedError::Corpus {
                path: path.to_owned(),
                reason: "worker 0 (or `loadgen preload`) did not write it before this worker's start".into(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The corpus of a distributed run: read from `path` when it is there; else preloaded by
/// worker 0 and written there, or awaited by the others until their start.
pub async fn obtain(
    d: &super::Distributed,
    path: &std::path::Path,
    scenario: &Scenario,
    client: &reqwest::Client,
    api: &crate::requests::ApiUrls,
    base_url: &str,
) -> Result<Vec<String>, crate::RunError> {
    let target = crate::redact::secrets(base_url);
    if path.exists() {
        let file = CorpusFile::read(path, scenario)?;
        if file.target != target {
            let reason = format!("its ids were written to {}, not to this run's target {target}", file.target);
            return Err(DistributedError::Corpus { path: path.to_owned(), reason }.into());
        }
        return Ok(file.ids);
    }
    if d.share.index == 0 {
        let ids = crate::target::corpus::preload(client, api, scenario).await?;
        CorpusFile::new(scenario, &target, ids.clone()).write(path)?;
        // The preload's jobs, as a single run waits for them, but never past the pinned start:
        // the other workers begin then whatever worker 0 is doing.
        let until_start = d.start_at.map(|at| (at - chrono::Utc::now()).to_std().unwrap_or_default());
        let max = until_start.map_or(MAX_DRAIN, |left| left.saturating_sub(super::start::LEAD).min(MAX_DRAIN));
        wait_for_preload_jobs(client, base_url, max).await;
        return Ok(ids);
    }
    // Until a minute past the start: a worker still waiting then is late anyway, and says so.
    let until = d.start_at.and_then(|at| (at - chrono::Utc::now()).to_std().ok()).unwrap_or_default();
    let deadline = tokio::time::Instant::now() + until + Duration::from_secs(60);
    Ok(wait_for(path, scenario, deadline).await?.ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scenario(seed: u64) -> Scenario {
        let text = format!("name = \"t\"\nseed = {seed}\nduration = \"1s\"\n[keys]\npreload = 2\n[load]\ncurve = \"constant\"\nrate = 1\n");
        Scenario::parse(&text, Path::new("t.toml")).unwrap()
    }

    #[test]
    fn a_corpus_file_round_trips_and_refuses_another_scenario() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("corpus.json");
        let file = CorpusFile::new(&scenario(1), "http://127.0.0.1:1", vec!["7".into(), "8".into()]);
        file.write(&path).unwrap();
        assert_eq!(CorpusFile::read(&path, &scenario(1)).unwrap(), file);
        let e = CorpusFile::read(&path, &scenario(2)).unwrap_err().to_string();
        assert!(e.contains("corpus.json") && e.contains("seed 1"), "{e}");
        std::fs::write(&path, r#"{"scenario":"t","seed":1,"preload":2,"target":"x","ids":["1"],"extra":1}"#).unwrap();
        let e = CorpusFile::read(&path, &scenario(1)).unwrap_err().to_string();
        assert!(e.contains("unknown field `extra`"), "{e}");
    }
}
