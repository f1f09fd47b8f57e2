//! Where output goes: data (plain or `--json`) and an install's status
//! (what was built, installed, removed: LuaRocks prints it there too) on
//! stdout; warnings, waits and errors on stderr. Every command prints
//! through [`outln!`] and [`errln!`], never `println!`, which panics when
//! stdout is gone.
//!
//! A reader that stops reading (`rockstore list | head -1`) ends the
//! process quietly with status 0, as it would a LuaRocks that the pipe's
//! SIGPIPE killed, without the noise; any other failure to write data
//! (`> /dev/full`) is an error that says so, status 1. Lines on stderr are
//! best effort: nothing is lost if nobody reads them.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;

/// `println!` that handles a closed or full stdout (see the module doc).
macro_rules! outln {
    () => {
        $crate::cli::output::write_data(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::cli::output::write_data(format_args!($($arg)*))
    };
}

/// `eprintln!` that never panics.
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::cli::output::write_status(format_args!($($arg)*))
    };
}

/// `--verbose`, set once from the command line.
static VERBOSE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Records `--verbose`.
pub fn set_verbose(on: bool) {
    VERBOSE.store(on, std::sync::atomic::Ordering::Relaxed);
}

/// Whether `--verbose` was given: builds print each command they run.
pub fn verbose() -> bool {
    VERBOSE.load(std::sync::atomic::Ordering::Relaxed)
}

/// Writes one line of data to stdout.
pub fn write_data(line: std::fmt::Arguments<'_>) {
    write_text(line, b"\n");
}

/// Writes data to stdout as it is, with no line break after it (LuaRocks'
/// `config KEY` prints a table so).
pub fn data_unterminated(text: &str) {
    write_text(format_args!("{text}"), b"");
}

fn write_text(line: std::fmt::Arguments<'_>, end: &[u8]) {
    let mut out = std::io::stdout().lock();
    let written = out
        .write_fmt(line)
        .and_then(|()| out.write_all(end))
        .and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => std::process::exit(0),
        Err(e) => {
            write_status(format_args!("error: cannot write to standard output: {e}"));
            std::process::exit(1);
        }
    }
}

/// Writes one status line to stderr, ignoring failure.
pub fn write_status(line: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(line).and_then(|()| err.write_all(b"\n"));
}

/// Prints a line of data.
pub fn data(line: &str) {
    outln!("{line}");
}

/// Prints a value as pretty JSON on stdout.
pub fn json<T: serde::Serialize>(value: &T) -> anyhow::Result<()> {
    outln!("{}", serde_json::to_string_pretty(value)?);
    Ok(())
}

/// Prints a status line on stderr.
pub fn status(line: &str) {
    errln!("{line}");
}

/// Prints the library's events ([`rockstore::reporter`]): status on
/// stdout, as LuaRocks prints it; notes on stderr as they are; warnings on
/// stderr after `Warning: `, as LuaRocks writes them; rockstore's own
/// notices after `warning: `; and what a blocked process waits for.
pub struct Terminal;

impl rockstore::reporter::Reporter for Terminal {
    fn report(&self, event: rockstore::reporter::Event<'_>) {
        use rockstore::reporter::Event;
        match event {
            Event::Status(line) => outln!("{line}"),
            Event::Note(line) => errln!("{line}"),
            Event::Warning(line) => errln!("Warning: {line}"),
            Event::Notice(line) => errln!("warning: {line}"),
            Event::Wait { what, lock_file } => {
                errln!("waiting for {what} ({})", lock_file.display());
            }
        }
    }
}

/// [`Terminal`] under `-q`: no status, the rest as ever.
pub struct Quieted;

impl rockstore::reporter::Reporter for Quieted {
    fn report(&self, event: rockstore::reporter::Event<'_>) {
        if !matches!(event, rockstore::reporter::Event::Status(_)) {
            Terminal.report(event);
        }
    }
}

/// [`Terminal`] while stdout carries data (`--dry-run --json`): status
/// goes to stderr too, as it is.
pub struct Aside;

impl rockstore::reporter::Reporter for Aside {
    fn report(&self, event: rockstore::reporter::Event<'_>) {
        match event {
            rockstore::reporter::Event::Status(line) => errln!("{line}"),
            other => Terminal.report(other),
        }
    }
}
