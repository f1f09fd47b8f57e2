//! Named stopping points for crash tests (`ROCKSTORE_FAILPOINT=point[@N]`).
//!
//! When the N-th hit (default first) of the named point is reached, the
//! process writes `rockstore: failpoint <point> reached` to stderr and stops
//! there forever, so a test can SIGKILL it at exactly that moment — no sleeps.
//! With `ROCKSTORE_FAILPOINT_RESUME=<fifo>` it instead blocks opening that
//! named pipe and goes on once the test has opened and closed it, so a test
//! can run something else while the process holds its locks there.
//! Unset, a hit costs one branch.
//!
//! The binary sets the process's failpoints once ([`set_process`]); the
//! store reaches them through its options, and code that holds no store (a
//! tree's switch) through [`hit`].

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

static PROCESS: OnceLock<Arc<Failpoints>> = OnceLock::new();

/// Sets the process's failpoints (the first call wins) and returns them.
pub fn set_process(failpoints: Failpoints) -> Arc<Failpoints> {
    Arc::clone(PROCESS.get_or_init(|| Arc::new(failpoints)))
}

/// The process's failpoints (none unless [`set_process`] was called).
pub fn process() -> Arc<Failpoints> {
    PROCESS.get().cloned().unwrap_or_default()
}

/// Marks a point of the process's failpoints.
pub fn hit(point: &str) {
    if let Some(f) = PROCESS.get() {
        f.hit(point);
    }
}

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
