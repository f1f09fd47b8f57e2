//! Commands that read a tree or the servers and print: `show`, `list
//! --outdated`, `doc`, `pack NAME`, `path --append`, `--check-lua-versions`,
//! completion scripts, and printing to a closed pipe or a full disk.

use std::path::PathBuf;

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

use crate::trees::{ok, side_ok};

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn printing_commands_exit_quietly_on_a_closed_pipe_and_fail_on_a_full_disk() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    ok(&s, &repo, &tree, &["install", "purelua", "1.0"]);
    let commands: &[&[&str]] = &[
        &["list"],
        &["list", "--porcelain"],
        &["show", "purelua"],
        &["path"],
        &["generations"],
        &["config"],
        &["search", "purelua"],
        &["which", "purelua"],
        &["store", "ls"],
    ];
    for args in commands {
        let command = |stdout: std::process::Stdio| {
            let mut cmd = s.cmd(["--only-server", &repo.server.base, "--lua-version", "5.4"]);
            cmd.arg("--tree").arg(&tree).args(*args).stdout(stdout);
            cmd.output().expect("run")
        };
        // A reader that is gone before the first byte: every write fails.
        let (reader, writer) = rustix::pipe::pipe().expect("pipe");
        drop(reader);
        let out = command(std::process::Stdio::from(writer));
        assert_eq!(
            out.status.code(),
            Some(0),
            "{args:?} on a closed pipe: {}",
            text(&out.stderr)
        );
        assert!(
            !text(&out.stderr).contains("panicked"),
            "{}",
            text(&out.stderr)
        );
        let full = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/full")
            .expect("/dev/full");
        let out = command(std::process::Stdio::from(full));
        assert_eq!(out.status.code(), Some(1), "{args:?} on /dev/full");
        assert!(
            text(&out.stderr).contains("cannot write to standard output: No space left"),
            "{args:?}: {}",
            text(&out.stderr)
        );
    }
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_luarocks)),
    ignore = "needs lua5.4, gcc, luarocks"
)]
fn show_flags_and_version_print_what_luarocks_prints() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        for rock in [&["purelua", "1.0"][..], &["purelua", "2.0"], &["appx"]] {
            side_ok(
                &s,
                &repo,
                side,
                &tree,
                &[&["install", "--keep"][..], rock].concat(),
            );
        }
    }
    let flags = [
        "--home",
        "--modules",
        "--deps",
        "--build-deps",
        "--test-deps",
        "--rockspec",
        "--mversion",
        "--rock-tree",
        "--rock-namespace",
        "--rock-dir",
        "--rock-license",
        "--issues",
        "--labels",
    ];
    for rock in [
        &["appx"][..],
        &["cmulti"],
        &["purelua", "1.0"],
        &["purelua"],
    ] {
        for flag in flags {
            let shown = |side: &str| {
                let tree = s.tmp.path().join(side);
                let out = ours_or_luarocks(&s, side)
                    .arg("--tree")
                    .arg(&tree)
                    .arg("show")
                    .args(rock)
                    .arg(flag)
                    .output()
                    .expect("show");
                assert!(out.status.success(), "{side}: {}", text(&out.stderr));
                // The trees differ only by their own path.
                text(&out.stdout).replace(&tree.display().to_string(), "TREE")
            };
            assert_eq!(shown("ours"), shown("theirs"), "show {rock:?} {flag}");
        }
    }
    // The whole page, plain and porcelain.
    for rock in [
        &["appx"][..],
        &["cmulti"],
        &["purelua", "1.0"],
        &["purelua"],
    ] {
        for flags in [&[][..], &["--porcelain"]] {
            let shown = |side: &str| {
                let tree = s.tmp.path().join(side);
                let out = ours_or_luarocks(&s, side)
                    .arg("--tree")
                    .arg(&tree)
                    .arg("show")
                    .args(rock)
                    .args(flags)
                    .output()
                    .expect("show");
                assert!(out.status.success(), "{side}: {}", text(&out.stderr));
                text(&out.stdout).replace(&tree.display().to_string(), "TREE")
            };
            assert_eq!(shown("ours"), shown("theirs"), "show {rock:?} {flags:?}");
        }
    }
}

