//! One store, many users: real Unix users (`rs-alice`, `rs-bob` in group
//! `rockstore`, created by `.ci/run`) run rockstore with `setpriv`; root is
//! the admin and owns the store and the global tree.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use crate::rocks_server::Repo;
use crate::support::{bin, skip_or_fail, text};

const USERS: [&str; 2] = ["rs-alice", "rs-bob"];

pub(crate) fn ready() -> bool {
    if !rustix::process::geteuid().is_root() {
        skip_or_fail("the shared-store tests run as root (they switch to test users)");
        return false;
    }
    for u in USERS {
        let ok = Command::new("id")
            .arg(u)
            .output()
            .is_ok_and(|o| o.status.success());
        if !ok {
            skip_or_fail(&format!("user {u} in group rockstore (created by .ci/run)"));
            return false;
        }
    }
    if Command::new("lua5.4").arg("-v").output().is_err() {
        skip_or_fail("lua5.4");
        return false;
    }
    true
}

/// A shared store, a global tree, a home per user and the fixture server,
/// all under a world-readable directory.
pub(crate) struct World {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    pub(crate) repo: Repo,
}

impl World {
    pub(crate) fn new() -> World {
        let tmp = tempfile::tempdir().expect("tmp");
        let base = tmp.path().to_path_buf();
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        let repo = Repo::new(&base);
        let w = World {
            _tmp: tmp,
            base,
            repo,
        };
        std::fs::create_dir_all(w.base.join("etc")).expect("etc");
        for user in ["root", USERS[0], USERS[1]] {
            let home = w.home(user);
            std::fs::create_dir_all(&home).expect("home");
            if user != "root" {
                chown(&home, user);
            }
            std::fs::write(
                w.base.join(format!("config-{user}.lua")),
                format!(
                    "rocks_trees = {{ {{ name = 'user', root = '{}/.luarocks' }}, {{ name = 'system', root = '{}' }} }}\nrockstore_store = '{}'\n",
                    home.display(),
                    w.global().display(),
                    w.store().display()
                ),
            )
            .expect("config");
        }
        w
    }

    /// The directory everything of this world lives in.
    pub(crate) fn base(&self) -> &Path {
        &self.base
    }

    pub(crate) fn store(&self) -> PathBuf {
        self.base.join("store")
    }

    pub(crate) fn global(&self) -> PathBuf {
        self.base.join("global")
    }

    pub(crate) fn home(&self, user: &str) -> PathBuf {
        self.base.join(format!("home-{user}"))
    }

    pub(crate) fn user_tree(&self, user: &str) -> PathBuf {
        self.home(user).join(".luarocks")
    }

    /// `sh -c 'umask U; exec …'` as `user` (root: no setpriv), with the
    /// user's HOME and config.
    pub(crate) fn command(&self, user: &str, umask: &str, program: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new("sh");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.home(user))
            .env(
                "LUAROCKS_CONFIG",
                self.base.join(format!("config-{user}.lua")),
            )
            .env("LUAROCKS_SYSCONFDIR", self.base.join("etc"))
            .args(["-c", &format!("umask {umask}; exec \"$@\""), "sh"]);
        if user != "root" {
            cmd.args([
                "setpriv",
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--init-groups",
                "--",
            ]);
        }
        cmd.arg(program).args(args);
        cmd
    }

    /// `rockstore --only-server <fixtures> --lua-version 5.4 ARGS` as `user`.
    pub(crate) fn rockstore_cmd(&self, user: &str, args: &[&str]) -> Command {
        let mut all = vec![
            "--only-server",
            self.repo.server.base.as_str(),
            "--lua-version",
            "5.4",
        ];
        all.extend_from_slice(args);
        self.command(user, "022", bin(), &all)
    }

    pub(crate) fn rockstore(&self, user: &str, args: &[&str]) -> Output {
        self.rockstore_cmd(user, args).output().expect("rockstore")
    }

    /// Runs and asserts success; returns what it said (stdout, where
    /// status goes as with LuaRocks, then stderr).
    pub(crate) fn ok(&self, user: &str, args: &[&str]) -> String {
        let out = self.rockstore(user, args);
        assert!(
            out.status.success(),
            "{user}: rockstore {args:?}:\n{}{}",
            text(&out.stdout),
            text(&out.stderr)
        );
        format!("{}{}", text(&out.stdout), text(&out.stderr))
    }

    /// [`World::ok`], returning stdout.
    pub(crate) fn ok_stdout(&self, user: &str, args: &[&str]) -> String {
        let out = self.rockstore(user, args);
        assert!(
            out.status.success(),
            "{user}: rockstore {args:?}:\n{}",
            text(&out.stderr)
        );
        text(&out.stdout)
    }

    /// `lua5.4 -e CODE` as `user` with the paths of every tree.
    pub(crate) fn lua(&self, user: &str, code: &str) -> Output {
        let script = format!(
            "eval \"$('{}' --lua-version 5.4 path)\" && exec lua5.4 -e \"$CODE\"",
            bin()
        );
        let mut cmd = self.command(user, "022", "sh", &["-c", &script]);
        cmd.env("CODE", code);
        cmd.output().expect("lua")
    }

    pub(crate) fn lua_ok(&self, user: &str, code: &str) -> String {
        let out = self.lua(user, code);
        assert!(
            out.status.success(),
            "{user}: lua {code}: {}",
            text(&out.stderr)
        );
        text(&out.stdout).trim().to_owned()
    }

    pub(crate) fn init_store(&self, umask: &str) {
        let store = self.store().display().to_string();
        let out = self
            .command(
                "root",
                umask,
                bin(),
                &["store", "init", "--shared", "--group", "rockstore", &store],
            )
            .output()
            .expect("init");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }

    /// The item of rock `name` in `user`'s tree.
    pub(crate) fn item_of(&self, user: &str, name: &str) -> String {
        let out = self.rockstore(user, &["--local", "list", "--json"]);
        let json: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
        json.as_array()
            .expect("array")
            .iter()
            .find(|r| r["name"] == name)
            .and_then(|r| r["item"].as_str())
            .expect("rock in list")
            .to_owned()
    }
}

