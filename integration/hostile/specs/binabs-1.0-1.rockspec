-- expect: build.install.bin
-- how: build
-- luarocks: yes
-- lint: refuses
package = "binabs"
version = "1.0-1"
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" }, install = { bin = { ["@WATCH@/PWNED-bin"] = "ok.lua" } } }
