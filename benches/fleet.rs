//! A fleet from one binary cache, measured in one run on one machine with
//! the fleet harness (`integration/fleet/fleet.sh`: network namespaces, a
//! bridge, nginx with WebDAV as the cache, a counting `CC` per host):
//!
//! 1. Debian's luarocks builds the 20-rock closure (5 C rocks, 18 C files;
//!    `common::closure`'s `ctop`) into a fresh tree: one host, cold.
//! 2. `FLEET_BENCH_HOSTS` hosts (default 50): host 1 builds and pushes
//!    (and writes the plan document), then all the others install at once
//!    from the cache. Aim: all succeed, 0 compiler runs on every host but
//!    the first; reported: the whole fleet's wall time and each host's.
//! 3. Latency: 2 hosts, seeded the same way, with 0 and with 50 ms more
//!    each way in front of the cache (and of both cache and rocks server):
//!    what the added latency costs one install of the depth-4 closure.
//!    Aim: at most 0.5 s more than with no added latency (round trips to
//!    the cache: the plan document, then one parallel round of
//!    realisations, then the blobs).
//!
//! Run (as root): `cargo bench --bench fleet`. The machine this was
//! written on has 2 cores shared with others: 50 hosts at once measure
//! contention more than anything; `FLEET_BENCH_HOSTS=8` for a quick look.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

mod common;

use common::{closure, have, serve, timed};

use std::path::Path;
use std::process::Command;

/// One host's line of the harness's table.
struct Host {
    exit: String,
    compiles: usize,
    seconds: f64,
    lua: String,
}

/// What one harness run printed.
struct Run {
    hosts: Vec<Host>,
    said: String,
}

impl Run {
    fn line(&self, prefix: &str) -> &str {
        self.said
            .lines()
            .find(|l| l.starts_with(prefix))
            .unwrap_or("(missing)")
    }

    /// Mean install time of hosts 2.. (those that substitute).
    fn followers_mean(&self) -> f64 {
        let s: Vec<f64> = self.hosts.iter().skip(1).map(|h| h.seconds).collect();
        s.iter().sum::<f64>() / s.len().max(1) as f64
    }
}

fn fleet(root: &Path, repo: &Path, base: &str, hosts: usize, extra: &[&str]) -> Run {
    let work = root.join(format!("fleet-{hosts}-{}", extra.join("-")));
    let out = Command::new("bash")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("integration/fleet/fleet.sh"))
        .args(["--bin", env!("CARGO_BIN_EXE_rockstore")])
        .args(["--hosts", &hosts.to_string(), "--engine", "nginx"])
        .args(["--scenario", "seeded", "--rock", closure::TWENTY_TOP])
        .arg("--repo")
        .arg(repo)
        .args(["--rewrite-base", base, "--timeout", "900"])
        .args([
            "--check",
            "for _, m in ipairs{'cjson','lfs','lpeg','socket.core','term.core','ctop'} do assert(require(m)) end",
        ])
        .arg("--work")
        .arg(&work)
        .args(extra)
        .output()
        .unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let hosts = said
        .lines()
        .filter(|l| l.starts_with("host") && !l.starts_with("host "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Host {
                exit: f[1].to_owned(),
                compiles: f[2].parse().unwrap_or(usize::MAX),
                seconds: f[3].parse().unwrap_or(f64::NAN),
                lua: f[4].to_owned(),
            }
        })
        .collect();
    let _ = std::fs::remove_dir_all(&work);
    Run { hosts, said }
}

