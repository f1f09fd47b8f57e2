local major, minor, patch = 2, 3, 1
local upstream = major .. "." .. minor .. "." .. patch
local rev = "1"
package = "locals"
version = upstream .. "-" .. rev
source = {
   url = "https://example.org/locals/archive/v" .. upstream .. ".tar.gz",
   dir = "locals-" .. upstream,
}
build = { type = "builtin", modules = { locals = "locals.lua" } }
