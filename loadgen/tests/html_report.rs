//! The HTML report: rendered from a real `smoke` summary (fixture) stretched into a one-minute
//! ramp with a knee, a synthetic profiler timeline and a verdict; checked for its content, its
//! escaping, that it is self-contained, that `loadgen report <dir>` rebuilds it, and that a
//! headless Chromium renders it (skipped without Chromium, except under `CI=true`).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use loadgen::html::{self, render_report, write_report};
use loadgen::profiler::{BoxInfo, Evidence, Knee, Recommendation, TierFigures, Timeline, Verdict};
use loadgen::summary::{Percentiles, SecondSample, Summary};

const FIXTURE: &str = include_str!("fixtures/summary-smoke.json");
const SENTENCE: &str = "The database primary saturated first: its connection pool was full with 12 waiters from 40 s on, while achieved throughput flattened at 150 req/s.";
const CHARTS: usize = 7;
const SCENARIO_TOML: &str = "name = \"ramp\"\nduration = \"60s\"\n[shape]\nkind = \"ramp\"\nfrom = 20\nto = 200\n";
const PROFILE_TOML: &str = "name = \"single-box\"\nstage = \"start\"\n";

/// The smoke summary, its series replaced by a 60 s ramp that stops following the offered
/// rate at 40 s and errors from 45 s.
fn summary() -> Summary {
    let mut s: Summary = serde_json::from_str(FIXTURE).expect("fixture parses");
    s.series = (0..60u64)
        .map(|t| {
            let intended = 20.0 + 3.0 * t as f64;
            let completed = intended.min(150.0) as u64;
            let errors = if t >= 45 { (t - 44) * 2 } else { 0 };
            let base = if t < 40 { 2_000 } else { 2_000 + (t - 39) * 8_000 };
            SecondSample {
                t,
                intended,
                sent: intended as u64,
                lag_p99_us: 500,
                completed,
                errors,
                latency_us: Percentiles {
                    count: completed,
                    mean: base as f64,
                    p50: base,
                    p90: base * 2,
                    p99: base * 4,
                    p999: base * 6,
                    max: base * 7,
                },
            }
        })
        .collect();
    s
}

fn timeline() -> Timeline {
    let mut tl = Timeline::default();
    for t in 0..60u64 {
        let load = (20.0 + 3.0 * t as f64).min(150.0) / 150.0;
        let mut v = BTreeMap::new();
        v.insert("host.cpu_cores.generator".to_string(), 0.1 + 0.1 * load);
        v.insert("host.cpu_cores.app".to_string(), 1.4 * load);
        v.insert("host.cpu_quota.app".to_string(), 1.5);
        v.insert("host.machine_cpu_cores".to_string(), 2.0);
        v.insert("service.tier_busy.db_primary".to_string(), 0.95 * load);
        v.insert("service.tier_busy.object_store".to_string(), 0.1 * load);
        if t % 10 != 3 {
            // A missing sample now and then: a gap, not a failure.
            v.insert("service.tier_busy.cache".to_string(), 0.05 * load);
            v.insert("host.cpu_cores.db".to_string(), 0.3 * load);
        }
        v.insert("service.pool_in_use.db_primary".to_string(), (10.0 * load).round());
        v.insert("service.pool_max.db_primary".to_string(), 10.0);
        v.insert("service.pool_waiting.db_primary".to_string(), if t >= 40 { (t - 38) as f64 } else { 0.0 });
        v.insert("service.queue_depth".to_string(), (t / 10) as f64);
        v.insert("service.cache_hits".to_string(), 100.0 * load);
        v.insert("service.cache_misses".to_string(), 20.0);
        v.insert("service.errors".to_string(), if t >= 45 { ((t - 44) * 2) as f64 } else { 0.0 });
        tl.push(t, &v);
    }
    tl.boxes = vec![
        BoxInfo { tier: "app".into(), cpu_cores: 1.5, members: vec!["self".into()] },
        BoxInfo { tier: "db".into(), cpu_cores: 0.5, members: vec!["1234".into()] },
    ];
    tl
}

