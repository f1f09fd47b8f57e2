//! Adopting trees Debian's `luarocks` made (Lua 5.1 and 5.4), LuaRocks on
//! the same tree afterwards, crashes at every step, and `release` back.
//! Every tree here is built by the real `luarocks` from the fixture rocks
//! over the loopback server; modules are loaded by the real interpreters.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use crate::rocks_server::Repo;
use crate::support::{need, snapshot, stopped_at_failpoint, text, Sandbox};

/// A sandbox, the fixture server and a Lua version.
struct Lab {
    s: Sandbox,
    repo: Repo,
    v: &'static str,
}

impl Lab {
    fn new(v: &'static str) -> Option<Lab> {
        if !need(&["luarocks", &format!("lua{v}")]) {
            return None;
        }
        let s = Sandbox::new();
        let repo = Repo::new(s.tmp.path());
        Some(Lab { s, repo, v })
    }

    fn luarocks(&self, tree: &Path, args: &[&str]) -> Output {
        self.luarocks_for(self.v, tree, args)
    }

    fn luarocks_for(&self, v: &str, tree: &Path, args: &[&str]) -> Output {
        self.s
            .program("luarocks")
            .args(["--lua-version", v, "--only-server", &self.repo.server.base])
            .arg("--tree")
            .arg(tree)
            .args(args)
            .output()
            .expect("luarocks")
    }

