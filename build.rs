//! Tells the integration tests which tools this machine has, so a test
//! that needs a missing one is reported as ignored (with what it needs) in
//! `cargo test`'s summary instead of passing silently. Under CI (`CI` set)
//! every tool counts as present: the test then runs and fails loudly.

// A build script reads its own environment (CI, PATH).
#![allow(clippy::disallowed_methods)]

use std::process::Command;

/// The tools tests ask for, and the cfg each sets (`has_<tool>`).
const TOOLS: [&str; 11] = [
    "lua5.1", "lua5.4", "luarocks", "gcc", "git", "make", "cmake", "script", "bash", "bwrap", "gpg",
];

fn answers(program: &str) -> bool {
    // `luarocks --version` loads the machine's config (and fails when that
    // is broken): it is asked with none, as the tests run it.
    let nowhere =
        std::path::PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default()).join("nowhere");
    ["--version", "-v"].iter().any(|flag| {
        Command::new(program)
            .arg(flag)
            .env("LUAROCKS_SYSCONFDIR", nowhere.join("etc"))
            .env("HOME", nowhere.join("home"))
            .output()
            .is_ok_and(|o| o.status.success())
    })
}

/// Whether this build runs as root, and the users `.ci/run` makes exist:
/// the shared-store and daemon tests switch to them.
fn root_with_test_users() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.trim_ascii() == b"0");
    let users = ["rs-alice", "rs-bob", "rockstore-build1"].iter().all(|u| {
        Command::new("id")
            .arg(u)
            .output()
            .is_ok_and(|o| o.status.success())
    });
    root && users
}

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=CI");
    println!("cargo::rerun-if-env-changed=PATH");
    // Installing a package adds its program here.
    println!("cargo::rerun-if-changed=/usr/bin");
    println!("cargo::rerun-if-changed=/etc/passwd");
    let ci = std::env::var_os("CI").is_some();
    println!("cargo::rustc-check-cfg=cfg(root_with_test_users)");
    if ci || root_with_test_users() {
        println!("cargo::rustc-cfg=root_with_test_users");
    }
    for tool in TOOLS {
        let cfg = format!("has_{}", tool.replace('.', "_"));
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        if ci || answers(tool) {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
}
