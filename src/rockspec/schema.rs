//! The rockspec schema per format, checked as LuaRocks' `type_check` does
//! before any platform override is applied.
//!
//! Formats: 1.0 (base), 1.1 (+`deploy`), 3.0 (+`description.labels` and
//! `issues_url`, namespaced dependencies, `build_dependencies`,
//! `test_dependencies`, `test`; `build` becomes optional) and 3.1 (same
//! fields; changes build variables). Rules carried over from LuaRocks:
//! - a field the format does not know is an error, except inside tables
//!   that accept more (`build`, `test`, `build.install.*`);
//! - `false` counts as missing for mandatory fields;
//! - each `platforms.<p>` table is checked against a copy of its parent's
//!   schema, mandatory fields included (so `source.platforms.linux` must
//!   repeat `url`, as LuaRocks 3.8 demands);
//! - reading an undefined global is an error unless it names a top-level
//!   field of the format.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::LazyLock;

use super::dependency::is_valid_dependency_string;
use crate::lua::{Key, Table, Value};

/// A rockspec format version.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Format {
    /// 1.0, the default.
    V1_0,
    /// 1.1: `deploy`.
    V1_1,
    /// 3.0.
    V3_0,
    /// 3.1.
    V3_1,
}

impl Format {
    /// Whether this is format 3.0 or newer.
    pub fn at_least_3(self) -> bool {
        matches!(self, Format::V3_0 | Format::V3_1)
    }

    /// Every format, oldest first.
    pub const ALL: [Format; 4] = [Format::V1_0, Format::V1_1, Format::V3_0, Format::V3_1];
    /// The newest format rockstore reads.
    pub const NEWEST: Format = Format::V3_1;

    /// The format named exactly `s`.
    pub fn parse(s: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.as_str() == s)
    }

    /// The format's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::V1_0 => "1.0",
            Format::V1_1 => "1.1",
            Format::V3_0 => "3.0",
            Format::V3_1 => "3.1",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a field must hold.
