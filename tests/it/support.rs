//! Test harness: sandboxes, running the binary, building trees from the
//! vectors' text form, and snapshots of a store's files.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Path of the binary under test.
pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rockstore")
}

/// A temporary HOME, store and scratch space; removed when dropped.
pub struct Sandbox {
    pub tmp: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let tmp = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir(tmp.path().join("home")).expect("home");
        let s = Sandbox { tmp };
        for v in ["5.1", "5.2", "5.3", "5.4"] {
            s.system_config(v, "");
        }
        s
    }

    /// Writes the sandbox's system config for Lua `version`: LuaRocks'
    /// two default trees, the system one inside the sandbox instead of
    /// /usr/local (so no test, ours or the oracle's, reads or writes the
    /// machine's), then `extra` (which may set `rocks_trees` again).
    pub fn system_config(&self, version: &str, extra: &str) {
        let etc = self.tmp.path().join("etc-luarocks");
        std::fs::create_dir_all(&etc).expect("etc");
        std::fs::write(
            etc.join(format!("config-{version}.lua")),
            format!(
                "rocks_trees = {{\n   {{ name = \"user\", root = [[{home}/.luarocks]] }},\n   {{ name = \"system\", root = [[{system}]] }},\n}}\n{extra}",
                home = self.tmp.path().join("home").display(),
                system = self.tmp.path().join("system").display(),
            ),
        )
        .expect("system config");
    }

    pub fn store(&self) -> PathBuf {
        self.tmp.path().join("store")
    }

    /// A fresh directory under the sandbox.
    pub fn dir(&self, name: &str) -> PathBuf {
        let path = self.tmp.path().join(name);
        std::fs::create_dir_all(&path).expect("mkdir");
        path
    }

    /// The binary with a clean environment (HOME in the sandbox) and no
    /// `--store`.
    pub fn bare_cmd(&self) -> Command {
        self.program(bin())
    }

    /// Any program with the sandbox's clean environment.
    pub fn program(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.tmp.path().join("home"))
            // Neither rockstore nor the oracle reads the machine's
            // /etc/luarocks: tests see only the config they write.
            .env("LUAROCKS_SYSCONFDIR", self.tmp.path().join("etc-luarocks"));
        cmd
    }

    /// The binary with a clean environment and `--store` set.
    pub fn cmd<I, S>(&self, args: I) -> Command
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut cmd = self.bare_cmd();
        cmd.arg("--store").arg(self.store()).args(args);
        cmd
    }

    pub fn run<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd(args).output().expect("run rockstore")
    }

    /// Runs, asserts success, returns stdout.
    pub fn ok<I, S>(&self, args: I) -> String
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "rockstore failed:\nstdout: {}\nstderr: {}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// Runs, asserts failure, returns (stdout, stderr).
    pub fn fails<I, S>(&self, args: I) -> (String, String)
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "rockstore should have failed:\nstdout: {}",
            text(&out.stdout)
        );
        (text(&out.stdout), text(&out.stderr))
    }

    /// `store add DIR --name N --version V`, returning the item path.
    pub fn add(&self, dir: &Path, name: &str, version: &str) -> PathBuf {
        let out = self.ok(add_args(dir, name, version));
        PathBuf::from(out.trim())
    }

    /// `store ls` as a list of paths (none while no store was made: `store
    /// ls` refuses a store that is not there).
    pub fn items(&self) -> Vec<String> {
        if !self.store().join("store").is_dir() {
            return Vec::new();
        }
        self.ok(["store", "ls"])
            .lines()
            .map(str::to_owned)
            .collect()
    }
}

/// The arguments of `store add DIR --name N --version V`.
pub fn add_args(dir: &Path, name: &str, version: &str) -> Vec<std::ffi::OsString> {
    let mut args: Vec<std::ffi::OsString> = vec!["store".into(), "add".into(), dir.into()];
    args.extend(["--name", name, "--version", version].map(Into::into));
    args
}

