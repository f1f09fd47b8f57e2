//! Where output goes: data on stdout (plain or `--json`), status and waits on
//! stderr. The only place besides `report` that writes to the terminal.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::Path;

use rockstore::store::lock::Reporter;

/// Prints a line of data.
pub fn data(line: &str) {
    println!("{line}");
}

/// Prints a value as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    println!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints a status line on stderr.
pub fn status(line: &str) {
    eprintln!("{line}");
}

/// Tells the user on stderr what a blocked process waits for.
pub struct StderrReporter;

impl Reporter for StderrReporter {
    fn waiting_for_lock(&self, what: &str, lock_file: &Path) {
        eprintln!("waiting for {what} ({})", lock_file.display());
    }
}