fn verdict() -> Verdict {
    Verdict {
        bottleneck: "db_primary".into(),
        confidence: "high".into(),
        sentence: SENTENCE.into(),
        knee: Some(Knee { t: 40, offered_rate: 140.0, achieved_rate: 140.0 }),
        tiers: vec![
            TierFigures {
                tier: "db_primary".into(),
                capacity: 1.0,
                unit: "cores".into(),
                utilization_p95: 0.95,
                demand_s: 0.0063,
                ceiling_rps: Some(158.7),
                saturation: vec!["pool waiters p95 = 12".into(), "pool in use = size".into()],
            },
            TierFigures {
                tier: "app".into(),
                capacity: 1.5,
                unit: "cores".into(),
                utilization_p95: 0.62,
                demand_s: 0.0062,
                ceiling_rps: Some(241.0),
                saturation: vec![],
            },
        ],
        evidence: vec![Evidence {
            tier: "db_primary".into(),
            metric: "service.pool_waiting.db_primary".into(),
            value: 12.0,
            threshold: 1.0,
            window: [40, 59],
            note: "waiters every second after the knee".into(),
        }],
        headroom: None,
        faults: Vec::new(),
    }
}

fn recommendation() -> Recommendation {
    Recommendation {
        current_stage: "start".into(),
        next_stage: Some("users-plus".into()),
        next_profile: Some("profiles/users-plus.toml".into()),
        action: "Move the database to its own box (PostgreSQL)".into(),
        reason: "The database and the app compete for one box's CPU.".into(),
        expected_gain: "about 1.6× the throughput".into(),
        expected_ceiling_rps: Some(240.0),
    }
}

/// `text` as minijinja's HTML autoescaping writes it (it also escapes `/` and `'`).
fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}

fn full_report() -> String {
    let (s, tl, v, r) = (summary(), timeline(), verdict(), recommendation());
    render_report(&s, &tl, Some(&v), Some(&r), Some(PROFILE_TOML), Some(SCENARIO_TOML)).expect("renders")
}

