package = "cmod"
version = "2.0-1"
source = { url = "https://example.org/cmod-2.0.tar.gz" }
build = {
   type = "builtin",
   modules = {
      cmod = {
         sources = { "src/a.c", "src/b.c", "src/c.c" },
         defines = { "CMOD_VERSION=\"2.0\"", "NDEBUG" },
         incdirs = { "include" },
         libdirs = { "lib" },
         libraries = { "m" },
      },
      ["cmod.single"] = "src/single.c",
      ["cmod.list"] = { "src/l1.c", "src/l2.c" },
      ["cmod.pure"] = "lua/cmod/pure.lua",
   },
}
