//! One scenario, two store backends: the same commands of a member
//! (`rs-alice`) run once against a store of her own (the local backend)
//! and once against root's daemon store (the daemon client), and must
//! leave the same tree and print the same words. The install, remove,
//! adopt and gc paths go through one `StoreBackend` chosen when the store
//! is opened, so a difference here is a difference of that choice.

use std::path::Path;

use crate::daemon::{build_users_exist, start};
use crate::shared::World;
use crate::support::text;

/// What the scenario saw, with the world's own directory written `BASE`
/// so two worlds compare.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    installed: String,
    listed_after_install: String,
    loads: String,
    removed: String,
    listed_after_remove: String,
    after_gc: String,
}

/// Runs the scenario as `rs-alice` in `w`; `store` is the `--store` she
/// names (None: the world's daemon store from her config). `collect` runs
/// the store's gc as whoever may (herself for her own store, root for the
/// daemon's).
fn scenario(w: &World, store: Option<&Path>, collect: &dyn Fn()) -> Seen {
    let base = w.base().display().to_string();
    let server = w.repo.server.base.clone();
    let norm = |s: String| items_masked(&s.replace(&base, "BASE").replace(&server, "SERVER"));
    let tree = w.user_tree("rs-alice").display().to_string();
    let store_arg = store.map(|s| s.display().to_string());
    let args = |rest: &[&str]| -> Vec<String> {
        let mut all: Vec<String> = Vec::new();
        if let Some(s) = &store_arg {
            all.extend(["--store".to_owned(), s.clone()]);
        }
        all.extend(rest.iter().map(|s| (*s).to_owned()));
        all
    };
    let run = |rest: &[&str]| -> String {
        let all = args(rest);
        let all: Vec<&str> = all.iter().map(String::as_str).collect();
        norm(w.ok_stdout("rs-alice", &all))
    };
    // A tree LuaRocks made: adopted on first touch by the install.
    let luarocks = w
        .command(
            "rs-alice",
            "022",
            "luarocks",
            &[
                "--lua-version",
                "5.4",
                "--only-server",
                w.repo.server.base.as_str(),
                "--tree",
                &tree,
                "install",
                "purelua",
            ],
        )
        .output()
        .expect("luarocks");
    assert!(luarocks.status.success(), "{}", text(&luarocks.stderr));

    let installed = run(&["--local", "install", "dmtop"]);
    let listed_after_install = run(&["--local", "list", "--porcelain"]);
    let loads = w.lua_ok(
        "rs-alice",
        "print(require('dmtop').dep.dep, require('purelua') ~= nil)",
    );
    let removed = run(&["--local", "remove", "dmtop"]);
    let listed_after_remove = run(&["--local", "list", "--porcelain"]);
    collect();
    let after_gc = w.lua_ok(
        "rs-alice",
        "print(require('dmdep').dep, pcall(require, 'dmtop'))",
    );
    Seen {
        installed,
        listed_after_install,
        loads,
        removed,
        listed_after_remove,
        after_gc: after_gc
            .split_whitespace()
            .take(2)
            .collect::<Vec<_>>()
            .join(" "),
    }
}

/// `s` with every item name's hash written `HASH`: the fixtures' rockspecs
/// name their server, whose port differs between the two worlds.
fn items_masked(s: &str) -> String {
    s.split(' ')
        .map(|word| match word.split_once('-') {
            Some((hash, rest))
                if hash.len() == 32
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
            {
                format!("HASH-{rest}")
            }
            _ => word.to_owned(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn one_scenario_runs_the_same_on_the_local_and_the_daemon_backend() {
    if !crate::shared::ready() || !build_users_exist() {
        return;
    }
    // The local backend: alice's own store in her home.
    let local = World::new();
    let own = local.home("rs-alice").join("own-store");
    let own_arg = own.display().to_string();
    let on_local = scenario(&local, Some(&own), &|| {
        local.ok("rs-alice", &["--store", &own_arg, "gc"]);
    });
    assert!(
        std::fs::read_dir(own.join("store")).is_ok(),
        "the local run used alice's own store"
    );

    // The daemon backend: root's store, served.
    let served = World::new();
    let _daemon = start(&served);
    let on_daemon = scenario(&served, None, &|| {
        served.ok("root", &["gc"]);
    });
    let item = std::fs::canonicalize(served.user_tree("rs-alice").join("share/lua/5.4/dmdep.lua"))
        .expect("dmdep resolves");
    assert!(
        item.starts_with(served.store()),
        "the daemon run used the daemon's store: {}",
        item.display()
    );

    assert_eq!(on_local, on_daemon);
    // And what both saw is what the scenario means.
    assert!(
        on_local.installed.contains("dmtop 1.0-1 is now installed"),
        "{on_local:?}"
    );
    assert!(
        on_local.listed_after_install.contains("dmtop\t1.0-1"),
        "{on_local:?}"
    );
    assert!(
        !on_local.listed_after_remove.contains("dmtop"),
        "{on_local:?}"
    );
    assert!(
        on_local.listed_after_remove.contains("purelua"),
        "{on_local:?}"
    );
    assert_eq!(on_local.loads, "true\ttrue");
    assert_eq!(on_local.after_gc, "true false");
}
