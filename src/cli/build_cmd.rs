//! `build`, `download`, `pack`, `unpack` and `search`: the commands that
//! talk to rocks servers and turn rocks into store items.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::backend::{BuildRequest, StoreBackend};
use rockstore::build::source::source_url;
use rockstore::build::variables::{self, Variables};
use rockstore::build::{rock_file, BuildEnv, Builder, Built, Origin};
use rockstore::fetch::{Fetcher, Freshness};
use rockstore::install::Source;
use rockstore::lua_install::LuaInstall;
use rockstore::rockspec::{LoadOptions, Platforms, Rockspec};
use rockstore::servers::{self, Offer, ServerError, Want};

use super::context::Context;
use super::report::ExitStatus;

/// Flags every server-facing command shares; global, so they may stand
/// before or after the command, as with LuaRocks.
#[derive(Debug, Args, Clone, Default)]
pub struct ServerFlags {
    /// Fetch rocks/rockspecs from this server first (before the configured
    /// ones); repeatable.
    #[arg(
        long,
        visible_alias = "from",
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub server: Vec<String>,
    /// Fetch rocks/rockspecs from this server only.
    #[arg(
        long,
        visible_alias = "only-from",
        global = true,
        help_heading = "Global options",
        value_name = "URL",
        conflicts_with = "server"
    )]
    pub only_server: Option<String>,
    /// Lua version to build for (5.1, 5.2, 5.3, 5.4) [default: on Debian,
    /// the one its luarocks runs under (the oldest installed
    /// /usr/bin/lua5.x, as lua-any picks it); elsewhere the newest Lua
    /// interpreter on PATH].
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "X.Y"
    )]
    pub lua_version: Option<String>,
    /// The Lua installation to use (a prefix with bin/ and include/).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "PREFIX"
    )]
    pub lua_dir: Option<PathBuf>,
    /// Network timeout in seconds.
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        value_name = "SECONDS",
        default_value_t = 30
    )]
    pub timeout: u64,
    /// Also use the servers' development trees, first: `/dev` appended to
    /// every server (luarocks.org/dev holds scm and dev rockspecs).
    #[arg(
        long,
        global = true,
        help_heading = "Global options",
        conflicts_with = "only_server"
    )]
    pub dev: bool,
    /// Download sources only from URLs whose part after `protocol://`
    /// starts with this (empty: download no sources), as LuaRocks.
    #[arg(
        long,
        visible_alias = "only-sources-from",
        global = true,
        help_heading = "Global options",
        value_name = "URL"
    )]
    pub only_sources: Option<String>,
}

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// A rockspec file or URL, a .src.rock, a binary/.all.rock, or a rock
    /// name, then an optional version, then any `VAR=VALUE` build variables
    /// (e.g. `FOO_DIR=/opt/foo CFLAGS=-O3`). None: the one rockspec in the
    /// current directory, built as `make` builds it.
    #[arg(value_name = "ROCK [VERSION] [VAR=VALUE]...")]
    pub args: Vec<String>,
    /// Only build the rock into the store and print its item's path; do not
    /// install it into a tree (LuaRocks' `build` installs, as `install`
    /// from source does).
    #[arg(long)]
    pub no_install: bool,
    /// Do not install the rock: build it and write a binary rock
    /// (`<name>-<version>.<arch>.rock`) into the current directory, as
    /// LuaRocks.
    #[arg(long, conflicts_with = "no_install")]
    pub pack_binary_rock: bool,
    /// With --pack-binary-rock: also sign the rock with gpg
    /// (`<rock>.asc`, `gpg --armor --detach-sign`), as LuaRocks.
    #[arg(long)]
    pub sign: bool,
    /// Record the exact version of every dependency used in a
    /// `luarocks.lock` in the rock's directory (and, building the rockspec
    /// here as make, in `./luarocks.lock`), as LuaRocks.
    #[arg(long)]
    pub pin: bool,
    #[command(flatten)]
    pub flags: super::install_cmd::InstallFlags,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Rock name (with --all, optional: every rock).
    #[arg(required_unless_present = "all")]
    pub name: Option<String>,
    /// Version constraint (e.g. `1.2-1` or `>= 1.0`).
    pub version: Option<String>,
    /// Only a .src.rock or rockspec (what `build` needs).
    #[arg(long, conflicts_with = "rockspec")]
    pub source: bool,
    /// Only the rockspec.
    #[arg(long)]
    pub rockspec: bool,
    /// Only a rock for this architecture (`all`, `linux-x86_64`, `src`,
    /// `rockspec`).
    #[arg(long, value_name = "ARCH", conflicts_with_all = ["source", "rockspec"])]
    pub arch: Option<String>,
    /// Download all files if there are multiple matches (every version and
    /// file kind; with --source or --rockspec, only those).
    #[arg(long)]
    pub all: bool,
    /// The rocks server namespace to look in (as `NS/ROCK`).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// If the rock can't be found, check the servers and report whether it
    /// is available for another Lua version.
    #[arg(long)]
    pub check_lua_versions: bool,
}

