package = "bad-global"
version = "1.0-1"
source = { url = os.getenv("HOME") }
build = { type = "none" }
