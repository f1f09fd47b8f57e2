//! What "a consistent tree" means after a kill or a full disk, checked by
//! every reader a user has: rockstore's `list`, Debian's `luarocks list`,
//! the tree manifest itself, and `lua5.4` loading every module the
//! manifest names; plus nothing left over (no temporary name, no marker,
//! no dangling link of ours, no rock directory the listing lacks).
//!
//! Shared by the crash tests (`crash_edges`) and the crash benchmark
//! (`benches/crash.rs`, which includes this file).

use std::path::Path;

use crate::support::{text, Sandbox};

/// The Lua version every check is for.
const V: &str = "5.4";

/// Checks `tree` (Lua 5.4); returns its rocks (`name version`, sorted) or
/// what disagrees. Pure readers only: the leftovers are checked before
/// rockstore's `list` runs, since `list` finishes an interrupted switch.
pub fn check(s: &Sandbox, tree: &Path) -> Result<Vec<String>, String> {
    let strays = leftovers(tree);
    if !strays.is_empty() {
        return Err(format!("left over in the tree: {strays:?}"));
    }
    let manifest = manifest_rocks(s, tree)?;
    let luarocks = luarocks_list(s, tree)?;
    if luarocks != manifest.rocks {
        return Err(format!(
            "luarocks list {luarocks:?} but the manifest {:?}",
            manifest.rocks
        ));
    }
    let dirs = rock_dirs(tree);
    if dirs != manifest.rocks {
        return Err(format!(
            "rock directories {dirs:?} but the manifest {:?}",
            manifest.rocks
        ));
    }
    let dangling = dangling_links(tree);
    if !dangling.is_empty() {
        return Err(format!("dangling links: {dangling:?}"));
    }
    let failed = unloadable(s, tree, &manifest.modules)?;
    if !failed.is_empty() {
        return Err(format!(
            "modules the manifest lists do not load: {failed:?}"
        ));
    }
    let ours = rockstore_list(s, tree)?;
    if ours != manifest.rocks {
        return Err(format!(
            "rockstore list {ours:?} but the manifest {:?}",
            manifest.rocks
        ));
    }
    Ok(ours)
}

/// Temporary names (`.<name>.rockstore-<pid>` and the earlier forms) and
/// markers anywhere in the tree.
pub fn leftovers(tree: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let rel = entry
                .path()
                .strip_prefix(tree)
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            let temp = (name.starts_with('.') && name.contains(".rockstore-"))
                || name.starts_with(".adopt")
                || name.ends_with(".tmp")
                || name.contains(".tmp-");
            let marker = matches!(
                rel.as_str(),
                ".rockstore/switching" | ".rockstore/adopting" | ".rockstore/releasing"
            );
            if temp || marker {
                out.push(rel);
            } else if entry.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(entry.path());
            }
        }
    }
    out.sort();
    out
}

/// The tree manifest's rocks and modules.
pub struct Manifest {
    /// `name version`, sorted.
    pub rocks: Vec<String>,
    /// Module names, sorted.
    pub modules: Vec<String>,
}

/// Reads `lib/luarocks/rocks-5.4/manifest` with `lua5.4`, as LuaRocks
/// does (a missing one lists nothing).
pub fn manifest_rocks(s: &Sandbox, tree: &Path) -> Result<Manifest, String> {
    let path = tree.join(format!("lib/luarocks/rocks-{V}/manifest"));
    if !path.exists() {
        return Ok(Manifest {
            rocks: Vec::new(),
            modules: Vec::new(),
        });
    }
    let code = "local env = {} \
        local f = assert(loadfile(os.getenv('MANIFEST'), 't', env)) f() \
        for n, vs in pairs(env.repository or {}) do for v in pairs(vs) do print('rock ' .. n .. ' ' .. v) end end \
        for m in pairs(env.modules or {}) do print('module ' .. m) end";
    let out = s
        .program(format!("lua{V}"))
        .args(["-e", code])
        .env("MANIFEST", &path)
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("the manifest does not load: {}", text(&out.stderr)));
    }
    let mut rocks = Vec::new();
    let mut modules = Vec::new();
    for line in text(&out.stdout).lines() {
        if let Some(r) = line.strip_prefix("rock ") {
            rocks.push(r.to_owned());
        } else if let Some(m) = line.strip_prefix("module ") {
            modules.push(m.to_owned());
        }
    }
    rocks.sort();
    modules.sort();
    Ok(Manifest { rocks, modules })
}

fn porcelain(out: &std::process::Output, who: &str) -> Result<Vec<String>, String> {
    if !out.status.success() {
        return Err(format!("{who} list failed: {}", text(&out.stderr)));
    }
    let mut rocks: Vec<String> = text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect();
    rocks.sort();
    Ok(rocks)
}

/// Debian's `luarocks list --porcelain`.
pub fn luarocks_list(s: &Sandbox, tree: &Path) -> Result<Vec<String>, String> {
    let out = s
        .program("luarocks")
        .args(["--lua-version", V, "--tree"])
        .arg(tree)
        .args(["list", "--porcelain"])
        .output()
        .map_err(|e| e.to_string())?;
    porcelain(&out, "luarocks")
}

/// `rockstore list --porcelain`.
pub fn rockstore_list(s: &Sandbox, tree: &Path) -> Result<Vec<String>, String> {
    let out = s
        .cmd(["--lua-version", V, "--tree"])
        .arg(tree)
        .args(["list", "--porcelain"])
        .output()
        .map_err(|e| e.to_string())?;
    porcelain(&out, "rockstore")
}

/// `name version` of every `rocks-5.4/<name>/<version>` entry.
fn rock_dirs(tree: &Path) -> Vec<String> {
    let rocks = tree.join(format!("lib/luarocks/rocks-{V}"));
    let mut out = Vec::new();
    for name in std::fs::read_dir(&rocks).into_iter().flatten().flatten() {
        if !name.path().is_dir() {
            continue;
        }
        for version in std::fs::read_dir(name.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            out.push(format!(
                "{} {}",
                name.file_name().to_string_lossy(),
                version.file_name().to_string_lossy()
            ));
        }
    }
    out.sort();
    out
}

/// Links in the places LuaRocks reads that lead nowhere.
fn dangling_links(tree: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack: Vec<_> = [
        format!("share/lua/{V}"),
        format!("lib/lua/{V}"),
        format!("lib/luarocks/rocks-{V}"),
        "bin".to_owned(),
    ]
    .into_iter()
    .map(|d| tree.join(d))
    .collect();
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_symlink() {
                if std::fs::metadata(&path).is_err() {
                    out.push(path.display().to_string());
                }
            } else if kind.is_dir() {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The modules of `modules` that `require` fails on, with the tree's
/// paths first.
fn unloadable(s: &Sandbox, tree: &Path, modules: &[String]) -> Result<Vec<String>, String> {
    if modules.is_empty() {
        return Ok(Vec::new());
    }
    let t = tree.display();
    let mut code = format!(
        "package.path = '{t}/share/lua/{V}/?.lua;{t}/share/lua/{V}/?/init.lua;' .. package.path \
         package.cpath = '{t}/lib/lua/{V}/?.so;' .. package.cpath "
    );
    for m in modules {
        code.push_str(&format!(
            "do local ok, e = pcall(require, '{m}') if not ok then print('{m}') end end "
        ));
    }
    let out = s
        .program(format!("lua{V}"))
        .args(["-e", &code])
        .output()
        .map_err(|e| e.to_string())?;
    if !out.status.success() {
        return Err(format!("lua{V}: {}", text(&out.stderr)));
    }
    Ok(text(&out.stdout).lines().map(str::to_owned).collect())
}
