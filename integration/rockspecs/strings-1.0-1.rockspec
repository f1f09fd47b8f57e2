local name = "strings"
package = name
version = ("%d.%d-%d"):format(1, 0, 1)
source = { url = ("https://example.org/%s/%s.tar.gz"):format(name, name .. "-1.0") }
description = {
   summary = ("a rock called %q"):format(name):upper(),
   detailed = ("-"):rep(10) .. (" x"):rep(3),
   homepage = ("https://EXAMPLE.org/" .. name):lower(),
   license = ("TIM"):reverse(),
   maintainer = ("abc"):sub(2, 3) .. #name,
}
build = { type = "builtin", modules = { [name] = name .. ".lua" } }
