package = "btx"
version = "1.0-1"
source = { url = "@BASE@/btx-1.0.tar.gz" }
description = { summary = "conflict fixture: older btx, fine with btz 1", license = "MIT" }
dependencies = { "btz < 2" }
build = { type = "builtin", modules = { btx = "btx.lua" } }
