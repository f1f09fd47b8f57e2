//! The recipe key: blake3 over everything that decides a build's output,
//! known before fetching or compiling, so a realisation can skip both.
//!
//! Inputs, each written as a length-prefixed field under a fixed label
//! (`rockstore recipe 1` first): the rockspec bytes; the source's identity
//! (URL, md5, tag, branch and module as written — rockspecs on a server are
//! immutable per revision — or the `.src.rock`'s content hash, or for
//! `make` the working directory's content hash, or for a git
//! source without a tag the commit `git ls-remote` reports); the Lua version,
//! LuaJIT flag and a hash of `lua.h`; the arch; when anything is compiled,
//! the compiler binary's hash; every build variable except the per-build
//! directories (`PREFIX`, `LUADIR`, …), which include external dependencies'
//! locations and command-line `VAR=VALUE`; and the dependency items.
//!
//! [`gather`] does the I/O (reading `lua.h` and the compiler, asking the
//! remote for a commit) and fails loudly when it cannot: an input never
//! silently becomes empty. [`key`] is a pure function of what was gathered.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use super::isolation::{self, BuildLimits, NOBODY};
use super::variables::Variables;
use super::BuildError;
use crate::lua_install::LuaInstall;
use crate::rock_id::RockId;
use crate::rockspec::source::Source;
use crate::store::content_hash::RecipeKey;

/// Largest `lua.h` read.
const MAX_HEADER: u64 = 4 << 20;

/// What the I/O part of a key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Gathered {
    /// blake3 hex of `lua.h`, empty when the Lua has no headers.
    pub lua_h: String,
    /// The compiler's identity (`CC` and its binary's hash), when the
    /// build compiles.
    pub compiler: Option<String>,
    /// The commit an untagged git source would check out.
    pub commit: Option<String>,
}

/// As whom the inputs are read.
#[derive(Debug, Clone, Copy)]
pub enum Probe<'a> {
    /// As this process (a build for oneself).
    AsMe,
    /// As `nobody`, with no configuration of root's (the daemon, for a
    /// client): files an unprivileged user could not read are errors.
    Unprivileged {
        /// Limits on `git ls-remote`.
        limits: BuildLimits,
        /// Set when nobody waits any more.
        cancel: &'a AtomicBool,
    },
}

/// Reads what a key needs from outside the request.
pub fn gather(
    rock: &RockId,
    lua: &LuaInstall,
    compiler: Option<&str>,
    source: Option<&Source>,
    probe: Probe<'_>,
) -> Result<Gathered, BuildError> {
    let read_files = || -> Result<(String, Option<String>), BuildError> {
        let lua_h = match &lua.incdir {
            Some(dir) => lua_h_hash(&dir.join("lua.h"))?,
            None => String::new(),
        };
        let compiler = compiler
            .map(|cc| compiler_identity(cc, probe))
            .transpose()?;
        Ok((lua_h, compiler))
    };
    let (lua_h, compiler) = match probe {
        Probe::AsMe => read_files()?,
        Probe::Unprivileged { .. } => {
            isolation::as_user(NOBODY, read_files).map_err(|e| BuildError::Io {
                path: PathBuf::from("/proc/self"),
                source: e,
            })??
        }
    };
    let commit = match source {
        Some(s) if s.protocol.starts_with("git") && s.tag.is_none() => {
            Some(remote_commit(rock, s, probe)?)
        }
        _ => None,
    };
    Ok(Gathered {
        lua_h,
        compiler,
        commit,
    })
}

/// What goes into a rockspec build's key.
pub struct Inputs<'a> {
    /// The rockspec file's bytes.
    pub rockspec_bytes: &'a [u8],
    /// Its source table.
    pub source: &'a Source,
    /// What stands for the sources when not the rockspec's `source`
    /// (`src.rock` or `local.dir`, and a hash).
    pub source_hash: Option<(&'static str, String)>,
    /// The Lua built for.
    pub lua: &'a LuaInstall,
    /// The arch.
    pub arch: &'a str,
    /// Variables after overrides and external dependencies.
    pub variables: &'a Variables,
    /// Items of resolved dependencies.
    pub dependency_items: &'a [String],
    /// What [`gather`] read.
    pub gathered: &'a Gathered,
}

