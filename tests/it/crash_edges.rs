//! The edges where a kill or a full disk used to leave a tree no command
//! repaired (issue 24): a kill right after the switch, a full tree during
//! one, a killed adoption between a rock directory's exchange and the
//! deletion of LuaRocks' copy, a killed release, and what GC sweeps. After
//! each, the next command leaves every reader agreeing (`consistency`).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::consistency;
use crate::rocks_server::Repo;
use crate::support::{need, skip_or_fail, stopped_at_failpoint, text, Sandbox};

/// A sandbox with the fixture server; commands for Lua 5.4.
struct Lab {
    s: Sandbox,
    repo: Repo,
}

impl Lab {
    fn new(tools: &[&str]) -> Option<Lab> {
        if !need(tools) {
            return None;
        }
        let s = Sandbox::new();
        let repo = Repo::new(s.tmp.path());
        Some(Lab { s, repo })
    }

    fn cmd(&self, tree: &Path, args: &[&str]) -> Command {
        let mut cmd = self.s.cmd([
            "--lua-version",
            "5.4",
            "--only-server",
            &self.repo.server.base,
        ]);
        cmd.arg("--tree").arg(tree).args(args);
        cmd
    }

    fn run(&self, tree: &Path, args: &[&str]) -> Output {
        self.cmd(tree, args).output().expect("rockstore")
    }

    fn ok(&self, tree: &Path, args: &[&str]) -> String {
        let out = self.run(tree, args);
        assert!(
            out.status.success(),
            "rockstore {args:?}: {}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    fn luarocks_ok(&self, tree: &Path, args: &[&str]) {
        let out = self
            .s
            .program("luarocks")
            .args([
                "--lua-version",
                "5.4",
                "--only-server",
                &self.repo.server.base,
            ])
            .arg("--tree")
            .arg(tree)
            .args(args)
            .output()
            .expect("luarocks");
        assert!(
            out.status.success(),
            "luarocks {args:?}: {}",
            text(&out.stderr)
        );
    }

    /// Starts `args`, stopped at `point`, and SIGKILLs it there.
    fn kill_at(&self, tree: &Path, args: &[&str], point: &str) {
        let (mut child, _err) = stopped_at_failpoint(self.cmd(tree, args), point);
        child.kill().expect("SIGKILL");
        child.wait().expect("reap");
    }

    /// The tree's rocks when every reader agrees; panics with what
    /// disagrees otherwise.
    fn agreed(&self, tree: &Path, when: &str) -> Vec<String> {
        match consistency::check(&self.s, tree) {
            Ok(rocks) => rocks,
            Err(why) => panic!("{when}: {why}"),
        }
    }

    /// A tree as Debian's LuaRocks makes it: a pure-Lua rock in two
    /// versions side by side (one with a `bin/` script) and a C rock.
    fn luarocks_tree(&self, root: &Path) {
        self.luarocks_ok(root, &["install", "purelua", "1.0-1"]);
        self.luarocks_ok(root, &["install", "--keep", "purelua", "2.0-1"]);
        self.luarocks_ok(root, &["install", "cmulti"]);
    }
}

fn rocks(list: &[&str]) -> Vec<String> {
    list.iter().map(|r| (*r).to_owned()).collect()
}

/// Issue 24, item 1: `remove` or `rollback` killed right after `current`
/// was renamed left the manifest describing the old generation (LuaRocks
/// listed the removed rock, whose modules no longer loaded) and a rerun
/// said "not installed" and repaired nothing. Now the next command — the
/// rerun, or only `list` — finishes the switch. Killed before the rename,
/// the switch is undone; after the pruning, only the marker was left.
#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn a_switch_killed_at_any_step_is_finished_by_the_next_command() {
    let Some(lab) = Lab::new(&["lua5.4", "luarocks"]) else {
        return;
    };
    let t = lab.s.tmp.path().join("t");
    lab.ok(&t, &["install", "purelua"]);
    lab.ok(&t, &["install", "upg", "1.0"]);
    let both = rocks(&["purelua 2.0-1", "upg 1.0-1"]);
    let one = rocks(&["purelua 2.0-1"]);
    assert_eq!(lab.agreed(&t, "installed"), both);
    for point in ["switch-staged", "switch-renamed", "switch-pruned"] {
        // remove, killed; then run again.
        lab.kill_at(&t, &["remove", "upg"], point);
        if point == "switch-renamed" {
            // What the audit found: current lacks upg, the manifest has it.
            let manifest = consistency::manifest_rocks(&lab.s, &t).expect("manifest");
            assert_eq!(manifest.rocks, both, "{point}: the manifest is stale");
            assert!(t.join(".rockstore/switching").exists(), "{point}");
        }
        let again = lab.run(&t, &["remove", "upg"]);
        let after = lab.agreed(&t, &format!("remove killed at {point}, then run again"));
        if point == "switch-staged" {
            assert!(again.status.success(), "{point}: {}", text(&again.stderr));
        } else {
            assert!(
                text(&again.stderr).contains("not installed"),
                "{point}: {}",
                text(&again.stderr)
            );
        }
        assert_eq!(after, one, "{point}");
        // Back to generation 2 (both rocks), killed; then only `list`.
        lab.kill_at(&t, &["switch-generation", "2"], point);
        lab.ok(&t, &["list"]);
        let after = lab.agreed(&t, &format!("switch killed at {point}, then list"));
        let expected = if point == "switch-staged" {
            &one
        } else {
            &both
        };
        assert_eq!(&after, expected, "{point}");
        if point == "switch-staged" {
            lab.ok(&t, &["switch-generation", "2"]);
        }
        assert_eq!(lab.agreed(&t, point), both);
        lab.s.ok(["verify"]);
    }
    // rollback is the same switch: from 2 back to 1 (purelua alone).
    lab.kill_at(&t, &["rollback"], "switch-renamed");
    lab.ok(&t, &["list"]);
    assert_eq!(lab.agreed(&t, "rollback killed, then list"), one);
    // Nothing that never became current is left among the generations.
    let gens: serde_json::Value =
        serde_json::from_str(&lab.ok(&t, &["generations", "--json"])).expect("json");
    let numbers: Vec<u64> = gens
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|g| g["number"].as_u64())
        .collect();
    assert_eq!(numbers, [1, 2, 3, 4, 5]);
}

