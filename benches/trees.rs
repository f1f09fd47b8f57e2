//! Trees: a warm install of a 20-rock closure into a fresh tree (every rock
//! already realised in the store), in every link mode, a generation switch and a rollback, and a
//! GC sweeping 10,000 items. Debian's `luarocks` installing the same closure
//! into a fresh tree is measured in the same run; `rm -rf` of the same
//! 10,000 directories, written to disk first as the store's are, is the
//! floor for the GC.
//!
//! The rocks are pure Lua and are served from a local directory, for both
//! tools.
//!
//! GC time is the filesystem's time to free inodes and blocks, so the
//! benchmark prints the filesystem it ran on. On ext4 without a journal and
//! mounted with `discard`, every freed block waits for the device, and
//! deletion costs several times what it does on a journaled ext4.
//!
//! Run: `cargo bench --bench trees` (in `$TMPDIR`; set it to measure on
//! another filesystem). `ROCKSTORE_BENCH_GC_ONLY=1` runs only the GC part;
//! `ROCKSTORE_BENCH_BASELINE=BIN` also times an older build's warm install
//! alternately with this one's.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use rockstore::store::db::ItemKind;
use rockstore::store::{ItemSpec, Store, StoreOptions};
use rockstore::tree::Tree;

const ROCKS: usize = 20;

/// `r01` … `r19` and `top` depending on all of them.
fn make_repo(root: &Path) -> PathBuf {
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let mut manifest = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    for i in 0..ROCKS {
        let name = if i == ROCKS - 1 {
            "top".to_owned()
        } else {
            format!("r{i:02}")
        };
        let src = root.join("src").join(format!("{name}-1.0"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join(format!("{name}.lua")),
            format!("return {{ name = '{name}' }}\n"),
        )
        .unwrap();
        std::fs::write(
            repo.join(format!("{name}-1.0.tar.gz")),
            common::tarball(&src, &format!("{name}-1.0")),
        )
        .unwrap();
        let deps: Vec<String> = if name == "top" {
            (0..ROCKS - 1)
                .map(|d| format!("'r{d:02} >= 1.0'"))
                .collect()
        } else {
            Vec::new()
        };
        std::fs::write(
            repo.join(format!("{name}-1.0-1.rockspec")),
            format!(
                "package = '{name}'\nversion = '1.0-1'\nsource = {{ url = 'file://{}/{name}-1.0.tar.gz' }}\n\
                 dependencies = {{ {} }}\nbuild = {{ type = 'builtin', modules = {{ {name} = '{name}.lua' }} }}\n",
                repo.display(),
                deps.join(", ")
            ),
        )
        .unwrap();
        manifest.push_str(&format!(
            "  {name} = {{ ['1.0-1'] = {{ {{ arch = 'rockspec' }} }} }},\n"
        ));
    }
    manifest.push_str("}\n");
    std::fs::write(repo.join("manifest-5.4"), manifest).unwrap();
    repo
}

fn rockstore(root: &Path) -> Command {
    rockstore_of(
        Path::new(env!("CARGO_BIN_EXE_rockstore")),
        &root.join("store"),
        root,
    )
}

/// `bin` (this build, or a baseline's) on `store`.
fn rockstore_of(bin: &Path, store: &Path, root: &Path) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", root.join("home"))
        .env("LUAROCKS_SYSCONFDIR", root.join("etc"))
        .arg("--store")
        .arg(store)
        .args(["--lua-version", "5.4"]);
    cmd
}

/// With `ROCKSTORE_BENCH_BASELINE=/path/to/an/older/rockstore`: the warm
/// symlink install by this build and by the baseline, alternating (each on
/// its own store, warmed first), so a change's cost to the default mode is
/// measured under the same load. Prints medians and their ratio.
fn against_baseline(root: &Path, repo_arg: &str) {
    let Some(baseline) = std::env::var_os("ROCKSTORE_BENCH_BASELINE").map(PathBuf::from) else {
        return;
    };
    let this = PathBuf::from(env!("CARGO_BIN_EXE_rockstore"));
    let sides = [
        ("this build", &this, "store-this"),
        ("baseline", &baseline, "store-baseline"),
    ];
    let install = |bin: &Path, store: &str, tree: String| {
        let mut cmd = rockstore_of(bin, &root.join(store), root);
        cmd.args(["--only-server", repo_arg, "--tree"])
            .arg(root.join(tree))
            .args(["install", "top"]);
        timed(cmd)
    };
    for (_, bin, store) in &sides {
        install(bin, store, format!("warmup-{store}"));
    }
    const RUNS: usize = 15;
    let mut times = [Vec::new(), Vec::new()];
    for i in 0..RUNS {
        for (side, (_, bin, store)) in sides.iter().enumerate() {
            times[side].push(install(bin, store, format!("{store}-{i}")));
        }
    }
    let median = |v: &mut Vec<Duration>| {
        v.sort();
        v[v.len() / 2]
    };
    let (this_ms, base_ms) = (median(&mut times[0]), median(&mut times[1]));
    println!(
        "warm symlink install, alternating {RUNS} runs each: this build {:.1} ms, baseline {} {:.1} ms ({:.2}x the baseline)",
        ms(this_ms),
        baseline.display(),
        ms(base_ms),
        this_ms.as_secs_f64() / base_ms.as_secs_f64()
    );
}

