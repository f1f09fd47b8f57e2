//! One command's rocks-server session: the servers to ask, the Lua version
//! whose manifests are read (once per command: `list --outdated` asks for
//! every installed rock), the rocks the Lua VM provides, and finding and
//! fetching a rock's files as LuaRocks' `search.lua` does. It reads the
//! servers through [`crate::servers`] and fetches through
//! [`crate::fetch::Fetcher`]; it does not build or install.

use std::cell::OnceCell;
use std::sync::Arc;

use crate::build::BuildEnv;
use crate::fetch::{FetchError, Fetcher, Freshness};
use crate::install::InstallError;
use crate::reporter::{Event, Reporter};
use crate::rockspec::{LoadOptions, Platforms, Rockspec, RockspecError};
use crate::servers::{self, Offer, ServerError, ServerManifest, Want};

/// Why a rock could not be found or read on the servers.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// The version asked for is not a version or constraint (boxed: an
    /// install error is large, and this one is rare).
    #[error(transparent)]
    Version(Box<InstallError>),
    /// No server could be read, the rock is provided, or nothing matches.
    #[error(transparent)]
    Server(#[from] ServerError),
    /// A file could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// A fetched rockspec does not load.
    #[error(transparent)]
    Rockspec(#[from] RockspecError),
}

impl crate::hint::Hint for SessionError {
    // Transparent: the inner error's hints are this error's.
    fn hints(&self) -> Vec<String> {
        match self {
            SessionError::Version(e) => e.hints(),
            _ => Vec::new(),
        }
    }
}

/// What a server-facing command needs.
pub struct Session {
    fetcher: Fetcher,
    servers: Vec<String>,
    lua_version: String,
    provided: Vec<(String, String)>,
    manifests: OnceCell<Vec<ServerManifest>>,
    reporter: Arc<dyn Reporter>,
}

impl Session {
    /// A session over `servers` (in order) for Lua `lua_version`, with the
    /// rocks the VM `provided` (name, version); servers that cannot be read
    /// are warned about through `reporter`.
    pub fn new(
        fetcher: Fetcher,
        servers: Vec<String>,
        lua_version: String,
        provided: Vec<(String, String)>,
        reporter: Arc<dyn Reporter>,
    ) -> Session {
        Session {
            fetcher,
            servers,
            lua_version,
            provided,
            manifests: OnceCell::new(),
            reporter,
        }
    }

    /// The same session, its fetcher checking downloads against what the
    /// binary caches sign when `on` ([`Fetcher::verifying`]).
    pub fn verifying(mut self, on: bool) -> Session {
        self.fetcher = self.fetcher.verifying(on);
        self
    }

    /// The fetcher every download of the session goes through.
    pub fn fetcher(&self) -> &Fetcher {
        &self.fetcher
    }

    /// The Lua version whose manifests are read.
    pub fn lua_version(&self) -> &str {
        &self.lua_version
    }

    /// The bytes of a rock, rockspec or source at `target` (a URL or a
    /// path), which never change once published.
    pub fn fetch(&self, target: &str) -> Result<Vec<u8>, FetchError> {
        self.fetcher.fetch(target, Freshness::Immutable)
    }

    fn load(&self, servers: &[String]) -> Result<Vec<ServerManifest>, ServerError> {
        let mut warnings = Vec::new();
        let loaded = servers::load(&self.fetcher, servers, &self.lua_version, &mut warnings);
        for w in &warnings {
            self.reporter.report(Event::Warning(w));
        }
        loaded
    }

    fn manifests(&self) -> Result<&[ServerManifest], ServerError> {
        if let Some(loaded) = self.manifests.get() {
            return Ok(loaded);
        }
        let loaded = self.load(&self.servers)?;
        Ok(self.manifests.get_or_init(|| loaded))
    }

    /// Every file the servers offer for rocks named `name` (exactly, or
    /// containing it) at `version` (a version or constraints), as
    /// [`servers::search`] sorts them. `user/rock` is the rock of
    /// namespace `user`, in each server's `manifests/user/`, as LuaRocks
    /// looks for it.
    pub fn offers(
        &self,
        name: &str,
        version: Option<&str>,
        exact: bool,
    ) -> Result<Vec<Offer>, SessionError> {
        let constraints = crate::install::version_constraints(version)
            .map_err(|e| SessionError::Version(Box::new(e)))?;
        if let Some((ns, bare)) = name
            .split_once('/')
            .filter(|(ns, n)| !ns.is_empty() && !n.is_empty())
        {
            let loaded = self.load(&servers::in_namespace(&self.servers, ns))?;
            return Ok(servers::search(
                &loaded,
                &[],
                bare,
                exact,
                &constraints,
                &BuildEnv::host_arch(),
            )?);
        }
        Ok(servers::search(
            self.manifests()?,
            &self.provided,
            name,
            exact,
            &constraints,
            &BuildEnv::host_arch(),
        )?)
    }

    /// The best file of rock `name` at `version` for `want`.
    pub fn find(
        &self,
        name: &str,
        version: Option<&str>,
        want: Want,
    ) -> Result<Offer, SessionError> {
        self.find_checking(name, version, want, false)
    }

    /// [`Session::find`]; when nothing matches and `check_lua_versions`,
    /// the error says which other Lua versions have the rock, as LuaRocks'
    /// `--check-lua-versions` (its progress lines as status events).
    pub fn find_checking(
        &self,
        name: &str,
        version: Option<&str>,
        want: Want,
        check_lua_versions: bool,
    ) -> Result<Offer, SessionError> {
        if let Some((_, v)) = self.provided.iter().find(|(p, _)| p == name) {
            return Err(ServerError::Provided {
                name: name.to_owned(),
                version: v.clone(),
            }
            .into());
        }
        let offers = self.offers(name, version, true)?;
        servers::best(&offers, &BuildEnv::host_arch(), want).ok_or_else(|| {
            let constraints = crate::install::version_constraints(version).unwrap_or_default();
            servers::no_match(
                &self.fetcher,
                &self.servers,
                name,
                version,
                &constraints,
                &BuildEnv::host_arch(),
                &self.lua_version,
                check_lua_versions,
                &*self.reporter,
            )
            .into()
        })
    }

    /// The home page the servers' rockspec of `name` names (`doc` of a
    /// rock not installed).
    pub fn homepage(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Option<String>, SessionError> {
        let url = self
            .find(&name.to_lowercase(), version, Want::Rockspec)?
            .url();
        let bytes = self.fetch(&url)?;
        let rockspec = load_rockspec(&url, &bytes)?;
        Ok(rockspec.description.homepage)
    }
}

/// The file name a URL or path ends with.
pub fn file_name(target: &str) -> String {
    target.rsplit('/').next().unwrap_or(target).to_owned()
}

/// The rockspec fetched from `target`, for this machine's platforms, its
/// file name checked against its contents.
pub fn load_rockspec(target: &str, bytes: &[u8]) -> Result<Rockspec, RockspecError> {
    Rockspec::from_bytes(
        target,
        Some(&file_name(target)),
        bytes,
        &LoadOptions {
            platforms: Platforms::host(),
        },
    )
}
