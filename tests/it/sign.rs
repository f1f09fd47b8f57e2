//! Signing rocks with gpg (`--sign`), in the test's own GNUPGHOME.

use std::path::Path;

use crate::rocks_server::Repo;
use crate::support::{need, ours_or_luarocks, text, Sandbox};

/// `build --pack-binary-rock --sign` writes `<rock>.asc` with gpg, as
/// LuaRocks does; the signature verifies against the rock; `--sign` alone
/// is refused with LuaRocks' words. The key lives in the test's own
/// GNUPGHOME.
#[test]
#[cfg_attr(
    not(all(has_lua5_4, has_luarocks, has_gpg)),
    ignore = "needs lua5.4, luarocks, gpg"
)]
fn build_sign_signs_the_packed_rock_with_gpg_as_luarocks() {
    if !need(&["lua5.4", "luarocks", "gpg"]) {
        return;
    }
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let gnupg = s.dir("gnupg");
    std::fs::set_permissions(&gnupg, std::os::unix::fs::PermissionsExt::from_mode(0o700))
        .expect("chmod");
    let gpg = |args: &[&str]| {
        s.program("gpg")
            .env("GNUPGHOME", &gnupg)
            .args(["--batch", "--pinentry-mode", "loopback", "--passphrase", ""])
            .args(args)
            .output()
            .expect("gpg")
    };
    let made = gpg(&[
        "--quick-gen-key",
        "Rock Signer <signer@example.invalid>",
        "default",
        "default",
        "never",
    ]);
    assert!(made.status.success(), "{}", text(&made.stderr));
    let mut signed = Vec::new();
    for side in ["ours", "theirs"] {
        let work = s.dir(&format!("sign-{side}"));
        let out = ours_or_luarocks(&s, side)
            .env("GNUPGHOME", &gnupg)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(s.tmp.path().join(format!("tree-{side}")))
            .args(["build", "purelua", "1.0-1", "--pack-binary-rock", "--sign"])
            .current_dir(&work)
            .output()
            .expect("build --sign");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        let mut files: Vec<String> = std::fs::read_dir(&work)
            .expect("work")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        let rock = work.join("purelua-1.0-1.all.rock");
        let out = s
            .program("gpg")
            .env("GNUPGHOME", &gnupg)
            .arg("--verify")
            .arg(work.join("purelua-1.0-1.all.rock.asc"))
            .arg(&rock)
            .output()
            .expect("gpg --verify");
        assert!(out.status.success(), "{side}: {}", text(&out.stderr));
        signed.push(files);
    }
    assert_eq!(signed[0], signed[1]);
    assert_eq!(
        signed[0],
        ["purelua-1.0-1.all.rock", "purelua-1.0-1.all.rock.asc"]
    );
    // `pack --sign` of an installed rock.
    let tree = s.tmp.path().join("tree-pack");
    let work = s.dir("pack-sign");
    for args in [
        &["install", "purelua", "1.0-1"][..],
        &["pack", "--sign", "purelua", "1.0-1"],
    ] {
        let out = ours_or_luarocks(&s, "ours")
            .env("GNUPGHOME", &gnupg)
            .args(["--only-server", &repo.server.base, "--tree"])
            .arg(&tree)
            .args(args)
            .current_dir(&work)
            .output()
            .expect("pack --sign");
        assert!(out.status.success(), "{args:?}: {}", text(&out.stderr));
    }
    let packed = std::fs::read_dir(&work)
        .expect("work")
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "rock"))
        .expect("a rock");
    let mut sig = packed.clone().into_os_string();
    sig.push(".asc");
    let out = s
        .program("gpg")
        .env("GNUPGHOME", &gnupg)
        .arg("--verify")
        .arg(&sig)
        .arg(&packed)
        .output()
        .expect("gpg --verify");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = ours_or_luarocks(&s, "ours")
        .args([
            "--only-server",
            &repo.server.base,
            "build",
            "purelua",
            "--sign",
        ])
        .output()
        .expect("build --sign alone");
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("--sign is meant to be used only with --pack-binary-rock"),
        "{}",
        text(&out.stderr)
    );
    // --verify: a rockspec signed on the server installs; one with no
    // signature, a signature of other bytes, or a signed rock with
    // unsigned dependencies is refused before anything is installed, by
    // both tools.
    // `FILE.asc`, as `luarocks --sign` writes it.
    let sign = |file: &Path| {
        let signed = gpg(&[
            "--armor",
            "--output",
            &format!("{}.asc", file.display()),
            "--detach-sign",
            &file.display().to_string(),
        ]);
        assert!(signed.status.success(), "{}", text(&signed.stderr));
    };
    let spec = repo.dir.join("purelua-1.0-1.rockspec");
    sign(&spec);
    std::fs::copy(
        format!("{}.asc", spec.display()),
        repo.dir.join("dmdep-1.0-1.rockspec.asc"),
    )
    .expect("a signature of other bytes");
    // appx is signed, its dependencies are not: they are checked too.
    sign(&repo.dir.join("appx-1.0-1.rockspec"));
    for (rock, good) in [("purelua", true), ("dmdep", false), ("appx", false)] {
        for side in ["ours", "theirs"] {
            let tree = s.tmp.path().join(format!("verify-{rock}-{side}"));
            let out = ours_or_luarocks(&s, side)
                .env("GNUPGHOME", &gnupg)
                .args(["--only-server", &repo.server.base, "--tree"])
                .arg(&tree)
                .args(["install", "--verify", rock])
                .args(if rock == "purelua" {
                    &["1.0-1"][..]
                } else {
                    &[]
                })
                .output()
                .expect("install --verify");
            assert_eq!(
                out.status.success(),
                good,
                "{side} {rock}: {}",
                text(&out.stderr)
            );
            let installed = tree.join("lib/luarocks/rocks-5.4").join(rock).is_dir();
            assert_eq!(installed, good, "{side} {rock}");
            if side == "ours" && !good {
                assert!(
                    text(&out.stderr).contains("signature not verified"),
                    "{}",
                    text(&out.stderr)
                );
            }
        }
    }
    let _ = s
        .program("gpgconf")
        .env("GNUPGHOME", &gnupg)
        .args(["--kill", "gpg-agent"])
        .status();
}
