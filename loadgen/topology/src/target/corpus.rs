//! The corpus a run reads: `scenario.keys.preload` items written to the target before the
//! measured part, their ids returned in rank order (the Zipf key space's rank 0 first).

use std::time::Duration;

use futures::StreamExt;
use loadgen_generator::keys::write_body;
use loadgen_generator::requests::{self, ApiUrls, ReplyBody};
use loadgen_generator::scenario::Scenario;

use super::TargetError;

/// Seed offset that keeps preload payloads apart from the run's writes.
const PRELOAD_SEED: u64 = 0x9e1_0ad;

/// Tries of one preload write answered "not now" (503, or no connection) before it counts as
/// failed.
const PRELOAD_TRIES: u32 = 5;

/// One preload write, tried again after a 503 or a refused connection (a stage just brought
/// up may still be taking its instances into the load balancer, or shedding while its
/// workers start), with a doubling pause from 200 ms.
async fn preload_write(
    client: &reqwest::Client,
    api: &ApiUrls,
    body: &loadgen_generator::keys::WriteBody,
) -> requests::Reply {
    let mut pause = Duration::from_millis(200);
    let mut tries = 1;
    loop {
        let reply = requests::write(client, api, body).await;
        let transient = matches!(reply.status, Some(503)) || reply.error.as_deref() == Some("connect");
        if !transient || tries >= PRELOAD_TRIES {
            return reply;
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
        tries += 1;
    }
}

/// Writes the corpus of `scenario.keys.preload` items; returns their ids in rank order.
pub async fn preload(client: &reqwest::Client, api: &ApiUrls, scenario: &Scenario) -> Result<Vec<String>, TargetError> {
    let seed = scenario.seed ^ PRELOAD_SEED;
    let count = u64::from(scenario.keys.preload);
    let replies: Vec<(u64, requests::Reply)> = futures::stream::iter(0..count)
        .map(|i| {
            let body = write_body(seed, i, &scenario.payload, scenario.keys.users);
            async move { (i, preload_write(client, api, &body).await) }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let mut ids: Vec<(u64, String)> = Vec::with_capacity(replies.len());
    let mut failures = Vec::new();
    for (i, reply) in replies {
        match reply.body {
            ReplyBody::Created { content_id } => ids.push((i, content_id)),
            _ => failures.push(reply.error.unwrap_or_default()),
        }
    }
    if failures.len() as u64 > count / 10 {
        return Err(TargetError::Preload {
            url: api.content().to_string(),
            reason: format!("{} of {count} writes failed (first: {})", failures.len(), failures[0]),
        });
    }
    ids.sort();
    Ok(ids.into_iter().map(|(_, id)| id).collect())
}
