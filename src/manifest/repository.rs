//! Reading repository manifests. A manifest is a Lua file assigning
//! `repository = { name = { ["ver-rev"] = { {arch = "src"}, … } } }` (plus
//! `commands`, `modules`, and in trees `dependencies`); luarocks.org also
//! serves it zipped and as JSON with the same shape. Literal-only text is
//! streamed straight into the model by a reader built on
//! [`crate::lua::literal`] (30,000 versions in ~35 ms); anything else is
//! evaluated in the sandbox with manifest-sized limits.

use std::collections::BTreeMap;
use std::io::Read;

use crate::lua::literal::{self, Reader};
use crate::lua::{self, EvalError, Key, Limits, Table, Value};
use crate::rockspec::Version;

/// Why a manifest could not be read. Each names the manifest.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// Evaluation failed.
    #[error("could not read manifest {name}")]
    Eval {
        /// The manifest.
        name: String,
        /// The cause.
        #[source]
        source: EvalError,
    },
    /// Not JSON, or not the expected shape.
    #[error("manifest {name} is not valid JSON")]
    Json {
        /// The manifest.
        name: String,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// Not a zip holding a manifest.
    #[error("manifest {name} is not a zip archive holding a manifest")]
    Zip {
        /// The manifest.
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The `repository` table is missing or malformed.
    #[error("manifest {name}: {problem}")]
    Shape {
        /// The manifest.
        name: String,
        /// What is wrong.
        problem: String,
    },
}

/// One rock version's entries: the arches available (`rockspec`, `src`,
/// `all`, `linux-x86_64`, `installed`, …).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entries {
    /// Arches in manifest order.
    pub arches: Vec<String>,
}

/// A repository manifest.
#[derive(Debug, Clone, Default)]
pub struct RepositoryManifest {
    /// rock name → version text → entries.
    pub repository: BTreeMap<String, BTreeMap<String, Entries>>,
    /// The rest of the manifest besides `repository` (tree manifests carry
    /// `modules`, `commands` and `dependencies`).
    pub table: Table,
}

impl RepositoryManifest {
    /// Reads a manifest, choosing the reader by `name`'s suffix (`.json`,
    /// `.zip`, else Lua).
    pub fn from_bytes(name: &str, bytes: &[u8]) -> Result<RepositoryManifest, ManifestError> {
        if name.ends_with(".json") {
            let json: serde_json::Value =
                serde_json::from_slice(bytes).map_err(|source| ManifestError::Json {
                    name: name.to_owned(),
                    source,
                })?;
            let table = match lua_value_from_json(&json) {
                Some(Value::Table(t)) => t,
                _ => return Err(shape(name, "the JSON is not an object")),
            };
            return RepositoryManifest::from_table(name, table);
        }
        if name.ends_with(".zip") {
            let inner = unzip_manifest(bytes).map_err(|source| ManifestError::Zip {
                name: name.to_owned(),
                source,
            })?;
            return RepositoryManifest::from_lua(name, &inner);
        }
        RepositoryManifest::from_lua(name, bytes)
    }

    /// Reads manifest Lua text.
    pub fn from_lua(name: &str, bytes: &[u8]) -> Result<RepositoryManifest, ManifestError> {
        let limit = Limits::MANIFEST.source_bytes;
        if bytes.len() > limit {
            return Err(shape(
                name,
                &format!(
                    "it is {} bytes, more than the {limit} bytes a manifest may be",
                    bytes.len()
                ),
            ));
        }
        let mut budget = MAX_VERSIONS;
        let literal = read_literal(bytes, &mut budget);
        if budget == 0 {
            return Err(too_many(name));
        }
        let literal = match literal {
            Err(fields) => return Err(shape(name, &fields.to_string())),
            Ok(literal) => literal,
        };
        if let Some((Some(repository), table)) = literal {
            return Ok(RepositoryManifest { repository, table });
        }
        let parsed =
            literal::read_assignments(bytes).map_err(|fields| shape(name, &fields.to_string()))?;
        let table = match parsed {
            Some(t) => t,
            None => {
                lua::evaluate(name, bytes, &Table::new(), Limits::MANIFEST)
                    .map_err(|source| ManifestError::Eval {
                        name: name.to_owned(),
                        source,
                    })?
                    .globals
            }
        };
        RepositoryManifest::from_table(name, table)
    }

