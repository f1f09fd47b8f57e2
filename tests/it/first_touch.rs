//! Adoption on first touch (issue 28): a change to a tree Debian's
//! `luarocks` made (Lua 5.1 and 5.4 rocks side by side) adopts it first,
//! in the same command; the explicit policy refuses instead and changes
//! nothing. Checked with the real interpreters and `luarocks list`.

use std::path::Path;
use std::process::Output;

use crate::rocks_server::Repo;
use crate::support::{need, snapshot, text, Sandbox};

struct Lab {
    s: Sandbox,
    repo: Repo,
}

impl Lab {
    fn new() -> Option<Lab> {
        if !need(&["luarocks", "lua5.1", "lua5.4"]) {
            return None;
        }
        let s = Sandbox::new();
        let repo = Repo::new(s.tmp.path());
        Some(Lab { s, repo })
    }

    fn luarocks(&self, v: &str, tree: &Path, args: &[&str]) -> String {
        let out = self
            .s
            .program("luarocks")
            .args(["--lua-version", v, "--only-server", &self.repo.server.base])
            .arg("--tree")
            .arg(tree)
            .args(args)
            .output()
            .expect("luarocks");
        assert!(
            out.status.success(),
            "luarocks {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn ours(&self, v: &str, tree: &Path, args: &[&str]) -> Output {
        self.s
            .cmd(["--lua-version", v, "--only-server", &self.repo.server.base])
            .arg("--tree")
            .arg(tree)
            .args(args)
            .output()
            .expect("rockstore")
    }

    /// A 5.4 rock and a 5.1 rock, installed by LuaRocks; the 5.4 module
    /// edited by hand afterwards.
    fn tree(&self, tree: &Path) -> std::path::PathBuf {
        self.luarocks("5.4", tree, &["install", "purelua", "1.0-1"]);
        self.luarocks("5.1", tree, &["install", "dmdep"]);
        let edited = tree.join("share/lua/5.4/purelua/util.lua");
        let mut code = std::fs::read_to_string(&edited).expect("util");
        code.push_str("-- edited by hand\n");
        std::fs::write(&edited, code).expect("edit");
        edited
    }

    fn lua(&self, v: &str, tree: &Path, code: &str) -> String {
        let t = tree.display();
        let code = format!(
            "package.path='{t}/share/lua/{v}/?.lua;{t}/share/lua/{v}/?/init.lua;'..package.path {code}"
        );
        let out = self
            .s
            .program(format!("lua{v}"))
            .args(["-e", &code])
            .output()
            .expect("lua");
        assert!(out.status.success(), "lua{v}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    }
}

#[test]
fn install_adopts_a_plain_luarocks_tree_of_two_lua_versions_first() {
    let Some(lab) = Lab::new() else { return };
    let tree = lab.s.tmp.path().join("tree");
    let edited = lab.tree(&tree);
    let edited_bytes = std::fs::read(&edited).expect("edited");
    let listed_54 = lab.luarocks("5.4", &tree, &["list", "--porcelain"]);
    let listed_51 = lab.luarocks("5.1", &tree, &["list", "--porcelain"]);

    let out = lab.ours("5.4", &tree, &["install", "dmdep"]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    let line = format!(
        "Adopted {} first: 2 rock(s) LuaRocks installed (Lua 5.4: 1, Lua 5.1: 1) are generation 1;",
        tree.display()
    );
    assert!(stdout.contains(&line), "{stdout}");
    assert!(
        stderr.contains("warning: share/lua/5.4/purelua/util.lua (of purelua 1.0-1) was changed"),
        "{stderr}"
    );
    assert!(stdout.contains("dmdep 1.0-1 is now installed"), "{stdout}");

    // Generation 1 is the adoption, 2 the install.
    let generations = text(&lab.ours("5.4", &tree, &["generations"]).stdout);
    assert!(
        generations.contains("adopt 2 rock(s)") && generations.contains("install dmdep"),
        "{generations}"
    );
    // The edited file is taken as it is (now a link into the store).
    assert_eq!(std::fs::read(&edited).expect("edited"), edited_bytes);
    assert!(std::fs::symlink_metadata(&edited)
        .expect("edited")
        .file_type()
        .is_symlink());
    // Both interpreters load their rocks; LuaRocks still lists them.
    assert_eq!(
        lab.lua(
            "5.4",
            &tree,
            "print(require('purelua.util').greet('x'), require('dmdep'))"
        )
        .split('\t')
        .next(),
        Some("hello, x")
    );
    assert!(!lab.lua("5.1", &tree, "print(require('dmdep'))").is_empty());
    let after_54 = lab.luarocks("5.4", &tree, &["list", "--porcelain"]);
    assert!(after_54.contains("purelua\t1.0-1") && after_54.contains("dmdep\t1.0-1"));
    assert_eq!(after_54.lines().count(), listed_54.lines().count() + 1);
    assert_eq!(
        lab.luarocks("5.1", &tree, &["list", "--porcelain"]),
        listed_51
    );

    // A second change adopts nothing more.
    let out = lab.ours("5.4", &tree, &["remove", "dmdep"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stdout).contains("first"),
        "{}",
        text(&out.stdout)
    );

    // LuaRocks changes the 5.1 side; the next change takes it in first.
    lab.luarocks("5.1", &tree, &["install", "purelua", "1.0-1"]);
    let out = lab.ours("5.4", &tree, &["install", "dmdep"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains(&format!(
            "Took in what LuaRocks changed in {} first (for Lua 5.1, it installed purelua 1.0-1): generation 4.",
            tree.display()
        )),
        "{}",
        text(&out.stdout)
    );
    assert!(lab
        .luarocks("5.1", &tree, &["list", "--porcelain"])
        .contains("purelua\t1.0-1"));
}

#[test]
fn the_explicit_policy_refuses_a_plain_tree_and_changes_nothing() {
    let Some(lab) = Lab::new() else { return };
    let tree = lab.s.tmp.path().join("tree");
    lab.tree(&tree);
    let before = snapshot(&tree);
    let refused = |out: Output, how: &str| {
        assert!(!out.status.success(), "{how}");
        let err = text(&out.stderr);
        assert!(
            err.contains("LuaRocks tree with 2 rock(s) (Lua 5.4: 1, Lua 5.1: 1")
                && err.contains("rockstore adopt"),
            "{how}: {err}"
        );
        assert_eq!(snapshot(&tree), before, "{how}: nothing changed");
        assert!(!lab.s.store().join("store").exists() || lab.s.items().is_empty());
    };
    refused(
        lab.ours("5.4", &tree, &["--no-adopt", "install", "dmdep"]),
        "--no-adopt",
    );
    lab.s
        .system_config("5.4", "rockstore_adopt = \"explicit\"\n");
    refused(
        lab.ours("5.4", &tree, &["install", "dmdep"]),
        "rockstore_adopt",
    );
    refused(lab.ours("5.4", &tree, &["remove", "purelua"]), "remove");
    // The dry run under the default policy says it would adopt and
    // changes nothing either.
    lab.s.system_config("5.4", "");
    let out = lab.ours("5.4", &tree, &["install", "--dry-run", "dmdep"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("Would adopt"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(snapshot(&tree), before, "a dry run changes nothing");
}

#[test]
fn a_rock_whose_rock_manifest_is_unreadable_stops_the_command_before_anything_changes() {
    let Some(lab) = Lab::new() else { return };
    let tree = lab.s.tmp.path().join("tree");
    lab.tree(&tree);
    std::fs::write(
        tree.join("lib/luarocks/rocks-5.1/dmdep/1.0-1/rock_manifest"),
        "this is not lua {",
    )
    .expect("break it");
    let before = snapshot(&tree);
    let out = lab.ours("5.4", &tree, &["install", "dmdep"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("cannot be adopted, so nothing was changed") && err.contains("dmdep 1.0-1"),
        "{err}"
    );
    assert_eq!(snapshot(&tree), before);
    assert!(!tree.join(".rockstore").exists());
}
