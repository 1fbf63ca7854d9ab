//! Latency recording: per-operation HdrHistograms (µs, measured from the *intended* send
//! time), per-second interval histograms, schedule lag, errors by kind, and the standard
//! HdrHistogram interval log (one interval per second per tag: `read`, `write`, `error`).
//!
//! Seconds are counted from the start of the measured part (after warm-up) and a sample
//! belongs to the second its response completed in, as HdrHistogram's recorders do.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::keys::Operation;

/// Highest latency the histograms track (larger values are clamped): 10 minutes in µs.
pub const MAX_MICROS: u64 = 600_000_000;

/// The interval-log tags, in the order they are written.
pub const TAGS: [&str; 3] = ["read", "write", "error"];

/// A fresh latency histogram: 1 µs .. 10 min, 3 significant digits.
pub fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_MICROS, 3).expect("static histogram bounds are valid")
}

fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX).clamp(1, MAX_MICROS)
}

/// One tag's latencies: the run total and one histogram per second.
#[derive(Debug)]
pub struct TaggedLatencies {
    pub total: Histogram<u64>,
    pub per_second: Vec<Histogram<u64>>,
}

impl Default for TaggedLatencies {
    fn default() -> Self {
        Self { total: new_histogram(), per_second: Vec::new() }
    }
}

impl TaggedLatencies {
    fn record(&mut self, second: usize, value: u64) {
        self.total.saturating_record(value);
        if self.per_second.len() <= second {
            self.per_second.resize_with(second + 1, new_histogram);
        }
        self.per_second[second].saturating_record(value);
    }
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Ok,
    /// Failed; the kind names why (`http_503`, `timeout`, `connect`, `read_404`, …).
    Failed(String),
}

/// Shared by every Goose user of a run; cheap to record into from many tasks.
#[derive(Debug)]
pub struct Recorder {
    warmup: Duration,
    /// Index 0 = read, 1 = write, 2 = error.
    tags: [Mutex<TaggedLatencies>; 3],
    /// Schedule lag: the run total and one histogram per second of intended time.
    lag: Mutex<TaggedLatencies>,
    errors: Mutex<BTreeMap<String, u64>>,
    errors_by_op: [AtomicU64; 2],
    /// Failed writes per second of completion: a fault's write unavailability.
    failed_writes: Mutex<Vec<u64>>,
    completed: AtomicU64,
    failed: AtomicU64,
    warmup_requests: AtomicU64,
    sent: AtomicU64,
    /// Measured sends that waited for a free in-flight slot (the generator's cap was reached).
    held_at_cap: AtomicU64,
    /// Latest response completion, µs after the schedule's start.
    last_completion_us: AtomicU64,
}

impl Recorder {
    pub fn new(warmup: Duration) -> Self {
        Self {
            warmup,
            tags: Default::default(),
            lag: Mutex::default(),
            errors: Mutex::default(),
            errors_by_op: Default::default(),
            failed_writes: Mutex::default(),
            completed: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            warmup_requests: AtomicU64::new(0),
            sent: AtomicU64::new(0),
            held_at_cap: AtomicU64::new(0),
            last_completion_us: AtomicU64::new(0),
        }
    }

    /// Length of the warm-up that precedes the measured part.
    pub fn warmup(&self) -> Duration {
        self.warmup
    }

    fn is_warmup(&self, intended: Duration) -> bool {
        intended < self.warmup
    }

    /// Records a send leaving `lag` after its intended time, as far as the generator's own
    /// timers and CPU made it late (a wait for an in-flight slot is not counted here).
    pub fn record_send(&self, intended: Duration, lag: Duration) {
        if self.is_warmup(intended) {
            return;
        }
        self.sent.fetch_add(1, Ordering::Relaxed);
        let second = intended.saturating_sub(self.warmup).as_secs() as usize;
        if let Ok(mut h) = self.lag.lock() {
            h.record(second, u64::try_from(lag.as_micros()).unwrap_or(u64::MAX).min(MAX_MICROS));
        }
    }

