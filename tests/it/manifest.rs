//! Tree manifests written by rockstore, read by Debian's LuaRocks: `luarocks
//! list` sees the rocks, and `luarocks.loader` resolves modules through it.

use std::path::Path;

use rockstore::manifest::{InstalledRock, TreeManifest};
use rockstore::rockspec::Dependency;

use crate::support::{luarocks_oracle, text, Sandbox};

fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    std::fs::write(path, body).expect("write");
}

#[test]
fn luarocks_and_its_loader_read_our_tree_manifest() {
    let Some(_) = luarocks_oracle() else { return };
    let sandbox = Sandbox::new();
    let tree = sandbox.dir("tree");
    write(
        &tree.join("share/lua/5.4/alpha.lua"),
        "return { name = 'alpha' }\n",
    );
    write(
        &tree.join("share/lua/5.4/beta.lua"),
        "local a = require('alpha') return { name = 'beta+' .. a.name }\n",
    );
    for (rock, version) in [("alpha", "1.0-1"), ("beta", "2.0-1"), ("alpha", "0.9-1")] {
        write(
            &tree.join(format!(
                "lib/luarocks/rocks-5.4/{rock}/{version}/rock_manifest"
            )),
            "rock_manifest = {}\n",
        );
    }
    let manifest = TreeManifest {
        rocks: vec![
            InstalledRock {
                name: "beta".into(),
                version: "2.0-1".into(),
                modules: [("beta".to_owned(), "beta.lua".to_owned())].into(),
                commands: [("beta-cli".to_owned(), "beta-cli".to_owned())].into(),
                dependencies: vec![
                    Dependency::parse("lua >= 5.1").expect("dep"),
                    Dependency::parse("alpha ~> 1").expect("dep"),
                ],
                resolved: [("alpha".to_owned(), "1.0-1".to_owned())].into(),
                met_elsewhere: Vec::new(),
            },
            InstalledRock {
                name: "alpha".into(),
                version: "1.0-1".into(),
                modules: [("alpha".to_owned(), "alpha.lua".to_owned())].into(),
                ..InstalledRock::default()
            },
            InstalledRock {
                name: "alpha".into(),
                version: "0.9-1".into(),
                modules: [("alpha".to_owned(), "alpha_0_9_1-alpha.lua".to_owned())].into(),
                ..InstalledRock::default()
            },
        ],
    };
    write(
        &tree.join("lib/luarocks/rocks-5.4/manifest"),
        &manifest.render(),
    );

    let config = sandbox.dir("cfg").join("config-5.4.lua");
    std::fs::write(
        &config,
        format!("rocks_trees = {{ {:?} }}\n", tree.display().to_string()),
    )
    .expect("config");
    let luarocks = |args: &[&str]| {
        let out = sandbox
            .program("luarocks")
            .env("LUAROCKS_CONFIG", &config)
            .args(["--lua-version", "5.4", "--tree"])
            .arg(&tree)
            .args(args)
            .output()
            .expect("luarocks");
        assert!(
            out.status.success(),
            "luarocks {args:?}: {}",
            text(&out.stderr)
        );
        text(&out.stdout)
    };
    let listed = luarocks(&["list", "--porcelain"]);
    let rows: Vec<Vec<&str>> = listed
        .lines()
        .map(|l| l.split('\t').take(3).collect())
        .collect();
    assert_eq!(
        rows,
        [
            vec!["alpha", "1.0-1", "installed"],
            vec!["alpha", "0.9-1", "installed"],
            vec!["beta", "2.0-1", "installed"]
        ],
        "{listed}"
    );

    let script = format!(
        "package.path = {:?} .. ';' .. package.path
         local loader = require('luarocks.loader')
         local beta = require('beta')
         print(beta.name, loader.which('beta'), loader.which('alpha'))",
        format!("{}/share/lua/5.4/?.lua", tree.display())
    );
    let out = sandbox
        .program("lua5.4")
        .env("LUAROCKS_CONFIG", &config)
        .args(["-e", &script])
        .output()
        .expect("lua");
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    assert!(stdout.starts_with("beta+alpha\t"), "{stdout}");
    assert!(
        stdout.contains("share/lua/5.4/beta.lua") && stdout.contains("share/lua/5.4/alpha.lua"),
        "{stdout}"
    );
}