fn main() {
    if !rustix::process::geteuid().is_root() {
        println!("(the fleet bench needs root for its network namespaces; not measured)");
        return;
    }
    if !Path::new("/usr/sbin/nginx").exists() || Command::new("ip").arg("-V").output().is_err() {
        println!("(the fleet bench needs nginx-light and iproute2; not measured)");
        return;
    }
    let n: usize = std::env::var("FLEET_BENCH_HOSTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(50);
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().to_path_buf();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (mut server, base) = serve(&repo);
    let rocks = closure::write_twenty(&root, &repo, &base);

    // 1. LuaRocks, one host, cold.
    let luarocks = have("luarocks").then(|| {
        let dir = root.join("luarocks");
        std::fs::create_dir_all(dir.join("home")).unwrap();
        let config = dir.join("config.lua");
        std::fs::write(&config, "").unwrap();
        let mut cmd = Command::new("luarocks");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", dir.join("home"))
            .env("LUAROCKS_CONFIG", &config)
            .args(["--lua-version", "5.4", "--only-server", &base, "--tree"])
            .arg(dir.join("tree"))
            .args(["install", closure::TWENTY_TOP]);
        timed(cmd).as_secs_f64()
    });
    match luarocks {
        Some(lr) => {
            println!("luarocks, {rocks}-rock closure (5 C rocks), one host, cold: {lr:.2} s")
        }
        None => println!("(luarocks is not installed: its cold build is not measured)"),
    }

    // 2. The fleet.
    let run = fleet(&root, &repo, &base, n, &[]);
    let ok = run
        .hosts
        .iter()
        .filter(|h| h.exit == "0" && h.lua == "ok")
        .count();
    let follower_compiles: usize = run.hosts.iter().skip(1).map(|h| h.compiles).sum();
    let mut times: Vec<f64> = run.hosts.iter().skip(1).map(|h| h.seconds).collect();
    times.sort_by(f64::total_cmp);
    let pick = |q: f64| {
        times
            .get(((times.len() as f64 - 1.0) * q) as usize)
            .copied()
            .unwrap_or(f64::NAN)
    };
    println!(
        "{n} hosts: {ok}/{n} succeeded and load the closure in lua5.4; compiler runs on hosts 2..{n}: {follower_compiles} (aim 0); host 1 (cold, pushing): {} runs, {:.2} s",
        run.hosts.first().map(|h| h.compiles).unwrap_or(0),
        run.hosts.first().map(|h| h.seconds).unwrap_or(f64::NAN)
    );
    println!("  {}", run.line("seeded by host 1"));
    println!("  {}", run.line("fleet:"));
    println!(
        "  per-host install from the cache, {} hosts at once on this machine: min {:.2} s, median {:.2} s, max {:.2} s",
        times.len(),
        pick(0.0),
        pick(0.5),
        pick(1.0)
    );
    if let Some(lr) = luarocks {
        println!(
            "  against luarocks building it on one host: median host {:.0}x faster; the whole fleet after seeding in {:.2} s",
            lr / pick(0.5),
            run.line("seeded by host 1")
                .rsplit("together in ")
                .next()
                .and_then(|r| r.split(' ').next())
                .and_then(|x| x.parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        );
    }
    if ok != n || follower_compiles != 0 {
        println!("{}", run.said);
    }

    // 3. Latency: 2 hosts (one substituting, alone), 0 and 50 ms each
    // way; the faster of two runs of each.
    let follower = |extra: &[&str]| {
        (0..2)
            .map(|_| {
                let r = fleet(&root, &repo, &base, 2, extra);
                if r.hosts.len() != 2 || r.hosts.iter().any(|h| h.exit != "0" || h.lua != "ok") {
                    println!("{}", r.said);
                }
                r.followers_mean()
            })
            .fold(f64::INFINITY, f64::min)
    };
    let t0 = follower(&[]);
    let tc = follower(&["--delay-ms", "50", "--delay-what", "cache"]);
    let ta = follower(&["--delay-ms", "50", "--delay-what", "all"]);
    println!(
        "depth-4 closure from the cache, one install alone (best of 2): {t0:.2} s with no added latency; \
         {tc:.2} s with 50 ms each way to the cache (+{:.2} s, aim <= 0.5 s); \
         {ta:.2} s with 50 ms each way to the cache and the rocks server (+{:.2} s)",
        tc - t0,
        ta - t0
    );
    let _ = server.kill();
    let _ = server.wait();
}
