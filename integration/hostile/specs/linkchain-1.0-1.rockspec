-- expect: resolves outside the unpack directory
-- how: build
-- luarocks: yes
package = "linkchain"
version = "1.0-1"
source = { url = "@BASE@/linkchain-1.0.tar.gz" }
build = { type = "builtin", modules = { m = "a1/a2/a3/a4/a5/a6/a7/a8/m.lua" } }
