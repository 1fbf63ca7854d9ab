//! Correctness sampling: one in `every` acknowledged writes is read back `delay` after its
//! acknowledgement, during the run, and compared byte for byte with what was sent
//! (regenerated from the seed). Writes are acknowledged before processing, so the item's
//! status may be `processing` or `ready`; only its payload and owner must match. What is
//! still pending when the load ends is read back right after it.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::keys::write_body;
use crate::requests::{self, ApiUrls, ReplyBody};
use crate::scenario::{PayloadSizes, Verify};
use loadgen_model::summary::Verification;

/// How long a read-back without an answer is tried again.
const RETRY_FOR: Duration = Duration::from_secs(30);
/// ... and after one check ran out of [`RETRY_FOR`], until one is answered again.
const GAVE_UP_RETRY_FOR: Duration = Duration::from_millis(600);

#[derive(Debug)]
struct Pending {
    content_id: String,
    send_index: u64,
    due: Instant,
}

/// Collects sampled writes and checks them.
#[derive(Debug)]
pub struct Verifier {
    settings: Verify,
    seed: u64,
    sizes: PayloadSizes,
    users: u64,
    queue: Mutex<VecDeque<Pending>>,
    acknowledged: AtomicU64,
    sampled: AtomicU64,
    verified: AtomicU64,
    lost: AtomicU64,
    corrupted: AtomicU64,
    unchecked: AtomicU64,
    /// The last check ran out of time without an answer.
    gave_up: std::sync::atomic::AtomicBool,
}

impl Verifier {
    pub fn new(settings: Verify, seed: u64, sizes: PayloadSizes, users: u64) -> Self {
        Self {
            settings,
            seed,
            sizes,
            users,
            queue: Mutex::default(),
            acknowledged: AtomicU64::new(0),
            sampled: AtomicU64::new(0),
            verified: AtomicU64::new(0),
            lost: AtomicU64::new(0),
            corrupted: AtomicU64::new(0),
            unchecked: AtomicU64::new(0),
            gave_up: Default::default(),
        }
    }

    /// Notes an acknowledged write (send `send_index` created `content_id`); samples it.
    pub fn acknowledged(&self, content_id: &str, send_index: u64) {
        let n = self.acknowledged.fetch_add(1, Ordering::Relaxed);
        let every = u64::from(self.settings.every);
        if every == 0 || n % every != 0 {
            return;
        }
        if self.sampled.load(Ordering::Relaxed) >= u64::from(self.settings.max) {
            return;
        }
        self.sampled.fetch_add(1, Ordering::Relaxed);
        let due = Instant::now() + self.settings.delay;
        if let Ok(mut q) = self.queue.lock() {
            q.push_back(Pending { content_id: content_id.to_owned(), send_index, due });
        }
    }

    fn take_due(&self, all: bool) -> Option<Pending> {
        let mut q = self.queue.lock().ok()?;
        let now = Instant::now();
        if all || q.front().is_some_and(|p| p.due <= now) {
            q.pop_front()
        } else {
            None
        }
    }

    async fn check(&self, client: &reqwest::Client, api: &ApiUrls, p: Pending) {
        let expected = write_body(self.seed, p.send_index, &self.sizes, self.users);
        // A read-back that gets no answer (503, a timeout, a refused connection) is tried
        // again for up to 30 s with a doubling pause: a write acknowledged just before an
        // outage (a failover, a restarted load balancer) must still be checked after it, not
        // counted unchecked.
        let first = Instant::now();
        let mut pause = Duration::from_millis(200);
        loop {
            let reply = requests::read(client, api, &p.content_id, true).await;
            let counter = match (&reply.status, &reply.body) {
                (_, ReplyBody::Item(item)) => {
                    if item.payload.as_bytes() == expected.payload.as_bytes() && item.user_id == expected.user_id {
                        &self.verified
                    } else {
                        tracing::error!(content_id = %p.content_id, "read-back differs from the acknowledged write");
                        &self.corrupted
                    }
                }
                (Some(404), _) => {
                    tracing::error!(content_id = %p.content_id, "acknowledged write not found");
                    &self.lost
                }
                // Once one check ran out of time, the target is down for good: the next
                // ones get a few tries each, so a dead target cannot hold the run for long.
                _ if first.elapsed()
                    < if self.gave_up.load(Ordering::Relaxed) { GAVE_UP_RETRY_FOR } else { RETRY_FOR } =>
                {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    continue;
                }
                _ => {
                    self.gave_up.store(true, Ordering::Relaxed);
                    &self.unchecked
                }
            };
            if !std::ptr::eq(counter, &self.unchecked) {
                self.gave_up.store(false, Ordering::Relaxed);
            }
            counter.fetch_add(1, Ordering::Relaxed);
            return;
        }
    }

    /// Checks due writes until `stop`, then everything still pending.
    pub async fn run(self: Arc<Self>, client: reqwest::Client, api: ApiUrls, stop: CancellationToken) {
        loop {
            while let Some(p) = self.take_due(false) {
                self.check(&client, &api, p).await;
            }
            tokio::select! {
                () = stop.cancelled() => break,
                () = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        while let Some(p) = self.take_due(true) {
            // Give a just-acknowledged write the same head start as the others.
            tokio::time::sleep_until(p.due).await;
            self.check(&client, &api, p).await;
        }
    }

    pub fn results(&self) -> Verification {
        Verification {
            sampled: self.sampled.load(Ordering::Relaxed),
            verified: self.verified.load(Ordering::Relaxed),
            lost: self.lost.load(Ordering::Relaxed),
            corrupted: self.corrupted.load(Ordering::Relaxed),
            unchecked: self.unchecked.load(Ordering::Relaxed),
        }
    }
}
