rockspec_format = "3.0"
package = "single3"
version = "0.2-1"
source = { url = "https://example.org/raw/single3.lua" }
build = { type = "builtin", modules = { single3 = "single3.lua" } }
