//! Store throughput: admission (`store add`: copy + hash + normalise + syncfs +
//! rename + record) and `verify --contents`, on a synthetic tree of 20,000
//! small files and on a few large files, page cache warm. `cp -a` of the same
//! tree is measured in the same run as a baseline.
//!
//! Run: `cargo bench --bench store` (set `ROCKSTORE_BENCH_LARGE_MB` to change
//! the size of each of the 4 large files; default 256).
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

use std::path::Path;
use std::time::{Duration, Instant};

use rockstore::store::db::ItemKind;
use rockstore::store::verify::VerifyOptions;
use rockstore::store::{ItemSpec, Store, StoreOptions};

fn spec(name: &str) -> ItemSpec {
    ItemSpec {
        name: name.into(),
        version: "1".into(),
        kind: ItemKind::Data,
        references: vec![],
        recipe_key: None,
    }
}

fn small_tree(root: &Path) -> (u64, u64) {
    let mut bytes = 0;
    for d in 0..200 {
        let dir = root.join(format!("share/lua/5.4/mod{d}"));
        std::fs::create_dir_all(&dir).unwrap();
        for f in 0..100 {
            let body = format!(
                "-- module {d}.{f}\nreturn {{ id = {f}, pad = \"{}\" }}\n",
                "x".repeat((d * f) % 700)
            );
            bytes += body.len() as u64;
            std::fs::write(dir.join(format!("f{f}.lua")), body).unwrap();
        }
    }
    (20_000, bytes)
}

fn large_tree(root: &Path, mb: usize) -> (u64, u64) {
    std::fs::create_dir_all(root).unwrap();
    let mut block = vec![0u8; 1 << 20];
    for (i, b) in block.iter_mut().enumerate() {
        *b = (i.wrapping_mul(2_654_435_761) >> 13) as u8;
    }
    for n in 0..4 {
        let mut data = Vec::with_capacity(mb << 20);
        for k in 0..mb {
            block[0] = (n * 31 + k) as u8;
            data.extend_from_slice(&block);
        }
        std::fs::write(root.join(format!("blob{n}.bin")), data).unwrap();
    }
    (4, (4 * mb as u64) << 20)
}

fn best_of<F: FnMut() -> Duration>(runs: usize, mut f: F) -> Duration {
    (0..runs).map(|_| f()).min().unwrap()
}

fn report(label: &str, files: u64, bytes: u64, time: Duration, baseline: Option<Duration>) {
    let secs = time.as_secs_f64();
    let ratio = baseline
        .map(|b| format!("  ({:.2}x the time of cp -a)", secs / b.as_secs_f64()))
        .unwrap_or_default();
    println!(
        "{label:<34} {:>9.1} ms  {:>10.0} files/s  {:>7.2} GB/s{ratio}",
        secs * 1e3,
        files as f64 / secs,
        bytes as f64 / secs / 1e9
    );
}

fn bench_tree(label: &str, name: &str, src: &Path, files: u64, bytes: u64, work: &Path) {
    let cp = best_of(3, || {
        let dst = work.join(format!("cp-{name}"));
        let _ = std::process::Command::new("rm")
            .arg("-rf")
            .arg(&dst)
            .status();
        let start = Instant::now();
        let ok = std::process::Command::new("cp")
            .arg("-a")
            .arg(src)
            .arg(&dst)
            .status()
            .unwrap()
            .success();
        assert!(ok);
        start.elapsed()
    });
    report(
        &format!("{label}: cp -a (baseline)"),
        files,
        bytes,
        cp,
        None,
    );

    let mut run = 0;
    let admit = best_of(3, || {
        run += 1;
        let store = Store::open(
            &work.join(format!("store-{name}-{run}")),
            StoreOptions::default(),
        )
        .unwrap();
        let start = Instant::now();
        store.add_path(src, &spec(name)).unwrap();
        start.elapsed()
    });
    report(
        &format!("{label}: admission"),
        files,
        bytes,
        admit,
        Some(cp),
    );

    let store = Store::open(
        &work.join(format!("store-{name}-1")),
        StoreOptions::default(),
    )
    .unwrap();
    let verify = best_of(3, || {
        let start = Instant::now();
        let report = store
            .verify(VerifyOptions {
                contents: true,
                repair: false,
            })
            .unwrap();
        assert!(report.is_clean());
        start.elapsed()
    });
    report(
        &format!("{name}: verify --contents"),
        files,
        bytes,
        verify,
        None,
    );
}

fn main() {
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let large_mb = std::env::var("ROCKSTORE_BENCH_LARGE_MB")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    let work = tempfile::tempdir_in(
        std::env::var_os("CARGO_TARGET_TMPDIR").unwrap_or_else(|| "target".into()),
    )
    .unwrap_or_else(|_| tempfile::tempdir().unwrap());
    println!("store benchmark: {cores} cores, best of 3, page cache warm");

    let small = work.path().join("small");
    let (files, bytes) = small_tree(&small);
    bench_tree(
        "20,000 small files",
        "small",
        &small,
        files,
        bytes,
        work.path(),
    );

    let large = work.path().join("large");
    let (files, bytes) = large_tree(&large, large_mb);
    bench_tree(
        &format!("4 x {large_mb} MiB files"),
        "large",
        &large,
        files,
        bytes,
        work.path(),
    );
}
