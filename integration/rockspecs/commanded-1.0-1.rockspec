package = "commanded"
version = "1.0-1"
source = { url = "https://example.org/commanded-1.0.tar.gz" }
build = {
   type = "command",
   build_command = "$(LUA) build.lua --cc=$(CC) --cflags='$(CFLAGS)'",
   install_command = "cp -r out/* $(PREFIX)/",
}
