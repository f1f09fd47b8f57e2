//! The `build` table read per backend. LuaRocks checks only the generic
//! schema when it loads a rockspec and reads backend fields when it builds;
//! [`Build::backend`] does that reading, so `rockstore lint` can report a
//! malformed `build.modules` before any download, naming the field.

use std::collections::BTreeMap;

use super::schema::Format;
use crate::lua::{Key, Table, Value};
use crate::rel_path::RelPath;

const INSIDE: &str = "a path inside the rock's directory (not absolute, no `..`)";
const MODULE_NAME: &str =
    "a module name made of non-empty dotted parts (no `/` at the start, no `..`)";

/// Refuses a path that leaves the rock's directory. Text with `$(VAR)` is
/// checked after substitution, when the build makes its [`RelPath`]s.
fn inside(text: &str, field: impl FnOnce() -> String) -> Result<(), FieldError> {
    if text.contains("$(") || RelPath::parse(text).is_ok() {
        return Ok(());
    }
    Err(FieldError {
        field: field(),
        expected: INSIDE,
    })
}

fn module_name(name: &str, field: impl FnOnce() -> String) -> Result<(), FieldError> {
    RelPath::of_module(name).map(drop).map_err(|_| FieldError {
        field: field(),
        expected: MODULE_NAME,
    })
}

/// The `build` table, platform-merged.
#[derive(Debug, Clone)]
pub struct Build {
    table: Option<Table>,
    format: Format,
}

/// A backend field that does not hold what the backend needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: expected {expected}")]
pub struct FieldError {
    /// The field, as a path.
    pub field: String,
    /// What it should hold.
    pub expected: &'static str,
}

/// The build backend with its fields.
#[derive(Debug, Clone, PartialEq)]
pub enum Backend {
    /// `builtin` (or its deprecated alias `module`).
    Builtin(Builtin),
    /// `make`.
    Make(Make),
    /// `cmake`.
    CMake(CMake),
    /// `command`.
    Command(Command),
    /// `none`: nothing to build.
    None,
    /// Any other type: provided by the rock `luarocks-build-<type>`.
    External(String),
}

/// `builtin`.
#[derive(Debug, Clone, PartialEq)]
pub struct Builtin {
    /// `build.modules`; `None` means autodetect (3.0).
    pub modules: Option<BTreeMap<String, Module>>,
}

/// One `build.modules` entry.
#[derive(Debug, Clone, PartialEq)]
pub enum Module {
    /// A Lua file.
    Lua(String),
    /// A C module.
    C(CModule),
}

/// A C module of the builtin backend.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CModule {
    /// C sources.
    pub sources: Vec<String>,
    /// Libraries to link (`-l`).
    pub libraries: Vec<String>,
    /// Preprocessor definitions (`-D`).
    pub defines: Vec<String>,
    /// Include directories (`-I`); `None` means the external dependencies'.
    pub incdirs: Option<Vec<String>>,
    /// Library directories (`-L`); `None` means the external dependencies'.
    pub libdirs: Option<Vec<String>>,
}

/// `make`.
#[derive(Debug, Clone, PartialEq)]
pub struct Make {
    /// `build.makefile`.
    pub makefile: Option<String>,
    /// Run the build pass (default true).
    pub build_pass: bool,
    /// Target of the build pass (default "").
    pub build_target: String,
    /// Run the install pass (default true).
    pub install_pass: bool,
    /// Target of the install pass (default "install").
    pub install_target: String,
    /// `VAR=VALUE` for the build pass (`variables` merged in).
    pub build_variables: BTreeMap<String, String>,
    /// `VAR=VALUE` for the install pass (`variables` merged in).
    pub install_variables: BTreeMap<String, String>,
}

/// `cmake`.
#[derive(Debug, Clone, PartialEq)]
pub struct CMake {
    /// Inline `CMakeLists.txt`.
    pub cmake: Option<String>,
    /// `-DK=V` definitions.
    pub variables: BTreeMap<String, String>,
    /// Run the build pass (honoured from 3.0).
    pub build_pass: bool,
    /// Run the install pass (honoured from 3.0).
    pub install_pass: bool,
}

/// `command`.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// Shell command that builds.
    pub build_command: Option<String>,
    /// Shell command that installs.
    pub install_command: Option<String>,
}

