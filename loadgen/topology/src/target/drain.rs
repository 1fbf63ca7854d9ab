//! Waiting for a target's job queue to drain after the corpus preload. Each preload write
//! queues a post-processing job; on a small box the preload's hundreds or thousands of jobs take
//! seconds to minutes, and left in the queue they land on the first measured seconds and fail
//! them at any rate (the single box at 0.125 core spent its whole quota on 441 of them for the
//! first 20 s of a peak-us run, at a third of the rate it later held).

use std::time::{Duration, Instant};

/// Longest wait for the preload's jobs before the measured part starts anyway.
pub const MAX_DRAIN: Duration = Duration::from_secs(240);

/// How a wait for the queue ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct QueueDrain {
    /// Jobs still queued when the wait ended: `Some(0.0)` drained, `None` the target reports no
    /// queue (no `/metrics` page, or no queue gauge on it).
    pub left: Option<f64>,
    pub waited: Duration,
}

impl QueueDrain {
    /// The queue still held jobs when the wait gave up.
    pub fn timed_out(&self) -> bool {
        self.left.is_some_and(|d| d >= 1.0)
    }
}

/// Polls the target's `/metrics` once a second until `scaleloop_queue_depth` is zero, at most
/// `max`.
pub async fn drain_queue(client: &reqwest::Client, base_url: &str, max: Duration) -> QueueDrain {
    let url = format!("{}/metrics", base_url.trim_end_matches('/'));
    let started = Instant::now();
    loop {
        let left = match client.get(&url).send().await {
            Ok(r) => r.text().await.ok().and_then(|text| queue_depth(&text)),
            Err(_) => None,
        };
        if left.is_none_or(|d| d < 1.0) || started.elapsed() >= max {
            return QueueDrain { left, waited: started.elapsed() };
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

/// Waits until the target has done the jobs the preload's writes queued, so that they do not
/// land on the measured part (at most `max`: [`MAX_DRAIN`], or less before a pinned start), and
/// says on stderr how the wait ended; a target without a queue gauge is not waited for.
pub async fn wait_for_preload_jobs(client: &reqwest::Client, base_url: &str, max: Duration) -> QueueDrain {
    let drain = drain_queue(client, base_url, max).await;
    match drain.left {
        Some(d) if drain.timed_out() => eprintln!(
            "preload: {d:.0} of its jobs still queued after {:.0} s; the measured part starts anyway",
            drain.waited.as_secs_f64()
        ),
        Some(_) if drain.waited >= Duration::from_secs(1) => {
            eprintln!("preload: its jobs done {:.1} s after the last write", drain.waited.as_secs_f64())
        }
        _ => {}
    }
    drain
}

/// `scaleloop_queue_depth` from a Prometheus text page.
pub fn queue_depth(text: &str) -> Option<f64> {
    text.lines().find_map(|l| l.strip_prefix("scaleloop_queue_depth ")).and_then(|v| v.trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_depth_is_read_from_the_metrics_page() {
        let page = "# TYPE scaleloop_queue_depth gauge\nscaleloop_queue_depth_x 3\nscaleloop_queue_depth 1607\nscaleloop_jobs_done_total 4\n";
        assert_eq!(queue_depth(page), Some(1607.0));
        assert_eq!(queue_depth("scaleloop_jobs_done_total 4\n"), None);
    }

    #[test]
    fn only_a_queue_left_with_jobs_timed_out() {
        let at = |left| QueueDrain { left, waited: Duration::ZERO };
        assert!(at(Some(3.0)).timed_out());
        assert!(!at(Some(0.0)).timed_out() && !at(None).timed_out());
    }
}
