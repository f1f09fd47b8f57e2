//! Fast reader for literal-only Lua files (filled in with the manifest work).