/// A tmpfs of a few hundred KiB mounted inside a directory the test made,
/// unmounted when dropped.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    /// `None` (after saying so loudly, or failing under CI) when mounting
    /// is refused.
    fn mount(dir: PathBuf) -> Option<SmallFs> {
        std::fs::create_dir_all(&dir).expect("mount point");
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallFs { dir }),
            Ok(o) => {
                skip_or_fail(&format!("mount -t tmpfs refused: {}", text(&o.stderr)));
                None
            }
            Err(e) => {
                skip_or_fail(&format!("mount: {e}"));
                None
            }
        }
    }

    /// Bytes free.
    fn free(&self) -> u64 {
        let st = rustix::fs::statvfs(&self.dir).expect("statvfs");
        st.f_bavail * st.f_frsize
    }

    /// Fills the filesystem until `left` bytes are free.
    fn fill_leaving(&self, left: u64) {
        use std::io::Write;
        let filler = self.dir.join("filler");
        let _ = std::fs::remove_file(&filler);
        let mut file = std::fs::File::create(&filler).expect("filler");
        let chunk = vec![0u8; 4096];
        while self.free() > left {
            if file.write_all(&chunk).is_err() {
                break;
            }
            file.flush().expect("flush");
        }
        assert!(self.free() <= left, "filled: {} free", self.free());
    }

    fn unfill(&self) {
        std::fs::remove_file(self.dir.join("filler")).expect("remove filler");
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
    }
}

