package = "cbroken"
version = "1.0-1"
source = { url = "@BASE@/cbroken-1.0.tar.gz" }
description = { summary = "does not compile", license = "MIT" }
build = { type = "builtin", modules = { cbroken = "cbroken.c" } }