fn timed(mut cmd: Command) -> Duration {
    let t = Instant::now();
    let out = cmd.output().unwrap();
    let elapsed = t.elapsed();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    elapsed
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn main() {
    if std::env::var_os("ROCKSTORE_BENCH_GC_ONLY").is_none() {
        install_and_switch();
    }
    gc_bench();
}

fn install_and_switch() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::create_dir_all(root.join("home")).unwrap();
    let repo = make_repo(root);
    let repo_arg = repo.display().to_string();

    // Cold: builds all 20 rocks.
    let mut cold = rockstore(root);
    cold.args(["--only-server", &repo_arg, "--tree"])
        .arg(root.join("tree-cold"))
        .args(["install", "top"]);
    let cold = timed(cold);
    // Warm: every recipe realised; a fresh tree each run.
    let warm = (0..5)
        .map(|i| {
            let mut cmd = rockstore(root);
            cmd.args(["--only-server", &repo_arg, "--tree"])
                .arg(root.join(format!("tree-warm-{i}")))
                .args(["install", "top"]);
            timed(cmd)
        })
        .min()
        .unwrap();
    println!(
        "install of a {ROCKS}-rock closure into a fresh tree: warm {:.1} ms (aim <= 50 ms), cold {:.1} ms",
        ms(warm),
        ms(cold)
    );
    against_baseline(root, &repo_arg);
    // The same warm install per link mode (issue 27): the self-contained
    // modes place the generation's files in the tree. As root, hardlink
    // copies (root may write the store's files), which the line says.
    for mode in ["hardlink", "copy", "auto", "reflink"] {
        let runs: Vec<Option<Duration>> = (0..5)
            .map(|i| {
                let mut cmd = rockstore(root);
                cmd.args(["--only-server", &repo_arg, "--link-mode", mode, "--tree"])
                    .arg(root.join(format!("tree-{mode}-{i}")))
                    .args(["install", "top"]);
                let t = Instant::now();
                let out = cmd.output().unwrap();
                out.status.success().then(|| t.elapsed())
            })
            .collect();
        match runs.iter().flatten().min() {
            Some(best) => println!(
                "  --link-mode {mode}: warm {:.1} ms ({:.2}x symlink){}",
                ms(*best),
                best.as_secs_f64() / warm.as_secs_f64(),
                if mode == "hardlink" && rustix::process::geteuid().is_root() {
                    " [as root: files copied instead of linked]"
                } else {
                    ""
                }
            ),
            None => println!("  --link-mode {mode}: refused on this file system"),
        }
    }
    if Command::new("luarocks")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let config = root.join("lr-config.lua");
        std::fs::write(&config, "").unwrap();
        let lr = (0..3)
            .map(|i| {
                let mut cmd = Command::new("luarocks");
                cmd.env("LUAROCKS_CONFIG", &config)
                    .env("LUAROCKS_SYSCONFDIR", root.join("etc"))
                    .env("HOME", root.join("home"))
                    .args(["--lua-version", "5.4", "--only-server", &repo_arg, "--tree"])
                    .arg(root.join(format!("lr-tree-{i}")))
                    .args(["install", "top"]);
                timed(cmd)
            })
            .min()
            .unwrap();
        println!(
            "  luarocks 3.8, same closure, fresh tree (same run): {:.1} ms; rockstore warm is {:.0}x faster, cold {:.1}x",
            ms(lr),
            lr.as_secs_f64() / warm.as_secs_f64(),
            lr.as_secs_f64() / cold.as_secs_f64()
        );
    } else {
        println!("  (Debian's luarocks missing: no baseline)");
    }

    // Switch and rollback: the library call (what the aim is about) and the
    // whole command (process start, config, store open).
    let tree = Tree::new(&root.join("tree-warm-0"), "5.4").unwrap();
    let mut cmd = rockstore(root);
    cmd.arg("--tree").arg(&tree.root).args([
        "--only-server",
        &repo_arg,
        "install",
        "r00",
        "--force",
    ]);
    timed(cmd);
    let lock = tree.lock().unwrap();
    let rounds = 200;
    let t = Instant::now();
    for i in 0..rounds {
        tree.switch(&lock, if i % 2 == 0 { 1 } else { 2 }).unwrap();
    }
    let per_switch = t.elapsed() / rounds;
    drop(lock);
    let mut cmd = rockstore(root);
    cmd.arg("--tree").arg(&tree.root).arg("rollback");
    let rollback_cmd = (0..5)
        .map(|_| {
            let mut c = rockstore(root);
            c.arg("--tree")
                .arg(&tree.root)
                .args(["switch-generation", "2"]);
            timed(c);
            let mut c = rockstore(root);
            c.arg("--tree").arg(&tree.root).arg("rollback");
            timed(c)
        })
        .min()
        .unwrap();
    println!(
        "switch (library, {rounds} switches): {:.3} ms each (aim <= 1 ms); `rockstore rollback` command: {:.1} ms",
        ms(per_switch),
        ms(rollback_cmd)
    );
}

