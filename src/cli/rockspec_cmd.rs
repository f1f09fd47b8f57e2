//! The commands that read or write one rockspec: `rockstore lint FILE` (as
//! `luarocks lint`), `rockstore rockspec FILE` (the evaluated rockspec, for
//! people and tools), `new_version` and `write_rockspec` (through
//! [`rockstore::ops::write_rockspec`]).

use std::path::PathBuf;

use anyhow::Context as _;
use clap::Args;
use rockstore::rockspec::{LoadOptions, Platforms, Rockspec, RockspecError};

use rockstore::ops::write_rockspec;

use super::context::Context;
use super::flags::TemplateFlags;
use super::output;
use super::report::ExitStatus;

// (Not a doc comment: clap would take it for the subcommand's about text
// once the subcommand's arguments are built deferred; see cli::Command.)
// The rockspec a command reads, and for which platform.
#[derive(Debug, Args)]
pub struct RockspecFile {
    /// The rockspec (`name-version-revision.rockspec`).
    pub rockspec: PathBuf,
    /// Apply the platform overrides of this system instead of this
    /// machine's (linux, macosx, freebsd, windows, mingw, …).
    #[arg(long, value_name = "SYSTEM")]
    pub platform: Option<String>,
}

impl RockspecFile {
    fn load(&self) -> Result<Rockspec, RockspecError> {
        let platforms = self
            .platform
            .as_deref()
            .map_or_else(Platforms::host, Platforms::for_system);
        Rockspec::from_file(&self.rockspec, &LoadOptions { platforms })
    }
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub file: RockspecFile,
}

#[derive(Debug, Args)]
pub struct RockspecArgs {
    #[command(flatten)]
    pub file: RockspecFile,
    /// Print the evaluated rockspec as JSON: its keys after platform
    /// merging, LuaRocks' derived fields (name, source.file, source.dir,
    /// source.protocol, source.pathname), and each dependency list parsed
    /// into {name, namespace, constraints: [{op, version}]}.
    #[arg(long)]
    pub json: bool,
}

/// Checks more than loading does: the backend's fields, install entries,
/// version syntax and a license, as `luarocks lint` asks for.
pub fn lint(args: LintArgs) -> anyhow::Result<ExitStatus> {
    let file = args.file.rockspec.display().to_string();
    let rockspec = args.file.load().context("rockspec failed to load")?;
    let mut problems = Vec::new();
    if let Err(e) = rockspec.build.backend() {
        problems.push(e.to_string());
    }
    if let Err(e) = rockspec.build.install() {
        problems.push(e.to_string());
    }
    if let Err(e) = rockspec.build.copy_directories() {
        problems.push(e.to_string());
    }
    if let Some(rest) = rockspec.version.unparsed() {
        problems.push(format!(
            "version: '{rest}' in '{}' is not a version part",
            rockspec.version
        ));
    }
    if rockspec.description.license.is_none() {
        problems.push("description.license: the rockspec has no license field".into());
    }
    if problems.is_empty() {
        return Ok(ExitStatus::Success);
    }
    for p in &problems {
        output::status(&format!("{file}: {p}"));
    }
    output::status(&format!("{file} failed consistency checks."));
    Ok(ExitStatus::Failure)
}

/// Prints the evaluated rockspec.
pub fn show(args: RockspecArgs) -> anyhow::Result<ExitStatus> {
    let rockspec = args.file.load()?;
    if args.json {
        output::json(&rockspec.to_json())?;
        return Ok(ExitStatus::Success);
    }
    output::data(&rockspec.id().to_string());
    output::data(&format!("format: {}", rockspec.format));
    if let Some(summary) = &rockspec.description.summary {
        output::data(&format!("summary: {summary}"));
    }
    output::data(&format!("source: {}", rockspec.source.url));
    match rockspec.build.build_type() {
        Ok(t) => output::data(&format!("build type: {t}")),
        Err(e) => output::data(&format!("build type: ({e})")),
    }
    for (label, list) in [
        ("dependency", &rockspec.dependencies),
        ("build dependency", &rockspec.build_dependencies),
        ("test dependency", &rockspec.test_dependencies),
    ] {
        for dep in list {
            output::data(&format!("{label}: {dep}"));
        }
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
    let cwd = std::env::current_dir().context("current directory")?;
    let rock = match &args.rock {
        Some(r) => r.clone(),
        None => super::install_cmd::rockspec_here(&cwd, "new_version")?
            .display()
            .to_string(),
    };
    let out = write_rockspec::new_version(
        &cx.session(),
        &write_rockspec::NewVersion {
            rock: &rock,
            new_version: args.new_version.as_deref(),
            new_url: args.new_url.as_deref(),
            tag: args.tag.as_deref(),
            dir: args.dir.as_deref(),
            cwd: &cwd,
        },
        &output::Terminal,
    )?;
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

/// `rockstore write_rockspec`.
pub fn write_rockspec(args: WriteRockspecArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let cwd = std::env::current_dir().context("current directory")?;
    let file = write_rockspec::write_rockspec(
        &cx.session(),
        &rockstore::ops::template::Request {
            name: args.name,
            version: args.version,
            location: args.location,
            ..args.template.into_request()
        },
        &cwd,
        &output::Terminal,
    )?;
    outln!();
    outln!(
        "Wrote template at {} -- you should now edit and finish it.",
        file.display()
    );
    outln!();
    Ok(ExitStatus::Success)
}
