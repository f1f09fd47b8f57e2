//! The store daemon: Nix's multi-user model for one store. The store and
//! its database belong to the daemon's user (root); other users never
//! write them. They ask the daemon, over `<root>/daemon.socket`, which
//! knows each caller by `SO_PEERCRED` before it reads a byte from it,
//! never opens a path or descriptor a client names, builds as a leased
//! build user in bubblewrap with time, silence and share limits, and
//! admits only what it copied out of the build's reach itself.
//!
//! - [`wire`]: frames and messages (store-format/v1/daemon.md).
//! - [`server`]: `rockstore daemon`.
//! - [`client`]: the store backend of a daemon's client: the only place
//!   that knows the socket.

pub mod client;
pub mod failure;
pub mod server;
pub mod wire;

use std::time::Duration;

pub use crate::build::isolation::{BuildLimits, SandboxMode};
pub use crate::store::daemon_store::{socket_path, MARKER};
use crate::users::records;
pub use crate::users::{primary_gid, user_name, BuildUser};

/// How many bytes a member's trees alone may keep in the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Quota {
    /// No limit.
    None,
    /// A number of bytes.
    Bytes(u64),
    /// A percentage of the store's file system.
    Percent(u8),
}

impl Quota {
    /// Parses `"10G"`, `"512M"`, `"25%"`, `"none"` or a plain byte count.
    pub fn parse(text: &str) -> Option<Quota> {
        let t = text.trim();
        if t.eq_ignore_ascii_case("none") {
            return Some(Quota::None);
        }
        if let Some(p) = t.strip_suffix('%') {
            return p
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= 100)
                .map(Quota::Percent);
        }
        crate::units::parse_size(t).map(Quota::Bytes)
    }
}

/// Who may use the daemon, as whom it builds, and its limits. Every field
/// is a setting of root's config or a flag of `rockstore daemon` (its
/// `--help` shows the defaults).
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Users allowed to connect (`None`: everyone); `@group` names a group.
    pub allowed_users: Option<Vec<String>>,
    /// Users who may do what only an admin may (GC, realisations); root
    /// always may.
    pub trusted_users: Vec<String>,
    /// The group whose members builds run as.
    pub build_users_group: String,
    /// Whether a build needs bubblewrap.
    pub sandbox: SandboxMode,
    /// Time and silence limits of a build.
    pub limits: BuildLimits,
    /// Build users one user may hold at once (`None`: all but one, at
    /// least one, so another user always finds one).
    pub max_builds_per_user: Option<usize>,
    /// What a member's trees alone may keep in the store.
    pub user_quota: Quota,
    /// Connections open at once, in all.
    pub max_connections: usize,
    /// Connections open at once by one user.
    pub max_connections_per_user: usize,
    /// Binary caches builds are substituted from (`rockstore_substituters`).
    pub substituters: Vec<String>,
    /// Keys whose realisations are trusted (`rockstore_trusted_public_keys`).
    pub trusted_public_keys: Vec<String>,
    /// A cache every new build is pushed to, signed with `secret_key_files`.
    pub push_to: Option<String>,
    /// Secret keys realisations pushed are signed with.
    pub secret_key_files: Vec<std::path::PathBuf>,
    /// How long a cache may take.
    pub cache_timeouts: crate::cache::transport::Timeouts,
    /// Credentials for S3 caches.
    pub s3: Option<crate::cache::transport::S3Credentials>,
    /// How fast requests must arrive and how much of them is held.
    pub requests: RequestLimits,
    /// Longest a member's `hold` lasts before the daemon ends it.
    pub max_hold: Duration,
}

/// How fast a request must arrive, and how many payload bytes the daemon
/// holds for uploads at once (store-format/v1/daemon.md, "Frames").
#[derive(Debug, Clone, Copy)]
pub struct RequestLimits {
    /// Time every request has, whatever its size.
    pub grace: Duration,
    /// Bytes a second a whole request must at least arrive at.
    pub min_rate: u64,
    /// Payload bytes held in memory for all requests at once.
    pub upload_budget: u64,
    /// Of those, what one user's requests may hold at once.
    pub upload_share: u64,
}

