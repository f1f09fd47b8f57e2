package = "modmerge"
version = "1.0-1"
source = { url = "https://example.org/modmerge-1.0.tar.gz" }
build = {
   type = "builtin",
   modules = {
      modmerge = "modmerge.lua",
      ["modmerge.core"] = "src/core.c",
   },
   platforms = {
      linux = { modules = { ["modmerge.core"] = { sources = { "src/core.c", "src/linux.c" }, libraries = { "rt" } } } },
      macosx = { modules = { ["modmerge.core"] = { sources = { "src/core.c", "src/mac.c" } } } },
      windows = { modules = { ["modmerge.core"] = { libraries = { "ws2_32" } } } },
      unix = { modules = { ["modmerge.posix"] = "src/posix.c" } },
   },
}
