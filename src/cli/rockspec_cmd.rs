//! `rockstore lint FILE` (as `luarocks lint`) and `rockstore rockspec FILE`
//! (the evaluated rockspec, for people and tools).

use std::path::PathBuf;

use anyhow::Context;
use clap::Args;
use rockstore::rockspec::{LoadOptions, Platforms, Rockspec, RockspecError};

use super::output;
use super::report::ExitStatus;

/// The rockspec a command reads, and for which platform.
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
    output::data(&format!("{} {}", rockspec.name, rockspec.version));
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
