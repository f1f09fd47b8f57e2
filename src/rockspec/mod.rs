//! Rockspecs: loading one exactly as LuaRocks' `fetch.load_local_rockspec`
//! does — evaluate in the sandbox, check the schema of its format, apply
//! platform overrides, derive the fields LuaRocks derives, parse the
//! dependency lists, check the file name — and the typed model the build
//! and install steps read.
//!
//! - [`version`]: versions and constraints (`luarocks.core.vers`).
//! - [`dependency`]: dependency strings (`queries.from_dep_string`).
//! - [`schema`]: the per-format schema (`type/rockspec.lua`).
//! - [`platform`]: platform sets and overrides.
//! - [`build`]: the `build` table read per backend.
//! - `memo`: rockspecs this process already evaluated, by their bytes.

pub mod build;
pub mod dependency;
mod memo;
pub mod new_version;
pub mod platform;
pub mod schema;
pub mod source;
pub mod version;

use std::collections::BTreeMap;
use std::path::Path;

use crate::lua::{self, EvalError, Key, Limits, Table, Value};
pub use build::Build;
pub use dependency::{Dependency, DependencyError};
pub use platform::Platforms;
pub use schema::{Format, SchemaError};
pub use source::Source;
pub use version::{Constraint, Op, Version};

/// How to load a rockspec.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// The platforms whose overrides apply.
    pub platforms: Platforms,
}

impl Default for LoadOptions {
    fn default() -> Self {
        LoadOptions {
            platforms: Platforms::host(),
        }
    }
}

