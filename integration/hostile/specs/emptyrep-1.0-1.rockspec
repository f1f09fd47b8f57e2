-- expect: too large
-- how: build
-- luarocks: no
package = "emptyrep"
version = "1.0-1"
local nothing = (""):rep(2^62)
local everything = nothing .. ("a"):rep(2^40)
source = { url = "@BASE@/ok-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
