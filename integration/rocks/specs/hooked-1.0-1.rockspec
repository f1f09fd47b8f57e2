package = "hooked"
version = "1.0-1"
source = { url = "@BASE@/hooked-1.0.tar.gz" }
description = { summary = "a post_install hook that says where the rock went", license = "MIT" }
build = { type = "builtin", modules = { hooked = "hooked.lua" } }
hooks = { post_install = "echo '$(PREFIX)' > hook-ran.txt" }
