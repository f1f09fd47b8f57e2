//! Named stopping points for crash tests (`ROCKSTORE_FAILPOINT=point[@N]`).
//!
//! When the N-th hit (default first) of the named point is reached, the
//! process writes `rockstore: failpoint <point> reached` to stderr and stops
//! there forever, so a test can SIGKILL it at exactly that moment — no sleeps.
//! With `ROCKSTORE_FAILPOINT_RESUME=<fifo>` it instead blocks opening that
//! named pipe and goes on once the test has opened and closed it, so a test
//! can run something else while the process holds its locks there.
//! Unset, a hit costs one branch.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};

/// The configured point, if any.
#[derive(Debug, Default)]
pub struct Failpoints {
    point: Option<(String, u64)>,
    hits: AtomicU64,
    resume: Option<std::path::PathBuf>,
}

impl Failpoints {
    /// No failpoint.
    pub fn none() -> Self {
        Self::default()
    }

    /// Parses `point` or `point@N`.
    pub fn parse(spec: &str) -> Self {
        let (name, nth) = match spec.split_once('@') {
            Some((name, n)) => (name, n.parse().unwrap_or(1)),
            None => (spec, 1),
        };
        Failpoints {
            point: Some((name.to_owned(), nth.max(1))),
            hits: AtomicU64::new(0),
            resume: None,
        }
    }

    /// Resume from the point when the named pipe `fifo` is opened and closed.
    pub fn resume_through(mut self, fifo: Option<std::path::PathBuf>) -> Self {
        self.resume = fifo;
        self
    }

    /// Marks a point; stops the process if it is the configured one.
    pub fn hit(&self, point: &str) {
        let Some((name, nth)) = &self.point else {
            return;
        };
        if name != point || self.hits.fetch_add(1, Ordering::SeqCst) + 1 != *nth {
            return;
        }
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "rockstore: failpoint {point} reached");
        let _ = err.flush();
        drop(err);
        if let Some(fifo) = &self.resume {
            // Blocks until the test opens the pipe for writing, then reads
            // to its end when the test closes it.
            if let Ok(mut pipe) = std::fs::File::open(fifo) {
                let _ = std::io::Read::read_to_end(&mut pipe, &mut Vec::new());
                return;
            }
        }
        loop {
            std::thread::park();
        }
    }
}
