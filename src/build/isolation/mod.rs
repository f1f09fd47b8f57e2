//! What keeps a daemon build from the daemon's rights (store-format/v1/daemon.md,
//! "Builds"):
//!
//! - Every command of a build runs as a leased build user, with an
//!   environment made from the recipe only, inside bubblewrap: no network,
//!   no IPC, its own PIDs, a private `/tmp`, only the system's read-only
//!   directories (`/usr`, `/etc`, the libraries) and the build's own
//!   directory (`/build`). No user's home, no `/run`, no store: no
//!   pathname socket of the daemon or of a member is reachable. The build
//!   directory (0700, the build user's) sits in a parent of root's that
//!   only the build user's group may traverse (0710) and nobody but root
//!   may write, so the build user can neither rename it nor reach anything
//!   beside it (bubblewrap finds its bind source by path, so the parent
//!   cannot be 0700).
//! - Commands of the builds run with supplementary groups dropped, `umask`
//!   as the build user's own directories allow: nothing they create is
//!   reachable by another user.
//! - A command that runs longer than the build's time limit, or says
//!   nothing for longer than its silence limit, or whose client went away,
//!   is ended with every process of the build user.
//! - Nothing of the build directory is trusted afterwards: it is copied
//!   out (descriptor by descriptor, never following a link, never blocking
//!   on a FIFO) into a root-only staging directory, after every process of
//!   the build user has been killed, and only the copy is hashed and
//!   admitted. Nothing is ever chowned back.
//! - The files the daemon reads to compute a recipe key on a client's
//!   behalf (the compiler, headers, external dependencies) are read with
//!   an unprivileged identity ([`as_user`]), so a key can never depend on
//!   a file its client could not read.

use std::ffi::OsString;
use std::io::{self, Read};
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use rustix::fs::{Mode, OFlags};

// `processes` names the build's clean PATH as `super::backends`.
use super::backends;

mod processes;

mod files;

pub use crate::users::{as_user, BuildUser, NOBODY};
pub use files::{give_to, tree_bytes};
pub use processes::end_processes;

/// Whether builds need bubblewrap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SandboxMode {
    /// No bubblewrap, no build (the default).
    Required,
    /// Without bubblewrap, builds run as the build user only, with the
    /// network; only root's config chooses this, and every client is told.
    Relaxed,
}

/// How long a build may take, and what it may use.
#[derive(Debug, Clone, Copy)]
pub struct BuildLimits {
    /// From the lease of a build user to the end of its last command.
    pub timeout: Duration,
    /// Longest stretch a command may run without printing anything.
    pub max_silent: Duration,
    /// Bytes a build may write: each file (`RLIMIT_FSIZE`), its private
    /// `/tmp` (a tmpfs of this size) and its build directory (the sum of
    /// its files, looked at every [`SCRATCH_EVERY`]).
    pub max_disk: u64,
    /// Bytes of data (heap and private mappings) each process of a build
    /// may have (`RLIMIT_DATA`).
    pub max_memory: u64,
    /// Processes the build user may have at once (`RLIMIT_NPROC`).
    pub max_processes: u64,
}

/// The default of [`BuildLimits::max_disk`].
pub const DEFAULT_MAX_DISK: u64 = 4 << 30;
/// The default of [`BuildLimits::max_memory`].
pub const DEFAULT_MAX_MEMORY: u64 = 4 << 30;
/// The default of [`BuildLimits::max_processes`].
pub const DEFAULT_MAX_PROCESSES: u64 = 512;
/// How often a running build's directory is measured.
pub const SCRATCH_EVERY: Duration = Duration::from_secs(1);

impl BuildLimits {
    /// `prlimit` and its arguments that start a command within these
    /// limits (util-linux; this crate forbids the `unsafe` a `pre_exec`
    /// `setrlimit` would need).
    fn prlimit(&self) -> Vec<OsString> {
        vec![
            "/usr/bin/prlimit".into(),
            format!("--fsize={}", self.max_disk).into(),
            format!("--data={}", self.max_memory).into(),
            format!("--nproc={}", self.max_processes).into(),
            "--".into(),
        ]
    }
}

