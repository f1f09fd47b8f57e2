//! LuaRocks' own config files, evaluated in the sandbox, so `rocks_trees`,
//! `deps_mode`, `rocks_servers`, `variables`, `external_deps_dirs`,
//! `local_by_default`, `hooks_enabled` and `wrap_bin_scripts` mean what
//! they mean to LuaRocks. rockstore adds one key of its own,
//! `rockstore_store` (the store root).
//!
//! Files, later over earlier (reference §1.5): the system file
//! `/etc/luarocks/config-5.x.lua`, then `$LUAROCKS_CONFIG_5_x` or
//! `$LUAROCKS_CONFIG` if set, else `$XDG_CONFIG_HOME/luarocks/config-5.x.lua`
//! if it exists, else `~/.luarocks/config-5.x.lua`, then a project's
//! `.luarocks/config-5.x.lua` ([`crate::project`]). Later files deep-merge
//! over earlier ones, except `rocks_trees` and `rocks_servers`, which are
//! replaced whole. A config file sees `home`, `lua_version` and `platforms`
//! (LuaRocks also offers `os_getenv`; a sandbox preset cannot be a function,
//! so files calling it fail with a clear error).

use std::path::{Path, PathBuf};

use crate::lua::{self, EvalError, Key, Limits, Table, Value};

/// A config file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
    /// Reading failed.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Evaluating failed.
    #[error("error in config file {}", path.display())]
    Eval {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: EvalError,
    },
    /// A key holds the wrong type.
    #[error("config file {}: {field}: expected {expected}", path.display())]
    Field {
        /// The file.
        path: PathBuf,
        /// The key.
        field: String,
        /// What it should be.
        expected: &'static str,
    },
}

/// One `rocks_trees` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeEntry {
    /// `user`, `system`, … (LuaRocks names).
    pub name: Option<String>,
    /// The tree's root.
    pub root: PathBuf,
}

/// One `rocks_servers` entry: a URL, or a mirror group (the same server at
/// several URLs, tried in order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerEntry {
    /// `"https://…"`.
    Url(String),
    /// `{ "https://a", "https://b" }`.
    Mirrors(Vec<String>),
}

impl ServerEntry {
    /// The URL asked first.
    pub fn first(&self) -> Option<&str> {
        match self {
            ServerEntry::Url(url) => Some(url),
            ServerEntry::Mirrors(group) => group.first().map(String::as_str),
        }
    }

    /// The same entry's dev tree (`URL/dev`, for every mirror).
    pub fn dev(&self) -> ServerEntry {
        let dev = |url: &str| crate::fetch::join(url, "dev");
        match self {
            ServerEntry::Url(url) => ServerEntry::Url(dev(url)),
            ServerEntry::Mirrors(group) => {
                ServerEntry::Mirrors(group.iter().map(|u| dev(u)).collect())
            }
        }
    }

    /// As LuaRocks' `cfg` holds it.
    pub fn to_value(&self) -> Value {
        match self {
            ServerEntry::Url(url) => Value::String(url.clone()),
            ServerEntry::Mirrors(group) => {
                let mut t = Table::new();
                for url in group {
                    t.push(Value::String(url.clone()));
                }
                Value::Table(t)
            }
        }
    }
}

/// The mirror groups of `entries` with more than one URL: the fetcher takes
/// a file the answering mirror lacks from the mirrors after it.
pub fn mirror_groups(entries: &[ServerEntry]) -> Vec<Vec<String>> {
    entries
        .iter()
        .filter_map(|e| match e {
            ServerEntry::Mirrors(group) if group.len() > 1 => Some(group.clone()),
            _ => None,
        })
        .collect()
}

