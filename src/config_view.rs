//! The configuration as LuaRocks 3.8's `config` shows it: every key of its
//! `cfg` table (LuaRocks' defaults for this platform, then what the config
//! files set, then what it derives: the target tree's directories, the
//! Lua installation found, the variables a build uses), with rockstore's
//! own (`rockstore_store`, `target_tree`) beside them. A key is looked up
//! as `config KEY` reads it (`variables.LUA_INCDIR`, `rocks_trees[1]`),
//! and printed as LuaRocks prints it: a string alone, anything else in
//! `persist` syntax; the whole table as assignments.

use std::path::{Path, PathBuf};

use crate::config_edit::{key_of, steps};
use crate::lua::persist;
use crate::lua::{Key, Table, Value};
use crate::luarocks_config::ServerEntry;

/// A key `config` does not know.
#[derive(Debug, thiserror::Error)]
#[error("Unknown entry {0}")]
pub struct UnknownEntry(pub String);

/// What the view is made of, besides the files' own table.
#[derive(Debug, Clone)]
pub struct ViewInputs<'a> {
    /// LuaRocks' `cfg`: its defaults with the config files over them
    /// ([`crate::luarocks_config::LuaRocksConfig::table`]).
    pub cfg: &'a Table,
    /// `5.x`.
    pub lua_version: &'a str,
    /// The interpreter found.
    pub interpreter: Option<&'a Path>,
    /// The system config directory.
    pub sysconfdir: &'a Path,
    /// The system file, the user file (with whether each exists) and the
    /// project's, when there is one.
    pub system_file: PathBuf,
    /// The user's file (`$LUAROCKS_CONFIG`, else `~/.luarocks/config-5.x.lua`).
    pub user_file: Option<PathBuf>,
    /// The project's `.luarocks/config-5.x.lua`, when in a project.
    pub project_file: Option<PathBuf>,
    /// The tree commands would change.
    pub target: &'a Path,
    /// `cfg.home_tree`.
    pub home_tree: Option<&'a Path>,
    /// The deps mode in use.
    pub deps_mode: &'a str,
    /// The variables a build uses.
    pub variables: Vec<(String, String)>,
    /// Where external dependencies are looked for.
    pub external_deps_dirs: Vec<PathBuf>,
    /// The download cache.
    pub cache: Option<&'a Path>,
    /// The store root.
    pub store: &'a Path,
    /// `rocks_servers` with the server flags applied.
    pub servers: &'a [ServerEntry],
    /// The project around the working directory and its tree, when in one.
    pub project: Option<(&'a Path, &'a Path)>,
}

use crate::cfg_defaults::{list, path, string};

fn file_entry(file: &Path) -> Value {
    let mut t = Table::new();
    t.insert("file", path(file));
    t.insert("found", Value::Boolean(file.is_file()));
    Value::Table(t)
}

