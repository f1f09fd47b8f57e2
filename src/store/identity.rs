//! The store's own identity: a random id written once at the store's root
//! when the store is made; trees record it (`tree::binding`) to know a
//! store again after it moved. The store owns it, trees only read it.

/// The store's identity file, at the store's root.
pub const STORE_ID: &str = "store-id";

/// A fresh random identity (32 hex digits); empty when the kernel gives
/// no randomness.
pub fn new_id() -> String {
    let mut bytes = [0u8; 16];
    if rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()).is_err() {
        return String::new();
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
