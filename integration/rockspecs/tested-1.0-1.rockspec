rockspec_format = "3.0"
package = "tested"
version = "1.0-1"
source = { url = "https://example.org/tested-1.0.tar.gz" }
test_dependencies = { "busted" }
test = {
   type = "busted",
   flags = { "--verbose" },
   platforms = {
      unix = { flags = { "--exclude-tags=windows", "-o", "utfTerminal" } },
      windows = { flags = { "--exclude-tags=unix" } },
   },
}
build = { type = "builtin", modules = { tested = "tested.lua" } }