/// What a command said: stdout (where status goes, as with LuaRocks),
/// then stderr (warnings and errors).
pub fn said(out: &Output) -> String {
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Decodes `\n`, `\t`, `\\` and `\xNN` escapes.
pub fn unescape(s: &str) -> Vec<u8> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 1 < bytes.len() {
            match bytes[i + 1] {
                b'n' => out.push(b'\n'),
                b't' => out.push(b'\t'),
                b'\\' => out.push(b'\\'),
                b'x' => {
                    let hex = std::str::from_utf8(&bytes[i + 2..i + 4]).expect("hex");
                    out.push(u8::from_str_radix(hex, 16).expect("hex digit"));
                    i += 2;
                }
                other => panic!("unknown escape \\{}", other as char),
            }
            i += 2;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    out
}

/// A tree described by `input.txt`, plus the references it declares.
pub struct TreeSpec {
    pub lines: Vec<(String, String, Vec<u8>)>,
    pub references: Vec<String>,
}

/// Parses the vectors' text form: `dir P`, `file P [CONTENT]`, `exec P [CONTENT]`,
/// `link P TARGET`, `ref ITEM`; `#` starts a comment line.
pub fn parse_tree_spec(input: &str) -> TreeSpec {
    let mut lines = Vec::new();
    let mut references = Vec::new();
    for line in input
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
    {
        let mut parts = line.splitn(3, ' ');
        let kind = parts.next().expect("kind").to_owned();
        let path = parts.next().expect("path").to_owned();
        let arg = unescape(parts.next().unwrap_or(""));
        if kind == "ref" {
            references.push(path);
        } else {
            lines.push((kind, path, arg));
        }
    }
    TreeSpec { lines, references }
}

/// Creates the tree on disk under `root` (which must exist).
pub fn build_tree(root: &Path, spec: &TreeSpec) {
    for (kind, path, arg) in &spec.lines {
        let full = root.join(path);
        if let Some(parent) = full.parent() {
            std::fs::create_dir_all(parent).expect("parent");
        }
        match kind.as_str() {
            "dir" => std::fs::create_dir_all(&full).expect("dir"),
            "file" | "exec" => {
                std::fs::write(&full, arg).expect("write");
                let mode = if kind == "exec" { 0o755 } else { 0o644 };
                std::fs::set_permissions(&full, std::fs::Permissions::from_mode(mode))
                    .expect("chmod");
            }
            "link" => std::os::unix::fs::symlink(OsStr::from_bytes(arg), &full).expect("symlink"),
            other => panic!("unknown line kind {other}"),
        }
    }
}

/// Every file (not directory) under `root`, relative, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            if entry.path().is_dir() {
                stack.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .expect("under root")
                    .to_owned();
                out.push(rel.display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// Every path under `root` with its kind, mode and size (or link target),
/// sorted: two equal snapshots mean nothing changed.
pub fn snapshot(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    snapshot_into(root, root, &mut out);
    out.sort();
    out
}

fn snapshot_into(root: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let rel = path
            .strip_prefix(root)
            .expect("under root")
            .display()
            .to_string();
        let meta = std::fs::symlink_metadata(&path).expect("stat");
        let mode = meta.permissions().mode() & 0o7777;
        if meta.is_dir() {
            out.push(format!("{rel}/ {mode:o}"));
            snapshot_into(root, &path, out);
        } else if meta.file_type().is_symlink() {
            out.push(format!(
                "{rel} -> {}",
                std::fs::read_link(&path).expect("link").display()
            ));
        } else {
            out.push(format!("{rel} {mode:o} {}", meta.len()));
        }
    }
}

/// Skips locally (loudly) when a precondition is missing; fails under CI.
pub fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("required for this test under CI: {why}");
    }
    let mut err = std::io::stderr();
    let _ = std::io::Write::write_all(&mut err, format!("\n*** SKIPPED: {why} ***\n").as_bytes());
}

