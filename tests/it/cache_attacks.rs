//! Attacks on a cache by someone who can write its storage but holds no
//! signing key, on real engines (a directory, nginx): a `copy --from`
//! fetch that a zstd bomb and a lying item document would make stage
//! gigabytes, and a LuaRocks view with planted, tampered and
//! hostile-indexed rocks, read back by Debian's stock `luarocks` 3.8.

use std::io::Write;
use std::path::Path;

use rockstore::store::content_hash::ContentHash;
use rockstore::store::item_name::ItemName;

use crate::cache::file_engine;
use crate::support::{need, text, Sandbox};

/// Plants, in the cache at `root`, an item document for `name 1.0-1` that
/// claims `size` bytes and a blob made of `write`'s bytes, compressed as
/// a push compresses (level 3). Returns the item's name.
fn plant_item(root: &Path, name: &str, size: u64, write: impl Fn(&mut dyn Write)) -> String {
    // Any hash: the fetch must stop long before it could check one.
    let hash = ContentHash(*blake3::hash(name.as_bytes()).as_bytes());
    let item = ItemName::new(&hash, name, "1.0-1").expect("name");
    let hex = hash.to_hex();
    let blob = root.join(format!("blob/{}/{hex}.zst", &hex[..2]));
    std::fs::create_dir_all(blob.parent().expect("dir")).expect("blob dir");
    let file = std::fs::File::create(&blob).expect("blob");
    let mut encoder = zstd::stream::write::Encoder::new(file, 3).expect("zstd");
    write(&mut encoder);
    encoder.finish().expect("finish");
    let blob_size = std::fs::metadata(&blob).expect("blob").len();
    std::fs::create_dir_all(root.join("item")).expect("item dir");
    std::fs::write(
        root.join(format!("item/{}.json", item.as_str())),
        serde_json::to_vec_pretty(&serde_json::json!({
            "hash": format!("blake3:{hex}"), "name": name, "version": "1.0-1",
            "size": size, "blob_size": blob_size,
        }))
        .expect("json"),
    )
    .expect("item doc");
    std::fs::write(root.join("rockstore-cache-info"), "rockstore cache 1\n").expect("info");
    item.as_str().to_owned()
}

/// `copy --from` of `item` under a file size limit of 512 MiB (so a
/// fetch that did not stop would be killed by SIGXFSZ, not fill the
/// disk), with its own TMPDIR; returns (success, stderr, TMPDIR).
fn fetch(s: &Sandbox, url: &str, item: &str, extra: &[&str]) -> (bool, String, Vec<String>) {
    let tmpdir = s.dir("fetch-tmp");
    let out = s
        .program("prlimit")
        .arg(format!("--fsize={}", 512u64 << 20))
        .arg("--")
        .arg(crate::support::bin())
        .env("TMPDIR", &tmpdir)
        .arg("--store")
        .arg(s.store())
        .args(["copy", "--from", url, item])
        .args(extra)
        .output()
        .expect("prlimit");
    let left: Vec<String> = std::fs::read_dir(&tmpdir)
        .expect("tmpdir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    (out.status.success(), text(&out.stderr), left)
}

/// A 30 KB blob of 768 MiB of zeros under a document claiming 10 GB:
/// the fetch stops at the ratio bound (64 MiB staged, not 768 MiB, not
/// 10 GB), names the cache and the item, and leaves nothing behind.
#[test]
fn a_zstd_bomb_under_a_lying_document_stops_at_the_ratio_bound() {
    if !need(&["prlimit"]) {
        return;
    }
    let s = Sandbox::new();
    let engine = file_engine(s.tmp.path());
    let zeros = vec![0u8; 1 << 20];
    let item = plant_item(&engine.root, "bomb", 10_000_000_000, |w| {
        for _ in 0..768 {
            w.write_all(&zeros).expect("write");
        }
    });
    let (ok, said, left) = fetch(&s, &engine.url, &item, &[]);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&engine.url) && said.contains(&item) && said.contains("zstd bomb"),
        "{said}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
    let listed = text(&s.cmd(["store", "ls"]).output().expect("ls").stdout);
    assert!(!listed.contains("bomb"), "{listed}");
}

/// A blob that compresses barely (it is pseudo-random) and unpacks to
/// 3 MiB, under a document claiming 10 GB: `--max-item-size 1M` stops
/// it, whatever the document says.
#[test]
fn the_size_bound_is_the_users_not_the_documents() {
    if !need(&["prlimit"]) {
        return;
    }
    let s = Sandbox::new();
    let engine = file_engine(s.tmp.path());
    let item = plant_item(&engine.root, "noise", 10_000_000_000, |w| {
        // xorshift64: incompressible enough, and the same every run.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut block = Vec::with_capacity(3 << 20);
        while block.len() < 3 << 20 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            block.extend_from_slice(&x.to_le_bytes());
        }
        w.write_all(&block).expect("write");
    });
    let (ok, said, left) = fetch(&s, &engine.url, &item, &["--max-item-size", "1M"]);
    assert!(!ok, "{said}");
    assert!(
        said.contains(&engine.url) && said.contains(&item) && said.contains("--max-item-size"),
        "{said}"
    );
    assert!(left.is_empty(), "left behind: {left:?}");
}
