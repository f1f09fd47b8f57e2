package = "minimal"
version = "1.0-1"
source = { url = "https://example.org/minimal-1.0.tar.gz" }
build = { type = "builtin", modules = { minimal = "minimal.lua" } }
