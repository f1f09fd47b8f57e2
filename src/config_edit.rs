//! Rewriting one LuaRocks config file, as `luarocks config KEY VALUE`
//! (and `--unset`) does in 3.8: the file is read with only `home` set
//! (a file that needs more, or does not load, is refused), the dotted key
//! (`variables.LUA_INCDIR`, `rocks_trees[1].root`) is set — missing tables
//! on the way created — or removed, and the whole table is written back in
//! LuaRocks' `persist` format.

use std::path::{Path, PathBuf};

use crate::lua::persist::save_from_table;
use crate::lua::{self, Key, Limits, Table, Value};

/// Which file LuaRocks rewrites (`--scope`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// `/etc/luarocks/config-5.x.lua`.
    System,
    /// `~/.luarocks/config-5.x.lua` (or `$LUAROCKS_CONFIG`).
    User,
    /// `<project>/.luarocks/config-5.x.lua`.
    Project,
}

/// What a value is, as LuaRocks infers it from the key's current value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A number: the value is converted when it reads as one.
    Number,
    /// A boolean: `true` and `false` are converted.
    Boolean,
    /// Anything else: kept as a string.
    Other,
}

/// Why the file was not rewritten.
#[derive(Debug, thiserror::Error)]
pub enum EditError {
    /// The file is there but does not load as plain data.
    #[error("Could not read existing config file {}", .0.display())]
    Unreadable(PathBuf),
    /// A table on the key's way is missing (with --unset).
    #[error("Unknown entry {0}")]
    Unknown(String),
    /// Writing failed.
    #[error("Cannot create file at {}", .0.display())]
    Write(PathBuf),
}

/// One step of a dotted key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Step {
    Name(String),
    Index(i64),
}

/// LuaRocks' `traverse_varstring` grammar: `a.b`, `a[1].b`, `[2].c`.
pub(crate) fn steps(key: &str) -> Vec<Step> {
    let mut out = Vec::new();
    let mut rest = key;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('[') {
            let (n, tail) = after.split_once(']').unwrap_or((after, ""));
            match n.parse::<i64>() {
                Ok(i) => out.push(Step::Index(i)),
                Err(_) => out.push(Step::Name(format!("[{n}]"))),
            }
            rest = tail.strip_prefix('.').unwrap_or(tail);
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Step::Name(rest[..end].to_owned()));
            rest = &rest[end..];
            rest = rest.strip_prefix('.').unwrap_or(rest);
        }
    }
    out
}

pub(crate) fn key_of(step: &Step) -> Key {
    match step {
        Step::Name(n) => Key::String(n.clone()),
        Step::Index(i) => Key::Integer(*i),
    }
}

/// The file `scope` names for `lua_version`, when there is one.
pub fn file_for(
    sources: &crate::luarocks_config::ConfigSources,
    scope: Scope,
    lua_version: &str,
) -> Option<PathBuf> {
    let name = format!("config-{lua_version}.lua");
    match scope {
        Scope::System => Some(sources.sysconfdir.join(name)),
        Scope::User => sources.explicit.clone().or_else(|| {
            sources
                .home
                .as_ref()
                .map(|h| h.join(".luarocks").join(&name))
        }),
        Scope::Project => sources
            .project
            .as_ref()
            .map(|p| p.join(".luarocks").join(name)),
    }
}

/// Sets `key` to `value` (`None`: removes it) in `file`; the value as
/// written.
pub fn edit(
    file: &Path,
    home: Option<&Path>,
    key: &str,
    value: Option<&str>,
    kind: Kind,
) -> Result<Option<Value>, EditError> {
    let mut table = match lua::read_source(file, Limits::SMALL_FILE.source_bytes) {
        Ok(bytes) => {
            let mut preset = Table::new();
            if let Some(h) = home {
                preset.insert("home", Value::String(h.display().to_string()));
            }
            let mut globals = lua::evaluate(
                &file.display().to_string(),
                &bytes,
                &preset,
                Limits::SMALL_FILE,
            )
            .map_err(|_| EditError::Unreadable(file.to_path_buf()))?
            .globals;
            globals.remove("home");
            globals
        }
        Err(_) => Table::new(),
    };
    let steps = steps(key);
    let Some((last, path)) = steps.split_last() else {
        return Err(EditError::Unknown(key.to_owned()));
    };
    let mut at = &mut table;
    for step in path {
        let k = key_of(step);
        if at.get_key(&k).is_none() {
            at.set(k.clone(), Some(Value::Table(Table::new())));
        }
        at = match at.get_key_mut(&k) {
            Some(Value::Table(t)) => t,
            _ => {
                return Err(EditError::Unknown(match step {
                    Step::Name(n) => n.clone(),
                    Step::Index(i) => i.to_string(),
                }))
            }
        };
    }
    let written = value.map(|v| match kind {
        Kind::Number => v
            .parse::<i64>()
            .map(Value::Integer)
            .or_else(|_| v.parse::<f64>().map(Value::Number))
            .unwrap_or_else(|_| Value::String(v.to_owned())),
        Kind::Boolean if v == "true" => Value::Boolean(true),
        Kind::Boolean if v == "false" => Value::Boolean(false),
        _ => Value::String(v.to_owned()),
    });
    at.set(key_of(last), written.clone());
    // As LuaRocks' `persist.save_from_table`: the directory is made first
    // (a fresh user has no ~/.luarocks).
    if let Some(dir) = file.parent() {
        std::fs::create_dir_all(dir).map_err(|_| EditError::Write(file.to_path_buf()))?;
    }
    std::fs::write(file, save_from_table(&table))
        .map_err(|_| EditError::Write(file.to_path_buf()))?;
    Ok(written)
}

/// The kind of `key`'s value in `effective` (the configuration in use),
/// as LuaRocks' `infer_type`.
pub fn kind_in(effective: &Table, key: &str) -> Kind {
    let mut at = effective;
    let steps = steps(key);
    let Some((last, path)) = steps.split_last() else {
        return Kind::Other;
    };
    for step in path {
        match at.get_key(&key_of(step)) {
            Some(Value::Table(t)) => at = t,
            _ => return Kind::Other,
        }
    }
    match at.get_key(&key_of(last)) {
        Some(Value::Integer(_) | Value::Number(_)) => Kind::Number,
        Some(Value::Boolean(_)) => Kind::Boolean,
        _ => Kind::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_read_as_luarocks_reads_them() {
        assert_eq!(
            steps("variables.LUA_INCDIR"),
            [
                Step::Name("variables".into()),
                Step::Name("LUA_INCDIR".into())
            ]
        );
        assert_eq!(
            steps("rocks_trees[1].root"),
            [
                Step::Name("rocks_trees".into()),
                Step::Index(1),
                Step::Name("root".into())
            ]
        );
    }
}
