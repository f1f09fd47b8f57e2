//! A `manifest-5.x.zip`: one manifest in a zip, as luarocks-admin makes
//! it and LuaRocks unzips it. Here rather than in `server_dir` so a cache
//! serving manifests (`cache::view`) needs no server directory code.

use std::io::Write as _;

/// A zip holding one file, `name`, with `text`: a `manifest-5.x.zip` as
/// luarocks-admin makes it and LuaRocks unzips it.
pub fn zip_manifest(name: &str, text: &[u8]) -> Result<Vec<u8>, zip::result::ZipError> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    zip.start_file(name, zip::write::SimpleFileOptions::default())?;
    zip.write_all(text)?;
    Ok(zip.finish()?.into_inner())
}