    /// Counts a measured send that left late because every in-flight slot was taken: the
    /// target was holding that many requests. Its lateness is the target's (latency is still
    /// charged from the intended time), not the generator's, so it stays out of the lag.
    pub fn record_held_at_cap(&self, intended: Duration) {
        if !self.is_warmup(intended) {
            self.held_at_cap.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Records a completed request: `intended` is its offset from the schedule's start,
    /// `latency` runs from the intended time to the end of the response.
    pub fn record(&self, op: Operation, intended: Duration, latency: Duration, outcome: Outcome) {
        if self.is_warmup(intended) {
            self.warmup_requests.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let completion = intended + latency;
        self.last_completion_us.fetch_max(completion.as_micros() as u64, Ordering::Relaxed);
        let second = completion.saturating_sub(self.warmup).as_secs() as usize;
        let op_index = match op {
            Operation::Read => 0,
            Operation::Write => 1,
        };
        let tag = match &outcome {
            Outcome::Ok => op_index,
            Outcome::Failed(kind) => {
                self.failed.fetch_add(1, Ordering::Relaxed);
                self.errors_by_op[op_index].fetch_add(1, Ordering::Relaxed);
                if op_index == 1 {
                    if let Ok(mut per_second) = self.failed_writes.lock() {
                        if per_second.len() <= second {
                            per_second.resize(second + 1, 0);
                        }
                        per_second[second] += 1;
                    }
                }
                if let Ok(mut errors) = self.errors.lock() {
                    *errors.entry(format!("{}_{kind}", op.as_str())).or_default() += 1;
                }
                2
            }
        };
        self.completed.fetch_add(1, Ordering::Relaxed);
        if let Ok(mut t) = self.tags[tag].lock() {
            t.record(second, micros(latency));
        }
    }

    /// Counts an error that has no latency (e.g. a read with no id to ask for).
    pub fn record_error_kind(&self, kind: &str) {
        if let Ok(mut errors) = self.errors.lock() {
            *errors.entry(kind.to_owned()).or_default() += 1;
        }
    }

    /// Requests completed in the measured part so far (successes and failures).
    pub fn completed(&self) -> u64 {
        self.completed.load(Ordering::Relaxed)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Relaxed)
    }

    /// p99 (µs) over read+write of the given second, if anything completed then.
    pub fn p99_of_second(&self, second: usize) -> Option<u64> {
        let mut h = new_histogram();
        for tag in &self.tags[..2] {
            let t = tag.lock().ok()?;
            if let Some(s) = t.per_second.get(second) {
                h.add(s).ok()?;
            }
        }
        (!h.is_empty()).then(|| h.value_at_quantile(0.99))
    }

    /// Everything recorded, for the summary and the interval log.
    pub fn snapshot(&self) -> RecordedRun {
        let take = |i: usize| {
            self.tags[i]
                .lock()
                .map(|t| TaggedLatencies { total: t.total.clone(), per_second: t.per_second.clone() })
                .unwrap_or_default()
        };
        RecordedRun {
            tags: [take(0), take(1), take(2)],
            lag: self
                .lag
                .lock()
                .map(|t| TaggedLatencies { total: t.total.clone(), per_second: t.per_second.clone() })
                .unwrap_or_default(),
            errors: self.errors.lock().map(|e| e.clone()).unwrap_or_default(),
            errors_by_op: [self.errors_by_op[0].load(Ordering::Relaxed), self.errors_by_op[1].load(Ordering::Relaxed)],
            failed_writes: self.failed_writes.lock().map(|f| f.clone()).unwrap_or_default(),
            warmup_requests: self.warmup_requests.load(Ordering::Relaxed),
            sent: self.sent.load(Ordering::Relaxed),
            held_at_cap: self.held_at_cap.load(Ordering::Relaxed),
            measured_until: Duration::from_micros(self.last_completion_us.load(Ordering::Relaxed))
                .saturating_sub(self.warmup),
        }
    }
}

/// A finished run's recordings.
#[derive(Debug)]
pub struct RecordedRun {
    /// read, write, error.
    pub tags: [TaggedLatencies; 3],
    /// Schedule lag, per second of intended send time.
    pub lag: TaggedLatencies,
    pub errors: BTreeMap<String, u64>,
    /// Failed reads, failed writes.
    pub errors_by_op: [u64; 2],
    /// Failed writes per second (of completion, measured part).
    pub failed_writes: Vec<u64>,
    pub warmup_requests: u64,
    pub sent: u64,
    /// Measured sends that waited for a free in-flight slot.
    pub held_at_cap: u64,
    /// When the last measured response completed, from the measured part's start.
    pub measured_until: Duration,
}

impl RecordedRun {
    /// Seconds covered by any tag.
    pub fn seconds(&self) -> usize {
        self.tags.iter().map(|t| t.per_second.len()).max().unwrap_or(0)
    }

    /// All latencies of second `s` (read, write and errors) in one histogram.
    pub fn second_all(&self, s: usize) -> Histogram<u64> {
        let mut h = new_histogram();
        for t in &self.tags {
            if let Some(x) = t.per_second.get(s) {
                let _ = h.add(x);
            }
        }
        h
    }

    /// Writes the standard interval log: a `BaseTime` of `measured_start`, then one
    /// interval per second per non-empty tag.
    pub fn write_interval_log<W: std::io::Write>(
        &self,
        out: &mut W,
        measured_start: SystemTime,
        comment: &str,
    ) -> std::io::Result<()> {
        write_interval_log(
            out,
            measured_start,
            comment,
            |s| {
                TAGS.iter()
                    .enumerate()
                    .filter_map(|(i, tag)| Some((*tag, self.tags[i].per_second.get(s)?.clone())))
                    .collect()
            },
            self.seconds(),
        )
    }
}

/// Writes an interval log of `seconds` one-second intervals; `intervals(s)` gives each
/// second's tagged histograms (empty ones are skipped).
pub fn write_interval_log<W: std::io::Write>(
    out: &mut W,
    base_time: SystemTime,
    comment: &str,
    intervals: impl Fn(usize) -> Vec<(&'static str, Histogram<u64>)>,
    seconds: usize,
) -> std::io::Result<()> {
    let mut serializer = V2DeflateSerializer::new();
    let mut writer = IntervalLogWriterBuilder::new()
        .add_comment(comment)
        .add_comment("Latency in microseconds from the intended send time (coordinated-omission corrected)")
        .with_start_time(base_time)
        .with_base_time(base_time)
        .with_max_value_divisor(1000.0)
        .begin_log_with(out, &mut serializer)?;
    for s in 0..seconds {
        for (tag, h) in intervals(s) {
            if h.is_empty() {
                continue;
            }
            writer
                .write_histogram(&h, Duration::from_secs(s as u64), Duration::from_secs(1), Tag::new(tag))
                .map_err(|e| std::io::Error::other(e.to_string()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warmup_samples_stay_out_of_the_results() {
        let r = Recorder::new(Duration::from_secs(2));
        r.record(Operation::Read, Duration::from_secs(1), Duration::from_millis(5), Outcome::Ok);
        r.record(Operation::Read, Duration::from_secs(3), Duration::from_millis(5), Outcome::Ok);
        r.record(
            Operation::Write,
            Duration::from_millis(3500),
            Duration::from_millis(600),
            Outcome::Failed("http_503".into()),
        );
        let run = r.snapshot();
        assert_eq!(run.warmup_requests, 1);
        assert_eq!(run.tags[0].total.len(), 1);
        assert_eq!(run.tags[0].per_second.len(), 2, "read completed in measured second 1");
        assert_eq!(run.tags[2].per_second.len(), 3, "error completed in measured second 2");
        assert_eq!(run.errors.get("write_http_503"), Some(&1));
        assert_eq!(run.errors_by_op, [0, 1]);
    }
}
