//! Finding a Lua installation to build for: interpreter, headers and
//! library, for Lua 5.1–5.4 and LuaJIT, as LuaRocks' `--lua-version`,
//! `--lua-dir` and `LUA_*` variables choose it. The version decides the
//! ABI a C module is built for, so it is part of every recipe key.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Lua versions whose rocks trees we know (`rocks-5.x`, `share/lua/5.x`).
pub const KNOWN_VERSIONS: [&str; 4] = ["5.4", "5.3", "5.2", "5.1"];

/// A Lua installation could not be found or does not fit.
#[derive(Debug, thiserror::Error)]
pub enum LuaInstallError {
    /// `--lua-version` that is not x.y.
    #[error("invalid Lua version `{0}` (expected one of 5.1, 5.2, 5.3, 5.4)")]
    BadVersion(String),
    /// No interpreter for the version.
    #[error("no Lua {version} interpreter found (looked for {} on PATH{})", names.join(", "), dir.as_ref().map(|d| format!(" and in {}", d.display())).unwrap_or_default())]
    NoInterpreter {
        /// The version wanted.
        version: String,
        /// Names tried.
        names: Vec<String>,
        /// `--lua-dir`, if given.
        dir: Option<PathBuf>,
    },
    /// A `lua.h` is there but cannot be read as a header (a FIFO, a
    /// directory, no permission): never taken as "no headers here".
    #[error("cannot read {}: {reason}; fix or remove it, or pass LUA_INCDIR=DIR", path.display())]
    UnreadableHeader {
        /// The `lua.h`.
        path: PathBuf,
        /// Why it cannot be read.
        reason: String,
    },
    /// `lua.h` for the version is missing (only needed to compile C).
    #[error("cannot find lua.h for Lua {version} (needed to compile C modules); searched:\n{}\nInstall Lua's headers (Debian: liblua{version}-dev), or pass LUA_INCDIR=DIR, or --lua-dir PREFIX", searched.iter().map(|d| format!("  {}", d.display())).collect::<Vec<_>>().join("\n"))]
    NoHeaders {
        /// The version wanted.
        version: String,
        /// Directories searched.
        searched: Vec<PathBuf>,
    },
}

/// One Lua installation.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LuaInstall {
    /// `5.1` … `5.4` (LuaJIT is `5.1`).
    pub version: String,
    /// LuaJIT's version when this is LuaJIT.
    pub luajit: Option<String>,
    /// The interpreter (`LUA`).
    pub interpreter: Option<PathBuf>,
    /// The prefix (`LUA_DIR`).
    pub dir: Option<PathBuf>,
    /// Directory holding `lua.h` (`LUA_INCDIR`).
    pub incdir: Option<PathBuf>,
    /// Prefixes searched for headers and the library.
    pub prefixes: Vec<PathBuf>,
    /// Where headers were searched for (for the error when they are missing).
    pub searched_incdirs: Vec<PathBuf>,
}

impl LuaInstall {
    /// Finds Lua `version` (default: the one Debian's `luarocks` runs
    /// under, else the newest interpreter on PATH), under `lua_dir` when
    /// given.
    pub fn detect(
        version: Option<&str>,
        lua_dir: Option<&Path>,
    ) -> Result<LuaInstall, LuaInstallError> {
        let debian = (version.is_none() && lua_dir.is_none())
            .then(debian_default)
            .flatten();
        let version = version.or(debian);
        if let Some(v) = version {
            if !KNOWN_VERSIONS.contains(&v) {
                return Err(LuaInstallError::BadVersion(v.to_owned()));
            }
        }
        let wanted: Vec<&str> = version.map_or(KNOWN_VERSIONS.to_vec(), |v| vec![v]);
        for v in &wanted {
            if let Some(found) = find_interpreter(v, lua_dir) {
                return Ok(LuaInstall::around(v, Some(found), lua_dir));
            }
        }
        // LuaJIT stands in for 5.1.
        if wanted.contains(&"5.1") {
            if let Some(jit) = search(&["luajit".to_owned()], lua_dir) {
                let mut install = LuaInstall::around("5.1", Some(jit), lua_dir);
                install.luajit = Some("2.1".to_owned());
                return Ok(install);
            }
        }
        match (version, lua_dir) {
            // Building pure-Lua rocks needs no interpreter; headers are
            // looked for under the usual prefixes.
            (Some(v), None) => Ok(LuaInstall::around(v, None, None)),
            _ => Err(LuaInstallError::NoInterpreter {
                version: version.unwrap_or("5.x").to_owned(),
                names: interpreter_names(version.unwrap_or("5.4")),
                dir: lua_dir.map(Path::to_path_buf),
            }),
        }
    }