fn gc_bench() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    // GC of 10,000 unreferenced items.
    let gc_root = root.join("gc");
    let store = Store::open(&gc_root.join("store"), StoreOptions::default()).unwrap();
    let src = gc_root.join("src");
    std::fs::create_dir_all(src.join("lua")).unwrap();
    let t = Instant::now();
    for i in 0..10_000 {
        std::fs::write(src.join("lua/m.lua"), format!("return {i}\n")).unwrap();
        store
            .add_path(
                &src,
                &ItemSpec {
                    name: format!("rock{i}"),
                    version: "1.0-1".into(),
                    kind: ItemKind::Rock,
                    references: vec![],
                    recipe_key: None,
                },
            )
            .unwrap();
    }
    let admit = t.elapsed();
    if std::env::var_os("ROCKSTORE_BENCH_SKIP_SWEEP").is_some() {
        return; // for profiling: the set-up alone
    }
    // First every item is live: a registered tree's generation links a
    // profile referencing all of them, so GC marks 10,000 and frees none.
    let names: Vec<String> = store
        .list()
        .unwrap()
        .iter()
        .map(|i| i.name.as_str().to_owned())
        .collect();
    assert_eq!(names.len(), 10_000);
    let empty = gc_root.join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let profile = store
        .add_path(
            &empty,
            &ItemSpec {
                name: "profile".into(),
                version: "lua54".into(),
                kind: ItemKind::Profile,
                references: names,
                recipe_key: None,
            },
        )
        .unwrap();
    let tree = gc_root.join("tree");
    std::fs::create_dir_all(tree.join(".rockstore/generations")).unwrap();
    std::os::unix::fs::symlink(&profile.path, tree.join(".rockstore/generations/1")).unwrap();
    let uid = rustix::process::geteuid().as_raw();
    let first = rockstore::store::GenerationRoot {
        generation: 1,
        item: profile.name.clone(),
    };
    store.register_tree_for(&tree, uid, &[first]).unwrap();
    let t = Instant::now();
    let report = rockstore::gc::collect(&store, false).unwrap();
    let mark = t.elapsed();
    assert!(report.freed.is_empty());
    println!(
        "gc of a store of 10,001 live items (marks all, frees none): {:.0} ms",
        ms(mark)
    );
    // Then the tree goes: its registration is dropped and all 10,001 swept.
    std::fs::remove_dir_all(&tree).unwrap();
    let t = Instant::now();
    let report = rockstore::gc::collect(&store, false).unwrap();
    let gc = t.elapsed();
    assert_eq!(report.freed.len(), 10_001);
    // Floor: the same 10,000 one-file directories removed by rm -rf.
    let floor_dir = gc_root.join("floor");
    for i in 0..10_000 {
        let d = floor_dir.join(format!("item{i}/lua"));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("m.lua"), "return 1\n").unwrap();
    }
    // The store's items are on disk (admission syncs); data still in the
    // page cache, with no blocks allocated yet, would be cheaper to delete.
    rustix::fs::sync();
    let t = Instant::now();
    let out = Command::new("rm")
        .arg("-rf")
        .arg(&floor_dir)
        .output()
        .unwrap();
    assert!(out.status.success());
    let floor = t.elapsed();
    println!(
        "gc sweeping 10,001 unreferenced items: {:.0} ms (aim <= 1 s); rm -rf of 10,000 such directories: {:.0} ms ({:.1}x); admitting them took {:.1} s",
        ms(gc),
        ms(floor),
        gc.as_secs_f64() / floor.as_secs_f64(),
        admit.as_secs_f64()
    );
    println!("  on {}", filesystem_of(root));
}

/// The type and mount options of the filesystem holding `path`, and
/// whether an ext4 one has a journal: what GC's time depends on.
fn filesystem_of(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap_or_default();
    let Some((device, mount_point, fs_type, options)) = mounts
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            (f.len() >= 4 && path.starts_with(f[1])).then(|| (f[0], f[1], f[2], f[3]))
        })
        .max_by_key(|(_, mount_point, _, _)| mount_point.len())
    else {
        return "an unknown filesystem".into();
    };
    let mut out = format!("{fs_type} at {mount_point} ({options})");
    if fs_type == "ext4" {
        let dev = device.rsplit('/').next().unwrap_or(device);
        if let Ok(task) = std::fs::read_to_string(format!("/sys/fs/ext4/{dev}/journal_task")) {
            if task.trim() == "<none>" {
                out.push_str(", no journal");
            } else {
                out.push_str(", journaled");
            }
        }
    }
    out
}
