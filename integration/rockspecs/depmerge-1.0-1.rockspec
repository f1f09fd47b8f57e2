package = "depmerge"
version = "1.0-1"
source = { url = "https://example.org/depmerge-1.0.tar.gz" }
dependencies = {
   "a >= 1",
   "b",
   platforms = {
      unix = { "d", "e", "f" },
      linux = { "c" },
      windows = { "w" },
   },
}
build = { type = "none" }
