package = "single"
version = "0.1-1"
source = { url = "https://example.org/raw/single.lua" }
build = { type = "builtin", modules = { single = "single.lua" } }
