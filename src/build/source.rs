//! Getting a rock's sources into a build directory: download (or take from
//! a `.src.rock`), check `source.md5`, unpack, or clone a git repository;
//! then find `source.dir` as LuaRocks does. Also the 3.0 autodetection of
//! `build.modules` when a builtin rockspec lists none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;

use super::backends::run;
use super::rock_manifest::md5_hex_of;
use super::BuildError;
use super::Origin;
use crate::archive;
use crate::fetch::{Fetched, Fetcher, Freshness};
use crate::rel_path::RelPath;
use crate::rock_id::RockId;
use crate::rockspec::build::{CModule, Module};
use crate::rockspec::source::{is_basic_protocol, Source};
use crate::rockspec::Rockspec;

/// The URL fetched and blake3 of the bytes.
pub type FetchedSource = (String, [u8; 32]);

/// Puts the sources under `work`; returns the directory to build in and
/// the URL and blake3 of the archive or file fetched (none for a git
/// checkout or a `.src.rock`'s own file).
pub fn obtain(
    fetcher: &Fetcher,
    rockspec: &Rockspec,
    src_rock: Option<&Path>,
    work: &Path,
    origin: &Origin,
    sandbox: Option<&super::isolation::Sandbox<'_>>,
    commit: Option<&str>,
) -> Result<(PathBuf, Option<FetchedSource>), BuildError> {
    let source = &rockspec.source;
    let rock = rockspec.id();
    let dir = source_dir(&rock, &source.dir)?;
    let unpack_dir = work.join("source");
    std::fs::create_dir_all(&unpack_dir).map_err(|e| io(&unpack_dir, e))?;
    if !is_basic_protocol(&source.protocol) {
        if let Some(src_rock) = src_rock {
            // A .src.rock of an SCM source carries the checked-out tree.
            return locate_dir(src_rock, source, dir.as_ref(), "the .src.rock", None)
                .map(|d| (d, None));
        }
        if !source.protocol.starts_with("git") {
            return Err(BuildError::Rockspec(format!(
                "Unknown protocol {} (rockstore fetches http, https, file and git sources)",
                source.protocol
            )));
        }
        let Some(clone_into) = &dir else {
            return Err(BuildError::Path {
                rock,
                field: "source.dir".into(),
                source: crate::rel_path::RelPathError::Empty(source.dir.clone()),
            });
        };
        // A local repository is a local file like any other: a rockspec
        // from a server (or a daemon's client) may not name one.
        check_local_source(&rock, &git_url(source), origin)?;
        git_clone(&rock, source, clone_into, &unpack_dir, sandbox)?;
        if let Some(keyed) = commit {
            check_commit(&rock, source, clone_into, &unpack_dir, sandbox, keyed)?;
        }
        return locate_dir(&unpack_dir, source, dir.as_ref(), &source.url, None).map(|d| (d, None));
    }
    let file_text = source
        .file
        .clone()
        .unwrap_or_else(|| crate::rockspec::source::base_name(&source.url).to_owned());
    let file =
        RelPath::parse(crate::rockspec::source::base_name(&file_text)).map_err(|source| {
            BuildError::Path {
                rock: rock.clone(),
                field: "source.file".into(),
                source,
            }
        })?;
    let file_name = file.to_string();
    let fetched_url = src_rock.is_none().then(|| source_url(source));
    let mut fetched = match src_rock {
        Some(dir) => {
            let handle = Dir::open_ambient_dir(dir, ambient_authority()).map_err(|e| io(dir, e))?;
            let file = handle
                .open(file.as_path())
                .map_err(|e| io(&dir.join(&file), e))?
                .into_std();
            let len = file
                .metadata()
                .map_err(|e| io(&dir.join(&file_name), e))?
                .len();
            Fetched { file, len }
        }
        None => {
            let url = source_url(source);
            check_local_source(&rock, &url, origin)?;
            fetcher
                .fetch_file(&url, Freshness::Immutable)
                .map_err(|source| BuildError::Sources {
                    rock: rock.clone(),
                    source,
                })?
        }
    };
    let reread = |e| io(Path::new(&file_name), e);
    if let Some(expected) = &source.md5 {
        let actual = md5_hex_of(&mut fetched.file).map_err(reread)?;
        if !actual.eq_ignore_ascii_case(expected.trim()) {
            return Err(BuildError::Md5 {
                file: file_name,
                expected: expected.clone(),
                actual,
            });
        }
    }
    let local = fetched_url
        .as_deref()
        .and_then(crate::fetch::local_path)
        .is_some();
    let hashed = match fetched_url {
        Some(url) => {
            let mut hasher = blake3::Hasher::new();
            std::io::copy(&mut fetched.file, &mut hasher).map_err(reread)?;
            std::io::Seek::rewind(&mut fetched.file).map_err(reread)?;
            Some((url, *hasher.finalize().as_bytes()))
        }
        None => None,
    };
    let handle =
        Dir::open_ambient_dir(&unpack_dir, ambient_authority()).map_err(|e| io(&unpack_dir, e))?;
    if archive::Kind::of(&file_name).is_some() {
        archive::unpack_reader(
            &mut fetched.file,
            fetched.len,
            &file_name,
            &handle,
            archive::Limits::DEFAULT,
        )?;
    } else {
        // A local file keeps the mode bits it had, never more readable
        // (a root-only file stays root-only); created private, so it is
        // never readable by others while it is written.
        use cap_std::fs::{OpenOptionsExt as _, PermissionsExt as _};
        use std::os::unix::fs::PermissionsExt as _;
        let shown = unpack_dir.join(&file_name);
        let mode = match fetched.file.metadata() {
            Ok(m) if local => m.permissions().mode() & 0o777,
            Ok(_) => 0o644,
            Err(e) => return Err(io(&shown, e)),
        };
        let mut out = handle
            .open_with(
                file.as_path(),
                cap_std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .mode(0o600),
            )
            .map_err(|e| io(&shown, e))?;
        std::io::copy(&mut fetched.file, &mut out).map_err(|e| io(&unpack_dir, e))?;
        out.set_permissions(cap_std::fs::Permissions::from_mode(mode))
            .map_err(|e| io(&shown, e))?;
    }
    locate_dir(
        &unpack_dir,
        source,
        dir.as_ref(),
        &file_name,
        Some(rockspec.format.at_least_3()),
    )
    .map(|d| (d, hashed))
}

