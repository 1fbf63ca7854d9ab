//! Calibration: from A/A ratios measured on this machine, the threshold that keeps the
//! interleaved gate's false-positive rate at the chosen level; and the file it is kept in.
//!
//! How the threshold is found (pure, seeded): the A/A ratios are what "no change" looks like
//! here. Many gate runs of `pairs` pairs are simulated by drawing that many ratios from them
//! with replacement; each simulated run gets the gate's own bootstrap interval, and the
//! threshold is the `1 − fpr` quantile of those intervals' *upper* bounds. So an A/A gate
//! run is anything but a pass (inconclusive or regression) at most `fpr` of the time, and a
//! regression — the whole interval past the threshold — far more rarely still. The threshold
//! never goes below `1 + min_effect`: differences smaller than that are not worth a red build
//! even on a quiet machine.

use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use super::stats::{self, quantile_sorted, StatsError};

/// Version of the calibration file format.
pub const CALIBRATION_VERSION: u32 = 1;

/// Settings of the threshold search.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ThresholdSettings {
    /// Pairs per gate run the threshold is for.
    pub pairs: usize,
    /// Largest acceptable share of A/A gate runs that do not pass.
    pub fpr: f64,
    /// Confidence of the gate's interval.
    pub confidence: f64,
    /// Smallest effect worth failing for: the threshold is at least `1 + min_effect`.
    pub min_effect: f64,
    /// Simulated gate runs.
    pub simulations: usize,
    /// Bootstrap resamples per simulated run.
    pub resamples: usize,
    pub seed: u64,
}

impl Default for ThresholdSettings {
    fn default() -> Self {
        Self {
            pairs: 6,
            fpr: 0.05,
            confidence: 0.95,
            min_effect: 0.05,
            simulations: 400,
            resamples: 1000,
            seed: 0x9a7e,
        }
    }
}

/// The threshold (a `candidate / baseline` ratio) for A/A `ratios` under `settings`.
pub fn threshold(ratios: &[f64], settings: &ThresholdSettings) -> Result<f64, StatsError> {
    stats::median_ratio(ratios)?; // validates the ratios
    if !(settings.fpr > 0.0 && settings.fpr < 1.0) {
        return Err(StatsError::BadConfidence(settings.fpr));
    }
    let mut rng = StdRng::seed_from_u64(settings.seed);
    let pairs = settings.pairs.max(1);
    let mut highs: Vec<f64> = (0..settings.simulations.max(1))
        .map(|i| {
            let run: Vec<f64> = (0..pairs).map(|_| ratios[rng.random_range(0..ratios.len())]).collect();
            let seed = settings.seed.wrapping_add(i as u64 + 1);
            stats::bootstrap_median(&run, settings.resamples, settings.confidence, seed).map(|ci| ci.high)
        })
        .collect::<Result<_, _>>()?;
    highs.sort_by(f64::total_cmp);
    Ok(quantile_sorted(&highs, 1.0 - settings.fpr).max(1.0 + settings.min_effect))
}

/// What `loadgen gate calibrate` writes and `loadgen gate --calibration` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Calibration {
    pub version: u32,
    /// RFC 3339 UTC time of the calibration.
    pub created_at: String,
    /// Host name and CPU count: a threshold holds for the machine it was measured on.
    pub machine: String,
    /// The wall-clock figure the ratios are of (`cpu-per-request` or `p99`).
    pub metric: String,
    /// How each run was made (scenario, rate, duration), for the record.
    pub runs: String,
    /// The measured A/A ratios, so a gate with another pair count can recompute.
    pub ratios: Vec<f64>,
    pub settings: ThresholdSettings,
    /// The resulting threshold for `settings.pairs` pairs.
    pub threshold: f64,
}

/// Why a calibration file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CalibrationError {
    #[error("calibration {path}: cannot read: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("calibration {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("calibration {path}: cannot write: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