/// The whole table `config` shows.
pub fn effective(inputs: &ViewInputs<'_>) -> Table {
    let mut cfg = inputs.cfg.clone();
    let v = inputs.lua_version;
    if let Some(tree) = inputs.home_tree {
        cfg.insert("home_tree", path(tree));
    }
    cfg.insert("sysconfdir", path(inputs.sysconfdir));
    // As LuaRocks' `config`: functions and its internal tables left out.
    for skipped in [
        "errorcodes",
        "flags",
        "platforms",
        "root_dir",
        "upload_servers",
    ] {
        cfg.remove(skipped);
    }
    let functions: Vec<String> = cfg
        .iter()
        .filter_map(|(k, v)| match (k, v) {
            (Key::String(k), Value::Opaque(_)) => Some(k.clone()),
            _ => None,
        })
        .collect();
    for f in functions {
        cfg.remove(&f);
    }
    // The servers in use, the flags applied (`Resolved::server_entries`).
    cfg.insert(
        "rocks_servers",
        list(inputs.servers.iter().map(ServerEntry::to_value)),
    );
    // What LuaRocks derives after reading the files.
    if let Some((dir, tree)) = inputs.project {
        cfg.insert("project_dir", path(dir));
        let mut entry = Table::new();
        entry.insert("name", string("project"));
        entry.insert("root", path(tree));
        let mut trees: Vec<Value> = match cfg.remove("rocks_trees") {
            Some(Value::Table(t)) => t.sequence().cloned().collect(),
            _ => Vec::new(),
        };
        trees.insert(0, Value::Table(entry));
        cfg.insert("rocks_trees", list(trees));
    }
    let mut files = Table::new();
    let nearest = inputs
        .project_file
        .as_ref()
        .filter(|f| f.is_file())
        .or(inputs.user_file.as_ref().filter(|f| f.is_file()))
        .unwrap_or(&inputs.system_file);
    files.insert("nearest", path(nearest));
    if let Some(project) = &inputs.project_file {
        files.insert("project", file_entry(project));
    }
    files.insert("system", file_entry(&inputs.system_file));
    if let Some(user) = &inputs.user_file {
        files.insert("user", file_entry(user));
    }
    cfg.insert("config_files", Value::Table(files));
    let target = inputs.target;
    cfg.insert("deploy_bin_dir", path(&target.join("bin")));
    cfg.insert("deploy_lib_dir", path(&target.join("lib/lua").join(v)));
    cfg.insert("deploy_lua_dir", path(&target.join("share/lua").join(v)));
    cfg.insert(
        "rocks_dir",
        path(&target.join("lib/luarocks").join(format!("rocks-{v}"))),
    );
    cfg.insert("rocks_subdir", string(format!("/lib/luarocks/rocks-{v}")));
    cfg.insert("lib_modules_path", string(format!("/lib/lua/{v}")));
    cfg.insert("lua_modules_path", string(format!("/share/lua/{v}")));
    cfg.insert("lua_version", string(v));
    cfg.insert("deps_mode", string(inputs.deps_mode));
    cfg.insert("lua_found", Value::Boolean(inputs.interpreter.is_some()));
    if let Some(lua) = inputs.interpreter {
        let name = lua.file_name().map_or_else(
            || lua.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        cfg.insert("lua_interpreter", string(name));
    }
    cfg.insert(
        "external_deps_dirs",
        list(inputs.external_deps_dirs.iter().map(|d| path(d))),
    );
    let mut variables = match cfg.remove("variables") {
        Some(Value::Table(t)) => t,
        _ => Table::new(),
    };
    for (k, val) in &inputs.variables {
        variables.insert(k, string(val.clone()));
    }
    variables.insert(
        "ROCKS_TREE",
        path(&target.join("lib/luarocks").join(format!("rocks-{v}"))),
    );
    variables.insert("SCRIPTS_DIR", path(&target.join("bin")));
    cfg.insert("variables", Value::Table(variables));
    // rockstore's own.
    cfg.insert("rockstore_store", path(inputs.store));
    cfg.insert("target_tree", path(target));
    if let Some(cache) = inputs.cache {
        cfg.insert("rockstore_cache", path(cache));
    }
    cfg
}

/// `config KEY`: the value at a dotted or indexed key.
pub fn lookup<'t>(table: &'t Table, key: &str) -> Result<&'t Value, UnknownEntry> {
    let steps = steps(key);
    let mut at = table;
    let Some((last, path)) = steps.split_last() else {
        return Err(UnknownEntry(key.to_owned()));
    };
    let name = |k: &Key| match k {
        Key::String(s) => s.clone(),
        Key::Integer(i) => i.to_string(),
        other => format!("{other:?}"),
    };
    for step in path {
        let k = key_of(step);
        match at.get_key(&k) {
            Some(Value::Table(t)) => at = t,
            _ => return Err(UnknownEntry(name(&k))),
        }
    }
    let k = key_of(last);
    match at.get_key(&k) {
        Some(Value::Boolean(false)) | None => Err(UnknownEntry(name(&k))),
        Some(v) => Ok(v),
    }
}

/// How `config KEY` prints a value: a string on its line; anything else
/// in `persist` syntax, with no line break after it (LuaRocks writes it
/// with `persist.write_value`).
pub fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s}\n"),
        other => persist::value_text(other),
    }
}

/// How `config` prints the whole table.
pub fn render_all(table: &Table) -> String {
    format!("{}\n", persist::save_from_table(table))
}
