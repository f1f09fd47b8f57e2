package = "hooked"
version = "1.0-1"
source = { url = "https://example.org/hooked-1.0.tar.gz" }
hooks = {
   post_install = "$(LUA) -e 'print(1)'",
   platforms = { windows = { post_install = "echo windows" } },
}
build = { type = "builtin", modules = { hooked = "hooked.lua" } }
