package = "binmerge"
version = "1.0-1"
source = { url = "https://example.org/binmerge-1.0.tar.gz" }
build = {
   type = "builtin",
   modules = { binmerge = "binmerge.lua" },
   install = { bin = { "bin/one", "bin/two", "bin/three" } },
   platforms = { unix = { install = { bin = { "bin/one.sh" } } }, windows = { install = { bin = { "bin/one.bat" } } } },
}
