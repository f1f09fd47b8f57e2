package = "binrock"
version = "1.0-1"
source = { url = "https://example.invalid/binrock-1.0.tar.gz" }
description = { summary = "installed from a .all.rock without building", license = "MIT" }
build = { type = "builtin", modules = { binrock = "binrock.lua" } }
