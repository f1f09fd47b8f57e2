//! Unpacking throughput and peak memory of the bounded unpacker
//! (`archive::unpack_reader`: streamed decompression, size and ratio caps,
//! writes through a cap-std handle, links resolved at the end) against
//! `tar -x` and `unzip` of the same archive, in the same run.
//!
//! The archive is a synthetic source tree (400 files of Lua-like text,
//! 64 MiB, compressing about as real sources do) as `.tar.gz`, `.tar.xz`
//! and `.zip`. Each side runs as its own process under GNU time, so peak
//! RSS (`%M`) is measured the same way for both: this binary re-runs
//! itself with `--child KIND ARCHIVE DEST` for rockstore's side.
//!
//! Run: `cargo bench --bench unpack` (needs `tar`, `gzip`, `xz`, `zip`,
//! `unzip` and GNU time at `/usr/bin/time`).
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use rockstore::archive::{self, Limits};

const FILES: usize = 400;
const FILE_BYTES: usize = 160 << 10;

fn source_tree(root: &Path) {
    let words = [
        "local", "function", "return", "end", "if", "then", "else", "for", "in", "pairs", "self",
        "table", "insert", "string", "format", "nil", "true", "false", "module", "value",
    ];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for f in 0..FILES {
        let dir = root.join(format!("src/dir{}", f % 20));
        std::fs::create_dir_all(&dir).unwrap();
        let mut body = String::with_capacity(FILE_BYTES + 100);
        while body.len() < FILE_BYTES {
            state = state
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            body.push_str(words[(state >> 33) as usize % words.len()]);
            body.push(if (state >> 20) % 9 == 0 { '\n' } else { ' ' });
            if (state >> 40) % 13 == 0 {
                body.push_str(&format!("x{} = {} ", state % 1000, state % 77));
            }
        }
        std::fs::write(dir.join(format!("f{f}.lua")), body).unwrap();
    }
}

fn run(cmd: &mut Command) {
    let status = cmd.status().unwrap();
    assert!(status.success(), "{cmd:?}");
}

/// (seconds, peak KiB) of a command under GNU time.
fn timed(mut cmd: Command, report: &Path) -> (f64, u64) {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(ToOwned::to_owned).collect();
    let dir = cmd.get_current_dir().map(Path::to_path_buf);
    let mut time = Command::new("/usr/bin/time");
    time.arg("-f")
        .arg("%e %M")
        .arg("-o")
        .arg(report)
        .arg(program)
        .args(args);
    if let Some(d) = dir {
        time.current_dir(d);
    }
    cmd = time;
    run(&mut cmd);
    let text = std::fs::read_to_string(report).unwrap();
    let mut w = text.lines().last().unwrap().split_whitespace();
    (
        w.next().unwrap().parse().unwrap(),
        w.next().unwrap().parse().unwrap(),
    )
}

fn child(kind: &str, archive_path: &str, dest: &str) {
    std::fs::create_dir_all(dest).unwrap();
    let dir = cap_std::fs::Dir::open_ambient_dir(dest, cap_std::ambient_authority()).unwrap();
    let file = std::fs::File::open(archive_path).unwrap();
    let len = file.metadata().unwrap().len();
    let name = format!("bench.{kind}");
    archive::unpack_reader(file, len, &name, &dir, Limits::DEFAULT).unwrap();
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--child") {
        child(&args[2], &args[3], &args[4]);
        return;
    }
    if !Path::new("/usr/bin/time").exists() {
        println!("unpack bench skipped: GNU time is not at /usr/bin/time (apt-get install time)");
        return;
    }
    let tmp =
        tempfile::tempdir_in(std::env::var_os("TMPDIR").unwrap_or_else(|| "/tmp".into())).unwrap();
    let t = tmp.path();
    source_tree(&t.join("tree"));
    let mib = (FILES * FILE_BYTES) as f64 / (1 << 20) as f64;
    run(Command::new("tar")
        .args(["-cf", "src.tar", "-C", "tree", "."])
        .current_dir(t));
    run(Command::new("sh")
        .args(["-c", "gzip -6 -c src.tar > src.tar.gz"])
        .current_dir(t));
    run(Command::new("sh")
        .args(["-c", "xz -6 -T1 -c src.tar > src.tar.xz"])
        .current_dir(t));
    run(Command::new("sh")
        .args(["-c", "cd tree && zip -q -r -6 ../src.zip ."])
        .current_dir(t));
    let me = std::env::current_exe().unwrap();
    let report = t.join("time.txt");
    println!("unpacking {FILES} files, {mib:.0} MiB of text (best of 3; peak RSS of that run)");
    println!(
        "{:<8} {:>9} {:>14} {:>10} {:>14} {:>10} {:>8}",
        "format", "archive", "rockstore", "peak", "baseline", "peak", "ratio"
    );
    for (kind, file, baseline) in [
        ("tar.gz", "src.tar.gz", vec!["tar", "-xzf"]),
        ("tar.xz", "src.tar.xz", vec!["tar", "-xJf"]),
        ("zip", "src.zip", vec!["unzip", "-q"]),
    ] {
        let size = std::fs::metadata(t.join(file)).unwrap().len();
        let best = |make: &dyn Fn(&Path) -> Command| {
            let mut best = (f64::MAX, 0);
            for round in 0..3 {
                let dest = t.join(format!("out-{round}"));
                let _ = std::fs::remove_dir_all(&dest);
                std::fs::create_dir_all(&dest).unwrap();
                let got = timed(make(&dest), &report);
                if got.0 < best.0 {
                    best = got;
                }
                std::fs::remove_dir_all(&dest).unwrap();
            }
            best
        };
        let ours = best(&|dest| {
            let mut c = Command::new(&me);
            c.arg("--child").arg(kind).arg(t.join(file)).arg(dest);
            c
        });
        let theirs = best(&|dest| {
            let mut c = Command::new(baseline[0]);
            c.args(&baseline[1..]).arg(t.join(file)).current_dir(dest);
            if baseline[0] == "unzip" {
                c.arg("-d").arg(dest);
            }
            c
        });
        let rate = |s: f64| mib / s.max(0.001);
        println!(
            "{kind:<8} {:>7.1} MB {:>8.0} MiB/s {:>6} MiB {:>8.0} MiB/s {:>6} MiB {:>7.2}x",
            size as f64 / 1e6,
            rate(ours.0),
            ours.1 / 1024,
            rate(theirs.0),
            theirs.1 / 1024,
            theirs.0 / ours.0.max(0.001),
        );
    }
    println!("ratio: baseline time / rockstore time (above 1: rockstore is faster)");
}