#[derive(Debug, Args)]
pub struct PackArgs {
    /// A rock installed in the tree (then an optional version), as
    /// `luarocks pack`; else a store item (path, name or hash prefix) to
    /// pack as a binary rock, or a rockspec to pack with its sources as a
    /// .src.rock.
    pub what: String,
    /// The installed rock's version (default: the newest installed).
    pub version: Option<String>,
    /// Also sign the rock with gpg (`<rock>.asc`), as LuaRocks.
    #[arg(long)]
    pub sign: bool,
}

#[derive(Debug, Args)]
pub struct UnpackArgs {
    /// A .rock, .src.rock or rockspec file, or a rock name on the servers
    /// (its .src.rock or rockspec, as `luarocks unpack`): unpacked (with its
    /// sources) into `<name>-<version>/` in the current directory.
    pub file: String,
    /// With a rock name: the version (default: the newest).
    pub version: Option<String>,
    /// Unpack even if `<name>-<version>/` exists: its files are replaced,
    /// the others kept.
    #[arg(long)]
    pub force: bool,
    /// If the rock can't be found, check the servers and report whether it
    /// is available for another Lua version.
    #[arg(long)]
    pub check_lua_versions: bool,
}

#[derive(Debug, Args)]
pub struct SearchArgs {
    /// Part of a rock name (LuaRocks matches substrings).
    pub name: Option<String>,
    /// Version constraint.
    pub version: Option<String>,
    /// List everything on the servers.
    #[arg(long)]
    pub all: bool,
    /// Only rockspecs and source rocks.
    #[arg(long)]
    pub source: bool,
    /// Only binary and pure-Lua rocks.
    #[arg(long)]
    pub binary: bool,
    /// Tab-separated output: name, version, arch, server.
    #[arg(long)]
    pub porcelain: bool,
    /// The rocks server namespace to search (as `NS/ROCK`).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
}

/// What a server-facing command needs.
pub struct Session {
    fetcher: Fetcher,
    servers: Vec<String>,
    lua: LuaInstall,
    provided: Vec<(String, String)>,
    /// The servers' manifests, read once per command (`list --outdated`
    /// asks for every installed rock).
    manifests: std::cell::OnceCell<Vec<servers::ServerManifest>>,
}

impl Session {
    pub fn new(cx: &Context) -> Session {
        Session {
            fetcher: cx.fetcher(),
            servers: cx.servers(),
            lua: cx.lua.clone(),
            provided: cx.rocks_provided(),
            manifests: std::cell::OnceCell::new(),
        }
    }

    fn manifests(&self) -> anyhow::Result<&[servers::ServerManifest]> {
        if let Some(loaded) = self.manifests.get() {
            return Ok(loaded);
        }
        let mut warnings = Vec::new();
        let loaded = servers::load(
            &self.fetcher,
            &self.servers,
            &self.lua_version(),
            &mut warnings,
        );
        for w in &warnings {
            errln!("Warning: {w}");
        }
        let loaded = loaded?;
        Ok(self.manifests.get_or_init(|| loaded))
    }

    /// The Lua version whose manifests are read.
    fn lua_version(&self) -> String {
        self.lua.version.clone()
    }

