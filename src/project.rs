//! LuaRocks project directories, as `luarocks init` makes them: a directory
//! holding both `.luarocks/` and `lua_modules/`. Inside one, LuaRocks puts
//! the tree `<project>/lua_modules` (named `project`) first in
//! `rocks_trees` and installs there, reads `.luarocks/config-5.x.lua` after
//! the user's config, and takes its Lua version from
//! `.luarocks/default-lua-version.lua` (reference §1.4, §1.5).

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::lua::{self, Limits};

/// How many directories are tried, `start` included (LuaRocks' walk).
const MAX_LEVELS: usize = 10;

/// Lua versions, newest first, for finding a project's config file.
const VERSIONS: [&str; 5] = ["5.5", "5.4", "5.3", "5.2", "5.1"];

/// The project directory `start` is in: the first of `start` and its
/// parents (ten in all) holding `.luarocks/` and `lua_modules/`. A
/// `.luarocks-no-project` file met on the way stops the search.
pub fn find(start: &Path) -> Option<PathBuf> {
    for dir in start.ancestors().take(MAX_LEVELS) {
        if dir.join(".luarocks").exists() && dir.join("lua_modules").exists() {
            return Some(dir.to_path_buf());
        }
        if dir.join(".luarocks-no-project").exists() {
            return None;
        }
    }
    None
}

/// Why a project found around the working directory is not used: part of
/// it belongs to another user. Its config can name rocks servers, enable
/// hooks and point `lua_modules` anywhere, so using it would run that user's
/// choices as us (root running in a sticky `/tmp` most of all). git refuses
/// such repositories for the same reason (CVE-2022-24765); LuaRocks does not
/// look.
#[derive(Debug, Clone, thiserror::Error)]
pub enum Untrusted {
    /// A part is owned by someone who is neither us nor root.
    #[error(
        "ignoring the LuaRocks project at {dir}: {part} belongs to uid {owner}, not to you (uid {me}) or root, so its config, hooks and tree would be another user's choice (pass --project-tree {dir}/lua_modules to use it anyway)",
        dir = .dir.display(),
        part = .part.display()
    )]
    Foreign {
        /// The project directory.
        dir: PathBuf,
        /// The part owned by another user.
        part: PathBuf,
        /// Its owner.
        owner: u32,
        /// Our effective uid.
        me: u32,
    },
    /// A part's owner cannot be read.
    #[error(
        "ignoring the LuaRocks project at {dir}: cannot read who owns {part}: {source}",
        dir = .dir.display(),
        part = .part.display()
    )]
    Unreadable {
        /// The project directory.
        dir: PathBuf,
        /// The part whose owner is unknown.
        part: PathBuf,
        /// Why.
        source: std::sync::Arc<std::io::Error>,
    },
}

/// Checks that the project found at `dir` is ours to use: the directory,
/// its `lua_modules` (the link itself, if it is one) and `.luarocks/` with
/// every entry in it (config files, `default-lua-version.lua`) are owned by
/// `me` or by root. Ownership, not modes: a shared project directory a
/// colleague owns is exactly the case to refuse, whatever its mode.
pub fn check_ownership(dir: &Path, me: u32) -> Result<(), Untrusted> {
    let dot = dir.join(".luarocks");
    let mut parts = vec![dir.to_path_buf(), dir.join("lua_modules"), dot.clone()];
    let entries = std::fs::read_dir(&dot).map_err(|source| Untrusted::Unreadable {
        dir: dir.to_path_buf(),
        part: dot.clone(),
        source: source.into(),
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Untrusted::Unreadable {
            dir: dir.to_path_buf(),
            part: dot.clone(),
            source: source.into(),
        })?;
        parts.push(entry.path());
    }
    for part in parts {
        let owner = match std::fs::symlink_metadata(&part) {
            Ok(meta) => meta.uid(),
            Err(source) => {
                return Err(Untrusted::Unreadable {
                    dir: dir.to_path_buf(),
                    part,
                    source: source.into(),
                })
            }
        };
        if owner != me && owner != 0 {
            return Err(Untrusted::Foreign {
                dir: dir.to_path_buf(),
                part,
                owner,
                me,
            });
        }
    }
    Ok(())
}

