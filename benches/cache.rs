//! The binary cache, measured in one run on one machine: a 20-rock
//! closure with 5 C rocks (8 C modules, 18 C files; `common::closure`'s
//! eleven rocks shaped like luasocket, lua-cjson, lfs, lpeg, lua-term …
//! plus nine pure-Lua rocks under one top rock), served from a loopback
//! server:
//!
//! 1. built cold into a fresh store (best of 2), and by Debian's luarocks
//!    into a fresh tree (best of 2);
//! 2. pushed once to nginx (Debian's nginx-light, WebDAV PUT, started
//!    here on 127.0.0.1), signed;
//! 3. installed into fresh stores from nginx (best of 5), counting every
//!    compiler run with a wrapper `CC` (aim: 0);
//! 4. `curl` fetching the same blobs from the same nginx, in one process
//!    (aim: our blob bytes per second of the whole install at >= 80 % of
//!    curl's).
//!
//! Aim: the substituted install >= 30x faster than LuaRocks cold.
//!
//! Run: `cargo bench --bench cache`. Needs python3, gcc, lua5.4's
//! headers, nginx-light and curl; luarocks is measured where installed.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

mod common;

use common::{best, closure, have, serve, timed};

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOP: &str = closure::TWENTY_TOP;

fn write_repo(root: &Path, repo: &Path, base: &str) -> usize {
    closure::write_twenty(root, repo, base)
}

/// nginx with WebDAV PUT on an ephemeral loopback port: (process, URL,
/// document root).
fn nginx(dir: &Path) -> (Child, String, PathBuf) {
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let user = if rustix::process::geteuid().is_root() {
        "user root;\n"
    } else {
        ""
    };
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "{user}daemon off;\nworker_processes 2;\npid {b}/nginx.pid;\nerror_log {b}/error.log;\n\
             events {{ worker_connections 256; }}\n\
             http {{\n access_log off;\n client_body_temp_path {b}/body;\n\
             proxy_temp_path {b}/proxy;\n fastcgi_temp_path {b}/fastcgi;\n uwsgi_temp_path {b}/uwsgi;\n scgi_temp_path {b}/scgi;\n\
             sendfile on;\n server {{\n  listen 127.0.0.1:{port};\n  root {r};\n  location / {{\n   dav_methods PUT;\n   create_full_put_path on;\n\
             dav_access user:rw group:r all:r;\n   client_max_body_size 0;\n  }}\n }}\n}}\n",
            b = dir.display(),
            r = root.display()
        ),
    )
    .unwrap();
    let child = Command::new("/usr/sbin/nginx")
        .args(["-e", &dir.join("error.log").display().to_string(), "-c"])
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "nginx did not listen");
        std::thread::sleep(Duration::from_millis(20));
    }
    (child, format!("http://127.0.0.1:{port}"), root)
}

struct Bench {
    root: PathBuf,
    base: String,
    cc: PathBuf,
    n: std::cell::Cell<usize>,
}

impl Bench {
    fn fresh(&self, what: &str) -> PathBuf {
        let n = self.n.get();
        self.n.set(n + 1);
        let dir = self.root.join(format!("{what}-{n}"));
        std::fs::create_dir_all(dir.join("home")).unwrap();
        dir
    }

    fn env(&self, cmd: &mut Command, dir: &Path) {
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.join("home"))
            .env("CC_LOG", dir.join("cc.log"))
            .env("LUAROCKS_SYSCONFDIR", dir.join("etc"));
    }

    fn rockstore(&self, dir: &Path, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rockstore"));
        self.env(&mut cmd, dir);
        cmd.arg("--store")
            .arg(dir.join("store"))
            .args([
                "--lua-version",
                "5.4",
                "--only-server",
                &self.base,
                "--tree",
            ])
            .arg(dir.join("tree"))
            .args(args);
        if args.first() == Some(&"install") {
            cmd.arg(format!("CC={}", self.cc.display()));
        }
        cmd
    }

    fn luarocks(&self, dir: &Path) -> Command {
        let config = dir.join("config.lua");
        std::fs::write(&config, "").unwrap();
        let mut cmd = Command::new("luarocks");
        self.env(&mut cmd, dir);
        cmd.env("LUAROCKS_CONFIG", &config)
            .args([
                "--lua-version",
                "5.4",
                "--only-server",
                &self.base,
                "--tree",
            ])
            .arg(dir.join("tree"))
            .args(["install", TOP]);
        cmd
    }

    fn compiles(&self, dir: &Path) -> usize {
        std::fs::read_to_string(dir.join("cc.log"))
            .map(|t| t.lines().filter(|l| l.contains(" -c ")).count())
            .unwrap_or(0)
    }
}

