//! Trees that survive being copied (issue 27): link modes, a tree that
//! knows its store, a store that can go missing. Checked with real
//! `lua5.4` loading every module of a closure with a C rock (`appx` →
//! `cmulti`, `purelua`).

use std::path::{Path, PathBuf};
use std::process::Output;

use crate::rocks_server::Repo;
use crate::support::{need, on_tree as rs, text, Sandbox};

fn ok(s: &Sandbox, repo: &Repo, tree: &Path, args: &[&str]) -> String {
    let out = rs(s, repo, tree, args);
    assert!(
        out.status.success(),
        "rockstore {args:?} on {} failed:\n{}{}",
        tree.display(),
        text(&out.stdout),
        text(&out.stderr)
    );
    format!("{}{}", text(&out.stdout), text(&out.stderr))
}

fn fails(s: &Sandbox, repo: &Repo, tree: &Path, args: &[&str]) -> String {
    let out = rs(s, repo, tree, args);
    assert!(
        !out.status.success(),
        "rockstore {args:?} should fail:\n{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    text(&out.stderr)
}

/// Every module of `appx`'s closure, loaded by `lua5.4` from `tree`
/// alone (LUA_PATH/LUA_CPATH name only the tree; no rockstore runs).
const EVERY_MODULE: &str = "print(require('appx').run(), require('purelua').version, require('purelua.util') ~= nil, require('cmulti').answer())";

fn lua_from(s: &Sandbox, tree: &Path, code: &str) -> Output {
    let t = tree.display();
    s.program("lua5.4")
        .args(["-e", code])
        .env(
            "LUA_PATH",
            format!("{t}/share/lua/5.4/?.lua;{t}/share/lua/5.4/?/init.lua"),
        )
        .env("LUA_CPATH", format!("{t}/lib/lua/5.4/?.so"))
        .output()
        .expect("lua5.4")
}

fn loads_everything(s: &Sandbox, tree: &Path) {
    let out = lua_from(s, tree, EVERY_MODULE);
    assert!(
        out.status.success(),
        "lua5.4 in {}: {}",
        tree.display(),
        text(&out.stderr)
    );
    assert_eq!(text(&out.stdout).trim(), "hello, appx 42\t2.0\ttrue\t42");
}

/// Removes a store (its items are read-only).
fn delete_store(s: &Sandbox) {
    let st = s
        .program("sh")
        .arg("-c")
        .arg(format!(
            "chmod -R u+w '{0}' && rm -rf '{0}'",
            s.store().display()
        ))
        .status()
        .expect("rm");
    assert!(st.success());
    assert!(!s.store().exists());
}

fn cp_a(s: &Sandbox, from: &Path, to: &Path) {
    let st = s
        .program("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(st.success());
}

/// `tar c` the tree and unpack it at `to`.
fn tar_untar(s: &Sandbox, from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    let st = s
        .program("sh")
        .arg("-c")
        .arg(format!(
            "tar -C '{}' -cf - . | tar -C '{}' -xf -",
            from.display(),
            to.display()
        ))
        .status()
        .expect("tar");
    assert!(st.success());
}

fn listed(s: &Sandbox, repo: &Repo, tree: &Path) -> Vec<String> {
    let out = rs(s, repo, tree, &["list", "--porcelain"]);
    assert!(out.status.success(), "list: {}", text(&out.stderr));
    text(&out.stdout)
        .lines()
        .map(|l| l.split('\t').take(2).collect::<Vec<_>>().join(" "))
        .collect()
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn self_contained_trees_survive_copy_tar_rollback_and_a_deleted_store() {
    if !need(&["lua5.4", "gcc", "tar"]) {
        return;
    }
    for mode in ["copy", "hardlink", "auto"] {
        let s = Sandbox::new();
        let repo = Repo::new(s.tmp.path());
        let a = s.tmp.path().join("tree-a");
        ok(&s, &repo, &a, &["--link-mode", mode, "install", "appx"]);
        // The generation's files are in the tree, the link relative.
        let gen = std::fs::read_link(a.join(".rockstore/generations/1")).expect("gen link");
        assert!(gen.starts_with("../profiles"), "{mode}: {}", gen.display());
        let module = a.join("share/lua/5.4/purelua/init.lua");
        let real = std::fs::canonicalize(&module).expect("real");
        assert!(
            real.starts_with(a.join(".rockstore/profiles")),
            "{mode}: {}",
            real.display()
        );
        loads_everything(&s, &a);

        // Rollback works: remove, then back to the closure. The mode is
        // remembered: no flag on later commands.
        ok(&s, &repo, &a, &["remove", "appx"]);
        assert!(lua_from(&s, &a, "require('appx')").status.code() != Some(0));
        let gen2 = std::fs::read_link(a.join(".rockstore/generations/2")).expect("gen link");
        assert!(
            gen2.starts_with("../profiles"),
            "{mode}: the tree keeps its mode"
        );
        ok(&s, &repo, &a, &["rollback"]);
        loads_everything(&s, &a);
        ok(&s, &repo, &a, &["switch-generation", "2"]);
        ok(&s, &repo, &a, &["switch-generation", "1"]);
        // Deleting generation 2 removes its files from the tree.
        ok(&s, &repo, &a, &["delete-generations", "2"]);
        let profiles: Vec<_> = std::fs::read_dir(a.join(".rockstore/profiles"))
            .expect("profiles")
            .flatten()
            .collect();
        assert_eq!(profiles.len(), 1, "{mode}: one generation, one profile dir");

        let copied = s.tmp.path().join("copied");
        cp_a(&s, &a, &copied);
        let untarred = s.tmp.path().join("untarred");
        tar_untar(&s, &a, &untarred);
        // With the original gone and the store collected, then deleted.
        std::fs::remove_dir_all(&a).expect("rm tree");
        ok(&s, &repo, &copied, &["gc"]);
        delete_store(&s);
        for tree in [&copied, &untarred] {
            loads_everything(&s, tree);
            assert_eq!(
                listed(&s, &repo, tree),
                ["appx 1.0-1", "cmulti 1.0-1", "purelua 2.0-1"],
                "{mode}: list answers with the store gone"
            );
            let which = ok(&s, &repo, tree, &["which", "cmulti"]);
            assert!(
                which.contains("(provided by cmulti 1.0-1)"),
                "{mode}: {which}"
            );
            // Lua also finds everything through `rockstore path`.
            let path = ok(&s, &repo, tree, &["path", "--lr-path"]);
            assert!(
                path.contains(&format!("{}/share/lua/5.4/?.lua", tree.display())),
                "{path}"
            );
            let show = ok(&s, &repo, tree, &["show", "purelua"]);
            assert!(show.contains("purelua 2.0-1"), "{mode}: {show}");
            // What needs the store names it and says what to run.
            let err = fails(&s, &repo, tree, &["install", "purelua", "1.0"]);
            assert!(
                err.contains(&format!("the store {} of the tree", s.store().display()))
                    && err.contains("doctor --fix"),
                "{mode}: {err}"
            );
            assert!(
                !s.store().exists(),
                "the store is never made again silently"
            );
        }
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_symlink_tree_copy_registers_itself_and_survives_gc() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let a = s.tmp.path().join("tree-a");
    let b = s.tmp.path().join("tree-b");
    ok(&s, &repo, &a, &["install", "appx"]);
    assert!(std::fs::read_link(a.join(".rockstore/generations/1"))
        .expect("link")
        .starts_with(s.store()));
    cp_a(&s, &a, &b);
    std::fs::remove_dir_all(&a).expect("rm a");
    // The first command that touches the copy registers it, once.
    let first = rs(&s, &repo, &b, &["list"]);
    assert!(first.status.success());
    let said = text(&first.stderr);
    assert!(
        said.contains(&format!("{} is a copy of {}", b.display(), a.display()))
            && said.contains("registered it as a root"),
        "{said}"
    );
    let again = rs(&s, &repo, &b, &["list"]);
    assert!(!text(&again.stderr).contains("is a copy"), "said once");
    let freed = ok(&s, &repo, &b, &["gc"]);
    loads_everything(&s, &b);
    assert_eq!(
        listed(&s, &repo, &b),
        ["appx 1.0-1", "cmulti 1.0-1", "purelua 2.0-1"],
        "{freed}"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_tree_whose_store_is_gone_answers_and_says_what_to_run() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    // The repro: the store named by ROCKSTORE_STORE only.
    let run = |args: &[&str]| {
        s.bare_cmd()
            .env("ROCKSTORE_STORE", s.store())
            .args([
                "--only-server",
                &repo.server.base,
                "--lua-version",
                "5.4",
                "--tree",
            ])
            .arg(&t)
            .args(args)
            .output()
            .expect("run")
    };
    assert!(run(&["install", "appx"]).status.success());
    delete_store(&s);
    let bare = |args: &[&str]| {
        s.bare_cmd()
            .args([
                "--only-server",
                &repo.server.base,
                "--lua-version",
                "5.4",
                "--tree",
            ])
            .arg(&t)
            .args(args)
            .output()
            .expect("run")
    };
    for out in [
        run(&["list", "--porcelain"]),
        bare(&["list", "--porcelain"]),
    ] {
        assert!(out.status.success(), "{}", text(&out.stderr));
        assert!(
            text(&out.stdout).contains("cmulti\t1.0-1"),
            "{}",
            text(&out.stdout)
        );
    }
    let which = bare(&["which", "purelua.util"]);
    assert!(
        text(&which.stdout).contains("(provided by purelua 2.0-1)"),
        "{}{}",
        text(&which.stdout),
        text(&which.stderr)
    );
    let show = bare(&["show", "appx"]);
    assert!(show.status.success(), "{}", text(&show.stderr));
    assert!(
        text(&show.stderr).contains("doctor --fix"),
        "{}",
        text(&show.stderr)
    );
    assert!(bare(&["path"]).status.success());
    let gens = bare(&["generations"]);
    assert!(gens.status.success());
    // The store is named, with what to run; it is not made again.
    let install = bare(&["install", "purelua", "1.0"]);
    assert!(!install.status.success());
    let err = text(&install.stderr);
    assert!(
        err.contains(&s.store().display().to_string()) && err.contains("doctor --fix"),
        "{err}"
    );
    assert!(!s.store().exists());
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn another_store_is_refused_naming_both() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    ok(&s, &repo, &t, &["install", "purelua"]);
    let other: PathBuf = s.tmp.path().join("other-store");
    let out = s
        .bare_cmd()
        .arg("--store")
        .arg(&other)
        .args([
            "--only-server",
            &repo.server.base,
            "--lua-version",
            "5.4",
            "--tree",
        ])
        .arg(&t)
        .args(["install", "appx"])
        .output()
        .expect("run");
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains(&s.store().display().to_string())
            && err.contains(&other.display().to_string()),
        "{err}"
    );
    assert!(
        !other.join("store").exists(),
        "refused before building: {err}"
    );
    // The same store by another path is the same store.
    let alias = s.tmp.path().join("alias");
    std::os::unix::fs::symlink(s.store(), &alias).expect("symlink");
    let same = s
        .bare_cmd()
        .arg("--store")
        .arg(&alias)
        .args(["--lua-version", "5.4", "--tree"])
        .arg(&t)
        .args(["list"])
        .output()
        .expect("run");
    assert!(same.status.success(), "{}", text(&same.stderr));
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn an_edit_through_a_tree_as_root_never_reaches_the_store() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        crate::support::skip_or_fail("runs as root: root may write every store file");
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    let said = ok(
        &s,
        &repo,
        &t,
        &["--link-mode", "hardlink", "install", "purelua"],
    );
    assert!(said.contains("copied instead of hard-linked"), "{said}");
    let file = t.join("share/lua/5.4/purelua/init.lua");
    let before = std::fs::read(&file).expect("read");
    std::fs::write(&file, b"return { version = 'edited' }").expect("root edits");
    let verify = s.run(["verify", "--contents"]);
    assert!(
        verify.status.success(),
        "the store's item is intact: {}",
        text(&verify.stdout)
    );
    let other = s.tmp.path().join("other");
    ok(&s, &repo, &other, &["install", "purelua"]);
    assert_eq!(
        std::fs::read(other.join("share/lua/5.4/purelua/init.lua")).expect("read"),
        before
    );
}

/// A tmpfs of 512 KiB mounted in the sandbox, unmounted when dropped.
struct SmallFs {
    dir: PathBuf,
}

impl SmallFs {
    fn mount(dir: PathBuf) -> Option<SmallFs> {
        std::fs::create_dir_all(&dir).expect("mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512k,mode=0755", "tmpfs"])
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(SmallFs { dir }),
            Ok(o) => {
                crate::support::skip_or_fail(&format!(
                    "mount -t tmpfs refused: {}",
                    text(&o.stderr)
                ));
                None
            }
            Err(e) => {
                crate::support::skip_or_fail(&format!("mount: {e}"));
                None
            }
        }
    }

    fn free(&self) -> u64 {
        let st = rustix::fs::statvfs(&self.dir).expect("statvfs");
        st.f_bavail * st.f_frsize
    }

    fn fill_leaving(&self, left: u64) {
        use std::io::Write;
        let mut file = std::fs::File::create(self.dir.join("filler")).expect("filler");
        let chunk = vec![0u8; 4096];
        while self.free() > left {
            if file.write_all(&chunk).is_err() {
                break;
            }
            file.flush().expect("flush");
        }
    }
}

impl Drop for SmallFs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn a_full_disk_or_a_mode_the_filesystem_cannot_do_leaves_the_tree_as_it_was() {
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let Some(small) = SmallFs::mount(s.tmp.path().join("small")) else {
        return;
    };
    let t = small.dir.join("t");
    ok(
        &s,
        &repo,
        &t,
        &["--link-mode", "copy", "install", "purelua", "1.0"],
    );
    let before = crate::support::snapshot(&t);
    // Hard links cannot leave the store's file system: refused first.
    let err = fails(
        &s,
        &repo,
        &t,
        &["--link-mode", "hardlink", "install", "appx"],
    );
    assert!(err.contains("different file systems"), "{err}");
    assert_eq!(
        crate::support::snapshot(&t),
        before,
        "refused before the tree changed"
    );
    // No room for the copies.
    small.fill_leaving(16 * 1024);
    let err = fails(&s, &repo, &t, &["install", "appx"]);
    assert!(
        err.contains("not enough space") && err.contains("needs about") && err.contains("is free"),
        "{err}"
    );
    assert_eq!(
        crate::support::snapshot(&t),
        before,
        "no dangling link, no phantom generation"
    );
    let gens = ok(&s, &repo, &t, &["generations", "--json"]);
    assert_eq!(gens.matches("\"number\"").count(), 1, "{gens}");
    std::fs::remove_file(small.dir.join("filler")).expect("unfill");
    ok(&s, &repo, &t, &["install", "appx"]);
    let out = lua_from(
        &s,
        &t,
        "print(require('appx').run(), require('cmulti').answer())",
    );
    assert_eq!(
        text(&out.stdout).trim(),
        "hello, appx 42\t42",
        "{}",
        text(&out.stderr)
    );
}

/// A btrfs image loop-mounted in the sandbox (it clones files), unmounted
/// and removed when dropped.
struct Btrfs {
    dir: PathBuf,
}

impl Btrfs {
    /// `None` after skipping loudly (failing under CI) when mkfs.btrfs is
    /// missing or the kernel refuses the mount.
    fn mount(s: &Sandbox) -> Option<Btrfs> {
        let image = s.tmp.path().join("btrfs.img");
        let dir = s.tmp.path().join("btrfs");
        std::fs::create_dir_all(&dir).expect("mount point");
        let made = std::fs::File::create(&image)
            .and_then(|f| f.set_len(160 * 1024 * 1024))
            .is_ok()
            && std::process::Command::new("mkfs.btrfs")
                .arg("-q")
                .arg(&image)
                .output()
                .is_ok_and(|o| o.status.success());
        if !made {
            crate::support::skip_or_fail("mkfs.btrfs (btrfs-progs) is needed for the reflink test");
            return None;
        }
        let out = std::process::Command::new("mount")
            .args(["-o", "loop"])
            .arg(&image)
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Btrfs { dir }),
            Ok(o) => {
                crate::support::skip_or_fail(&format!(
                    "the kernel refused to mount a btrfs image: {}",
                    text(&o.stderr)
                ));
                None
            }
            Err(e) => {
                crate::support::skip_or_fail(&format!("mount: {e}"));
                None
            }
        }
    }
}

