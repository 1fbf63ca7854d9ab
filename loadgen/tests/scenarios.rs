//! Every shipped scenario parses and validates; bad files give errors that name the
//! file, the field and the reason.

mod common;

use std::path::Path;

use loadgen::scenario::{list_names, Scenario, ScenarioError};

fn scenarios_dir() -> std::path::PathBuf {
    common::repo_root().join("scenarios")
}

#[test]
fn every_shipped_scenario_parses() {
    let names = list_names(&scenarios_dir());
    for wanted in ["peak-us", "steady", "viral-spike", "write-burst", "soak", "smoke"] {
        assert!(names.iter().any(|n| n == wanted), "scenario {wanted} is missing: {names:?}");
    }
    for name in names {
        let s = Scenario::find(&name, &scenarios_dir()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(s.name, name, "file name and `name` agree");
        let curve = s.load.curve(s.duration);
        assert!(curve.total() > 0.0, "{name} sends something");
    }
}

#[test]
fn peak_us_has_the_configured_peak_to_average_ratio() {
    let s = Scenario::find("peak-us", &scenarios_dir()).unwrap();
    let curve = s.load.curve(s.duration);
    let ratio = curve.peak() / curve.mean();
    assert!((ratio - 2.0).abs() < 0.01, "peak/average = {ratio}");
    // Quiet night (3am ET) well below the midday peak (1pm ET).
    let at = |hour: f64| curve.rate_at(hour / 24.0 * s.duration.as_secs_f64());
    assert!(at(3.0) < at(13.0) / 3.0);
    assert!(at(13.0) > at(8.0));
}

/// The main command's scenario is stated in users of the seed's model (10 million users ↔
/// 40,400 req/s on average) and stays a few minutes long.
#[test]
fn peak_us_is_sized_in_users_of_the_seeds_model() {
    let s = Scenario::find("peak-us", &scenarios_dir()).unwrap();
    let users = s.seed_users.expect("peak-us states how many users of the seed's model it replays") as f64;
    let curve = s.load.curve(s.duration);
    let loadgen::shape::LoadShape::PeakUs { peak_to_average, .. } = s.load else {
        panic!("peak-us has a peak-us curve")
    };
    let expected = users * 40_400.0 / 10_000_000.0 * peak_to_average;
    assert!((curve.peak() - expected).abs() < 0.5, "peak {} for {users} users, expected {expected}", curve.peak());
    assert!(s.duration + s.warmup <= std::time::Duration::from_secs(240), "a few minutes at most");
}

#[test]
fn smoke_is_short_enough_for_ci() {
    let s = Scenario::find("smoke", &scenarios_dir()).unwrap();
    assert!(s.duration + s.warmup <= std::time::Duration::from_secs(10));
}

fn parse_error(text: &str) -> String {
    let err = Scenario::parse(text, Path::new("scenarios/broken.toml")).unwrap_err();
    let message = err.to_string();
    assert!(message.contains("scenarios/broken.toml"), "names the file: {message}");
    message
}

const GOOD: &str = r#"
name = "x"
duration = "10s"
[load]
curve = "constant"
rate = 10
"#;

#[test]
fn a_minimal_scenario_takes_the_defaults() {
    let s = Scenario::parse(GOOD, Path::new("x.toml")).unwrap();
    assert_eq!((s.mix.read, s.mix.write), (100, 1));
    assert_eq!(s.payload, loadgen::scenario::PayloadSizes::Fixed { bytes: 1024 });
}

#[test]
fn unknown_keys_are_rejected() {
    let m = parse_error(&GOOD.replace("name = \"x\"", "name = \"x\"\ncolour = \"blue\""));
    assert!(m.contains("colour"), "{m}");
    let m = parse_error(&format!("{GOOD}\n[keys]\nzipf = 1.0\n"));
    assert!(m.contains("zipf") && m.contains("unknown field"), "{m}");
    let m = parse_error(&GOOD.replace("rate = 10", "rate = 10\nburst = 3"));
    assert!(m.contains("burst"), "{m}");
}

#[test]
fn wrong_types_and_missing_fields_are_named() {
    let m = parse_error(&GOOD.replace("duration = \"10s\"", "duration = \"ten seconds\""));
    assert!(m.contains("duration"), "{m}");
    let m = parse_error("name = \"x\"\n[load]\ncurve = \"constant\"\nrate = 1\n");
    assert!(m.contains("duration"), "{m}");
    let m = parse_error(&GOOD.replace("\"constant\"", "\"sawtooth\""));
    assert!(m.contains("sawtooth"), "{m}");
}

#[test]
fn invalid_values_name_field_and_reason() {
    let cases = [
        (GOOD.replace("rate = 10", "rate = -1"), "load.rate"),
        (format!("{GOOD}\n[keys]\nzipf_exponent = -0.5\n"), "keys.zipf_exponent"),
        (format!("{GOOD}\n[mix]\nread = 0\nwrite = 0\n"), "mix"),
        (format!("{GOOD}\n[slo]\nmax_error_rate = 2.0\n"), "slo.max_error_rate"),
        (
            GOOD.replace(
                "curve = \"constant\"\nrate = 10",
                "curve = \"peak-us\"\npeak_rate = 100\npeak_to_average = 9",
            ),
            "load.peak_to_average",
        ),
        (
            GOOD.replace(
                "curve = \"constant\"\nrate = 10",
                "curve = \"step\"\nbase_rate = 1\nat = \"8s\"\nlength = \"5s\"",
            ),
            "load.at",
        ),
        (GOOD.replace("duration = \"10s\"", "duration = \"100ms\""), "duration"),
        (GOOD.replace("rate = 10", "rate = 0"), "load"),
        (GOOD.replace("name = \"x\"", "name = \"x\"\nseed_users = 1000"), "seed_users"),
        (
            GOOD.replace("name = \"x\"", "name = \"x\"\nseed_users = 1000")
                .replace("curve = \"constant\"\nrate = 10", "curve = \"peak-us\"\npeak_rate = 100"),
            "load.peak_rate",
        ),
    ];
    for (text, field) in cases {
        let err = Scenario::parse(&text, Path::new("scenarios/broken.toml")).unwrap_err();
        match &err {
            ScenarioError::Invalid { field: f, reason, .. } => {
                assert_eq!(f, field, "{err}");
                assert!(!reason.is_empty());
            }
            other => panic!("expected an invalid-field error for {field}, got {other}"),
        }
        assert!(err.to_string().contains("scenarios/broken.toml"));
    }
}

#[test]
fn unknown_scenario_names_list_the_known_ones() {
    let err = Scenario::find("no-such-thing", &scenarios_dir()).unwrap_err();
    assert!(err.to_string().contains("peak-us"), "{err}");
}
