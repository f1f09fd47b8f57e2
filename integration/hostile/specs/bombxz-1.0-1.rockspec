-- expect: decompression bomb
-- how: build
-- luarocks: no
package = "bombxz"
version = "1.0-1"
source = { url = "@BASE@/bombxz-1.0.tar.xz" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
