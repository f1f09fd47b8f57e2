//! An error is never read as "nothing there" (issue 23, item 5): each
//! place where a failed read used to pass for absence, made to fail, must
//! stop the command with an error naming what could not be read, and
//! change nothing.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::daemon::build_users_exist;
use crate::rocks_server::Repo;
use crate::shared::World;
use crate::support::{need, snapshot, text, Sandbox};

fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// `rockstore --store <alice's own store> ARGS` as rs-alice.
fn alice(w: &World, args: &[&str]) -> std::process::Output {
    let store = w.home("rs-alice").join("own-store").display().to_string();
    let mut all = vec!["--store", store.as_str()];
    all.extend_from_slice(args);
    w.rockstore("rs-alice", &all)
}

fn alice_ok(w: &World, args: &[&str]) -> String {
    let out = alice(w, args);
    assert!(
        out.status.success(),
        "alice: {args:?}: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

fn ready() -> bool {
    crate::shared::ready() && build_users_exist()
}

/// GC that cannot list a tree's generations must not sweep what they
/// keep: it stops, or goes by the roots the store recorded for the tree.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn gc_that_cannot_read_a_trees_generations_sweeps_nothing() {
    if !ready() {
        return;
    }
    let w = World::new();
    alice_ok(&w, &["--local", "install", "purelua"]);
    alice_ok(&w, &["--local", "install", "dmdep"]);
    let store = w.home("rs-alice").join("own-store");
    let before = snapshot(&store.join("store"));
    let generations = w.user_tree("rs-alice").join(".rockstore/generations");
    chmod(&generations, 0o300); // she can pass through, not list
    let out = alice(&w, &["gc"]);
    chmod(&generations, 0o755);
    if !out.status.success() {
        let err = text(&out.stderr);
        assert!(err.contains(".rockstore/generations"), "{err}");
    }
    assert_eq!(snapshot(&store.join("store")), before, "nothing was swept");
    // Every generation still has its items: back to the first.
    alice_ok(&w, &["--local", "rollback"]);
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('purelua').version)"),
        "2.0"
    );
}

/// `release` that cannot read the generation it releases stops before it
/// writes anything: no link is left pointing into a store the tree no
/// longer keeps alive.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn release_that_cannot_read_its_generation_changes_nothing() {
    if !ready() {
        return;
    }
    let w = World::new();
    alice_ok(&w, &["--local", "install", "purelua"]);
    let tree = w.user_tree("rs-alice");
    let profile = std::fs::canonicalize(tree.join(".rockstore/current")).expect("profile");
    let share = profile.join("share");
    assert!(share.is_dir(), "{}", profile.display());
    let before = snapshot(&tree);
    chmod(&share, 0o000);
    let out = alice(&w, &["--local", "release"]);
    chmod(&share, 0o555);
    assert!(
        !out.status.success(),
        "release went on: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(err.contains("share/lua/5.4: Permission denied"), "{err}");
    assert_eq!(snapshot(&tree), before, "the tree is as it was");
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('purelua').version)"),
        "2.0"
    );
    // Readable again, the release goes through.
    alice_ok(&w, &["--local", "release"]);
    assert!(!tree.join(".rockstore").exists());
}

/// A profile laid out from an item with a directory that cannot be read
/// is refused: never a generation missing that directory's modules.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_generation_is_never_made_from_an_item_it_cannot_read() {
    if !ready() {
        return;
    }
    let w = World::new();
    alice_ok(&w, &["--local", "install", "purelua"]);
    let item = std::fs::canonicalize(
        w.user_tree("rs-alice")
            .join("share/lua/5.4/purelua/init.lua"),
    )
    .expect("resolves")
    .parent()
    .expect("dir")
    .to_path_buf();
    let generations_before = alice_ok(&w, &["--local", "generations"]);
    chmod(&item, 0o000);
    let out = alice(&w, &["--local", "install", "dmdep"]);
    chmod(&item, 0o555);
    assert!(
        !out.status.success(),
        "install went on: {}",
        text(&out.stdout)
    );
    let err = text(&out.stderr);
    assert!(err.contains("purelua"), "{err}");
    assert_eq!(
        alice_ok(&w, &["--local", "generations"]),
        generations_before,
        "no new generation"
    );
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('purelua').version)"),
        "2.0"
    );
}

