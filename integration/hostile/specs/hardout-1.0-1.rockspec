-- expect: hard link
-- how: build
-- luarocks: yes
package = "hardout"
version = "1.0-1"
source = { url = "@BASE@/hardout-1.0.tar.gz" }
build = { type = "builtin", modules = { m = "m.lua" } }
