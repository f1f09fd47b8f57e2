//! Opening a store: the one place that chooses a backend. A daemon store
//! this process does not own is written through its daemon
//! ([`crate::daemon::client::DaemonBackend`]); any other store by this
//! process ([`crate::backend::local::LocalBackend`]). Callers hold the
//! chosen backend as a [`StoreBackend`] and never ask which one it is.

use std::path::Path;

use crate::backend::local::LocalBackend;
use crate::backend::StoreBackend;
use crate::daemon::client::DaemonBackend;
use crate::store::{Store, StoreError, StoreOptions};

/// Opens (creating when missing) the store at `root` with the backend
/// that may write it.
pub fn open(root: &Path, options: StoreOptions) -> Result<Box<dyn StoreBackend>, StoreError> {
    let store = Store::open(root, options)?;
    Ok(backend_for(store))
}

/// The backend that may write an open store.
pub fn backend_for(store: Store) -> Box<dyn StoreBackend> {
    if store.is_daemon_client() {
        Box::new(DaemonBackend::new(store))
    } else {
        Box::new(LocalBackend::new(store))
    }
}