    fn around(version: &str, interpreter: Option<PathBuf>, lua_dir: Option<&Path>) -> LuaInstall {
        let dir = lua_dir.map(Path::to_path_buf).or_else(|| {
            interpreter
                .as_deref()
                .and_then(|i| i.parent()?.parent().map(Path::to_path_buf))
        });
        let mut prefixes: Vec<PathBuf> = dir.iter().cloned().collect();
        for p in ["/usr/local", "/usr"] {
            if !prefixes.iter().any(|d| d == Path::new(p)) {
                prefixes.push(PathBuf::from(p));
            }
        }
        let compact = version.replace('.', "");
        let mut searched = Vec::new();
        for prefix in &prefixes {
            for sub in [
                format!("include/lua/{version}"),
                format!("include/lua{version}"),
                format!("include/lua-{version}"),
                format!("include/lua{compact}"),
                "include".to_owned(),
                String::new(),
                "include/luajit-2.1".to_owned(),
            ] {
                searched.push(if sub.is_empty() {
                    prefix.clone()
                } else {
                    prefix.join(sub)
                });
            }
        }
        // The first directory whose lua.h declares this version; a lua.h
        // that is there but cannot be read stops the search too, so the
        // build that needs it fails naming it instead of quietly taking
        // another installation's headers.
        let incdir = searched
            .iter()
            .find(|d| match header_version(d) {
                Ok(found) => found.as_deref() == Some(version),
                Err(_) => true,
            })
            .cloned();
        LuaInstall {
            version: version.to_owned(),
            luajit: None,
            interpreter,
            dir,
            incdir,
            prefixes,
            searched_incdirs: searched,
        }
    }

    /// The rocks the VM itself provides (LuaRocks' `get_rocks_provided`):
    /// `lua`, plus `bit32` on 5.2, `utf8` on 5.3+, `luabitop`/`luajit` on
    /// LuaJIT. They are never installed.
    pub fn rocks_provided(&self) -> Vec<(String, String)> {
        provided_for(&self.version, self.luajit.as_deref())
    }

    /// The Lua library's directory and file name (`LUA_LIBDIR`, `LUALIB`).
    /// Looked up only when asked: the multiarch directory comes from
    /// `gcc -print-multiarch`, a process that commands which never build
    /// (`path`, `list`, `rollback`) should not start.
    pub fn library(&self) -> (Option<PathBuf>, Option<String>) {
        find_library(&self.version, &self.prefixes)
    }

    /// Checks that `incdir` (the `LUA_INCDIR` a build will use: detected,
    /// or set by config or `LUA_INCDIR=`) holds a `lua.h`; else the error
    /// names every directory searched.
    pub fn require_incdir(&self, incdir: &str) -> Result<(), LuaInstallError> {
        if !incdir.is_empty() {
            let header = Path::new(incdir).join("lua.h");
            match header_version(Path::new(incdir)) {
                Ok(_) if header.is_file() => return Ok(()),
                Ok(_) => {}
                Err(e) => {
                    return Err(LuaInstallError::UnreadableHeader {
                        path: header,
                        reason: e.to_string(),
                    })
                }
            }
        }
        let mut searched = self.searched_incdirs.clone();
        if !incdir.is_empty() && !searched.iter().any(|d| d == Path::new(incdir)) {
            searched.insert(0, PathBuf::from(incdir));
        }
        Err(LuaInstallError::NoHeaders {
            version: self.version.clone(),
            searched,
        })
    }
}

/// [`LuaInstall::rocks_provided`] for a version (and LuaJIT version).
pub fn provided_for(version: &str, luajit: Option<&str>) -> Vec<(String, String)> {
    let mut out = vec![("lua".to_owned(), format!("{version}-1"))];
    match version {
        "5.2" => out.push(("bit32".to_owned(), format!("{version}-1"))),
        "5.3" | "5.4" => out.push(("utf8".to_owned(), format!("{version}-1"))),
        _ => {}
    }
    if let Some(jit) = luajit {
        out.push(("luabitop".to_owned(), format!("{jit}-1")));
        out.push(("luajit".to_owned(), format!("{jit}-1")));
    }
    out
}

fn interpreter_names(version: &str) -> Vec<String> {
    let compact = version.replace('.', "");
    vec![
        format!("lua{version}"),
        format!("lua{compact}"),
        format!("lua-{version}"),
        "lua".to_owned(),
    ]
}

fn find_interpreter(version: &str, lua_dir: Option<&Path>) -> Option<PathBuf> {
    for name in interpreter_names(version) {
        if let Some(path) = search(std::slice::from_ref(&name), lua_dir) {
            if name != "lua" || interpreter_version(&path).as_deref() == Some(version) {
                return Some(path);
            }
        }
    }
    None
}

