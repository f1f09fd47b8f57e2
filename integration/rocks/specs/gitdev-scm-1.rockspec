package = "gitdev"
version = "scm-1"
source = { url = "git+file://@GITREPO@" }
description = { summary = "git source with no tag: --branch picks the branch", license = "MIT" }
build = { type = "builtin", modules = { gitdev = "gitrock.lua" } }