    fn from_table(name: &str, mut table: Table) -> Result<RepositoryManifest, ManifestError> {
        let Some(Value::Table(repo)) = table.remove("repository") else {
            return Err(shape(name, "no `repository` table"));
        };
        let listed: usize = repo
            .iter()
            .map(|(_, v)| v.as_table().map_or(0, |t| t.iter().count()))
            .sum();
        if listed > MAX_VERSIONS {
            return Err(too_many(name));
        }
        let arch_key = Key::String("arch".to_owned());
        let mut repository = BTreeMap::new();
        for (rock, versions) in repo.into_entries() {
            let Value::Table(versions) = versions else {
                return Err(shape(name, &format!("repository.{rock} is not a table")));
            };
            let mut out = BTreeMap::new();
            for (version, entries) in versions.into_entries() {
                let Value::Table(entries) = entries else {
                    return Err(shape(
                        name,
                        &format!("repository.{rock}[{version}] is not a table"),
                    ));
                };
                let arches = entries
                    .sequence()
                    .filter_map(|e| {
                        e.as_table()?
                            .get_key(&arch_key)?
                            .as_str()
                            .map(str::to_owned)
                    })
                    .collect();
                out.insert(key_text(version), Entries { arches });
            }
            repository.insert(key_text(rock), out);
        }
        Ok(RepositoryManifest { repository, table })
    }

    /// The versions of `rock`, newest first (LuaRocks' order; unordered
    /// pairs such as `1.0`/`1` keep text order).
    pub fn versions(&self, rock: &str) -> Vec<(Version, &Entries)> {
        let mut out: Vec<(Version, &Entries)> = self
            .repository
            .get(rock)
            .map(|m| m.iter().map(|(v, e)| (Version::parse(v), e)).collect())
            .unwrap_or_default();
        out.sort_by(|a, b| b.0.sort_order(&a.0));
        out
    }

    /// Number of (rock, version) pairs.
    pub fn version_count(&self) -> usize {
        self.repository.values().map(BTreeMap::len).sum()
    }
}

/// rock name → version text → entries.
type Repository = BTreeMap<String, BTreeMap<String, Entries>>;

/// The most rock versions a manifest may list: luarocks.org's whole
/// manifest lists about 40,000; past this it is a hostile server, and the
/// model of every version would cost hundreds of MB.
pub const MAX_VERSIONS: usize = 250_000;

fn too_many(name: &str) -> ManifestError {
    shape(
        name,
        &format!("lists more than {MAX_VERSIONS} rock versions, more than any real rocks server; refusing it"),
    )
}

/// A literal manifest: its `repository`, if any, and the rest.
type Literal = (Option<Repository>, Table);

/// Streams literal manifest text straight into the model, skipping the
/// generic [`Table`] image of `repository` (several allocations per version
/// that a 30,000-version manifest feels). `None` when the text leaves the
/// literal subset or `repository` has an unexpected shape; the caller then
/// takes the generic path, which yields the same result or names the problem.
/// `budget` counts down the versions read; it is 0 when the manifest
/// listed too many (and `None` is returned). An error when the text holds
/// more than [`literal::MAX_FIELDS`] fields.
fn read_literal(
    bytes: &[u8],
    budget: &mut usize,
) -> Result<Option<Literal>, literal::TooManyFields> {
    let mut r = Reader::new(bytes);
    let mut rest = Vec::new();
    let mut repository = None;
    let read = (|| {
        while let Some(name) = r.next_assignment()? {
            if name == "repository" {
                repository = Some(read_repository(&mut r, budget)?);
            } else {
                rest.push((Key::String(name.to_owned()), r.value()?));
            }
        }
        Some(())
    })();
    match read {
        Some(()) => Ok(Some((repository, Table::from_fields(rest)))),
        None if r.too_many_fields() => Err(literal::TooManyFields),
        None => Ok(None),
    }
}

