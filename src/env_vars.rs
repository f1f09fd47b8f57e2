//! Every environment variable rockstore reads, in one place. Only
//! [`crate::config`] reads them (through [`EnvVars::from_process`]), so tests
//! can inject values and nothing deep in the library depends on the process.

use std::ffi::OsString;

/// Store root, below `--store` and above the default.
pub const ROCKSTORE_STORE: &str = "ROCKSTORE_STORE";
/// Test hook: `point[@N]` stops the process at a named point (see `store::failpoint`).
pub const ROCKSTORE_FAILPOINT: &str = "ROCKSTORE_FAILPOINT";
/// Test hook: a named pipe that resumes a process stopped at a failpoint.
pub const ROCKSTORE_FAILPOINT_RESUME: &str = "ROCKSTORE_FAILPOINT_RESUME";
/// Who LuaRocks 3.8 takes the user to be: `--local` is refused when it is
/// `root` (`fs.is_superuser`), whatever the uid.
pub const USER: &str = "USER";
/// Base of the per-user default store (`$XDG_DATA_HOME/rockstore`).
pub const XDG_DATA_HOME: &str = "XDG_DATA_HOME";
/// Fallback base: `$HOME/.local/share/rockstore`.
pub const HOME: &str = "HOME";
/// Base of the download cache (`$XDG_CACHE_HOME/rockstore`, else `~/.cache/rockstore`).
pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
/// C compiler default for builds, as LuaRocks takes it.
pub const CC: &str = "CC";
/// C flags default for builds.
pub const CFLAGS: &str = "CFLAGS";
/// Linker flags default for builds.
pub const LDFLAGS: &str = "LDFLAGS";
/// LuaRocks' user config file override (`LUAROCKS_CONFIG_5_x` wins).
pub const LUAROCKS_CONFIG: &str = "LUAROCKS_CONFIG";
/// LuaRocks' system config directory override (default `/etc/luarocks`).
pub const LUAROCKS_SYSCONFDIR: &str = "LUAROCKS_SYSCONFDIR";
/// Base of LuaRocks' user config (`$XDG_CONFIG_HOME/luarocks`).
pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";

/// S3 credentials for binary caches (`s3://` substituters).
pub const AWS_ACCESS_KEY_ID: &str = "AWS_ACCESS_KEY_ID";
/// Their secret.
pub const AWS_SECRET_ACCESS_KEY: &str = "AWS_SECRET_ACCESS_KEY";
/// A temporary credential's token.
pub const AWS_SESSION_TOKEN: &str = "AWS_SESSION_TOKEN";
/// The credentials file (default `~/.aws/credentials`).
pub const AWS_SHARED_CREDENTIALS_FILE: &str = "AWS_SHARED_CREDENTIALS_FILE";
/// The profile of that file (default `default`).
pub const AWS_PROFILE: &str = "AWS_PROFILE";

/// The values of the variables above, as read once at start-up.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    /// `ROCKSTORE_STORE`.
    pub store: Option<OsString>,
    /// `ROCKSTORE_FAILPOINT`.
    pub failpoint: Option<String>,
    /// `ROCKSTORE_FAILPOINT_RESUME`.
    pub failpoint_resume: Option<OsString>,
    /// `XDG_DATA_HOME`.
    pub xdg_data_home: Option<OsString>,
    /// `HOME`.
    pub home: Option<OsString>,
    /// `USER`.
    pub user: Option<OsString>,
    /// `XDG_CACHE_HOME`.
    pub xdg_cache_home: Option<OsString>,
    /// `CC`.
    pub cc: Option<String>,
    /// `CFLAGS`.
    pub cflags: Option<String>,
    /// `LDFLAGS`.
    pub ldflags: Option<String>,
    /// `LUAROCKS_CONFIG`.
    pub luarocks_config: Option<OsString>,
    /// `LUAROCKS_CONFIG_5_1` … `LUAROCKS_CONFIG_5_4`, by version (`5.4`).
    pub luarocks_config_versioned: Vec<(String, OsString)>,
    /// `LUAROCKS_SYSCONFDIR`.
    pub luarocks_sysconfdir: Option<OsString>,
    /// `XDG_CONFIG_HOME`.
    pub xdg_config_home: Option<OsString>,
    /// `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`,
    /// `AWS_SHARED_CREDENTIALS_FILE`, `AWS_PROFILE`.
    pub aws: [Option<String>; 5],
    /// `PATH` (`path` prints it with the trees' `bin/`).
    pub path: Option<OsString>,
    /// Which of `LUA_PATH_5_x`/`LUA_CPATH_5_x` are set, even empty, by
    /// version (`5.4`): `path` then exports those names, as LuaRocks does.
    pub lua_path_versioned: Vec<(String, bool, bool)>,
    /// Every variable named `LUA_*` (sorted by name): what can change the
    /// paths an interpreter reports, so the key of that probe.
    pub lua_env: Vec<(OsString, OsString)>,
}