/// The first of `names` in `lua_dir/bin` (when given) or on PATH.
fn search(names: &[String], lua_dir: Option<&Path>) -> Option<PathBuf> {
    let dirs: Vec<PathBuf> = match lua_dir {
        Some(d) => vec![d.join("bin"), d.to_path_buf()],
        None => std::env::split_paths(&crate::env_vars::process_path()?).collect(),
    };
    names.iter().find_map(|name| {
        dirs.iter().map(|d| d.join(name)).find(|p| {
            std::fs::metadata(p).is_ok_and(|m| {
                m.is_file()
                    && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
            })
        })
    })
}

/// The Lua Debian's `luarocks` runs under, and so its default Lua
/// version: its `#!/usr/bin/env lua-any` picks the first installed of
/// `/usr/bin/lua5.1` … `lua5.4` (its `Lua-Versions` line). None off Debian.
fn debian_default() -> Option<&'static str> {
    if !Path::new("/usr/bin/lua-any").exists() {
        return None;
    }
    ["5.1", "5.2", "5.3", "5.4"].into_iter().find(|v| {
        std::fs::metadata(format!("/usr/bin/lua{v}")).is_ok_and(|m| {
            m.is_file() && std::os::unix::fs::PermissionsExt::mode(&m.permissions()) & 0o111 != 0
        })
    })
}

/// Asks a plain `lua` which version it is.
fn interpreter_version(path: &Path) -> Option<String> {
    let out = Command::new(path)
        .args(["-e", "io.write(_VERSION:sub(5))"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The version a `lua.h` in `dir` declares (`LUA_VERSION_NUM 504` → `5.4`);
/// `Ok(None)` when there is no `lua.h` or it declares none. It is opened
/// without blocking and read only as a regular file of bounded size, so a
/// FIFO or a device named `lua.h` is an error, never a hang.
pub fn header_version(dir: &Path) -> std::io::Result<Option<String>> {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    const MAX_HEADER: u64 = 1 << 20;
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::NONBLOCK.bits() as i32)
        .open(dir.join("lua.h"))
    {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    // Asked once per rock an install builds or finds built.
    static VERSIONS: crate::file_memo::FileMemo<Option<String>> = crate::file_memo::FileMemo::new();
    VERSIONS.get(&dir.join("lua.h"), file, |file| {
        let mut bytes = Vec::new();
        file.take(MAX_HEADER).read_to_end(&mut bytes)?;
        let text = String::from_utf8_lossy(&bytes);
        let Some(line) = text.lines().find(|l| l.contains("#define LUA_VERSION_NUM")) else {
            return Ok(None);
        };
        let num: Option<u32> = line.split_whitespace().nth(2).and_then(|n| {
            n.trim_end_matches(|c: char| !c.is_ascii_digit())
                .parse()
                .ok()
        });
        Ok(num.map(|num| format!("{}.{}", num / 100, num % 100)))
    })
}

/// Debian's multiarch triplet (`x86_64-linux-gnu`): what `gcc
/// -print-multiarch` answers, asked once per gcc binary and kept in the
/// probe cache ([`crate::toolchain::probes`]), so warm commands spawn nothing.
pub fn multiarch() -> Option<&'static str> {
    static TRIPLET: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    TRIPLET
        .get_or_init(|| {
            let answer = crate::toolchain::probes::answer("gcc", "multiarch", |gcc| {
                let out = Command::new(gcc)
                    .arg("-print-multiarch")
                    .stdin(std::process::Stdio::null())
                    .output()
                    .ok()?;
                let t = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                (out.status.success() && !t.is_empty()).then(|| t.into_bytes())
            })?;
            String::from_utf8(answer).ok()
        })
        .as_deref()
}

/// Library subdirectories of a prefix, as LuaRocks' Linux defaults.
pub fn lib_subdirs() -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = multiarch() {
        out.push(format!("lib/{t}"));
    }
    out.extend(["lib64".to_owned(), "lib".to_owned()]);
    out
}

fn find_library(version: &str, prefixes: &[PathBuf]) -> (Option<PathBuf>, Option<String>) {
    let compact = version.replace('.', "");
    let names = [
        format!("lua{version}"),
        format!("lua{compact}"),
        format!("lua-{version}"),
        format!("lua-{compact}"),
        "lua".to_owned(),
    ];
    for prefix in prefixes {
        for sub in lib_subdirs() {
            let dir = prefix.join(sub);
            for name in &names {
                for ext in ["so", "a"] {
                    let file = format!("lib{name}.{ext}");
                    if dir.join(&file).exists() {
                        return (Some(dir), Some(file));
                    }
                }
            }
        }
    }
    (None, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_version_reads_lua_version_num() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::write(tmp.path().join("lua.h"), "#define LUA_VERSION_NUM\t\t504\n")
            .expect("write");
        assert_eq!(
            header_version(tmp.path()).expect("readable").as_deref(),
            Some("5.4")
        );
        assert!(LuaInstall::detect(Some("6.0"), None).is_err());
    }
}
