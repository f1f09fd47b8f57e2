package = "cmdrock"
version = "1.0-1"
source = { url = "@BASE@/cmdrock-1.0.tar.gz" }
description = { summary = "command backend", license = "MIT" }
build = {
   type = "command",
   build_command = "sed 's/@HOW@/built by command/' template.lua > cmdrock.lua",
   install_command = "mkdir -p $(LUADIR) && cp cmdrock.lua $(LUADIR)/cmdrock.lua",
}