/// Bytes of a command's output kept for its error message.
const OUTPUT_KEPT: usize = 64 * 1024;

/// A leased build user; the lease ends when this is dropped.
pub struct Lease {
    /// The user.
    pub user: BuildUser,
    /// Whatever keeps the lease (the pool's guard).
    pub _held: Box<dyn Send>,
}

/// A daemon build's isolation, as the daemon sets it up per request.
pub struct Isolation<'a> {
    /// bubblewrap, when installed (`Required` refuses to build without).
    pub bwrap: Option<PathBuf>,
    /// Required or relaxed.
    pub mode: SandboxMode,
    /// Time and silence limits.
    pub limits: BuildLimits,
    /// Set when no client waits for the build any more.
    pub cancel: &'a AtomicBool,
    /// Leases a build user (waiting for one, at most the client's share).
    pub lease: &'a (dyn Fn() -> Result<Lease, IsolationError> + Sync),
    /// Bytes the build's output may hold (the room left in the client's
    /// share of the store); none: no limit.
    pub max_output: Option<u64>,
    /// Reserves the output's size in the client's share until the request
    /// ends, so her parallel builds cannot together pass it; refuses when
    /// it does not fit.
    pub reserve_output: Option<&'a (dyn Fn(u64) -> Result<(), IsolationError> + Sync)>,
}

/// Why an isolated build could not run or was stopped.
#[derive(Debug, thiserror::Error)]
pub enum IsolationError {
    /// bubblewrap is required and missing.
    #[error("this daemon builds only in bubblewrap, which is not installed; nothing was built")]
    NoSandbox,
    /// A command ran past the build's time limit.
    #[error("the build ran longer than the daemon allows ({} s) and was stopped", .0.as_secs())]
    TimedOut(Duration),
    /// A command said nothing for too long.
    #[error("the build printed nothing for {} s and was stopped (the daemon's silence limit)", .0.as_secs())]
    Silent(Duration),
    /// Nobody waits for the build any more.
    #[error("the build was stopped: no client waits for it any more")]
    Cancelled,
    /// The build left more than the client's share of the store has room for.
    #[error("the build's output ({}) is more than the room left in your share of the store ({}); nothing was admitted", crate::units::human(*size), crate::units::human(*room))]
    OutputTooLarge {
        /// Bytes of the output.
        size: u64,
        /// Bytes of room.
        room: u64,
    },
    /// The build wrote more than a build may (its directory, a file, or
    /// its `/tmp`).
    #[error("the build wrote more than the daemon allows a build ({}) and was stopped", crate::units::human(*.0))]
    OverLimit(u64),
    /// Every build user is busy and the wait was given up.
    #[error("no build user became free ({0})")]
    Busy(String),
    /// Preparing or cleaning the build's directories failed.
    #[error("cannot prepare the build directory {}", path.display())]
    Io {
        /// The directory.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
}

impl crate::hint::Hint for IsolationError {
    fn hints(&self) -> Vec<String> {
        match self {
            IsolationError::NoSandbox => vec![
                "the admin installs bubblewrap (Debian: apt-get install bubblewrap), or sets rockstore_sandbox = \"relaxed\" in root's config".into(),
            ],
            IsolationError::TimedOut(_) | IsolationError::Silent(_) => vec![
                "the admin sets the limits with `rockstore daemon --build-timeout SECS --build-max-silent SECS` (see `rockstore daemon --help`)".into(),
            ],
            IsolationError::OverLimit(_) => vec![
                "the admin sets the limit with `rockstore daemon --build-max-disk SIZE` (see `rockstore daemon --help`)".into(),
            ],
            _ => Vec::new(),
        }
    }
}

/// Where one running build works, and how its commands run.
pub struct Sandbox<'a> {
    /// The build user.
    pub user: BuildUser,
    /// bubblewrap, or none (relaxed).
    bwrap: Option<PathBuf>,
    /// The build directory on the host.
    host: PathBuf,
    /// A descriptor of it (bound at [`SANDBOX_DIR`]).
    dir: OwnedFd,
    limits: BuildLimits,
    deadline: Instant,
    cancel: &'a AtomicBool,
}

