-- expect: copy_directories
-- how: build
-- luarocks: yes
-- lint: refuses
package = "copydirsup"
version = "1.0-1"
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" }, copy_directories = { "../../../../../../../../../../../..@WATCH@" } }