#[derive(Debug)]
enum Shape {
    Str,
    Boolean,
    /// A string matching a LuaRocks pattern, described for the message.
    Pattern(fn(&str, Format) -> bool, &'static str),
    Table(TableShape),
}

#[derive(Debug, Default)]
struct TableShape {
    fields: Vec<Field>,
    /// The shape of keys not listed (LuaRocks' `_any`).
    any: Option<Box<Shape>>,
    /// Unlisted keys are accepted unchecked (LuaRocks' `_more`).
    more: bool,
    /// Has a `platforms` table of overrides.
    platforms: bool,
}

#[derive(Debug)]
struct Field {
    name: &'static str,
    shape: Shape,
    mandatory: bool,
    /// The first format that knows the field.
    since: Format,
}

fn field(name: &'static str, shape: Shape) -> Field {
    Field {
        name,
        shape,
        mandatory: false,
        since: Format::V1_0,
    }
}

impl Field {
    fn mandatory(mut self) -> Self {
        self.mandatory = true;
        self
    }
    fn since(mut self, format: Format) -> Self {
        self.since = format;
        self
    }
}

fn table(fields: Vec<Field>) -> Shape {
    Shape::Table(TableShape {
        fields,
        ..TableShape::default()
    })
}

fn list_of(shape: Shape) -> TableShape {
    TableShape {
        any: Some(Box::new(shape)),
        ..TableShape::default()
    }
}

fn open_table() -> Shape {
    Shape::Table(TableShape {
        more: true,
        ..TableShape::default()
    })
}

fn is_rock_version(s: &str) -> bool {
    // `[%w.]+-[%d]+`, anchored.
    match s.split_once('-') {
        Some((v, r)) => {
            !v.is_empty()
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.')
                && !r.is_empty()
                && r.bytes().all(|b| b.is_ascii_digit())
        }
        None => false,
    }
}

fn is_dependency(s: &str, format: Format) -> bool {
    is_valid_dependency_string(s, format >= Format::V3_0)
}

fn dependency_list() -> Shape {
    let mut shape = list_of(Shape::Pattern(is_dependency, "a valid dependency string"));
    shape.platforms = true;
    Shape::Table(shape)
}

/// The whole schema; fields carry the format that introduced them.
static ROCKSPEC: LazyLock<TableShape> = LazyLock::new(|| {
    use Format::*;
    let mut source = TableShape {
        fields: vec![
            field("url", Shape::Str).mandatory(),
            field("md5", Shape::Str),
            field("file", Shape::Str),
            field("dir", Shape::Str),
            field("tag", Shape::Str),
            field("branch", Shape::Str),
            field("module", Shape::Str),
            field("cvs_tag", Shape::Str),
            field("cvs_module", Shape::Str),
        ],
        ..TableShape::default()
    };
    source.platforms = true;
    let install_part = || open_table();
    let build = TableShape {
        fields: vec![
            field("type", Shape::Str),
            field(
                "install",
                table(vec![
                    field("lua", install_part()),
                    field("lib", install_part()),
                    field("conf", install_part()),
                    field("bin", install_part()),
                ]),
            ),
            field("copy_directories", Shape::Table(list_of(Shape::Str))),
        ],
        more: true,
        platforms: true,
        ..TableShape::default()
    };
    let external = TableShape {
        any: Some(Box::new(table(vec![
            field("program", Shape::Str),
            field("header", Shape::Str),
            field("library", Shape::Str),
        ]))),
        platforms: true,
        ..TableShape::default()
    };
    let hooks = TableShape {
        fields: vec![field("post_install", Shape::Str)],
        platforms: true,
        ..TableShape::default()
    };
    let test = TableShape {
        fields: vec![field("type", Shape::Str)],
        more: true,
        platforms: true,
        ..TableShape::default()
    };
    TableShape {
        fields: vec![
            field("rockspec_format", Shape::Str),
            field("package", Shape::Str).mandatory(),
            field(
                "version",
                Shape::Pattern(|s, _| is_rock_version(s), "'[%w.]+-[%d]+'"),
            )
            .mandatory(),
            field(
                "description",
                table(vec![
                    field("summary", Shape::Str),
                    field("detailed", Shape::Str),
                    field("homepage", Shape::Str),
                    field("license", Shape::Str),
                    field("maintainer", Shape::Str),
                    field("labels", Shape::Table(list_of(Shape::Str))).since(V3_0),
                    field("issues_url", Shape::Str).since(V3_0),
                ]),
            ),
            field("dependencies", dependency_list()),
            field("build_dependencies", dependency_list()).since(V3_0),
            field("test_dependencies", dependency_list()).since(V3_0),
            field("supported_platforms", Shape::Table(list_of(Shape::Str))),
            field("external_dependencies", Shape::Table(external)),
            field("source", Shape::Table(source)).mandatory(),
            field("build", Shape::Table(build)).mandatory(),
            field("hooks", Shape::Table(hooks)),
            field(
                "deploy",
                table(vec![field("wrap_bin_scripts", Shape::Boolean)]),
            )
            .since(V1_1),
            field("test", Shape::Table(test)).since(V3_0),
        ],
        ..TableShape::default()
    }
});

/// One schema violation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// The field, as a path (`build.install.lua`, `dependencies[2]`).
    pub field: String,
    /// What is wrong.
    pub problem: String,
}

impl fmt::Display for SchemaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.problem)
        } else {
            write!(f, "{}: {}", self.field, self.problem)
        }
    }
}

struct Checker {
    format: Format,
    errors: Vec<SchemaError>,
}

impl Checker {
    fn error(&mut self, field: String, problem: String) {
        self.errors.push(SchemaError { field, problem });
    }

    fn item(&mut self, value: &Value, shape: &Shape, path: String, in_override: bool) {
        match shape {
            Shape::Boolean => {
                if !matches!(value, Value::Boolean(_)) {
                    self.error(path, format!("expected a boolean, got {}", describe(value)));
                }
            }
            Shape::Str => {
                if !matches!(value, Value::String(_)) {
                    self.error(path, format!("expected a string, got {}", describe(value)));
                }
            }
            Shape::Pattern(accepts, what) => match value {
                Value::String(s) if accepts(s, self.format) => {}
                Value::String(s) => {
                    self.error(path, format!("invalid value '{s}' does not match {what}"))
                }
                other => self.error(path, format!("expected a string, got {}", describe(other))),
            },
            Shape::Table(shape) => match value {
                Value::Table(t) => self.table(t, shape, &path, in_override),
                other => self.error(path, format!("expected a table, got {}", describe(other))),
            },
        }
    }

