rockspec_format = "3.0"
package = "singlec"
version = "0.3-1"
source = { url = "git+https://example.org/singlec.c" }
build = { type = "builtin", modules = { singlec = "singlec.c" } }
