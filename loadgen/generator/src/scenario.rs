//! Traffic scenarios: the typed form of `scenarios/<name>.toml`, with validation.
//!
//! Unknown keys are rejected; every error names the file, the field and the reason.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::shape::LoadShape;

/// Why a scenario file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("scenario {path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("scenario {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("scenario {path}: field `{field}`: {reason}")]
    Invalid { path: PathBuf, field: String, reason: String },
    #[error("no scenario named `{name}` in {dir} (known: {known})")]
    NotFound { name: String, dir: PathBuf, known: String },
}

/// A whole traffic scenario.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Short name, e.g. `peak-us`.
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// Seed of every random choice (operation mix, keys, payloads, users).
    #[serde(default = "default_seed")]
    pub seed: u64,
    /// Wall-clock length of the measured part of the run.
    #[serde(with = "humantime_serde")]
    pub duration: Duration,
    /// Traffic sent before the measured part, at the rate the shape starts with; not in the
    /// results.
    #[serde(with = "humantime_serde", default)]
    pub warmup: Duration,
    #[serde(default)]
    pub mix: Mix,
    #[serde(default)]
    pub keys: Keys,
    #[serde(default)]
    pub payload: PayloadSizes,
    /// Arrival rate over the measured part.
    pub load: LoadShape,
    #[serde(default)]
    pub slo: Slo,
    #[serde(default)]
    pub verify: Verify,
    #[serde(default)]
    pub generator: GeneratorLimits,
    /// Users of the seed's model the scenario replays (10 million users ↔ 40,400 req/s on
    /// average, 1 KB writes, 100:1): with a `peak-us` curve it sets `load.peak_rate` to their
    /// average rate × `load.peak_to_average`, so the run's size is stated in users.
    #[serde(default)]
    pub seed_users: Option<u64>,
    /// Faults done to a launched stage while the load runs (chaos under load, see
    /// [`crate::faults`]).
    #[serde(default)]
    pub faults: Vec<crate::fault_spec::FaultSpec>,
    /// The TOML the scenario was parsed from (saved with each run's report).
    #[serde(skip)]
    pub source_text: String,
}

fn default_seed() -> u64 {
    0x5ca1_e100
}

/// Read:write ratio, as relative weights.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Mix {
    pub read: u32,
    pub write: u32,
}

impl Default for Mix {
    fn default() -> Self {
        Self { read: 100, write: 1 }
    }
}

/// Key popularity and the preloaded corpus.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Keys {
    /// Zipf exponent over popularity ranks; 0 is uniform.
    #[serde(default = "default_zipf")]
    pub zipf_exponent: f64,
    /// Items written before the run starts (the initial read corpus).
    #[serde(default = "default_preload")]
    pub preload: u32,
    /// Distinct user ids that writes are spread over.
    #[serde(default = "default_users")]
    pub users: u64,
}

fn default_zipf() -> f64 {
    1.0
}
fn default_preload() -> u32 {
    1000
}
fn default_users() -> u64 {
    1_000_000
}

impl Default for Keys {
    fn default() -> Self {
        Self { zipf_exponent: default_zipf(), preload: default_preload(), users: default_users() }
    }
}

/// Payload size distribution in bytes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, tag = "distribution", rename_all = "kebab-case")]
pub enum PayloadSizes {
    /// Every payload has `bytes` bytes.
    Fixed { bytes: u32 },
    /// Uniform in `[min, max]` bytes.
    Uniform { min: u32, max: u32 },
}

impl Default for PayloadSizes {
    fn default() -> Self {
        Self::Fixed { bytes: 1024 }
    }
}

/// Service-level objectives checked at the end of the run.
#[derive(Debug, Clone, Deserialize, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct Slo {
    #[serde(with = "humantime_serde", default)]
    pub p50: Option<Duration>,
    #[serde(with = "humantime_serde", default)]
    pub p99: Option<Duration>,
    #[serde(with = "humantime_serde", default)]
    pub p999: Option<Duration>,
    /// Largest acceptable share of failed requests, 0..=1.
    #[serde(default)]
    pub max_error_rate: Option<f64>,
}

/// Read-back of acknowledged writes.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Verify {
    /// One in this many acknowledged writes is read back (0 = none).
    #[serde(default = "default_verify_every")]
    pub every: u32,
    /// How long after its acknowledgement a write is read back.
    #[serde(with = "humantime_serde", default = "default_verify_delay")]
    pub delay: Duration,
    /// Upper bound on read-backs per run.
    #[serde(default = "default_verify_max")]
    pub max: u32,
}

fn default_verify_every() -> u32 {
    10
}
fn default_verify_delay() -> Duration {
    Duration::from_secs(1)
}
fn default_verify_max() -> u32 {
    500
}

impl Default for Verify {
    fn default() -> Self {
        Self { every: default_verify_every(), delay: default_verify_delay(), max: default_verify_max() }
    }
}

