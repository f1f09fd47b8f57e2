//! A LuaRocks project found around the working directory is used only when
//! it is ours (or root's): another user who plants `.luarocks/` and
//! `lua_modules` in a shared directory (a sticky `/tmp`) must not choose
//! root's servers, hooks or tree. The red team's attack: root ran
//! `rockstore install` below such a directory and wrote through the
//! planted `lua_modules` link into a root-only directory.

use std::os::unix::fs::PermissionsExt;

use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

/// Another user's uid (the test users' range; no account is needed to own
/// a file).
const STRANGER: u32 = 1001;

#[test]
#[cfg_attr(not(root_with_test_users), ignore = "needs root")]
fn a_project_another_user_planted_in_a_sticky_directory_is_ignored_with_a_warning() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    // The sandbox's system config names the real server; the planted one
    // names a port nothing listens on, so using it would fail the install.
    s.system_config(
        "5.4",
        &format!("rocks_servers = {{ [[{}]] }}\n", repo.server.base),
    );
    let shared = s.dir("shared");
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o1777)).expect("chmod");
    let victim = s.dir("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o700)).expect("chmod");
    let dot = shared.join(".luarocks");
    std::fs::create_dir(&dot).expect("mkdir");
    let config = dot.join("config-5.4.lua");
    std::fs::write(
        &config,
        "rocks_servers = { [[http://127.0.0.1:1/]] }\nhooks_enabled = true\n",
    )
    .expect("config");
    std::os::unix::fs::symlink(&victim, shared.join("lua_modules")).expect("link");
    for planted in [&dot, &config, &shared.join("lua_modules")] {
        std::os::unix::fs::lchown(planted, Some(STRANGER), Some(STRANGER)).expect("chown");
    }
    let job = s.dir("shared/rootjob");

    let out = s
        .cmd(["--lua-version", "5.4", "install", "purelua"])
        .current_dir(&job)
        .output()
        .expect("run");
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert!(out.status.success(), "{stdout}{stderr}");
    assert!(
        stderr.contains(&format!(
            "Warning: ignoring the LuaRocks project at {}: ",
            shared.display()
        )) && stderr.contains(&format!("belongs to uid {STRANGER}, not to you (uid 0)")),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read_dir(&victim).expect("victim").count(),
        0,
        "nothing was written through the planted link"
    );
    assert!(
        s.tmp
            .path()
            .join("system/lib/luarocks/rocks-5.4/purelua")
            .is_dir(),
        "the rock went to root's own tree: {stdout}"
    );

    // Only the link planted: the directory and its config are root's, but
    // the tree is still another user's choice.
    for planted in [&dot, &config] {
        std::os::unix::fs::lchown(planted, Some(0), Some(0)).expect("chown");
    }
    let out = s
        .cmd(["--lua-version", "5.4", "list"])
        .current_dir(&job)
        .output()
        .expect("run");
    assert!(
        text(&out.stderr).contains(&format!(
            "{} belongs to uid {STRANGER}",
            shared.join("lua_modules").display()
        )),
        "{}",
        text(&out.stderr)
    );

    // `--project-tree` is the user's explicit choice and is honoured.
    let mine = s.dir("mine");
    let out = s
        .cmd(["--lua-version", "5.4", "--project-tree"])
        .arg(mine.join("lua_modules"))
        .args(["install", "purelua"])
        .current_dir(&job)
        .output()
        .expect("run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("ignoring the LuaRocks project"));
    assert!(mine
        .join("lua_modules/lib/luarocks/rocks-5.4/purelua")
        .is_dir());
}