/// Issue 24, item 2: with the tree's filesystem full, `install` failed on
/// the manifest after switching; the rerun said "nothing changed", the
/// manifest stayed stale and a stray temporary file was added each time.
/// Now at every amount of free space the install either happens whole or
/// fails before the switch with the tree as it was, and nothing stray is
/// left; with space again, it happens.
#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn a_full_tree_fails_before_the_switch_or_switches_whole() {
    let Some(lab) = Lab::new(&["lua5.4", "luarocks"]) else {
        return;
    };
    let Some(fs) = SmallFs::mount(lab.s.tmp.path().join("small")) else {
        return;
    };
    let t = fs.dir.join("t");
    lab.ok(&t, &["install", "upg", "1.0"]);
    let before = lab.agreed(&t, "installed");
    let with = rocks(&["purelua 2.0-1", "upg 1.0-1"]);
    let mut refused = 0;
    for pages in 0..16u64 {
        fs.fill_leaving(pages * 4096);
        let out = lab.run(&t, &["install", "purelua"]);
        let now = lab.agreed(&t, &format!("{pages} page(s) free"));
        if out.status.success() {
            assert_eq!(now, with, "{pages} page(s) free");
            fs.unfill();
            break;
        }
        refused += 1;
        let err = text(&out.stderr);
        assert!(err.contains("No space left on device"), "{pages}: {err}");
        assert_eq!(now, before, "{pages} page(s) free: nothing changed");
        // With space again, the same command does it.
        fs.unfill();
        lab.ok(&t, &["install", "purelua"]);
        assert_eq!(lab.agreed(&t, "with space again"), with);
        lab.ok(&t, &["remove", "purelua"]);
        assert_eq!(lab.agreed(&t, "removed again"), before);
    }
    assert!(refused > 0, "the full filesystem refused nothing");
    lab.s.ok(["verify"]);
}

/// Issue 24, item 4: `adopt` killed between a rock directory's exchange
/// and the deletion of LuaRocks' copy left `.<version>.rockstore-<pid>/`
/// with a `rock_manifest`: a phantom rock that made every change refused
/// and `adopt --force` fail. Now it is a temporary name: the next change
/// (or `adopt` again) removes it.
#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gcc)),
    ignore = "needs lua5.4, luarocks, gcc"
)]
fn an_adoption_killed_after_an_exchange_leaves_no_phantom_rock() {
    let Some(lab) = Lab::new(&["lua5.4", "luarocks", "gcc"]) else {
        return;
    };
    let template = lab.s.tmp.path().join("template");
    let t = lab.s.tmp.path().join("t");
    lab.luarocks_tree(&t);
    let adopted = lab.agreed(&t, "as LuaRocks made it");
    std::fs::rename(&t, &template).expect("template");
    for next in [
        &["install", "binrock"][..],
        &["adopt"],
        &["adopt", "--force"],
    ] {
        let out = Command::new("cp")
            .arg("-a")
            .arg(&template)
            .arg(&t)
            .output()
            .expect("cp");
        assert!(out.status.success());
        lab.kill_at(&t, &["adopt"], "adopt-exchanged");
        let rock_dir = t.join("lib/luarocks/rocks-5.4/cmulti");
        let phantom: Vec<_> = std::fs::read_dir(&rock_dir)
            .expect("cmulti")
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().contains(".rockstore-"))
            .collect();
        assert_eq!(phantom.len(), 1, "LuaRocks' copy under a temporary name");
        assert!(phantom[0].path().join("rock_manifest").is_file());
        lab.ok(&t, next);
        let now = lab.agreed(&t, &format!("adopt killed, then {next:?}"));
        let mut expected = adopted.clone();
        if next[0] == "install" {
            expected.push("binrock 1.0-1".to_owned());
            expected.sort();
        }
        assert_eq!(now, expected, "{next:?}");
        std::fs::remove_dir_all(&t).expect("next round");
    }
}