/// LuaRocks' `--only-sources` check, on the source's `pathname` (the URL
/// after `protocol://`), with its messages.
pub fn allowed_by_only_sources(rockspec: &Rockspec, only: Option<&str>) -> Result<(), BuildError> {
    let source = &rockspec.source;
    let Some(only) = only else {
        return Ok(());
    };
    if source.pathname.is_empty() {
        return Ok(());
    }
    if only.is_empty() {
        return Err(BuildError::Rockspec(format!(
            "Can't download {} -- download from remote servers disabled",
            source.url
        )));
    }
    if !source.pathname.starts_with(only) {
        return Err(BuildError::Rockspec(format!(
            "Can't download {} -- only downloading from {only}",
            source.url
        )));
    }
    Ok(())
}

/// `source.dir` as a path inside the unpack directory; `.` (or nothing)
/// is the unpack directory itself.
fn source_dir(rock: &RockId, dir: &str) -> Result<Option<RelPath>, BuildError> {
    match RelPath::parse(dir) {
        Ok(p) => Ok(Some(p)),
        Err(crate::rel_path::RelPathError::Empty(_)) => Ok(None),
        Err(source) => Err(BuildError::Path {
            rock: rock.to_owned(),
            field: "source.dir".into(),
            source,
        }),
    }
}

/// Checks what the rockspec's `source` names before anything is fetched
/// or asked of a remote: `source.dir` stays inside the sources, and a local
/// file or repository is one its origin may name.
pub(crate) fn check_before_fetch(rockspec: &Rockspec, origin: &Origin) -> Result<(), BuildError> {
    let source = &rockspec.source;
    let rock = rockspec.id();
    source_dir(&rock, &source.dir)?;
    let url = if source.protocol.starts_with("git") {
        git_url(source)
    } else {
        source_url(source)
    };
    check_local_source(&rock, &url, origin)
}

