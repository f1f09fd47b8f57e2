-- expect: build.install.lua
-- how: build
-- luarocks: yes
-- lint: refuses
package = "readabs"
version = "1.0-1"
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" }, install = { lua = { stolen = "@WATCH@/victim.txt" } } }
