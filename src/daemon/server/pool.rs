//! Build users and who holds them. A build user serves one build at a
//! time on the whole machine (a machine-wide lock in `/run/rockstore`, as
//! a build's end kills every process of its user); one client user holds
//! at most a share of them, so another user always finds one free; a
//! waiting build gives up when its client goes away or its wait passes
//! the build time limit.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::build::isolation::{BuildUser, IsolationError, Lease};

/// Where build users' machine-wide locks live (root's alone).
const BUILD_LOCKS: &str = "/run/rockstore";

/// The build users of one daemon.
pub(super) struct Pool {
    state: Mutex<State>,
    freed: Condvar,
    share: usize,
    count: usize,
}

struct State {
    free: Vec<BuildUser>,
    /// Leases held, by client uid.
    held: HashMap<u32, usize>,
}

/// A lease's hold on the pool; returns the user when dropped.
struct Held<'p> {
    pool: &'p Pool,
    user: BuildUser,
    client: u32,
    _machine_lock: std::fs::File,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.pool.state.lock() {
            state.free.push(self.user);
            if let Some(n) = state.held.get_mut(&self.client) {
                *n = n.saturating_sub(1);
            }
        }
        self.pool.freed.notify_all();
    }
}

impl Pool {
    /// A pool of `users`; one client holds at most `share` (default: all
    /// but one, at least one).
    pub(super) fn new(users: Vec<BuildUser>, share: Option<usize>) -> Pool {
        let count = users.len();
        let share = share
            .unwrap_or(count.saturating_sub(1))
            .clamp(1, count.max(1));
        Pool {
            state: Mutex::new(State {
                free: users,
                held: HashMap::new(),
            }),
            freed: Condvar::new(),
            share,
            count,
        }
    }

    /// The most one client holds at once.
    pub(super) fn share(&self) -> usize {
        self.share
    }

    /// Leases a build user for `client`, waiting while every one is busy
    /// or the client holds its share; gives up when `cancel` is set or
    /// after `wait`.
    pub(super) fn lease(
        &'static self,
        client: u32,
        cancel: &AtomicBool,
        wait: Duration,
    ) -> Result<Lease, IsolationError> {
        let deadline = Instant::now() + wait;
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            if cancel.load(Ordering::SeqCst) {
                return Err(IsolationError::Cancelled);
            }
            let mine = state.held.get(&client).copied().unwrap_or(0);
            if mine < self.share {
                let usable = state
                    .free
                    .iter()
                    .enumerate()
                    .find_map(|(i, user)| machine_lock(*user).map(|lock| (i, lock)));
                if let Some((i, lock)) = usable {
                    let user = state.free.remove(i);
                    *state.held.entry(client).or_default() += 1;
                    return Ok(Lease {
                        user,
                        _held: Box::new(Held {
                            pool: self,
                            user,
                            client,
                            _machine_lock: lock,
                        }),
                    });
                }
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(IsolationError::Busy(format!(
                    "waited {} s; {} build users, at most {} per user",
                    wait.as_secs(),
                    self.count,
                    self.share
                )));
            }
            // Woken when a user comes back; looked at again shortly
            // anyway (another daemon's lock, a client that left).
            let step = (deadline - now).min(Duration::from_millis(200));
            state = self
                .freed
                .wait_timeout(state, step)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }
}

/// Takes a build user's machine-wide lock, if no other daemon holds it.
fn machine_lock(user: BuildUser) -> Option<std::fs::File> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
    let _ = std::fs::DirBuilder::new().mode(0o700).create(BUILD_LOCKS);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
        .open(format!("{BUILD_LOCKS}/build-{}.lock", user.uid))
        .ok()?;
    fs2::FileExt::try_lock_exclusive(&file).ok()?;
    Some(file)
}
