package = "makeish"
version = "3.2-1"
source = { url = "https://example.org/makeish-3.2.tar.bz2" }
build = {
   type = "make",
   makefile = "GNUmakefile",
   build_target = "all",
   install_target = "install-lua",
   build_pass = true,
   install_pass = true,
   variables = { CFLAGS = "$(CFLAGS) -Wall", LUA_INCDIR = "$(LUA_INCDIR)" },
   build_variables = { LIBFLAG = "$(LIBFLAG)", JOBS = 4 },
   install_variables = { PREFIX = "$(PREFIX)", LUADIR = "$(LUADIR)", LIBDIR = "$(LIBDIR)" },
   platforms = { macosx = { build_variables = { LIBFLAG = "-bundle -undefined dynamic_lookup" } } },
}
