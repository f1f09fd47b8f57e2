//! Issue 29's table, each row beside Debian's `luarocks` in the same run,
//! as ratios (lux's `lx` fetches only over https, so it cannot read a
//! loopback server and is not measured):
//!
//! 1. the 11-rock closure of `common/closure.rs` (shaped like luasocket,
//!    lua-cjson, luafilesystem, lpeg, luassert, say, inspect, penlight,
//!    lua-term, dkjson and a top rock) into a fresh tree, store warm
//!    (median of 9); and the same from a server whose manifest has
//!    29,913 versions;
//! 2. `search lpeg` on a 29,913-version manifest (`tests/it/big_manifest.rs`,
//!    median of 7), with the manifest index and without (a fresh cache);
//! 3. `search --all --porcelain` on the same;
//! 4. the closure cold (a fresh store), `-j 2`;
//! 5. the ten rocks one by one, cold (one store, one command each);
//! 6. the fixed cost of `list`, `show`, `which`, `path` (median of 21).
//!
//! Run: `cargo bench --bench warm`. `ROCKSTORE_BENCH_QUICK=1` runs each row
//! fewer times; `ROCKSTORE_BENCH_KEEP=DIR` leaves the servers' files and a
//! warm store in DIR for profiling by hand. Needs python3 (the server),
//! gcc, lua5.4's headers; luarocks is measured where installed.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

#[path = "../tests/it/big_manifest.rs"]
mod big_manifest;
mod common;

use common::{closure, have, serve};

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// How long `cmd` takes; it must succeed. Output is discarded.
fn run(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{:?}: {}",
        cmd,
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

struct Bench {
    root: PathBuf,
    /// The small server: the closure only.
    small: String,
    /// The big server: the closure among 29,913 versions.
    big: String,
    n: std::cell::Cell<usize>,
    quick: bool,
}

impl Bench {
    fn runs(&self, full: usize) -> usize {
        if self.quick {
            full.min(3)
        } else {
            full
        }
    }

    fn fresh(&self, what: &str) -> PathBuf {
        let n = self.n.get();
        self.n.set(n + 1);
        let dir = self.root.join(format!("{what}-{n}"));
        std::fs::create_dir_all(dir.join("home")).unwrap();
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        dir
    }

    fn env(cmd: &mut Command, dir: &Path) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.join("home"))
            .env("LUAROCKS_SYSCONFDIR", dir.join("etc"));
    }

    /// `rockstore` with its store, home and cache under `dir`.
    fn rockstore(&self, dir: &Path, server: &str, tree: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rockstore"));
        Self::env(&mut cmd, dir);
        cmd.arg("--store")
            .arg(dir.join("store"))
            .args(["--lua-version", "5.4", "--only-server", server, "--tree"])
            .arg(tree)
            .args(args);
        cmd
    }

    fn luarocks(&self, dir: &Path, server: &str, tree: &Path, args: &[&str]) -> Command {
        let config = dir.join("config.lua");
        std::fs::write(&config, "").unwrap();
        let mut cmd = Command::new("luarocks");
        Self::env(&mut cmd, dir);
        cmd.env("LUAROCKS_CONFIG", &config)
            .args(["--lua-version", "5.4", "--only-server", server, "--tree"])
            .arg(tree)
            .args(args);
        cmd
    }
}

/// One row: ours, LuaRocks' (when measured), the ratio and the aim.
fn row(what: &str, ours: Duration, theirs: Option<Duration>, aim: &str) {
    match theirs {
        Some(t) => println!(
            "{what}: rockstore {:.1} ms, luarocks {:.1} ms: {:.1}x (aim {aim})",
            ms(ours),
            ms(t),
            t.as_secs_f64() / ours.as_secs_f64()
        ),
        None => println!(
            "{what}: rockstore {:.1} ms (luarocks not installed; aim {aim})",
            ms(ours)
        ),
    }
}

