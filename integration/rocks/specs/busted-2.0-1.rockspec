package = "busted"
version = "2.0-1"
source = { url = "@BASE@/busted-2.0.tar.gz" }
description = { summary = "A stand-in for busted: prints its arguments", license = "MIT" }
build = { type = "builtin", modules = {}, install = { bin = { busted = "bin/busted" } } }
