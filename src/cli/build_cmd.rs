//! `rockstore build`: a rock from a rockspec, a rock file or the servers,
//! built into the store and then installed (through `install`), only
//! stored (`--no-install`) or packed as a binary rock.

use std::path::Path;

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::backend::{BuildRequest, StoreBackend};
use rockstore::build::variables;
use rockstore::build::{rock_file, BuildEnv, Builder, Built, Origin};
use rockstore::install::Source;
use rockstore::ops::session::{file_name, Session, SessionError};
use rockstore::servers::{ServerError, Want};

use super::context::Context;
use super::flags::split_args;
use super::pack_cmd::sign;
use super::report::ExitStatus;

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
    let session = cx.session().verifying(args.flags.run.verify);
    let backend = cx.store()?;
    let substituters = cx.substituters()?;
    let mut benv = cx.build_env(overrides);
    benv.branch = args.flags.run.branch.clone();
    let builder = Builder {
        store: backend.store(),
        fetcher: session.fetcher(),
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
            bytes: session.fetch(target)?,
            file,
            origin: Origin::of_url(target, named_by_user),
        })
    } else if file.ends_with(".src.rock") {
        Some(Source::SrcRock {
            bytes: session.fetch(target)?,
            file,
        })
    } else if file.ends_with(".rock") {
        Some(Source::BinaryRock {
            bytes: session.fetch(target)?,
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
        .map_err(|e| could_not_find(e.into()))?;
    let url = offer.url();
    outln!("Building {} {} from {}", offer.name, offer.version, url);
    build_target(session, backend, builder, &url, None, false)
}

/// `build NAME` of a rock no server has, in LuaRocks' words
/// (`search.find_src_or_rockspec`): "Could not find a result named NAME:
/// No results matching query were found for Lua 5.x." Other errors pass.
pub(super) fn could_not_find(error: anyhow::Error) -> anyhow::Error {
    // The rock asked for, not a dependency (an `Unsatisfied` one).
    let server_error = error
        .downcast_ref::<ServerError>()
        .or_else(|| match error.downcast_ref::<SessionError>() {
            Some(SessionError::Server(e)) => Some(e),
            _ => None,
        })
        .or_else(
            || match error.downcast_ref::<rockstore::install::InstallError>() {
                Some(rockstore::install::InstallError::Server(e)) => Some(e),
                _ => None,
            },
        );
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
