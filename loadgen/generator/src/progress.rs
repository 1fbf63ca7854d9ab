//! The live progress bar: elapsed / total, target vs achieved rate, p99 of the last
//! second, errors. Drawn on stderr and hidden when stderr is not a terminal.

use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio_util::sync::CancellationToken;

use crate::pacer::Pacer;

/// Updates a bar twice a second until `stop`; then clears it.
pub async fn show(pacer: Arc<Pacer>, visible: bool, stop: CancellationToken) {
    let total = pacer.schedule.length();
    let bar = if visible {
        ProgressBar::with_draw_target(Some(total.as_secs()), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) = ProgressStyle::with_template("{spinner} [{elapsed_precise}] {bar:30} {pos}/{len}s {msg}") {
        bar.set_style(style);
    }
    let mut last_completed = 0u64;
    let mut ticker = tokio::time::interval(Duration::from_millis(500));
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = ticker.tick() => {}
        }
        let Some(start) = pacer.start() else { continue };
        let elapsed = tokio::time::Instant::now().saturating_duration_since(start);
        let t = elapsed.as_secs_f64();
        let target = pacer.schedule.curve().rate_at(t);
        let completed = pacer.recorder.completed();
        let achieved = (completed.saturating_sub(last_completed)) as f64 * 2.0;
        last_completed = completed;
        // The recorder counts seconds from the end of the warm-up; show the last full one.
        let measured = elapsed.checked_sub(pacer.recorder.warmup()).map(|m| m.as_secs() as usize);
        let p99 = measured
            .and_then(|m| m.checked_sub(1))
            .and_then(|second| pacer.recorder.p99_of_second(second))
            .map_or_else(|| "-".to_owned(), |us| format!("{:.1}ms", us as f64 / 1000.0));
        bar.set_position(elapsed.as_secs().min(total.as_secs()));
        bar.set_message(format!(
            "target {target:.0}/s achieved {achieved:.0}/s p99 {p99} errors {}",
            pacer.recorder.failed()
        ));
    }
    bar.finish_and_clear();
}
