//! Getting a rock's sources into a build directory: download (or take from
//! a `.src.rock`), check `source.md5`, unpack, or clone a git repository;
//! then find `source.dir` as LuaRocks does. Also the 3.0 autodetection of
//! `build.modules` when a builtin rockspec lists none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::backends::run;
use super::rock_manifest::md5_hex;
use super::BuildError;
use crate::archive;
use crate::fetch::{Fetcher, Freshness};
use crate::rockspec::build::{CModule, Module};
use crate::rockspec::source::{is_basic_protocol, Source};
use crate::rockspec::Rockspec;

/// Puts the sources under `work` and returns the directory to build in.
pub fn obtain(
    fetcher: &Fetcher,
    rockspec: &Rockspec,
    src_rock: Option<&Path>,
    work: &Path,
) -> Result<PathBuf, BuildError> {
    let source = &rockspec.source;
    let unpack_dir = work.join("source");
    std::fs::create_dir_all(&unpack_dir).map_err(|e| io(&unpack_dir, e))?;
    if !is_basic_protocol(&source.protocol) {
        if let Some(src_rock) = src_rock {
            // A .src.rock of an SCM source carries the checked-out tree.
            return locate_dir(src_rock, source, "the .src.rock", None);
        }
        if !source.protocol.starts_with("git") {
            return Err(BuildError::Rockspec(format!(
                "Unknown protocol {} (rockstore fetches http, https, file and git sources)",
                source.protocol
            )));
        }
        git_clone(source, &unpack_dir)?;
        return locate_dir(&unpack_dir, source, &source.url, None);
    }
    let file = source
        .file
        .clone()
        .unwrap_or_else(|| crate::rockspec::source::base_name(&source.url).to_owned());
    let bytes = match src_rock {
        Some(dir) => std::fs::read(dir.join(&file)).map_err(|e| io(&dir.join(&file), e))?,
        None => fetcher.fetch(&source_url(source), Freshness::Immutable)?,
    };
    if let Some(expected) = &source.md5 {
        let actual = md5_hex(&bytes);
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(BuildError::Md5 {
                file,
                expected: expected.clone(),
                actual,
            });
        }
    }
    if archive::Kind::of(&file).is_some() {
        let dir = Dir::open_ambient_dir(&unpack_dir, ambient_authority())
            .map_err(|e| io(&unpack_dir, e))?;
        archive::unpack(&bytes, &file, &dir, archive::Limits::DEFAULT)?;
    } else {
        let name = crate::rockspec::source::base_name(&file);
        if name.is_empty() || name == "." || name == ".." {
            return Err(BuildError::Rockspec(format!(
                "unusable source file name `{file}`"
            )));
        }
        std::fs::write(unpack_dir.join(name), &bytes).map_err(|e| io(&unpack_dir, e))?;
    }
    locate_dir(
        &unpack_dir,
        source,
        &file,
        Some(rockspec.format.at_least_3()),
    )
}

/// The URL to download `source.url` from: a bare path (protocol `file`
/// without `file://`) is used as a path.
pub fn source_url(source: &Source) -> String {
    if source.protocol == "file" && !source.url.starts_with("file://") {
        source.pathname.clone()
    } else {
        source.url.clone()
    }
}

