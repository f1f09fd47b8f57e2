//! Plan documents on a real cache (a directory): an install that pushes
//! writes one signed document for its plan; a fresh host installing the
//! same plan learns every build from it (and installs with 0 compiler
//! runs); a document whose entry does not match the realisation it names,
//! or that no trusted key signed, is refused and the host asks rock by
//! rock instead, still with 0 compiler runs.

use std::path::{Path, PathBuf};

use crate::cache::file_engine;
use crate::rocks_server::Repo;
use crate::support::{need, text, Sandbox};

fn counting_cc(dir: &Path) -> PathBuf {
    let cc = dir.join("count-cc");
    std::fs::write(
        &cc,
        "#!/bin/sh\necho \"$@\" >> \"${CC_LOG:-/dev/null}\"\nexec gcc \"$@\"\n",
    )
    .expect("cc");
    std::fs::set_permissions(&cc, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    cc
}

fn compiles(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.lines().filter(|l| l.contains(" -c ")).count())
        .unwrap_or(0)
}

/// The one plan document in the cache.
fn plan_document(cache: &Path) -> PathBuf {
    let plans = cache.join("plan");
    let dirs: Vec<_> = std::fs::read_dir(&plans)
        .unwrap_or_else(|e| panic!("no plan documents in {}: {e}", plans.display()))
        .flatten()
        .collect();
    assert_eq!(dirs.len(), 1, "one plan, one document");
    dirs[0].path().join("ci-1.json")
}

#[test]
fn a_plan_document_gives_the_closure_and_a_forged_one_is_refused() {
    if !need(&["gcc", "lua5.4"]) {
        return;
    }
    let s = Sandbox::new();
    let engine = file_engine(s.tmp.path());
    let repo = Repo::new(s.tmp.path());
    let cc = counting_cc(s.tmp.path());
    let secret = s.tmp.path().join("ci-1.secret");
    let other = s.tmp.path().join("other.secret");
    let mut public = String::new();
    for (file, name) in [(&secret, "ci-1"), (&other, "ci-1")] {
        let out = s
            .bare_cmd()
            .args(["cache", "keygen", name, "--out"])
            .arg(file)
            .output()
            .expect("keygen");
        assert!(out.status.success(), "{}", text(&out.stderr));
        if public.is_empty() {
            public = text(&out.stdout).trim().to_owned();
        }
    }
    let host = |name: &str, push: bool| {
        let log = s.tmp.path().join(format!("{name}-cc.log"));
        let mut cmd = s.bare_cmd();
        cmd.env("CC_LOG", &log)
            .arg("--store")
            .arg(s.tmp.path().join(format!("{name}-store")))
            .arg("--tree")
            .arg(s.tmp.path().join(format!("{name}-tree")))
            .args(["--only-server", &repo.server.base, "--lua-version", "5.4"])
            .args(["install", "appx", "--substituter", &engine.url])
            .args(["--trusted-public-key", &public]);
        if push {
            cmd.args(["--push-to", &engine.url])
                .arg("--secret-key-file")
                .arg(&secret);
        }
        cmd.arg(format!("CC={}", cc.display()));
        let out = cmd.output().expect("install");
        let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
        assert!(out.status.success(), "{name}:\n{said}");
        (said, compiles(&log))
    };
    let (said, built) = host("a", true);
    assert!(built > 0, "{said}");
    let doc_file = plan_document(&engine.root);
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&doc_file).expect("doc")).expect("json");
    let rocks: Vec<&str> = doc["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["rock"].as_str().expect("rock"))
        .collect();
    assert_eq!(
        rocks,
        ["purelua 2.0-1", "cmulti 1.0-1", "appx 1.0-1"],
        "{doc}"
    );

    // A fresh host: the document names every build, nothing compiles.
    let (said, built) = host("b", false);
    assert_eq!(built, 0, "{said}");
    assert!(said.contains("a plan document named 3 build(s)"), "{said}");

    // Signed by the right key, but its last entry names another item.
    let good = std::fs::read(&doc_file).expect("doc");
    let mut forged: rockstore::cache::plan_doc::PlanDoc =
        serde_json::from_slice(&good).expect("doc");
    let last = forged.entries.last_mut().expect("entry");
    last.item = format!("{}{}", "0".repeat(32), &last.item[32..]);
    let key = rockstore::cache::keys::SecretKey::parse(
        std::fs::read_to_string(&secret).expect("key").trim(),
    )
    .expect("key");
    rockstore::cache::plan_doc::sign(&mut forged, &key);
    std::fs::write(&doc_file, serde_json::to_vec_pretty(&forged).expect("json")).expect("forge");
    let (said, built) = host("c", false);
    assert_eq!(built, 0, "{said}");
    assert!(
        said.contains("refusing the plan document") && said.contains("its realisation says"),
        "{said}"
    );
    assert!(!said.contains("a plan document named"), "{said}");

    // The same document signed by an untrusted key of the same name.
    let untrusted = rockstore::cache::keys::SecretKey::parse(
        std::fs::read_to_string(&other).expect("key").trim(),
    )
    .expect("key");
    let mut resigned: rockstore::cache::plan_doc::PlanDoc =
        serde_json::from_slice(&good).expect("doc");
    rockstore::cache::plan_doc::sign(&mut resigned, &untrusted);
    std::fs::write(
        &doc_file,
        serde_json::to_vec_pretty(&resigned).expect("json"),
    )
    .expect("resign");
    let (said, built) = host("d", false);
    assert_eq!(built, 0, "{said}");
    assert!(
        said.contains("refusing the plan document") && said.contains("does not match"),
        "{said}"
    );
}
