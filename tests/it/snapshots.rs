//! Snapshots of our own contracts (insta): every command's `--help`, and
//! the error messages a user meets most. A change to either shows up as a
//! snapshot diff to review, not as a silent drift. Paths, ports and item
//! hashes differ per run and are written `TMP`, `SERVER` and `HASH`; the
//! checkout's own directory `PROJECT`.
//!
//! To accept a reviewed change: `INSTA_UPDATE=always cargo test --test it
//! snapshots::`, then read the diff in `tests/it/snapshots/`.

use crate::rocks_server::Repo;
use crate::support::{bin, text, Sandbox};

/// The subcommands `rockstore [GROUP] --help` lists.
fn subcommands(group: &[&str]) -> Vec<String> {
    let out = std::process::Command::new(bin())
        .args(group)
        .arg("--help")
        .output()
        .expect("help");
    assert!(out.status.success());
    let help = text(&out.stdout);
    let Some((_, listing)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    listing
        .lines()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

fn help_of(words: &[&str]) -> String {
    let out = std::process::Command::new(bin())
        .env_clear()
        .args(words)
        .arg("--help")
        .output()
        .expect("help");
    assert!(out.status.success(), "{words:?}: {}", text(&out.stderr));
    text(&out.stdout)
}

#[test]
fn every_commands_help() {
    let top = subcommands(&[]);
    assert!(top.len() > 30, "{top:?}");
    insta::assert_snapshot!("help", help_of(&[]));
    for command in &top {
        insta::assert_snapshot!(format!("help-{command}"), help_of(&[command]));
        for sub in subcommands(&[command]) {
            insta::assert_snapshot!(format!("help-{command}-{sub}"), help_of(&[command, &sub]));
        }
    }
}

/// `s` with the sandbox, the server and item hashes made stable.
fn stable(s: &str, sandbox: &Sandbox, server: &str) -> String {
    let tmp = sandbox.tmp.path().display().to_string();
    let project = crate::support::project_dir().display().to_string();
    let s = s
        .replace(server, "SERVER")
        .replace(&tmp, "TMP")
        .replace(&project, "PROJECT");
    let mut out = String::with_capacity(s.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        match word.split_once('-') {
            Some((hash, rest))
                if hash.len() == 32
                    && hash
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit()) =>
            {
                out.push_str("HASH-");
                out.push_str(rest);
            }
            _ => out.push_str(word),
        }
        word.clear();
    };
    for c in s.chars() {
        if c.is_whitespace() || c == '/' || c == '`' || c == '\'' {
            flush(&mut word, &mut out);
            out.push(c);
        } else {
            word.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}

#[test]
fn error_messages() {
    let s = Sandbox::new();
    let repo = Repo::new(&s.dir("server"));
    let server = repo.server.base.clone();
    let tree = s.dir("tree").display().to_string();
    let specs = crate::support::project_dir().join("integration/rockspecs");
    // Copied under the sandbox: Lua shortens a long chunk name with
    // "...", so where the checkout lives must not show in the message.
    let copies = s.dir("specs");
    let spec = |name: &str| {
        std::fs::copy(specs.join(name), copies.join(name)).expect("copy rockspec");
        copies.join(name).display().to_string()
    };
    // A tree with dmtop (and its dependency dmdep) installed.
    s.ok([
        "--only-server",
        &server,
        "--lua-version",
        "5.4",
        "--tree",
        &tree,
        "install",
        "dmtop",
    ]);
    let fresh = s.dir("fresh").display().to_string();
    let words = |ws: &[&str]| ws.iter().map(|w| (*w).to_owned()).collect::<Vec<String>>();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("install-no-such-rock", words(&["install", "nosuchrock"])),
        ("build-no-such-rock", words(&["build", "nosuchrock"])),
        (
            "install-unknown-version",
            words(&["install", "purelua", "9.9"]),
        ),
        ("remove-not-installed", words(&["remove", "purelua"])),
        ("remove-needed", words(&["remove", "dmdep"])),
        (
            "rockspec-syntax",
            words(&["rockspec", &spec("bad-syntax-1.0-1.rockspec")]),
        ),
        (
            "rockspec-no-package",
            words(&["rockspec", &spec("bad-nopackage-1.0-1.rockspec")]),
        ),
        (
            "rockspec-bad-operator",
            words(&["rockspec", &spec("bad-operator-1.0-1.rockspec")]),
        ),
        (
            "switch-to-missing-generation",
            words(&["switch-generation", "99"]),
        ),
        ("unknown-command", words(&["frobnicate"])),
        ("bad-deps-mode", words(&["--deps-mode", "some", "list"])),
        ("c-compile-error", words(&["install", "cbroken"])),
        ("show-not-installed", words(&["show", "purelua"])),
    ];
    for (name, args) in cases {
        let mut all = vec![
            "--only-server".to_owned(),
            server.clone(),
            "--lua-version".into(),
            "5.4".into(),
            "--tree".into(),
            tree.clone(),
        ];
        all.extend(args);
        let (_, err) = s.fails(&all);
        insta::assert_snapshot!(format!("error-{name}"), stable(&err, &s, &server));
    }
    // Rollback with nothing to go back to.
    let (_, err) = s.fails(["--tree", &fresh, "rollback"]);
    insta::assert_snapshot!("error-rollback-fresh-tree", stable(&err, &s, &server));
}
