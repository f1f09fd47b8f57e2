package = "filedir"
version = "1.0-1"
source = {
   url = "https://example.org/download?id=1234",
   file = "filedir-1.0.tar.gz",
   dir = "filedir-release",
}
build = { type = "builtin", modules = { filedir = "filedir.lua" } }
