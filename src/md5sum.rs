//! md5 sums in hex, as LuaRocks writes them: a rockspec's `source.md5`,
//! each file's entry in a rock's `rock_manifest`. A leaf: rockspec
//! writing, trees and builds all use it, so it depends on none of them.

use std::fmt::Write;

use md5::{Digest, Md5};

/// The md5 of everything `reader` holds from where it stands, which is
/// then rewound to its start.
pub fn md5_hex_of<R: std::io::Read + std::io::Seek>(reader: &mut R) -> std::io::Result<String> {
    let mut hasher = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => hasher.update(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    reader.rewind()?;
    Ok(hex(&hasher.finalize()))
}

fn hex(digest: &[u8]) -> String {
    digest.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The md5 of `bytes` in hex, as rockspecs' `source.md5` states it.
pub fn md5_hex(bytes: &[u8]) -> String {
    hex(&Md5::digest(bytes))
}
