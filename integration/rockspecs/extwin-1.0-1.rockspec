package = "extwin"
version = "1.0-1"
source = { url = "https://example.org/extwin-1.0.tar.gz" }
external_dependencies = {
   platforms = { windows = { WINSOCK = { library = "ws2_32" } }, unix = { PTHREAD = { library = "pthread" } } },
}
build = { type = "builtin", modules = { extwin = "extwin.c" } }