/// The process's `PATH`, for finding programs (`lua5.4`, `luajit`) where
/// no [`EnvVars`] was handed down (the daemon looks with its own).
#[allow(clippy::disallowed_methods)] // the one place the environment is read
pub fn process_path() -> Option<OsString> {
    std::env::var_os("PATH")
}

/// Whether `NO_COLOR` asks for no colour (set and not empty; no-color.org).
#[allow(clippy::disallowed_methods)] // the one place the environment is read
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

impl EnvVars {
    /// Reads the process environment (empty values count as unset).
    #[allow(clippy::disallowed_methods)] // the one place the environment is read
    pub fn from_process() -> Self {
        let get = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
        EnvVars {
            store: get(ROCKSTORE_STORE),
            failpoint: get(ROCKSTORE_FAILPOINT).and_then(|v| v.into_string().ok()),
            failpoint_resume: get(ROCKSTORE_FAILPOINT_RESUME),
            xdg_data_home: get(XDG_DATA_HOME),
            home: get(HOME),
            user: get(USER),
            xdg_cache_home: get(XDG_CACHE_HOME),
            cc: get(CC).and_then(|v| v.into_string().ok()),
            cflags: get(CFLAGS).and_then(|v| v.into_string().ok()),
            ldflags: get(LDFLAGS).and_then(|v| v.into_string().ok()),
            luarocks_config: get(LUAROCKS_CONFIG),
            luarocks_config_versioned: ["5.1", "5.2", "5.3", "5.4"]
                .iter()
                .filter_map(|v| {
                    get(&format!("{LUAROCKS_CONFIG}_{}", v.replace('.', "_")))
                        .map(|p| ((*v).to_owned(), p))
                })
                .collect(),
            luarocks_sysconfdir: get(LUAROCKS_SYSCONFDIR),
            xdg_config_home: get(XDG_CONFIG_HOME),
            aws: [
                AWS_ACCESS_KEY_ID,
                AWS_SECRET_ACCESS_KEY,
                AWS_SESSION_TOKEN,
                AWS_SHARED_CREDENTIALS_FILE,
                AWS_PROFILE,
            ]
            .map(|k| get(k).and_then(|v| v.into_string().ok())),
            path: std::env::var_os("PATH"),
            lua_path_versioned: ["5.1", "5.2", "5.3", "5.4"]
                .iter()
                .map(|v| {
                    let s = v.replace('.', "_");
                    (
                        (*v).to_owned(),
                        std::env::var_os(format!("LUA_PATH_{s}")).is_some(),
                        std::env::var_os(format!("LUA_CPATH_{s}")).is_some(),
                    )
                })
                .collect(),
            lua_env: {
                let mut vars: Vec<(OsString, OsString)> = std::env::vars_os()
                    .filter(|(k, _)| k.to_str().is_some_and(|k| k.starts_with("LUA_")))
                    .collect();
                vars.sort();
                vars
            },
        }
    }
}
