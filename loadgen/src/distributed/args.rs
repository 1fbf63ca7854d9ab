//! The run's distributed flags (flattened into the default command's arguments) and how they
//! resolve: `--worker I/N`, or Kubernetes' `JOB_COMPLETION_INDEX` with `--workers N` /
//! `LOADGEN_WORKERS`; `--start-at` / `--start-in`; `--corpus`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::{Distributed, DistributedError};
use crate::args::parse_duration;
use crate::schedule::Share;

#[derive(Debug, Clone, Args, Default)]
pub struct DistributedArgs {
    /// Send only worker I's share of the schedule split over N processes (0-based): arrival k
    /// is worker k mod N's, and does what the single run would have done with it. `loadgen
    /// merge` joins the N run directories into one run.
    #[arg(long, value_name = "I/N", help_heading = "Distributed")]
    pub worker: Option<String>,
    /// Number of workers N, with the index from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job
    /// sets it) when --worker is not given.
    #[arg(long, value_name = "N", env = "LOADGEN_WORKERS", help_heading = "Distributed")]
    pub workers: Option<u64>,
    /// The worker index a Kubernetes Indexed Job gives each pod.
    #[arg(long, env = "JOB_COMPLETION_INDEX", hide = true)]
    pub job_completion_index: Option<u64>,
    /// Start the schedule at this wall-clock instant (RFC 3339, e.g. 2026-12-02T06:30:00Z),
    /// the same for every worker; a worker that gets there late starts at once and its run
    /// (and the merged one) is marked not trustworthy. At most a day away.
    #[arg(long, value_name = "TIME", conflicts_with = "start_in", help_heading = "Distributed")]
    pub start_at: Option<String>,
    /// Start the schedule this long from now, e.g. 30s (for one machine; to start several
    /// together, resolve it once into --start-at, as `loadgen k8s-job` does).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration, help_heading = "Distributed")]
    pub start_in: Option<Duration>,
    /// Shared corpus file: read when it exists; else worker 0 preloads and writes it, and the
    /// other workers wait for it (e.g. on a shared volume, or written by `loadgen preload`).
    /// Needed with N > 1 when the scenario preloads.
    #[arg(long, value_name = "FILE", help_heading = "Distributed")]
    pub corpus: Option<PathBuf>,
}

fn bad(flag: &'static str, reason: String) -> DistributedError {
    DistributedError::BadFlag { flag, reason }
}

impl DistributedArgs {
    /// The worker's share, if the run is one.
    pub fn share(&self) -> Result<Option<Share>, DistributedError> {
        let share = match (&self.worker, self.job_completion_index, self.workers) {
            (Some(text), _, n) => {
                let share = Share::parse(text).map_err(|e| bad("--worker", e.to_string()))?;
                if n.is_some_and(|n| n != share.count) {
                    return Err(bad("--workers", format!("N = {} contradicts --worker {text}", n.unwrap_or_default())));
                }
                share
            }
            (None, Some(index), Some(count)) => Share::new(index, count)
                .map_err(|e| bad("JOB_COMPLETION_INDEX / --workers (LOADGEN_WORKERS)", e.to_string()))?,
            (None, Some(_), None) => {
                return Err(bad(
                    "--workers",
                    "JOB_COMPLETION_INDEX is set: give the number of workers N with --workers or LOADGEN_WORKERS"
                        .into(),
                ))
            }
            (None, None, Some(n)) => {
                return Err(bad(
                    "--workers",
                    format!("N = {n} needs this worker's index: --worker I/{n} or JOB_COMPLETION_INDEX"),
                ))
            }
            (None, None, None) => return Ok(None),
        };
        Ok(Some(share))
    }

    /// The distributed part of the run: `None` for an ordinary single-process run.
    pub fn resolve(&self, preload: u32) -> Result<Option<Distributed>, DistributedError> {
        let start_at = super::start::resolve(self.start_at.as_deref(), self.start_in, chrono::Utc::now())?;
        let share = match self.share()? {
            Some(share) => share,
            None if start_at.is_some() || self.corpus.is_some() => Share::WHOLE,
            None => return Ok(None),
        };
        if share.count > 1 && preload > 0 && self.corpus.is_none() {
            return Err(bad(
                "--corpus",
                format!("worker {share} needs --corpus FILE: every worker must read over the same preloaded ids (worker 0 writes them, or `loadgen preload`)"),
            ));
        }
        Ok(Some(Distributed { share, start_at, corpus: self.corpus.clone() }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(worker: Option<&str>, index: Option<u64>, workers: Option<u64>) -> DistributedArgs {
        DistributedArgs {
            worker: worker.map(str::to_owned),
            job_completion_index: index,
            workers,
            ..Default::default()
        }
    }

    #[test]
    fn the_share_comes_from_the_flag_or_the_job_index() {
        assert_eq!(args(Some("1/3"), None, None).share().unwrap(), Some(Share { index: 1, count: 3 }));
        assert_eq!(args(None, Some(2), Some(3)).share().unwrap(), Some(Share { index: 2, count: 3 }));
        assert_eq!(args(None, None, None).share().unwrap(), None);
    }

    #[test]
    fn bad_shares_name_their_flag() {
        let e = |a: DistributedArgs| a.share().unwrap_err().to_string();
        assert!(e(args(Some("0/0"), None, None)).starts_with("--worker: the number of workers N must be at least 1"));
        assert!(e(args(Some("3/3"), None, None)).starts_with("--worker: worker index 3 is not below N = 3"));
        assert!(e(args(None, Some(3), Some(3))).starts_with("JOB_COMPLETION_INDEX"));
        assert!(e(args(None, Some(0), None)).starts_with("--workers"));
        assert!(e(args(None, None, Some(3))).starts_with("--workers"));
        assert!(e(args(Some("1/3"), None, Some(4))).starts_with("--workers"));
        let no_corpus = args(Some("1/3"), None, None).resolve(10).unwrap_err().to_string();
        assert!(no_corpus.starts_with("--corpus"), "{no_corpus}");
        assert!(args(Some("1/3"), None, None).resolve(0).unwrap().is_some());
    }
}