/// Where the build directory appears inside bubblewrap.
pub const SANDBOX_DIR: &str = "/build";

/// The system directories a build sees, read-only: the compilers,
/// headers and libraries an admin installs, nothing a user can write.
/// External dependencies elsewhere (a user's home) are not shown: a daemon
/// builds with what the system provides.
const SYSTEM_DIRS: [&str; 8] = [
    "/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
];

impl<'a> Sandbox<'a> {
    /// A sandbox for `user` working in `host` (a directory the build user
    /// owns, under a parent only root reaches).
    pub fn new(
        isolation: &Isolation<'a>,
        user: BuildUser,
        host: &Path,
    ) -> Result<Sandbox<'a>, IsolationError> {
        let bwrap = match (&isolation.bwrap, isolation.mode) {
            (Some(b), _) => Some(b.clone()),
            (None, SandboxMode::Relaxed) => None,
            (None, SandboxMode::Required) => return Err(IsolationError::NoSandbox),
        };
        let dir = rustix::fs::open(
            host,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| IsolationError::Io {
            path: host.to_path_buf(),
            source: e.into(),
        })?;
        Ok(Sandbox {
            user,
            bwrap,
            host: host.to_path_buf(),
            dir,
            limits: isolation.limits,
            deadline: Instant::now() + isolation.limits.timeout,
            cancel: isolation.cancel,
        })
    }

    /// What the build log says about it.
    pub fn describe(&self) -> String {
        match &self.bwrap {
            Some(_) => format!(
                "isolation: build user {} in bubblewrap (no network, only the build directory writable)",
                self.user.uid
            ),
            None => format!(
                "isolation: build user {} only (the admin chose a relaxed sandbox: the build has the network)",
                self.user.uid
            ),
        }
    }

    /// Where a host path under the build directory appears to commands.
    pub fn view(&self, host: &Path) -> PathBuf {
        match (&self.bwrap, host.strip_prefix(&self.host)) {
            (Some(_), Ok(rel)) => Path::new(SANDBOX_DIR).join(rel),
            _ => host.to_path_buf(),
        }
    }

    /// `program args…` as the build user in `cwd` (a host path under the
    /// build directory), with only `env` (plus `PATH`, `HOME`, `TMPDIR`,
    /// `LANG`). Returns what the command printed.
    pub fn run(
        &self,
        program: &str,
        args: &[String],
        cwd: &Path,
        env: &[(&str, String)],
    ) -> Result<RunOutcome, IsolationError> {
        use std::os::unix::process::CommandExt;
        let inner_cwd = self.view(cwd);
        let mut cmd = match &self.bwrap {
            Some(bwrap) => {
                let mut cmd = Command::new(bwrap);
                cmd.args(self.bwrap_args(&inner_cwd));
                cmd.args(self.limits.prlimit());
                // bwrap binds the directory from its standard input; the
                // command itself reads /dev/null.
                cmd.args(["/bin/sh", "-c", "exec \"$@\" </dev/null", "sh", program]);
                cmd.args(args);
                let dir = self.dir.try_clone().map_err(|e| IsolationError::Io {
                    path: self.host.clone(),
                    source: e,
                })?;
                cmd.stdin(Stdio::from(dir));
                cmd.current_dir("/");
                cmd
            }
            None => {
                let mut limited = self.limits.prlimit();
                let mut cmd = Command::new(limited.remove(0));
                cmd.args(limited)
                    .arg(program)
                    .args(args)
                    .current_dir(cwd)
                    .stdin(Stdio::null());
                cmd
            }
        };
        let home = self.view(&self.host);
        cmd.env_clear()
            .env("PATH", super::backends::CLEAN_PATH)
            .env("HOME", &home)
            .env("TMPDIR", "/tmp")
            .env("LANG", "C")
            .uid(self.user.uid)
            .gid(self.user.gid);
        if self.bwrap.is_none() {
            cmd.env("TMPDIR", &home);
        }
        for (k, v) in env {
            cmd.env(k, v);
        }
        let ran = run_limited(
            cmd,
            self.user,
            Limits {
                deadline: self.deadline,
                timeout: self.limits.timeout,
                max_silent: self.limits.max_silent,
                scratch: Some((self.dir.as_fd(), self.limits.max_disk)),
            },
            self.cancel,
        )?;
        // A file past RLIMIT_FSIZE ends its writer with SIGXFSZ; files
        // written faster than they were measured are measured once more.
        // (A shell that ran the writer exits with 128 + SIGXFSZ.)
        let xfsz = rustix::process::Signal::XFSZ.as_raw();
        let over = ran.signal == Some(xfsz)
            || ran.status == Some(128 + xfsz)
            || tree_bytes(self.dir.as_fd(), self.limits.max_disk)
                .is_ok_and(|n| n > self.limits.max_disk);
        if over {
            return Err(IsolationError::OverLimit(self.limits.max_disk));
        }
        Ok(ran)
    }

    /// bubblewrap's arguments before the command.
    fn bwrap_args(&self, cwd: &Path) -> Vec<OsString> {
        let mut args: Vec<OsString> = [
            "--unshare-all",
            "--die-with-parent",
            "--new-session",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
        ]
        .iter()
        .map(Into::into)
        .collect();
        // A private /tmp of the build's disk limit, not half the RAM.
        args.extend([
            "--size".into(),
            self.limits.max_disk.to_string().into(),
            "--tmpfs".into(),
            "/tmp".into(),
        ]);
        for dir in SYSTEM_DIRS {
            match std::fs::symlink_metadata(dir) {
                Ok(m) if m.file_type().is_symlink() => {
                    if let Ok(target) = std::fs::read_link(dir) {
                        args.extend(["--symlink".into(), target.into(), dir.into()]);
                    }
                }
                Ok(m) if m.is_dir() => args.extend(["--ro-bind".into(), dir.into(), dir.into()]),
                _ => {}
            }
        }
        args.extend([
            "--bind-fd".into(),
            "0".into(),
            SANDBOX_DIR.into(),
            "--chdir".into(),
            cwd.into(),
            "--".into(),
        ]);
        args
    }

    /// Runs `git ARGS` as the build user outside bubblewrap (a clone needs
    /// the network), with none of root's configuration, credentials or
    /// keys: `cwd` is a host directory the build user owns.
    pub fn git(&self, args: &[String], cwd: &Path) -> Result<RunOutcome, IsolationError> {
        git_as(self.user, args, cwd, self.limits, self.cancel)
    }
}

