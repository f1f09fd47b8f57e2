//! Configuration: what `config` shows from LuaRocks' config files and
//! flags, `config KEY VALUE` writing the file its scope names, provided
//! rocks and external-deps directories from config, `hooks` and
//! `hooks_enabled`, and the bare command.

use std::path::Path;

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

use crate::trees::{lua_ok, ok, store_items};

#[test]
fn rocks_provided_in_config_are_never_installed() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let t = s.tmp.path().join("t");
    let config = s.tmp.path().join("config.lua");
    std::fs::write(&config, "rocks_provided = { dmdep = '1.0-1' }\n").expect("config");
    let run = |args: &[&str]| {
        let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
        cmd.arg("--tree")
            .arg(&t)
            .args(args)
            .env("LUAROCKS_CONFIG", &config);
        cmd.output().expect("run")
    };
    let out = run(&["install", "dmtop"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let listed = text(&run(&["list", "--porcelain"]).stdout);
    assert_eq!(listed.lines().count(), 1, "only dmtop: {listed}");
    let out = run(&["install", "dmdep"]);
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("Rock dmdep 1.0-1 is already provided"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn config_shows_what_luarocks_config_files_and_flags_say() {
    let s = Sandbox::new();
    let config = s.tmp.path().join("config.lua");
    std::fs::write(
        &config,
        "rocks_trees = { { name = 'user', root = home .. '/lr' }, { name = 'system', root = '/opt/lr' } }\n\
         deps_mode = 'order'\nvariables = { CFLAGS = '-O3' }\nrocks_servers = { 'http://127.0.0.1:9/repo' }\n",
    )
    .expect("config");
    let run = |args: &[&str]| {
        let out = s
            .cmd(["--lua-version", "5.4"])
            .args(args)
            .env("LUAROCKS_CONFIG", &config)
            .output()
            .expect("config");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    let json: serde_json::Value = serde_json::from_str(&run(&["config", "--json"])).expect("json");
    let home = s.tmp.path().join("home");
    assert_eq!(json["deps_mode"], "order");
    assert_eq!(json["variables"]["CFLAGS"], "-O3");
    assert_eq!(json["rocks_servers"][0], "http://127.0.0.1:9/repo");
    assert_eq!(json["target_tree"], "/opt/lr", "the last tree, as LuaRocks");
    assert_eq!(
        json["config_files"]["user"]["file"],
        config.display().to_string()
    );
    assert_eq!(json["config_files"]["user"]["found"], true);
    // A table is printed as LuaRocks' persist writes it, with no line
    // break after it; a string alone on its line.
    assert_eq!(
        run(&["config", "rocks_trees"]),
        format!(
            "{{\n   {{\n      name = \"user\",\n      root = \"{}/lr\"\n   }},\n   {{\n      name = \"system\",\n      root = \"/opt/lr\"\n   }}\n}}",
            home.display()
        )
    );
    assert_eq!(run(&["config", "rocks_trees[2].root"]), "/opt/lr\n");
    assert_eq!(run(&["config", "variables.CFLAGS"]), "-O3\n");
    assert_eq!(
        run(&["--deps-mode", "all", "config", "deps_mode"]).trim(),
        "all"
    );
    // --local is for users' homes; LuaRocks 3.8 refuses it when $USER is
    // root, whatever the uid, and takes the home tree otherwise.
    let local = |user: Option<&str>| {
        let mut cmd = s.cmd(["--lua-version", "5.4", "--local", "config", "target_tree"]);
        cmd.env("LUAROCKS_CONFIG", &config);
        if let Some(u) = user {
            cmd.env("USER", u);
        }
        cmd.output().expect("config")
    };
    let out = local(Some("root"));
    assert!(!out.status.success());
    assert!(text(&out.stderr).contains("meant for operating in a user's home directory"));
    // `cfg.home_tree`, whatever rocks_trees calls `user` (Debian's
    // luarocks 3.8 answers `--local config deploy_lua_dir` under
    // ~/.luarocks with this config too).
    let out = local(None);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("{}/.luarocks", home.display())
    );
}

/// `config KEY VALUE`, `--unset` and `--scope` against Debian's
/// `luarocks config`, as a script would run them one after another: each
/// tool in its own HOME and system config directory, the same exit code,
/// stdout and files after every step.
#[test]
#[cfg_attr(not(has_luarocks), ignore = "needs luarocks")]
fn config_writes_and_unsets_keys_in_the_file_its_scope_names_as_luarocks() {
    if !need(&["luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let steps: &[&[&str]] = &[
        &["config", "variables.FOO_DIR", "/opt/foo"],
        &["config", "deps_mode", "all", "--scope", "user"],
        &["config", "local_by_default", "false"],
        &["config", "cache_timeout", "120"],
        &["config", "rocks_trees[1].root", "/srv/lr"],
        &["config", "variables.FOO_DIR", "--unset"],
        &["config", "--scope", "system", "variables.BAR", "x y"],
        &["config", "lua_version", "5.1", "--scope", "user"],
        &["config", "--scope", "project", "deps_mode", "one"],
        &["config", "variables.FOO_DIR"],
    ];
    // Per tool, per step: exit code, stdout, stderr, the config files.
    type Step = (Option<i32>, String, String, String);
    let mut seen: Vec<Vec<Step>> = Vec::new();
    for side in ["ours", "theirs"] {
        let base = s.dir(side);
        let home = base.join("home");
        let etc = base.join("etc");
        let work = base.join("work");
        for d in [&home.join(".luarocks"), &etc, &work] {
            std::fs::create_dir_all(d).expect("mkdir");
        }
        std::fs::write(
            home.join(".luarocks/config-5.4.lua"),
            "variables = { CFLAGS = '-O2' }\nrocks_trees = { home .. '/.luarocks' }\n",
        )
        .expect("user config");
        let mut rows = Vec::new();
        for args in steps {
            let mut cmd = if side == "ours" {
                s.cmd::<[&str; 0], &str>([])
            } else {
                s.program("luarocks")
            };
            let out = cmd
                .args(["--lua-version", "5.4"])
                .args(*args)
                .env("HOME", &home)
                .env("LUAROCKS_SYSCONFDIR", &etc)
                .current_dir(&work)
                .output()
                .expect("config");
            let files: String = [
                home.join(".luarocks/config-5.4.lua"),
                home.join(".luarocks/default-lua-version.lua"),
                home.join(".luarocks/config-5.1.lua"),
                etc.join("config-5.4.lua"),
            ]
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap_or_default())
            .collect::<Vec<_>>()
            .join("\n--\n");
            let shown = |t: String| t.replace(&base.display().to_string(), "BASE");
            let code = out.status.code();
            // Only success is compared on stderr's first word: the tools
            // word their errors alike but not letter for letter.
            let err = if code == Some(0) {
                shown(text(&out.stderr))
            } else {
                String::new()
            };
            rows.push((code, shown(text(&out.stdout)), err, shown(files)));
        }
        seen.push(rows);
    }
    for (n, args) in steps.iter().enumerate() {
        if n == 2 {
            // A difference kept: LuaRocks 3.8 writes the file, then
            // crashes printing the boolean with `%q` (exit 99, "Wrote"
            // and nothing more); rockstore writes the same file and says
            // what it wrote.
            assert_eq!(seen[1][n].0, Some(99), "luarocks' crash is as recorded");
            assert_eq!(seen[0][n].0, Some(0));
            assert_eq!(seen[0][n].3, seen[1][n].3, "{args:?}: the same file");
            continue;
        }
        if n == 4 {
            // Another: `rocks_trees[1]` is a string here; LuaRocks crashes
            // indexing it (exit 99), rockstore refuses ("Unknown entry").
            // Neither touches the file.
            assert_eq!(seen[1][n].0, Some(99), "luarocks' crash is as recorded");
            assert_eq!(seen[0][n].0, Some(1));
            assert_eq!(seen[0][n].3, seen[1][n].3, "{args:?}: the same file");
            continue;
        }
        assert_eq!(seen[0][n], seen[1][n], "{args:?}: ours, then luarocks'");
    }
    assert!(
        seen[0][0].3.contains("FOO_DIR = \"/opt/foo\""),
        "{}",
        seen[0][0].3
    );
    assert_eq!(seen[0][8].0, Some(1), "no project: refused");
}

/// `hooks.post_install` runs after the rock is in the tree, in the working
/// directory, with `$(PREFIX)` the rock's directory in the tree, as in
/// Debian's LuaRocks; a failing hook undoes the install; `hooks_enabled =
/// false` refuses the rock before anything is built.
#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn post_install_hooks_run_like_luarocks_and_a_failing_one_is_undone() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let run = |side: &str, tree: &Path, args: &[&str]| {
        let mut cmd = ours_or_luarocks(&s, side);
        cmd.current_dir(s.dir(&format!("work-{side}")))
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(tree)
            .args(args)
            .output()
            .expect("run")
    };
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(format!("tree-{side}"));
        let out = run(side, &tree, &["install", "hooked", "1.0"]);
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let said = std::fs::read_to_string(s.dir(&format!("work-{side}")).join("hook-ran.txt"))
            .expect("the hook ran in the working directory");
        assert_eq!(
            said.trim(),
            tree.join("lib/luarocks/rocks-5.4/hooked/1.0-1")
                .display()
                .to_string(),
            "{side}"
        );
        // 2.0's hook fails: the install is undone, 1.0 is what loads.
        let out = run(side, &tree, &["install", "hooked", "2.0"]);
        assert!(
            !out.status.success(),
            "{side}: a failed hook fails the install"
        );
        assert!(
            text(&out.stdout).contains("hook-of-2.0"),
            "{side}: the hook ran"
        );
        assert_eq!(
            lua_ok(&s, &tree, "print(require('hooked').version)"),
            "1.0",
            "{side}"
        );
    }
    let tree = s.tmp.path().join("tree-ours");
    let out = run("ours", &tree, &["install", "hooked", "2.0"]);
    let err = text(&out.stderr);
    assert!(
        err.contains("Failed running post_install hook of hooked 2.0-1")
            && err.contains("exited with status 3")
            && err.contains("back at generation 1"),
        "{err}"
    );
    let generations: serde_json::Value =
        serde_json::from_str(&ok(&s, &repo, &tree, &["generations", "--json"])).expect("json");
    assert_eq!(
        generations.as_array().map(Vec::len),
        Some(1),
        "the failed generations are gone: {generations}"
    );
    // hooks_enabled = false: refused before any build.
    let config = s.tmp.path().join("no-hooks.lua");
    std::fs::write(&config, "hooks_enabled = false\n").expect("config");
    let before = store_items(&s);
    let fresh = s.tmp.path().join("tree-no-hooks");
    let out = s
        .cmd([
            "--lua-version",
            "5.4",
            "--only-server",
            &repo.server.base,
            "--tree",
        ])
        .arg(&fresh)
        .args(["install", "hooked", "1.0"])
        .env("LUAROCKS_CONFIG", &config)
        .output()
        .expect("run");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("blocked by the 'hooks_enabled' setting"),
        "{}",
        text(&out.stderr)
    );
    assert_eq!(store_items(&s), before, "nothing was built");
    assert!(!fresh.join(".rockstore/current").exists());
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn no_command_prints_help_and_the_configuration_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let home_tree = s.tmp.path().join("home/.luarocks").display().to_string();
    for side in ["ours", "theirs"] {
        let out = ours_or_luarocks(&s, side).output().expect("run");
        assert_eq!(out.status.code(), Some(0), "{side}: {}", text(&out.stderr));
        let printed = text(&out.stdout);
        for wanted in [
            "install",
            "Configuration:",
            "Rocks trees in use:",
            &home_tree,
        ] {
            assert!(
                printed.contains(wanted),
                "{side}: no {wanted:?} in:\n{printed}"
            );
        }
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn external_deps_dirs_from_config_merge_over_the_defaults_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    s.system_config("5.4", "external_deps_dirs = { \"/opt/x\" }\n");
    let ours = text(
        &ours_or_luarocks(&s, "ours")
            .args(["config", "external_deps_dirs"])
            .output()
            .expect("ours")
            .stdout,
    );
    let theirs = text(
        &ours_or_luarocks(&s, "theirs")
            .args(["config", "external_deps_dirs"])
            .output()
            .expect("theirs")
            .stdout,
    );
    // Both print the Lua table, byte for byte.
    assert_eq!(ours, theirs);
    let listed: Vec<&str> = theirs.split('"').skip(1).step_by(2).collect();
    assert_eq!(listed, ["/opt/x", "/usr", "/"]);
}
