-- expect: is a local file
-- how: install
-- luarocks: yes
package = "filesrc"
version = "1.0-1"
source = { url = "file://@WATCH@/victim.txt" }
build = { type = "builtin", modules = { ok = "victim.txt" }, install = { lua = { stolen = "victim.txt" } } }