/// Why a rockspec could not be loaded. Each names the file.
#[derive(Debug, thiserror::Error)]
pub enum RockspecError {
    /// The file could not be read.
    #[error("could not read rockspec {file}")]
    Read {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The name is not `name-version-revision.rockspec`.
    #[error("{file}: expected a file name in the form 'name-version-revision.rockspec'")]
    FileName {
        /// The file.
        file: String,
    },
    /// Evaluation failed.
    #[error("could not load rockspec {file}")]
    Eval {
        /// The file.
        file: String,
        /// The cause.
        #[source]
        source: EvalError,
    },
    /// `rockspec_format` is newer than rockstore reads.
    #[error("{file}: rockspec format {format} is not supported (rockstore reads up to {newest}); please upgrade rockstore")]
    FormatTooNew {
        /// The file.
        file: String,
        /// The format as written.
        format: String,
        /// The newest format read.
        newest: Format,
    },
    /// `rockspec_format` names no known format.
    #[error("{file}: unknown rockspec format '{format}' (known: 1.0, 1.1, 3.0, 3.1)")]
    UnknownFormat {
        /// The file.
        file: String,
        /// The format as written.
        format: String,
    },
    /// Schema violations.
    #[error("{file}: {} (using rockspec format {format}{})", join(errors), hint_text(*hint))]
    Schema {
        /// The file.
        file: String,
        /// The format checked against.
        format: Format,
        /// Every violation.
        errors: Vec<SchemaError>,
        /// A newer format under which the rockspec would pass.
        hint: Option<Format>,
    },
    /// A dependency string did not parse.
    #[error("{file}: {field} is not a valid dependency")]
    Dependency {
        /// The file.
        file: String,
        /// Which list and entry.
        field: String,
        /// The cause.
        #[source]
        source: DependencyError,
    },
    /// The file name disagrees with `package` and `version`.
    #[error("inconsistency between rockspec filename ({basename}) and its contents ({expected})")]
    NameMismatch {
        /// The file's base name.
        basename: String,
        /// `lower(package)-version.rockspec`.
        expected: String,
    },
}

fn join(errors: &[SchemaError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

fn hint_text(hint: Option<Format>) -> String {
    match hint {
        Some(f) => format!(" -- adding 'rockspec_format = \"{f}\"' to the rockspec will fix this"),
        None => String::new(),
    }
}

/// The `description` table.
#[derive(Debug, Clone, Default)]
pub struct Description {
    /// One line.
    pub summary: Option<String>,
    /// Paragraphs.
    pub detailed: Option<String>,
    /// Project home page.
    pub homepage: Option<String>,
    /// License name.
    pub license: Option<String>,
    /// Rockspec maintainer.
    pub maintainer: Option<String>,
    /// Labels (3.0).
    pub labels: Vec<String>,
    /// Issue tracker (3.0).
    pub issues_url: Option<String>,
}

/// One `external_dependencies` entry.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExternalDependency {
    /// A header file to find (`foo.h`).
    pub header: Option<String>,
    /// A library to find (`foo` for `libfoo.so`).
    pub library: Option<String>,
    /// A program to find.
    pub program: Option<String>,
}

/// A loaded rockspec.
#[derive(Debug, Clone)]
pub struct Rockspec {
    /// The format it was checked against.
    pub format: Format,
    /// `package` as written.
    pub package: String,
    /// `lower(package)`: the rock's name.
    pub name: String,
    /// `version`, with its revision.
    pub version: Version,
    /// `description`.
    pub description: Description,
    /// Runtime dependencies.
    pub dependencies: Vec<Dependency>,
    /// Build dependencies (3.0).
    pub build_dependencies: Vec<Dependency>,
    /// Test dependencies (3.0).
    pub test_dependencies: Vec<Dependency>,
    /// `supported_platforms`.
    pub supported_platforms: Vec<String>,
    /// `external_dependencies`, by name.
    pub external_dependencies: BTreeMap<String, ExternalDependency>,
    /// `source`, with LuaRocks' derived fields.
    pub source: Source,
    /// `build` (absent in 3.0 means builtin with autodetection).
    pub build: Build,
    /// `hooks.post_install`.
    pub post_install: Option<String>,
    /// `deploy.wrap_bin_scripts` (1.1).
    pub wrap_bin_scripts: Option<bool>,
    /// `test` (3.0), platform-merged.
    pub test: Option<Table>,
    /// The whole platform-merged table, with derived source fields.
    pub table: Table,
}

impl Rockspec {
    /// Which rock it describes.
    pub fn id(&self) -> crate::rock_id::RockId {
        crate::rock_id::RockId::new(&self.name, self.version.to_string())
    }

    /// Loads a rockspec file.
    pub fn from_file(path: &Path, options: &LoadOptions) -> Result<Rockspec, RockspecError> {
        let file = path.display().to_string();
        let bytes = lua::read_source(path, Limits::SMALL_FILE.source_bytes).map_err(|source| {
            RockspecError::Read {
                file: file.clone(),
                source,
            }
        })?;
        let basename = path.file_name().map(|n| n.to_string_lossy().into_owned());
        Rockspec::from_bytes(&file, basename.as_deref(), &bytes, options)
    }

    /// Loads rockspec text. `basename`, when given, is checked as LuaRocks
    /// checks file names (the name `rockspec` is exempt).
    pub fn from_bytes(
        file: &str,
        basename: Option<&str>,
        bytes: &[u8],
        options: &LoadOptions,
    ) -> Result<Rockspec, RockspecError> {
        let checked_name = basename.filter(|b| *b != "rockspec");
        if let Some(b) = checked_name {
            // LuaRocks' unanchored `(.*)%-[^-]*%-[0-9]*`: two dashes.
            if b.matches('-').count() < 2 {
                return Err(RockspecError::FileName {
                    file: file.to_owned(),
                });
            }
        }
        let rockspec = match memo::get(bytes, &options.platforms) {
            Some(rockspec) => rockspec,
            None => {
                let evaluation = lua::evaluate(file, bytes, &Table::new(), Limits::SMALL_FILE)
                    .map_err(|source| RockspecError::Eval {
                        file: file.to_owned(),
                        source,
                    })?;
                let rockspec = Rockspec::from_evaluation(file, evaluation, options)?;
                memo::put(bytes, &options.platforms, &rockspec);
                rockspec
            }
        };
        if let Some(b) = checked_name {
            let expected = format!("{}-{}.rockspec", rockspec.name, rockspec.version);
            if b != expected {
                return Err(RockspecError::NameMismatch {
                    basename: b.to_owned(),
                    expected,
                });
            }
        }
        Ok(rockspec)
    }

    fn from_evaluation(
        file: &str,
        evaluation: lua::Evaluation,
        options: &LoadOptions,
    ) -> Result<Rockspec, RockspecError> {
        let lua::Evaluation {
            mut globals,
            undeclared,
        } = evaluation;
        let format = match globals.get("rockspec_format") {
            None => Format::V1_0,
            Some(Value::String(s)) => match Format::parse(s) {
                Some(f) => f,
                None if Version::parse(Format::NEWEST.as_str()).lt(&Version::parse(s)) => {
                    return Err(RockspecError::FormatTooNew {
                        file: file.to_owned(),
                        format: s.clone(),
                        newest: Format::NEWEST,
                    })
                }
                None => {
                    return Err(RockspecError::UnknownFormat {
                        file: file.to_owned(),
                        format: s.clone(),
                    })
                }
            },
            // Not a string: the schema check names it.
            Some(_) => Format::V1_0,
        };
        let errors = schema::check(&globals, &undeclared, format);
        if !errors.is_empty() {
            let hint = Format::ALL
                .into_iter()
                .filter(|f| *f > format)
                .find(|f| schema::check(&globals, &undeclared, *f).is_empty());
            return Err(RockspecError::Schema {
                file: file.to_owned(),
                format,
                errors,
                hint,
            });
        }

        for key in [
            "build",
            "dependencies",
            "build_dependencies",
            "test_dependencies",
            "external_dependencies",
            "source",
            "hooks",
            "test",
        ] {
            if let Some(Value::Table(t)) = globals.get_mut(key) {
                options.platforms.apply_overrides(t);
            }
        }

        let package = globals.get_string("package").unwrap_or_default();
        let name = package.to_ascii_lowercase();
        let version = Version::parse(&globals.get_string("version").unwrap_or_default());
        globals.insert("name", Value::String(name.clone()));

        let source = match globals.get_mut("source") {
            Some(Value::Table(t)) => Source::derive(t, format),
            _ => Source::derive(&mut Table::new(), format),
        };

        let mut lists: [Vec<Dependency>; 3] = Default::default();
        for (slot, key) in ["dependencies", "build_dependencies", "test_dependencies"]
            .iter()
            .enumerate()
        {
            let entries = globals.get_strings(key);
            let mut parsed = Vec::with_capacity(entries.len());
            for (i, entry) in entries.iter().enumerate() {
                parsed.push(Dependency::parse(entry).map_err(|source| {
                    RockspecError::Dependency {
                        file: file.to_owned(),
                        field: format!("{key}[{}]", i + 1),
                        source,
                    }
                })?);
            }
            lists[slot] = parsed;
        }
        let [dependencies, build_dependencies, test_dependencies] = lists;

        let description = match globals.get("description") {
            Some(Value::Table(d)) => Description {
                summary: d.get_string("summary"),
                detailed: d.get_string("detailed"),
                homepage: d.get_string("homepage"),
                license: d.get_string("license"),
                maintainer: d.get_string("maintainer"),
                labels: d.get_strings("labels"),
                issues_url: d.get_string("issues_url"),
            },
            _ => Description::default(),
        };
        let mut external_dependencies = BTreeMap::new();
        if let Some(Value::Table(ext)) = globals.get("external_dependencies") {
            for (key, value) in ext.iter() {
                if let (Key::String(dep), Value::Table(t)) = (key, value) {
                    external_dependencies.insert(
                        dep.clone(),
                        ExternalDependency {
                            header: t.get_string("header"),
                            library: t.get_string("library"),
                            program: t.get_string("program"),
                        },
                    );
                }
            }
        }
        let hooks = globals.get("hooks").and_then(Value::as_table);
        let deploy = globals.get("deploy").and_then(Value::as_table);
        Ok(Rockspec {
            format,
            package,
            name,
            version,
            description,
            dependencies,
            build_dependencies,
            test_dependencies,
            supported_platforms: globals.get_strings("supported_platforms"),
            external_dependencies,
            source,
            build: Build::new(
                globals.get("build").and_then(Value::as_table).cloned(),
                format,
            ),
            post_install: hooks.and_then(|h| h.get_string("post_install")),
            wrap_bin_scripts: deploy
                .and_then(|d| d.get("wrap_bin_scripts"))
                .and_then(Value::as_bool),
            test: globals.get("test").and_then(Value::as_table).cloned(),
            table: globals,
        })
    }

    /// The JSON of `rockstore rockspec --json`: the platform-merged table
    /// with LuaRocks' derived fields (`name`, `source.file`, `source.dir`,
    /// `source.protocol`, `source.pathname`) and every dependency list
    /// parsed (always present, possibly empty).
    pub fn to_json(&self) -> serde_json::Value {
        let mut json = match self.table.to_json() {
            serde_json::Value::Object(o) => o,
            _ => serde_json::Map::new(),
        };
        for (key, list) in [
            ("dependencies", &self.dependencies),
            ("build_dependencies", &self.build_dependencies),
            ("test_dependencies", &self.test_dependencies),
        ] {
            json.insert(key.into(), list.iter().map(Dependency::to_json).collect());
        }
        serde_json::Value::Object(json)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(name: &str, src: &str) -> Result<Rockspec, RockspecError> {
        Rockspec::from_bytes(
            name,
            Some(name),
            src.as_bytes(),
            &LoadOptions {
                platforms: Platforms::for_system("linux"),
            },
        )
    }

    #[test]
    fn derived_fields_and_overrides() {
        let r = load(
            "luafoo-1.0-1.rockspec",
            r#"package = "LuaFoo" version = "1.0-1"
               source = { url = "https://e.org/luafoo-1.0.tar.gz" }
               dependencies = { "lua >= 5.1", platforms = { linux = { "lua >= 5.3" } } }
               build = { type = "builtin", modules = { foo = "foo.lua" } }"#,
        )
        .expect("loads");
        assert_eq!(r.name, "luafoo");
        assert_eq!(r.source.file.as_deref(), Some("luafoo-1.0.tar.gz"));
        assert_eq!(r.source.dir, "luafoo-1.0");
        assert_eq!(r.dependencies[0].to_string(), "lua >= 5.3");
    }

    #[test]
    fn file_name_must_agree_with_contents() {
        let src = r#"package = "foo" version = "1.0-1" source = { url = "x" } build = {}"#;
        assert!(matches!(
            load("foo-1.0-2.rockspec", src),
            Err(RockspecError::NameMismatch { .. })
        ));
        assert!(matches!(
            load("foo.rockspec", src),
            Err(RockspecError::FileName { .. })
        ));
        assert!(Rockspec::from_bytes(
            "rockspec",
            Some("rockspec"),
            src.as_bytes(),
            &LoadOptions::default()
        )
        .is_ok());
    }

    #[test]
    fn schema_errors_suggest_a_newer_format() {
        let src = r#"package = "foo" version = "1.0-1" source = { url = "x" }
                     description = { labels = { "a" } } build = {}"#;
        let err = load("foo-1.0-1.rockspec", src)
            .expect_err("labels need 3.0")
            .to_string();
        assert!(err.contains("adding 'rockspec_format = \"3.0\"'"), "{err}");
    }

    #[test]
    fn formats_beyond_the_newest_are_refused() {
        let src =
            r#"rockspec_format = "4.0" package = "foo" version = "1.0-1" source = { url = "x" }"#;
        assert!(matches!(
            load("foo-1.0-1.rockspec", src),
            Err(RockspecError::FormatTooNew { .. })
        ));
        let src =
            r#"rockspec_format = "2.0" package = "foo" version = "1.0-1" source = { url = "x" }"#;
        assert!(matches!(
            load("foo-1.0-1.rockspec", src),
            Err(RockspecError::UnknownFormat { .. })
        ));
    }
}
