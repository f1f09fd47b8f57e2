-- expect: too costly
-- how: build
-- luarocks: no
package = "backtrack"
version = "1.0-1"
local x = (("a"):rep(40)):find(("a?"):rep(40) .. ("a"):rep(40))
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