/// A rockspec from a server may name a local file (`file://` or a plain
/// path) only inside that server's own directory, when the server is a
/// local directory itself; a rockspec the user named may name any.
fn check_local_source(rock: &RockId, url: &str, origin: &Origin) -> Result<(), BuildError> {
    let Origin::Server(from) = origin else {
        return Ok(());
    };
    let Some(wanted) = crate::fetch::local_path(url) else {
        return Ok(());
    };
    let refused = |why: String| {
        Err(BuildError::Rockspec(format!(
            "{rock}: source.url `{url}` is a local file, and the rockspec came from {from}; {why}"
        )))
    };
    let Some(server_dir) = crate::fetch::local_path(from)
        .as_deref()
        .and_then(Path::parent)
        .map(Path::to_path_buf)
    else {
        return refused(
            "a rockspec from a remote server may not read this machine's files".to_owned(),
        );
    };
    // Compared after resolving links and `..`, so neither spelling can
    // step out of the server's directory.
    let (Ok(root), Ok(file)) = (server_dir.canonicalize(), wanted.canonicalize()) else {
        return refused(format!("it must be a file inside {}", server_dir.display()));
    };
    if file.starts_with(&root) {
        Ok(())
    } else {
        refused(format!(
            "only files inside the server's directory {} may be named",
            root.display()
        ))
    }
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
    dir: Option<&RelPath>,
    what: &str,
    format_3: Option<bool>,
) -> Result<PathBuf, BuildError> {
    let handle = Dir::open_ambient_dir(root, ambient_authority()).map_err(|e| io(root, e))?;
    let found = match dir {
        None => true,
        // Through the handle: a link that leaves the sources is not a
        // directory of theirs.
        Some(d) => handle.open_dir(d.as_path()).is_ok(),
    };
    if found {
        return Ok(dir.map_or_else(|| root.to_path_buf(), |d| root.join(d)));
    }
    if !source.dir_given && format_3 != Some(false) {
        let entries: Vec<_> = handle
            .entries()
            .map_err(|e| io(root, e))?
            .flatten()
            .collect();
        if entries.len() == 1 && entries[0].file_type().is_ok_and(|t| t.is_dir()) {
            return Ok(root.join(entries[0].file_name()));
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
    git_remote(&source.url)
}

/// [`git_url`] of a URL.
pub(crate) fn git_remote(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("git+") {
        return rest.to_owned();
    }
    if let Some(rest) = url.strip_prefix("git://github.com/") {
        return format!("https://github.com/{rest}");
    }
    url.to_owned()
}

/// A shallow clone of the git repository `url` names (`git+https://…`,
/// `git://…`) at `reference` (a tag or branch) into `dest/<dir>`, for
/// `write_rockspec` to look at.
pub fn git_checkout(
    url: &str,
    reference: Option<&str>,
    dest: &Path,
    dir: &RelPath,
) -> Result<(), BuildError> {
    let mut args = vec![
        "clone".to_owned(),
        "--depth=1".to_owned(),
        "--quiet".to_owned(),
    ];
    if let Some(r) = reference {
        args.extend(["--branch".to_owned(), r.to_owned()]);
    }
    args.push("--".to_owned());
    args.push(git_remote(url));
    args.push(dir.to_string());
    run(
        &format!("Failed cloning {url}"),
        "git",
        &args,
        dest,
        &[("GIT_TERMINAL_PROMPT", "0".to_owned())],
    )
}

/// A shallow clone at `tag` or `branch` into `dest/<dir>`: as this
/// process, or in a daemon build as its build user, with none of the
/// daemon's git configuration or credentials.
fn git_clone(
    rock: &RockId,
    source: &Source,
    dir: &RelPath,
    dest: &Path,
    sandbox: Option<&super::isolation::Sandbox<'_>>,
) -> Result<(), BuildError> {
    let mut args = vec![
        "clone".to_owned(),
        "--depth=1".to_owned(),
        "--quiet".to_owned(),
    ];
    if let Some(r) = source.tag.as_ref().or(source.branch.as_ref()) {
        args.extend(["--branch".to_owned(), r.clone()]);
    }
    // `--`: a URL or directory that starts with `-` is not an option
    // (`--upload-pack=…` would run a command).
    args.push("--".to_owned());
    args.push(git_url(source));
    args.push(dir.to_string());
    let what = format!("Failed cloning {}", source.url);
    let Some(sandbox) = sandbox else {
        return run(
            &what,
            "git",
            &args,
            dest,
            &[("GIT_TERMINAL_PROMPT", "0".to_owned())],
        );
    };
    // The clone is the build user's from the start.
    let fd = rustix::fs::open(
        dest,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::NOFOLLOW,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io(dest, e.into()))?;
    super::isolation::give_to(std::os::fd::AsFd::as_fd(&fd), sandbox.user)
        .map_err(|e| io(dest, e))?;
    let out = sandbox
        .git(&args, dest)
        .map_err(|source| BuildError::Isolation {
            rock: rock.to_owned(),
            source,
        })?;
    if out.success {
        return Ok(());
    }
    Err(BuildError::CommandFailed {
        what,
        command: format!("git {}", args.join(" ")),
        status: out.status,
        output: String::from_utf8_lossy(&out.output).into_owned(),
    })
}

/// Checks that the clone in `dest/<dir>` checked out `keyed`, the commit
/// the recipe key names: a server that answers `ls-remote` with one commit
/// and the clone with another must not have its content stored under the
/// first's key. Asked as the build user (the clone is hers).
fn check_commit(
    rock: &RockId,
    source: &Source,
    dir: &RelPath,
    dest: &Path,
    sandbox: Option<&super::isolation::Sandbox<'_>>,
    keyed: &str,
) -> Result<(), BuildError> {
    let args = vec![
        "-C".to_owned(),
        dir.to_string(),
        "rev-parse".to_owned(),
        "--verify".to_owned(),
        "HEAD^{commit}".to_owned(),
    ];
    let (success, status, output) = match sandbox {
        Some(sandbox) => {
            let out = sandbox
                .git(&args, dest)
                .map_err(|source| BuildError::Isolation {
                    rock: rock.to_owned(),
                    source,
                })?;
            (out.success, out.status, out.output)
        }
        None => {
            let out = std::process::Command::new("git")
                .args(&args)
                .current_dir(dest)
                .stdin(std::process::Stdio::null())
                .output()
                .map_err(|e| io(dest, e))?;
            let mut said = out.stdout;
            said.extend_from_slice(&out.stderr);
            (out.status.success(), out.status.code(), said)
        }
    };
    let text = String::from_utf8_lossy(&output);
    let cloned = text
        .split_whitespace()
        .find(|w| w.len() >= 40 && w.chars().all(|c| c.is_ascii_hexdigit()));
    match (success, cloned) {
        (true, Some(c)) if c.eq_ignore_ascii_case(keyed) => Ok(()),
        (true, Some(c)) => Err(BuildError::CommitChanged {
            rock: Box::new(rock.clone()),
            url: source.url.clone(),
            keyed: keyed.to_owned(),
            cloned: c.to_owned(),
        }),
        _ => Err(BuildError::CommandFailed {
            what: format!("Failed reading the commit of the clone of {}", source.url),
            command: format!("git {}", args.join(" ")),
            status,
            output: text.into_owned(),
        }),
    }
}

/// LuaRocks 3.0's `builtin` autodetection: Lua files under the first of
/// `src/`, `lua/`, `lib/` (or the top directory) become modules named by
/// their path, C files modules named by their path. Read through the
/// sources' handle, without following links.
pub fn autodetect_modules(src: &Dir) -> BTreeMap<String, Module> {
    let is_dir = |p: &Path| src.symlink_metadata(p).is_ok_and(|m| m.is_dir());
    let prefix = ["src", "lua", "lib"]
        .iter()
        .map(PathBuf::from)
        .find(|d| is_dir(d))
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        let here = prefix.join(&rel);
        let entries = if here.as_os_str().is_empty() {
            src.entries()
        } else {
            src.read_dir(&here)
        };
        let Ok(entries) = entries else {
            continue;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            // Hidden files (`.luacheckrc`, `.busted`) are tooling, and
            // would make module names with an empty part.
            if name.starts_with('.') {
                continue;
            }
            let child = rel.join(&name);
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            if kind.is_dir() {
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
pub const NOT_SOURCES: [&str; 3] = [".git", ".hg", ".svn"];

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

/// The content hash of a working directory (`make`): the canonical hash
/// of its tree as it travels to a daemon (store-format/v1/serialization.md,
/// the archive form, with any link target), without [`NOT_SOURCES`] and
/// special files. Any edit changes it.
pub fn tree_hash(dir: &Path) -> Result<crate::store::content_hash::ContentHash, BuildError> {
    let node = sources_model(dir)?;
    Ok(crate::store::canonical::content_hash(&node))
}

/// The tree model of a working directory, read with this process's rights.
pub fn sources_model(dir: &Path) -> Result<crate::store::canonical::Node, BuildError> {
    use crate::store::item_archive::{model, LinkPolicy};
    let fd = open_sources(dir)?;
    model(
        std::os::fd::AsFd::as_fd(&fd),
        LinkPolicy::Sources,
        &NOT_SOURCES,
    )
    .map_err(|e| BuildError::Io {
        path: dir.to_path_buf(),
        source: std::io::Error::other(e),
    })
}

/// A working directory, opened with this process's rights.
pub fn open_sources(dir: &Path) -> Result<std::os::fd::OwnedFd, BuildError> {
    rustix::fs::open(
        dir,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| io(dir, e.into()))
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

/// After a build of a working directory (`make`, `build` with no rock):
/// what the build made or changed in its copy, written back into `dir`,
/// as LuaRocks leaves its objects and modules in the sources it built in
/// place. Returns the files written.
pub fn copy_back(built: &Path, dir: &Path) -> Result<Vec<PathBuf>, BuildError> {
    let mut written = Vec::new();
    for (rel, kind) in local_entries(built).map_err(|e| io(built, e))? {
        let (from, to) = (built.join(&rel), dir.join(&rel));
        if kind.is_dir() {
            std::fs::create_dir_all(&to).map_err(|e| io(&to, e))?;
        } else if kind.is_file() {
            let new = std::fs::read(&from).map_err(|e| io(&from, e))?;
            if std::fs::read(&to).ok().as_deref() != Some(&new[..]) {
                std::fs::write(&to, &new).map_err(|e| io(&to, e))?;
                let mode = std::fs::metadata(&from)
                    .map_err(|e| io(&from, e))?
                    .permissions();
                std::fs::set_permissions(&to, mode).map_err(|e| io(&to, e))?;
                written.push(rel);
            }
        }
    }
    Ok(written)
}