#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_gcc, has_luarocks)),
    ignore = "needs lua5.4, gcc, luarocks"
)]
fn list_outdated_and_a_version_filter_as_luarocks() {
    if !need(&["lua5.4", "gcc", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        for rock in [&["upg", "1.0"][..], &["cmulti"], &["purelua", "1.0"]] {
            side_ok(&s, &repo, side, &tree, &[&["install"][..], rock].concat());
        }
    }
    for args in [
        &["list", "--outdated"][..],
        &["list", "--outdated", "--porcelain"],
        &["list", "purelua", "1.0", "--porcelain"],
        &["list", "purelua", "2.0", "--porcelain"],
    ] {
        let shown = |side: &str| {
            let tree = s.tmp.path().join(side);
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &repo.server.base, "--tree"])
                .arg(&tree)
                .args(args)
                .output()
                .expect("list");
            assert!(out.status.success(), "{side}: {}", text(&out.stderr));
            text(&out.stdout).replace(&tree.display().to_string(), "TREE")
        };
        let ours = shown("ours");
        assert_eq!(ours, shown("theirs"), "{args:?}");
        if args.contains(&"--outdated") {
            assert!(ours.contains("upg") && ours.contains("purelua"), "{ours}");
            assert!(!ours.contains("cmulti"), "{ours}");
        }
    }
}