fn main() {
    if !have("curl") || !Path::new("/usr/sbin/nginx").exists() {
        println!("(the cache bench needs curl and nginx-light; not measured)");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (mut server, base) = serve(&repo);
    let rocks = write_repo(&root, &repo, &base);
    let cc = root.join("count-cc");
    std::fs::write(
        &cc,
        "#!/bin/sh\necho \"$@\" >> \"${CC_LOG:-/dev/null}\"\nexec gcc \"$@\"\n",
    )
    .unwrap();
    std::fs::set_permissions(&cc, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let b = Bench {
        root: root.clone(),
        base,
        cc,
        n: std::cell::Cell::new(0),
    };
    let secs = |d: Duration| d.as_secs_f64();
    let (mut nginx, cache, cache_root) = nginx(&root.join("nginx"));

    // 1. Cold.
    let cold = best((0..2).map(|_| {
        let dir = b.fresh("cold");
        timed(b.rockstore(&dir, &["install", TOP, "-j", "2"]))
    }));
    let cold_compiles = b.compiles(&root.join("cold-0"));
    println!(
        "{rocks}-rock closure (5 C rocks), cold into a fresh store: {:.2} s ({cold_compiles} compiler runs)",
        secs(cold)
    );
    let luarocks = have("luarocks").then(|| {
        best((0..2).map(|_| {
            let dir = b.fresh("lr");
            timed(b.luarocks(&dir))
        }))
    });
    if let Some(lr) = luarocks {
        println!("  luarocks, same closure, cold: {:.2} s", secs(lr));
    }

    // 2. Pushed once.
    let key = root.join("bench-1.secret");
    let out = Command::new(env!("CARGO_BIN_EXE_rockstore"))
        .args(["cache", "keygen", "bench-1", "--out"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let public = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let pushed = timed(b.rockstore(
        &root.join("cold-0"),
        &[
            "copy",
            "--to",
            &cache,
            "--secret-key-file",
            &key.display().to_string(),
        ],
    ));
    let blobs: Vec<PathBuf> = walk(&cache_root.join("blob"));
    let blob_bytes: u64 = blobs
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    println!(
        "pushed to nginx in {:.2} s: {} blobs, {:.1} KiB",
        secs(pushed),
        blobs.len(),
        blob_bytes as f64 / 1024.0
    );

    // 3. From the cache, into fresh stores.
    let mut zero = true;
    let mut download_ms: Vec<f64> = Vec::new();
    let warm = best((0..5).map(|_| {
        let dir = b.fresh("subst");
        let took = timed_download(
            &mut download_ms,
            b.rockstore(
                &dir,
                &[
                    "install",
                    TOP,
                    "--substituter",
                    &cache,
                    "--trusted-public-key",
                    &public,
                    "--cache-only",
                ],
            ),
        );
        zero &= b.compiles(&dir) == 0;
        took
    }));
    println!(
        "the closure from nginx into a fresh store: {:.1} ms; compiler runs: {} (aim 0); {:.1}x faster than cold",
        secs(warm) * 1e3,
        if zero { "0" } else { "SOME" },
        secs(cold) / secs(warm)
    );
    if let Some(lr) = luarocks {
        println!(
            "  against luarocks cold: {:.0}x faster (aim >= 30x)",
            secs(lr) / secs(warm)
        );
    }

    // What of it is not the blobs: resolving, rockspecs, lookups.
    let planning = best((0..5).map(|_| {
        let dir = b.fresh("plan");
        timed(b.rockstore(
            &dir,
            &[
                "install",
                TOP,
                "--dry-run",
                "--substituter",
                &cache,
                "--trusted-public-key",
                &public,
            ],
        ))
    }));
    let fetching = warm.saturating_sub(planning);
    println!(
        "  of which planning and lookups (--dry-run): {:.1} ms; downloading, checking and admitting the blobs and linking: {:.1} ms",
        secs(planning) * 1e3,
        secs(fetching) * 1e3
    );

    // 4. curl, the same blobs, one process, best of 5.
    let urls: Vec<String> = blobs
        .iter()
        .map(|p| format!("{cache}/{}", p.strip_prefix(&cache_root).unwrap().display()))
        .collect();
    let curl = best((0..5).map(|_| {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-f"]);
        for u in &urls {
            cmd.args(["-o", "/dev/null", u]);
        }
        timed(cmd)
    }));
    let download = download_ms.iter().copied().fold(f64::INFINITY, f64::min) / 1e3;
    println!(
        "  the blobs' download alone (eight at a time, as the install says): {:.1} ms",
        download * 1e3
    );
    let ours = blob_bytes as f64 / download;
    let theirs = blob_bytes as f64 / secs(curl);
    println!(
        "blob bytes per second: ours {:.1} MiB/s, curl fetching them alone {:.1} MiB/s ({:.1} ms): {:.0}% of curl (aim >= 80%)",
        ours / (1 << 20) as f64,
        theirs / (1 << 20) as f64,
        secs(curl) * 1e3,
        100.0 * ours / theirs
    );
    if let Some(keep) = std::env::var_os("CACHE_BENCH_KEEP") {
        // For profiling by hand: the servers stay up and the files stay.
        let tmp = tmp.keep();
        std::fs::write(
            keep,
            format!(
                "root={}\nbase={}\ncache={cache}\npublic={public}\ncc={}\n",
                tmp.display(),
                b.base,
                b.cc.display()
            ),
        )
        .unwrap();
        return;
    }
    let _ = nginx.kill();
    let _ = nginx.wait();
    let _ = server.kill();
    let _ = server.wait();
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out.sort();
    out
}

/// [`common::timed_said`], keeping the milliseconds of the install's
/// "downloaded N build(s) (K KiB) from the substituters in M ms" line.
fn timed_download(kept: &mut Vec<f64>, cmd: Command) -> Duration {
    let (elapsed, said) = common::timed_said(cmd);
    if let Some(ms) = said
        .lines()
        .find(|l| l.starts_with("downloaded ") && l.contains("from the substituters in"))
        .and_then(|l| l.rsplit(" in ").next())
        .and_then(|r| r.trim_end_matches(" ms").parse::<f64>().ok())
    {
        kept.push(ms);
    }
    elapsed
}