    pub fn offers(
        &self,
        name: &str,
        version: Option<&str>,
        exact: bool,
    ) -> anyhow::Result<Vec<Offer>> {
        let constraints = rockstore::install::version_constraints(version)?;
        // `user/rock`: the rock of namespace `user`, in each server's
        // `manifests/user/`, as LuaRocks looks for it.
        if let Some((ns, bare)) = name
            .split_once('/')
            .filter(|(ns, n)| !ns.is_empty() && !n.is_empty())
        {
            let namespaced = servers::in_namespace(&self.servers, ns);
            let mut warnings = Vec::new();
            let loaded = servers::load(
                &self.fetcher,
                &namespaced,
                &self.lua_version(),
                &mut warnings,
            );
            for w in &warnings {
                errln!("Warning: {w}");
            }
            return Ok(servers::search(
                &loaded?,
                &[],
                bare,
                exact,
                &constraints,
                &BuildEnv::host_arch(),
            ));
        }
        Ok(servers::search(
            self.manifests()?,
            &self.provided(),
            name,
            exact,
            &constraints,
            &BuildEnv::host_arch(),
        ))
    }

    fn provided(&self) -> Vec<(String, String)> {
        self.provided.clone()
    }

    fn find(&self, name: &str, version: Option<&str>, want: Want) -> anyhow::Result<Offer> {
        self.find_checking(name, version, want, false)
    }

    /// [`Session::find`]; when nothing matches and `check_lua_versions`,
    /// the error says which other Lua versions have the rock, as LuaRocks'
    /// `--check-lua-versions`.
    fn find_checking(
        &self,
        name: &str,
        version: Option<&str>,
        want: Want,
        check_lua_versions: bool,
    ) -> anyhow::Result<Offer> {
        if let Some((_, v)) = self.provided().into_iter().find(|(p, _)| p == name) {
            return Err(ServerError::Provided {
                name: name.to_owned(),
                version: v,
            }
            .into());
        }
        let offers = self.offers(name, version, true)?;
        servers::best(&offers, &BuildEnv::host_arch(), want).ok_or_else(|| {
            let constraints = rockstore::install::version_constraints(version).unwrap_or_default();
            servers::no_match(
                &self.fetcher,
                &self.servers,
                name,
                version,
                &constraints,
                &BuildEnv::host_arch(),
                &self.lua_version(),
                check_lua_versions,
                &|line| outln!("{line}"),
            )
            .into()
        })
    }
}

/// Splits `VAR=VALUE` build variables from positional arguments.
pub fn split_args(args: Vec<String>) -> anyhow::Result<(Vec<String>, Variables)> {
    let mut overrides = Variables::new();
    let mut positional = Vec::new();
    for arg in args {
        match variables::parse_assignment(&arg) {
            Some((k, v)) => {
                overrides.insert(k, v);
            }
            None if arg.contains('=') && !arg.contains('/') => {
                bail!("Invalid assignment: {arg} (build variables are written NAME=VALUE with NAME in capitals)")
            }
            None => positional.push(arg),
        }
    }
    Ok((positional, overrides))
}

pub(super) fn load_rockspec(display: &str, file: &str, bytes: &[u8]) -> anyhow::Result<Rockspec> {
    Ok(Rockspec::from_bytes(
        display,
        Some(file),
        bytes,
        &LoadOptions {
            platforms: Platforms::host(),
        },
    )?)
}

pub(super) fn file_name(target: &str) -> String {
    target.rsplit('/').next().unwrap_or(target).to_owned()
}

pub(super) fn fetch_target(session: &Session, target: &str) -> anyhow::Result<Vec<u8>> {
    Ok(session.fetcher.fetch(target, Freshness::Immutable)?)
}

