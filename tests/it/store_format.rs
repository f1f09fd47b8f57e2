//! Checks every vector under store-format/v1/vectors against the real
//! implementation: tree streams and hashes (through `rockstore store add`),
//! name rules, and record bytes. `ROCKSTORE_BLESS=1` rewrites them.

use std::path::{Path, PathBuf};

use rockstore::store::canonical;
use rockstore::store::db::{
    self, ItemRecord, Realisation, SourceRecord, TreeRegistration, TreeRoots,
};
use rockstore::store::item_name::PathComponent;

use crate::support::{build_tree, parse_tree_spec, unescape, Sandbox};

fn vectors() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("store-format/v1/vectors")
}

fn bless() -> bool {
    std::env::var_os("ROCKSTORE_BLESS").is_some()
}

fn sorted_dirs(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("vectors dir")
        .map(|e| e.expect("entry").path())
        .collect();
    out.sort();
    out
}

#[test]
fn tree_vectors_match_stream_and_hash() {
    let cases = sorted_dirs(&vectors().join("tree"));
    assert!(cases.len() >= 8, "tree vectors are missing");
    for case in cases {
        let name = case
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        let spec =
            parse_tree_spec(&std::fs::read_to_string(case.join("input.txt")).expect("input.txt"));
        let sandbox = Sandbox::new();
        // References are items of the vectors' own making: an empty root
        // admitted as `dep 1.0-1` (see 008).
        let mut ref_args = Vec::new();
        for reference in &spec.references {
            let dep = sandbox.add(&sandbox.dir("dep"), "dep", "1.0-1");
            assert_eq!(
                dep.file_name().expect("name").to_string_lossy(),
                *reference,
                "{name}: reference vector"
            );
            ref_args.push("--ref".to_owned());
            ref_args.push(reference.clone());
        }
        let root = sandbox.dir("tree");
        build_tree(&root, &spec);
        let mut args = vec![
            "store".to_owned(),
            "add".into(),
            root.display().to_string(),
            "--name".into(),
            "v".into(),
            "--version".into(),
            "1".into(),
        ];
        args.extend(ref_args);
        let item = PathBuf::from(sandbox.ok(&args).trim());
        let item_name = item
            .file_name()
            .expect("item")
            .to_string_lossy()
            .into_owned();
        // The archive form of the admitted item: written from the item and
        // read back into an empty directory, it is the same tree.
        let archive = {
            use rockstore::store::item_archive::{self, LinkPolicy};
            let refs = spec.references.iter().cloned().collect();
            let fd = std::fs::File::open(&item).expect("item");
            let node =
                item_archive::model(std::os::fd::AsFd::as_fd(&fd), LinkPolicy::Item(&refs), &[])
                    .expect("model");
            let mut bytes = Vec::new();
            item_archive::write(std::os::fd::AsFd::as_fd(&fd), &node, &mut bytes).expect("archive");
            let back = sandbox.dir("back");
            let dir = std::fs::File::open(&back).expect("back");
            let read = item_archive::read_into(
                &mut bytes.as_slice(),
                std::os::fd::AsFd::as_fd(&dir),
                LinkPolicy::Item(&refs),
                item_archive::Finish::Item,
                item_archive::Limits {
                    max_bytes: 1 << 20,
                    max_entries: 1000,
                },
            )
            .expect("read back");
            assert_eq!(read, node, "{name}: archive round trip");
            bytes
        };
        if bless() {
            std::fs::write(case.join("archive.bin"), &archive).expect("bless");
        } else {
            assert_eq!(
                std::fs::read(case.join("archive.bin")).expect("archive.bin"),
                archive,
                "{name}: archive differs from the vector"
            );
        }
        let listing =
            std::fs::read(sandbox.store().join("db/listings").join(&item_name)).expect("listing");
        let info: serde_json::Value =
            serde_json::from_str(&sandbox.ok(["store", "info", &item_name, "--json"]))
                .expect("json");
        let hash = info["hash"].as_str().expect("hash").to_owned();
        let digest_text = format!("{hash}\nshort: {}\n", &item_name[..32]);

        if bless() {
            std::fs::write(case.join("serialization.bin"), &listing).expect("bless");
            std::fs::write(case.join("digest.txt"), &digest_text).expect("bless");
            continue;
        }
        let expected = std::fs::read(case.join("serialization.bin")).expect("serialization.bin");
        assert_eq!(listing, expected, "{name}: stream differs from the vector");
        assert_eq!(
            std::fs::read_to_string(case.join("digest.txt")).expect("digest.txt"),
            digest_text,
            "{name}: hash"
        );
        // The stream alone gives the same hash and parses back to itself.
        assert_eq!(
            canonical::hash_stream(&expected).to_prefixed_hex(),
            hash,
            "{name}"
        );
        let parsed = canonical::parse(&expected).expect("vector stream parses");
        assert_eq!(
            canonical::serialize(&parsed),
            expected,
            "{name}: parse/serialize round trip"
        );
    }
}

