package = "cssl"
version = "1.0-1"
source = { url = "@BASE@/cssl-1.0.tar.gz" }
description = { summary = "Links the system OpenSSL, as luasec does", license = "MIT" }
external_dependencies = {
   OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
}
build = {
   type = "builtin",
   modules = {
      cssl = {
         sources = { "cssl.c" },
         libraries = { "ssl", "crypto" },
         incdirs = { "$(OPENSSL_INCDIR)" },
         libdirs = { "$(OPENSSL_LIBDIR)" },
      },
   },
   -- As luasec: the C module is named again in install.lib, which LuaRocks
   -- finds in the build directory where it linked it.
   install = { lib = { "cssl.so" }, lua = { ["cssl.util"] = "util.lua" } },
}