/// LuaRocks' `cfg` once the config files are read over its defaults
/// ([`crate::cfg_defaults`]): the table `config` shows, and typed fields
/// read from that same table.
#[derive(Debug, Clone, Default)]
pub struct LuaRocksConfig {
    /// Files read, in order.
    pub files: Vec<PathBuf>,
    /// LuaRocks' defaults with the files merged over them, as LuaRocks
    /// merges them (what `config` shows, before the flags).
    pub table: Table,
    /// `rocks_trees` (the files', else the defaults' `user` and `system`).
    pub rocks_trees: Vec<TreeEntry>,
    /// `rocks_servers` (the files', else LuaRocks' mirror group), each
    /// entry whole: `servers::load` takes a group's manifest from its first
    /// mirror that loads.
    pub rocks_servers: Vec<ServerEntry>,
    /// `deps_mode`, when set.
    pub deps_mode: Option<String>,
    /// `variables`.
    pub variables: Vec<(String, String)>,
    /// `external_deps_dirs`, when set.
    pub external_deps_dirs: Option<Vec<PathBuf>>,
    /// `local_by_default`.
    pub local_by_default: bool,
    /// `home_tree`: the tree `--local` and `local_by_default` use
    /// (LuaRocks' default: `$HOME/.luarocks`).
    pub home_tree: Option<PathBuf>,
    /// `keep_other_versions`.
    pub keep_other_versions: bool,
    /// `hooks_enabled` (LuaRocks' default: true).
    pub hooks_enabled: bool,
    /// `wrap_bin_scripts`: when set, it decides over every rockspec's
    /// `deploy.wrap_bin_scripts`.
    pub wrap_bin_scripts: Option<bool>,
    /// `rockstore_store`: rockstore's store root.
    pub store: Option<PathBuf>,
    /// `rocks_provided`: rock name → version the system provides.
    pub rocks_provided: Vec<(String, String)>,
    /// `rockstore_adopt`: `"explicit"` refuses a plain LuaRocks tree (or one
    /// LuaRocks changed) until `rockstore adopt`; anything else adopts it
    /// on first touch (`adopt::first_touch`).
    pub adopt: Option<String>,
    /// `rockstore_link_mode`: how new generations reach a tree that has
    /// no mode of its own yet (tree::link_mode).
    pub link_mode: Option<String>,
    /// `rockstore_allowed_users`: who may connect to the store's daemon
    /// (names, `@group`; none: everyone).
    pub daemon_allowed_users: Option<Vec<String>>,
    /// `rockstore_trusted_users`: the daemon's admins besides root.
    pub daemon_trusted_users: Vec<String>,
    /// `rockstore_build_users_group`: whose members the daemon builds as.
    pub daemon_build_users_group: Option<String>,
    /// `rockstore_sandbox`: `"required"` (the default) or `"relaxed"`.
    pub daemon_sandbox: Option<String>,
    /// `rockstore_build_timeout`: seconds a daemon build may take.
    pub daemon_build_timeout: Option<u64>,
    /// `rockstore_build_max_silent`: seconds a build may print nothing.
    pub daemon_build_max_silent: Option<u64>,
    /// `rockstore_max_builds_per_user`: build users one user may hold.
    pub daemon_max_builds_per_user: Option<u64>,
    /// `rockstore_user_quota`: store bytes only a member's trees may keep
    /// (`"10G"`, `"25%"` of the store's file system, `"none"`).
    pub daemon_user_quota: Option<String>,
    /// `rockstore_request_grace`: seconds every daemon request has.
    pub daemon_request_grace: Option<u64>,
    /// `rockstore_request_min_rate`: bytes a second a request must reach.
    pub daemon_request_min_rate: Option<String>,
    /// `rockstore_upload_budget`: payload bytes the daemon holds at once.
    pub daemon_upload_budget: Option<String>,
    /// `rockstore_upload_share`: of those, what one user may hold.
    pub daemon_upload_share: Option<String>,
    /// `rockstore_max_hold`: seconds a member's hold lasts at most.
    pub daemon_max_hold: Option<u64>,
    /// `rockstore_build_max_disk`: bytes a daemon build may write.
    pub daemon_build_max_disk: Option<String>,
    /// `rockstore_build_max_memory`: data bytes a build process may have.
    pub daemon_build_max_memory: Option<String>,
    /// `rockstore_build_max_processes`: processes a build may have.
    pub daemon_build_max_processes: Option<u64>,
    /// `rockstore_substituters`: binary caches builds are substituted from.
    pub substituters: Vec<String>,
    /// `rockstore_trusted_public_keys`: keys whose realisations are trusted.
    pub trusted_public_keys: Vec<String>,
    /// `rockstore_secret_key_files`: keys pushed realisations are signed with.
    pub secret_key_files: Vec<PathBuf>,
    /// `rockstore_push_to`: a cache every new build is pushed to.
    pub push_to: Option<String>,
    /// `rockstore_cache_min_rate`: bytes a second a binary cache request
    /// must move besides its grace period (`--timeout`).
    pub cache_min_rate: Option<String>,
}

