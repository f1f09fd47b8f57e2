rockspec_format = "3.0"
package = "depkinds"
version = "0.1-1"
source = { url = "https://example.org/depkinds-0.1.tar.gz" }
dependencies = { "lua ~> 5.4" }
build_dependencies = { "luarocks-build-foo >= 1", platforms = { windows = { "mingw-helper" } } }
test_dependencies = { "busted >= 2.0", "luacov" }
build = { type = "builtin", modules = { depkinds = "depkinds.lua" } }
