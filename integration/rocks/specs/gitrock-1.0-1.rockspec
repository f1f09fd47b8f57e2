package = "gitrock"
version = "1.0-1"
source = { url = "git+file://@GITREPO@", tag = "v1.0" }
description = { summary = "git source", license = "MIT" }
build = { type = "builtin", modules = { gitrock = "gitrock.lua" } }
