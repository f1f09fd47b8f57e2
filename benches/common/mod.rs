//! What the benchmarks share: the fixture tarballs they serve.

use std::path::Path;

/// `dir` as a `.tar.gz` with one top directory `top`.
pub fn tarball(dir: &Path, top: &str) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let enc = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
        let mut tar = tar::Builder::new(enc);
        tar.append_dir_all(top, dir).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
    }
    out
}