fn read_repository(r: &mut Reader<'_>, budget: &mut usize) -> Option<Repository> {
    r.open_table()?;
    let mut repository = BTreeMap::new();
    while let Some(rock) = r.next_string_key()? {
        r.open_table()?;
        let mut versions = BTreeMap::new();
        while let Some(version) = r.next_string_key()? {
            *budget = budget.checked_sub(1)?;
            if *budget == 0 {
                return None;
            }
            versions.insert(version.into_owned(), read_entries(r)?);
            r.field_end()?;
        }
        repository.insert(rock.into_owned(), versions);
        r.field_end()?;
    }
    Some(repository)
}

/// `{ { arch = "rockspec" }, { arch = "src", … }, … }`; fields besides
/// `arch` (tree manifests carry `modules`, `commands`, …) are read and
/// dropped, as the generic path does.
fn read_entries(r: &mut Reader<'_>) -> Option<Entries> {
    r.open_table()?;
    let mut arches = Vec::new();
    while r.next_table_item()? {
        let mut arch = None;
        while let Some(key) = r.next_string_key()? {
            if key == "arch" {
                // A repeated key: the later one wins, as in Lua.
                arch = Some(r.string_value()?);
            } else {
                r.value()?;
            }
            r.field_end()?;
        }
        arches.extend(arch.map(std::borrow::Cow::into_owned));
        r.field_end()?;
    }
    Some(Entries { arches })
}

fn key_text(key: Key) -> String {
    match key {
        Key::String(s) | Key::Other(s) => s,
        Key::Integer(i) => i.to_string(),
    }
}

fn shape(name: &str, problem: &str) -> ManifestError {
    ManifestError::Shape {
        name: name.to_owned(),
        problem: problem.to_owned(),
    }
}

/// The single manifest file inside a `manifest-5.x.zip`.
fn unzip_manifest(bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut archive =
        zip::ZipArchive::new(std::io::Cursor::new(bytes)).map_err(std::io::Error::other)?;
    if archive.len() != 1 {
        return Err(std::io::Error::other(format!(
            "expected one file, found {}",
            archive.len()
        )));
    }
    let mut file = archive.by_index(0).map_err(std::io::Error::other)?;
    // Manifests are a few MB; refuse a zip bomb.
    const LIMIT: u64 = crate::fetch::MAX_IN_MEMORY;
    let mut out = Vec::new();
    (&mut file).take(LIMIT + 1).read_to_end(&mut out)?;
    if out.len() as u64 > LIMIT {
        return Err(std::io::Error::other(
            "manifest larger than 64 MiB unpacked",
        ));
    }
    Ok(out)
}

/// The Lua value LuaRocks' JSON manifests stand for; `null` is nil.
fn lua_value_from_json(json: &serde_json::Value) -> Option<Value> {
    use serde_json::Value as J;
    Some(match json {
        J::Null => return None,
        J::Bool(b) => Value::Boolean(*b),
        J::Number(n) => n
            .as_i64()
            .map_or_else(|| Value::Number(n.as_f64().unwrap_or(0.0)), Value::Integer),
        J::String(s) => Value::String(s.clone()),
        J::Array(items) => Value::Table(
            items
                .iter()
                .enumerate()
                .filter_map(|(i, v)| Some((Key::Integer(i as i64 + 1), lua_value_from_json(v)?)))
                .collect(),
        ),
        J::Object(o) => Value::Table(
            o.iter()
                .filter_map(|(k, v)| Some((Key::String(k.clone()), lua_value_from_json(v)?)))
                .collect(),
        ),
    })
}

