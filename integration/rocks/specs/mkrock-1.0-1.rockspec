package = "mkrock"
version = "1.0-1"
source = { url = "@BASE@/mkrock-1.0.tar.gz" }
description = { summary = "make backend", license = "MIT" }
build = {
   type = "make",
   build_variables = { CFLAGS = "$(CFLAGS)", LUA_INCDIR = "$(LUA_INCDIR)", LIBFLAG = "$(LIBFLAG)" },
   install_variables = { LIBDIR = "$(LIBDIR)" },
}