#[test]
fn name_vectors() {
    let valid = std::fs::read_to_string(vectors().join("names/valid.txt")).expect("valid.txt");
    for line in valid.lines().filter(|l| !l.starts_with('#')) {
        let raw = unescape(line);
        assert!(
            PathComponent::from_bytes(&raw).is_ok(),
            "should be valid: {line:?}"
        );
    }
    let invalid =
        std::fs::read_to_string(vectors().join("names/invalid.txt")).expect("invalid.txt");
    let mut count = 0;
    for line in invalid.lines().filter(|l| !l.starts_with('#')) {
        let (kind, name) = line.split_once('\t').expect("KIND<TAB>NAME");
        let err = PathComponent::from_bytes(&unescape(name)).expect_err(line);
        assert_eq!(err.kind(), kind, "{line:?}");
        count += 1;
    }
    assert!(count >= 8);
}

fn check_record<T>(case: &Path)
where
    T: serde::Serialize + for<'de> serde::Deserialize<'de> + PartialEq + std::fmt::Debug,
{
    let json = std::fs::read_to_string(case).expect("json");
    let record: T = serde_json::from_str(&json).expect("record json");
    let bytes = db::encode(&record);
    let bin = case.with_extension("bin");
    if bless() {
        std::fs::write(&bin, &bytes).expect("bless");
        return;
    }
    let expected = std::fs::read(&bin).expect(".bin vector");
    assert_eq!(bytes, expected, "{}: encoding differs", case.display());
    let decoded: T = db::decode(&expected).expect("vector decodes");
    assert_eq!(decoded, record, "{}", case.display());
}

#[test]
fn record_vectors() {
    let dir = vectors().join("db");
    check_record::<ItemRecord>(&dir.join("001-item-record.json"));
    check_record::<Realisation>(&dir.join("002-realisation.json"));
    check_record::<TreeRegistration>(&dir.join("003-tree-registration.json"));
    check_record::<ItemRecord>(&dir.join("004-profile-with-references.json"));
    check_record::<SourceRecord>(&dir.join("005-source-record.json"));
    check_record::<TreeRoots>(&dir.join("006-tree-roots.json"));
}

/// Every daemon frame vector: the JSON decodes to the message, which
/// encodes to exactly the vector's bytes, which read back (through a real
/// socket) to the same message.
#[test]
fn daemon_frame_vectors() {
    use rockstore::daemon::wire::{self, FrameLimits, Reply, Request};
    use std::os::unix::net::UnixStream;
    let cases = sorted_dirs(&vectors().join("daemon"));
    let jsons: Vec<&PathBuf> = cases
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    assert!(jsons.len() >= 16, "daemon vectors are missing");
    for case in jsons {
        let vector: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(case).expect("json")).expect("json");
        let payload_len = vector["payload_len"].as_u64().expect("payload_len");
        let frame = &vector["frame"];
        let request = serde_json::from_value::<Request>(frame.clone());
        let mut bytes = Vec::new();
        match &request {
            Ok(r) => wire::send_prefix(&mut bytes, r, payload_len),
            Err(_) => {
                let reply: Reply = serde_json::from_value(frame.clone()).unwrap_or_else(|e| {
                    panic!("{}: neither request nor reply: {e}", case.display())
                });
                wire::send_prefix(&mut bytes, &reply, payload_len)
            }
        }
        .expect("encode");
        let bin = case.with_extension("bin");
        if bless() {
            std::fs::write(&bin, &bytes).expect("bless");
            continue;
        }
        assert_eq!(
            std::fs::read(&bin).expect(".bin vector"),
            bytes,
            "{}: encoding differs",
            case.display()
        );
        let (a, b) = UnixStream::pair().expect("pair");
        std::io::Write::write_all(&mut &a, &bytes).expect("write");
        match request {
            Ok(r) => {
                let got = wire::receive::<Request>(&b, FrameLimits::REQUEST).expect("decode");
                assert_eq!((got.message, got.payload_len), (r, payload_len));
            }
            Err(_) => {
                let got = wire::receive::<Reply>(&b, FrameLimits::REPLY).expect("decode");
                assert_eq!(serde_json::to_value(got.message).expect("json"), *frame);
            }
        }
    }
}

