//! Rockspecs this process already evaluated, by the blake3 of their bytes
//! and the platforms applied: an install reads each rockspec when it
//! plans, again when it builds (or finds the build), and again for the
//! licence it announces; evaluating the same bytes in the Lua sandbox
//! three times was over a third of a warm install's instructions
//! (callgrind). Evaluation is pure (the sandbox has no I/O and fixed
//! limits), and the file's name only ever appears in errors, so the
//! same bytes give the same rockspec: only successes are kept, and a
//! rockspec that fails is evaluated (and named) each time. Bounded, so a
//! long-running daemon does not grow with every rockspec it meets.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use super::{Platforms, Rockspec};

/// Kept at most; past it the memo starts again (an install holds far
/// fewer rockspecs than this).
const CAPACITY: usize = 512;

type Memo = HashMap<[u8; 32], Vec<(Platforms, Rockspec)>>;

fn memo() -> &'static Mutex<Memo> {
    static MEMO: OnceLock<Mutex<Memo>> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// The rockspec `bytes` evaluated to under `platforms`, if this process
/// evaluated them before.
pub(super) fn get(bytes: &[u8], platforms: &Platforms) -> Option<Rockspec> {
    let key = *blake3::hash(bytes).as_bytes();
    let memo = memo().lock().ok()?;
    memo.get(&key)?
        .iter()
        .find(|(p, _)| p == platforms)
        .map(|(_, r)| r.clone())
}

/// Keeps what `bytes` evaluated to under `platforms`.
pub(super) fn put(bytes: &[u8], platforms: &Platforms, rockspec: &Rockspec) {
    let key = *blake3::hash(bytes).as_bytes();
    let Ok(mut memo) = memo().lock() else {
        return;
    };
    if memo.len() >= CAPACITY {
        memo.clear();
    }
    let entry = memo.entry(key).or_default();
    if !entry.iter().any(|(p, _)| p == platforms) {
        entry.push((platforms.clone(), rockspec.clone()));
    }
}