/// Where the config files are looked for.
#[derive(Debug, Clone, Default)]
pub struct ConfigSources {
    /// The system file's directory (`/etc/luarocks`).
    pub sysconfdir: PathBuf,
    /// `$LUAROCKS_CONFIG_5_x` or `$LUAROCKS_CONFIG`.
    pub explicit: Option<PathBuf>,
    /// `$XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<PathBuf>,
    /// `$HOME`.
    pub home: Option<PathBuf>,
    /// The project directory, inside one.
    pub project: Option<PathBuf>,
}

impl ConfigSources {
    /// Where a `default-lua-version.lua` is looked for, in order: the
    /// project's `.luarocks/`, the user's config directories, the system's.
    pub fn default_version_dirs(&self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(p) = &self.project {
            dirs.push(p.join(".luarocks"));
        }
        if let Some(x) = &self.xdg_config_home {
            dirs.push(x.join("luarocks"));
        }
        if let Some(h) = &self.home {
            dirs.push(h.join(".luarocks"));
        }
        dirs.push(self.sysconfdir.clone());
        dirs
    }
}

impl LuaRocksConfig {
    /// Reads the config files for `lua_version`.
    pub fn load(
        sources: &ConfigSources,
        lua_version: &str,
    ) -> Result<LuaRocksConfig, ConfigFileError> {
        let file_name = format!("config-{lua_version}.lua");
        let mut files = Vec::new();
        let system = sources.sysconfdir.join(&file_name);
        if system.is_file() {
            files.push(system);
        }
        if let Some(explicit) = &sources.explicit {
            files.push(explicit.clone());
        } else {
            let xdg = sources
                .xdg_config_home
                .as_ref()
                .map(|d| d.join("luarocks").join(&file_name))
                .filter(|p| p.is_file());
            let home = sources
                .home
                .as_ref()
                .map(|h| h.join(".luarocks").join(&file_name))
                .filter(|p| p.is_file());
            files.extend(xdg.or(home));
        }
        if let Some(project) = &sources.project {
            let file = project.join(".luarocks").join(&file_name);
            if file.is_file() {
                files.push(file);
            }
        }
        let mut merged = Table::new();
        for file in &files {
            let table = evaluate(file, sources, lua_version)?;
            for replaced in crate::cfg_defaults::REPLACED_WHOLE {
                if table.get(replaced).is_some() {
                    merged.remove(replaced);
                }
            }
            merged.deep_merge(&table);
        }
        let defaults = crate::cfg_defaults::table(
            sources.home.as_deref(),
            rustix::process::geteuid().is_root(),
        );
        let cfg = crate::cfg_defaults::merge_under(defaults, &merged);
        let mut config = LuaRocksConfig::from_table(&cfg, files.last().map(PathBuf::as_path))?;
        // The build's variables are the files' alone: the defaults' (CC,
        // CFLAGS, …) are LuaRocks' view of them, and a build takes its own
        // from the Lua installation and the environment first.
        config.variables = files_variables(&merged);
        config.files = files;
        config.table = cfg;
        Ok(config)
    }

