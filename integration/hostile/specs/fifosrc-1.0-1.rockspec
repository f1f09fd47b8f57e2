-- expect: not a regular file
-- how: build
-- luarocks: no
package = "fifosrc"
version = "1.0-1"
source = { url = "@FIFO@" }
build = { type = "builtin", modules = { ok = "fifo" } }
