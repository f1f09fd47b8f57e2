-- expect: source.dir
-- how: build
-- luarocks: yes
package = "gitup"
version = "1.0-1"
source = { url = "git+file://@WATCH@/repo.git", dir = "../../../../../../../../../../../..@WATCH@/cloned" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