fn io(path: &Path, source: std::io::Error) -> BuildError {
    BuildError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// `source.dir` inside `root`; when it is missing, was not written in the
/// rockspec and the format is 3.0+, the single directory there (LuaRocks'
/// fallback).
fn locate_dir(
    root: &Path,
    source: &Source,
    what: &str,
    format_3: Option<bool>,
) -> Result<PathBuf, BuildError> {
    let wanted = root.join(&source.dir);
    if wanted.is_dir() {
        return Ok(wanted);
    }
    if !source.dir_given && format_3 != Some(false) {
        let entries: Vec<_> = std::fs::read_dir(root)
            .map_err(|e| io(root, e))?
            .flatten()
            .collect();
        if entries.len() == 1 && entries[0].path().is_dir() {
            return Ok(entries[0].path());
        }
    }
    Err(BuildError::SourceDir {
        dir: source.dir.clone(),
        file: what.to_owned(),
    })
}

/// The repository URL git is given: `git+https://x` → `https://x`,
/// `git+file:///x` → `file:///x`, `git://` unchanged (github's rewritten to
/// https as LuaRocks does).
fn git_url(source: &Source) -> String {
    let url = &source.url;
    if let Some(rest) = url.strip_prefix("git+") {
        return rest.to_owned();
    }
    if let Some(rest) = url.strip_prefix("git://github.com/") {
        return format!("https://github.com/{rest}");
    }
    url.clone()
}

/// A shallow clone at `tag` or `branch` into `dest/<source.dir>`.
fn git_clone(source: &Source, dest: &Path) -> Result<(), BuildError> {
    let mut args = vec![
        "clone".to_owned(),
        "--depth=1".to_owned(),
        "--quiet".to_owned(),
    ];
    if let Some(r) = source.tag.as_ref().or(source.branch.as_ref()) {
        args.extend(["--branch".to_owned(), r.clone()]);
    }
    args.push(git_url(source));
    args.push(source.dir.clone());
    run(
        &format!("Failed cloning {}", source.url),
        "git",
        &args,
        dest,
        &[("GIT_TERMINAL_PROMPT", "0".to_owned())],
    )
}

/// The commit a git source without a tag would check out, asked of the
/// remote without cloning, so an untagged (scm) source that moved gets a
/// new recipe key.
pub fn git_remote_commit(source: &Source) -> Option<String> {
    let reference = source
        .branch
        .as_ref()
        .map_or_else(|| "HEAD".to_owned(), |b| format!("refs/heads/{b}"));
    let out = Command::new("git")
        .args(["ls-remote", &git_url(source), &reference])
        .env("GIT_TERMINAL_PROMPT", "0")
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace().next().map(str::to_owned)
}

/// LuaRocks 3.0's `builtin` autodetection: Lua files under the first of
/// `src/`, `lua/`, `lib/` (or the top directory) become modules named by
/// their path, C files modules named by their path.
pub fn autodetect_modules(src: &Path) -> BTreeMap<String, Module> {
    let base = ["src", "lua", "lib"]
        .iter()
        .map(|d| src.join(d))
        .find(|d| d.is_dir());
    let (root, prefix) = match &base {
        Some(b) => (
            b.clone(),
            b.strip_prefix(src)
                .map(Path::to_path_buf)
                .unwrap_or_default(),
        ),
        None => (src.to_path_buf(), PathBuf::new()),
    };
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(root.join(&rel)) else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let child = rel.join(&name);
            if entry.path().is_dir() {
                let skip = rel.as_os_str().is_empty()
                    && matches!(name.as_str(), "spec" | ".luarocks" | "lua_modules" | "bin");
                if !skip {
                    stack.push(child);
                }
                continue;
            }
            if rel.as_os_str().is_empty() && matches!(name.as_str(), "test.lua" | "tests.lua") {
                continue;
            }
            let Some((stem, ext)) = child
                .to_string_lossy()
                .rsplit_once('.')
                .map(|(a, b)| (a.to_owned(), b.to_owned()))
            else {
                continue;
            };
            let module = stem.replace('/', ".");
            let file = prefix.join(&child).to_string_lossy().into_owned();
            match ext.as_str() {
                "lua" => {
                    let module = module.strip_suffix(".init").unwrap_or(&module).to_owned();
                    out.insert(module, Module::Lua(file));
                }
                "c" => {
                    out.insert(
                        module,
                        Module::C(CModule {
                            sources: vec![file],
                            ..CModule::default()
                        }),
                    );
                }
                _ => {}
            }
        }
    }
    out
}

/// Version-control and build-tool directories a working tree carries that
/// are not sources.
const NOT_SOURCES: [&str; 3] = [".git", ".hg", ".svn"];

/// The entries of a working directory, recursively, sorted, without
/// [`NOT_SOURCES`] at its top.
fn local_entries(dir: &Path) -> std::io::Result<Vec<(PathBuf, std::fs::FileType)>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(dir.join(&rel))? {
            let entry = entry?;
            let name = entry.file_name();
            if rel.as_os_str().is_empty() && NOT_SOURCES.iter().any(|n| name == *n) {
                continue;
            }
            let child = rel.join(&name);
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(child.clone());
            }
            out.push((child, kind));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// A content hash of a working directory (`make`): every path, file
/// content, executable bit and link target, so any edit changes it.
pub fn tree_hash(dir: &Path) -> Result<String, BuildError> {
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::PermissionsExt;
    let mut hasher = blake3::Hasher::new();
    for (rel, kind) in local_entries(dir).map_err(|e| io(dir, e))? {
        let path = dir.join(&rel);
        hasher.update(rel.as_os_str().as_bytes());
        hasher.update(b"\0");
        if kind.is_symlink() {
            let target = std::fs::read_link(&path).map_err(|e| io(&path, e))?;
            hasher.update(b"l");
            hasher.update(target.as_os_str().as_bytes());
        } else if kind.is_file() {
            let meta = std::fs::metadata(&path).map_err(|e| io(&path, e))?;
            let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
            hasher.update(if meta.permissions().mode() & 0o100 != 0 {
                b"x"
            } else {
                b"f"
            });
            hasher.update(blake3::hash(&bytes).as_bytes());
        } else {
            hasher.update(b"d");
        }
        hasher.update(b"\0");
    }
    Ok(hasher.finalize().to_hex().to_string())
}

/// Copies a working directory to `dest` to build there, so a build never
/// writes into the user's tree.
pub fn copy_local(dir: &Path, dest: &Path) -> Result<PathBuf, BuildError> {
    std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    for (rel, kind) in local_entries(dir).map_err(|e| io(dir, e))? {
        let (from, to) = (dir.join(&rel), dest.join(&rel));
        if kind.is_dir() {
            std::fs::create_dir_all(&to).map_err(|e| io(&to, e))?;
        } else if kind.is_symlink() {
            let target = std::fs::read_link(&from).map_err(|e| io(&from, e))?;
            std::os::unix::fs::symlink(target, &to).map_err(|e| io(&to, e))?;
        } else if kind.is_file() {
            std::fs::copy(&from, &to).map_err(|e| io(&from, e))?;
        }
    }
    Ok(dest.to_path_buf())
}