#[test]
fn report_has_the_verdict_charts_and_tables() {
    let html = full_report();
    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(html.contains(&esc(SENTENCE)), "verdict sentence");
    assert!(html.contains(r#"class="badge high""#), "confidence badge");
    assert_eq!(html.matches("<svg").count(), CHARTS, "one SVG per chart");
    for id in ["rate", "latency", "errors", "cpu", "tier_busy", "saturation", "cache"] {
        assert!(html.contains(&format!(r#"id="chart-{id}""#)), "chart {id}");
    }
    // Every chart has data here: none is a placeholder.
    assert!(!html.contains("no data"), "a chart said no data");
    assert!(!html.contains("chart unavailable"));
    assert!(html.contains("knee at 40 s"));
    // Legends of the timeline charts.
    for legend in ["db_primary in use", "app quota", "hit ratio", "p99.9", "object_store"] {
        assert!(html.contains(legend), "legend {legend}");
    }
    // Evidence, per-tier figures, recommendation.
    assert!(html.contains("service.pool_waiting.db_primary"));
    assert!(html.contains("waiters every second after the knee"));
    assert!(html.contains("40–59 s"));
    assert!(html.contains(r#"<tr class="bottleneck"><td>db_primary</td>"#));
    assert!(html.contains(&esc("159 req/s")), "ceiling");
    assert!(html.contains("6.30 ms"), "demand D in ms");
    assert!(html.contains("pool waiters p95 = 12"));
    assert!(html.contains("Move the database to its own box (PostgreSQL)"));
    assert!(html.contains("about 1.6× the throughput"));
    // Stage path: all six, current and next highlighted.
    for title in [
        "Single box",
        "Users+ : separate DB box",
        "Users++ : load balancer + app fleet, DB standby",
        "Users+++ : cache + read replicas",
        "Users++++ : autoscaling",
        "Users+++++ : queue + workers, sharding",
    ] {
        assert!(html.contains(title), "stage {title}");
    }
    assert!(html.contains(r#"<div class="stage current" data-stage="start">"#));
    assert!(html.contains(r#"<div class="stage next" data-stage="users-plus">"#));
    // Key numbers and inputs.
    assert!(html.contains("567 µs"), "generator CPU per request");
    assert!(html.contains("p99_us") && html.contains("lost_or_corrupted_writes"));
    assert!(html.contains(&esc(PROFILE_TOML)), "profile TOML shown");
    assert!(html.contains(&esc(SCENARIO_TOML)), "scenario TOML shown");
    assert!(!html.contains(r#"id="untrustworthy""#), "trustworthy run has no banner");
}

#[test]
fn report_is_self_contained() {
    let html = full_report();
    let lower = html.to_lowercase();
    for bad in ["<script", "<link", "<img", "<iframe", "src=", "@import", "url(", "https://"] {
        assert!(!lower.contains(bad), "report contains {bad:?}");
    }
    // The only http:// is the target's address, shown as text.
    let url = &summary().target.url;
    assert!(url.starts_with("http://"));
    assert_eq!(lower.matches("http://").count(), html.matches(url.as_str()).count(), "http:// outside the target URL");
    assert!(!lower.contains("href=\"http"));
}

#[test]
fn text_is_escaped() {
    let mut s = summary();
    s.scenario.name = "<script>alert(1)</script>".into();
    s.errors_by_kind.insert("read_<b>".into(), 3);
    let mut v = verdict();
    v.sentence = "db <em>saturated</em> & \"more\"".into();
    v.tiers[0].tier = "<img src=x>".into();
    let html = render_report(&s, &timeline(), Some(&v), None, Some("x = \"</pre><script>\""), None).unwrap();
    assert!(!html.to_lowercase().contains("<script"), "unescaped script tag");
    assert!(!html.contains("<img"), "unescaped img tag");
    assert!(!html.contains("<em>"));
    assert!(html.contains(&esc("<script>alert(1)</script>")));
    assert!(html.contains(&esc("db <em>saturated</em> & \"more\"")));
    assert!(html.contains("read_&lt;b&gt;"));
}

#[test]
fn report_without_profiler_data_says_so() {
    let s: Summary = serde_json::from_str(FIXTURE).unwrap();
    let html = render_report(&s, &Timeline::default(), None, None, None, None).unwrap();
    assert!(html.contains("No verdict"));
    assert!(html.contains("No recommendation for this run."));
    assert_eq!(html.matches("<svg").count(), CHARTS, "every chart is still an SVG");
    // cpu, tier busy, saturation and cache have only timeline data.
    assert_eq!(html.matches(">no data<").count(), 4);
    // The smoke run was on single-box: that stage is current, none is next.
    assert!(html.contains(r#"<div class="stage current" data-stage="start">"#));
    assert!(!html.contains("stage next"));

    // Not even a per-second series: every chart says so, nothing fails.
    let mut bare = s.clone();
    bare.series.clear();
    let html = render_report(&bare, &Timeline::default(), None, None, None, None).unwrap();
    assert_eq!(html.matches(">no data<").count(), CHARTS);
}

#[test]
fn untrustworthy_run_has_a_banner() {
    let mut s = summary();
    s.trustworthy = false;
    s.generator.overloaded = true;
    s.generator.reasons = vec!["sends left late: schedule lag p99 80.0 ms > 20.0 ms allowed".into()];
    let html = render_report(&s, &timeline(), Some(&verdict()), None, None, None).unwrap();
    assert!(html.contains(r#"id="untrustworthy""#));
    assert!(html.contains("sends left late: schedule lag p99 80.0 ms &gt; 20.0 ms allowed"));
}

/// A run directory as the harness leaves it, with the verdict inside `summary.json`.
fn run_dir(with_timeline: bool, verdict_json: serde_json::Value) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let mut value = serde_json::to_value(summary()).unwrap();
    value["verdict"] = verdict_json;
    value["recommendation"] = serde_json::to_value(recommendation()).unwrap();
    std::fs::write(dir.path().join("summary.json"), serde_json::to_string_pretty(&value).unwrap()).unwrap();
    if with_timeline {
        std::fs::write(dir.path().join(html::TIMELINE_FILE), serde_json::to_string(&timeline()).unwrap()).unwrap();
    }
    std::fs::write(dir.path().join(html::SCENARIO_FILE), SCENARIO_TOML).unwrap();
    dir
}

#[test]
fn rebuild_reads_the_saved_run() {
    let dir = run_dir(true, serde_json::to_value(verdict()).unwrap());
    let path = html::rebuild_report(dir.path()).unwrap();
    assert_eq!(path, dir.path().join("index.html"));
    let page = std::fs::read_to_string(&path).unwrap();
    assert!(page.contains(&esc(SENTENCE)));
    assert!(page.contains("Move the database to its own box"));
    assert!(!page.contains("no data"));
    assert!(page.contains(&esc(SCENARIO_TOML)));

    // No timeline.json and a verdict in a shape this build does not know: still a report.
    let dir = run_dir(false, serde_json::json!({"bottleneck": 3}));
    let page = std::fs::read_to_string(html::rebuild_report(dir.path()).unwrap()).unwrap();
    assert!(page.contains("No verdict"));
    assert_eq!(page.matches(">no data<").count(), 4);

    // A summary written before the profiler fields existed.
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("summary.json"), FIXTURE).unwrap();
    assert!(html::rebuild_report(dir.path()).is_ok());

    let empty = tempfile::tempdir().unwrap();
    let err = html::rebuild_report(empty.path()).unwrap_err().to_string();
    assert!(err.contains("summary.json"), "{err}");
}

#[test]
fn write_report_creates_the_directory() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("nested").join("run");
    let path = write_report(&dir, &summary(), &timeline(), Some(&verdict()), None, None, None).unwrap();
    assert!(std::fs::read_to_string(path).unwrap().contains(&esc(SENTENCE)));
}

#[test]
fn report_subcommand_rebuilds_index_html() {
    let dir = run_dir(true, serde_json::to_value(verdict()).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen")).arg("report").arg(dir.path()).output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("index.html"), "{text}");
    assert!(std::fs::read_to_string(dir.path().join("index.html")).unwrap().contains(&esc(SENTENCE)));

    let missing = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_loadgen")).arg("report").arg(missing.path()).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "a directory without summary.json is bad input");
}

fn chromium() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("CHROMIUM") {
        return Some(PathBuf::from(path));
    }
    let path = std::env::var_os("PATH")?;
    ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"]
        .iter()
        .flat_map(|name| std::env::split_paths(&path).map(move |dir| dir.join(name)))
        .find(|p| p.is_file())
}

/// Runs Chromium headless on `page` with `extra` arguments; (exit code, stdout, stderr).
fn run_chromium(bin: &Path, profile: &Path, page: &Path, extra: &[String]) -> (Option<i32>, String, String) {
    let mut child = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--window-size=1280,4000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starting chromium");
    let (mut stdout, mut stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || std::io::read_to_string(&mut stdout).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(&mut stderr).unwrap_or_default());
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    (status, out.join().unwrap(), err.join().unwrap())
}

#[test]
fn headless_chromium_renders_the_report() {
    let Some(bin) = chromium() else {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!("chromium not found under CI=true: install it (apt-get install -y chromium fonts-dejavu-core)");
        }
        eprintln!("SKIPPED headless_chromium_renders_the_report: chromium not found (apt-get install -y chromium)");
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let page = write_report(
        &tmp.path().join("run"),
        &summary(),
        &timeline(),
        Some(&verdict()),
        Some(&recommendation()),
        Some(PROFILE_TOML),
        Some(SCENARIO_TOML),
    )
    .unwrap();
    let shot = tmp.path().join("shot.png");

    let (code, _, stderr) =
        run_chromium(&bin, &tmp.path().join("profile-shot"), &page, &[format!("--screenshot={}", shot.display())]);
    assert_eq!(code, Some(0), "chromium --screenshot failed:\n{stderr}");
    let png = std::fs::read(&shot).expect("screenshot written");
    assert!(png.len() > 20_000, "screenshot is only {} bytes", png.len());
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "not a PNG");
    assert_eq!(&png[12..16], b"IHDR");
    let width = u32::from_be_bytes(png[16..20].try_into().unwrap());
    let height = u32::from_be_bytes(png[20..24].try_into().unwrap());
    assert!(width >= 1000 && height >= 3000, "screenshot is {width}×{height}");

    // For looking at it: HTML_REPORT_KEEP=<dir> keeps the page and the screenshot there.
    if let Some(keep) = std::env::var_os("HTML_REPORT_KEEP") {
        let keep = PathBuf::from(keep);
        std::fs::create_dir_all(&keep).unwrap();
        std::fs::copy(&page, keep.join("index.html")).unwrap();
        std::fs::copy(&shot, keep.join("shot.png")).unwrap();
    }

    let (code, dom, stderr) = run_chromium(&bin, &tmp.path().join("profile-dom"), &page, &["--dump-dom".to_string()]);
    assert_eq!(code, Some(0), "chromium --dump-dom failed:\n{stderr}");
    assert!(dom.contains(SENTENCE), "the rendered DOM lacks the verdict");
    assert_eq!(dom.matches("<svg").count(), CHARTS, "the rendered DOM has a different number of charts");
    assert!(dom.contains("Users+ : separate DB box"));
}
