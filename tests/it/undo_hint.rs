//! The hint after a change names the tree (and the store, when one was
//! given), so that the command it prints, run as printed from anywhere,
//! undoes that change (issue 28); on generation 1, which rollback cannot
//! undo, it names the purge that does, and `rollback` there explains
//! itself.

use std::path::Path;
use std::process::Output;

use crate::rocks_server::Repo;
use crate::support::{bin, need, text, Sandbox};

/// The command between the backticks of the hint on stderr.
fn hinted(out: &Output) -> String {
    let err = text(&out.stderr);
    let line = err
        .lines()
        .find(|l| l.starts_with("(generation "))
        .unwrap_or_else(|| panic!("no hint: {err}"));
    line.split('`').nth(1).expect("a command").to_owned()
}

/// Runs `command` through the shell, as a user would paste it, from an
/// unrelated directory, with `rockstore` on PATH.
fn run_as_printed(s: &Sandbox, command: &str) -> Output {
    let dir = Path::new(bin()).parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    s.program("sh")
        .env("PATH", path)
        .current_dir(s.dir("elsewhere"))
        .args(["-c", command])
        .output()
        .expect("sh")
}

fn lua_loads(s: &Sandbox, tree: &Path, module: &str) -> bool {
    let code = format!(
        "package.path='{t}/share/lua/5.4/?.lua;{t}/share/lua/5.4/?/init.lua;' require('{module}')",
        t = tree.display()
    );
    s.program("lua5.4")
        .args(["-e", &code])
        .output()
        .expect("lua")
        .status
        .success()
}

#[test]
fn the_undo_hint_names_tree_and_store_and_works_as_printed() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // A path a shell must be told is one word.
    let tree = s.tmp.path().join("my tree");
    let install = |rock: &str| {
        let out = s
            .cmd(["--lua-version", "5.4", "--only-server", &repo.server.base])
            .arg("--tree")
            .arg(&tree)
            .args(["install", rock])
            .output()
            .expect("install");
        assert!(out.status.success(), "{}", text(&out.stderr));
        out
    };

    // Generation 1: rollback cannot undo it; the purge it names does.
    let first = install("purelua");
    let undo = hinted(&first);
    assert!(
        text(&first.stderr).contains("which rollback cannot undo"),
        "{}",
        text(&first.stderr)
    );
    assert!(
        undo.contains(&format!("--store {}", s.store().display())),
        "{undo}"
    );
    assert!(undo.contains("'"), "the tree's path is quoted: {undo}");
    assert!(lua_loads(&s, &tree, "purelua"));

    // `rollback` here explains itself and says how to list generations.
    let out = s
        .cmd(["--lua-version", "5.4", "--tree"])
        .arg(&tree)
        .arg("rollback")
        .output()
        .expect("rollback");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("is at generation 1, and has no generation before it to roll back to")
            && err.contains(&undo)
            && err.contains("generations` lists the tree's generations"),
        "{err}"
    );

    // Generation 2: its hint's rollback, run as printed, undoes it.
    let second = install("dmdep");
    let undo2 = hinted(&second);
    assert!(undo2.ends_with(" rollback"), "{undo2}");
    assert!(lua_loads(&s, &tree, "dmdep"));
    let out = run_as_printed(&s, &undo2);
    assert!(out.status.success(), "{undo2}: {}", text(&out.stderr));
    assert!(!lua_loads(&s, &tree, "dmdep"), "rolled back");
    assert!(lua_loads(&s, &tree, "purelua"));

    // Back at generation 1, the purge printed then empties the tree.
    let out = run_as_printed(&s, &undo);
    assert!(out.status.success(), "{undo}: {}", text(&out.stderr));
    assert!(!lua_loads(&s, &tree, "purelua"), "purged");
}
