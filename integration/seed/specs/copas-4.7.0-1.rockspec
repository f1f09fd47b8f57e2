package = "copas"
version = "4.7.0-1"
source = { url = "@BASE@/copas-4.7.0.tar.gz" }
description = { summary = "Stand-in for Copas", license = "MIT" }
dependencies = { "lua >= 5.1", "luasocket >= 2.0" }
build = { type = "builtin", modules = { copas = "src/copas.lua" } }