/// The default grace period of a request.
pub const DEFAULT_REQUEST_GRACE: Duration = Duration::from_secs(30);
/// The default minimum rate of a request, in bytes a second.
pub const DEFAULT_REQUEST_MIN_RATE: u64 = 1 << 20;
/// The default payload budget.
pub const DEFAULT_UPLOAD_BUDGET: u64 = 512 << 20;
/// The default longest member's hold: the build time limit, so an honest
/// install that builds is never cut.
pub const DEFAULT_MAX_HOLD: Duration = DEFAULT_BUILD_TIMEOUT;

impl Default for RequestLimits {
    fn default() -> Self {
        RequestLimits {
            grace: DEFAULT_REQUEST_GRACE,
            min_rate: DEFAULT_REQUEST_MIN_RATE,
            upload_budget: DEFAULT_UPLOAD_BUDGET,
            upload_share: DEFAULT_UPLOAD_BUDGET / 4,
        }
    }
}

/// The default time limit of a build.
pub const DEFAULT_BUILD_TIMEOUT: Duration = Duration::from_secs(3600);
/// The default silence limit of a build.
pub const DEFAULT_BUILD_MAX_SILENT: Duration = Duration::from_secs(600);

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            allowed_users: None,
            trusted_users: vec!["root".to_owned()],
            build_users_group: "rockstore-build".to_owned(),
            sandbox: SandboxMode::Required,
            limits: BuildLimits {
                timeout: DEFAULT_BUILD_TIMEOUT,
                max_silent: DEFAULT_BUILD_MAX_SILENT,
                max_disk: crate::build::isolation::DEFAULT_MAX_DISK,
                max_memory: crate::build::isolation::DEFAULT_MAX_MEMORY,
                max_processes: crate::build::isolation::DEFAULT_MAX_PROCESSES,
            },
            max_builds_per_user: None,
            user_quota: Quota::Percent(25),
            max_connections: 256,
            max_connections_per_user: 16,
            substituters: Vec::new(),
            trusted_public_keys: Vec::new(),
            push_to: None,
            secret_key_files: Vec::new(),
            cache_timeouts: Default::default(),
            s3: None,
            requests: RequestLimits::default(),
            max_hold: DEFAULT_MAX_HOLD,
        }
    }
}

/// `(uid, primary gid)` of a user named in `/etc/passwd`.
fn user_ids(name: &str) -> Option<BuildUser> {
    records("/etc/passwd").into_iter().find_map(|f| {
        (f[0] == name).then(|| {
            Some(BuildUser {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        })?
    })
}

/// The members of a group in `/etc/group` (by membership list or primary
/// group), as build users, in the group file's order. Root never is one.
pub fn build_users(group: &str) -> Vec<BuildUser> {
    let Some((gid, members)) = records("/etc/group")
        .into_iter()
        .find(|f| f[0] == group)
        .map(|f| (f[2].clone(), f[3].clone()))
    else {
        return Vec::new();
    };
    let mut users: Vec<BuildUser> = members
        .split(',')
        .filter(|m| !m.is_empty())
        .filter_map(user_ids)
        .collect();
    for f in records("/etc/passwd") {
        if f[3] == gid {
            if let Some(u) = user_ids(&f[0]) {
                if !users.contains(&u) {
                    users.push(u);
                }
            }
        }
    }
    users.retain(|u| u.uid != 0);
    users
}

/// Whether `user` is among `names` (a name, `*`, or `@group`).
pub fn listed(names: &[String], user: &str, uid: u32) -> bool {
    let groups = records("/etc/group");
    let primary = user_ids(user).map(|u| u.gid);
    names.iter().any(|n| {
        n == "*"
            || n == user
            || n.strip_prefix('@').is_some_and(|g| {
                groups.iter().any(|f| {
                    f[0] == g
                        && (f[3].split(',').any(|m| m == user) || f[2].parse().ok() == primary)
                })
            })
    }) || (uid == 0 && names.iter().any(|n| n == "root"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_parse_as_admins_write_them() {
        assert_eq!(Quota::parse("none"), Some(Quota::None));
        assert_eq!(Quota::parse("25%"), Some(Quota::Percent(25)));
        assert_eq!(Quota::parse("10G"), Some(Quota::Bytes(10 << 30)));
        assert_eq!(Quota::parse("512 MB"), Some(Quota::Bytes(512 << 20)));
        assert_eq!(Quota::parse("4096"), Some(Quota::Bytes(4096)));
        assert_eq!(Quota::parse("101%"), None);
        assert_eq!(Quota::parse("ten"), None);
    }
}
