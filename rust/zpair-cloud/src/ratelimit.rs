//! In-memory token-bucket rate limits, keyed by a string (`dev:<id>`, `user:<id>`, ...).

use std::collections::HashMap;
use std::sync::Mutex;

/// One limit: a bucket of `burst` requests refilled at `per_minute` requests per minute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Limit {
    /// Bucket size (requests allowed back to back).
    pub burst: u32,
    /// Refill rate, requests per minute (at least 1).
    pub per_minute: u32,
}

impl Limit {
    /// A limit.
    pub const fn new(burst: u32, per_minute: u32) -> Self {
        Limit { burst, per_minute }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    /// Requests available, in units of 1/60_000.
    units: u64,
    at_ms: u64,
}

/// A set of buckets sharing one [`Limit`]. Sharded to keep lock contention low.
#[derive(Debug)]
pub struct RateLimiter {
    limit: Limit,
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
}

const SHARDS: usize = 16;
/// Above this many keys in a shard, buckets that are full again are forgotten.
const PRUNE_AT: usize = 50_000;

impl RateLimiter {
    /// A limiter for `limit`.
    pub fn new(limit: Limit) -> Self {
        RateLimiter { limit, shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect() }
    }

    fn shard(&self, key: &str) -> &Mutex<HashMap<String, Bucket>> {
        let h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
        });
        &self.shards[(h % SHARDS as u64) as usize]
    }

    /// Takes one request from `key`'s bucket at time `now_ms`: `Ok(())`, or `Err(retry_after_s)`
    /// (at least 1) when the bucket is empty.
    pub fn check(&self, key: &str, now_ms: u64) -> Result<(), u16> {
        // Units: one request = 60_000 units; the bucket gains `per_minute` units per ms. Exact.
        const COST: u64 = 60_000;
        let cap = u64::from(self.limit.burst.max(1)) * COST;
        let per_ms = u64::from(self.limit.per_minute.max(1));
        let mut map = self.shard(key).lock().unwrap_or_else(|e| e.into_inner());
        if map.len() > PRUNE_AT {
            map.retain(|_, b| b.units.saturating_add(now_ms.saturating_sub(b.at_ms).saturating_mul(per_ms)) < cap);
        }
        let b = map.entry(key.to_owned()).or_insert(Bucket { units: cap, at_ms: now_ms });
        let elapsed = now_ms.saturating_sub(b.at_ms);
        b.units = b.units.saturating_add(elapsed.saturating_mul(per_ms)).min(cap);
        b.at_ms = now_ms.max(b.at_ms);
        if b.units >= COST {
            b.units -= COST;
            Ok(())
        } else {
            let ms = (COST - b.units).div_ceil(per_ms);
            Err(ms.div_ceil(1000).clamp(1, u64::from(u16::MAX)) as u16)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_refill() {
        let rl = RateLimiter::new(Limit::new(3, 60));
        for _ in 0..3 {
            assert_eq!(rl.check("a", 0), Ok(()));
        }
        assert_eq!(rl.check("a", 0), Err(1));
        assert_eq!(rl.check("b", 0), Ok(()), "keys are independent");
        assert_eq!(rl.check("a", 999), Err(1));
        assert_eq!(rl.check("a", 1000), Ok(()));
        assert_eq!(rl.check("a", 1000), Err(1));
        // Never above the burst.
        for _ in 0..3 {
            assert_eq!(rl.check("a", 1_000_000), Ok(()));
        }
        assert!(rl.check("a", 1_000_000).is_err());
    }

    #[test]
    fn retry_after_is_rounded_up() {
        let rl = RateLimiter::new(Limit::new(1, 2)); // one every 30 s
        assert_eq!(rl.check("k", 5_000), Ok(()));
        assert_eq!(rl.check("k", 5_000), Err(30));
        assert_eq!(rl.check("k", 20_500), Err(15));
        assert_eq!(rl.check("k", 35_000), Ok(()));
    }
}