/// `build.install`: where built files go.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Install {
    /// `install.lua`: (module name or none, file).
    pub lua: Vec<(Option<String>, String)>,
    /// `install.lib`.
    pub lib: Vec<(Option<String>, String)>,
    /// `install.conf`.
    pub conf: Vec<(Option<String>, String)>,
    /// `install.bin`.
    pub bin: Vec<(Option<String>, String)>,
}

fn string_list(value: Option<&Value>, field: &str) -> Result<Option<Vec<String>>, FieldError> {
    match value {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Table(t)) => t
            .sequence()
            .map(|v| v.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            .ok_or(FieldError {
                field: field.to_owned(),
                expected: "a list of strings",
            }),
        Some(_) => Err(FieldError {
            field: field.to_owned(),
            expected: "a string or a list of strings",
        }),
    }
}

fn string_map(value: Option<&Value>, field: &str) -> Result<BTreeMap<String, String>, FieldError> {
    let mut out = BTreeMap::new();
    match value {
        None => {}
        Some(Value::Table(t)) => {
            for (k, v) in t.iter() {
                let value = match v {
                    Value::String(s) => s.clone(),
                    Value::Integer(i) => i.to_string(),
                    Value::Number(n) => n.to_string(),
                    _ => {
                        return Err(FieldError {
                            field: k.path_in(field),
                            expected: "a string",
                        })
                    }
                };
                out.insert(k.to_string(), value);
            }
        }
        Some(_) => {
            return Err(FieldError {
                field: field.to_owned(),
                expected: "a table of NAME = value",
            })
        }
    }
    Ok(out)
}

impl Build {
    pub(crate) fn new(table: Option<Table>, format: Format) -> Build {
        Build { table, format }
    }

    /// The raw, platform-merged table (`None` when the rockspec has none).
    pub fn table(&self) -> Option<&Table> {
        self.table.as_ref()
    }

    fn get(&self, key: &str) -> Option<&Value> {
        self.table.as_ref().and_then(|t| t.get(key))
    }

