//! What keeps a daemon build from the daemon's rights: the build's
//! directories are handed to a build user before its commands run, and
//! taken back (after every process of that user is killed) before anything
//! is admitted, so no build process can still change an item's bytes.

use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::daemon::BuildUser;

/// How a daemon build's commands run: as `user`, and inside bubblewrap
/// (no network, no IPC or PID sharing, the whole system read-only but
/// `writable`) when it is installed.
#[derive(Debug, Clone)]
pub struct Sandbox {
    /// The build user.
    pub user: BuildUser,
    /// The build's own directories.
    pub writable: Vec<PathBuf>,
    /// `bwrap`, when installed.
    pub bwrap: Option<PathBuf>,
}

impl Sandbox {
    /// A sandbox for `user` writing only `writable`.
    pub fn new(user: BuildUser, writable: Vec<PathBuf>) -> Sandbox {
        let bwrap = ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
            .iter()
            .map(PathBuf::from)
            .find(|p| p.is_file());
        Sandbox {
            user,
            writable,
            bwrap,
        }
    }

    /// What the build log says about it.
    pub fn describe(&self) -> String {
        match &self.bwrap {
            Some(_) => format!(
                "isolation: build user {} in bubblewrap (no network, only the build directories writable)",
                self.user.uid
            ),
            None => format!(
                "isolation: build user {} only (bubblewrap is not installed: the build has the network)",
                self.user.uid
            ),
        }
    }

    /// `bwrap`'s arguments before the command.
    pub fn bwrap_args(&self, cwd: &Path) -> Vec<std::ffi::OsString> {
        let mut args: Vec<std::ffi::OsString> = [
            "--unshare-net",
            "--unshare-ipc",
            "--unshare-pid",
            "--unshare-uts",
            "--die-with-parent",
            "--ro-bind",
            "/",
            "/",
            "--dev",
            "/dev",
            "--proc",
            "/proc",
        ]
        .iter()
        .map(Into::into)
        .collect();
        for dir in &self.writable {
            args.extend(["--bind".into(), dir.into(), dir.into()]);
        }
        args.extend(["--chdir".into(), cwd.into(), "--".into()]);
        args
    }
}

/// Gives `dir` and everything under it to `uid:gid` (links themselves,
/// never what they point at). Run before any process of that user exists
/// in the build, so nothing under `dir` changes while it is walked.
pub fn hand_over(dir: &Path, uid: u32, gid: u32) -> io::Result<()> {
    chown_tree(dir, uid, gid)
}

/// Gives `dir` and everything under it back to this process's user.
pub fn take_back(dir: &Path) -> io::Result<()> {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    chown_tree(dir, uid, gid)
}

fn chown_tree(path: &Path, uid: u32, gid: u32) -> io::Result<()> {
    let meta = std::fs::symlink_metadata(path)?;
    if meta.uid() != uid || meta.gid() != gid {
        std::os::unix::fs::lchown(path, Some(uid), Some(gid))?;
    }
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), uid, gid)?;
        }
    }
    Ok(())
}

/// Kills every process of the build user (`kill -KILL -1` run as that
/// user reaches exactly its own processes), so nothing a build started in
/// the background outlives it.
pub fn end_processes(uid: u32, gid: u32) {
    use std::os::unix::process::CommandExt;
    let _ = std::process::Command::new("kill")
        .args(["-KILL", "-1"])
        .env_clear()
        .env("PATH", super::backends::CLEAN_PATH)
        .uid(uid)
        .gid(gid)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}