impl Calibration {
    /// Reads a calibration file; unknown fields are errors naming the field.
    pub fn load(path: &Path) -> Result<Self, CalibrationError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| CalibrationError::Read { path: path.to_owned(), source })?;
        let parsed: Self = serde_json::from_str(&text)
            .map_err(|e| CalibrationError::Parse { path: path.to_owned(), message: e.to_string() })?;
        if parsed.version != CALIBRATION_VERSION {
            return Err(CalibrationError::Parse {
                path: path.to_owned(),
                message: format!("field `version`: {} is not the supported {CALIBRATION_VERSION}", parsed.version),
            });
        }
        if let Err(e) = stats::median_ratio(&parsed.ratios) {
            return Err(CalibrationError::Parse { path: path.to_owned(), message: format!("field `ratios`: {e}") });
        }
        Ok(parsed)
    }

    pub fn save(&self, path: &Path) -> Result<(), CalibrationError> {
        let mut text = serde_json::to_string_pretty(self).expect("a calibration serializes");
        text.push('\n');
        std::fs::write(path, text).map_err(|source| CalibrationError::Write { path: path.to_owned(), source })
    }

    /// The threshold for a gate of `pairs` pairs at `fpr`: the stored one when they match
    /// the calibration's settings, else recomputed from the stored ratios.
    pub fn threshold_for(&self, pairs: usize, fpr: f64) -> Result<f64, StatsError> {
        if pairs == self.settings.pairs && fpr == self.settings.fpr {
            return Ok(self.threshold);
        }
        threshold(&self.ratios, &ThresholdSettings { pairs, fpr, ..self.settings })
    }
}

/// `host (N cpus)` for the record.
pub fn machine_description() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown".into());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    format!("{host} ({cpus} cpus)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn quick() -> ThresholdSettings {
        ThresholdSettings { simulations: 200, resamples: 300, ..ThresholdSettings::default() }
    }

    #[test]
    fn quiet_machines_get_the_floor_and_noisy_ones_more() {
        let quiet = [1.0, 1.001, 0.999, 1.002, 0.998, 1.0];
        assert_eq!(threshold(&quiet, &quick()).unwrap(), 1.05);
        let noisy = [0.84, 0.9, 0.95, 1.0, 1.02, 1.06, 1.1, 1.15, 0.97, 1.03];
        let t = threshold(&noisy, &quick()).unwrap();
        assert!(t > 1.06 && t <= 1.15, "{t}");
        // More pairs per gate run: a narrower interval, a lower threshold.
        let more = threshold(&noisy, &ThresholdSettings { pairs: 20, ..quick() }).unwrap();
        assert!(more < t, "{more} vs {t}");
    }

    #[test]
    fn the_file_round_trips_and_rejects_unknown_fields() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cal.json");
        let settings = quick();
        let ratios = vec![0.95, 1.0, 1.05, 1.02];
        let cal = Calibration {
            version: CALIBRATION_VERSION,
            created_at: "2026-11-23T00:00:00Z".into(),
            machine: machine_description(),
            metric: "cpu-per-request".into(),
            runs: "smoke".into(),
            threshold: threshold(&ratios, &settings).unwrap(),
            ratios,
            settings,
        };
        cal.save(&path).unwrap();
        let back = Calibration::load(&path).unwrap();
        assert_eq!(back, cal);
        assert_eq!(back.threshold_for(settings.pairs, settings.fpr).unwrap(), cal.threshold);
        assert!(back.threshold_for(30, settings.fpr).unwrap() <= cal.threshold);

        let text = std::fs::read_to_string(&path).unwrap().replacen("\"metric\"", "\"metrik\"", 1);
        std::fs::write(&path, text).unwrap();
        let e = Calibration::load(&path).unwrap_err().to_string();
        assert!(e.contains("metrik"), "{e}");
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(24))]

        /// Noisier A/A ratios never give a lower threshold, and it is never below the floor.
        #[test]
        fn more_noise_never_lowers_the_threshold(
            logs in prop::collection::vec(-0.2f64..0.2, 4..20), widen in 1.0f64..3.0, seed in any::<u64>(),
        ) {
            let settings = ThresholdSettings { seed, simulations: 100, resamples: 200, ..ThresholdSettings::default() };
            let base: Vec<f64> = logs.iter().map(|l| l.exp()).collect();
            let noisier: Vec<f64> = logs.iter().map(|l| (l * widen).exp()).collect();
            let a = threshold(&base, &settings).unwrap();
            let b = threshold(&noisier, &settings).unwrap();
            prop_assert!(a >= 1.0 + settings.min_effect);
            prop_assert!(b >= a * (1.0 - 1e-12), "{} < {}", b, a);
        }
    }
}
