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
use crate::summary::Verification;

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
        let mut attempts = 0;
        loop {
            attempts += 1;
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
                _ if attempts < 3 => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    continue;
                }
                _ => &self.unchecked,
            };
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
