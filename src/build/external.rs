//! External dependencies (`external_dependencies`), found as LuaRocks'
//! `deps.check_external_deps` finds them: per name, under `NAME_DIR` (or
//! `DEPS_DIR`, or each of `external_deps_dirs`), a `program` in `bin`, a
//! `header` in `include`, a `library` in the multiarch/`lib64`/`lib`
//! directories; `NAME_BINDIR`/`NAME_INCDIR`/`NAME_LIBDIR` override single
//! directories. What was found becomes `NAME_DIR`, `NAME_INCDIR`, … for the
//! build, and is part of the recipe key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::variables::Variables;
use crate::lua_install::lib_subdirs;
use crate::rockspec::ExternalDependency;

/// LuaRocks' default `external_deps_dirs` on Unix.
pub const DEFAULT_DIRS: [&str; 3] = ["/usr/local", "/usr", "/"];

/// A dependency that is not installed where we looked.
#[derive(Debug, thiserror::Error)]
#[error("Could not find {kind} file for {name}\n{}\nYou may have to install {name} in your system and/or pass {name}_DIR or {name}_{var} to the rockstore command.\nExample: rockstore install {rock} {name}_DIR=/usr/local", tried_lines(tried))]
pub struct MissingExternal {
    /// The dependency's name (`OPENSSL`).
    pub name: String,
    /// `header`, `library` or `program`.
    pub kind: &'static str,
    /// `INCDIR`, `LIBDIR` or `BINDIR`.
    pub var: &'static str,
    /// Every (file, directory) tried.
    pub tried: Vec<(String, PathBuf)>,
    /// The rock being built, for the example.
    pub rock: String,
}