/// `rockstore build`.
pub fn build(args: BuildArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let only_variables = args
        .args
        .iter()
        .all(|a| variables::parse_assignment(a).is_some());
    if args.sign && !args.pack_binary_rock {
        bail!("In the build command, --sign is meant to be used only with --pack-binary-rock");
    }
    if only_variables {
        // As LuaRocks: no rock named builds the rockspec here, as `make`.
        return super::install_cmd::make(
            super::install_cmd::MakeArgs {
                args: args.args,
                keep: args.flags.keep,
                force: args.flags.force,
                force_fast: args.flags.force_fast,
                only_deps: args.flags.only_deps,
                no_install: args.no_install,
                pack_binary_rock: args.pack_binary_rock,
                sign: args.sign,
                pin: args.pin,
                pin_items: false,
                run: args.flags.run,
            },
            cx,
        );
    }
    if args.pin && args.no_install {
        bail!("--pin records what was installed; it cannot go with --no-install");
    }
    if !args.no_install && !args.pack_binary_rock {
        return super::install_cmd::install_from(
            super::install_cmd::InstallArgs {
                args: args.args,
                flags: args.flags,
                pin: args.pin,
            },
            cx,
            true,
            args.pin,
        );
    }
    let (positional, overrides) = split_args(args.args)?;
    let (target, version) = match positional.as_slice() {
        [t] => (t.clone(), None),
        [t, v] => (t.clone(), Some(v.clone())),
        _ => bail!("expected ROCK [VERSION], got {}", positional.join(" ")),
    };
    let mut session = Session::new(cx);
    session.fetcher = session.fetcher.verifying(args.flags.run.verify);
    let backend = cx.store()?;
    let substituters = cx.substituters()?;
    let mut benv = cx.build_env(overrides);
    benv.branch = args.flags.run.branch.clone();
    let builder = Builder {
        store: backend.store(),
        fetcher: &session.fetcher,
        env: &benv,
        watch: None,
        isolation: None,
        substituters: substituters.as_ref(),
    };
    let built = build_target(
        &session,
        &*backend,
        &builder,
        &target,
        version.as_deref(),
        true,
    )?;
    if !built.reused {
        if let Some(pusher) = cx.pusher(&*backend)? {
            pusher.push(&built.item.name);
            super::cache_cmd::finish_push(Some(pusher))?;
        }
    }
    let name = &built.item.record;
    if args.pack_binary_rock {
        let cwd = std::env::current_dir().context("current directory")?;
        let out = rock_file::pack(
            &built.item.path,
            &name.name,
            &name.version,
            &BuildEnv::host_arch(),
            &cwd,
        )
        .with_context(|| format!("cannot write the rock for {}", built.item.name.as_str()))?;
        outln!("Packed: {}", out.display());
        if args.sign {
            sign(&out, &benv)?;
        }
        return Ok(ExitStatus::Success);
    }
    if built.reused {
        outln!(
            "{} {} is already built (recipe realised in the store); nothing fetched or compiled",
            name.name,
            name.version
        );
    } else {
        outln!("{} {} built", name.name, name.version);
    }
    outln!("{}", built.item.path.display());
    Ok(ExitStatus::Success)
}

fn build_target(
    session: &Session,
    backend: &dyn StoreBackend,
    builder: &Builder<'_>,
    target: &str,
    version: Option<&str>,
    named_by_user: bool,
) -> anyhow::Result<Built> {
    let file = file_name(target);
    // Through the backend: on a daemon store the daemon builds.
    let source = if file.ends_with(".rockspec") {
        Some(Source::Rockspec {
            bytes: fetch_target(session, target)?,
            file,
            origin: Origin::of_url(target, named_by_user),
        })
    } else if file.ends_with(".src.rock") {
        Some(Source::SrcRock {
            bytes: fetch_target(session, target)?,
            file,
        })
    } else if file.ends_with(".rock") {
        Some(Source::BinaryRock {
            bytes: fetch_target(session, target)?,
            file,
        })
    } else {
        None
    };
    if let Some(source) = source {
        let request = BuildRequest {
            source: &source,
            env: builder.env,
            dependency_items: Vec::new(),
            substituters: builder.substituters,
        };
        return Ok(backend.build(&request, builder.fetcher, None)?);
    }
    if Path::new(target).exists() {
        bail!("{target}: not a .rockspec, .src.rock or .rock file");
    }
    // LuaRocks names what it looked for first (`search.find_src_or_rockspec`).
    let offer = session
        .find(target, version, Want::Source)
        .map_err(could_not_find)?;
    let url = offer.url();
    outln!("Building {} {} from {}", offer.name, offer.version, url);
    build_target(session, backend, builder, &url, None, false)
}

/// `build NAME` of a rock no server has, in LuaRocks' words
/// (`search.find_src_or_rockspec`): "Could not find a result named NAME:
/// No results matching query were found for Lua 5.x." Other errors pass.
pub(super) fn could_not_find(error: anyhow::Error) -> anyhow::Error {
    // The rock asked for, not a dependency (an `Unsatisfied` one).
    let server_error = error.downcast_ref::<ServerError>().or_else(|| {
        match error.downcast_ref::<rockstore::install::InstallError>() {
            Some(rockstore::install::InstallError::Server(e)) => Some(e),
            _ => None,
        }
    });
    let no_match = match server_error {
        Some(ServerError::NoMatch {
            query,
            lua_version,
            also,
        }) => Some((query.clone(), lua_version.clone(), also.clone())),
        _ => None,
    };
    match no_match {
        Some((query, lua_version, also)) => {
            let also = if also.is_empty() {
                String::new()
            } else {
                format!("\n{also}")
            };
            anyhow::anyhow!(
                "Could not find a result named {query}: No results matching query were found for Lua {lua_version}.{also}"
            )
        }
        None => error,
    }
}

