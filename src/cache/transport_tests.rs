//! The transport's bounds on a real directory cache: a file past the
//! most it may be is `TooLarge` (not an HTTP answer), and a read of a
//! file whose size is signed fails when it is longer or shorter.

use std::io::Read;

use super::{Timeouts, Transport, TransportError};

fn cache_with(bytes: usize) -> (tempfile::TempDir, Transport) {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("file"), vec![b'x'; bytes]).expect("file");
    let t = Transport::open(
        &format!("file://{}", dir.path().display()),
        Timeouts::default(),
        None,
    )
    .expect("transport");
    (dir, t)
}

#[test]
fn a_file_past_its_bound_is_too_large_not_an_answer() {
    let (_dir, t) = cache_with(5000);
    match t.get("file", 4096) {
        Err(e @ TransportError::TooLarge { max: 4096, .. }) => {
            let said = e.to_string();
            assert!(
                said.ends_with("/file is larger than 4.0 KiB, the most such a file may be"),
                "{said}"
            );
            assert!(!said.contains("answered"), "{said}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        t.get("file", 5000).expect("fits").map(|b| b.len()),
        Some(5000)
    );
}

#[test]
fn an_exact_read_fails_longer_or_shorter() {
    let (_dir, t) = cache_with(100);
    let read = |size: u64| {
        let mut bytes = Vec::new();
        t.open_read_exact("file", size)
            .expect("open")
            .expect("there")
            .read_to_end(&mut bytes)
            .map(|_| bytes.len())
            .map_err(|e| e.to_string())
    };
    assert_eq!(read(100), Ok(100));
    let short = read(200).expect_err("short");
    assert!(
        short.contains("ends after 100 bytes, short of its stated 200 bytes"),
        "{short}"
    );
    let long = read(50).expect_err("long");
    assert!(
        long.contains("sends more than its stated 50 bytes"),
        "{long}"
    );
}
