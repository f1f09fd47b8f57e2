//! `--local` as LuaRocks 3.8 decides it (issue 28): refused only when
//! `$USER` is `root`, whatever the uid, and then before anything is
//! created (no store, no tree); without `$USER` (a Dockerfile's `RUN`)
//! the home tree is used. Debian's `luarocks` is asked the same.

use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

const REFUSAL: &str = "The --local flag is meant for operating in a user's home directory.";

#[test]
fn local_is_refused_only_when_user_is_root_and_a_refused_command_creates_nothing() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let home = s.tmp.path().join("home");
    // The default store is pointed into the sandbox, so a regression could
    // never write the machine's own.
    let store = s.tmp.path().join("default-store");
    let run = |user: Option<&str>| {
        let mut cmd = s.bare_cmd();
        cmd.env("ROCKSTORE_STORE", &store);
        if let Some(u) = user {
            cmd.env("USER", u);
        }
        cmd.args(["--lua-version", "5.4", "--only-server", &repo.server.base])
            .args(["--local", "install", "purelua", "1.0-1"])
            .output()
            .expect("rockstore")
    };

    let out = run(Some("root"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains(REFUSAL), "{}", text(&out.stderr));
    assert!(!store.exists(), "a refused command creates no store");
    assert!(!home.join(".luarocks").exists(), "nor a tree");
    assert!(!home.join(".local/share/rockstore").exists());
    assert!(!home.join(".cache/rockstore").exists());

    if need(&["luarocks"]) {
        let out = s
            .program("luarocks")
            .env("USER", "root")
            .args(["--lua-version", "5.4", "--only-server", &repo.server.base])
            .args(["--local", "install", "purelua", "1.0-1"])
            .output()
            .expect("luarocks");
        assert!(!out.status.success());
        assert!(text(&out.stderr).contains(REFUSAL), "{}", text(&out.stderr));
    }

    // No $USER (Docker's RUN), whatever the uid: the home tree.
    let out = run(None);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let tree = home.join(".luarocks");
    assert!(tree.join("share/lua/5.4/purelua/init.lua").exists());
    let code = format!(
        "package.path='{t}/share/lua/5.4/?.lua;{t}/share/lua/5.4/?/init.lua;'..package.path print(require('purelua').version)",
        t = tree.display()
    );
    let lua = s
        .program("lua5.4")
        .args(["-e", &code])
        .output()
        .expect("lua");
    assert_eq!(text(&lua.stdout).trim(), "1.0", "{}", text(&lua.stderr));

    // Another $USER, even as uid 0: the home tree too.
    let out = run(Some("builder"));
    assert!(out.status.success(), "{}", text(&out.stderr));
}