struct KeyWriter(blake3::Hasher);

impl KeyWriter {
    fn field(&mut self, label: &str, value: &[u8]) {
        for part in [label.as_bytes(), value] {
            self.0.update(&(part.len() as u64).to_le_bytes());
            self.0.update(part);
        }
    }
}

/// The key of a rockspec build. Pure.
pub fn key(inputs: &Inputs<'_>) -> RecipeKey {
    let mut w = KeyWriter(blake3::Hasher::new());
    w.field("format", b"rockstore recipe 1");
    w.field("rockspec", inputs.rockspec_bytes);
    match &inputs.source_hash {
        Some((label, hash)) => w.field(label, hash.as_bytes()),
        None => {
            let s = inputs.source;
            w.field("source.url", s.url.as_bytes());
            for (label, value) in [
                ("source.md5", &s.md5),
                ("source.tag", &s.tag),
                ("source.branch", &s.branch),
                ("source.module", &s.module),
            ] {
                w.field(label, value.as_deref().unwrap_or("").as_bytes());
            }
            if let Some(commit) = &inputs.gathered.commit {
                w.field("source.commit", commit.as_bytes());
            }
        }
    }
    let lua = inputs.lua;
    w.field("lua.version", lua.version.as_bytes());
    w.field("lua.luajit", lua.luajit.as_deref().unwrap_or("").as_bytes());
    w.field("lua.h", inputs.gathered.lua_h.as_bytes());
    w.field("arch", inputs.arch.as_bytes());
    if let Some(compiler) = &inputs.gathered.compiler {
        w.field("compiler", compiler.as_bytes());
    }
    for (name, value) in inputs.variables {
        if !matches!(
            name.as_str(),
            "PREFIX" | "LUADIR" | "LIBDIR" | "BINDIR" | "CONFDIR" | "DOCDIR"
        ) {
            w.field(&format!("var.{name}"), value.as_bytes());
        }
    }
    for item in inputs.dependency_items {
        w.field("dependency", item.as_bytes());
    }
    RecipeKey(*w.0.finalize().as_bytes())
}

/// The key of admitting a binary rock: its bytes decide everything.
pub fn binary_rock_key(bytes: &[u8], lua_version: &str) -> RecipeKey {
    let mut w = KeyWriter(blake3::Hasher::new());
    w.field("format", b"rockstore binary rock 1");
    w.field("lua.version", lua_version.as_bytes());
    w.field("rock", blake3::hash(bytes).as_bytes());
    RecipeKey(*w.0.finalize().as_bytes())
}

/// Opens `path` for reading without blocking (a FIFO is refused, not
/// waited on) and only as a regular file of at most `max` bytes.
fn open_regular(path: &Path, max: u64) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    if meta.len() > max {
        return Err(std::io::Error::other(format!("larger than {max} bytes")));
    }
    Ok(file)
}

fn lua_h_hash(path: &Path) -> Result<String, BuildError> {
    let io = |source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = match open_regular(path, MAX_HEADER) {
        Ok(f) => f,
        // No headers: the Lua builds nothing that compiles, and says so
        // where it matters (`require_incdir`).
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(String::new()),
        Err(e) => return Err(io(e)),
    };
    // Asked once per rock a recipe is keyed for.
    static HASHES: crate::file_memo::FileMemo<String> = crate::file_memo::FileMemo::new();
    HASHES
        .get(path, file, |file| {
            let mut hasher = blake3::Hasher::new();
            std::io::copy(&mut file.take(MAX_HEADER), &mut hasher)?;
            Ok(hasher.finalize().to_hex().to_string())
        })
        .map_err(io)
}

