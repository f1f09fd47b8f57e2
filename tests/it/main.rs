//! The one integration-test binary: every test drives the real `rockstore`
//! binary in a sandbox (its own temp HOME and store) through `support`.

mod adopt;
mod battery;
mod big_manifest;
mod build;
mod cache;
mod consistency;
mod crash_edges;
mod daemon;
mod daemon_attacks;
mod first_touch;
mod fleet;
mod hostile;
mod hostile_corpus;
mod lease;
mod limits;
mod local_flag;
mod manifest;
mod mirrors;
mod plan;
mod plan_docs;
mod readme;
mod rocks_server;
mod rockspec;
mod seed_view;
mod shared;
mod store;
mod store_format;
mod support;
mod trees;
mod undo_hint;
mod versions;
mod warm;
