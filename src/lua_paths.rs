//! The search paths `rockstore path` prints, computed as LuaRocks 3.8's
//! `path` command computes them, so `eval "$(rockstore path)"` sets what
//! `eval "$(luarocks path)"` sets, byte for byte.
//!
//! LuaRocks puts the trees' paths next to the `package.path` of the
//! interpreter it runs under, then removes duplicates with
//! `util.cleanup_path`, which also rewrites every `/lua/5.x/` to the
//! target version. Debian's `luarocks` runs under the oldest interpreter
//! installed (`lua-any`, usually 5.1), so `luarocks --lua-version 5.4 path`
//! lists 5.1's defaults renamed, which is not what `lua5.4` searches (it
//! has `./?.lua` first and lacks `./?/init.lua`). We ask the target
//! version's own interpreter, as Debian's `luarocks-5.4` (which runs under
//! `lua5.4`) does.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The default `package.path` and `package.cpath` of an interpreter, with
/// `LUA_PATH`/`LUA_CPATH` (and their `_5_x` forms) applied, as it reports
/// them; `None` when it cannot be run. `lua_env` is every `LUA_*`
/// variable: with them, the interpreter's bytes decide the answer, so it
/// is asked once and kept in the probe cache ([`crate::toolchain::probes`]);
/// with a `LUA_INIT*` set (code that may read anything), it is asked
/// every time.
pub fn interpreter_paths(
    interpreter: &Path,
    lua_env: &[(std::ffi::OsString, std::ffi::OsString)],
) -> Option<(String, String)> {
    use std::os::unix::ffi::OsStrExt;
    let ask = |lua: &Path| -> Option<Vec<u8>> {
        let out = Command::new(lua)
            .args(["-e", "io.write(package.path, '\\n', package.cpath)"])
            .stdin(std::process::Stdio::null())
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    };
    let init = lua_env
        .iter()
        .any(|(k, _)| k.as_bytes().starts_with(b"LUA_INIT"));
    let answer = if init {
        ask(interpreter)?
    } else {
        let mut key = blake3::Hasher::new();
        for (k, v) in lua_env {
            for part in [k.as_bytes(), v.as_bytes()] {
                key.update(&(part.len() as u64).to_le_bytes());
                key.update(part);
            }
        }
        let name = format!("paths-{}", &key.finalize().to_hex()[..16]);
        let program = interpreter.to_str()?;
        crate::toolchain::probes::answer(program, &name, ask)?
    };
    let text = String::from_utf8(answer).ok()?;
    let (path, cpath) = text.split_once('\n')?;
    Some((path.to_owned(), cpath.to_owned()))
}

/// LuaRocks' `util.cleanup_path`: splits `list` at `sep`, squeezes `//`,
/// rewrites `/lua/X/` to `/lua/<lua_version>/` where X is another
/// version, and drops repeated entries, keeping the first of each when
/// `keep_first`, else the last.
pub fn cleanup_path(list: &str, sep: char, lua_version: Option<&str>, keep_first: bool) -> String {
    let parts: Vec<&str> = list.split(sep).collect();
    let mut kept: Vec<String> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut take = |part: &str, kept: &mut Vec<String>, front: bool| {
        let mut part = part.replace("//", "/");
        if let Some(v) = lua_version {
            part = rewrite_versions(&part, v);
        }
        if seen.insert(part.clone()) {
            if front {
                kept.insert(0, part);
            } else {
                kept.push(part);
            }
        }
    };
    if keep_first {
        for p in &parts {
            take(p, &mut kept, false);
        }
    } else {
        for p in parts.iter().rev() {
            take(p, &mut kept, true);
        }
    }
    kept.join(&sep.to_string())
}

/// `part:gsub("/lua/([%d.]+)/", …)`: each `/lua/<digits and dots>/` whose
/// version does not start with `lua_version` becomes `/lua/<lua_version>/`.
fn rewrite_versions(part: &str, lua_version: &str) -> String {
    const LEAD: &str = "/lua/";
    let mut out = String::with_capacity(part.len());
    let mut rest = part;
    while let Some(at) = rest.find(LEAD) {
        let after = &rest[at + LEAD.len()..];
        let run = after
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(after.len());
        if run > 0 && after[run..].starts_with('/') {
            let version = &after[..run];
            out.push_str(&rest[..at]);
            if version.starts_with(lua_version) {
                out.push_str(&rest[at..at + LEAD.len() + run + 1]);
            } else {
                out.push_str(LEAD);
                out.push_str(lua_version);
                out.push('/');
            }
            rest = &after[run + 1..];
        } else {
            // Lua's gsub moves on by one character after a failed match.
            out.push_str(&rest[..at + 1]);
            rest = &rest[at + 1..];
        }
    }
    out.push_str(rest);
    out
}