fn main() {
    let keep = std::env::var_os("ROCKSTORE_BENCH_KEEP").map(PathBuf::from);
    let tmp = tempfile::tempdir().unwrap();
    let root = keep.clone().unwrap_or_else(|| tmp.path().to_path_buf());
    let served = root.join("served");
    let (small_repo, big_repo) = (served.join("small"), served.join("big"));
    std::fs::create_dir_all(&small_repo).unwrap();
    std::fs::create_dir_all(&big_repo).unwrap();
    let (mut server, base) = serve(&served);
    let b = Bench {
        root: root.clone(),
        small: format!("{base}/small"),
        big: format!("{base}/big"),
        n: std::cell::Cell::new(0),
        quick: std::env::var_os("ROCKSTORE_BENCH_QUICK").is_some(),
    };
    let entries = closure::write(&root, &small_repo, &b.small);
    let mut small_manifest = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    for (name, _) in &entries {
        small_manifest.push_str(&format!(
            "   {name} = {{\n      [\"1.0-1\"] = {{\n         {{\n            arch = \"rockspec\"\n         }}\n      }}\n   }},\n"
        ));
    }
    small_manifest.push_str("}\n");
    std::fs::write(small_repo.join("manifest-5.4"), small_manifest).unwrap();
    for entry in std::fs::read_dir(&small_repo).unwrap() {
        let entry = entry.unwrap();
        if entry.file_name() != "manifest-5.4" {
            std::fs::copy(entry.path(), big_repo.join(entry.file_name())).unwrap();
        }
    }
    std::fs::write(
        big_repo.join("manifest-5.4"),
        big_manifest::generate(big_manifest::REAL_VERSIONS, 29, &entries),
    )
    .unwrap();
    let luarocks = have("luarocks");
    let lr = |d: Option<Duration>| d.filter(|_| luarocks);

    // 1. Warm: one store that built the closure once; each run a fresh tree.
    let warm = b.fresh("warm");
    run(b.rockstore(
        &warm,
        &b.small,
        &warm.join("first"),
        &["install", closure::TOP],
    ));
    let warm_runs = |server: &str, what: &str| {
        median(
            (0..b.runs(9))
                .map(|i| {
                    let tree = warm.join(format!("{what}-{i}"));
                    run(b.rockstore(&warm, server, &tree, &["install", closure::TOP]))
                })
                .collect(),
        )
    };
    let warm_small = warm_runs(&b.small, "tree");
    let lr_fresh = luarocks.then(|| {
        median(
            (0..b.runs(3))
                .map(|_| {
                    let d = b.fresh("lr-fresh");
                    run(b.luarocks(&d, &b.small, &d.join("tree"), &["install", closure::TOP]))
                })
                .collect(),
        )
    });
    row(
        &format!(
            "11-rock closure into a fresh tree, store warm ({:.2} ms/rock)",
            ms(warm_small) / closure::ROCKS as f64
        ),
        warm_small,
        lr(lr_fresh),
        "<= 1 ms/rock, >= 500x",
    );
    let warm_big = warm_runs(&b.big, "big");
    row(
        &format!(
            "  the same from the 29,913-version server ({:.2} ms/rock)",
            ms(warm_big) / closure::ROCKS as f64
        ),
        warm_big,
        lr(lr_fresh),
        "-",
    );

    // 2, 3. Search a real-sized manifest.
    let search = |args: &[&str], what: &str| {
        let d = b.fresh(what);
        let tree = d.join("tree");
        // The first run downloads the manifest (and writes the index).
        let first = run(b.rockstore(&d, &b.big, &tree, args));
        let ours = median(
            (0..b.runs(7))
                .map(|_| run(b.rockstore(&d, &b.big, &tree, args)))
                .collect(),
        );
        let theirs = luarocks.then(|| {
            let d = b.fresh(&format!("lr-{what}"));
            let tree = d.join("tree");
            run(b.luarocks(&d, &b.big, &tree, args));
            median(
                (0..b.runs(7))
                    .map(|_| run(b.luarocks(&d, &b.big, &tree, args)))
                    .collect(),
            )
        });
        (first, ours, theirs)
    };
    let (first, ours, theirs) = search(&["search", "lpeg"], "search");
    row(
        "`search lpeg`, 29,913-version manifest, cached",
        ours,
        theirs,
        ">= 100x",
    );
    println!(
        "  first run (download, parse, write the index): {:.1} ms",
        ms(first)
    );
    let (_, ours, theirs) = search(&["search", "--all", "--porcelain"], "search-all");
    row("`search --all --porcelain`, same", ours, theirs, ">= 25x");

    // 4. Cold, -j 2.
    let cold = median(
        (0..b.runs(3))
            .map(|_| {
                let d = b.fresh("cold");
                run(b.rockstore(
                    &d,
                    &b.small,
                    &d.join("tree"),
                    &["install", closure::TOP, "-j", "2"],
                ))
            })
            .collect(),
    );
    row("the closure cold, -j 2", cold, lr(lr_fresh), ">= 4x");

    // 5. One by one, cold.
    let names: Vec<&str> = closure::names()
        .into_iter()
        .filter(|n| *n != closure::TOP)
        .collect();
    let one_by_one = |make: &dyn Fn(&Path, &str) -> Command| {
        median(
            (0..b.runs(3))
                .map(|_| {
                    let d = b.fresh("one");
                    names.iter().map(|n| run(make(&d, n))).sum::<Duration>()
                })
                .collect(),
        )
    };
    let ours = one_by_one(&|d, n| b.rockstore(d, &b.small, &d.join("tree"), &["install", n]));
    let theirs = luarocks
        .then(|| one_by_one(&|d, n| b.luarocks(d, &b.small, &d.join("tree"), &["install", n])));
    row(
        "10 rockspecs one by one, cold",
        ours,
        theirs,
        ">= 2x lux (lx not measured: https only)",
    );

    // 6. Fixed cost per command, on the warm tree.
    let tree = warm.join("first");
    let lr_tree = {
        let d = b.fresh("lr-fixed");
        let t = d.join("tree");
        if luarocks {
            run(b.luarocks(&d, &b.small, &t, &["install", closure::TOP]));
        }
        (d, t)
    };
    for args in [
        &["list"][..],
        &["show", "wsocket"],
        &["which", "socket.http"],
        &["path"],
    ] {
        let ours = median(
            (0..b.runs(21))
                .map(|_| run(b.rockstore(&warm, &b.small, &tree, args)))
                .collect(),
        );
        let theirs = luarocks.then(|| {
            median(
                (0..b.runs(21))
                    .map(|_| run(b.luarocks(&lr_tree.0, &b.small, &lr_tree.1, args)))
                    .collect(),
            )
        });
        row(&format!("`{}`", args.join(" ")), ours, theirs, "< 5 ms");
    }
    if keep.is_some() {
        println!("kept: {} (server stopped)", root.display());
    }
    let _ = server.kill();
    let _ = server.wait();
}
