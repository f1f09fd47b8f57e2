package = "supported"
version = "1.0-1"
source = { url = "https://example.org/supported-1.0.tar.gz" }
supported_platforms = { "!windows", "!cygwin" }
build = { type = "builtin", modules = { supported = "supported.lua" } }