/// The home page the servers' rockspec of `name` names (`doc` of a rock
/// not installed).
pub fn homepage_on_servers(
    cx: &Context,
    name: &str,
    version: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let session = Session::new(cx);
    let url = session
        .find(&name.to_lowercase(), version, Want::Rockspec)?
        .url();
    let bytes = fetch_target(&session, &url)?;
    let rockspec = load_rockspec(&url, &file_name(&url), &bytes)?;
    Ok(rockspec.description.homepage)
}

/// `rockstore download`.
pub fn download(args: DownloadArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let session = Session::new(cx);
    let want = if args.rockspec {
        Want::Rockspec
    } else if args.source {
        Want::Source
    } else {
        Want::Any
    };
    let mut name = args.name.clone().unwrap_or_default();
    if let Some(ns) = &args.namespace {
        if !name.contains('/') {
            name = format!("{ns}/{name}");
        }
    }
    let urls: Vec<String> = if let Some(arch) = &args.arch {
        // LuaRocks' query with an arch: those files only, the newest
        // version first (every version's with --all).
        let offers = session.offers(&name, args.version.as_deref(), !name.is_empty())?;
        let mut matching = offers
            .iter()
            .filter(|o| o.server != servers::PROVIDED && o.arch == *arch);
        if args.all {
            matching.map(servers::Offer::url).collect()
        } else {
            matching
                .next()
                .map(servers::Offer::url)
                .into_iter()
                .collect()
        }
    } else if args.all {
        // As LuaRocks: every match of the query but provided rocks; an
        // empty name matches every rock.
        let offers = session.offers(&name, args.version.as_deref(), !name.is_empty())?;
        offers
            .iter()
            .filter(|o| o.server != servers::PROVIDED)
            .filter(|o| match want {
                Want::Source => o.arch == "src",
                Want::Rockspec => o.arch == "rockspec",
                Want::Any => true,
            })
            .map(servers::Offer::url)
            .collect()
    } else {
        vec![session
            .find_checking(
                &name,
                args.version.as_deref(),
                want,
                args.check_lua_versions,
            )?
            .url()]
    };
    if urls.is_empty() {
        bail!("Could not find a result named {name}");
    }
    for url in urls {
        let bytes = fetch_target(&session, &url)?;
        let out = PathBuf::from(file_name(&url));
        // Silent, as LuaRocks: the file is in the current directory.
        std::fs::write(&out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(ExitStatus::Success)
}

#[derive(Debug, Args)]
pub struct NewVersionArgs {
    /// A rock name (its newest rockspec from the servers) or a rockspec
    /// [default: the one rockspec in the current directory].
    pub rock: Option<String>,
    /// The new version (`1.1`, or `1.1-2`) [default: the next revision].
    pub new_version: Option<String>,
    /// The new `source.url` [default: the old one with the version
    /// replaced, when that downloads].
    pub new_url: Option<String>,
    /// Where to write the new rockspec [default: the current directory].
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The new `source.tag` (and, without NEW_VERSION, the version: the
    /// tag without a leading `v`).
    #[arg(long)]
    pub tag: Option<String>,
}

/// `rockstore new_version`.
pub fn new_version(args: NewVersionArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    use rockstore::rockspec::new_version::{new_version, Request};
    let session = Session::new(cx);
    let cwd = std::env::current_dir().context("current directory")?;
    let rock = match &args.rock {
        Some(r) => r.clone(),
        None => super::install_cmd::rockspec_here(&cwd, "new_version")?
            .display()
            .to_string(),
    };
    let (file, bytes) = if rock.ends_with(".rockspec") {
        let bytes = if rock.contains("://") {
            let bytes = fetch_target(&session, &rock)?;
            // As LuaRocks: the downloaded rockspec is left here too.
            let here = cwd.join(file_name(&rock));
            std::fs::write(&here, &bytes)
                .with_context(|| format!("cannot write {}", here.display()))?;
            bytes
        } else {
            rockstore::lua::read_source(
                std::path::Path::new(&rock),
                rockstore::lua::Limits::SMALL_FILE.source_bytes,
            )
            .with_context(|| format!("cannot read {rock}"))?
        };
        (rock.clone(), bytes)
    } else {
        let url = session
            .find(&rock.to_lowercase(), None, Want::Rockspec)?
            .url();
        (url.clone(), fetch_target(&session, &url)?)
    };
    let fetch = |url: &str| {
        session
            .fetcher
            .fetch(url, Freshness::Immutable)
            .map_err(|e| format!("{e}"))
    };
    let written = new_version(
        &Request {
            file: &file,
            bytes: &bytes,
            new_version: args.new_version.as_deref(),
            new_url: args.new_url.as_deref(),
            tag: args.tag.as_deref(),
        },
        &fetch,
    )?;
    for line in &written.said {
        outln!("{line}");
    }
    for line in &written.warnings {
        errln!("{line}");
    }
    let out = match &args.dir {
        Some(dir) => {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            dir.join(&written.file_name)
        }
        None => PathBuf::from(&written.file_name),
    };
    std::fs::write(&out, &written.text)
        .with_context(|| format!("cannot write {}", out.display()))?;
    outln!("Wrote {}", out.display());
    Ok(ExitStatus::Success)
}

#[derive(Debug, Args)]
pub struct WriteRockspecArgs {
    /// The rock's name [default: inferred from LOCATION].
    pub name: Option<String>,
    /// Its version [default: inferred, else `dev`].
    pub version: Option<String>,
    /// A directory or an archive URL [default: the current directory].
    /// With one argument it is LOCATION; with two, NAME and LOCATION.
    pub location: Option<String>,
    #[command(flatten)]
    pub template: TemplateFlags,
}

impl TemplateFlags {
    /// The template request these flags make (no name, version or
    /// location).
    pub fn into_request(self) -> rockstore::rockspec::template::Request {
        rockstore::rockspec::template::Request {
            output: self.output,
            license: self.license,
            summary: self.summary,
            detailed: self.detailed,
            homepage: self.homepage,
            lua_versions: self.lua_versions,
            rockspec_format: self.rockspec_format,
            tag: self.tag,
            lib: self.lib,
            ..Default::default()
        }
    }
}

/// What `write_rockspec` and `init` take for the rockspec they write.
#[derive(Debug, Args, Clone, Default)]
pub struct TemplateFlags {
    /// Write the rockspec to this file.
    #[arg(long)]
    pub output: Option<PathBuf>,
    /// A license string, such as "MIT/X11" or "GNU GPL v3".
    #[arg(long)]
    pub license: Option<String>,
    /// A short one-line description summary.
    #[arg(long)]
    pub summary: Option<String>,
    /// A longer description string.
    #[arg(long)]
    pub detailed: Option<String>,
    /// Project homepage.
    #[arg(long)]
    pub homepage: Option<String>,
    /// Supported Lua versions: 5.1 … 5.4, or a run such as 5.1,5.2,5.3.
    #[arg(long)]
    pub lua_versions: Option<String>,
    /// Rockspec format version, such as "1.0" or "3.0".
    #[arg(long)]
    pub rockspec_format: Option<String>,
    /// The tag to use; the version is taken from it when not given.
    #[arg(long)]
    pub tag: Option<String>,
    /// A comma-separated list of libraries C files link to.
    #[arg(long)]
    pub lib: Option<String>,
}

/// `rockstore write_rockspec`.
pub fn write_rockspec(args: WriteRockspecArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    use rockstore::rockspec::template::{write_rockspec, Request};
    let session = Session::new(cx);
    let cwd = std::env::current_dir().context("current directory")?;
    let fetch = |url: &str| {
        session
            .fetcher
            .fetch(url, Freshness::Immutable)
            .map_err(|e| format!("{e}"))
    };
    let written = write_rockspec(
        &Request {
            name: args.name,
            version: args.version,
            location: args.location,
            ..args.template.into_request()
        },
        &cwd,
        &fetch,
    )?;
    for line in &written.warnings {
        errln!("{line}");
    }
    for line in &written.said {
        outln!("{line}");
    }
    std::fs::write(&written.file, &written.text)
        .with_context(|| format!("cannot write {}", written.file.display()))?;
    outln!();
    outln!(
        "Wrote template at {} -- you should now edit and finish it.",
        written.file.display()
    );
    outln!();
    Ok(ExitStatus::Success)
}

/// `rockstore pack`.
pub fn pack(args: PackArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("current directory")?;
    if args.what.ends_with(".rockspec") {
        let session = Session::new(cx);
        let out = pack_source(&session, &args.what, &cwd)?;
        outln!("Packed: {}", out.display());
        if args.sign {
            sign(&out, &cx.build_env(Variables::new()))?;
        }
        return Ok(ExitStatus::Success);
    }
    let backend = cx.store()?;
    let store = backend.store();
    let item = match installed_item(cx, &args.what, args.version.as_deref())? {
        Some(name) => store.find(&name)?,
        None if args.version.is_some() => bail!(
            "{} {} is not installed in {}",
            args.what,
            args.version.as_deref().unwrap_or_default(),
            cx.target()?.0.root.display()
        ),
        None => store.find(&args.what)?,
    };
    let out = rock_file::pack(
        &item.path,
        &item.record.name,
        &item.record.version,
        &BuildEnv::host_arch(),
        &cwd,
    )
    .with_context(|| format!("cannot write the rock for {}", item.name.as_str()))?;
    outln!("Packed: {}", out.display());
    if args.sign {
        sign(&out, &cx.build_env(Variables::new()))?;
    }
    Ok(ExitStatus::Success)
}

/// The item of rock `name` (at `version`, else the newest) installed in
/// the target tree, as `luarocks pack NAME [VERSION]` finds it.
fn installed_item(
    cx: &Context,
    name: &str,
    version: Option<&str>,
) -> anyhow::Result<Option<String>> {
    let (tree, _) = cx.target()?;
    let profile = tree.current_profile()?;
    Ok(profile
        .rocks
        .iter()
        .filter(|r| r.name == name)
        .filter(|r| {
            version.is_none_or(|v| r.version == v || r.version.starts_with(&format!("{v}-")))
        })
        .max_by(|a, b| {
            rockstore::rockspec::Version::parse(&a.version)
                .sort_order(&rockstore::rockspec::Version::parse(&b.version))
        })
        .map(|r| r.item.clone()))
}

/// A `.src.rock`: the rockspec and its downloaded source file.
pub(super) fn pack_source(
    session: &Session,
    rockspec_path: &str,
    out_dir: &Path,
) -> anyhow::Result<PathBuf> {
    use std::io::Write;
    let bytes = fetch_target(session, rockspec_path)?;
    let file = file_name(rockspec_path);
    let rockspec = load_rockspec(rockspec_path, &file, &bytes)?;
    let source_file =
        rockspec.source.file.clone().context(
            "only rockspecs with http, https or file sources can be packed as .src.rock",
        )?;
    let url = source_url(&rockspec.source);
    let source = session.fetcher.fetch(&url, Freshness::Immutable)?;
    let out = out_dir.join(format!("{}-{}.src.rock", rockspec.name, rockspec.version));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&out)?);
    let options = zip::write::SimpleFileOptions::default();
    zip.start_file(&file, options)?;
    zip.write_all(&bytes)?;
    zip.start_file(&source_file, options)?;
    zip.write_all(&source)?;
    zip.finish()?;
    Ok(out)
}

/// `rockstore unpack`.
pub fn unpack(args: UnpackArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let session = Session::new(cx);
    let named = !args.file.ends_with(".rockspec")
        && !args.file.ends_with(".rock")
        && !Path::new(&args.file).exists();
    let target = if named {
        session
            .find_checking(
                &args.file.to_lowercase(),
                args.version.as_deref(),
                Want::Source,
                args.check_lua_versions,
            )?
            .url()
    } else {
        if args.version.is_some() {
            bail!("a VERSION goes with a rock name, not with a file");
        }
        args.file.clone()
    };
    let file = file_name(&target);
    let bytes = fetch_target(&session, &target)?;
    let cwd = std::env::current_dir().context("current directory")?;
    let fetch = |url: &str| {
        session
            .fetcher
            .fetch(url, Freshness::Immutable)
            .map_err(|e| e.to_string())
    };
    let unpacked = rockstore::unpack::unpack(&file, &bytes, &cwd, args.force, &fetch)?;
    let shown = unpacked.dir.strip_prefix(&cwd).unwrap_or(&unpacked.dir);
    match unpacked.source_dir {
        Some(source_dir) => {
            outln!();
            outln!("Done. You may now enter directory ");
            outln!("{}", shown.join(&source_dir).display());
            outln!("and type 'rockstore make' to build.");
        }
        None => outln!("{}", shown.display()),
    }
    Ok(ExitStatus::Success)
}

/// `rockstore search`.
pub fn search(args: SearchArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let name = match (&args.name, args.all) {
        (_, true) => String::new(),
        (Some(n), false) => match &args.namespace {
            Some(ns) if !n.contains('/') => format!("{ns}/{n}"),
            _ => n.clone(),
        },
        (None, false) => {
            bail!("Enter name and version or use --all. See `rockstore search --help`.")
        }
    };
    let session = Session::new(cx);
    let version = if args.all {
        None
    } else {
        args.version.as_deref()
    };
    let offers = session.offers(&name, version, false)?;
    let host = BuildEnv::host_arch();
    let binary = |o: &Offer| o.arch == "all" || o.arch == host;
    let sources: Vec<&Offer> = offers.iter().filter(|o| !binary(o)).collect();
    let binaries: Vec<&Offer> = offers.iter().filter(|o| binary(o)).collect();
    let title = |text: &str, underline: char| {
        if !args.porcelain {
            outln!("\n{text}");
            outln!("{}\n", underline.to_string().repeat(text.chars().count()));
        }
    };
    let lua_version = session.lua_version();
    let query = match (&args.version, args.all) {
        (Some(v), false) => format!("{name} {v}"),
        _ => name.clone(),
    };
    title(
        &format!("{query} - Search results for Lua {lua_version}:"),
        '=',
    );
    for (list, heading, shown) in [
        (&sources, "Rockspecs and source rocks:", !args.binary),
        (&binaries, "Binary and pure-Lua rocks:", !args.source),
    ] {
        if list.is_empty() || !shown {
            continue;
        }
        title(heading, '-');
        print_offers(list, args.porcelain);
    }
    Ok(ExitStatus::Success)
}

/// The offers as LuaRocks lists them, written at once: `search --all`
/// prints tens of thousands of lines.
fn print_offers(offers: &[&Offer], porcelain: bool) {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(offers.len() * 64);
    if porcelain {
        for o in offers {
            let _ = writeln!(
                text,
                "{}\t{}\t{}\t{}",
                o.name,
                o.version,
                o.arch,
                o.server.trim_end_matches('/')
            );
        }
        super::output::data_unterminated(&text);
        return;
    }
    let mut current: Option<&str> = None;
    for o in offers {
        if current != Some(&o.name) {
            if current.is_some() {
                text.push('\n');
            }
            let _ = writeln!(text, "{}", o.name);
            current = Some(&o.name);
        }
        let _ = writeln!(
            text,
            "   {} ({}) - {}",
            o.version,
            o.arch,
            o.server.trim_end_matches('/')
        );
    }
    if current.is_some() {
        text.push('\n');
    }
    super::output::data_unterminated(&text);
}

/// Signs `file` as LuaRocks' `signing.sign_file` does: `$(GPG) --armor
/// --output FILE.asc --detach-sign FILE`.
pub fn sign(file: &std::path::Path, env: &BuildEnv) -> anyhow::Result<()> {
    let sig = sign_file(file, env)?;
    outln!("Signature stored in: {}", sig.display());
    Ok(())
}

/// [`sign`] without a word: the signature's path.
pub(super) fn sign_file(file: &std::path::Path, env: &BuildEnv) -> anyhow::Result<PathBuf> {
    let gpg = env
        .variables
        .get("GPG")
        .cloned()
        .unwrap_or_else(|| "gpg".to_owned());
    let mut sig = file.as_os_str().to_owned();
    sig.push(".asc");
    let status = std::process::Command::new(&gpg)
        .arg("--armor")
        .arg("--output")
        .arg(&sig)
        .arg("--detach-sign")
        .arg(file)
        .status()
        .with_context(|| {
            format!(
                "cannot run {gpg} to sign {} (is gpg installed?)",
                file.display()
            )
        })?;
    if !status.success() {
        bail!("failed running {gpg} to sign {}", file.display());
    }
    Ok(PathBuf::from(sig))
}
