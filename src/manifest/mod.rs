//! LuaRocks manifests.
//!
//! - [`repository`]: reading a rocks server's manifest (`manifest-5.x`,
//!   its `.zip`, its `.json`) or a tree's: which rocks, versions and arches
//!   exist.
//! - [`index`]: a server manifest parsed once, kept as a compact file
//!   named by the manifest's hash, for `search` and `install`.
//! - [`index_html`]: a rocks server's `index.html`, as luarocks-admin
//!   writes it.
//! - [`tree`]: writing a tree's `lib/luarocks/rocks-5.x/manifest` exactly
//!   in the shape LuaRocks and `luarocks.loader` read.

pub mod index;
pub mod index_html;
pub use crate::lua::persist;
pub mod repository;
pub mod tree;
pub mod zip;

pub use repository::{ManifestError, RepositoryManifest};
pub use tree::{InstalledRock, TreeManifest};
