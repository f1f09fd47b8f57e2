//! Users and ids as this host knows them: the build users builds and
//! reads run as ([`BuildUser`], [`NOBODY`]), reading files with a user's
//! rights ([`as_user`]), and names and groups from `/etc/passwd` and
//! `/etc/group`. A leaf: the builder, the store, GC and the daemon all use
//! it, so none of them reaches into another for an id.

use std::io;

/// A user builds run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct BuildUser {
    /// Its uid.
    pub uid: u32,
    /// The gid its processes run with.
    pub gid: u32,
}

/// The identity recipe-key inputs are read with (`nobody`).
pub const NOBODY: BuildUser = BuildUser {
    uid: 65534,
    gid: 65534,
};

/// A line of `/etc/passwd` or `/etc/group`, split.
pub(crate) fn records(file: &str) -> Vec<Vec<String>> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .map(|l| l.split(':').map(str::to_owned).collect::<Vec<_>>())
        .filter(|f| f.len() > 3)
        .collect()
}

/// The name of `uid` in `/etc/passwd`.
pub fn user_name(uid: u32) -> Option<String> {
    records("/etc/passwd")
        .into_iter()
        .find(|f| f[2].parse() == Ok(uid))
        .map(|f| f[0].clone())
}

/// The primary gid of `uid` in `/etc/passwd`.
pub fn primary_gid(uid: u32) -> Option<u32> {
    records("/etc/passwd")
        .into_iter()
        .find(|f| f[2].parse() == Ok(uid))
        .and_then(|f| f[3].parse().ok())
}

/// Runs `f` with this thread's effective uid, gid and groups set to
/// `user`'s, then restores them: the kernel checks every open and stat
/// in `f` against `user`'s rights. Only for reading files: `f` must not
/// spawn a process (a child would keep a saved uid of root). A process
/// that is not root runs `f` as it is.
pub fn as_user<T>(user: BuildUser, f: impl FnOnce() -> T) -> io::Result<T> {
    use rustix::process::{Gid, Uid};
    use rustix::thread::{set_thread_groups, set_thread_res_gid, set_thread_res_uid};
    if !rustix::process::geteuid().is_root() {
        return Ok(f());
    }
    let groups = rustix::process::getgroups()?;
    let egid = rustix::process::getegid();
    set_thread_groups(&[])?;
    let dropped = set_thread_res_gid(None, Gid::from_raw(user.gid), None)
        .and_then(|()| set_thread_res_uid(None, Uid::from_raw(user.uid), None));
    struct Restore {
        groups: Vec<Gid>,
        egid: Gid,
    }
    impl Drop for Restore {
        fn drop(&mut self) {
            // The saved uid is still 0, so these cannot fail; if they did,
            // this thread must not go on with another identity.
            let ok = set_thread_res_uid(None, Uid::ROOT, None)
                .and_then(|()| set_thread_res_gid(None, self.egid, None))
                .and_then(|()| set_thread_groups(&self.groups));
            if ok.is_err() {
                std::process::abort();
            }
        }
    }
    let restore = Restore { groups, egid };
    dropped?;
    let value = f();
    drop(restore);
    Ok(value)
}
