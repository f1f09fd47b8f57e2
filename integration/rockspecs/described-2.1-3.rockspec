package = "described"
version = "2.1-3"
source = { url = "http://example.org/dl/described-2.1.tar.gz", md5 = "d41d8cd98f00b204e9800998ecf8427e" }
description = {
   summary = "A rock with every description field",
   detailed = [[
      Several lines of text,
      with "quotes" and \backslashes\ and ünïcode.
   ]],
   homepage = "https://example.org/described",
   license = "MIT/X11",
   maintainer = "Jane Doe <jane@example.org>",
}
dependencies = { "lua >= 5.1, < 5.5" }
build = { type = "builtin", modules = { described = "src/described.lua" } }