    fn from_table(t: &Table, file: Option<&Path>) -> Result<LuaRocksConfig, ConfigFileError> {
        let field = |name: &str, expected: &'static str| ConfigFileError::Field {
            path: file.map(Path::to_path_buf).unwrap_or_default(),
            field: name.to_owned(),
            expected,
        };
        let mut config = LuaRocksConfig::default();
        if let Some(v) = t.get("rocks_trees") {
            let list = v
                .as_table()
                .ok_or_else(|| field("rocks_trees", "a list of paths or {name=, root=} tables"))?;
            let mut trees = Vec::new();
            for entry in list.sequence() {
                trees.push(match entry {
                    Value::String(root) => TreeEntry {
                        name: None,
                        root: PathBuf::from(root),
                    },
                    Value::Table(e) => TreeEntry {
                        name: e.get_string("name"),
                        root: PathBuf::from(e.get_string("root").ok_or_else(|| {
                            field(
                                "rocks_trees[].root",
                                "a path (every table entry needs root)",
                            )
                        })?),
                    },
                    _ => return Err(field("rocks_trees", "paths or {name=, root=} tables")),
                });
            }
            config.rocks_trees = trees;
        }
        if let Some(v) = t.get("rocks_servers") {
            let list = v
                .as_table()
                .ok_or_else(|| field("rocks_servers", "a list of URLs or mirror lists"))?;
            config.rocks_servers = list
                .sequence()
                .filter_map(|entry| match entry {
                    Value::String(s) => Some(ServerEntry::Url(s.clone())),
                    Value::Table(mirrors) => Some(ServerEntry::Mirrors(
                        mirrors
                            .sequence()
                            .filter_map(|m| m.as_str().map(str::to_owned))
                            .collect(),
                    )),
                    _ => None,
                })
                .filter(|entry| entry.first().is_some())
                .collect();
        }
        config.deps_mode = t.get_string("deps_mode");
        if let Some(v) = t.get("external_deps_dirs") {
            let list = v
                .as_table()
                .ok_or_else(|| field("external_deps_dirs", "a list of directories"))?;
            config.external_deps_dirs = Some(
                list.sequence()
                    .filter_map(|d| match d {
                        Value::String(s) => Some(PathBuf::from(s)),
                        Value::Table(p) => p.get_string("prefix").map(PathBuf::from),
                        _ => None,
                    })
                    .collect(),
            );
        }
        config.local_by_default = t.get("local_by_default").and_then(Value::as_bool) == Some(true);
        config.home_tree = t.get_string("home_tree").map(PathBuf::from);
        config.keep_other_versions =
            t.get("keep_other_versions").and_then(Value::as_bool) == Some(true);
        config.hooks_enabled = t.get("hooks_enabled").and_then(Value::as_bool) != Some(false);
        config.wrap_bin_scripts = t.get("wrap_bin_scripts").and_then(Value::as_bool);
        config.store = t.get_string("rockstore_store").map(PathBuf::from);
        config.adopt = t.get_string("rockstore_adopt");
        config.link_mode = t.get_string("rockstore_link_mode");
        if t.get("rockstore_allowed_users").is_some() {
            config.daemon_allowed_users = Some(t.get_strings("rockstore_allowed_users"));
        }
        config.daemon_trusted_users = t.get_strings("rockstore_trusted_users");
        config.daemon_build_users_group = t.get_string("rockstore_build_users_group");
        config.daemon_sandbox = t.get_string("rockstore_sandbox");
        config.substituters = t.get_strings("rockstore_substituters");
        config.trusted_public_keys = t.get_strings("rockstore_trusted_public_keys");
        config.secret_key_files = t
            .get_strings("rockstore_secret_key_files")
            .into_iter()
            .map(PathBuf::from)
            .collect();
        config.push_to = t.get_string("rockstore_push_to");
        let seconds = |key: &str| match t.get(key) {
            Some(Value::Integer(n)) => u64::try_from(*n).ok(),
            Some(Value::Number(n)) if *n >= 0.0 => Some(*n as u64),
            Some(Value::String(s)) => s.trim().parse().ok(),
            _ => None,
        };
        config.daemon_build_timeout = seconds("rockstore_build_timeout");
        config.daemon_build_max_silent = seconds("rockstore_build_max_silent");
        config.daemon_max_builds_per_user = seconds("rockstore_max_builds_per_user");
        let size = |key: &str| match t.get(key) {
            Some(Value::Integer(n)) => Some(n.to_string()),
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        };
        config.daemon_user_quota = size("rockstore_user_quota");
        config.daemon_request_grace = seconds("rockstore_request_grace");
        config.daemon_request_min_rate = size("rockstore_request_min_rate");
        config.cache_min_rate = size("rockstore_cache_min_rate");
        config.daemon_upload_budget = size("rockstore_upload_budget");
        config.daemon_upload_share = size("rockstore_upload_share");
        config.daemon_max_hold = seconds("rockstore_max_hold");
        config.daemon_build_max_disk = size("rockstore_build_max_disk");
        config.daemon_build_max_memory = size("rockstore_build_max_memory");
        config.daemon_build_max_processes = seconds("rockstore_build_max_processes");
        if let Some(Value::Table(provided)) = t.get("rocks_provided") {
            for (k, v) in provided.iter() {
                if let (Key::String(k), Some(v)) = (k, v.as_str()) {
                    config.rocks_provided.push((k.to_lowercase(), v.to_owned()));
                }
            }
        }
        Ok(config)
    }
}

