//! What the benchmarks share: the fixture tarballs they serve, the
//! loopback server, and timing.
#![allow(dead_code)]

pub mod closure;

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `dir` as a `.tar.gz` with one top directory `top`.
pub fn tarball(dir: &Path, top: &str) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        tar.append_dir_all(top, dir).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    out
}

/// `python3 -m http.server` on an ephemeral loopback port, and its base URL.
pub fn serve(dir: &Path) -> (Child, String) {
    let mut child = Command::new("python3")
        .args(["-u", "-m", "http.server", "0", "--bind", "127.0.0.1"])
        .current_dir(dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 -m http.server");
    let mut line = String::new();
    std::io::BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port = line
        .split("port ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .expect("port in the server's first line");
    (child, format!("http://127.0.0.1:{port}"))
}

/// How long `cmd` takes; it must succeed.
pub fn timed(cmd: Command) -> Duration {
    timed_said(cmd).0
}

/// How long `cmd` takes, and what it printed (stdout then stderr); it
/// must succeed.
pub fn timed_said(mut cmd: Command) -> (Duration, String) {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (elapsed, said)
}

/// The fastest of several runs.
pub fn best(runs: impl Iterator<Item = Duration>) -> Duration {
    runs.min().unwrap()
}

/// Whether `program --version` answers.
pub fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}
