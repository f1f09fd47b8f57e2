package = "cmulti"
version = "1.0-1"
source = { url = "@BASE@/cmulti-1.0.tar.gz" }
description = { summary = "C module from two sources", license = "MIT" }
build = {
   type = "builtin",
   modules = {
      cmulti = {
         sources = { "src/main.c", "src/twice.c" },
         defines = { "CMULTI_BASE=21" },
         incdirs = { "include" },
      },
   },
}
