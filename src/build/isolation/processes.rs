//! Ending a build user's processes: every one of them is killed after
//! each build (and after a command that ran too long), and the ones
//! reparented to the daemon are waited for, so no zombie of a build user
//! is left behind.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::BuildUser;

/// Kills every process of the build user (`kill -KILL -1` run as that
/// user reaches exactly its own processes), so nothing a build started in
/// the background outlives it.
pub fn end_processes(user: BuildUser) {
    use std::os::unix::process::CommandExt;
    adopt_orphans();
    let _ = Command::new("kill")
        .args(["-KILL", "-1"])
        .env_clear()
        .env("PATH", super::backends::CLEAN_PATH)
        .uid(user.uid)
        .gid(user.gid)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    reap_orphans_of(user.uid);
}

/// Makes this process the subreaper of everything it starts: a process a
/// build left behind is reparented here when its parent dies, not to the
/// machine's init (which, in a container, may never wait for it and keeps
/// it as a zombie of the build user for good).
fn adopt_orphans() {
    static ADOPTED: std::sync::Once = std::sync::Once::new();
    ADOPTED.call_once(|| {
        let _ = rustix::process::set_child_subreaper(Some(rustix::process::getpid()));
    });
}

/// Waits for the killed processes of `uid` that were reparented to us, so
/// none is left as a zombie; gives up after a few seconds on a process
/// that is not ours to wait for. Only called when `uid`'s lease is held,
/// so no `Child` handle of ours owns one of these pids.
fn reap_orphans_of(uid: u32) {
    use rustix::process::{waitpid, Pid, WaitOptions};
    let me = std::process::id();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut left = false;
        for (pid, ppid, zombie) in processes_of(uid) {
            if zombie && ppid == me {
                if let Some(pid) = Pid::from_raw(pid as i32) {
                    let _ = waitpid(Some(pid), WaitOptions::NOHANG);
                }
            } else {
                left = true;
            }
        }
        if !left || Instant::now() >= deadline {
            return;
        }
        // The kernel is still tearing a killed process down.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// (pid, parent pid, is a zombie) of every process whose owner is `uid`.
fn processes_of(uid: u32) -> Vec<(u32, u32, bool)> {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if entry.metadata().ok().map(|m| m.uid()) != Some(uid) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let mut fields = rest.split_whitespace();
        let state = fields.next().unwrap_or("");
        let ppid = fields.next().and_then(|p| p.parse().ok()).unwrap_or(0);
        found.push((pid, ppid, state == "Z"));
    }
    found
}
