//! Builds from bad input: hostile tarballs (escaping paths, links,
//! devices), broken rockspecs and sources each fail with a clear error and
//! leave nothing in the store.

use std::path::Path;

use crate::rocks_server::Repo;
use crate::support::Sandbox;

use crate::build::store_is_clean;

/// A tarball with one raw entry (path bytes as given, bypassing the tar
/// crate's own checks) besides a normal file.
fn hostile_tarball(top: &str, entry: &[u8], kind: tar::EntryType, link: Option<&str>) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        let mut ok = tar::Header::new_gnu();
        ok.set_size(2);
        ok.set_mode(0o644);
        ok.set_cksum();
        tar.append_data(&mut ok, format!("{top}/ok.lua"), &b"--"[..])
            .expect("entry");
        let mut h = tar::Header::new_old();
        h.as_old_mut().name[..entry.len()].copy_from_slice(entry);
        h.set_entry_type(kind);
        h.set_mode(0o644);
        if let Some(target) = link {
            h.as_old_mut().linkname[..target.len()].copy_from_slice(target.as_bytes());
            h.set_size(0);
        } else {
            h.set_size(4);
        }
        h.set_cksum();
        let data: &[u8] = if link.is_some() { b"" } else { b"evil" };
        tar.append(&h, data).expect("raw entry");
        tar.into_inner().expect("tar").finish().expect("gz");
    }
    out
}

#[test]
fn bad_input_is_a_clear_error_and_leaves_nothing() {
    let s = Sandbox::new();
    let repo = Repo::new(s.tmp.path());
    let base = repo.server.base.clone();
    let spec = |name: &str, url: &str, md5: Option<&str>| -> String {
        let path = s.dir("specs").join(format!("{name}-1.0-1.rockspec"));
        let md5 = md5.map(|m| format!(", md5 = \"{m}\"")).unwrap_or_default();
        std::fs::write(
            &path,
            format!(
                "package = \"{name}\"\nversion = \"1.0-1\"\nsource = {{ url = \"{url}\"{md5} }}\n\
                 build = {{ type = \"builtin\", modules = {{ ok = \"ok.lua\" }} }}\n"
            ),
        )
        .expect("spec");
        path.display().to_string()
    };
    let good = std::fs::read(repo.dir.join("purelua-1.0.tar.gz")).expect("tarball");
    std::fs::write(repo.dir.join("trunc-1.0.tar.gz"), &good[..good.len() / 2]).expect("trunc");
    for (name, entry, kind, link) in [
        (
            "dotdot",
            &b"dotdot-1.0/../../escaped.lua"[..],
            tar::EntryType::Regular,
            None,
        ),
        (
            "absolute",
            &b"/tmp/rockstore-absolute.lua"[..],
            tar::EntryType::Regular,
            None,
        ),
        (
            "linkout",
            &b"linkout-1.0/out"[..],
            tar::EntryType::Symlink,
            Some("../../../../etc"),
        ),
    ] {
        let top = format!("{name}-1.0");
        std::fs::write(
            repo.dir.join(format!("{top}.tar.gz")),
            hostile_tarball(&top, entry, kind, link),
        )
        .expect("hostile");
    }
    // Sanity: the unmodified tarball builds, so each failure below is the
    // one case's fault.
    let fine = spec("fine", &format!("{base}/purelua-1.0.tar.gz"), None);
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--only-server".into(),
                format!("{base}/nothing"),
                "build".into(),
                "--no-install".into(),
                "purelua".into(),
            ],
            "no manifest found",
        ),
        (
            vec![
                "--only-server".into(),
                format!("{base}/status/503"),
                "build".into(),
                "--no-install".into(),
                "purelua".into(),
            ],
            "HTTP 503",
        ),
        (
            vec![
                "--timeout".into(),
                "1".into(),
                "--only-server".into(),
                format!("{base}/hang"),
                "build".into(),
                "--no-install".into(),
                "purelua".into(),
            ],
            "did not answer in full within 1 s",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("trunc", &format!("{base}/trunc-1.0.tar.gz"), None),
            ],
            "corrupt or truncated",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec(
                    "badsum",
                    &format!("{base}/purelua-1.0.tar.gz"),
                    Some("0123456789abcdef0123456789abcdef"),
                ),
            ],
            "MD5 check for purelua-1.0.tar.gz has failed",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("dotdot", &format!("{base}/dotdot-1.0.tar.gz"), None),
            ],
            "outside the unpack directory",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("absolute", &format!("{base}/absolute-1.0.tar.gz"), None),
            ],
            "outside the unpack directory",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("linkout", &format!("{base}/linkout-1.0.tar.gz"), None),
            ],
            "points to `../../../../etc`",
        ),
        (
            vec![
                "build".into(),
                "--no-install".into(),
                spec("missing", &format!("{base}/missing-1.0.tar.gz"), None),
            ],
            "was not found (404)",
        ),
        (
            vec![
                "--only-server".into(),
                base.clone(),
                "build".into(),
                "--no-install".into(),
                "cbroken".into(),
            ],
            "compiling cbroken.c",
        ),
        (
            vec![
                "--only-server".into(),
                base.clone(),
                "--lua-version".into(),
                "5.4".into(),
                "build".into(),
                "--no-install".into(),
                "lua".into(),
            ],
            "Rock lua 5.4-1 is already provided by VM",
        ),
        (
            vec![
                "--only-server".into(),
                base.clone(),
                "build".into(),
                "--no-install".into(),
                "nosuchrock".into(),
            ],
            "No results matching query were found for Lua",
        ),
    ];
    for (args, expected) in cases {
        let (_, err) = s.fails(&args);
        assert!(
            err.contains(expected),
            "{args:?}: expected `{expected}` in:\n{err}"
        );
        store_is_clean(&s);
    }
    assert!(!Path::new("/tmp/rockstore-absolute.lua").exists());
    assert!(!s.tmp.path().join("escaped.lua").exists());
    // The same build with a good archive works.
    let fine_spec = std::fs::read_to_string(&fine)
        .expect("spec")
        .replace("ok.lua", "src/purelua/util.lua");
    std::fs::write(&fine, fine_spec).expect("spec");
    s.ok(["build", "--no-install", &fine]);
}