/// Whether every program answers `--version` or `-v`; when one does not,
/// [`skip_or_fail`] with its name.
pub fn need(programs: &[&str]) -> bool {
    // With no config and no home: `luarocks --version` loads its config,
    // and the machine's is not the tests' to read.
    let nowhere = tempfile::tempdir().expect("temp dir");
    let answers = |program: &str, flag: &str| {
        Command::new(program)
            .arg(flag)
            .env("LUAROCKS_SYSCONFDIR", nowhere.path().join("etc"))
            .env("HOME", nowhere.path().join("home"))
            .output()
            .is_ok_and(|o| o.status.success())
    };
    for p in programs {
        if !answers(p, "--version") && !answers(p, "-v") {
            skip_or_fail(&format!("{p} is needed for this test"));
            return false;
        }
    }
    true
}

/// The project's source root (fixtures live under `integration/`).
pub fn project_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// `lua5.4` with Debian's LuaRocks modules on its path, or `None` (after
/// [`skip_or_fail`]) when they are not installed.
pub fn luarocks_oracle() -> Option<Command> {
    let has_lua = Command::new("lua5.4")
        .arg("-v")
        .output()
        .is_ok_and(|o| o.status.success());
    let has_luarocks = Path::new("/usr/share/lua/5.4/luarocks/core/vers.lua").exists();
    if !(has_lua && has_luarocks) {
        skip_or_fail("lua5.4 and Debian's luarocks (apt-get install lua5.4 luarocks)");
        return None;
    }
    let mut lua = Command::new("lua5.4");
    // LuaRocks' cfg reads the system config directory too: an empty one,
    // not the machine's /etc/luarocks.
    lua.env(
        "LUAROCKS_SYSCONFDIR",
        std::env::temp_dir().join("rockstore-tests-no-sysconfdir"),
    );
    Some(lua)
}

/// Writes an executable `CC` at `wrapper` that appends each call's
/// arguments to `log`, then runs gcc: tests count compiler invocations.
pub fn logging_cc(wrapper: &Path, log: &Path) {
    std::fs::write(
        wrapper,
        format!(
            "#!/bin/sh\necho \"$@\" >> {}\nexec gcc \"$@\"\n",
            log.display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(wrapper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

/// Debian's `luarocks` script, to run under an interpreter of our choice
/// (`lua5.4 SCRIPT`, as `luarocks-5.4` runs it).
pub fn luarocks_script() -> std::path::PathBuf {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join("luarocks"))
        .find(|p| p.is_file())
        .expect("luarocks on PATH")
}

/// `rockstore --lua-version 5.4` for side "ours", else Debian's
/// `luarocks --lua-version 5.4`: the same command line for both tools.
pub fn ours_or_luarocks(s: &Sandbox, side: &str) -> Command {
    let mut cmd = if side == "ours" {
        s.cmd::<[&str; 0], &str>([])
    } else {
        s.program("luarocks")
    };
    cmd.args(["--lua-version", "5.4"]);
    cmd
}

/// Spawns `cmd` with `ROCKSTORE_FAILPOINT=point`; returns the child once it
/// has said on stderr that it stopped there (the rest of stderr stays
/// readable). The caller kills or waits for it.
#[allow(clippy::zombie_processes)]
pub fn stopped_at_failpoint(
    mut cmd: Command,
    point: &str,
) -> (
    std::process::Child,
    std::io::BufReader<std::process::ChildStderr>,
) {
    use std::io::BufRead;
    cmd.env("ROCKSTORE_FAILPOINT", point);
    let mut child = cmd
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut err = std::io::BufReader::new(child.stderr.take().expect("stderr"));
    let mut line = String::new();
    let name = point.split('@').next().unwrap_or(point);
    loop {
        line.clear();
        let n = err.read_line(&mut line).expect("read stderr");
        if n == 0 {
            let status = child.wait().expect("reap");
            panic!("process ended ({status}) before failpoint {point}");
        }
        if line.contains(&format!("failpoint {name} reached")) {
            return (child, err);
        }
    }
}

/// `rockstore --only-server <repo> --lua-version 5.4 --tree <tree> ARGS`
/// in the sandbox: how the tree tests run a command on one tree.
pub fn on_tree(
    s: &Sandbox,
    repo: &crate::rocks_server::Repo,
    tree: &Path,
    args: &[&str],
) -> Output {
    let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
    cmd.arg("--tree").arg(tree).args(args);
    cmd.output().expect("run rockstore")
}
