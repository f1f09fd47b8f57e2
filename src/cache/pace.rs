//! How much of a run one cache may spend answering slowly. Each request
//! has its own deadline, but a cache answering just inside every one of
//! them would hold a run for a deadline per request, with no warning:
//! lookups go level by level, so a deep plan pays one per level. Here
//! the time each answer took past a tenth of the grace period (a fast
//! server, even far away, never gets there) is added up, and once the
//! sum passes the grace period the cache is down for the rest of the
//! run, like one that missed a deadline. The sum starts again twenty
//! grace periods after its first slow answer, so that a daemon, whose
//! run lasts for weeks, is not put off a cache by slowness spread over
//! them.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::transport::{seconds, TransportError};

/// The slowness a cache has shown in this run.
pub(super) struct Pace {
    grace: Duration,
    /// The slowness summed, and when its first slow answer came.
    slow: Mutex<(Duration, Option<Instant>)>,
}

impl Pace {
    /// A cache whose requests have `grace` each besides their size.
    pub(super) fn new(grace: Duration) -> Pace {
        Pace {
            grace,
            slow: Mutex::new((Duration::ZERO, None)),
        }
    }

    /// How long a sum of slowness lasts.
    fn window(&self) -> Duration {
        self.grace.saturating_mul(20)
    }

    /// The slowness summed in the current window, after `past` more
    /// begun at `started` (none: only read it).
    fn add(&self, past: Option<(Duration, Instant)>) -> Duration {
        let Ok(mut s) = self.slow.lock() else {
            return Duration::ZERO;
        };
        if s.1.is_some_and(|first| first.elapsed() >= self.window()) {
            *s = (Duration::ZERO, None);
        }
        if let Some((past, started)) = past {
            s.0 += past;
            s.1.get_or_insert(started);
        }
        s.0
    }

    /// An answer slower than this is slow.
    fn slow_after(&self) -> Duration {
        self.grace / 10
    }

    /// `Err` (the cache is down) once its slow answers have cost the run
    /// more than one grace period; `shown` is what is being asked.
    pub(super) fn check(&self, shown: &str) -> Result<(), TransportError> {
        let spent = self.add(None);
        if spent < self.grace {
            return Ok(());
        }
        Err(TransportError::Down {
            url: shown.to_owned(),
            why: format!(
                "its answers have been slow: {} in all past {} each in this run, more than its timeout of {}",
                seconds(spent),
                seconds(self.slow_after()),
                seconds(self.grace)
            ),
        })
    }

    /// Counts an answer begun at `started` and complete now.
    pub(super) fn note(&self, started: Instant) {
        let past = started.elapsed().saturating_sub(self.slow_after());
        if past > Duration::ZERO {
            self.add(Some((past, started)));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slow_answers_add_up_to_one_grace_period() {
        let pace = Pace::new(Duration::from_secs(10));
        assert!(pace.check("x").is_ok());
        // Fast answers cost nothing, however many.
        for _ in 0..100 {
            pace.note(Instant::now());
        }
        assert!(pace.check("x").is_ok());
        let long_ago = Instant::now() - Duration::from_secs(6);
        pace.note(long_ago);
        assert!(pace.check("x").is_ok(), "5 s past 1 s: not yet");
        pace.note(long_ago);
        let Err(TransportError::Down { why, .. }) = pace.check("x") else {
            panic!("10 s of slowness is the grace period")
        };
        assert!(why.contains("slow"), "{why}");
        // Twenty grace periods after the first slow answer, it starts again.
        if let Ok(mut s) = pace.slow.lock() {
            s.1 = Instant::now().checked_sub(Duration::from_secs(201));
        }
        assert!(pace.check("x").is_ok());
    }
}
