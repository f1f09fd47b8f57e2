package = "btx"
version = "2.0-1"
source = { url = "@BASE@/btx-2.0.tar.gz" }
description = { summary = "conflict fixture: newest btx needs btz 2", license = "MIT" }
dependencies = { "btz >= 2" }
build = { type = "builtin", modules = { btx = "btx.lua" } }