/// Sizing of the generator and the limits of its self-check.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GeneratorLimits {
    /// Accepted for older scenario files and ignored: users no longer wait on the target, so
    /// the latency expected of it sizes nothing (requests in flight grow on demand up to
    /// `max_in_flight`). A run that reads one says so on stderr.
    #[serde(with = "humantime_serde", default)]
    pub expected_latency: Option<Duration>,
    /// Most Goose users to start. Users only dispatch sends (each waits for one ticket's time
    /// at once), so a few carry any rate: one per 2,000 req/s of the peak, at least two.
    #[serde(default = "default_max_users")]
    pub max_users: usize,
    /// Most requests in flight at once (k6's `maxVUs`, counted in requests). A target that
    /// holds this many makes later sends wait for a slot: they are counted apart
    /// (`held_at_cap`), charged from their intended time, and the run is still judged.
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Test knob: CPU burnt on the sending thread before each send, to make the generator
    /// itself the limit on purpose. Off by default.
    #[serde(with = "humantime_serde", default)]
    pub extra_cpu_per_send: Option<Duration>,
    /// Largest acceptable p99 of schedule lag (send time − intended time).
    #[serde(with = "humantime_serde", default = "default_max_lag")]
    pub max_lag_p99: Duration,
    /// Largest acceptable generator CPU use, as a share of its sending threads.
    #[serde(default = "default_max_cpu")]
    pub max_cpu_share: f64,
    /// Threads that send requests. One (the default) runs every user on one single-threaded
    /// runtime: no wake-ups cross threads, which is what keeps a request cheap; more spread
    /// the users over that many threads, for a rate one core cannot send.
    #[serde(default = "default_send_threads")]
    pub send_threads: usize,
    /// Largest response body read; a larger answer fails as `body_too_large` (its rest is
    /// never read, so memory stays bounded whatever the target sends).
    #[serde(default = "default_max_response_bytes")]
    pub max_response_bytes: usize,
}

fn default_max_users() -> usize {
    1024
}
fn default_max_in_flight() -> usize {
    10_000
}
fn default_max_lag() -> Duration {
    Duration::from_millis(20)
}
fn default_max_cpu() -> f64 {
    0.9
}
fn default_send_threads() -> usize {
    1
}
/// Largest response body the generator reads by default (`generator.max_response_bytes`):
/// an answer is read whole into memory, so without a cap a misbehaving target could make
/// memory grow with users × body size. Past it the request fails as `body_too_large`.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 16 * 1024 * 1024;
fn default_max_response_bytes() -> usize {
    DEFAULT_MAX_RESPONSE_BYTES
}

impl Default for GeneratorLimits {
    fn default() -> Self {
        Self {
            expected_latency: None,
            max_users: default_max_users(),
            max_in_flight: default_max_in_flight(),
            extra_cpu_per_send: None,
            max_lag_p99: default_max_lag(),
            max_cpu_share: default_max_cpu(),
            send_threads: default_send_threads(),
            max_response_bytes: default_max_response_bytes(),
        }
    }
}