/// Which list `path` prints alone (`--lr-path`, `--lr-cpath`, `--lr-bin`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnlyList {
    /// `--lr-path`.
    LuaPath,
    /// `--lr-cpath`.
    LuaCpath,
    /// `--lr-bin`.
    Bin,
}

/// What `path` was asked for.
#[derive(Debug, Clone, Default)]
pub struct PathRequest {
    /// One list, not shell commands.
    pub only: Option<OnlyList>,
    /// `--append`: after the existing paths instead of before.
    pub append: bool,
    /// `--full` (LuaRocks 3.13): an `--lr-*` list includes the interpreter's
    /// paths (or PATH) too.
    pub full: bool,
    /// `--no-bin`.
    pub no_bin: bool,
}

/// Everything `path` reads besides the request.
#[derive(Debug, Clone)]
pub struct PathInputs<'a> {
    /// The tree the flags chose, if any (LuaRocks' `args.tree`), then every
    /// configured tree, in order; repeats are fine.
    pub roots: Vec<PathBuf>,
    /// The configured trees alone (`rocks_trees`), which LuaRocks' loader
    /// adds to the interpreter's paths when `luarocks` starts.
    pub configured: Vec<PathBuf>,
    /// `5.x`.
    pub lua_version: &'a str,
    /// The target interpreter's `package.path` and `package.cpath`.
    pub interpreter: Option<(String, String)>,
    /// `PATH`.
    pub env_path: String,
    /// Whether `LUA_PATH_5_x` and `LUA_CPATH_5_x` are set: LuaRocks then
    /// exports those names instead.
    pub versioned_vars: (bool, bool),
}

/// LuaRocks' `cfg.package_paths`: each tree's Lua path, C path and
/// `bin/`, joined.
fn package_paths(roots: &[PathBuf], v: &str) -> (String, String, String) {
    let mut lua_path = Vec::new();
    let mut lua_cpath = Vec::new();
    let mut bin = Vec::new();
    for r in roots {
        let r = r.display();
        lua_path.push(format!("{r}/share/lua/{v}/?.lua"));
        lua_path.push(format!("{r}/share/lua/{v}/?/init.lua"));
        lua_cpath.push(format!("{r}/lib/lua/{v}/?.so"));
        bin.push(format!("{r}/bin"));
    }
    (lua_path.join(";"), lua_cpath.join(";"), bin.join(":"))
}

