package = "supported-only"
version = "1.0-1"
source = { url = "https://example.org/supported-only-1.0.tar.gz" }
supported_platforms = { "linux", "macosx" }
build = { type = "builtin", modules = { supported_only = "supported_only.lua" } }