/// A rocks server's manifest as `luarocks-admin make_manifest` writes it:
/// `commands` and `modules` (empty: rockstore serves no binary rocks'
/// module index) and `repository`, rock name → version → one
/// `{ arch = … }` per file, names and versions sorted.
pub fn render_server_manifest(
    repository: &BTreeMap<String, BTreeMap<String, Vec<String>>>,
) -> String {
    use std::fmt::Write;
    let quote = crate::lua::persist::quote;
    // As LuaRocks' `persist`: a name that is a Lua identifier stands bare.
    let key = |k: &str| {
        const KEYWORDS: [&str; 22] = [
            "and", "break", "do", "else", "elseif", "end", "false", "for", "function", "goto",
            "if", "in", "local", "nil", "not", "or", "repeat", "return", "then", "true", "until",
            "while",
        ];
        let ident = k
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            && !KEYWORDS.contains(&k);
        if ident {
            k.to_owned()
        } else {
            format!("[{}]", quote(k))
        }
    };
    let mut out = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    let names: Vec<_> = repository.iter().collect();
    for (n, (name, versions)) in names.iter().enumerate() {
        let _ = writeln!(out, "   {} = {{", key(name));
        let versions: Vec<_> = versions.iter().collect();
        for (v, (version, arches)) in versions.iter().enumerate() {
            let _ = writeln!(out, "      [{}] = {{", quote(version));
            for (a, arch) in arches.iter().enumerate() {
                let comma = if a + 1 < arches.len() { "," } else { "" };
                let _ = writeln!(
                    out,
                    "         {{\n            arch = {}\n         }}{comma}",
                    quote(arch)
                );
            }
            let comma = if v + 1 < versions.len() { "," } else { "" };
            let _ = writeln!(out, "      }}{comma}");
        }
        let comma = if n + 1 < names.len() { "," } else { "" };
        let _ = writeln!(out, "   }}{comma}");
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const LUA: &str = r#"
commands = {}
modules = {}
repository = {
   foo = {
      ["1.0-1"] = { { arch = "rockspec" }, { arch = "src" } },
      ["1.10-1"] = { { arch = "rockspec" } },
      ["scm-1"] = { { arch = "rockspec" } },
      ["1.2-1"] = { { arch = "all" } },
   },
}
"#;

    #[test]
    fn lua_json_and_zip_read_the_same() {
        let lua = RepositoryManifest::from_bytes("manifest-5.4", LUA.as_bytes()).expect("lua");
        let json = r#"{"commands":{},"modules":{},"repository":{"foo":{"1.0-1":[{"arch":"rockspec"},{"arch":"src"}],"1.10-1":[{"arch":"rockspec"}],"scm-1":[{"arch":"rockspec"}],"1.2-1":[{"arch":"all"}]}}}"#;
        let json =
            RepositoryManifest::from_bytes("manifest-5.4.json", json.as_bytes()).expect("json");
        let mut zipped = Vec::new();
        {
            let mut w = zip::ZipWriter::new(std::io::Cursor::new(&mut zipped));
            w.start_file("manifest-5.4", zip::write::SimpleFileOptions::default())
                .expect("start");
            std::io::Write::write_all(&mut w, LUA.as_bytes()).expect("write");
            w.finish().expect("finish");
        }
        let zip = RepositoryManifest::from_bytes("manifest-5.4.zip", &zipped).expect("zip");
        for m in [&lua, &json, &zip] {
            assert_eq!(m.repository, lua.repository);
        }
        let order: Vec<String> = lua
            .versions("foo")
            .iter()
            .map(|(v, _)| v.to_string())
            .collect();
        assert_eq!(order, ["scm-1", "1.10-1", "1.2-1", "1.0-1"]);
        assert_eq!(lua.repository["foo"]["1.0-1"].arches, ["rockspec", "src"]);
    }

    /// The streaming reader must agree with the generic path (sandbox, then
    /// `from_table`) on everything it accepts, and decline the rest.
    #[test]
    fn streaming_reader_matches_the_generic_path() {
        let cases = [
            LUA,
            // Tree-manifest entries carry more than `arch`; name keys, `;`,
            // escapes, comments, a repeated rock, version and arch key.
            r#"repository = { a = { ["1.0-1"] = { { arch = "installed", modules = { ["a.b"] = "a/b.lua" }, commands = {}, dependencies = { x = "1.0-1" } } } } ;
               ['b%c'] = { ['2-1'] = { { arch = 'src' }; { arch = "x", arch = "y" } }, ['2-1'] = { } },
               a = { ["3-1"] = { { arch = "all" } } }, -- later wins
             } modules = { x = { "a/1.0-1" } } dependencies = nil"#,
            "#!/usr/bin/env lua
repository = {}",
        ];
        for src in cases {
            let (Some(streamed), rest) = read_literal(src.as_bytes(), &mut MAX_VERSIONS.clone())
                .expect("few fields")
                .expect("literal")
            else {
                panic!("no repository in {src}");
            };
            let globals = lua::evaluate("m", src.as_bytes(), &Table::new(), Limits::MANIFEST)
                .expect("evaluates")
                .globals;
            let generic = RepositoryManifest::from_table("m", globals).expect("shape");
            assert_eq!(streamed, generic.repository, "{src}");
            assert_eq!(rest, generic.table, "{src}");
        }
        for declined in [
            "repository = { a = { ['1-1'] = { 'src' } } }",
            "repository = { a = { [1] = { } } }",
            "repository = { a = { ['1-1'] = { { arch = 5 } } } }",
            "repository = { a = 1 }",
            "repository = { a = { ['1-1'] = { { arch = x } } } }",
        ] {
            assert!(
                matches!(
                    read_literal(declined.as_bytes(), &mut MAX_VERSIONS.clone()),
                    Ok(None | Some((None, _)))
                ),
                "{declined}"
            );
        }
    }

    #[test]
    fn non_literal_manifests_go_through_the_sandbox() {
        let src = "local r = {} r.foo = { ['1.0-1'] = { { arch = 'src' } } } repository = r";
        let m = RepositoryManifest::from_bytes("manifest", src.as_bytes()).expect("evaluates");
        assert_eq!(m.version_count(), 1);
        let err =
            RepositoryManifest::from_bytes("manifest", b"while true do end").expect_err("loops");
        assert!(matches!(err, ManifestError::Eval { .. }));
        assert!(RepositoryManifest::from_bytes("manifest", b"x = 1").is_err());
    }

    /// Fields in an order a table's sorted vector does not keep (`m10`
    /// before `m9`), many of them: read in O(n log n), and refused past
    /// the cap rather than read.
    #[test]
    fn many_modules_read_in_any_order_and_too_many_are_refused() {
        let manifest = |n: usize| {
            let mut src = String::from("repository = {}\nmodules = {\n");
            for i in (0..n).rev() {
                src.push_str(&format!("   [\"m{i}\"] = {{ \"r/1.0-1\" }},\n"));
            }
            src.push_str("}\n");
            src
        };
        let read = RepositoryManifest::from_bytes("manifest", manifest(200_000).as_bytes())
            .expect("reads");
        let modules = read.table.get("modules").and_then(Value::as_table);
        assert_eq!(modules.map(Table::len), Some(200_000));
        let refused = RepositoryManifest::from_bytes(
            "manifest",
            manifest(literal::MAX_FIELDS / 2 + 1).as_bytes(),
        )
        .err()
        .map(|e| e.to_string());
        assert!(
            refused
                .as_deref()
                .is_some_and(|e| e.contains("table fields")),
            "{refused:?}"
        );
    }
}
