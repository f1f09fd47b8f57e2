-- expect: decompression bomb
-- how: build
-- luarocks: no
package = "bombgz"
version = "1.0-1"
source = { url = "@BASE@/bombgz-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
