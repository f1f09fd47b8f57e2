-- expect: device or other special file
-- how: build
-- luarocks: yes
package = "device"
version = "1.0-1"
source = { url = "@BASE@/device-1.0.tar.gz" }
build = { type = "builtin", modules = { ok = "ok.lua" } }
