//! `download`, `search` and `unpack`: the commands that read the rocks
//! servers (through the command's [`rockstore::ops::session::Session`])
//! and write what they find into the current directory or on stdout.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::build::BuildEnv;
use rockstore::ops::session::file_name;
use rockstore::servers::{self, Offer, Want};

use super::context::Context;
use super::report::ExitStatus;

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

/// `rockstore download`.
pub fn download(args: DownloadArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let session = cx.session();
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
        let bytes = session.fetch(&url)?;
        let out = PathBuf::from(file_name(&url));
        // Silent, as LuaRocks: the file is in the current directory.
        std::fs::write(&out, bytes).with_context(|| format!("cannot write {}", out.display()))?;
    }
    Ok(ExitStatus::Success)
}

/// `rockstore unpack`.
pub fn unpack(args: UnpackArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let session = cx.session();
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
    let bytes = session.fetch(&target)?;
    let cwd = std::env::current_dir().context("current directory")?;
    let fetch = |url: &str| session.fetch(url).map_err(|e| e.to_string());
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
    let session = cx.session();
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