/// `chown -R user path`.
pub(crate) fn chown_tree(path: &Path, user: &str) {
    let out = Command::new("chown")
        .args(["-R", "-h", user])
        .arg(path)
        .output()
        .expect("chown");
    assert!(out.status.success());
}

fn chown(path: &Path, user: &str) {
    let out = Command::new("chown")
        .arg(user)
        .arg(path)
        .output()
        .expect("chown");
    assert!(out.status.success());
}

/// Every path under `root` with its mode, skipping what is in flux (`tmp/`).
/// With `anonymous`, hashes in names (items, recipe keys, tree ids) become
/// `H`, so two stores with the same shape compare equal.
fn modes_of(root: &Path, anonymous: bool) -> Vec<String> {
    let mut lines = modes(root);
    if anonymous {
        for line in &mut lines {
            let mut out = String::new();
            let mut run = String::new();
            for c in line.chars().chain(std::iter::once('/')) {
                if c.is_ascii_lowercase() || c.is_ascii_digit() {
                    run.push(c);
                } else {
                    out.push_str(if run.len() >= 32 { "H" } else { &run });
                    run.clear();
                    out.push(c);
                }
            }
            out.pop();
            *line = out;
        }
        lines.sort();
    }
    lines
}

fn modes(root: &Path) -> Vec<String> {
    let out = Command::new("find")
        .arg(root)
        .args([
            "-path",
            &format!("{}/tmp/*", root.display()),
            "-prune",
            "-o",
            "-printf",
            "%M %P\n",
        ])
        .output()
        .expect("find");
    let mut lines: Vec<String> = text(&out.stdout).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn root_refuses_to_link_from_a_shared_store_and_says_how_to_convert_it() {
    if !ready() {
        return;
    }
    let w = World::new();
    w.init_store("022");
    // A member's install works as before, in her own tree.
    w.ok("rs-alice", &["--local", "install", "purelua"]);
    // Root builds nothing into a tree from it: any member of the group
    // could have written an item's bytes.
    let out = w.rockstore("root", &["--tree", "system", "install", "dmdep"]);
    assert!(!out.status.success());
    let err = text(&out.stderr);
    let store = w.store().display().to_string();
    assert!(
        err.contains("root does not link items from")
            && err.contains("it is a shared store")
            && err.contains(&format!("rockstore store init --daemon {store}")),
        "{err}"
    );
    assert!(
        !w.global().join(".rockstore").exists(),
        "no tree was left behind"
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn one_user_cannot_change_anothers_items_records_or_trees() {
    if !ready() {
        return;
    }
    let w = World::new();
    w.init_store("022");
    w.ok("rs-alice", &["--local", "install", "dmdep"]);
    let item = w.item_of("rs-alice", "dmdep");
    let item_dir = w.store().join("store").join(&item);
    let record = w.store().join("db/items").join(&item);
    let tree = w.user_tree("rs-alice");
    let before = modes(&w.store());
    let gens_before = std::fs::read_dir(tree.join(".rockstore/generations"))
        .expect("gens")
        .count();
    let attempts: Vec<(&str, Vec<String>)> = vec![
        ("rm", vec!["-rf".into(), item_dir.display().to_string()]),
        (
            "sh",
            vec![
                "-c".into(),
                format!("echo x > '{}/lua/dmdep.lua'", item_dir.display()),
            ],
        ),
        ("rm", vec!["-f".into(), record.display().to_string()]),
        (
            "mv",
            vec![
                record.display().to_string(),
                w.store().join("db/items/stolen").display().to_string(),
            ],
        ),
        (
            "sh",
            vec!["-c".into(), format!("echo x > '{}'", record.display())],
        ),
        (
            "rm",
            vec!["-rf".into(), tree.join(".rockstore").display().to_string()],
        ),
        (
            "ln",
            vec![
                "-sfn".into(),
                "/tmp".into(),
                tree.join(".rockstore/current").display().to_string(),
            ],
        ),
    ];
    for (program, args) in &attempts {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = w
            .command("rs-bob", "022", program, &args)
            .output()
            .expect("attempt");
        assert!(!out.status.success(), "bob could run {program} {args:?}");
        let err = text(&out.stderr);
        assert!(
            err.contains("Permission denied") || err.contains("Operation not permitted"),
            "{program} {args:?}: {err}"
        );
    }
    let out = w.rockstore(
        "rs-bob",
        &["--tree", &tree.display().to_string(), "rollback"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot write to the tree"),
        "{}",
        text(&out.stderr)
    );
    // Nothing changed.
    assert_eq!(modes(&w.store()), before);
    assert_eq!(
        std::fs::read_dir(tree.join(".rockstore/generations"))
            .expect("gens")
            .count(),
        gens_before
    );
    assert_eq!(w.lua_ok("rs-alice", "print(require('dmdep').dep)"), "true");
    let out = w
        .command(
            "root",
            "022",
            bin(),
            &[
                "--store",
                &w.store().display().to_string(),
                "verify",
                "--contents",
            ],
        )
        .output()
        .expect("verify");
    assert!(out.status.success(), "{}", text(&out.stdout));
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_tampered_item_is_refused_and_verify_names_it() {
    if !ready() {
        return;
    }
    let w = World::new();
    w.init_store("022");
    // An intact item alice admitted: bob links it after one check, which
    // is remembered.
    w.ok("rs-alice", &["--local", "install", "dmdep"]);
    let intact = w.item_of("rs-alice", "dmdep");
    let err = w.ok("rs-bob", &["--local", "install", "dmdep"]);
    assert!(err.contains("already built"), "{err}");
    let bob_uid = text(
        &Command::new("id")
            .args(["-u", "rs-bob"])
            .output()
            .expect("id")
            .stdout,
    );
    assert!(
        w.store()
            .join("db/trust")
            .join(bob_uid.trim())
            .join(&intact)
            .exists(),
        "bob's check of alice's item is remembered"
    );
    w.ok("rs-alice", &["--local", "install", "upg", "1.0"]);
    let item = w.item_of("rs-alice", "upg");
    // Root (a compromised admin) changes alice's item.
    let file = w.store().join("store").join(&item).join("lua/upg.lua");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    std::fs::write(&file, "return { v = 'evil' }").expect("tamper");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o444)).expect("chmod");
    let out = w.rockstore("rs-bob", &["--local", "install", "upg", "1.0"]);
    assert!(!out.status.success(), "bob linked a tampered item");
    let err = text(&out.stderr);
    assert!(
        err.contains(&item) && err.contains("does not match its name"),
        "{err}"
    );
    let bob_gens = std::fs::read_dir(w.user_tree("rs-bob").join(".rockstore/generations"))
        .expect("gens")
        .filter(|e| {
            e.as_ref()
                .is_ok_and(|e| !e.file_name().to_string_lossy().ends_with(".json"))
        })
        .count();
    assert_eq!(
        bob_gens, 1,
        "no generation was made for the refused install"
    );
    // The store comes from root's LuaRocks config (`rockstore_store`).
    let out = w
        .command("root", "022", bin(), &["verify", "--contents"])
        .output()
        .expect("verify");
    assert!(!out.status.success());
    let report = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(report.contains(&item), "{report}");
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn two_users_build_one_c_rock_once_at_the_same_time() {
    if !ready() || !crate::support::need(&["gcc"]) {
        return;
    }
    let w = World::new();
    w.init_store("022");
    let logdir = w.base.join("cc-log");
    std::fs::create_dir_all(&logdir).expect("logdir");
    std::fs::set_permissions(&logdir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let log = logdir.join("calls");
    let wrapper = w.base.join("cc-wrapper");
    crate::support::logging_cc(&wrapper, &log);
    let children: Vec<_> = USERS
        .iter()
        .map(|u| {
            let mut all = vec![
                "--only-server",
                w.repo.server.base.as_str(),
                "--lua-version",
                "5.4",
            ];
            all.extend(["--local", "install", "cmulti"]);
            let mut cmd = w.command(u, "022", bin(), &all);
            cmd.env("CC", &wrapper)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().expect("spawn")
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().expect("wait");
        assert!(out.status.success(), "{}", text(&out.stderr));
    }
    let calls = std::fs::read_to_string(&log).expect("log").lines().count();
    assert_eq!(calls, 3, "two compiles and one link, once");
    for u in USERS {
        assert_eq!(w.lua_ok(u, "print(require('cmulti').answer())"), "42");
    }
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn modes_do_not_depend_on_the_umask() {
    if !ready() {
        return;
    }
    let mut listings = Vec::new();
    for umask in ["077", "022"] {
        let w = World::new();
        w.init_store(umask);
        let mut all = vec![
            "--only-server",
            w.repo.server.base.as_str(),
            "--lua-version",
            "5.4",
        ];
        all.extend(["--local", "install", "dmdep"]);
        let out = w
            .command("rs-alice", umask, bin(), &all)
            .output()
            .expect("install");
        assert!(out.status.success(), "{}", text(&out.stderr));
        // Every user can read what alice admitted under umask 077.
        assert_eq!(
            w.lua_ok(
                "rs-bob",
                &format!(
                    "print(dofile('{}/store/{}/lua/dmdep.lua').dep)",
                    w.store().display(),
                    w.item_of("rs-alice", "dmdep")
                )
            ),
            "true"
        );
        listings.push(modes_of(&w.store(), true));
    }
    assert_eq!(listings[0], listings[1]);
    assert!(
        listings[0]
            .iter()
            .any(|l| l.starts_with("drwxrwsr-t store")),
        "{:?}",
        listings[0]
    );
}

/// A user's own store: GC runs without root, so it must make each
/// read-only item directory writable before emptying it, and must leave
/// `store/` itself as it was.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn a_users_own_store_is_swept_by_that_user() {
    if !ready() {
        return;
    }
    let w = World::new();
    let store = w.home("rs-alice").join("own-store");
    let store_arg = store.display().to_string();
    w.ok(
        "rs-alice",
        &["--store", &store_arg, "--local", "install", "dmtop"],
    );
    let items = || -> Vec<String> {
        std::fs::read_dir(store.join("store"))
            .expect("store/")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    // dmtop, dmdep and the profile.
    assert_eq!(items().len(), 3, "{:?}", items());
    let mode_before = std::fs::metadata(store.join("store"))
        .expect("store/")
        .permissions()
        .mode();
    std::fs::remove_dir_all(w.user_tree("rs-alice")).expect("rm tree");
    let err = w.ok("rs-alice", &["--store", &store_arg, "gc"]);
    assert!(err.contains("3 items"), "{err}");
    assert_eq!(items(), Vec::<String>::new());
    assert!(
        std::fs::read_dir(store.join("db/items"))
            .expect("db/items")
            .next()
            .is_none(),
        "records are gone"
    );
    assert_eq!(
        std::fs::metadata(store.join("store"))
            .expect("store/")
            .permissions()
            .mode(),
        mode_before
    );
    w.ok("rs-alice", &["--store", &store_arg, "verify"]);
}

/// What Debian 12's luarocks package installs as `/etc/luarocks/config-5.4.lua`.
const DEBIAN_STOCK_CONFIG: &str =
    "rocks_trees = {\n   home..[[/.luarocks]],\n   [[/usr/local]]\n}\n";

/// `--local` and `--global` with Debian's own `/etc/luarocks/config-5.4.lua`
/// (its `rocks_trees` are unnamed strings), as a normal user and as root,
/// beside Debian's luarocks reading the same file.
#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn debians_stock_config_local_and_global_as_a_user_and_as_root() {
    if !ready() {
        return;
    }
    let w = World::new();
    let etc = w.base.join("etc-stock");
    std::fs::create_dir_all(&etc).expect("etc");
    // Debian 12's /etc/luarocks/config-5.4.lua (luarocks 3.8.0+dfsg1-1),
    // written here: the machine's own may have been edited.
    std::fs::write(etc.join("config-5.4.lua"), DEBIAN_STOCK_CONFIG).expect("stock config");
    // As a login shell runs them: USER names the user (LuaRocks knows root
    // by it); `in_docker` leaves it out, as a Dockerfile's RUN does.
    let run_as = |user: &str, in_docker: bool, program: &str, args: &[&str]| -> Output {
        let mut cmd = Command::new("sh");
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", w.home(user))
            .env("LUAROCKS_SYSCONFDIR", &etc)
            .args(["-c", "exec \"$@\"", "sh"]);
        if !in_docker {
            cmd.env("USER", user);
        }
        if user != "root" {
            cmd.args([
                "setpriv",
                &format!("--reuid={user}"),
                &format!("--regid={user}"),
                "--init-groups",
                "--",
            ]);
        }
        cmd.arg(program).args(args).output().expect("run")
    };
    let run = |user: &str, program: &str, args: &[&str]| run_as(user, false, program, args);
    let alice = USERS[0];
    let home_tree = w.user_tree(alice).display().to_string();
    let target = |user: &str, flag: &str| {
        let out = run(
            user,
            bin(),
            &[flag, "--lua-version", "5.4", "config", "target_tree"],
        );
        assert!(out.status.success(), "{flag}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    assert_eq!(target(alice, "--local"), home_tree);
    assert_eq!(target(alice, "--global"), "/usr/local");
    assert_eq!(target("root", "--global"), "/usr/local");
    // Debian's luarocks agrees on the home tree it would use.
    let theirs = run(
        alice,
        "luarocks",
        &["--local", "--lua-version", "5.4", "config", "home_tree"],
    );
    assert_eq!(
        text(&theirs.stdout).trim(),
        home_tree,
        "{}",
        text(&theirs.stderr)
    );
    // A normal user installs with --local into ~/.luarocks (her own store).
    let base = w.repo.server.base.clone();
    let install = run(
        alice,
        bin(),
        &[
            "--local",
            "--only-server",
            &base,
            "--lua-version",
            "5.4",
            "install",
            "purelua",
            "1.0",
        ],
    );
    assert!(install.status.success(), "{}", text(&install.stderr));
    assert!(w
        .user_tree(alice)
        .join("share/lua/5.4/purelua/init.lua")
        .exists());
    // Root is told what LuaRocks tells it.
    let refused = run(
        "root",
        bin(),
        &["--local", "--lua-version", "5.4", "config", "target_tree"],
    );
    assert!(!refused.status.success());
    assert!(
        text(&refused.stderr).contains("meant for operating in a user's home directory"),
        "{}",
        text(&refused.stderr)
    );
    // Root with no USER (a Dockerfile's RUN) gets its home tree, as from
    // Debian's luarocks.
    let home_tree = |program: &str, key: &str| {
        let out = run_as(
            "root",
            true,
            program,
            &["--local", "--lua-version", "5.4", "config", key],
        );
        assert!(out.status.success(), "{program}: {}", text(&out.stderr));
        text(&out.stdout).trim().to_owned()
    };
    assert_eq!(
        home_tree(bin(), "target_tree"),
        home_tree("luarocks", "home_tree")
    );
}

#[test]
#[cfg_attr(
    not(root_with_test_users),
    ignore = "runs as root with the users .ci/run makes (rs-alice, rs-bob, rockstore-build1..2)"
)]
fn gc_by_an_owner_who_cannot_read_a_tree_keeps_its_recorded_roots() {
    if !ready() {
        return;
    }
    let w = World::new();
    // Bob, not root, owns the shared store; alice's home is hers alone.
    let store = w.home("rs-bob").join("store");
    let store_arg = store.display().to_string();
    let out = w
        .command(
            "rs-bob",
            "022",
            bin(),
            &[
                "store",
                "init",
                "--shared",
                "--group",
                "rockstore",
                &store.display().to_string(),
            ],
        )
        .output()
        .expect("init");
    assert!(out.status.success(), "{}", text(&out.stderr));
    w.ok(
        "rs-alice",
        &["--store", &store_arg, "--local", "install", "purelua"],
    );
    let listed = w.ok_stdout(
        "rs-alice",
        &["--store", &store_arg, "--local", "list", "--json"],
    );
    let json: serde_json::Value = serde_json::from_str(&listed).expect("json");
    let item = json[0]["item"].as_str().expect("item").to_owned();
    std::fs::set_permissions(w.home("rs-alice"), std::fs::Permissions::from_mode(0o700))
        .expect("chmod");
    // Bob cannot read her tree: its recorded roots stand for it, and the
    // collection goes on for the rest.
    let out = w.rockstore("rs-bob", &["--store", &store_arg, "gc"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stdout).contains(&item), "{}", text(&out.stdout));
    assert!(
        store.join("store").join(&item).is_dir(),
        "alice's item kept"
    );
    assert_eq!(
        w.lua_ok("rs-alice", "print(require('purelua').version)"),
        "2.0"
    );
}
