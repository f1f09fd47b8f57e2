-- expect: resolves outside the unpack directory
-- how: build
-- luarocks: yes
package = "linkout"
version = "1.0-1"
source = { url = "@BASE@/linkout-1.0.tar.gz" }
build = { type = "builtin", modules = { m = "out/victim.txt" } }
