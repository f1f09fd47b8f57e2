//! `rockstore adopt` of a tree of 100 rocks that Debian's `luarocks` made,
//! against the time `luarocks` takes to install the same 100 (one command:
//! `adtop` needs the other 99), in the same run, from a loopback server.
//! The rocks are generated pure-Lua fixtures (one module each).
//!
//! Run: `cargo bench --bench adopt`. Needs python3 (the server) and
//! luarocks with lua5.4.
#![allow(clippy::disallowed_methods, clippy::print_stdout, clippy::unwrap_used)]

mod common;

use std::path::Path;
use std::process::Command;

use common::{best, have, serve, timed};

const RUNS: usize = 3;
const ROCKS: usize = 100;

fn write_repo(root: &Path, repo: &Path, base: &str) {
    let names: Vec<String> = (0..ROCKS - 1).map(|i| format!("ad{i:02}")).collect();
    let spec = |name: &str, deps: &str| {
        format!(
            "package = \"{name}\"\nversion = \"1.0-1\"\nsource = {{ url = \"{base}/{name}-1.0.tar.gz\" }}\n\
             dependencies = {{ {deps} }}\nbuild = {{ type = \"builtin\", modules = {{ {name} = \"{name}.lua\" }} }}\n"
        )
    };
    let mut manifest = String::from("commands = {}\nmodules = {}\nrepository = {\n");
    let all: Vec<String> = names.iter().map(|n| format!("{n:?}")).collect();
    for (name, deps) in names
        .iter()
        .map(|n| (n.clone(), "\"lua >= 5.1\"".to_owned()))
        .chain(std::iter::once(("adtop".to_owned(), all.join(", "))))
    {
        let src = root.join("src").join(format!("{name}-1.0"));
        std::fs::create_dir_all(&src).unwrap();
        std::fs::write(
            src.join(format!("{name}.lua")),
            format!("return {name:?}\n"),
        )
        .unwrap();
        std::fs::write(
            repo.join(format!("{name}-1.0.tar.gz")),
            common::tarball(&src, &format!("{name}-1.0")),
        )
        .unwrap();
        std::fs::write(
            repo.join(format!("{name}-1.0-1.rockspec")),
            spec(&name, &deps),
        )
        .unwrap();
        manifest.push_str(&format!(
            "  {name} = {{ ['1.0-1'] = {{ {{ arch = 'rockspec' }} }} }},\n"
        ));
    }
    manifest.push_str("}\n");
    std::fs::write(repo.join("manifest-5.4"), manifest).unwrap();
}

fn env(cmd: &mut Command, dir: &Path) {
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("LUAROCKS_SYSCONFDIR", dir.join("etc"));
}

fn main() {
    if !have("luarocks") || !have("python3") {
        println!("adopt: needs luarocks and python3; not measured");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let repo = root.join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let (mut server, base) = serve(&repo);
    write_repo(root, &repo, &base);
    let luarocks = |tree: &Path| {
        let mut cmd = Command::new("luarocks");
        env(&mut cmd, root);
        cmd.args(["--lua-version", "5.4", "--only-server", &base, "--tree"])
            .arg(tree)
            .args(["install", "adtop"]);
        cmd
    };
    let install = best((0..RUNS).map(|n| timed(luarocks(&root.join(format!("lr-{n}"))))));
    // Each run adopts its own copy of the tree into a fresh store.
    let adopt = best((0..RUNS).map(|n| {
        let tree = root.join(format!("adopted-{n}"));
        let out = Command::new("cp")
            .arg("-a")
            .arg(root.join("lr-0"))
            .arg(&tree)
            .output()
            .unwrap();
        assert!(out.status.success());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_rockstore"));
        env(&mut cmd, root);
        cmd.arg("--store")
            .arg(root.join(format!("store-{n}")))
            .args(["--lua-version", "5.4", "adopt"])
            .arg(&tree);
        timed(cmd)
    }));
    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        "adopt of a {ROCKS}-rock tree luarocks made: {:.3} s ({:.2} ms per rock); luarocks installing the same {ROCKS}: {:.2} s (same run); adopting is {:.0}x faster",
        secs(adopt),
        secs(adopt) * 1000.0 / ROCKS as f64,
        secs(install),
        secs(install) / secs(adopt)
    );
    let _ = server.kill();
    let _ = server.wait();
}