/// The `variables` the config files set.
fn files_variables(files: &Table) -> Vec<(String, String)> {
    let mut variables = Vec::new();
    if let Some(Value::Table(vars)) = files.get("variables") {
        for (k, v) in vars.iter() {
            if let (Key::String(k), Some(v)) = (k, v.as_str()) {
                variables.push((k.clone(), v.to_owned()));
            }
        }
    }
    variables
}

fn evaluate(
    file: &Path,
    sources: &ConfigSources,
    lua_version: &str,
) -> Result<Table, ConfigFileError> {
    let bytes = lua::read_source(file, Limits::SMALL_FILE.source_bytes).map_err(|source| {
        ConfigFileError::Read {
            path: file.to_path_buf(),
            source,
        }
    })?;
    let mut preset = Table::new();
    if let Some(home) = &sources.home {
        preset.insert("home", Value::String(home.display().to_string()));
    }
    preset.insert("lua_version", Value::String(lua_version.to_owned()));
    let mut platforms = Table::new();
    for p in crate::rockspec::Platforms::host().active() {
        platforms.insert(p, Value::Boolean(true));
    }
    preset.insert("platforms", Value::Table(platforms));
    preset.insert("variables", Value::Table(Table::new()));
    let evaluation = lua::evaluate(
        &file.display().to_string(),
        &bytes,
        &preset,
        Limits::SMALL_FILE,
    )
    .map_err(|source| ConfigFileError::Eval {
        path: file.to_path_buf(),
        source,
    })?;
    let mut globals = evaluation.globals;
    // What the file did not set is not config.
    for preset_only in ["home", "lua_version", "platforms"] {
        if globals.get(preset_only) == preset.get(preset_only) {
            globals.remove(preset_only);
        }
    }
    Ok(globals)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_files_merge_over_earlier_but_trees_and_servers_are_replaced() {
        let tmp = tempfile::tempdir().expect("tmp");
        let sys = tmp.path().join("etc");
        std::fs::create_dir_all(&sys).expect("etc");
        std::fs::write(
            sys.join("config-5.4.lua"),
            "rocks_trees = { { name = 'system', root = '/sys' }, '/other' }\n\
             rocks_servers = { 'http://a', { 'http://m1', 'http://m2' } }\n\
             variables = { CC = 'gcc', CFLAGS = '-O2' }\ndeps_mode = 'all'\n",
        )
        .expect("sys");
        let user = tmp.path().join("user.lua");
        std::fs::write(
            &user,
            "rocks_trees = { home .. '/t' }\nvariables.CFLAGS = '-O3'\n\
             local_by_default = true\nrockstore_store = '/s'\nrocks_provided = { luasocket = '3.0-1' }\n",
        )
        .expect("user");
        // The project's file comes last: over the user's variables, and
        // not touching trees it does not set.
        let project = tmp.path().join("project");
        std::fs::create_dir_all(project.join(".luarocks")).expect("project");
        std::fs::write(
            project.join(".luarocks/config-5.4.lua"),
            "variables = { CFLAGS = '-Og' }\n",
        )
        .expect("project config");
        let mut sources = ConfigSources {
            sysconfdir: sys,
            explicit: Some(user),
            xdg_config_home: None,
            home: Some(PathBuf::from("/h")),
            project: None,
        };
        let c = LuaRocksConfig::load(&sources, "5.4").expect("loads");
        assert!(c.variables.contains(&("CFLAGS".into(), "-O3".into())));
        sources.project = Some(project.clone());
        let c = LuaRocksConfig::load(&sources, "5.4").expect("loads");
        assert_eq!(
            c.files.last(),
            Some(&project.join(".luarocks/config-5.4.lua"))
        );
        assert!(c.variables.contains(&("CFLAGS".into(), "-Og".into())));
        assert_eq!(c.files.len(), 3);
        assert_eq!(
            c.rocks_trees,
            vec![TreeEntry {
                name: None,
                root: "/h/t".into()
            }]
        );
        // A mirror group keeps every mirror, in order.
        assert_eq!(
            c.rocks_servers,
            vec![
                ServerEntry::Url("http://a".to_owned()),
                ServerEntry::Mirrors(vec!["http://m1".to_owned(), "http://m2".to_owned()])
            ]
        );
        assert_eq!(
            mirror_groups(&c.rocks_servers),
            vec![vec!["http://m1".to_owned(), "http://m2".to_owned()]]
        );
        // Only the files' variables: the defaults' CC is LuaRocks' view.
        assert!(!c.variables.iter().any(|(k, _)| k == "LD"));
        assert!(c.hooks_enabled, "LuaRocks' default");
        assert_eq!(c.deps_mode.as_deref(), Some("all"));
        assert!(c.variables.contains(&("CC".into(), "gcc".into())));
        assert!(c.local_by_default);
        assert_eq!(c.store, Some(PathBuf::from("/s")));
        assert_eq!(
            c.rocks_provided,
            [("luasocket".to_owned(), "3.0-1".to_owned())]
        );
    }

    #[test]
    fn with_no_file_the_defaults_decide() {
        let sources = ConfigSources {
            home: Some(PathBuf::from("/h")),
            ..ConfigSources::default()
        };
        let c = LuaRocksConfig::load(&sources, "5.4").expect("loads");
        assert!(c.files.is_empty());
        assert_eq!(
            c.rocks_trees
                .iter()
                .map(|t| t.root.clone())
                .collect::<Vec<_>>(),
            [PathBuf::from("/h/.luarocks"), PathBuf::from("/usr/local")]
        );
        // LuaRocks' four mirrors, as one group: the installer falls back
        // along it as LuaRocks does.
        assert_eq!(mirror_groups(&c.rocks_servers).concat().len(), 4);
        assert_eq!(c.rocks_servers[0].first(), Some("https://luarocks.org"));
        assert!(c.hooks_enabled);
    }

    #[test]
    fn a_broken_config_names_the_file() {
        let tmp = tempfile::tempdir().expect("tmp");
        let user = tmp.path().join("c.lua");
        std::fs::write(&user, "rocks_trees = {").expect("write");
        let sources = ConfigSources {
            explicit: Some(user.clone()),
            ..ConfigSources::default()
        };
        let err = LuaRocksConfig::load(&sources, "5.4").expect_err("syntax");
        assert!(err.to_string().contains(&user.display().to_string()));
    }
}
