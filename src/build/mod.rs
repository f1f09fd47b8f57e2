//! Turning a rockspec, a `.src.rock` or a binary rock into a store item.
//!
//! Order of work for a rockspec (LuaRocks' `build.lua`, adapted to the
//! store): load it; read its backend; find external dependencies; compute
//! the **recipe key** from everything that decides the output; take the
//! recipe's lock; if a realisation exists, return its item (no fetch, no
//! compile); else fetch and unpack the sources into a temporary directory
//! outside the store, run the backend with `PREFIX` set to a staging
//! directory in the store, install files, write the rockspec and
//! `rock_manifest`, and admit. A binary or `.all.rock` is unpacked straight
//! into staging.
//!
//! The item holds the rock directory as LuaRocks packs it
//! (`<name>-<ver>.rockspec`, `rock_manifest`, `lua/`, `lib/`, `bin/`,
//! `conf/`, `doc/`, copied directories); see `store-format/v1/rock-item.md`.
//!
//! - [`variables`]: defaults, `VAR=VALUE`, `$(VAR)` substitution.
//! - [`external`]: external dependencies.
//! - [`backends`]: builtin/make/cmake/command and the install step.
//! - [`recipe`]: the recipe key.
//! - [`source`]: fetching and unpacking sources, locating `source.dir`.
//! - [`rock_manifest`]: the per-rock md5 manifest.
//! - [`rock_file`]: rock file names, `pack` and `unpack`.
//! - `rock_input`: builds whose input is a `.src.rock` or a binary rock.
//! - `error`: [`BuildError`].

pub mod backends;
pub use crate::toolchain::compiler;
mod error;
pub mod external;
pub mod input;
pub mod isolation;
pub use crate::toolchain::probes;
pub mod recipe;
pub use crate::rock_file;
mod rock_input;
pub mod rock_manifest;
pub mod source;
pub mod variables;

use std::collections::BTreeMap;
use std::io::Read;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use cap_std::fs::Dir;

pub use crate::build_watch::BuildWatch;
use crate::fetch::Fetcher;
use crate::lua_install::LuaInstall;
use crate::rock_id::RockId;
use crate::rockspec::build::{Backend, Module};
use crate::rockspec::{LoadOptions, Platforms, Rockspec};
use crate::store::db::ItemKind;
use crate::store::{Item, ItemSpec, Staging, Store};
pub use error::BuildError;
pub use input::Source;
use isolation::{Isolation, IsolationError, Sandbox};
pub use rock_input::rockspec_bytes_in_rock;
use variables::Variables;

/// What every build in one run shares.
pub struct BuildEnv {
    /// `--only-sources`: sources may be downloaded only from URLs whose
    /// part after `protocol://` starts with this (empty: none at all), as
    /// LuaRocks' `cfg.only_sources_from`.
    pub only_sources_from: Option<String>,
    /// The Lua to build for.
    pub lua: LuaInstall,
    /// The platform (overrides, arch).
    pub platforms: Platforms,
    /// Defaults, config and command-line variables.
    pub variables: Variables,
    /// `external_deps_dirs`.
    pub deps_dirs: Vec<PathBuf>,
    /// LuaRocks' `cfg.arch` (`linux-x86_64`).
    pub arch: String,
    /// Rocks that are never installed: the VM's (`lua`, `utf8`, …) and the
    /// config's `rocks_provided`.
    pub rocks_provided: Vec<(String, String)>,
    /// `--branch`: overrides every loaded rockspec's `source.branch`, as
    /// LuaRocks (a recipe input, so other branches are other recipes).
    pub branch: Option<String>,
}

impl BuildEnv {
    /// LuaRocks' arch string for this machine.
    pub fn host_arch() -> String {
        format!("{}-{}", std::env::consts::OS, std::env::consts::ARCH)
    }

