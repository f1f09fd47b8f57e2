-- expect: outside the unpack directory
-- how: build
-- luarocks: yes
package = "entryabs"
version = "1.0-1"
source = { url = "@BASE@/entryabs-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
