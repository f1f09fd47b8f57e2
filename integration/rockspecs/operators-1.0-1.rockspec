package = "operators"
version = "1.0-1"
source = { url = "https://example.org/operators-1.0.tar.gz" }
dependencies = {
   "lua >= 5.1",
   "a == 1.0",
   "b ~= 2",
   "c < 3.0",
   "d <= 4",
   "e > 0.9",
   "f >= 1.2.3-2",
   "g ~> 2.4",
   "h",
   "i = 1.1",
   "j != 0.5",
   "k @1.2",
   "l @>= 3, < 4",
}
build = { type = "none" }
