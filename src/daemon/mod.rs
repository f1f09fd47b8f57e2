//! The store daemon: Nix's multi-user model for one store. The store and
//! its database belong to the daemon's user (root, or a system user); other
//! users never write them. They ask the daemon, over `<root>/daemon.socket`,
//! which knows each caller by `SO_PEERCRED`, builds as a build user with a
//! clean environment, and admits what it built itself.
//!
//! - [`wire`]: frames and messages (store-format/v1/daemon.md).
//! - [`server`]: `rockstore daemon`.
//! - [`client`]: what commands on a daemon store call instead of writing.

pub mod client;
pub mod server;
pub mod wire;

use std::path::{Path, PathBuf};

/// The socket of a store's daemon.
pub fn socket_path(store_root: &Path) -> PathBuf {
    store_root.join("daemon.socket")
}

/// The marker `store init --daemon` writes: its presence makes every
/// other user a client of the daemon.
pub const MARKER: &str = "daemon-store";

/// A user builds run as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BuildUser {
    /// Its uid.
    pub uid: u32,
    /// Its primary gid.
    pub gid: u32,
}

/// Who may use the daemon and as whom it builds.
#[derive(Debug, Clone)]
pub struct DaemonConfig {
    /// Users allowed to connect (`None`: everyone); `@group` names a group.
    pub allowed_users: Option<Vec<String>>,
    /// Users who may do what only an admin may (GC); root always may.
    pub trusted_users: Vec<String>,
    /// The group whose members builds run as.
    pub build_users_group: String,
}

impl Default for DaemonConfig {
    fn default() -> Self {
        DaemonConfig {
            allowed_users: None,
            trusted_users: vec!["root".to_owned()],
            build_users_group: "rockstore-build".to_owned(),
        }
    }
}

/// The name of `uid` in `/etc/passwd`.
pub fn user_name(uid: u32) -> Option<String> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[2].parse() == Ok(uid)).then(|| f[0].to_owned())
    })
}

/// `(uid, gid)` of a user named in `/etc/passwd`.
fn user_ids(name: &str) -> Option<BuildUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[0] == name {
            Some(BuildUser {
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
            })
        } else {
            None
        }
    })
}

/// The members of a group in `/etc/group` (by membership list or primary
/// group), as build users, in the group file's order.
pub fn build_users(group: &str) -> Vec<BuildUser> {
    let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
    let Some((gid, members)) = groups.lines().find_map(|line| {
        let f: Vec<&str> = line.split(':').collect();
        (f.len() > 3 && f[0] == group).then(|| (f[2].to_owned(), f[3].to_owned()))
    }) else {
        return Vec::new();
    };
    let mut users: Vec<BuildUser> = members
        .split(',')
        .filter(|m| !m.is_empty())
        .filter_map(user_ids)
        .collect();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    for line in passwd.lines() {
        let f: Vec<&str> = line.split(':').collect();
        if f.len() > 3 && f[3] == gid {
            if let Some(u) = user_ids(f[0]) {
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
    names.iter().any(|n| {
        n == "*"
            || n == user
            || n.strip_prefix('@').is_some_and(|g| {
                let groups = std::fs::read_to_string("/etc/group").unwrap_or_default();
                groups.lines().any(|line| {
                    let f: Vec<&str> = line.split(':').collect();
                    f.len() > 3
                        && f[0] == g
                        && (f[3].split(',').any(|m| m == user)
                            || user_ids(user).is_some_and(|u| f[2].parse() == Ok(u.gid)))
                })
            })
    }) || (uid == 0 && names.iter().any(|n| n == "root"))
}