/// The binary cache's vectors (cache.md): a realisation signed by a key
/// from a fixed seed, its fingerprint, and a blob of a tree vector.
#[test]
fn cache_vectors() {
    use rockstore::cache::format::{self, RealisationDoc};
    use rockstore::cache::keys::SecretKey;
    let case = vectors().join("cache/001-realisation");
    let tree = vectors().join("tree/006-nested-sorted");
    let secret = SecretKey::from_seed("vectors-1", [7; 32]).expect("key");
    let digest = std::fs::read_to_string(tree.join("digest.txt")).expect("digest");
    let hash = digest.lines().next().expect("digest line").to_owned();
    let content = rockstore::store::content_hash::ContentHash::parse_hex(&hash).expect("hash");
    let archive = std::fs::read(tree.join("archive.bin")).expect("archive");
    if bless() {
        std::fs::create_dir_all(&case).expect("dir");
        let blob = zstd::stream::encode_all(&archive[..], 19).expect("zstd");
        std::fs::write(case.join("blob.zst"), &blob).expect("bless");
    }
    let blob = std::fs::read(case.join("blob.zst")).expect("blob.zst");
    assert_eq!(
        zstd::stream::decode_all(&blob[..]).expect("unzstd"),
        archive
    );
    let item =
        rockstore::store::item_name::ItemName::new(&content, "nested", "1.0-1").expect("name");
    let mut doc = RealisationDoc {
        format: 1,
        recipe_key: "5e".repeat(32),
        item: item.as_str().to_owned(),
        hash: content.to_string(),
        size: 42,
        blob_size: blob.len() as u64,
        rock: "nested 1.0-1".into(),
        lua_abi: "5.4".into(),
        platform: "linux-x86_64".into(),
        signature: String::new(),
    };
    secret.sign(&mut doc);
    let files = [
        ("secret.txt", format!("{}\n", secret.to_text()).into_bytes()),
        (
            "public.txt",
            format!("{}\n", secret.public().to_text()).into_bytes(),
        ),
        (
            "realisation.json",
            serde_json::to_vec_pretty(&doc).expect("json"),
        ),
        ("fingerprint.bin", format::fingerprint(&doc)),
        (
            "blob-path.txt",
            format!("{}\n", format::blob_path(&content)).into_bytes(),
        ),
    ];
    for (name, bytes) in files {
        if bless() {
            std::fs::write(case.join(name), &bytes).expect("bless");
        } else {
            assert_eq!(
                std::fs::read(case.join(name)).expect(name),
                bytes,
                "{name} differs from the code"
            );
        }
    }
    let read: RealisationDoc =
        serde_json::from_slice(&std::fs::read(case.join("realisation.json")).expect("json"))
            .expect("parse");
    rockstore::cache::keys::check(&read, &[secret.public()]).expect("signature holds");
}

/// The LuaRocks view's vector (cache.md): a rock attestation signed by
/// the realisation vector's key, over a rock and rockspec of fixed bytes.
#[test]
fn view_vectors() {
    use rockstore::cache::keys::SecretKey;
    use rockstore::cache::view_trust::{self, RockAttestation};
    let case = vectors().join("view/001-rock-attestation");
    let secret = SecretKey::from_seed("vectors-1", [7; 32]).expect("key");
    let rock = b"PK\x05\x06 not a real zip: any bytes stand for a rock\n".to_vec();
    let rockspec = b"package = 'nested'\nversion = '1.0-1'\n".to_vec();
    let mut doc = RockAttestation {
        format: 1,
        file: "nested-1.0-1.linux-x86_64.rock".into(),
        size: rock.len() as u64,
        hash: view_trust::hash_of(&rock),
        rockspec_hash: view_trust::hash_of(&rockspec),
        item: "0123456789abcdefghijklmnopqrstuv-nested-1.0-1".into(),
        recipe_key: "5e".repeat(32),
        lua_abi: "5.4".into(),
        platform: "linux-x86_64".into(),
        signature: String::new(),
    };
    view_trust::sign(&mut doc, &secret);
    let files = [
        ("rock.bin", rock),
        ("rockspec", rockspec),
        (
            "public.txt",
            format!("{}\n", secret.public().to_text()).into_bytes(),
        ),
        (
            "attestation.json",
            serde_json::to_vec_pretty(&doc).expect("json"),
        ),
        ("fingerprint.bin", view_trust::fingerprint(&doc)),
    ];
    if bless() {
        std::fs::create_dir_all(&case).expect("dir");
    }
    for (name, bytes) in files {
        if bless() {
            std::fs::write(case.join(name), &bytes).expect("bless");
        } else {
            assert_eq!(
                std::fs::read(case.join(name)).expect(name),
                bytes,
                "{name} differs from the code"
            );
        }
    }
    let read: RockAttestation =
        serde_json::from_slice(&std::fs::read(case.join("attestation.json")).expect("json"))
            .expect("parse");
    rockstore::cache::keys::check_bytes(
        &read.signature,
        &view_trust::fingerprint(&read),
        &[secret.public()],
    )
    .expect("signature holds");
}

