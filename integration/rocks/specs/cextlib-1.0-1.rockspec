package = "cextlib"
version = "1.0-1"
source = { url = "@BASE@/cextlib-1.0.tar.gz" }
description = { summary = "C module needing an external library", license = "MIT" }
external_dependencies = { FOO = { header = "foo.h", library = "foo" } }
build = {
   type = "builtin",
   modules = {
      cextlib = {
         sources = { "cextlib.c" },
         libraries = { "foo" },
         incdirs = { "$(FOO_INCDIR)" },
         libdirs = { "$(FOO_LIBDIR)" },
      },
   },
}
