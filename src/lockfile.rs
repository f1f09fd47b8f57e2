//! `luarocks.lock`: dependency versions pinned for a project (reference
//! §4.4, §4.6). A Lua file returning `{ dependencies = { name = "ver-rev",
//! … }, build_dependencies = { … } }`. When `make` finds one beside the
//! sources, the rock's dependencies are exactly the pinned ones, and any
//! rock installed on the way that needs a pinned rock gets the pinned
//! version, as LuaRocks' `deps.fulfill_dependencies` does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use crate::lua::{self, EvalError, Limits, Value};
use crate::rockspec::Dependency;

/// The file name LuaRocks uses.
pub const FILE_NAME: &str = "luarocks.lock";

/// A lock file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    /// Reading failed.
    #[error("Could not read existing lockfile {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Evaluating failed.
    #[error("Could not read existing lockfile {}", path.display())]
    Eval {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: EvalError,
    },
    /// It did not return a table of tables of version strings.
    #[error("lockfile {}: {what}", path.display())]
    Shape {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        what: String,
    },
}

/// Pinned versions, by dependency kind, each as `name == ver-rev`.
#[derive(Debug, Clone, Default)]
pub struct Lockfile {
    /// The file read.
    pub path: PathBuf,
    /// `dependencies`, sorted by name.
    pub dependencies: Vec<Dependency>,
    /// `build_dependencies`, sorted by name.
    pub build_dependencies: Vec<Dependency>,
    /// `rockstore_items` (a rockstore extension LuaRocks ignores): each
    /// rock's item by content hash, `name = "blake3:<hex>"`.
    pub items: BTreeMap<String, String>,
}

/// The lock file's table of item hashes.
pub const ITEMS_KEY: &str = "rockstore_items";

impl Lockfile {
    /// The pin of rock `name` among the build or the runtime dependencies.
    pub fn pin(&self, name: &str, build: bool) -> Option<&Dependency> {
        let kind = if build {
            &self.build_dependencies
        } else {
            &self.dependencies
        };
        kind.iter().find(|d| d.name == name)
    }

    /// Reads `dir/luarocks.lock`; `None` when there is none.
    pub fn load(dir: &Path) -> Result<Option<Lockfile>, LockfileError> {
        let path = dir.join(FILE_NAME);
        let source = match lua::read_source(&path, Limits::SMALL_FILE.source_bytes) {
            Ok(s) => s,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(LockfileError::Read { path, source }),
        };
        let returned =
            lua::evaluate_returned(&path.display().to_string(), &source, Limits::SMALL_FILE)
                .map_err(|source| LockfileError::Eval {
                    path: path.clone(),
                    source,
                })?;
        let shape = |what: &str| LockfileError::Shape {
            path: path.clone(),
            what: what.to_owned(),
        };
        let Some(Value::Table(table)) = returned else {
            return Err(shape("it must return a table"));
        };
        let kind = |key: &str| -> Result<Vec<Dependency>, LockfileError> {
            let mut pins = BTreeMap::new();
            match table.get(key) {
                None => {}
                Some(Value::Table(t)) => {
                    for (name, version) in t.iter() {
                        let (lua::Key::String(name), Some(version)) = (name, version.as_str())
                        else {
                            return Err(shape(&format!(
                                "{key}: expected name = \"version\" pairs"
                            )));
                        };
                        pins.insert(name.clone(), version.to_owned());
                    }
                }
                Some(_) => return Err(shape(&format!("{key}: expected a table"))),
            }
            pins.into_iter()
                .map(|(name, version)| {
                    Dependency::parse(&format!("{name} == {version}"))
                        .map_err(|e| shape(&format!("{key}: {name} is pinned to `{version}`: {e}")))
                })
                .collect()
        };
        let mut items = BTreeMap::new();
        match table.get(ITEMS_KEY) {
            None => {}
            Some(Value::Table(t)) => {
                for (name, hash) in t.iter() {
                    let (lua::Key::String(name), Some(hash)) = (name, hash.as_str()) else {
                        return Err(shape(&format!(
                            "{ITEMS_KEY}: expected name = \"blake3:HEX\" pairs"
                        )));
                    };
                    if crate::store::content_hash::ContentHash::parse_hex(hash).is_err() {
                        return Err(shape(&format!(
                            "{ITEMS_KEY}: {name} is pinned to `{hash}`, not a content hash"
                        )));
                    }
                    items.insert(name.clone(), hash.to_owned());
                }
            }
            Some(_) => return Err(shape(&format!("{ITEMS_KEY}: expected a table"))),
        }
        Ok(Some(Lockfile {
            items,
            dependencies: kind("dependencies")?,
            build_dependencies: kind("build_dependencies")?,
            path: path.clone(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_hashes_are_read_and_a_bad_one_is_named() {
        let tmp = tempfile::tempdir().expect("tmp");
        let file = tmp.path().join(FILE_NAME);
        let hash = format!("blake3:{}", "ab".repeat(32));
        std::fs::write(
            &file,
            format!("return {{ dependencies = {{ lpeg = \"1.0-1\" }}, rockstore_items = {{ lpeg = \"{hash}\" }} }}"),
        )
        .expect("write");
        let lock = Lockfile::load(tmp.path()).expect("ok").expect("some");
        assert_eq!(lock.items.get("lpeg"), Some(&hash));
        std::fs::write(&file, "return { rockstore_items = { lpeg = \"md5:0\" } }").expect("write");
        let err = Lockfile::load(tmp.path())
            .expect_err("bad hash")
            .to_string();
        assert!(err.contains("lpeg is pinned to `md5:0`"), "{err}");
    }

    #[test]
    fn pins_are_read_and_bad_files_are_named() {
        let tmp = tempfile::tempdir().expect("tmp");
        assert!(Lockfile::load(tmp.path()).expect("none").is_none());
        let file = tmp.path().join(FILE_NAME);
        std::fs::write(
            &file,
            "return {\n   dependencies = {\n      [\"purelua\"] = \"1.0-1\",\n      lua = \"5.4-1\",\n   },\n}\n",
        )
        .expect("write");
        let lock = Lockfile::load(tmp.path()).expect("ok").expect("some");
        assert_eq!(
            lock.pin("purelua", false)
                .map(ToString::to_string)
                .as_deref(),
            Some("purelua 1.0-1")
        );
        assert_eq!(lock.dependencies.len(), 2);
        assert!(lock.pin("purelua", true).is_none());
        for bad in [
            "return {",
            "return 1",
            "return { dependencies = 3 }",
            "return { dependencies = { x = '>= 1' } }",
            "os.exit()",
        ] {
            std::fs::write(&file, bad).expect("write");
            let err = Lockfile::load(tmp.path()).expect_err(bad);
            assert!(err.to_string().contains("lockfile"), "{bad}: {err}");
        }
    }
}