/// What a finished command did.
pub struct RunOutcome {
    /// Its exit code (none: killed by a signal).
    pub status: Option<i32>,
    /// Whether it exited 0.
    pub success: bool,
    /// The last [`OUTPUT_KEPT`] bytes of its output (stdout and stderr).
    pub output: Vec<u8>,
    /// The signal that ended it, if one did.
    pub signal: Option<i32>,
}

struct Limits<'d> {
    deadline: Instant,
    timeout: Duration,
    max_silent: Duration,
    /// A directory whose files may not pass a size, looked at every
    /// [`SCRATCH_EVERY`].
    scratch: Option<(BorrowedFd<'d>, u64)>,
}

/// Runs `git ARGS` as `user` with no configuration but the repository's
/// own, no credential helper, no terminal prompt, no ssh identity, and
/// the build limits. Used for clones and for the commit a recipe key
/// names (`ls-remote`).
pub fn git_as(
    user: BuildUser,
    args: &[String],
    cwd: &Path,
    limits: BuildLimits,
    cancel: &AtomicBool,
) -> Result<RunOutcome, IsolationError> {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new("git");
    cmd.args(args)
        .current_dir(cwd)
        .stdin(Stdio::null())
        .env_clear()
        .env("PATH", super::backends::CLEAN_PATH)
        .env("HOME", "/nonexistent")
        .env("LANG", "C")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_ASKPASS", "/bin/false")
        .env("SSH_ASKPASS", "/bin/false")
        .env(
            "GIT_SSH_COMMAND",
            "ssh -F /dev/null -o BatchMode=yes -o IdentitiesOnly=yes -o IdentityFile=/dev/null",
        )
        .uid(user.uid)
        .gid(user.gid);
    run_limited(
        cmd,
        user,
        Limits {
            deadline: Instant::now() + limits.timeout,
            timeout: limits.timeout,
            max_silent: limits.max_silent,
            scratch: None,
        },
        cancel,
    )
}