/// Issue 24, items 5 and 7: a killed release left
/// `.<name>.rockstore-release-<pid>` copies (a complete rock directory
/// among them) that a later `adopt` refused; a release of a tree rockstore
/// does not manage wrote `.rockstore/` into it. Now running the release
/// again removes every copy, the released tree adopts again, and a tree
/// that was never ours stays as it is.
#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gcc)),
    ignore = "needs lua5.4, luarocks, gcc"
)]
fn a_killed_release_leaves_no_copies_and_the_tree_adopts_again() {
    let Some(lab) = Lab::new(&["lua5.4", "luarocks", "gcc"]) else {
        return;
    };
    let t = lab.s.tmp.path().join("t");
    lab.luarocks_tree(&t);
    let held = lab.agreed(&t, "as LuaRocks made it");
    // Never ours: nothing is written.
    let before = crate::support::snapshot(&t);
    lab.ok(&t, &["release"]);
    assert_eq!(
        crate::support::snapshot(&t),
        before,
        "release wrote nothing"
    );
    for point in ["release-copied", "release-copied@2", "release-replaced@3"] {
        lab.ok(&t, &["adopt"]);
        assert_eq!(lab.agreed(&t, "adopted"), held);
        lab.kill_at(&t, &["release"], point);
        let left = consistency::leftovers(&t);
        assert!(
            left.contains(&".rockstore/releasing".to_owned()),
            "{point}: {left:?}"
        );
        if point.starts_with("release-copied") {
            assert!(
                left.iter()
                    .any(|c| c.contains("/.") && c.contains(".rockstore-")),
                "{point}: a copy under a temporary name: {left:?}"
            );
        }
        lab.ok(&t, &["release"]);
        assert!(!t.join(".rockstore").exists(), "{point}");
        assert_eq!(
            lab.agreed(&t, &format!("release killed at {point}, run again")),
            held
        );
    }
    lab.ok(&t, &["adopt"]);
    assert_eq!(lab.agreed(&t, "adopted once more"), held);
}

/// Issue 24, item 8: an admission killed between its listing and its
/// record left a listing `gc` kept, and a killed adoption its scratch
/// copies in the tree's `.rockstore/`: `gc` removes both now.
#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gcc)),
    ignore = "needs lua5.4, luarocks, gcc"
)]
fn gc_removes_orphan_listings_and_an_adoptions_scratch_copies() {
    let Some(lab) = Lab::new(&["lua5.4", "luarocks", "gcc"]) else {
        return;
    };
    let dir = lab.s.dir("thing");
    std::fs::write(dir.join("x.lua"), "return 1\n").expect("file");
    let (mut child, _err) = stopped_at_failpoint(
        lab.s.cmd(crate::support::add_args(&dir, "thing", "1.0-1")),
        "after-listing",
    );
    child.kill().expect("kill");
    child.wait().expect("reap");
    let listings = lab.s.store().join("db/listings");
    let orphans = || std::fs::read_dir(&listings).expect("listings").count();
    assert_eq!(orphans(), 1, "the killed admission's listing");

    let t = lab.s.tmp.path().join("t");
    lab.luarocks_tree(&t);
    lab.kill_at(&t, &["adopt"], "adopt-item-admitted@2");
    let scratch: Vec<String> = consistency::leftovers(&t);
    assert!(
        scratch
            .iter()
            .any(|p| p.starts_with(".rockstore/.adopt.rockstore-")),
        "{scratch:?}"
    );
    let out = lab.s.ok(["gc"]);
    assert_eq!(orphans(), 0, "{out}");
    assert_eq!(consistency::leftovers(&t), Vec::<String>::new());
    // The tree is still LuaRocks' (the adoption never switched) and adopts.
    lab.ok(&t, &["adopt"]);
    lab.agreed(&t, "adopted after gc");
}
