//! Fixed-window counters per key: failed sign-ins per account and per client address, live-sync
//! tickets per user. A key over its limit is refused until its window ends, and told when
//! that is (`Retry-After`).
//!
//! Our own rather than `governor`: sign-in throttling counts *failures* (asking before the
//! attempt, counting only if it fails, forgetting the account's count on success), which a
//! token bucket that charges on every check does not model. The counters are per process; with
//! several nodes each node throttles on its own (a limit of n per node).

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys remembered at most; past it, the stalest windows are forgotten first.
const MAX_KEYS: usize = 100_000;

/// Counts events per key in fixed windows.
#[derive(Debug)]
pub struct Windows<K> {
    limit: u32,
    window: Duration,
    max_keys: usize,
    counts: Mutex<HashMap<K, (Instant, u32)>>,
}

impl<K: Hash + Eq + Clone> Windows<K> {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self::with_capacity(limit, window, MAX_KEYS)
    }

    fn with_capacity(limit: u32, window: Duration, max_keys: usize) -> Self {
        Self {
            limit,
            window: window.max(Duration::from_secs(1)),
            max_keys: max_keys.max(1),
            counts: Mutex::new(HashMap::new()),
        }
    }

    /// Seconds until `key` may act again, if it has used up its window.
    pub fn blocked(&self, key: &K, now: Instant) -> Option<u64> {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let (start, n) = counts.get(key)?;
        let ends = *start + self.window;
        (now < ends && *n >= self.limit).then(|| (ends - now).as_secs().max(1))
    }

    /// Counts one event for `key`.
    pub fn hit(&self, key: K, now: Instant) {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        if counts.len() >= self.max_keys && !counts.contains_key(&key) {
            let window = self.window;
            counts.retain(|_, (start, _)| now.saturating_duration_since(*start) < window);
            if counts.len() >= self.max_keys {
                // Still full of live windows: forget the oldest, not the newest key.
                if let Some(oldest) = counts
                    .iter()
                    .min_by_key(|(_, (s, _))| *s)
                    .map(|(k, _)| k.clone())
                {
                    counts.remove(&oldest);
                }
            }
        }
        let entry = counts.entry(key).or_insert((now, 0));
        if now.saturating_duration_since(entry.0) >= self.window {
            *entry = (now, 0);
        }
        entry.1 = entry.1.saturating_add(1);
    }

    /// Counts one event if `key` is within its limit; otherwise says when to retry.
    pub fn take(&self, key: K, now: Instant) -> Result<(), u64> {
        match self.blocked(&key, now) {
            Some(retry) => Err(retry),
            None => {
                self.hit(key, now);
                Ok(())
            }
        }
    }

    /// Forgets `key`'s count.
    pub fn clear(&self, key: &K) {
        self.counts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_blocked_at_its_limit_until_the_window_ends() {
        let w = Windows::new(3, Duration::from_secs(60));
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(w.blocked(&"a", t0), None);
            w.hit("a", t0);
        }
        assert_eq!(w.blocked(&"a", t0), Some(60));
        assert_eq!(w.blocked(&"a", t0 + Duration::from_secs(59)), Some(1));
        assert_eq!(w.blocked(&"b", t0), None, "other keys are not affected");
        assert_eq!(w.blocked(&"a", t0 + Duration::from_secs(60)), None);
        w.hit("a", t0 + Duration::from_secs(60));
        assert_eq!(
            w.blocked(&"a", t0 + Duration::from_secs(60)),
            None,
            "a new window"
        );
    }

    #[test]
    fn take_counts_only_within_the_limit_and_clear_forgets() {
        let w = Windows::new(2, Duration::from_secs(10));
        let t0 = Instant::now();
        assert_eq!(w.take(1, t0), Ok(()));
        assert_eq!(w.take(1, t0), Ok(()));
        assert_eq!(w.take(1, t0), Err(10));
        w.clear(&1);
        assert_eq!(w.take(1, t0), Ok(()));
    }

    #[test]
    fn memory_is_bounded_and_the_stalest_key_goes_first() {
        let w = Windows::with_capacity(1, Duration::from_secs(60), 3);
        let t0 = Instant::now();
        for (i, k) in ["a", "b", "c"].into_iter().enumerate() {
            w.hit(k, t0 + Duration::from_secs(i as u64));
        }
        w.hit("d", t0 + Duration::from_secs(5));
        let counts = w.counts.lock().unwrap();
        assert_eq!(counts.len(), 3);
        assert!(!counts.contains_key("a") && counts.contains_key("d"));
    }
}