/// Under deps mode `all`, a consulted tree whose manifest cannot be read
/// is an error, not a tree with no rocks (which would install a second
/// copy, or plan against a guess).
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_consulted_tree_whose_manifest_cannot_be_read_is_an_error() {
    if !ready() {
        return;
    }
    let w = World::new();
    // The global tree is a LuaRocks tree whose manifest is broken.
    let rocks_dir = w.global().join("lib/luarocks/rocks-5.4");
    std::fs::create_dir_all(&rocks_dir).expect("rocks dir");
    std::fs::write(rocks_dir.join("manifest"), "this is not lua {").expect("write");
    alice_ok(&w, &["--local", "install", "purelua"]);
    let tree_before = snapshot(&w.user_tree("rs-alice"));
    for mode in ["all", "order"] {
        let out = alice(&w, &["--local", "--deps-mode", mode, "install", "dmtop"]);
        assert!(
            !out.status.success(),
            "--deps-mode {mode} went on: {}",
            text(&out.stdout)
        );
        let err = text(&out.stderr);
        assert!(err.contains("rocks-5.4/manifest"), "{mode}: {err}");
        assert_eq!(snapshot(&w.user_tree("rs-alice")), tree_before);
    }
    // Under deps mode one the global tree is not consulted: a warning.
    let out = alice(&w, &["--local", "--deps-mode", "one", "install", "dmtop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert_eq!(err.matches("rocks-5.4/manifest").count(), 1, "{err}");
}

/// A git source whose commit cannot be asked (`git ls-remote` fails) has
/// no recipe key: the build stops, it does not key by the URL alone.
#[test]
fn a_failed_ls_remote_stops_the_build() {
    if !need(&["git", "lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let spec = s.dir("spec").join("gitdev-scm-1.rockspec");
    std::fs::write(
        &spec,
        "package = 'gitdev'\nversion = 'scm-1'\n\
         source = { url = 'git+file:///nonexistent/rockstore-test/repo.git' }\n\
         build = { type = 'builtin', modules = { gitdev = 'gitrock.lua' } }\n",
    )
    .expect("spec");
    let (_, err) = s.fails([
        "--lua-version",
        "5.4",
        "build",
        "--no-install",
        &spec.display().to_string(),
    ]);
    assert!(
        err.contains("which commit") && err.contains("ls-remote"),
        "{err}"
    );
    assert!(s.items().is_empty(), "nothing admitted");
}

/// A `lua.h` that is there but cannot be read (here a FIFO, which used to
/// hang the search) is named; its build is not keyed or compiled with
/// another installation's headers.
#[test]
fn an_unreadable_lua_h_is_named_and_never_waited_on() {
    if !need(&["lua5.4", "gcc", "timeout"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let prefix = s.dir("lua");
    std::fs::create_dir_all(prefix.join("bin")).expect("bin");
    std::fs::create_dir_all(prefix.join("include")).expect("include");
    std::os::unix::fs::symlink("/usr/bin/lua5.4", prefix.join("bin/lua5.4")).expect("link");
    let fifo = prefix.join("include/lua.h");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo");
    assert!(made.success());
    let out = s
        .program("timeout")
        .args(["60", crate::support::bin(), "--store"])
        .arg(s.store())
        .args(["--only-server", &repo.server.base, "--lua-version", "5.4"])
        .arg("--lua-dir")
        .arg(&prefix)
        .args(["build", "--no-install", "cmulti"])
        .output()
        .expect("run");
    assert_ne!(out.status.code(), Some(124), "it waited on the FIFO");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("cannot read {}", fifo.display())),
        "{err}"
    );
}
