//! Configuration from flags > environment > defaults. Later issues add
//! LuaRocks' config files here; nothing else decides where things live.

use std::path::PathBuf;

use crate::env_vars::{self, EnvVars};

/// A configuration that cannot be completed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No store given and no home to put the default one in.
    #[error(
        "cannot find a place for the store: pass --store DIR or set {} (neither {} nor {} is set)",
        env_vars::ROCKSTORE_STORE,
        env_vars::XDG_DATA_HOME,
        env_vars::HOME
    )]
    NoStoreRoot,
}

/// Where the store is, and the test hooks.
#[derive(Debug, Clone)]
pub struct Config {
    /// The store root.
    pub store_root: PathBuf,
    /// `ROCKSTORE_FAILPOINT`, if set.
    pub failpoint: Option<String>,
    /// The download cache: `$XDG_CACHE_HOME/rockstore`, else
    /// `~/.cache/rockstore`; none when neither is set.
    pub cache_dir: Option<PathBuf>,
}

impl Config {
    /// Resolves the store root: `--store`, else `$ROCKSTORE_STORE`, else
    /// `$XDG_DATA_HOME/rockstore`, else `$HOME/.local/share/rockstore`.
    pub fn resolve(store_flag: Option<PathBuf>, env: &EnvVars) -> Result<Config, ConfigError> {
        Config::resolve_with(store_flag, None, env)
    }

    /// As [`Config::resolve_with`], for root or another user: root with
    /// nothing configured uses the system store, [`SYSTEM_STORE`], so the
    /// trees it installs (`/usr/local`) lead into a store every user can
    /// read — never into root's private home.
    pub fn resolve_as(
        store_flag: Option<PathBuf>,
        config_file_store: Option<PathBuf>,
        env: &EnvVars,
        is_root: bool,
    ) -> Result<Config, ConfigError> {
        let configured = store_flag
            .or_else(|| env.store.clone().map(PathBuf::from))
            .or(config_file_store)
            .or_else(|| is_root.then(|| PathBuf::from(SYSTEM_STORE)));
        Config::resolve_with(configured, None, env)
    }

    /// As [`Config::resolve`], with the store a LuaRocks config file names
    /// (`rockstore_store`) between the environment and the default.
    pub fn resolve_with(
        store_flag: Option<PathBuf>,
        config_file_store: Option<PathBuf>,
        env: &EnvVars,
    ) -> Result<Config, ConfigError> {
        let store_root = store_flag
            .or_else(|| env.store.clone().map(PathBuf::from))
            .or(config_file_store)
            .or_else(|| {
                env.xdg_data_home
                    .clone()
                    .map(|d| PathBuf::from(d).join("rockstore"))
            })
            .or_else(|| {
                env.home
                    .clone()
                    .map(|h| PathBuf::from(h).join(".local/share/rockstore"))
            })
            .ok_or(ConfigError::NoStoreRoot)?;
        let cache_dir = cache_dir(env);
        Ok(Config {
            store_root,
            failpoint: env.failpoint.clone(),
            cache_dir,
        })
    }
}

/// The user's cache directory (downloads, manifest indexes, probes):
/// `$XDG_CACHE_HOME/rockstore`, else `~/.cache/rockstore`; none when
/// neither is set.
pub fn cache_dir(env: &EnvVars) -> Option<PathBuf> {
    env.xdg_cache_home
        .clone()
        .map(|d| PathBuf::from(d).join("rockstore"))
        .or_else(|| {
            env.home
                .clone()
                .map(|h| PathBuf::from(h).join(".cache/rockstore"))
        })
}

/// The store of root when nothing names one (Nix's `/nix/store`).
pub const SYSTEM_STORE: &str = "/var/lib/rockstore";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_with_nothing_configured_uses_the_system_store() {
        let home_only = EnvVars {
            home: Some("/root".into()),
            ..EnvVars::default()
        };
        let root = Config::resolve_as(None, None, &home_only, true).expect("ok");
        assert_eq!(root.store_root, PathBuf::from(SYSTEM_STORE));
        let user = Config::resolve_as(None, None, &home_only, false).expect("ok");
        assert_eq!(
            user.store_root,
            PathBuf::from("/root/.local/share/rockstore")
        );
        // What is configured still wins for root.
        let named = Config::resolve_as(None, Some("/srv/s".into()), &home_only, true).expect("ok");
        assert_eq!(named.store_root, PathBuf::from("/srv/s"));
    }

    #[test]
    fn flag_beats_env_beats_default() {
        let env = EnvVars {
            store: Some("/e".into()),
            home: Some("/h".into()),
            ..EnvVars::default()
        };
        assert_eq!(
            Config::resolve(Some("/f".into()), &env)
                .expect("ok")
                .store_root,
            PathBuf::from("/f")
        );
        assert_eq!(
            Config::resolve(None, &env).expect("ok").store_root,
            PathBuf::from("/e")
        );
        let home_only = EnvVars {
            home: Some("/h".into()),
            ..EnvVars::default()
        };
        assert_eq!(
            Config::resolve(None, &home_only).expect("ok").store_root,
            PathBuf::from("/h/.local/share/rockstore")
        );
        assert!(Config::resolve(None, &EnvVars::default()).is_err());
    }
}