    fn text(&self, key: &str) -> Result<Option<String>, FieldError> {
        match self.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => Err(FieldError {
                field: format!("build.{key}"),
                expected: "a string",
            }),
        }
    }

    fn flag(&self, key: &str, default: bool) -> Result<bool, FieldError> {
        match self.get(key) {
            None => Ok(default),
            Some(Value::Boolean(b)) => Ok(*b),
            Some(_) => Err(FieldError {
                field: format!("build.{key}"),
                expected: "true or false",
            }),
        }
    }

    /// The build type: as written, else `builtin` from format 3.0; before
    /// 3.0 a missing type is an error, as in LuaRocks.
    pub fn build_type(&self) -> Result<String, FieldError> {
        match self.text("type")? {
            Some(t) => Ok(t),
            None if self.format >= Format::V3_0 => Ok("builtin".to_owned()),
            None => Err(FieldError {
                field: "build.type".into(),
                expected: "a build type (required before rockspec format 3.0)",
            }),
        }
    }

    /// Reads the backend's fields.
    pub fn backend(&self) -> Result<Backend, FieldError> {
        Ok(match self.build_type()?.as_str() {
            "builtin" | "module" => Backend::Builtin(Builtin {
                modules: self.modules()?,
            }),
            "make" => {
                let variables = string_map(self.get("variables"), "build.variables")?;
                let mut build_variables =
                    string_map(self.get("build_variables"), "build.build_variables")?;
                let mut install_variables =
                    string_map(self.get("install_variables"), "build.install_variables")?;
                for (k, v) in &variables {
                    build_variables.insert(k.clone(), v.clone());
                    install_variables.insert(k.clone(), v.clone());
                }
                Backend::Make(Make {
                    makefile: self.text("makefile")?,
                    build_pass: self.flag("build_pass", true)?,
                    build_target: self.text("build_target")?.unwrap_or_default(),
                    install_pass: self.flag("install_pass", true)?,
                    install_target: self
                        .text("install_target")?
                        .unwrap_or_else(|| "install".into()),
                    build_variables,
                    install_variables,
                })
            }
            "cmake" => Backend::CMake(CMake {
                cmake: self.text("cmake")?,
                variables: string_map(self.get("variables"), "build.variables")?,
                build_pass: self.flag("build_pass", true)?,
                install_pass: self.flag("install_pass", true)?,
            }),
            "command" => Backend::Command(Command {
                build_command: self.text("build_command")?,
                install_command: self.text("install_command")?,
            }),
            "none" => Backend::None,
            other => Backend::External(other.to_owned()),
        })
    }

    fn modules(&self) -> Result<Option<BTreeMap<String, Module>>, FieldError> {
        let table = match self.get("modules") {
            None if self.format >= Format::V3_0 => return Ok(None),
            None => {
                return Err(FieldError {
                    field: "build.modules".into(),
                    expected: "a table of modules (required before rockspec format 3.0)",
                })
            }
            Some(Value::Table(t)) => t,
            Some(_) => {
                return Err(FieldError {
                    field: "build.modules".into(),
                    expected: "a table of module name = file or sources",
                })
            }
        };
        let mut out = BTreeMap::new();
        for (key, value) in table.iter() {
            let field = key.path_in("build.modules");
            let Key::String(name) = key else {
                return Err(FieldError {
                    field,
                    expected: "a module name as key",
                });
            };
            module_name(name, || field.clone())?;
            let module = match value {
                Value::String(file) if file.ends_with(".lua") => Module::Lua(file.clone()),
                Value::String(file) => Module::C(CModule {
                    sources: vec![file.clone()],
                    ..CModule::default()
                }),
                Value::Table(t) => {
                    let list = |k: &str| string_list(t.get(k), &format!("{field}.{k}"));
                    let sources = match t.get("sources") {
                        Some(v) => {
                            string_list(Some(v), &format!("{field}.sources"))?.unwrap_or_default()
                        }
                        None => t
                            .sequence()
                            .filter_map(Value::as_str)
                            .map(str::to_owned)
                            .collect(),
                    };
                    if sources.is_empty() {
                        return Err(FieldError {
                            field,
                            expected: "C sources (`sources` or an array of file names)",
                        });
                    }
                    Module::C(CModule {
                        sources,
                        libraries: list("libraries")?.unwrap_or_default(),
                        defines: list("defines")?.unwrap_or_default(),
                        incdirs: list("incdirs")?,
                        libdirs: list("libdirs")?,
                    })
                }
                _ => {
                    return Err(FieldError {
                        field,
                        expected: "a .lua file, a C source, or a table with sources",
                    })
                }
            };
            match &module {
                Module::Lua(file) => inside(file, || field.clone())?,
                Module::C(c) => {
                    for (i, source) in c.sources.iter().enumerate() {
                        inside(source, || format!("{field}.sources[{}]", i + 1))?;
                    }
                }
            }
            out.insert(name.clone(), module);
        }
        Ok(Some(out))
    }

    /// `build.install`.
    pub fn install(&self) -> Result<Install, FieldError> {
        let mut install = Install::default();
        let Some(Value::Table(t)) = self.get("install") else {
            return Ok(install);
        };
        for (section, slot) in [
            ("lua", &mut install.lua),
            ("lib", &mut install.lib),
            ("conf", &mut install.conf),
            ("bin", &mut install.bin),
        ] {
            let Some(Value::Table(entries)) = t.get(section) else {
                continue;
            };
            for (key, value) in entries.iter() {
                let file = value.as_str().ok_or_else(|| FieldError {
                    field: key.path_in(&format!("build.install.{section}")),
                    expected: "a file name",
                })?;
                let field = || key.path_in(&format!("build.install.{section}"));
                let name = match key {
                    Key::String(s) => Some(s.clone()),
                    _ => None,
                };
                if let Some(name) = &name {
                    match section {
                        "lua" | "lib" => module_name(name, field)?,
                        _ => inside(name, field)?,
                    }
                }
                inside(file, field)?;
                slot.push((name, file.to_owned()));
            }
        }
        Ok(install)
    }

    /// `build.copy_directories` (LuaRocks' default is `{"doc"}`, applied
    /// only when the directory exists).
    pub fn copy_directories(&self) -> Result<Option<Vec<String>>, FieldError> {
        let Some(table) = self.table() else {
            return Ok(None);
        };
        if table
            .get("copy_directories")
            .and_then(Value::as_table)
            .is_none()
        {
            return Ok(None);
        }
        let dirs = table.get_strings("copy_directories");
        for (i, dir) in dirs.iter().enumerate() {
            inside(dir, || format!("build.copy_directories[{}]", i + 1))?;
        }
        Ok(Some(dirs))
    }
}