impl Drop for Btrfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.dir).status();
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn reflink_clones_on_btrfs_and_is_refused_where_the_filesystem_cannot() {
    use std::os::unix::fs::MetadataExt;
    if !need(&["lua5.4", "gcc"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // Refused where the file system cannot clone (the store's is not the
    // tree's here, or cannot clone at all): nothing is made.
    let plain = s.tmp.path().join("plain");
    let err = fails(
        &s,
        &repo,
        &plain,
        &["--link-mode", "reflink", "install", "purelua"],
    );
    assert!(err.contains("cannot clone files"), "{err}");
    assert!(
        !plain.join(".rockstore/generations/1").exists(),
        "refused before a generation was made"
    );
    let Some(fs) = Btrfs::mount(&s) else {
        return;
    };
    let store = fs.dir.join("store");
    let t = fs.dir.join("t");
    let run = |args: &[&str]| {
        s.bare_cmd()
            .arg("--store")
            .arg(&store)
            .args([
                "--only-server",
                &repo.server.base,
                "--lua-version",
                "5.4",
                "--tree",
            ])
            .arg(&t)
            .args(args)
            .output()
            .expect("run")
    };
    let out = run(&["--link-mode", "reflink", "install", "appx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    loads_everything(&s, &t);
    // A clone is a file of its own (not a hard link), with the same bytes.
    let so = std::fs::canonicalize(t.join("lib/lua/5.4/cmulti.so")).expect("so");
    assert!(
        so.starts_with(t.join(".rockstore/profiles")),
        "{}",
        so.display()
    );
    assert_eq!(std::fs::metadata(&so).expect("stat").nlink(), 1);
    let out = run(&["remove", "appx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = run(&["rollback"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let copy = fs.dir.join("copy");
    cp_a(&s, &t, &copy);
    let st = s
        .program("sh")
        .arg("-c")
        .arg(format!(
            "chmod -R u+w '{0}' && rm -rf '{0}' '{1}'",
            store.display(),
            t.display()
        ))
        .status()
        .expect("rm");
    assert!(st.success());
    loads_everything(&s, &copy);
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_gcc)), ignore = "needs lua5.4, gcc")]
fn hardlink_links_the_store_files_a_user_cannot_write() {
    use std::os::unix::fs::MetadataExt;
    if !need(&["lua5.4", "gcc", "setpriv"]) {
        return;
    }
    if !rustix::process::geteuid().is_root() {
        crate::support::skip_or_fail("runs as root, to run rockstore as rs-alice");
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // A directory of hers, reachable through the sandbox.
    let st = s
        .program("chmod")
        .arg("755")
        .arg(s.tmp.path())
        .status()
        .expect("chmod");
    assert!(st.success());
    let hers = s.dir("alice");
    let st = s
        .program("chown")
        .arg("rs-alice:rs-alice")
        .arg(&hers)
        .status()
        .expect("chown");
    assert!(st.success(), "rs-alice is made by .ci/run");
    let as_alice = |args: &[&str]| {
        s.program("setpriv")
            .args([
                "--reuid=rs-alice",
                "--regid=rs-alice",
                "--init-groups",
                "--",
            ])
            .arg(crate::support::bin())
            .env("HOME", &hers)
            .arg("--store")
            .arg(hers.join("store"))
            .args([
                "--only-server",
                &repo.server.base,
                "--lua-version",
                "5.4",
                "--tree",
            ])
            .arg(hers.join("t"))
            .args(args)
            .output()
            .expect("setpriv")
    };
    let out = as_alice(&["--link-mode", "hardlink", "install", "appx"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        !text(&out.stderr).contains("copied instead"),
        "{}",
        text(&out.stderr)
    );
    let t = hers.join("t");
    loads_everything(&s, &t);
    // The tree's file is the store's (one inode), which she cannot write.
    let placed = std::fs::canonicalize(t.join("share/lua/5.4/purelua/util.lua")).expect("real");
    assert!(
        placed.starts_with(t.join(".rockstore/profiles")),
        "{}",
        placed.display()
    );
    let meta = std::fs::metadata(&placed).expect("stat");
    assert!(meta.nlink() >= 2, "hard-linked: {} links", meta.nlink());
    assert_eq!(meta.mode() & 0o222, 0, "read-only");
    // The items stay whole for her next install (stamps ignore ctime).
    let again = as_alice(&["install", "--force", "purelua", "2.0"]);
    assert!(again.status.success(), "{}", text(&again.stderr));
    assert!(
        !text(&again.stderr).contains("built"),
        "reused, not rebuilt: {}",
        text(&again.stderr)
    );
}