#[test]
fn stamps_vectors() {
    use rockstore::store::stamps::{self, Stamp};
    let cases = sorted_dirs(&vectors().join("stamps"));
    assert!(!cases.is_empty(), "stamps vectors are missing");
    for case in cases {
        let input = std::fs::read(case.join("input.json")).expect("input");
        let taken: Vec<Stamp> = serde_json::from_slice(&input).expect("stamps json");
        let expected = std::fs::read(case.join("stamps")).expect("stamps");
        assert_eq!(stamps::render(&taken), expected, "{}", case.display());
        let digest = stamps::digest(&taken);
        let recorded = stamps::parse(&expected).expect("a stamps file");
        assert_eq!(recorded.digest, digest);
        let mut paths: Vec<&str> = taken
            .iter()
            .map(|s| s.path.as_str())
            .filter(|p| !p.is_empty())
            .collect();
        paths.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        assert_eq!(recorded.paths, Some(paths), "{}", case.display());
        // What an older rockstore wrote is still read, as a digest alone.
        let v1 = std::fs::read(case.join("stamps-v1")).expect("stamps-v1");
        let recorded = stamps::parse(&v1).expect("a digest-only stamps file");
        assert_eq!((recorded.digest, recorded.paths), (digest.as_str(), None));
    }
}

/// The plan document's vector (cache.md, "Plan documents"): a plan of two
/// rocks signed by the realisation vector's key, its fingerprint and the
/// plan key's preimage.
#[test]
fn plan_vectors() {
    use rockstore::cache::keys::SecretKey;
    use rockstore::cache::plan_doc::{self, PlanDoc, PlanEntry, PLAN_FORMAT};
    let case = vectors().join("plan/001-plan");
    let secret = SecretKey::from_seed("vectors-1", [7; 32]).expect("key");
    let rocks = ["purelua 2.0-1".to_owned(), "appx 1.0-1".to_owned()];
    let known =
        [rockstore::store::content_hash::RecipeKey::parse_hex(&"5e".repeat(32)).expect("key")];
    let plan_key = plan_doc::plan_key("5.4", "linux-x86_64", &rocks, &known);
    let mut doc = PlanDoc {
        format: PLAN_FORMAT,
        plan_key: plan_key.clone(),
        lua_abi: "5.4".into(),
        platform: "linux-x86_64".into(),
        entries: vec![
            PlanEntry {
                rock: "purelua 2.0-1".into(),
                recipe_key: "5e".repeat(32),
                item: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa-purelua-2.0-1".into(),
                hash: format!("blake3:{}", "1a".repeat(32)),
            },
            PlanEntry {
                rock: "appx 1.0-1".into(),
                recipe_key: "a7".repeat(32),
                item: "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb-appx-1.0-1".into(),
                hash: format!("blake3:{}", "2b".repeat(32)),
            },
        ],
        signature: String::new(),
    };
    plan_doc::sign(&mut doc, &secret);
    let files = [
        ("plan.json", serde_json::to_vec_pretty(&doc).expect("json")),
        ("fingerprint.bin", plan_doc::fingerprint(&doc)),
        (
            "public.txt",
            format!("{}\n", secret.public().to_text()).into_bytes(),
        ),
        (
            "plan-key.txt",
            format!(
                "lua_abi 5.4\nplatform linux-x86_64\nrock {}\nrock {}\nknown {}\nkey {plan_key}\n",
                rocks[0],
                rocks[1],
                known[0].to_hex()
            )
            .into_bytes(),
        ),
    ];
    if bless() {
        std::fs::create_dir_all(&case).expect("dir");
    }
    for (name, bytes) in files {
        if bless() {
            std::fs::write(case.join(name), &bytes).expect("bless");
        } else {
            assert_eq!(
                std::fs::read(case.join(name)).expect(name),
                bytes,
                "{name} differs from the code"
            );
        }
    }
    let read: PlanDoc =
        serde_json::from_slice(&std::fs::read(case.join("plan.json")).expect("json"))
            .expect("parse");
    plan_doc::check(&read, &plan_key, "5.4", "linux-x86_64", &[secret.public()])
        .expect("signature holds");
}
