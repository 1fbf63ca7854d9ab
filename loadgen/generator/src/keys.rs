//! What each scheduled send does: read or write (the mix), which id a read asks for (Zipf
//! over popularity ranks), and what a write posts (a seeded payload for a random user).
//!
//! Everything about send `k` comes from a small RNG seeded with `(seed, k)`, so a run is
//! reproducible whichever Goose user happens to take send `k`.
//!
//! **Ranking.** Ids are ranked by when they entered the key space: the preloaded corpus
//! first (rank 1 = the first preloaded item, the most popular), then ids written during the
//! run, appended at the tail as their writes are acknowledged. So the hot set is stable and
//! new content starts unpopular; a read draws a rank from `Zipf(n, s)` over the `n` ids
//! known at that moment (`s = 0` is uniform).
//!
//! **Mix.** Sends come in blocks of `read + write`; each block holds exactly `write` writes
//! at seeded positions, so the ratio is exact per block, not just on average.

use std::sync::RwLock;

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

use crate::scenario::{Mix, PayloadSizes};

/// The two operations of the content API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Operation {
    Read,
    Write,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
        }
    }
}

/// A seeded RNG for one purpose of one send.
pub fn rng_for(seed: u64, k: u64, purpose: u64) -> SmallRng {
    let mixed = seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ purpose.wrapping_mul(0xC2B2_AE3D_27D4_EB4F);
    SmallRng::seed_from_u64(mixed)
}

/// Decides read or write for each send, exactly `write` writes per block of `read + write`.
#[derive(Debug, Clone)]
pub struct OperationMix {
    seed: u64,
    read: u64,
    write: u64,
}

impl OperationMix {
    pub fn new(mix: &Mix, seed: u64) -> Self {
        Self { seed, read: u64::from(mix.read), write: u64::from(mix.write) }
    }

    /// The operation of send `k`.
    pub fn operation(&self, k: u64) -> Operation {
        let block = self.read + self.write;
        let (block_index, position) = (k / block, k % block);
        // Writes sit at the first `write` slots of a seeded rotation of the block: the
        // positions vary from block to block and the count per block is exact.
        let offset = rng_for(self.seed, block_index, 1).random_range(0..block);
        if (position + block - offset) % block < self.write {
            Operation::Write
        } else {
            Operation::Read
        }
    }
}

/// The ids reads can ask for, in popularity-rank order, growing as writes are acknowledged.
#[derive(Debug, Default)]
pub struct KeySpace {
    ids: RwLock<Vec<String>>,
}

impl KeySpace {
    pub fn new(preloaded: Vec<String>) -> Self {
        Self { ids: RwLock::new(preloaded) }
    }

    pub fn len(&self) -> usize {
        self.ids.read().map(|v| v.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Appends an acknowledged write's id at the tail of the ranking.
    pub fn push(&self, id: String) {
        if let Ok(mut ids) = self.ids.write() {
            ids.push(id);
        }
    }

    /// The id at `rank` (1 = most popular).
    pub fn at_rank(&self, rank: usize) -> Option<String> {
        self.ids.read().ok()?.get(rank.checked_sub(1)?).cloned()
    }

    /// The id read by send `k` with Zipf exponent `exponent`.
    pub fn pick(&self, seed: u64, k: u64, exponent: f64) -> Option<String> {
        let n = self.len();
        let rank = zipf_rank(seed, k, n, exponent)?;
        self.at_rank(rank)
    }
}

/// The popularity rank (1..=n) drawn for send `k`.
pub fn zipf_rank(seed: u64, k: u64, n: usize, exponent: f64) -> Option<usize> {
    if n == 0 {
        return None;
    }
    let zipf = Zipf::new(n as f64, exponent).ok()?;
    let rank = zipf.sample(&mut rng_for(seed, k, 2)) as usize;
    Some(rank.clamp(1, n))
}

/// A write's content: who posts it and the payload bytes (printable ASCII). It serializes
/// as the API's JSON request body.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct WriteBody {
    pub user_id: String,
    pub payload: String,
}

/// The write of send `k`: reproducible, so a read-back can regenerate what was sent.
pub fn write_body(seed: u64, k: u64, sizes: &PayloadSizes, users: u64) -> WriteBody {
    let mut rng = rng_for(seed, k, 3);
    let len = match *sizes {
        PayloadSizes::Fixed { bytes } => bytes,
        PayloadSizes::Uniform { min, max } => rng.random_range(min..=max),
    } as usize;
    let user = rng.random_range(1..=users.max(1));
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let payload: String = (0..len).map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char).collect();
    WriteBody { user_id: user.to_string(), payload }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn hundred_to_one_mix_holds_over_10k_operations() {
        let mix = OperationMix::new(&Mix { read: 100, write: 1 }, 7);
        let writes = (0..10_000).filter(|&k| mix.operation(k) == Operation::Write).count() as f64;
        let reads = 10_000.0 - writes;
        let ratio = reads / writes;
        assert!((ratio - 100.0).abs() / 100.0 <= 0.02, "reads/writes = {ratio}");
    }

    #[test]
    fn mix_is_reproducible_and_varies_by_seed() {
        let a = OperationMix::new(&Mix::default(), 1);
        let b = OperationMix::new(&Mix::default(), 2);
        let ops = |m: &OperationMix| (0..2020).map(|k| m.operation(k)).collect::<Vec<_>>();
        assert_eq!(ops(&a), ops(&a));
        assert_ne!(ops(&a), ops(&b));
    }

    #[test]
    fn payloads_are_reproducible_and_sized() {
        let sizes = PayloadSizes::Fixed { bytes: 1024 };
        let a = write_body(9, 42, &sizes, 1000);
        assert_eq!(a, write_body(9, 42, &sizes, 1000));
        assert_eq!(a.payload.len(), 1024);
        assert_ne!(a.payload, write_body(9, 43, &sizes, 1000).payload);
        let u = write_body(9, 1, &PayloadSizes::Uniform { min: 10, max: 20 }, 5);
        assert!((10..=20).contains(&u.payload.len()));
    }

    #[test]
    fn key_space_grows_at_the_tail() {
        let keys = KeySpace::new(vec!["a".into(), "b".into()]);
        keys.push("c".into());
        assert_eq!(keys.at_rank(1).as_deref(), Some("a"));
        assert_eq!(keys.at_rank(3).as_deref(), Some("c"));
        assert_eq!(keys.at_rank(0), None);
        assert!(keys.pick(1, 1, 1.0).is_some());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(8))]
        /// Rank frequencies follow `f(r) ∝ r^-s`: the observed share of each of the top
        /// ranks is within tolerance of the Zipf law, over a fixed seed.
        #[test]
        fn zipf_rank_frequencies_follow_the_exponent(exponent in 0.0f64..1.6, n in 20usize..200) {
            let samples = 40_000u64;
            let mut counts = vec![0u64; n + 1];
            for k in 0..samples {
                counts[zipf_rank(12345, k, n, exponent).unwrap()] += 1;
            }
            let norm: f64 = (1..=n).map(|r| (r as f64).powf(-exponent)).sum();
            for (rank, &count) in counts.iter().enumerate().take(6).skip(1) {
                let expected = samples as f64 * (rank as f64).powf(-exponent) / norm;
                let observed = count as f64;
                // Five standard deviations of a binomial count, plus 2% of the expectation.
                let tolerance = 5.0 * expected.sqrt() + 0.02 * expected;
                prop_assert!((observed - expected).abs() <= tolerance,
                    "rank {rank}: observed {observed}, expected {expected:.0} (s={exponent}, n={n})");
            }
        }
    }
}
