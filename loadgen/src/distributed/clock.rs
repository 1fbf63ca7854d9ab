//! The worker's clock offset against the target, from the target's HTTP `Date` header.
//!
//! `Date` has whole-second resolution, so one answer only bounds the offset within a second.
//! The second boundary is what is sharp: the server stamps `S` until its clock reaches
//! `S + 1`. Probing until the stamp changes from `S` to `S + 1` brackets the local instant
//! `t*` at which the server's clock read exactly `S + 1` between the send of the last probe
//! that still saw `S` and the answer of the first that saw `S + 1`, so the offset
//! `(S + 1) − t*` is known within half that bracket. A coarse pass (a probe every 50 ms) finds
//! the boundary to ~50 ms, then the next boundary, one second later, is probed every
//! millisecond from just before it: the bracket shrinks to about a millisecond plus a round
//! trip. (Back to back, a loopback probe takes ~0.1 ms: the fine pass would spend its probes
//! before the tick came.) At most [`MAX_PROBES`] requests and [`MAX_TIME`]; on loopback it
//! takes ~1–2 s and under 100 requests.

use std::time::Duration;

use chrono::{DateTime, Utc};

use super::ClockOffset;

const MAX_PROBES: u32 = 400;
const MAX_TIME: Duration = Duration::from_secs(4);
const COARSE_STEP: Duration = Duration::from_millis(50);
const FINE_STEP: Duration = Duration::from_millis(1);

/// One probe: local send and answer times and the server's stamp.
#[derive(Debug, Clone, Copy)]
struct Probe {
    sent: DateTime<Utc>,
    answered: DateTime<Utc>,
    stamp: DateTime<Utc>,
}

async fn probe(client: &reqwest::Client, url: &str) -> Option<Probe> {
    let sent = Utc::now();
    let response = client.get(url).send().await.ok()?;
    let answered = Utc::now();
    let date = response.headers().get(reqwest::header::DATE)?.to_str().ok()?;
    let stamp = DateTime::parse_from_rfc2822(date).ok()?.with_timezone(&Utc);
    Some(Probe { sent, answered, stamp })
}

/// The bracket `(earliest, latest)` of the local instant at which the server's clock read
/// `now.stamp`, when `before` still saw the second before it.
fn bracket(before: &Probe, now: &Probe) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
    (now.stamp - before.stamp == chrono::Duration::seconds(1)).then_some((before.sent, now.answered))
}

fn offset_from(stamp: DateTime<Utc>, (lo, hi): (DateTime<Utc>, DateTime<Utc>), probes: u32) -> ClockOffset {
    let ms = |d: chrono::Duration| d.num_microseconds().unwrap_or(0) as f64 / 1000.0;
    let mid = lo + (hi - lo) / 2;
    ClockOffset {
        offset_ms: (ms(stamp - mid) * 10.0).round() / 10.0,
        uncertainty_ms: (ms(hi - lo) / 2.0 * 10.0).round() / 10.0,
        source: "HTTP Date header of GET /healthz (second boundary bracketed)".into(),
        probes,
    }
}

/// Probes until the stamp ticks over; returns the probe after the tick and its bracket.
async fn find_tick(
    client: &reqwest::Client,
    url: &str,
    step: Duration,
    until: tokio::time::Instant,
    probes: &mut u32,
) -> Option<(Probe, (DateTime<Utc>, DateTime<Utc>))> {
    let mut last = None::<Probe>;
    while *probes < MAX_PROBES && tokio::time::Instant::now() < until {
        *probes += 1;
        let p = probe(client, url).await?;
        if let Some(b) = last.as_ref().and_then(|l| bracket(l, &p)) {
            return Some((p, b));
        }
        last = Some(p);
        if !step.is_zero() {
            tokio::time::sleep(step).await;
        }
    }
    None
}

/// Measures the offset of this machine's clock against the target at `base_url`; `None` when
/// the target sends no usable `Date` header or does not answer.
pub async fn measure(client: &reqwest::Client, base_url: &str) -> Option<ClockOffset> {
    let url = format!("{}/healthz", base_url.trim_end_matches('/'));
    let until = tokio::time::Instant::now() + MAX_TIME;
    let mut probes = 0;
    let (coarse, (lo, _)) = find_tick(client, &url, COARSE_STEP, until, &mut probes).await?;
    let coarse_offset = offset_from(coarse.stamp, (lo, coarse.answered), probes);
    // The next tick is one second after this one: wake shortly before its earliest instant.
    let wake = (lo + chrono::Duration::seconds(1) - chrono::Duration::milliseconds(5) - Utc::now())
        .to_std()
        .unwrap_or_default();
    tokio::time::sleep(wake).await;
    match find_tick(client, &url, FINE_STEP, until, &mut probes).await {
        Some((fine, b)) => Some(offset_from(fine.stamp, b, probes)),
        None => Some(ClockOffset { probes, ..coarse_offset }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_800_000_000_000 + ms).unwrap()
    }

    #[test]
    fn the_tick_brackets_the_offset() {
        // The server's clock is 300 ms ahead: it stamps second 1_800_000_001 from local -300 + 1000.
        let before = Probe { sent: at(690), answered: at(692), stamp: at(0) };
        let after = Probe { sent: at(699), answered: at(701), stamp: at(1000) };
        let b = bracket(&before, &after).unwrap();
        let o = offset_from(after.stamp, b, 2);
        assert!((o.offset_ms - 304.5).abs() < 0.01, "{o:?}");
        assert!((o.uncertainty_ms - 5.5).abs() < 0.01, "{o:?}");
        let same = Probe { stamp: at(0), ..after };
        assert!(bracket(&before, &same).is_none());
    }
}
