//! Deps modes (`one`, `all`, `order`, `none`): which trees' rocks satisfy
//! dependencies and where each install lands, against Debian's `luarocks`.

use std::path::PathBuf;

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

use crate::trees::{ok, side_ok};

/// Which (tree, rock) pairs each tree holds after an install.
fn holdings(trees: &[(&str, PathBuf)], luarocks: bool, s: &Sandbox) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (name, root) in trees {
        let listing = if luarocks {
            let o = s
                .program("luarocks")
                .args(["--lua-version", "5.4", "--tree"])
                .arg(root)
                .args(["list", "--porcelain"])
                .output()
                .expect("luarocks list");
            text(&o.stdout)
        } else {
            let o = s
                .cmd(["--lua-version", "5.4", "--tree"])
                .arg(root)
                .args(["list", "--porcelain"])
                .output()
                .expect("list");
            text(&o.stdout)
        };
        for line in listing.lines() {
            let rock = line.split('\t').next().unwrap_or("").to_owned();
            out.push(((*name).to_owned(), rock));
        }
    }
    out.sort();
    out
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn deps_modes_install_what_luarocks_installs() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut planned = std::collections::BTreeMap::new();
    for mode in ["one", "all", "order", "none"] {
        for side in ["ours", "theirs"] {
            let base = s.tmp.path().join(format!("{mode}-{side}"));
            let trees: Vec<(&str, PathBuf)> = ["user", "project", "system"]
                .iter()
                .map(|n| (*n, base.join(n)))
                .collect();
            let config = base.join("config.lua");
            std::fs::create_dir_all(&base).expect("mkdir");
            let entries: Vec<String> = trees
                .iter()
                .map(|(n, r)| format!("{{ name = '{n}', root = '{}' }}", r.display()))
                .collect();
            std::fs::write(
                &config,
                format!("rocks_trees = {{ {} }}\n", entries.join(", ")),
            )
            .expect("config");
            let run = |args: &[&str]| {
                let mut cmd = ours_or_luarocks(&s, side);
                let out = cmd
                    .args(["--only-server", &repo.server.base])
                    .env("LUAROCKS_CONFIG", &config)
                    .args(args)
                    .output()
                    .expect("run");
                assert!(
                    out.status.success(),
                    "{side} {args:?}: {}{}",
                    text(&out.stdout),
                    text(&out.stderr)
                );
            };
            // The dependency is already in `user`, the first tree; the rock
            // goes into `system`, the last: `order` does not look back.
            run(&["--tree", "user", "install", "dmdep"]);
            if side == "ours" {
                let out = ours_or_luarocks(&s, side)
                    .args(["--only-server", &repo.server.base])
                    .env("LUAROCKS_CONFIG", &config)
                    .args(["--tree", "system", "install", "dmtop", "--deps-mode", mode])
                    .args(["--dry-run", "--json"])
                    .output()
                    .expect("dry run");
                assert!(out.status.success(), "{}", text(&out.stderr));
                let plan: serde_json::Value =
                    serde_json::from_slice(&out.stdout).expect("plan json");
                planned.insert(
                    mode,
                    plan["steps"]
                        .as_array()
                        .expect("steps")
                        .iter()
                        .map(|s| s["name"].as_str().unwrap_or("").to_owned())
                        .collect::<Vec<_>>(),
                );
            }
            run(&["--tree", "system", "install", "dmtop", "--deps-mode", mode]);
        }
        let tree_list = |side: &str| -> Vec<(&'static str, PathBuf)> {
            let base = s.tmp.path().join(format!("{mode}-{side}"));
            ["user", "project", "system"]
                .iter()
                .map(|n| (*n, base.join(n)))
                .collect()
        };
        let ours = holdings(&tree_list("ours"), false, &s);
        let theirs = holdings(&tree_list("theirs"), true, &s);
        assert_eq!(ours, theirs, "deps mode {mode}");
        // And what that is: only `one` and `order` need a second dmdep.
        let in_system: Vec<&str> = ours
            .iter()
            .filter(|(t, _)| t == "system")
            .map(|(_, r)| r.as_str())
            .collect();
        let expected: &[&str] = match mode {
            "one" | "order" => &["dmdep", "dmtop"],
            _ => &["dmtop"],
        };
        assert_eq!(in_system, expected, "deps mode {mode}");
        // The dry run planned exactly that (dmdep planned only where it
        // was then installed, dependencies first).
        assert_eq!(planned[mode], expected, "deps mode {mode}: dry-run plan");
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn list_without_tree_covers_every_configured_tree_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let home_tree = s.tmp.path().join("home/.luarocks");
    let plain = s.tmp.path().join("plain");
    let etc = s.tmp.path().join("etc-luarocks");
    std::fs::create_dir_all(&etc).expect("etc");
    std::fs::write(
        etc.join("config-5.4.lua"),
        format!(
            "rocks_trees = {{\n   home..[[/.luarocks]],\n   [[{}]]\n}}\n",
            plain.display()
        ),
    )
    .expect("config");
    // A profile tree of ours, and a plain tree Debian's luarocks made.
    ok(&s, &repo, &home_tree, &["install", "purelua", "1.0"]);
    side_ok(&s, &repo, "theirs", &plain, &["install", "upg", "2.0"]);
    for flags in [&["--porcelain"][..], &[][..]] {
        let mut outputs = Vec::new();
        for side in ["ours", "theirs"] {
            let out = ours_or_luarocks(&s, side)
                .arg("list")
                .args(flags)
                .output()
                .expect("list");
            assert!(out.status.success(), "{side}: {}", text(&out.stderr));
            outputs.push(text(&out.stdout));
        }
        assert_eq!(outputs[0], outputs[1], "list {flags:?}");
        assert!(outputs[0].contains("purelua") && outputs[0].contains("upg"));
    }
}