/// The lines `path` prints.
pub fn path_lines(req: &PathRequest, inputs: &PathInputs) -> Vec<String> {
    let v = inputs.lua_version;
    let (mut lua_path, mut lua_cpath, mut bin) = package_paths(&inputs.roots, v);
    // `luarocks.loader` (which the `luarocks` script loads first) appends
    // the configured trees to the interpreter's paths; `path` then puts
    // the trees around those.
    let interpreter = inputs.interpreter.as_ref().map(|(ipath, icpath)| {
        let (tpath, tcpath, _) = package_paths(&inputs.configured, v);
        (
            cleanup_path(&format!("{ipath};{tpath}"), ';', Some(v), true),
            cleanup_path(&format!("{icpath};{tcpath}"), ';', Some(v), true),
        )
    });
    let full = req.only.is_none() || req.full;
    if full {
        let clean_path = cleanup_path(&inputs.env_path, ':', None, true);
        if req.append {
            bin = format!("{clean_path}:{bin}");
        } else {
            bin = format!("{bin}:{clean_path}");
        }
        if let Some((ipath, icpath)) = &interpreter {
            if req.append {
                lua_path = format!("{ipath};{lua_path}");
                lua_cpath = format!("{icpath};{lua_cpath}");
            } else {
                lua_path = format!("{lua_path};{ipath}");
                lua_cpath = format!("{lua_cpath};{icpath}");
            }
        }
    }
    // Without an interpreter to ask, `;;` stands for Lua's own default
    // (LuaRocks always has one: it runs under it).
    let lua_list = |list: &str, keep_first: bool| {
        let clean = cleanup_path(list, ';', Some(v), keep_first);
        match (&interpreter, full, req.append) {
            (None, true, false) => format!("{clean};;"),
            (None, true, true) => format!(";;{clean}"),
            _ => clean,
        }
    };
    match req.only {
        Some(OnlyList::LuaPath) => vec![lua_list(&lua_path, true)],
        Some(OnlyList::LuaCpath) => vec![lua_list(&lua_cpath, true)],
        Some(OnlyList::Bin) => vec![cleanup_path(&bin, ':', None, true)],
        None => {
            let suffix = v.replace('.', "_");
            let name = |base: &str, set: bool| {
                if set && v != "5.1" {
                    format!("{base}_{suffix}")
                } else {
                    base.to_owned()
                }
            };
            let mut lines = vec![
                format!(
                    "export {}='{}'",
                    name("LUA_PATH", inputs.versioned_vars.0),
                    lua_list(&lua_path, req.append)
                ),
                format!(
                    "export {}='{}'",
                    name("LUA_CPATH", inputs.versioned_vars.1),
                    lua_list(&lua_cpath, req.append)
                ),
            ];
            if !req.no_bin {
                lines.push(format!(
                    "export PATH='{}'",
                    cleanup_path(&bin, ':', None, req.append)
                ));
            }
            lines
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cleanup_keeps_the_first_or_the_last_of_repeats() {
        assert_eq!(cleanup_path("a;b;a;c", ';', None, true), "a;b;c");
        assert_eq!(cleanup_path("a;b;a;c", ';', None, false), "b;a;c");
        assert_eq!(cleanup_path("a//b;;", ';', None, true), "a/b;");
    }

    #[test]
    fn cleanup_renames_other_versions() {
        assert_eq!(
            cleanup_path(
                "/usr/local/share/lua/5.1/?.lua;/x/lua/5.4/?.lua;/y/lua/5.4.6/?.lua;/z/lua/5/?.lua",
                ';',
                Some("5.4"),
                true
            ),
            "/usr/local/share/lua/5.4/?.lua;/x/lua/5.4/?.lua;/y/lua/5.4.6/?.lua;/z/lua/5.4/?.lua"
        );
        // Not a version: left alone; the match after a failed one is found.
        assert_eq!(
            rewrite_versions("/lua/x/lua/5.1/", "5.4"),
            "/lua/x/lua/5.4/"
        );
        assert_eq!(
            rewrite_versions("/lua/5.1/lua/5.1/", "5.4"),
            "/lua/5.4/lua/5.1/"
        );
    }

    fn inputs(interpreter: Option<(&str, &str)>) -> PathInputs<'static> {
        PathInputs {
            roots: vec!["/t".into(), "/h".into(), "/t".into()],
            configured: vec!["/h".into(), "/t".into()],
            lua_version: "5.4",
            interpreter: interpreter.map(|(a, b)| (a.to_owned(), b.to_owned())),
            env_path: "/bin:/t/bin:/bin".to_owned(),
            versioned_vars: (true, false),
        }
    }

    #[test]
    fn shell_lines_follow_luarocks() {
        let lines = path_lines(
            &PathRequest::default(),
            &inputs(Some(("/i/?.lua;./?.lua", "/i/?.so"))),
        );
        assert_eq!(
            lines,
            [
                "export LUA_PATH_5_4='/i/?.lua;./?.lua;/h/share/lua/5.4/?.lua;/h/share/lua/5.4/?/init.lua;/t/share/lua/5.4/?.lua;/t/share/lua/5.4/?/init.lua'",
                "export LUA_CPATH='/i/?.so;/h/lib/lua/5.4/?.so;/t/lib/lua/5.4/?.so'",
                // PATH named /t/bin already: its place there wins.
                "export PATH='/h/bin:/bin:/t/bin'",
            ]
        );
        let append = PathRequest {
            append: true,
            ..PathRequest::default()
        };
        assert_eq!(
            path_lines(&append, &inputs(Some(("/i/?.lua", "/i/?.so"))))[0],
            // The loader put the configured trees after the interpreter's
            // paths, in their order: the chosen tree does not come first.
            "export LUA_PATH_5_4='/i/?.lua;/h/share/lua/5.4/?.lua;/h/share/lua/5.4/?/init.lua;/t/share/lua/5.4/?.lua;/t/share/lua/5.4/?/init.lua'"
        );
    }

    #[test]
    fn without_an_interpreter_lua_keeps_its_default() {
        let lines = path_lines(&PathRequest::default(), &inputs(None));
        assert_eq!(
            lines[1],
            "export LUA_CPATH='/h/lib/lua/5.4/?.so;/t/lib/lua/5.4/?.so;;'"
        );
    }

    #[test]
    fn one_list_alone() {
        let req = PathRequest {
            only: Some(OnlyList::Bin),
            ..PathRequest::default()
        };
        assert_eq!(path_lines(&req, &inputs(None)), ["/t/bin:/h/bin"]);
        let full = PathRequest { full: true, ..req };
        assert_eq!(path_lines(&full, &inputs(None)), ["/t/bin:/h/bin:/bin"]);
    }
}