/// Spawns `cmd` and waits for it, reading its output, ending every process
/// of `user` if it passes a limit or `cancel` is set.
fn run_limited(
    mut cmd: Command,
    user: BuildUser,
    limits: Limits<'_>,
    cancel: &AtomicBool,
) -> Result<RunOutcome, IsolationError> {
    use rustix::event::{poll, PollFd, PollFlags};
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let program = PathBuf::from(cmd.get_program());
    let spawn_err = |e: io::Error| IsolationError::Io {
        path: program.clone(),
        source: e,
    };
    let mut child = cmd.spawn().map_err(spawn_err)?;
    let as_file = |fd: OwnedFd| std::fs::File::from(fd);
    let mut out = child.stdout.take().map(|s| as_file(s.into()));
    let mut err = child.stderr.take().map(|s| as_file(s.into()));
    let mut kept: Vec<u8> = Vec::new();
    let mut last_output = Instant::now();
    let mut stopped: Option<IsolationError> = None;
    let mut buf = vec![0u8; 16 * 1024];
    let mut measured = Instant::now();
    while out.is_some() || err.is_some() {
        let now = Instant::now();
        if let Some((dir, max)) = limits.scratch {
            if now.duration_since(measured) >= SCRATCH_EVERY {
                measured = now;
                if tree_bytes(dir, max).is_ok_and(|n| n > max) {
                    stopped = Some(IsolationError::OverLimit(max));
                    break;
                }
            }
        }
        if now >= limits.deadline {
            stopped = Some(IsolationError::TimedOut(limits.timeout));
        } else if now.duration_since(last_output) >= limits.max_silent {
            stopped = Some(IsolationError::Silent(limits.max_silent));
        } else if cancel.load(Ordering::SeqCst) {
            stopped = Some(IsolationError::Cancelled);
        }
        if stopped.is_some() {
            break;
        }
        let wait = (limits.deadline - now)
            .min(
                limits
                    .max_silent
                    .saturating_sub(now.duration_since(last_output)),
            )
            .min(Duration::from_millis(200));
        let mut fds = Vec::new();
        if let Some(o) = &out {
            fds.push(PollFd::new(o, PollFlags::IN));
        }
        if let Some(e) = &err {
            fds.push(PollFd::new(e, PollFlags::IN));
        }
        let timeout = rustix::time::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                stopped = Some(IsolationError::Io {
                    path: PathBuf::from("poll"),
                    source: e.into(),
                });
                break;
            }
        }
        let ready: Vec<bool> = fds.iter().map(|f| !f.revents().is_empty()).collect();
        drop(fds);
        let mut i = 0;
        for pipe in [&mut out, &mut err] {
            let Some(p) = pipe.as_mut() else { continue };
            let is_ready = ready.get(i).copied().unwrap_or(false);
            i += 1;
            if !is_ready {
                continue;
            }
            match p.read(&mut buf) {
                Ok(0) => *pipe = None,
                Ok(n) => {
                    last_output = Instant::now();
                    kept.extend_from_slice(&buf[..n]);
                    if kept.len() > OUTPUT_KEPT * 2 {
                        kept.drain(..kept.len() - OUTPUT_KEPT);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => *pipe = None,
            }
        }
    }
    if let Some(reason) = stopped {
        // Our own child first, so that reaping the build user's orphans
        // never takes a pid this `Child` still owns.
        let _ = child.kill();
        let _ = child.wait();
        end_processes(user);
        return Err(reason);
    }
    let status = child.wait().map_err(spawn_err)?;
    if kept.len() > OUTPUT_KEPT {
        kept.drain(..kept.len() - OUTPUT_KEPT);
    }
    Ok(RunOutcome {
        status: status.code(),
        success: status.success(),
        output: kept,
        signal: std::os::unix::process::ExitStatusExt::signal(&status),
    })
}

/// Finds bubblewrap where a distribution installs it.
pub fn find_bwrap() -> Option<PathBuf> {
    ["/usr/bin/bwrap", "/usr/local/bin/bwrap", "/bin/bwrap"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}
