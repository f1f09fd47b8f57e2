//! The one integration-test binary: every test drives the real `rockstore`
//! binary in a sandbox (its own temp HOME and store) through `support`.

// The harness reads its own environment (CI, PATH); the rule that only
// src/env_vars.rs reads it is the library's.
#![allow(clippy::disallowed_methods)]

mod admin;
mod adopt;
mod backends;
mod bad_sources;
mod battery;
mod battery_files;
mod battery_scripts;
mod big_manifest;
mod build;
mod cache;
mod cache_attacks;
mod cache_server_attacks;
mod cache_transport_attacks;
mod config;
mod consistency;
mod crash;
mod crash_edges;
mod daemon;
mod daemon_attacks;
mod deps_modes;
mod first_touch;
mod fleet;
mod gc;
mod generations;
mod hostile;
mod hostile_corpus;
mod lease;
mod limits;
mod link_modes;
mod local_flag;
mod manifest;
mod mirrors;
mod module_graph;
mod never_absent;
mod pack_unpack;
mod plan;
mod plan_docs;
mod project_trust;
mod projects;
mod queries;
mod readme;
mod rocks_server;
mod rockspec;
mod seed_view;
mod servers_search;
mod shared;
mod sign;
mod snapshots;
mod store;
mod store_format;
mod support;
mod tree_repairs;
mod trees;
mod undo_hint;
mod upload;
mod versions;
mod warm;
