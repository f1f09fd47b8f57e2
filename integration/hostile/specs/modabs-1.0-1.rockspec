-- expect: module name
-- how: build
-- luarocks: yes
-- lint: refuses
package = "modabs"
version = "1.0-1"
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { [".@WATCHMOD@.PWNED"] = "ok.lua" } }