    /// The Lua ABI C modules are built for: the version, and LuaJIT's.
    pub fn lua_abi(&self) -> String {
        match &self.lua.luajit {
            Some(jit) => format!("{}-luajit-{jit}", self.lua.version),
            None => self.lua.version.clone(),
        }
    }
}

/// A build's result.
#[derive(Debug)]
pub struct Built {
    /// The item.
    pub item: Item,
    /// True when an existing realisation was returned without building.
    pub reused: bool,
    /// The binary cache it was substituted from, instead of built.
    pub substituted: Option<String>,
}

/// What a build would do, known before it runs.
#[derive(Debug)]
pub enum Planned {
    /// An existing realisation gives the item.
    Reuse(Item),
    /// A binary cache has a trusted build of it.
    Substitute {
        /// The cache.
        from: String,
        /// The item.
        item: String,
        /// What its download costs.
        blob_size: u64,
    },
    /// It is built (under this recipe key).
    Build(crate::store::content_hash::RecipeKey),
}

/// Builds into one store.
#[derive(Clone, Copy)]
pub struct Builder<'a> {
    /// The store.
    pub store: &'a Store,
    /// Downloads.
    pub fetcher: &'a Fetcher,
    /// Shared settings.
    pub env: &'a BuildEnv,
    /// Told what each build is doing (none: nobody watches).
    pub watch: Option<&'a dyn BuildWatch>,
    /// How a daemon isolates the build (build users, bubblewrap, limits);
    /// none: commands run as this process, with its environment.
    pub isolation: Option<&'a Isolation<'a>>,
    /// Binary caches asked before a recipe is built.
    pub substituters: Option<&'a crate::cache::substitute::Substituters>,
}

impl Builder<'_> {
    fn doing(&self, what: &str) {
        if let Some(watch) = self.watch {
            watch.doing(what);
        }
    }
}

/// Where a build's sources come from.
#[derive(Debug, Clone)]
pub enum Sources<'b> {
    /// Fetched as `source` says.
    Fetch,
    /// An unpacked `.src.rock` (its directory) and the rock's content hash.
    SrcRock {
        /// The unpacked rock.
        dir: &'b Path,
        /// blake3 of the `.src.rock` file.
        hash: String,
    },
    /// A working directory used as is (`make`), and its content hash.
    Local {
        /// The directory (copied before building, never written to).
        dir: &'b Path,
        /// [`source::tree_hash`] of it.
        hash: crate::store::content_hash::ContentHash,
    },
}

impl Sources<'_> {
    /// What stands for the sources in the recipe key, when not the
    /// rockspec's `source` table.
    fn key(&self) -> Option<(&'static str, String)> {
        match self {
            Sources::Fetch => None,
            Sources::SrcRock { hash, .. } => Some(("src.rock", hash.clone())),
            Sources::Local { hash, .. } => Some(("local.dir", hash.to_hex())),
        }
    }
}

/// Where a rockspec came from, which decides the local files its
/// `source.url` may name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A file the user named: LuaRocks' rules, any local source.
    User,
    /// Fetched from this URL (a rocks server): a local (`file://` or plain
    /// path) source only inside that URL's own directory, when the URL is
    /// itself local; never for an `http(s)` one.
    Server(String),
}

impl Origin {
    /// The origin of a rockspec fetched from `url`: a local path the user
    /// typed is the user's; anything a server listed is the server's.
    pub fn of_url(url: &str, named_by_user: bool) -> Origin {
        if named_by_user && crate::fetch::local_path(url).is_some() {
            Origin::User
        } else {
            Origin::Server(url.to_owned())
        }
    }
}

/// A rockspec to build and where its sources come from.
pub struct RockspecInput<'b> {
    /// For messages.
    pub display: String,
    /// The file name (`foo-1.0-1.rockspec`), checked as LuaRocks does.
    pub file_name: Option<String>,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Where the sources come from.
    pub sources: Sources<'b>,
    /// Items of resolved dependencies: part of the recipe key (the item itself
    /// references none; the profiles that install it do).
    pub dependency_items: Vec<String>,
    /// Where the rockspec came from.
    pub origin: Origin,
}