/// A project in use: its directory and the tree its rocks go to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project directory (holding `.luarocks/`).
    pub dir: PathBuf,
    /// Its tree: `<dir>/lua_modules`, or the `--project-tree` given.
    pub tree: PathBuf,
    /// Given with `--project-tree` rather than found; LuaRocks lets an
    /// explicit one win over `local_by_default`, a found one not.
    pub explicit: bool,
}

impl Project {
    /// The project found at `dir` (see [`find`]).
    pub fn found(dir: PathBuf) -> Project {
        Project {
            tree: dir.join("lua_modules"),
            dir,
            explicit: false,
        }
    }

    /// The project of an explicit `--project-tree TREE` (absolute): its
    /// parent directory.
    pub fn of_tree(tree: PathBuf) -> Project {
        Project {
            dir: tree
                .parent()
                .map_or_else(|| tree.clone(), Path::to_path_buf),
            tree,
            explicit: true,
        }
    }
}

/// The Lua version to use when none was given: the first
/// `default-lua-version.lua` in `config_dirs` (a Lua file returning a
/// version string) that says one, else the newest version with a
/// `config-X.Y.lua` in the project's `.luarocks/`.
pub fn default_lua_version(config_dirs: &[PathBuf], project: Option<&Path>) -> Option<String> {
    for dir in config_dirs {
        if let Some(version) = read_default_version(&dir.join("default-lua-version.lua")) {
            return Some(version);
        }
    }
    let project = project?;
    VERSIONS
        .iter()
        .find(|v| {
            project
                .join(".luarocks")
                .join(format!("config-{v}.lua"))
                .is_file()
        })
        .map(|v| (*v).to_owned())
}

/// A `default-lua-version.lua`'s version. LuaRocks ignores a file that
/// fails to load or run, or returns anything but a version, and so do we.
fn read_default_version(file: &Path) -> Option<String> {
    let source = lua::read_source(file, Limits::SMALL_FILE.source_bytes).ok()?;
    let returned =
        lua::evaluate_returned(&file.display().to_string(), &source, Limits::SMALL_FILE).ok()??;
    let version = returned.as_str()?.to_owned();
    let (major, minor) = version.split_once('.')?;
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    (digits(major) && digits(minor)).then_some(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_project_is_found_from_below_and_a_marker_stops_the_walk() {
        let tmp = tempfile::tempdir().expect("tmp");
        let project = tmp.path().join("p");
        std::fs::create_dir_all(project.join(".luarocks")).expect("mkdir");
        std::fs::create_dir_all(project.join("lua_modules")).expect("mkdir");
        let deep = project.join("src/a/b");
        std::fs::create_dir_all(&deep).expect("mkdir");
        assert_eq!(find(&deep), Some(project.clone()));
        // Only .luarocks is not a project.
        let half = tmp.path().join("half");
        std::fs::create_dir_all(half.join(".luarocks")).expect("mkdir");
        assert_eq!(find(&half), None);
        std::fs::write(project.join("src/.luarocks-no-project"), "").expect("marker");
        assert_eq!(find(&deep), None);
        assert_eq!(find(&project), Some(project.clone()));
    }

    #[test]
    fn the_default_version_comes_from_the_file_else_from_a_config_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let project = tmp.path().to_path_buf();
        let dot = project.join(".luarocks");
        std::fs::create_dir_all(&dot).expect("mkdir");
        assert_eq!(
            default_lua_version(std::slice::from_ref(&dot), Some(&project)),
            None
        );
        std::fs::write(dot.join("config-5.3.lua"), "").expect("config");
        assert_eq!(
            default_lua_version(std::slice::from_ref(&dot), Some(&project)).as_deref(),
            Some("5.3")
        );
        std::fs::write(dot.join("default-lua-version.lua"), "return \"5.1\"\n").expect("file");
        assert_eq!(
            default_lua_version(std::slice::from_ref(&dot), Some(&project)).as_deref(),
            Some("5.1")
        );
        for bad in [
            "return 5.4",
            "return 'jit'",
            "error('x')",
            "while true do end",
        ] {
            std::fs::write(dot.join("default-lua-version.lua"), bad).expect("file");
            assert_eq!(
                default_lua_version(std::slice::from_ref(&dot), Some(&project)).as_deref(),
                Some("5.3"),
                "{bad}"
            );
        }
    }
}
