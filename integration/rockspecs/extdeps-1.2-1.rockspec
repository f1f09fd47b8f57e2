package = "extdeps"
version = "1.2-1"
source = { url = "https://example.org/extdeps-1.2.tar.gz" }
external_dependencies = {
   OPENSSL = { header = "openssl/ssl.h", library = "ssl" },
   ZLIB = { library = "z" },
   CURL = { program = "curl" },
   platforms = {
      windows = { OPENSSL = { library = "libssl" } },
      linux = { ZLIB = { header = "zlib.h" } },
   },
}
build = {
   type = "builtin",
   modules = {
      extdeps = {
         sources = { "src/extdeps.c" },
         libraries = { "ssl", "crypto", "z" },
         incdirs = { "$(OPENSSL_INCDIR)", "$(ZLIB_INCDIR)" },
         libdirs = { "$(OPENSSL_LIBDIR)", "$(ZLIB_LIBDIR)" },
      },
   },
}