impl Scenario {
    /// Reads and validates a scenario file.
    pub fn load(path: &Path) -> Result<Self, ScenarioError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ScenarioError::Read { path: path.to_owned(), source })?;
        Self::parse(&text, path)
    }

    /// Parses scenario text; `path` is only used in messages.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ScenarioError> {
        let parse_error = |e: toml::de::Error| ScenarioError::Parse {
            path: path.to_owned(),
            message: e.to_string().trim().replace('\n', " "),
        };
        let mut table: toml::Table = toml::from_str(text).map_err(parse_error)?;
        size_from_seed_users(&mut table).map_err(|(field, reason)| ScenarioError::Invalid {
            path: path.to_owned(),
            field: field.into(),
            reason,
        })?;
        let mut scenario: Scenario = table.try_into().map_err(parse_error)?;
        scenario.source_text = text.to_owned();
        scenario.validate().map_err(|(field, reason)| ScenarioError::Invalid {
            path: path.to_owned(),
            field: field.to_owned(),
            reason,
        })?;
        crate::fault_spec::validate(&scenario.faults, scenario.duration)
            .map_err(|(field, reason)| ScenarioError::Invalid { path: path.to_owned(), field, reason })?;
        Ok(scenario)
    }

    /// Finds `name` (a file path, or a name in `dir`) and loads it.
    pub fn find(name: &str, dir: &Path) -> Result<Self, ScenarioError> {
        let as_path = Path::new(name);
        if as_path.extension().is_some_and(|e| e == "toml") || as_path.components().count() > 1 {
            return Self::load(as_path);
        }
        let path = dir.join(format!("{name}.toml"));
        if path.is_file() {
            return Self::load(&path);
        }
        Err(ScenarioError::NotFound { name: name.to_owned(), dir: dir.to_owned(), known: list_names(dir).join(", ") })
    }

    /// Checks what serde cannot; returns the offending field and the reason.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if self.name.trim().is_empty() {
            return Err(("name", "must not be empty".into()));
        }
        if self.duration < Duration::from_secs(1) {
            return Err(("duration", format!("must be at least 1s, got {:?}", self.duration)));
        }
        if self.mix.read == 0 && self.mix.write == 0 {
            return Err(("mix", "read and write cannot both be 0".into()));
        }
        if !(self.keys.zipf_exponent >= 0.0 && self.keys.zipf_exponent.is_finite()) {
            return Err(("keys.zipf_exponent", "must be a finite number >= 0 (0 = uniform)".into()));
        }
        if self.mix.read > 0 && self.keys.preload == 0 {
            return Err(("keys.preload", "reads need a preloaded corpus of at least 1 item".into()));
        }
        if self.keys.users == 0 {
            return Err(("keys.users", "must be at least 1".into()));
        }
        match self.payload {
            PayloadSizes::Fixed { bytes: 0 } => return Err(("payload.bytes", "must be at least 1".into())),
            PayloadSizes::Uniform { min, max } if min == 0 || min > max => {
                return Err(("payload", format!("need 1 <= min <= max, got min={min} max={max}")))
            }
            _ => {}
        }
        if let Some(rate) = self.slo.max_error_rate {
            if !(0.0..=1.0).contains(&rate) {
                return Err(("slo.max_error_rate", format!("must be within 0..=1, got {rate}")));
            }
        }
        if !(1..=1_000_000).contains(&self.generator.max_in_flight) {
            return Err(("generator.max_in_flight", "must be within 1..=1000000".into()));
        }
        if self.generator.max_users == 0 {
            return Err(("generator.max_users", "must be at least 1".into()));
        }
        if !(self.generator.max_cpu_share > 0.0 && self.generator.max_cpu_share <= 1.0) {
            return Err(("generator.max_cpu_share", "must be within (0, 1]".into()));
        }
        if !(1..=256).contains(&self.generator.send_threads) {
            return Err(("generator.send_threads", "must be within 1..=256".into()));
        }
        if self.generator.max_response_bytes < 1024 {
            return Err(("generator.max_response_bytes", "must be at least 1024".into()));
        }
        self.load.validate(self.duration)?;
        let sends = self.load.curve(self.duration).total();
        if sends < 1.0 {
            return Err(("load", format!("the curve sends nothing over {:?} ({sends:.2} requests)", self.duration)));
        }
        Ok(())
    }

    /// Applies command-line overrides: a constant `rate` and/or a `duration`.
    pub fn with_overrides(mut self, rate: Option<f64>, duration: Option<Duration>, seed: Option<u64>) -> Self {
        if let Some(rate) = rate {
            self.load = LoadShape::Constant { rate };
        }
        if let Some(duration) = duration {
            self.duration = duration;
        }
        if let Some(seed) = seed {
            self.seed = seed;
        }
        self
    }
}

/// With `seed_users`, fills in a `peak-us` curve's `peak_rate` from the seed's model (see
/// [`Scenario::seed_users`]); a scenario that also gives `peak_rate`, or another curve, is an
/// error naming the field.
fn size_from_seed_users(table: &mut toml::Table) -> Result<(), (&'static str, String)> {
    let Some(users) = table.get("seed_users") else { return Ok(()) };
    let users = users
        .as_integer()
        .filter(|u| *u >= 1)
        .ok_or(("seed_users", "must be a whole number of users >= 1".to_owned()))?;
    let load = table
        .get_mut("load")
        .and_then(toml::Value::as_table_mut)
        .ok_or(("seed_users", "needs a [load] section with curve = \"peak-us\"".to_owned()))?;
    if load.get("curve").and_then(toml::Value::as_str) != Some("peak-us") {
        return Err((
            "seed_users",
            "sizes a curve = \"peak-us\" load only; give the other curves' rates directly".into(),
        ));
    }
    if load.contains_key("peak_rate") {
        return Err(("load.peak_rate", "give either seed_users or load.peak_rate, not both".into()));
    }
    let ratio = match load.get("peak_to_average") {
        Some(v) => v
            .as_float()
            .or_else(|| v.as_integer().map(|i| i as f64))
            .ok_or(("load.peak_to_average", "must be a number".to_owned()))?,
        None => crate::shape::LoadShape::default_peak_to_average(),
    };
    let peak = loadgen_model::capacity::peak_rate_of(users as f64, ratio);
    load.insert("peak_rate".into(), toml::Value::Float(peak));
    Ok(())
}

/// Names of the scenarios in `dir` (file stems of `*.toml`), sorted.
pub fn list_names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let p = e.path();
            (p.extension()? == "toml").then(|| p.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    names.sort();
    names
}
