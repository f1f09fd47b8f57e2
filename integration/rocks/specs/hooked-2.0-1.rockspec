package = "hooked"
version = "2.0-1"
source = { url = "@BASE@/hooked-2.0.tar.gz" }
description = { summary = "a post_install hook that fails", license = "MIT" }
build = { type = "builtin", modules = { hooked = "hooked.lua" } }
hooks = { post_install = "echo hook-of-2.0 && exit 3" }