    fn luarocks_ok(&self, tree: &Path, args: &[&str]) -> String {
        let out = self.luarocks(tree, args);
        assert!(
            out.status.success(),
            "luarocks {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn ours_cmd(&self, tree: &Path, args: &[&str]) -> Command {
        self.ours_cmd_for(self.v, tree, args)
    }

    fn ours_cmd_for(&self, v: &str, tree: &Path, args: &[&str]) -> Command {
        let mut cmd = self
            .s
            .cmd(["--lua-version", v, "--only-server", &self.repo.server.base]);
        cmd.arg("--tree").arg(tree).args(args);
        cmd
    }

    fn ours(&self, tree: &Path, args: &[&str]) -> Output {
        self.ours_cmd(tree, args).output().expect("rockstore")
    }

    fn ours_ok(&self, tree: &Path, args: &[&str]) -> String {
        let out = self.ours(tree, args);
        assert!(
            out.status.success(),
            "rockstore {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// The tree every test starts from, as `luarocks` makes it: a pure-Lua
    /// rock with a `bin/` script in two versions side by side (`--keep`),
    /// a C rock, a rock installed with `--deps-mode none` (its dependency
    /// missing), and files no rock owns.
    fn luarocks_tree(&self, root: &Path) {
        self.luarocks_ok(root, &["install", "purelua", "1.0-1"]);
        self.luarocks_ok(root, &["install", "--keep", "purelua", "2.0-1"]);
        self.luarocks_ok(root, &["install", "cmulti"]);
        self.luarocks_ok(root, &["install", "--deps-mode", "none", "dmtop"]);
        let lua_dir = root.join(format!("share/lua/{}", self.v));
        std::fs::write(lua_dir.join("handmade.lua"), "return 'by hand'\n").expect("handmade");
        std::fs::write(root.join("bin/other-tool"), "#!/bin/sh\necho other\n").expect("tool");
    }

    fn listing(&self, tree: &Path) -> String {
        self.luarocks_ok(tree, &["list", "--porcelain"])
    }

    /// What the interpreter gets from each module, and the `bin/` script's
    /// output: the same before and after is the point of adoption.
    fn behaviour(&self, tree: &Path) -> String {
        let v = self.v;
        let t = tree.display();
        let code = format!(
            "package.path='{t}/share/lua/{v}/?.lua;{t}/share/lua/{v}/?/init.lua;'..package.path \
             package.cpath='{t}/lib/lua/{v}/?.so;'..package.cpath \
             print(require('purelua').version, require('purelua.util').greet('x'), \
             require('cmulti').answer(), require('handmade'), select(2, pcall(require, 'dmtop')) ~= nil)"
        );
        let out = self
            .s
            .program(format!("lua{v}"))
            .args(["-e", &code])
            .output()
            .expect("lua");
        assert!(out.status.success(), "lua{v}: {}", text(&out.stderr));
        let hello = self
            .s
            .program(tree.join("bin/purelua-hello"))
            .output()
            .expect("purelua-hello");
        format!("{}{}", text(&out.stdout), text(&hello.stdout))
    }
}

/// Every file under `tree` (through links, outside `.rockstore/` and the
/// regenerated `bin/` wrappers) with the hash of its bytes.
fn contents(tree: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![tree.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("dir").flatten() {
            let path = entry.path();
            let rel = path.strip_prefix(tree).expect("under").to_path_buf();
            if rel.starts_with(".rockstore") {
                continue;
            }
            if path.is_dir() {
                stack.push(path);
            } else if !(rel.starts_with("bin") && is_wrapper(&path)) {
                let bytes = std::fs::read(&path).expect("read");
                out.insert(
                    rel.display().to_string(),
                    blake3::hash(&bytes).to_hex().to_string(),
                );
            }
        }
    }
    out
}

fn is_wrapper(path: &Path) -> bool {
    std::fs::read(path).is_ok_and(|b| text(&b).contains("luarocks.loader"))
}

/// Files under `tree` that are links (outside `.rockstore/`).
fn links_in(tree: &Path) -> Vec<String> {
    snapshot(tree)
        .into_iter()
        .filter(|l| l.contains(" -> ") && !l.starts_with(".rockstore"))
        .collect()
}

fn adopt_then_use(v: &'static str) {
    let Some(lab) = Lab::new(v) else { return };
    let tree = lab.s.tmp.path().join("tree");
    lab.luarocks_tree(&tree);
    let listed = lab.listing(&tree);
    assert_eq!(listed.lines().count(), 4, "{listed}");
    let behaviour = lab.behaviour(&tree);
    assert!(
        behaviour.contains("2.0\thello, x\t42\tby hand\ttrue"),
        "{behaviour}"
    );
    let bytes = contents(&tree);
    let before = snapshot(&tree);
    let which = lab.luarocks(&tree, &["which", "purelua"]);
    let which_before = (which.status.code(), text(&which.stdout));

    // Under the explicit policy, rockstore says what to do.
    let out = lab.ours(&tree, &["--no-adopt", "install", "dmdep"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("LuaRocks tree with 4 rock(s)") && err.contains("rockstore adopt"),
        "{err}"
    );
    // rockstore lists a plain tree as LuaRocks does.
    assert_eq!(lab.ours_ok(&tree, &["list", "--porcelain"]), listed);

    // The dry run names every rock and every file no rock owns.
    let dry = lab.ours_ok(&tree, &["adopt", "--dry-run"]);
    for rock in [
        "purelua 1.0-1",
        "purelua 2.0-1",
        "cmulti 1.0-1",
        "dmtop 1.0-1",
    ] {
        assert!(dry.contains(rock), "{dry}");
    }
    assert!(
        dry.contains(&format!("share/lua/{v}/handmade.lua")),
        "{dry}"
    );
    assert!(dry.contains("bin/other-tool"), "{dry}");
    assert!(dry.contains("Every file matches"), "{dry}");
    assert_eq!(snapshot(&tree), before, "a dry run changes nothing");

    let said = lab.ours_ok(&tree, &["adopt"]);
    assert!(said.contains("Adopted 4 rock(s)"), "{said}");
    assert!(said.contains("(generation 1, Lua"), "{said}");

    // The same rocks for both tools, the same bytes, the same behaviour.
    assert_eq!(lab.ours_ok(&tree, &["list", "--porcelain"]), listed);
    assert_eq!(lab.listing(&tree), listed, "luarocks list agrees");
    let shown = lab.luarocks_ok(&tree, &["show", "purelua"]);
    assert!(shown.contains("purelua 2.0-1"), "{shown}");
    let which = lab.luarocks(&tree, &["which", "purelua"]);
    assert_eq!(
        (which.status.code(), text(&which.stdout)),
        which_before,
        "luarocks which answers as before"
    );
    assert_eq!(contents(&tree), bytes, "every file shows the same bytes");
    assert_eq!(lab.behaviour(&tree), behaviour);
    // What no rock owns is untouched: the same file, not a link.
    let handmade = tree.join(format!("share/lua/{v}/handmade.lua"));
    assert!(std::fs::symlink_metadata(&handmade)
        .expect("handmade")
        .is_file());
    assert!(std::fs::symlink_metadata(tree.join("bin/other-tool"))
        .expect("tool")
        .is_file());
    // What the rocks own is now the store's.
    for owned in [
        format!("share/lua/{v}/purelua/init.lua"),
        format!("share/lua/{v}/purelua_1_0_1-purelua/init.lua"),
        format!("lib/lua/{v}/cmulti.so"),
        format!("lib/luarocks/rocks-{v}/dmtop/1.0-1"),
        "bin/purelua-hello".to_owned(),
    ] {
        let meta = std::fs::symlink_metadata(tree.join(&owned)).expect(&owned);
        assert!(meta.file_type().is_symlink(), "{owned} is a link now");
    }
    let generations = lab.ours_ok(&tree, &["generations"]);
    assert!(generations.contains('1'), "{generations}");

    // rockstore manages the tree now.
    lab.ours_ok(&tree, &["remove", "dmtop"]);
    assert!(!lab.listing(&tree).contains("dmtop"));
    assert!(!tree.join(format!("share/lua/{v}/dmtop.lua")).exists());
    lab.ours_ok(&tree, &["rollback"]);
    assert_eq!(lab.listing(&tree), listed);
    assert_eq!(lab.behaviour(&tree), behaviour);
    assert_eq!(contents(&tree), bytes);
    let out = lab.s.run(["verify", "--contents"]);
    assert!(out.status.success(), "{}", text(&out.stdout));

    // Released, it is LuaRocks' again: real files, and luarocks changes it.
    let said = lab.ours_ok(&tree, &["release"]);
    assert!(said.contains("Released"), "{said}");
    assert!(links_in(&tree).is_empty(), "{:?}", links_in(&tree));
    assert!(!tree.join(".rockstore").exists());
    assert_eq!(lab.listing(&tree), listed);
    assert_eq!(lab.behaviour(&tree), behaviour);
    assert_eq!(contents(&tree), bytes);
    lab.luarocks_ok(&tree, &["remove", "cmulti"]);
    lab.luarocks_ok(&tree, &["install", "dmdep"]);
    let after = lab.listing(&tree);
    assert!(
        after.contains("dmdep\t1.0-1") && !after.contains("cmulti"),
        "{after}"
    );
    assert!(!tree.join(format!("lib/lua/{v}/cmulti.so")).exists());
}

#[test]
fn a_lua_5_4_luarocks_tree_is_adopted_managed_and_released() {
    adopt_then_use("5.4");
}

#[test]
fn a_lua_5_1_luarocks_tree_is_adopted_managed_and_released() {
    adopt_then_use("5.1");
}

#[test]
fn a_file_edited_after_luarocks_installed_it_is_reported_and_kept_only_with_force() {
    let Some(lab) = Lab::new("5.4") else { return };
    let tree = lab.s.tmp.path().join("tree");
    lab.luarocks_ok(&tree, &["install", "purelua", "1.0-1"]);
    let util = tree.join("share/lua/5.4/purelua/util.lua");
    let expected = {
        use md5::Digest;
        let digest = md5::Md5::digest(std::fs::read(&util).expect("util"));
        digest
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    std::fs::write(
        &util,
        "return { greet = function(who) return 'edited ' .. who end }\n",
    )
    .expect("edit");
    let before = snapshot(&tree);

    let dry = lab.ours_ok(&tree, &["adopt", "--dry-run"]);
    assert!(dry.contains("purelua/util.lua (of purelua 1.0-1)"), "{dry}");
    let out = lab.ours(&tree, &["adopt"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(err.contains("share/lua/5.4/purelua/util.lua"), "{err}");
    assert!(err.contains("purelua 1.0-1"), "{err}");
    assert!(
        err.contains(&expected),
        "names the md5 LuaRocks recorded: {err}"
    );
    assert!(err.contains("--force"), "{err}");
    assert_eq!(snapshot(&tree), before, "nothing changed");

    let out = lab.ours(&tree, &["adopt", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("warning: adopted as it is"));
    assert!(std::fs::symlink_metadata(&util)
        .expect("util")
        .file_type()
        .is_symlink());
    let got = lab
        .s
        .program("lua5.4")
        .args([
            "-e",
            &format!(
                "package.path='{}/share/lua/5.4/?.lua;'..package.path print(require('purelua.util').greet('x'))",
                tree.display()
            ),
        ])
        .output()
        .expect("lua");
    assert_eq!(text(&got.stdout).trim(), "edited x");
}

/// `sudo luarocks install` by habit, on an adopted tree: LuaRocks writes
/// beside our links, never into the store (this runs as root under CI,
/// where modes stop nothing), and rockstore notices and takes it in.
#[test]
fn luarocks_on_an_adopted_tree_never_writes_into_the_store_and_adopt_takes_its_changes() {
    let Some(lab) = Lab::new("5.4") else { return };
    let tree = lab.s.tmp.path().join("tree");
    lab.luarocks_tree(&tree);
    lab.ours_ok(&tree, &["adopt"]);
    let store_before = snapshot(&lab.s.store().join("store"));

    lab.luarocks_ok(&tree, &["install", "dmdep"]);
    lab.luarocks_ok(&tree, &["remove", "purelua", "1.0-1"]);
    lab.luarocks_ok(&tree, &["install", "--force", "cmulti"]);
    assert_eq!(
        snapshot(&lab.s.store().join("store")),
        store_before,
        "no store item changed"
    );
    let out = lab.s.run(["verify", "--contents"]);
    assert!(out.status.success(), "{}", text(&out.stdout));
    let listed = lab.listing(&tree);
    let behaviour = lab.behaviour(&tree);

    // rockstore notices, and (explicit policy) refuses to change the tree
    // until adopted.
    let out = lab.ours(&tree, &["list"]);
    assert!(
        text(&out.stderr).contains("LuaRocks changed"),
        "{}",
        text(&out.stderr)
    );
    let out = lab.ours(&tree, &["--no-adopt", "remove", "dmtop"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("it installed cmulti 1.0-1, dmdep 1.0-1"),
        "{err}"
    );
    assert!(err.contains("it removed purelua 1.0-1"), "{err}");
    assert!(err.contains("rockstore adopt"), "{err}");

    let said = lab.ours_ok(&tree, &["adopt"]);
    assert!(said.contains("Adopted 2 rock(s)"), "{said}");
    assert!(said.contains("(generation 2, Lua"), "{said}");
    assert_eq!(lab.ours_ok(&tree, &["list", "--porcelain"]), listed);
    assert_eq!(lab.listing(&tree), listed);
    assert_eq!(lab.behaviour(&tree), behaviour);
    assert!(
        std::fs::symlink_metadata(tree.join("share/lua/5.4/dmdep.lua"))
            .expect("dmdep")
            .file_type()
            .is_symlink()
    );
    lab.ours_ok(&tree, &["remove", "dmtop"]);
    assert!(!lab.listing(&tree).contains("dmtop"));
}

/// SIGKILL at each step of `adopt` (and of `release`): the tree shows the
/// same bytes and `luarocks list` is unchanged at every point. Killed
/// before its switch, the tree is LuaRocks' (changes are refused, saying
/// to adopt); after, it is adopted, and the next change makes the last
/// replacements. A killed release is refused until run again.
#[test]
fn a_killed_adoption_or_release_leaves_the_tree_whole_and_is_finished_by_the_next_command() {
    let Some(lab) = Lab::new("5.4") else { return };
    let tree = lab.s.tmp.path().join("tree");
    let template = lab.s.tmp.path().join("template");
    lab.luarocks_tree(&tree);
    let listed = lab.listing(&tree);
    let bytes = contents(&tree);
    let behaviour = lab.behaviour(&tree);
    let plain = snapshot(&tree);
    // Wrappers name the tree's path: copies are made back at that path.
    std::fs::rename(&tree, &template).expect("keep a template");
    let fresh = || {
        let _ = std::fs::remove_dir_all(&tree);
        let out = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&tree)
            .output()
            .expect("cp");
        assert!(out.status.success());
    };
    let whole = |when: &str| {
        assert_eq!(lab.listing(&tree), listed, "{when}: luarocks list");
        assert_eq!(contents(&tree), bytes, "{when}: bytes");
        assert_eq!(lab.behaviour(&tree), behaviour, "{when}: behaviour");
    };
    for point in [
        "adopt-item-admitted",
        "adopt-item-admitted@3",
        "adopt-marked",
        "adopt-switched",
        "adopt-took-over",
        "adopt-took-over@6",
    ] {
        fresh();
        let (mut child, _err) = stopped_at_failpoint(lab.ours_cmd(&tree, &["adopt"]), point);
        child.kill().expect("kill");
        child.wait().expect("reap");
        whole(point);
        let switched = tree.join(".rockstore/current").exists();
        if !switched {
            let outside: Vec<String> = snapshot(&tree)
                .into_iter()
                .filter(|l| !l.starts_with(".rockstore"))
                .collect();
            assert_eq!(outside, plain, "{point}: as LuaRocks had it");
        }
        if switched {
            // Adopted: the next change makes the last replacements first.
            lab.ours_ok(&tree, &["install", "binrock"]);
            assert!(!tree.join(".rockstore/adopting").exists(), "{point}");
            lab.ours_ok(&tree, &["remove", "binrock"]);
        } else {
            let out = lab.ours(&tree, &["--no-adopt", "install", "dmdep"]);
            assert!(!out.status.success(), "{point}: a change is refused");
            let err = text(&out.stderr);
            assert!(err.contains("rockstore adopt"), "{point}: {err}");
            lab.ours_ok(&tree, &["adopt"]);
        }
        whole(&format!("{point}, then finished"));
        assert_eq!(lab.ours_ok(&tree, &["list", "--porcelain"]), listed);
        assert!(!tree.join(".rockstore/adopting").exists());
        for rock_dir in [
            "cmulti/1.0-1",
            "purelua/1.0-1",
            "purelua/2.0-1",
            "dmtop/1.0-1",
        ] {
            let meta =
                std::fs::symlink_metadata(tree.join("lib/luarocks/rocks-5.4").join(rock_dir))
                    .expect("rock dir");
            assert!(meta.file_type().is_symlink(), "{point}: {rock_dir} is ours");
        }
    }
    for point in ["release-replaced", "release-replaced@7", "release-unlinked"] {
        fresh();
        lab.ours_ok(&tree, &["adopt"]);
        let (mut child, _err) = stopped_at_failpoint(lab.ours_cmd(&tree, &["release"]), point);
        child.kill().expect("kill");
        child.wait().expect("reap");
        whole(point);
        let out = lab.ours(&tree, &["install", "dmdep"]);
        assert!(!out.status.success(), "{point}: a change is refused");
        let err = text(&out.stderr);
        assert!(err.contains("run `rockstore release"), "{point}: {err}");
        lab.ours_ok(&tree, &["release"]);
        whole(&format!("{point}, released again"));
        assert!(links_in(&tree).is_empty(), "{point}: {:?}", links_in(&tree));
        assert!(!tree.join(".rockstore").exists());
    }
}

/// A prefix with rocks for two Lua versions (`/usr/local` on a Debian box
/// with both): one adoption takes both into one generation, and each
/// version is then managed on its own, the other's rocks carried along.
#[test]
fn a_tree_with_two_lua_versions_is_adopted_whole_and_each_version_managed() {
    let Some(lab) = Lab::new("5.4") else { return };
    if !need(&["lua5.1"]) {
        return;
    }
    let tree = lab.s.tmp.path().join("prefix");
    lab.luarocks_ok(&tree, &["install", "purelua", "1.0-1"]);
    let out = lab.luarocks_for("5.1", &tree, &["install", "cmulti"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listing_51 = || {
        let out = lab.luarocks_for("5.1", &tree, &["list", "--porcelain"]);
        text(&out.stdout)
    };
    let theirs_51 = listing_51();
    let theirs_54 = lab.listing(&tree);
    let bytes = contents(&tree);

    let said = lab.ours_ok(&tree, &["adopt"]);
    assert!(said.contains("Adopted 2 rock(s)"), "{said}");
    assert!(said.contains("Lua 5.4, 5.1"), "{said}");
    assert_eq!(listing_51(), theirs_51);
    assert_eq!(lab.listing(&tree), theirs_54);
    assert_eq!(contents(&tree), bytes);
    for link in ["lib/lua/5.1/cmulti.so", "share/lua/5.4/purelua/init.lua"] {
        assert!(std::fs::symlink_metadata(tree.join(link))
            .expect(link)
            .file_type()
            .is_symlink());
    }
    let ours_51 = |args: &[&str]| {
        let out = lab
            .ours_cmd_for("5.1", &tree, args)
            .output()
            .expect("rockstore");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(ours_51(&["list", "--porcelain"]), theirs_51);
    // Each version changes on its own; the other's rocks stay.
    ours_51(&["install", "dmdep"]);
    assert!(listing_51().contains("dmdep\t1.0-1"));
    assert_eq!(lab.listing(&tree), theirs_54);
    lab.ours_ok(&tree, &["remove", "purelua"]);
    assert!(lab.listing(&tree).is_empty());
    assert!(listing_51().contains("cmulti\t1.0-1"));
    let answer = lab
        .s
        .program("lua5.1")
        .args([
            "-e",
            &format!(
                "package.cpath='{}/lib/lua/5.1/?.so;'..package.cpath print(require('cmulti').answer())",
                tree.display()
            ),
        ])
        .output()
        .expect("lua5.1");
    assert_eq!(text(&answer.stdout).trim(), "42");
    // Rolling back is the whole tree's.
    lab.ours_ok(&tree, &["rollback"]);
    assert_eq!(lab.listing(&tree), theirs_54);
    lab.ours_ok(&tree, &["release"]);
    assert!(links_in(&tree).is_empty());
    assert!(listing_51().contains("dmdep\t1.0-1"));
    assert_eq!(lab.listing(&tree), theirs_54);
}

/// Issue 24, item 9: `rock_manifest` entries that name no file of the rock
/// directory (`..`, an absolute path, a name with `/`) were skipped while
/// the dry run said every file matched, and `--force` said an unlisted
/// link it dropped was "adopted as it is". Now each is a problem that
/// stops the adoption, and `--force` says what it does with each.
#[test]
fn rock_manifest_entries_adopt_will_not_read_are_reported() {
    let Some(lab) = Lab::new("5.4") else { return };
    let tree = lab.s.tmp.path().join("tree");
    lab.luarocks_ok(&tree, &["install", "purelua", "1.0-1"]);
    let rock_dir = tree.join("lib/luarocks/rocks-5.4/purelua/1.0-1");
    let manifest = rock_dir.join("rock_manifest");
    let text_before = std::fs::read_to_string(&manifest).expect("rock_manifest");
    let edited = text_before.replacen(
        "rock_manifest = {",
        "rock_manifest = {\n   [\"..\"] = { passwd = \"00\" },\n   [\"/etc/passwd\"] = \"00\",\n   [\"a/b\"] = \"00\",\n   odd = 5,",
        1,
    );
    assert_ne!(edited, text_before, "{text_before}");
    std::fs::write(&manifest, edited).expect("edit");
    std::os::unix::fs::symlink("/etc/hostname", rock_dir.join("extra-link")).expect("link");
    let before = snapshot(&tree);

    let dry = lab.ours_ok(&tree, &["adopt", "--dry-run"]);
    assert!(!dry.contains("Every file matches"), "{dry}");
    for entry in ["\"..\"", "\"/etc/passwd\"", "\"a/b\"", "\"odd\""] {
        assert!(dry.contains(entry), "{entry}: {dry}");
    }
    assert!(dry.contains("extra-link"), "{dry}");
    let out = lab.ours(&tree, &["adopt"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("leads out of its directory"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(snapshot(&tree), before, "nothing changed");

    let out = lab.ours(&tree, &["adopt", "--force"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let err = text(&out.stderr);
    assert!(
        err.contains("warning: left out of the adopted rock (--force): purelua 1.0-1's rock_manifest lists \"/etc/passwd\", which is an absolute path"),
        "{err}"
    );
    assert!(
        err.contains("warning: dropped: the adopted rock directory will not hold it (--force): ")
            && err.contains("extra-link"),
        "{err}"
    );
    assert!(!err.contains("adopted as it is"), "{err}");
    assert!(lab.listing(&tree).starts_with("purelua\t1.0-1\t"));
}