/// The compiler's command and a hash of its binary: a compiler upgrade
/// changes the key without running the compiler to ask. For oneself, the
/// hash comes through the probe cache ([`super::probes`]) with the user's
/// `PATH`, and a compiler that cannot be hashed keys as such
/// ([`super::compiler::recipe_identity`]); for a daemon's client, the
/// program is found on the build's own `PATH` and read as `nobody`, and one
/// that cannot be read is an error.
fn compiler_identity(cc: &str, probe: Probe<'_>) -> Result<String, BuildError> {
    use super::compiler::{self, CompilerError};
    let Some(program) = compiler::program_of(cc) else {
        return Ok(String::new());
    };
    match probe {
        Probe::AsMe => Ok(compiler::recipe_identity(
            cc,
            super::probes::program_hash(program),
        )),
        Probe::Unprivileged { .. } => {
            let search = std::ffi::OsStr::new(super::backends::CLEAN_PATH);
            let hash = compiler::resolve(program, Some(search))
                .and_then(|path| remembered_hash(compiler::open(&path)?));
            match hash {
                Ok(_) | Err(CompilerError::NotFound { .. }) => {
                    Ok(compiler::recipe_identity(cc, hash))
                }
                Err(e) => Err(BuildError::Io {
                    path: PathBuf::from(program),
                    source: std::io::Error::other(e),
                }),
            }
        }
    }
}

/// The hash of an opened program, remembered for the life of the process
/// under its path and stamp (a daemon asks for it at every build request;
/// any change of the file changes its stamp).
fn remembered_hash(
    opened: super::compiler::Opened,
) -> Result<[u8; 32], super::compiler::CompilerError> {
    use std::collections::HashMap;
    use std::sync::{Mutex, OnceLock};
    type Key = (PathBuf, u64, u64, u64, (i64, i64), (i64, i64));
    static SEEN: OnceLock<Mutex<HashMap<Key, [u8; 32]>>> = OnceLock::new();
    let st = opened.stamp;
    let key = (
        opened.path.clone(),
        st.dev,
        st.ino,
        st.size,
        st.mtime,
        st.ctime,
    );
    let seen = SEEN.get_or_init(Default::default);
    if let Some(hash) = seen.lock().ok().and_then(|m| m.get(&key).copied()) {
        return Ok(hash);
    }
    let hash = opened.hash()?;
    if let Ok(mut m) = seen.lock() {
        m.insert(key, hash);
    }
    Ok(hash)
}

/// The commit an untagged git source would check out, asked of the remote
/// without cloning. A failure is an error: a key that silently lost its
/// commit could reuse a stale build.
fn remote_commit(rock: &RockId, source: &Source, probe: Probe<'_>) -> Result<String, BuildError> {
    let url = super::source::git_remote(&source.url);
    let reference = source
        .branch
        .as_ref()
        .map_or_else(|| "HEAD".to_owned(), |b| format!("refs/heads/{b}"));
    let args = vec![
        "ls-remote".to_owned(),
        "--".to_owned(),
        url.clone(),
        reference,
    ];
    let failed = |status: String| BuildError::RemoteCommit {
        rock: rock.to_owned(),
        url: url.clone(),
        status,
    };
    let (success, status, stdout) = match probe {
        Probe::AsMe => {
            let out = std::process::Command::new("git")
                .args(&args)
                .env("GIT_TERMINAL_PROMPT", "0")
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| failed(format!("could not start: {e}")))?;
            let mut said = out.stdout.clone();
            said.extend_from_slice(&out.stderr);
            (out.status.success(), out.status.code(), (out.stdout, said))
        }
        Probe::Unprivileged { limits, cancel } => {
            let out = isolation::git_as(NOBODY, &args, Path::new("/"), limits, cancel)
                .map_err(|e| failed(e.to_string()))?;
            (out.success, out.status, (out.output.clone(), out.output))
        }
    };
    let (stdout, said) = stdout;
    let text = String::from_utf8_lossy(&stdout);
    let commit = text
        .split_whitespace()
        .next()
        .filter(|c| c.len() >= 40 && c.chars().all(|ch| ch.is_ascii_hexdigit()));
    match (success, commit) {
        (true, Some(c)) => Ok(c.to_owned()),
        (true, None) => Err(failed("found no such branch".to_owned())),
        (false, _) => Err(failed(format!(
            "exited with {}: {}",
            status.map_or("a signal".to_owned(), |s| format!("status {s}")),
            String::from_utf8_lossy(&said).trim()
        ))),
    }
}
