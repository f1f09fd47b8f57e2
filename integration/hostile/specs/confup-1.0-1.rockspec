-- expect: build.install.conf
-- how: build
-- luarocks: yes
-- lint: refuses
package = "confup"
version = "1.0-1"
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" }, install = { conf = { ["../../../../../../../../../../../..@WATCH@/PWNED.conf"] = "ok.lua" } } }