/// A rockspec build as decided before it runs.
struct Prepared {
    rock: RockId,
    rockspec: Rockspec,
    backend: Backend,
    install: crate::rockspec::build::Install,
    copy_directories: Option<Vec<String>>,
    externals: BTreeMap<String, crate::rockspec::ExternalDependency>,
    vars: Variables,
    key: crate::store::content_hash::RecipeKey,
    /// The commit an untagged git source's key names (`ls-remote`): the
    /// clone must check out that one.
    commit: Option<String>,
}

/// The libraries a builtin backend's C modules link (`-l`).
fn linked_libraries(backend: &Backend) -> Vec<String> {
    match backend {
        Backend::Builtin(b) => b
            .modules
            .iter()
            .flatten()
            .filter_map(|(_, m)| match m {
                Module::C(c) => Some(c.libraries.clone()),
                Module::Lua(_) => None,
            })
            .flatten()
            .collect(),
        _ => Vec::new(),
    }
}

impl Builder<'_> {
    /// Checks that the rockspec's external dependencies are installed, as
    /// LuaRocks does before it fulfils the rock's dependencies, so a
    /// missing header is reported before anything else is built.
    pub fn check_external_dependencies(&self, rockspec: &Rockspec) -> Result<(), BuildError> {
        let backend = rockspec
            .build
            .backend()
            .map_err(|source| BuildError::Field {
                rock: rockspec.id(),
                source,
            })?;
        let linked = linked_libraries(&backend);
        let externals = external::declared_or_detected(&rockspec.external_dependencies, &linked);
        let mut vars = self.env.variables.clone();
        external::resolve(&externals, &mut vars, &self.env.deps_dirs, &rockspec.name)?;
        Ok(())
    }

    /// Loads a rockspec.
    pub fn load(&self, input: &RockspecInput<'_>) -> Result<Rockspec, BuildError> {
        let mut rockspec = Rockspec::from_bytes(
            &input.display,
            input.file_name.as_deref(),
            &input.bytes,
            &LoadOptions {
                platforms: self.env.platforms.clone(),
            },
        )?;
        if let Some(branch) = &self.env.branch {
            rockspec.source.branch = Some(branch.clone());
        }
        Ok(rockspec)
    }

    /// Everything decided before any fetch or compile: the rockspec, its
    /// backend and install tables, the variables, and the recipe key.
    fn prepare(&self, input: &RockspecInput<'_>) -> Result<Prepared, BuildError> {
        let rockspec = self.load(input)?;
        let rock = rockspec.id();
        let field = |source| BuildError::Field {
            rock: rock.clone(),
            source,
        };
        let backend = rockspec.build.backend().map_err(field)?;
        let install = rockspec.build.install().map_err(field)?;
        let copy_directories = rockspec.build.copy_directories().map_err(field)?;
        let backend = match backend {
            Backend::External(t) => return Err(BuildError::UnsupportedBackend(t)),
            other => other,
        };
        let linked = linked_libraries(&backend);
        let externals = external::declared_or_detected(&rockspec.external_dependencies, &linked);
        let compiles = match &backend {
            Backend::Builtin(b) => b
                .modules
                .iter()
                .flatten()
                .any(|(_, m)| matches!(m, Module::C(_))),
            Backend::None => false,
            _ => true,
        };
        let mut vars = self.env.variables.clone();
        // What the host holds (external dependencies, headers) is looked
        // at with the rights of whoever the build is for: a daemon looks
        // as an unprivileged user, never as itself.
        let look = |vars: &mut Variables| -> Result<(), BuildError> {
            external::resolve(&externals, vars, &self.env.deps_dirs, &rockspec.name)?;
            if compiles && matches!(backend, Backend::Builtin(_)) {
                let incdir = vars.get("LUA_INCDIR").map_or("", String::as_str);
                self.env.lua.require_incdir(incdir)?;
            }
            Ok(())
        };
        let probe = match self.isolation {
            None => {
                look(&mut vars)?;
                recipe::Probe::AsMe
            }
            Some(iso) => {
                isolation::as_user(isolation::NOBODY, || look(&mut vars)).map_err(|source| {
                    BuildError::Io {
                        path: PathBuf::from("/proc/self"),
                        source,
                    }
                })??;
                recipe::Probe::Unprivileged {
                    limits: iso.limits,
                    cancel: iso.cancel,
                }
            }
        };
        let cc = vars.get("CC").map_or("", String::as_str);
        let source_hash = input.sources.key();
        if source_hash.is_none() {
            source::check_before_fetch(&rockspec, &input.origin)?;
        }
        let gathered = recipe::gather(
            &rock,
            &self.env.lua,
            compiles.then_some(cc),
            source_hash.is_none().then_some(&rockspec.source),
            probe,
        )?;
        let key = recipe::key(&recipe::Inputs {
            rockspec_bytes: &input.bytes,
            source: &rockspec.source,
            source_hash,
            lua: &self.env.lua,
            arch: &self.env.arch,
            variables: &vars,
            dependency_items: &input.dependency_items,
            gathered: &gathered,
        });
        Ok(Prepared {
            rock,
            rockspec,
            backend,
            install,
            copy_directories,
            externals,
            vars,
            key,
            commit: gathered.commit.clone(),
        })
    }

    /// The item an existing realisation gives for this input, without
    /// fetching or building anything (what `--dry-run` reports as reuse).
    pub fn realised(&self, input: &RockspecInput<'_>) -> Result<Option<Item>, BuildError> {
        let prepared = self.prepare(input)?;
        Ok(self.store.realisation(&prepared.key)?)
    }

    /// The recipe key of `input` and its rock.
    pub fn recipe(
        &self,
        input: &RockspecInput<'_>,
    ) -> Result<(crate::store::content_hash::RecipeKey, RockId), BuildError> {
        let prepared = self.prepare(input)?;
        Ok((prepared.key, prepared.rock))
    }

    /// What building `input` would do: reuse a realisation, substitute
    /// from a binary cache, or build (what `--dry-run` says).
    pub fn planned(&self, input: &RockspecInput<'_>) -> Result<Planned, BuildError> {
        let prepared = self.prepare(input)?;
        if let Some(item) = self.store.realisation(&prepared.key)? {
            return Ok(Planned::Reuse(item));
        }
        if let Some(substituters) = self.substituters {
            let abi = self.env.lua_abi();
            // The substituter compares it with a realisation's text.
            let rock = prepared.rock.to_string();
            let expect = crate::cache::substitute::Expect {
                rock: &rock,
                lua_abi: &abi,
                platform: &self.env.arch,
            };
            if let Some(hit) = substituters.lookup(&prepared.key, expect) {
                return Ok(Planned::Substitute {
                    from: substituters.url_of(&hit).to_owned(),
                    item: hit.doc.item.clone(),
                    blob_size: hit.doc.blob_size,
                });
            }
        }
        Ok(Planned::Build(prepared.key))
    }

    /// The item an existing realisation gives for a binary rock's bytes.
    pub fn realised_binary_rock(&self, bytes: &[u8]) -> Result<Option<Item>, BuildError> {
        let key = recipe::binary_rock_key(bytes, &self.env.lua.version);
        Ok(self.store.realisation(&key)?)
    }

    /// The realisation of `prepared` here, or else one substituted from a
    /// binary cache (the recipe's lock held).
    fn reuse_or_substitute(&self, prepared: &Prepared) -> Result<Option<Built>, BuildError> {
        if let Some(item) = self.store.realisation(&prepared.key)? {
            return Ok(Some(Built {
                item,
                reused: true,
                substituted: None,
            }));
        }
        let Some(substituters) = self.substituters else {
            return Ok(None);
        };
        let abi = self.env.lua_abi();
        let rock = prepared.rock.to_string();
        let expect = crate::cache::substitute::Expect {
            rock: &rock,
            lua_abi: &abi,
            platform: &self.env.arch,
        };
        Ok(substituters
            .substitute(self.store, &prepared.key, expect, self.watch)?
            .map(|(item, url)| Built {
                item,
                reused: true,
                substituted: Some(url),
            }))
    }

    /// Builds a rockspec (or the rockspec of an unpacked `.src.rock`).
    pub fn build(&self, input: &RockspecInput<'_>) -> Result<Built, BuildError> {
        let prepared = self.prepare(input)?;
        let _recipe_lock = self.store.lock_recipe(&prepared.key)?;
        if let Some(built) = self.reuse_or_substitute(&prepared)? {
            return Ok(built);
        }
        let (staging, fetched_source) = match self.isolation {
            None => self.build_here(&prepared, input)?,
            Some(isolation) => self.build_isolated(isolation, &prepared, input)?,
        };
        let Prepared { rockspec, key, .. } = prepared;
        let item = self.store.admit(
            staging,
            &ItemSpec {
                name: rockspec.name.clone(),
                version: rockspec.version.to_string(),
                kind: ItemKind::Rock,
                // A rock's files never link into another item: the
                // dependencies chosen for this build are in its recipe
                // key, and belong to the profiles that install it (which
                // reference them), not to the item. Recording them here
                // would keep one tree's dependency builds alive for every
                // tree that shares the dependent rock's contents.
                references: Vec::new(),
                recipe_key: Some(key),
            },
        )?;
        // What was fetched, by its bytes: a realisation says which source
        // it was built from, not only which URL.
        // Best effort: a member of an older shared store may not create
        // `db/sources`; the realisation stands without it.
        if let Some((url, hash)) = fetched_source {
            let _ =
                self.store
                    .record_source(&key, &url, crate::store::content_hash::FileHash(hash));
        }
        // What the recipe was built for, so a binary cache can say it.
        let _ = self.store.record_facts(&crate::store::db::RecipeFacts {
            format_version: crate::store::db::FORMAT_VERSION,
            recipe_key: key,
            rock: rockspec.id(),
            lua_abi: self.env.lua_abi(),
            platform: self.env.arch.clone(),
        });
        Ok(Built {
            item,
            reused: false,
            substituted: None,
        })
    }

    /// Fetches and builds in this process, as its user, straight into a
    /// staging directory of the store.
    fn build_here(
        &self,
        prepared: &Prepared,
        input: &RockspecInput<'_>,
    ) -> Result<(Staging<'_>, Option<source::FetchedSource>), BuildError> {
        let work = self.store.build_dir()?;
        let (src_dir, fetched_source) = self.obtain_sources(prepared, input, work.path(), None)?;
        let src_handle = open_dir(&src_dir)?;
        let staging = self.store.stage()?;
        let prefix = staging.path();
        let mut vars = prepared.vars.clone();
        vars.extend(backends::prefix_variables(&prefix));
        let ctx = backends::Ctx {
            rock: &prepared.rock,
            src: &src_dir,
            src_dir: &src_handle,
            prefix: &prefix,
            prefix_dir: staging.dir(),
            vars: &vars,
            unknown: std::sync::Mutex::new(Vec::new()),
            watch: self.watch,
            sandbox: None,
        };
        self.run_backend(prepared, &src_handle, &ctx)?;
        self.store.failpoint("after-backend");
        if let Sources::Local { dir, .. } = &input.sources {
            source::copy_back(&src_dir, dir)?;
        }
        self.doing("installing");
        backends::install_files(&ctx, &prepared.install, prepared.copy_directories.clone())?;
        self.finish_item(prepared, input, &staging)?;
        Ok((staging, fetched_source))
    }

    /// Builds as a leased build user in the daemon's sandbox: sources are
    /// fetched into a directory the build user owns, every command runs in
    /// bubblewrap with the build's limits, every process of the build
    /// user is ended, and only then is what the build left copied, entry
    /// by entry, into a staging directory of root's, which alone is hashed
    /// and admitted.
    fn build_isolated(
        &self,
        isolation: &Isolation<'_>,
        prepared: &Prepared,
        input: &RockspecInput<'_>,
    ) -> Result<(Staging<'_>, Option<source::FetchedSource>), BuildError> {
        let rock = &prepared.rock;
        let stopped = |source| BuildError::Isolation {
            rock: rock.clone(),
            source,
        };
        let lease = (isolation.lease)().map_err(stopped)?;
        let user = lease.user;
        // Nothing of an earlier build of this user may see this one.
        isolation::end_processes(user);
        let work = self.store.build_dir_for(user).map_err(BuildError::Store)?;
        let host = work.path().to_path_buf();
        let sandbox = Sandbox::new(isolation, user, &host).map_err(stopped)?;
        if let Some(watch) = self.watch {
            watch.isolated(&sandbox.describe());
        }
        if !matches!(input.sources, Sources::Local { .. }) {
            self.doing(&format!("fetching {}", prepared.rockspec.source.url));
        }
        let result = (|| {
            let (src_dir, fetched) = self.obtain_sources(prepared, input, &host, Some(&sandbox))?;
            let out = host.join("out");
            std::fs::create_dir(&out).map_err(|source| BuildError::Io {
                path: out.clone(),
                source,
            })?;
            // Everything the daemon wrote becomes the build user's before
            // its first command (none of its processes exists yet).
            isolation::give_to(work.dir().as_fd(), user).map_err(|source| BuildError::Io {
                path: host.clone(),
                source,
            })?;
            let src_handle = open_dir(&src_dir)?;
            let out_handle = open_dir(&out)?;
            let mut vars = prepared.vars.clone();
            vars.extend(backends::prefix_variables(&sandbox.view(&out)));
            let ctx = backends::Ctx {
                rock,
                src: &src_dir,
                src_dir: &src_handle,
                prefix: &out,
                prefix_dir: &out_handle,
                vars: &vars,
                unknown: std::sync::Mutex::new(Vec::new()),
                watch: self.watch,
                sandbox: Some(&sandbox),
            };
            let ran = self.run_backend(prepared, &src_handle, &ctx);
            self.store.failpoint("after-backend");
            // No process of the build user survives to change what is
            // copied out, whatever the backend did.
            isolation::end_processes(user);
            ran?;
            self.doing("installing");
            backends::install_files(&ctx, &prepared.install, prepared.copy_directories.clone())?;
            if let Some(room) = isolation.max_output {
                let size = isolation::tree_bytes(out_handle.as_fd(), room).map_err(|source| {
                    BuildError::Io {
                        path: out.clone(),
                        source,
                    }
                })?;
                if size > room {
                    return Err(stopped(IsolationError::OutputTooLarge { size, room }));
                }
                if let Some(reserve) = isolation.reserve_output {
                    reserve(size).map_err(stopped)?;
                }
            }
            let staging = self.store.stage()?;
            self.store
                .copy_into(&staging, &out_handle, &rock.to_string())?;
            self.finish_item(prepared, input, &staging)?;
            Ok((staging, fetched))
        })();
        isolation::end_processes(user);
        drop(lease);
        result
    }

    /// The sources in `work`: fetched and unpacked (a git source cloned
    /// by the sandbox's build user when there is one), or a `make`'s
    /// working directory copied.
    fn obtain_sources(
        &self,
        prepared: &Prepared,
        input: &RockspecInput<'_>,
        work: &Path,
        sandbox: Option<&Sandbox<'_>>,
    ) -> Result<(PathBuf, Option<source::FetchedSource>), BuildError> {
        let rockspec = &prepared.rockspec;
        if sandbox.is_none() && !matches!(input.sources, Sources::Local { .. }) {
            self.doing(&format!("fetching {}", rockspec.source.url));
        }
        Ok(match &input.sources {
            Sources::Fetch => {
                source::allowed_by_only_sources(rockspec, self.env.only_sources_from.as_deref())?;
                source::obtain(
                    self.fetcher,
                    rockspec,
                    None,
                    work,
                    &input.origin,
                    sandbox,
                    prepared.commit.as_deref(),
                )?
            }
            Sources::SrcRock { dir, .. } => (
                source::obtain(
                    self.fetcher,
                    rockspec,
                    Some(dir),
                    work,
                    &input.origin,
                    sandbox,
                    None,
                )?
                .0,
                None,
            ),
            Sources::Local { dir, .. } => (source::copy_local(dir, &work.join("local"))?, None),
        })
    }

    /// Runs the rock's build backend in the sources.
    fn run_backend(
        &self,
        prepared: &Prepared,
        src_handle: &Dir,
        ctx: &backends::Ctx<'_>,
    ) -> Result<(), BuildError> {
        let external_libs: Vec<(String, bool)> = prepared
            .externals
            .iter()
            .map(|(name, dep)| (name.clone(), dep.library.is_some()))
            .collect();
        match &prepared.backend {
            Backend::Builtin(b) => {
                // As LuaRocks: only a missing `modules` is autodetected;
                // `modules = {}` installs none.
                let modules = match &b.modules {
                    Some(m) => m.clone(),
                    None => source::autodetect_modules(src_handle),
                };
                backends::builtin(ctx, &modules, &external_libs)
            }
            Backend::Make(m) => backends::make(ctx, m),
            Backend::CMake(c) => backends::cmake(ctx, c),
            Backend::Command(c) => backends::command(ctx, c),
            Backend::None | Backend::External(_) => Ok(()),
        }
    }

    /// Writes the item's own files (its rockspec and `rock_manifest`)
    /// into `staging`.
    fn finish_item(
        &self,
        prepared: &Prepared,
        input: &RockspecInput<'_>,
        staging: &Staging<'_>,
    ) -> Result<(), BuildError> {
        let prefix = staging.path();
        let rockspec = &prepared.rockspec;
        let rockspec_name = format!("{}-{}.rockspec", rockspec.name, rockspec.version);
        write(staging.dir(), &prefix, &rockspec_name, &input.bytes)?;
        let manifest = rock_manifest::generate(&prefix).map_err(|source| BuildError::Io {
            path: prefix.clone(),
            source,
        })?;
        write(staging.dir(), &prefix, "rock_manifest", manifest.as_bytes())
    }
}

