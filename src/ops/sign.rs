//! Signing a rock or rockspec as LuaRocks' `signing.sign_file` does:
//! `$(GPG) --armor --output FILE.asc --detach-sign FILE`, the program
//! named by the `GPG` build variable (default `gpg`).

use std::path::{Path, PathBuf};

use crate::build::BuildEnv;

/// Why a file was not signed.
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The signing program could not be started.
    #[error("cannot run {gpg} to sign {} (is gpg installed?)", file.display())]
    Spawn {
        /// The program.
        gpg: String,
        /// The file to sign.
        file: PathBuf,
        /// Why it did not start.
        #[source]
        source: std::io::Error,
    },
    /// It ran and failed (no key, a wrong passphrase: it said why on
    /// stderr).
    #[error("failed running {gpg} to sign {}", file.display())]
    Failed {
        /// The program.
        gpg: String,
        /// The file to sign.
        file: PathBuf,
    },
}

/// Writes `<file>.asc` beside `file`; its path.
pub fn sign_file(file: &Path, env: &BuildEnv) -> Result<PathBuf, SignError> {
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
        .status();
    match status {
        Err(source) => Err(SignError::Spawn {
            gpg,
            file: file.to_owned(),
            source,
        }),
        Ok(status) if !status.success() => Err(SignError::Failed {
            gpg,
            file: file.to_owned(),
        }),
        Ok(_) => Ok(PathBuf::from(sig)),
    }
}
