-- expect: sources
-- how: build
-- luarocks: yes
-- lint: refuses
package = "csrcabs"
version = "1.0-1"
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { evil = { sources = { "@WATCH@/evil.c" } } } }
