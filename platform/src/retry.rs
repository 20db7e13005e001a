//! Retry policy: bounded attempts, exponential backoff with "equal jitter" (half fixed, half random), so
//! retries of many failed messages spread out instead of arriving together.

use std::time::Duration;

use rand::Rng;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Deliveries allowed in total (the first one included) before a transient failure is dead-lettered.
    pub max_attempts: u32,
    /// Delay cap before the first retry.
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { max_attempts: 5, base: Duration::from_millis(200), max: Duration::from_secs(30) }
    }
}

impl RetryPolicy {
    /// The ceiling of the delay after failed attempt number `attempt` (1-based): `base · 2^(attempt-1)`,
    /// capped at `max`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(30);
        self.base.saturating_mul(1u32 << exp).min(self.max)
    }

    /// The delay before the next delivery: uniformly random in `[ceiling/2, ceiling]`.
    pub fn delay(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt);
        let half = ceiling / 2;
        let spread = (ceiling - half).as_micros() as u64;
        let jitter = if spread == 0 { 0 } else { rand::rng().random_range(0..=spread) };
        half + Duration::from_micros(jitter)
    }

    /// Whether another delivery is allowed after `attempt` failed.
    pub fn may_retry(&self, attempt: u32) -> bool {
        attempt < self.max_attempts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_exponentially_within_bounds() {
        let p = RetryPolicy { max_attempts: 4, base: Duration::from_millis(100), max: Duration::from_secs(1) };
        assert_eq!(p.ceiling(1), Duration::from_millis(100));
        assert_eq!(p.ceiling(2), Duration::from_millis(200));
        assert_eq!(p.ceiling(4), Duration::from_millis(800));
        assert_eq!(p.ceiling(5), Duration::from_secs(1));
        assert_eq!(p.ceiling(99), Duration::from_secs(1));
        for attempt in 1..8 {
            for _ in 0..50 {
                let d = p.delay(attempt);
                assert!(d >= p.ceiling(attempt) / 2 && d <= p.ceiling(attempt), "{d:?} at {attempt}");
            }
        }
        assert!(p.may_retry(3));
        assert!(!p.may_retry(4));
    }

    #[test]
    fn jitter_spreads_delays() {
        let p = RetryPolicy::default();
        let distinct: std::collections::BTreeSet<_> = (0..20).map(|_| p.delay(3)).collect();
        assert!(distinct.len() > 1, "delays should not all be equal");
    }
}