/// Each (file, directory) tried, once, in order (a `FOO_INCDIR` given is
/// tried under every prefix; LuaRocks names it once).
fn tried_lines(tried: &[(String, PathBuf)]) -> String {
    let mut seen = std::collections::HashSet::new();
    tried
        .iter()
        .filter(|entry| seen.insert(*entry))
        .map(|(f, d)| format!("  No file {f} in {}", d.display()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The dependencies to check: the rockspec's, or when it declares none, one
/// per library its C modules link (`UPPER(lib)`), as LuaRocks autodetects.
pub fn declared_or_detected(
    declared: &BTreeMap<String, ExternalDependency>,
    linked_libraries: &[String],
) -> BTreeMap<String, ExternalDependency> {
    if !declared.is_empty() {
        return declared.clone();
    }
    linked_libraries
        .iter()
        .map(|lib| {
            let name: String = lib
                .to_ascii_uppercase()
                .chars()
                .map(|c| match c {
                    '+' => 'P',
                    c if c.is_ascii_alphanumeric() => c,
                    _ => '_',
                })
                .collect();
            (
                name,
                ExternalDependency {
                    library: Some(lib.clone()),
                    ..ExternalDependency::default()
                },
            )
        })
        .collect()
}

/// Finds every dependency, setting its variables in `vars`.
pub fn resolve(
    deps: &BTreeMap<String, ExternalDependency>,
    vars: &mut Variables,
    deps_dirs: &[PathBuf],
    rock: &str,
) -> Result<(), MissingExternal> {
    for (name, dep) in deps {
        let prefixes: Vec<PathBuf> = match vars
            .get(&format!("{name}_DIR"))
            .or_else(|| vars.get("DEPS_DIR"))
        {
            Some(p) => vec![PathBuf::from(p)],
            None => deps_dirs.to_vec(),
        };
        let mut first_failure: Option<MissingExternal> = None;
        let mut found = None;
        'prefixes: for prefix in &prefixes {
            let mut dirs = Vec::new();
            for (kind, var, subdirs, file) in [
                ("program", "BINDIR", vec!["bin".to_owned()], &dep.program),
                ("header", "INCDIR", vec!["include".to_owned()], &dep.header),
                ("library", "LIBDIR", lib_subdirs(), &dep.library),
            ] {
                let candidates: Vec<PathBuf> = match vars.get(&format!("{name}_{var}")) {
                    Some(d) => vec![PathBuf::from(d)],
                    None => subdirs.iter().map(|s| prefix.join(s)).collect(),
                };
                let Some(file) = file else {
                    let dir = candidates
                        .iter()
                        .find(|d| d.is_dir())
                        .unwrap_or(&candidates[0]);
                    dirs.push((var, dir.clone()));
                    continue;
                };
                let names = file_names(kind, file);
                let mut tried = Vec::new();
                let hit = candidates.iter().find(|dir| {
                    names.iter().any(|n| {
                        tried.push((n.clone(), (*dir).clone()));
                        exists(dir, n)
                    })
                });
                match hit {
                    Some(dir) => dirs.push((var, dir.clone())),
                    None => {
                        let failure = first_failure.get_or_insert_with(|| MissingExternal {
                            name: name.clone(),
                            kind,
                            var,
                            tried: Vec::new(),
                            rock: rock.to_owned(),
                        });
                        if failure.kind == kind {
                            failure.tried.extend(tried);
                        }
                        continue 'prefixes;
                    }
                }
            }
            found = Some((prefix.clone(), dirs));
            break;
        }
        let Some((prefix, dirs)) = found else {
            if let Some(failure) = first_failure {
                return Err(failure);
            }
            continue;
        };
        vars.entry(format!("{name}_DIR"))
            .or_insert_with(|| prefix.display().to_string());
        for (var, dir) in dirs {
            vars.entry(format!("{name}_{var}"))
                .or_insert_with(|| dir.display().to_string());
        }
    }
    Ok(())
}

/// Candidate file names: a bare name goes through LuaRocks' patterns.
fn file_names(kind: &str, file: &str) -> Vec<String> {
    let has_extension = Path::new(file).extension().is_some();
    match kind {
        "header" if !has_extension => vec![format!("{file}.h")],
        "library" if !has_extension => vec![
            format!("lib{file}.a"),
            format!("lib{file}.so"),
            format!("lib{file}.so.*"),
        ],
        _ => vec![file.to_owned()],
    }
}

fn exists(dir: &Path, name: &str) -> bool {
    match name.strip_suffix('*') {
        None => dir.join(name).exists(),
        Some(prefix) => std::fs::read_dir(dir).is_ok_and(|entries| {
            entries
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with(prefix))
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_under_name_dir_and_missing_names_every_place() {
        let tmp = tempfile::tempdir().expect("tmp");
        std::fs::create_dir_all(tmp.path().join("include")).expect("mkdir");
        std::fs::create_dir_all(tmp.path().join("lib")).expect("mkdir");
        std::fs::write(tmp.path().join("include/foo.h"), "").expect("h");
        std::fs::write(tmp.path().join("lib/libfoo.so.1"), "").expect("so");
        let deps: BTreeMap<String, ExternalDependency> = [(
            "FOO".to_owned(),
            ExternalDependency {
                header: Some("foo.h".into()),
                library: Some("foo".into()),
                program: None,
            },
        )]
        .into();
        let mut vars = Variables::new();
        vars.insert("FOO_DIR".into(), tmp.path().display().to_string());
        resolve(&deps, &mut vars, &[], "x").expect("found");
        assert_eq!(
            vars["FOO_INCDIR"],
            tmp.path().join("include").display().to_string()
        );
        assert_eq!(
            vars["FOO_LIBDIR"],
            tmp.path().join("lib").display().to_string()
        );

        let mut vars = Variables::new();
        let err =
            resolve(&deps, &mut vars, &[tmp.path().join("nowhere")], "x").expect_err("missing");
        let text = err.to_string();
        assert!(
            text.contains("Could not find header file for FOO"),
            "{text}"
        );
        assert!(text.contains("No file foo.h in"), "{text}");
        assert!(text.contains("FOO_DIR"), "{text}");
    }
}
