package = "cvsish"
version = "1.0-1"
source = { url = "cvs://:pserver:anonymous@cvs.example.org:/cvsroot/cvsish", cvs_module = "cvsish", cvs_tag = "CVSISH_1_0" }
build = { type = "builtin", modules = { cvsish = "cvsish.lua" } }