    fn table(&mut self, table: &Table, shape: &TableShape, context: &str, in_override: bool) {
        for (key, value) in table.iter() {
            let path = key.path_in(context);
            if shape.platforms && !in_override && matches!(key, Key::String(s) if s == "platforms")
            {
                match value {
                    Value::Table(overrides) => {
                        for (platform, specific) in overrides.iter() {
                            let p = platform.path_in(&path);
                            match specific {
                                Value::Table(t) => self.table(t, shape, &p, true),
                                other => self
                                    .error(p, format!("expected a table, got {}", describe(other))),
                            }
                        }
                    }
                    other => self.error(path, format!("expected a table, got {}", describe(other))),
                }
                continue;
            }
            let known = match key {
                Key::String(name) => shape
                    .fields
                    .iter()
                    .find(|f| f.name == name && f.since <= self.format),
                _ => None,
            };
            if let Some(f) = known {
                self.item(value, &f.shape, path, in_override);
            } else if let Some(any) = &shape.any {
                self.item(value, any, path, in_override);
            } else if !shape.more {
                self.error(
                    path,
                    format!("unknown field (not in rockspec format {})", self.format),
                );
            }
        }
        let format = self.format;
        for f in shape
            .fields
            .iter()
            .filter(|f| f.mandatory && f.since <= format)
        {
            // `build` stopped being mandatory in 3.0.
            let mandatory = f.name != "build" || format < Format::V3_0;
            let present = !matches!(table.get(f.name), None | Some(Value::Boolean(false)));
            if mandatory && !present {
                self.error(
                    Key::from(f.name).path_in(context),
                    "mandatory field is missing".into(),
                );
            }
        }
    }
}

fn describe(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string '{s}'"),
        Value::Integer(i) => format!("the number {i}"),
        Value::Number(n) => format!("the number {n}"),
        Value::Boolean(b) => format!("{b}"),
        other => format!("a {}", other.type_name()),
    }
}

/// Checks the evaluated rockspec against `format`. Returns every violation,
/// in key order.
pub fn check(globals: &Table, undeclared: &BTreeSet<String>, format: Format) -> Vec<SchemaError> {
    let mut checker = Checker {
        format,
        errors: Vec::new(),
    };
    let unknown: Vec<&str> = undeclared
        .iter()
        .map(String::as_str)
        .filter(|name| {
            !ROCKSPEC.fields.iter().any(|f| {
                f.since <= format && (f.name == *name || name.strip_prefix("MUST_") == Some(f.name))
            })
        })
        .collect();
    match unknown.as_slice() {
        [] => {}
        [one] => checker.error(String::new(), format!("Unknown variable: {one}")),
        many => checker.error(
            String::new(),
            format!("Unknown variables: {}", many.join(", ")),
        ),
    }
    checker.table(globals, &ROCKSPEC, "", false);
    checker.errors
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lua::{evaluate, Limits};

    fn errors(src: &str, format: Format) -> Vec<String> {
        let e = evaluate(
            "t.rockspec",
            src.as_bytes(),
            &Table::new(),
            Limits::SMALL_FILE,
        )
        .expect("evaluates");
        check(&e.globals, &e.undeclared, format)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const MINIMAL: &str = "package='a' version='1.0-1' source={url='x'} build={type='none'}\n";

    #[test]
    fn minimal_rockspec_passes() {
        assert!(errors(MINIMAL, Format::V1_0).is_empty());
    }

    #[test]
    fn fields_are_gated_by_format() {
        let src = format!("{MINIMAL} description = {{ labels = {{'x'}} }}");
        assert_eq!(
            errors(&src, Format::V1_0),
            ["description.labels: unknown field (not in rockspec format 1.0)"]
        );
        assert!(errors(&src, Format::V3_0).is_empty());
    }

    #[test]
    fn source_overrides_must_repeat_url() {
        let src =
            "package='a' version='1.0-1' build={} source={url='x', platforms={linux={file='y'}}}";
        assert_eq!(
            errors(src, Format::V1_0),
            ["source.platforms.linux.url: mandatory field is missing"]
        );
    }

    #[test]
    fn bad_types_and_patterns_name_the_field() {
        let src = "package='a' version='1.0' source={url=1} dependencies={'x >= 1', 3}";
        let errs = errors(src, Format::V3_0);
        assert!(
            errs.contains(&"version: invalid value '1.0' does not match '[%w.]+-[%d]+'".to_owned()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"source.url: expected a string, got the number 1".to_owned()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"dependencies[2]: expected a string, got the number 3".to_owned()),
            "{errs:?}"
        );
    }

    #[test]
    fn undefined_globals_are_errors_unless_they_are_fields() {
        let src = format!("x = build\ny = os\n{MINIMAL}");
        assert_eq!(errors(&src, Format::V1_0), ["Unknown variable: os"]);
    }
}
