package = "cmaker"
version = "0.9-2"
source = { url = "https://example.org/cmaker-0.9.tar.gz" }
build = {
   type = "cmake",
   cmake = [[
cmake_minimum_required(VERSION 3.10)
project(cmaker C)
add_library(cmaker MODULE cmaker.c)
]],
   variables = {
      CMAKE_INSTALL_PREFIX = "$(PREFIX)",
      LUA_INCLUDE_DIR = "$(LUA_INCDIR)",
      BUILD_SHARED_LIBS = "ON",
   },
}
