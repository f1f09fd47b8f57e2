-- expect: decompression bomb
-- how: build
-- luarocks: no
package = "bombzip"
version = "1.0-1"
source = { url = "@BASE@/bombzip-1.0.zip" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