/// Reads a small regular file (a rockspec) through a handle, never
/// following a link out and never more than a rockspec may be.
fn read_small(dir: &Dir, name: &str) -> std::io::Result<Vec<u8>> {
    let file = dir.open(name)?;
    if !file.metadata()?.is_file() {
        return Err(std::io::Error::other("not a regular file"));
    }
    let mut bytes = Vec::new();
    file.take(crate::lua::Limits::SMALL_FILE.source_bytes as u64 + 1)
        .read_to_end(&mut bytes)?;
    Ok(bytes)
}

/// Writes one file of the item's own (`<name>-<ver>.rockspec`,
/// `rock_manifest`) through the staging handle; the name must be a single
/// component, whatever the rockspec's `package` said.
fn write(dir: &Dir, shown: &Path, name: &str, bytes: &[u8]) -> Result<(), BuildError> {
    let path = shown.join(name);
    if name.contains('/') || name.starts_with('.') {
        return Err(BuildError::Io {
            path,
            source: std::io::Error::other("not a plain file name"),
        });
    }
    dir.write(name, bytes)
        .map_err(|source| BuildError::Io { path, source })
}

/// A directory handle for the build's own use.
fn open_dir(path: &Path) -> Result<Dir, BuildError> {
    Dir::open_ambient_dir(path, cap_std::ambient_authority()).map_err(|source| BuildError::Io {
        path: path.to_path_buf(),
        source,
    })
}
