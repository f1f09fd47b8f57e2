//! Issue 29, what stays instant: host probes asked once per compiler
//! binary (and again when its bytes change), and `search` from the
//! manifest index, byte for byte LuaRocks' output on a manifest of real
//! size.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{need, text, Sandbox};

/// Where the real gcc is, before a wrapper named `gcc` shadows it.
fn real_gcc() -> PathBuf {
    let out = Command::new("sh")
        .args(["-c", "command -v gcc"])
        .output()
        .expect("sh");
    PathBuf::from(text(&out.stdout).trim())
}

/// A `gcc` that logs each call's arguments to `log`, then runs the real
/// one; `note` goes into its bytes, so two notes are two compilers.
fn gcc_wrapper(at: &Path, real: &Path, log: &Path, note: &str) {
    std::fs::write(
        at,
        format!(
            "#!/bin/sh\n# {note}\necho \"$@\" >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        ),
    )
    .expect("wrapper");
    std::fs::set_permissions(at, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

fn probes_logged(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter(|l| l.contains("-print-multiarch"))
        .count()
}

/// `gcc -print-multiarch` runs once for a compiler: later commands read
/// the answer from the probe cache, spawning nothing; a `touch` (same
/// bytes) keeps it; new bytes in the compiler ask again.
#[test]
fn multiarch_is_probed_once_per_compiler_binary() {
    if !need(&["gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let bin = s.dir("bin");
    let log = s.tmp.path().join("gcc.log");
    let real = real_gcc();
    gcc_wrapper(&bin.join("gcc"), &real, &log, "first");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let libdir = || {
        let out = s
            .cmd(["--lua-version", "5.4", "config", "variables.LUA_LIBDIR"])
            .env("PATH", &path)
            .output()
            .expect("run");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let first = libdir();
    assert_eq!(probes_logged(&log), 1, "the first command asks gcc");
    assert_eq!(libdir(), first);
    assert_eq!(libdir(), first);
    assert_eq!(
        probes_logged(&log),
        1,
        "later commands take the cached answer and spawn no gcc"
    );
    let cache = s.tmp.path().join("home/.cache/rockstore/probes");
    let records: Vec<_> = std::fs::read_dir(&cache).expect("probe cache").collect();
    assert_eq!(records.len(), 1, "one record, for the wrapper");

    // Same bytes, new times: hashed again, not probed again.
    let now = std::time::SystemTime::now();
    std::fs::File::options()
        .write(true)
        .open(bin.join("gcc"))
        .expect("open")
        .set_modified(now)
        .expect("touch");
    assert_eq!(libdir(), first);
    assert_eq!(
        probes_logged(&log),
        1,
        "a touched compiler is the same compiler"
    );

    // Other bytes: another compiler, asked again.
    gcc_wrapper(&bin.join("gcc"), &real, &log, "second, upgraded");
    assert_eq!(libdir(), first);
    assert_eq!(probes_logged(&log), 2, "a changed compiler is probed anew");
    assert_eq!(libdir(), first);
    assert_eq!(probes_logged(&log), 2);
}
