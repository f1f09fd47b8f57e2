//! `rockstore upload`: LuaRocks 3.8's `luarocks upload` — the rockspec,
//! then its `.src.rock` (packed here unless given or `--skip-pack`), sent
//! to an upload server through `rockstore::upload`'s API, in LuaRocks'
//! steps and words.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use rockstore::build::variables::Variables;
use rockstore::hint::chain;
use rockstore::ops::pack::source_rock;
use rockstore::ops::session::load_rockspec;
use rockstore::ops::sign::sign_file;
use rockstore::upload::{Api, FilePart, UploadConfig, UploadError, DEFAULT_SERVER};

use super::context::Context;
use super::report::ExitStatus;

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Rockspec for the rock to upload.
    pub rockspec: String,
    /// A corresponding .src.rock file; if not given it will be generated.
    pub src_rock: Option<PathBuf>,
    /// Do not pack and send source rock.
    #[arg(long)]
    pub skip_pack: bool,
    /// Pass an API key. It will be stored for subsequent uses.
    #[arg(long, value_name = "KEY")]
    pub api_key: Option<String>,
    /// Use the given a temporary API key in this invocation only. It will
    /// not be stored.
    #[arg(long, value_name = "KEY")]
    pub temp_key: Option<String>,
    /// Replace existing rockspec if the same revision of a module already
    /// exists. This should be used only in case of upload mistakes: when
    /// updating a rockspec, increment the revision number instead.
    #[arg(long)]
    pub force: bool,
    /// Upload a signature file alongside each file as well.
    #[arg(long)]
    pub sign: bool,
    /// Print each request and the answer's status.
    #[arg(long, hide = true)]
    pub debug: bool,
}

fn say(line: &str) {
    outln!("{line}");
}

fn warn(line: &str) {
    errln!("{line}");
}

/// `rockstore upload`.
pub fn upload(args: UploadArgs, cx: &Context) -> anyhow::Result<ExitStatus> {
    let config_path = rockstore::config_edit::file_for(
        &cx.sources,
        rockstore::config_edit::Scope::User,
        &cx.lua.version,
    )
    .map(|user| UploadConfig::path(&user));
    let mut config = config_path
        .as_deref()
        .map(UploadConfig::load)
        .unwrap_or_default();
    // LuaRocks takes the global `--server` as the upload server.
    let server = cx
        .server_flags
        .server
        .first()
        .cloned()
        .or_else(|| config.server.clone())
        .unwrap_or_else(|| DEFAULT_SERVER.to_owned());
    config.server = Some(server.clone());
    let Some(key) = args
        .temp_key
        .clone()
        .or_else(|| args.api_key.clone())
        .or_else(|| config.key.clone())
    else {
        return Err(UploadError::NoKey { server }.into());
    };
    let timeout = std::time::Duration::from_secs(cx.server_flags.timeout.max(1));
    let mut api = Api::new(&server, &key, args.debug, timeout, &say, &warn)?;
    if let Some(new_key) = &args.api_key {
        // As LuaRocks: the key is saved only when the server takes it, and
        // a refusal here does not stop the upload.
        config.key = Some(new_key.clone());
        save_config(&mut api, &config, config_path.as_deref())?;
    }

    let session = cx.session();
    let bytes = session.fetch(&args.rockspec)?;
    let rockspec = load_rockspec(&args.rockspec, &bytes)?;
    say(&format!("Sending {} ...", args.rockspec));
    let version = rockspec.version.to_string();
    let checked = api.method(
        "check_rockspec",
        &[("package", rockspec.name.as_str()), ("version", &version)],
        None,
    )?;
    if truthy(checked.get("module")).is_none() {
        say(&format!("Will create new module ({})", rockspec.name));
    }
    if truthy(checked.get("version")).is_some() && !args.force {
        bail!(
            "Revision {} already exists on the server. See 'rockstore help upload'.",
            rockspec.version
        );
    }
    let env = cx.build_env(Variables::new());
    let rockspec_sig = if args.sign {
        let sig = sign_file(Path::new(&args.rockspec), &env)
            .map_err(|e| anyhow::anyhow!("Failed signing rockspec: {}", chain(&e)))?;
        say(&format!("Signed rockspec: {}", sig.display()));
        Some(sig)
    } else {
        None
    };
    let dev = version.starts_with("dev") || version.starts_with("scm");
    let rock = match &args.src_rock {
        Some(given) => Some(given.clone()),
        None if !args.skip_pack && !dev => {
            say(&format!("Packing {}", rockspec.name));
            let cwd = std::env::current_dir().context("current directory")?;
            Some(source_rock(&session, &args.rockspec, &cwd)?)
        }
        None => None,
    };
    let rock_sig = match (&rock, args.sign) {
        (Some(rock), true) => {
            let sig = sign_file(rock, &env)
                .map_err(|e| anyhow::anyhow!("Failed signing rock: {}", chain(&e)))?;
            say(&format!("Signed packed rock: {}", sig.display()));
            Some(sig)
        }
        _ => None,
    };

    let mut parts = vec![FilePart {
        field: "rockspec_file",
        path: PathBuf::from(&args.rockspec),
    }];
    if let Some(sig) = rockspec_sig {
        parts.push(FilePart {
            field: "rockspec_sig",
            path: sig,
        });
    }
    let uploaded = api.method("upload", &[], Some(&parts))?;
    let no_manifests = uploaded
        .get("manifests")
        .and_then(|m| m.as_array())
        .is_none_or(|m| m.is_empty());
    if truthy(uploaded.get("is_new")).is_some() && no_manifests {
        warn("Warning: module not added to root manifest due to name taken.");
    }
    let module_url = match uploaded.get("module_url") {
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) if !v.is_null() => v.to_string(),
        _ => "nil".to_owned(),
    };
    if let Some(rock) = rock {
        let Some(id) = uploaded
            .get("version")
            .and_then(|v| v.get("id"))
            .and_then(serde_json::Value::as_f64)
        else {
            bail!("Invalid response from server.");
        };
        say(&format!("Sending {} ...", rock.display()));
        let mut parts = vec![FilePart {
            field: "rock_file",
            path: rock,
        }];
        if let Some(sig) = rock_sig {
            parts.push(FilePart {
                field: "rock_sig",
                path: sig,
            });
        }
        api.method(&format!("upload_rock/{}", id as i64), &[], Some(&parts))?;
    }
    say("");
    say(&format!("Done: {module_url}"));
    say("");
    Ok(ExitStatus::Success)
}

/// Lua's truth: present, not `null`, not `false`.
fn truthy(v: Option<&serde_json::Value>) -> Option<&serde_json::Value> {
    v.filter(|v| !v.is_null() && v.as_bool() != Some(false))
}

/// Saves the config after asking the server's `status` with the new key,
/// as LuaRocks' `Api:save_config`: a refusal is said ("Server says: …")
/// and nothing is saved; a failed request saves nothing, silently.
fn save_config(api: &mut Api, config: &UploadConfig, path: Option<&Path>) -> anyhow::Result<()> {
    let Ok(status) = api.raw_method("status", &[], None) else {
        return Ok(());
    };
    if let Some(errors) = rockstore::upload::refusal(&status) {
        warn(&format!(
            "Server says: {}",
            errors.first().map(String::as_str).unwrap_or("nil")
        ));
        return Ok(());
    }
    if let Some(path) = path {
        config.save(path)?;
    }
    Ok(())
}
