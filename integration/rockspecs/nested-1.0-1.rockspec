package = "nested"
version = "1.0-1"
source = { url = "https://example.org/nested-1.0.tar.gz" }
build = {
   type = "luarocks-build-custom",
   custom = {
      level1 = { level2 = { level3 = { "deep", true, 3.5, 42 } } },
      flags = { verbose = true, quiet = false },
   },
}
