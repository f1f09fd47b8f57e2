//! [`RelPath`]: a path that a stranger's file names (a rockspec's module
//! names, `build.install` keys and files, `copy_directories`, C sources,
//! `source.dir`, an archive's entries), checked once when it is made, so
//! that joining it to a directory can only name something inside that
//! directory — as far as the path's own text goes. Symlinks inside the
//! directory are the filesystem's business: every build write and read goes
//! through a `cap-std` handle, which refuses to follow one out.
//!
//! The rules: not empty, not absolute, no `..` component, no NUL; `.` and
//! empty components (`a//b`, `./a`) are dropped, as the kernel reads them.

use std::fmt;
use std::path::{Component, Path, PathBuf};

/// A checked relative path with at least one normal component.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RelPath(PathBuf);

/// Why a text is not a [`RelPath`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RelPathError {
    /// Nothing but `.` and `/` separators, or nothing at all.
    #[error("`{0}` names no file")]
    Empty(String),
    /// Starts at `/`.
    #[error("`{0}` is an absolute path; only paths inside the rock's own directory are allowed")]
    Absolute(String),
    /// Holds a `..` component.
    #[error("`{0}` climbs out with `..`; only paths inside the rock's own directory are allowed")]
    Parent(String),
    /// Holds a NUL byte.
    #[error("`{}` holds a NUL byte", .0.escape_default())]
    Nul(String),
}

impl RelPath {
    /// Checks `text`.
    pub fn parse(text: &str) -> Result<RelPath, RelPathError> {
        if text.contains('\0') {
            return Err(RelPathError::Nul(text.to_owned()));
        }
        if text.starts_with('/') {
            return Err(RelPathError::Absolute(text.to_owned()));
        }
        let mut out = PathBuf::new();
        for component in Path::new(text).components() {
            match component {
                Component::Normal(c) => out.push(c),
                Component::CurDir => {}
                Component::ParentDir => return Err(RelPathError::Parent(text.to_owned())),
                Component::RootDir | Component::Prefix(_) => {
                    return Err(RelPathError::Absolute(text.to_owned()))
                }
            }
        }
        if out.as_os_str().is_empty() {
            return Err(RelPathError::Empty(text.to_owned()));
        }
        Ok(RelPath(out))
    }

    /// A dotted Lua module name as a path (`a.b.c` → `a/b/c`). Every dotted
    /// part must be non-empty, so `.tmp.x` or `a..b` are refused rather
    /// than read as `/tmp/x` or `a/b`.
    pub fn of_module(name: &str) -> Result<RelPath, RelPathError> {
        if name.split('.').any(str::is_empty) {
            return Err(RelPathError::Empty(name.to_owned()));
        }
        RelPath::parse(&name.replace('.', "/"))
    }

    /// One of rockstore's own directory names (`lua`, `lib`, `doc`): a
    /// single plain component, known good, so nothing to check at run time.
    pub fn literal(name: &'static str) -> RelPath {
        debug_assert!(RelPath::parse(name).is_ok_and(|p| p.0.components().count() == 1));
        RelPath(PathBuf::from(name))
    }

    /// The last component as a path of its own (`a/b.lua` → `b.lua`),
    /// which is always a valid `RelPath`.
    pub fn last(&self) -> RelPath {
        RelPath(PathBuf::from(self.file_name()))
    }

    /// The path, relative.
    pub fn as_path(&self) -> &Path {
        &self.0
    }

    /// The last component.
    pub fn file_name(&self) -> &std::ffi::OsStr {
        // A RelPath has at least one normal component.
        self.0.file_name().unwrap_or(self.0.as_os_str())
    }

    /// The directory part, if any (`a/b` → `a`).
    pub fn parent(&self) -> Option<RelPath> {
        let parent = self.0.parent()?;
        (!parent.as_os_str().is_empty()).then(|| RelPath(parent.to_path_buf()))
    }

    /// `self/other`: still inside.
    pub fn join(&self, other: &RelPath) -> RelPath {
        RelPath(self.0.join(&other.0))
    }

    /// `self/name` for one checked component (a directory entry's name).
    pub fn child(&self, name: &std::ffi::OsStr) -> Result<RelPath, RelPathError> {
        let text = name.to_string_lossy();
        if name.is_empty() || name == "." || name == ".." || text.contains('/') {
            return Err(RelPathError::Parent(text.into_owned()));
        }
        Ok(RelPath(self.0.join(name)))
    }

    /// Appends `ext` to the last component (`a/b` + `lua` → `a/b.lua`).
    pub fn with_added_extension(&self, ext: &str) -> RelPath {
        let mut text = self.0.clone().into_os_string();
        text.push(".");
        text.push(ext);
        RelPath(PathBuf::from(text))
    }
}

impl AsRef<Path> for RelPath {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.display().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_paths_are_kept_and_normalised() {
        for (text, want) in [
            ("a", "a"),
            ("a/b.lua", "a/b.lua"),
            ("./a//b/.", "a/b"),
            ("a..b", "a..b"),
        ] {
            assert_eq!(RelPath::parse(text).expect(text).as_path(), Path::new(want));
        }
    }

    #[test]
    fn outside_paths_are_refused() {
        assert!(matches!(
            RelPath::parse("/tmp/v"),
            Err(RelPathError::Absolute(_))
        ));
        for bad in ["..", "a/../../b", "a/.."] {
            assert!(
                matches!(RelPath::parse(bad), Err(RelPathError::Parent(_))),
                "{bad}"
            );
        }
        assert!(matches!(RelPath::parse(""), Err(RelPathError::Empty(_))));
        assert!(matches!(RelPath::parse("./"), Err(RelPathError::Empty(_))));
        assert!(matches!(RelPath::parse("a\0b"), Err(RelPathError::Nul(_))));
    }

    #[test]
    fn module_names_need_every_part() {
        assert_eq!(
            RelPath::of_module("socket.core").expect("ok").as_path(),
            Path::new("socket/core")
        );
        for bad in [".tmp.x.PWNED", "a..b", "a.", "", "a/../../x.b"] {
            assert!(RelPath::of_module(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_last_component_stands_alone() {
        let p = RelPath::parse("src/a/b.lua").expect("path");
        assert_eq!(p.last().as_path(), Path::new("b.lua"));
        assert_eq!(
            RelPath::literal("lua").join(&p.last()).as_path(),
            Path::new("lua/b.lua")
        );
    }

    #[test]
    fn children_are_single_components() {
        let base = RelPath::parse("doc").expect("doc");
        assert!(base.child(std::ffi::OsStr::new("x")).is_ok());
        assert!(base.child(std::ffi::OsStr::new("..")).is_err());
        assert!(base.child(std::ffi::OsStr::new("a/b")).is_err());
    }
}