#[test]
#[cfg_attr(not(has_lua5_4), ignore = "needs lua5.4")]
fn path_append_puts_the_trees_after_luas_own_paths() {
    if !need(&["lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let tree = s.tmp.path().join("tree");
    ok(&s, &repo, &tree, &["install", "purelua", "1.0"]);
    let script = format!(
        "eval \"$('{}' --store '{}' --lua-version 5.4 --tree '{}' path --append)\" && \
         exec lua5.4 -e \"print(require('purelua').version) print(package.path:find('{}', 1, true) > 1)\"",
        crate::support::bin(),
        s.store().display(),
        tree.display(),
        tree.display()
    );
    let out = s.program("sh").args(["-c", &script]).output().expect("sh");
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "1.0\ntrue\n",
        "the tree loads, after Lua's own paths"
    );
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn pack_name_version_packs_the_installed_rock_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let mut packed = Vec::new();
    for side in ["ours", "theirs"] {
        let tree = s.tmp.path().join(side);
        for version in ["1.0", "2.0"] {
            side_ok(
                &s,
                &repo,
                side,
                &tree,
                &["install", "--keep", "purelua", version],
            );
        }
        let dir = s.dir(&format!("pack-{side}"));
        let out = ours_or_luarocks(&s, side)
            .arg("--tree")
            .arg(&tree)
            .args(["pack", "purelua", "1.0-1"])
            .current_dir(&dir)
            .output()
            .expect("pack");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let rock = dir.join("purelua-1.0-1.all.rock");
        let file = std::fs::File::open(&rock).unwrap_or_else(|e| panic!("{side}: {e}"));
        let mut zip = zip::ZipArchive::new(file).expect("zip");
        let mut names: Vec<String> = (0..zip.len())
            .map(|i| zip.by_index(i).expect("entry").name().to_owned())
            .filter(|n| !n.ends_with('/'))
            .collect();
        names.sort();
        let rockspec = {
            let mut entry = zip.by_name("purelua-1.0-1.rockspec").expect("rockspec");
            let mut text = String::new();
            std::io::Read::read_to_string(&mut entry, &mut text).expect("read");
            text
        };
        assert!(
            rockspec.contains("version = \"1.0-1\""),
            "{side}: {rockspec}"
        );
        packed.push(names);
    }
    assert_eq!(packed[0], packed[1], "the same files in both rocks");
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn check_lua_versions_reports_what_other_luas_offer_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    // A server whose only rock is for Lua 5.1.
    let dir = s.dir("lua51-only");
    std::fs::write(
        dir.join("manifest-5.4"),
        "commands = {}\nmodules = {}\nrepository = {}\n",
    )
    .expect("manifest");
    std::fs::write(
        dir.join("manifest-5.1"),
        "commands = {}\nmodules = {}\nrepository = { only51 = { ['1.0-1'] = { { arch = 'rockspec' } } } }\n",
    )
    .expect("manifest");
    let server = crate::rocks_server::HttpServer::start(dir);
    for (flag, line) in [
        (
            Some("--check-lua-versions"),
            "only51 supports only Lua 5.1 but not Lua 5.4.",
        ),
        (
            None,
            "To check if it is available for other Lua versions, use --check-lua-versions.",
        ),
    ] {
        let mut stdouts = Vec::new();
        for side in ["ours", "theirs"] {
            let tree = s.tmp.path().join(format!("t-{side}"));
            let out = ours_or_luarocks(&s, side)
                .args(["--only-server", &server.base, "--tree"])
                .arg(&tree)
                .args(["install", "only51"])
                .args(flag)
                .output()
                .expect("run");
            assert_eq!(out.status.code(), Some(1), "{side} {flag:?}");
            let err = text(&out.stderr);
            assert!(err.contains(line), "{side} {flag:?}: {err}");
            stdouts.push(text(&out.stdout));
        }
        assert_eq!(
            stdouts[0], stdouts[1],
            "{flag:?}: what each prints on stdout"
        );
    }
}

#[test]
#[cfg_attr(not(all(has_lua5_4, has_luarocks)), ignore = "needs lua5.4, luarocks")]
fn doc_lists_and_shows_docs_as_luarocks() {
    if !need(&["lua5.4", "luarocks"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let trees: Vec<PathBuf> = ["ours", "theirs"]
        .iter()
        .map(|side| {
            let tree = s.tmp.path().join(format!("doc-{side}"));
            side_ok(&s, &repo, side, &tree, &["install", "purelua"]);
            tree
        })
        .collect();
    for args in [
        &["doc", "purelua", "--list"][..],
        &["doc", "purelua", "--list", "--porcelain"],
        &["doc", "purelua"],
        &["doc", "purelua", "--home"],
        &["doc", "nosuchrock"],
    ] {
        let mut seen = Vec::new();
        for (side, tree) in ["ours", "theirs"].iter().zip(&trees) {
            let out = ours_or_luarocks(&s, side)
                .arg("--tree")
                .arg(tree)
                .args(args)
                .output()
                .expect("doc");
            // Each side names its own tree; the rest must agree.
            let stdout = text(&out.stdout).replace(&tree.display().to_string(), "TREE");
            seen.push((out.status.code(), stdout));
        }
        assert_eq!(seen[0], seen[1], "{args:?}");
    }
}

#[test]
fn completion_scripts_complete_commands_and_flags() {
    let s = Sandbox::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = s
            .bare_cmd()
            .args(["completion", shell])
            .output()
            .expect("completion");
        assert!(out.status.success(), "{shell}: {}", text(&out.stderr));
        assert!(text(&out.stdout).contains("install"), "{shell}");
    }
    if !need(&["bash"]) {
        return;
    }
    // Sourced in bash, the script completes a command and an install flag.
    let complete = |words: &str| {
        let script = format!(
            "source <('{}' completion bash); COMP_WORDS=({words}); COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 )); \
             _rockstore rockstore \"${{COMP_WORDS[-1]}}\" \"${{COMP_WORDS[-2]}}\"; echo \"${{COMPREPLY[@]}}\"",
            crate::support::bin()
        );
        let out = s
            .program("bash")
            .args(["-c", &script])
            .output()
            .expect("bash");
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };
    assert_eq!(complete("rockstore ins").trim(), "install");
    assert!(complete("rockstore install --dry").contains("--dry-run"));
}
