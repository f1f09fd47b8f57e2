package = "patched"
version = "1.0-1"
source = { url = "https://example.org/patched-1.0.tar.gz" }
build = {
   type = "builtin",
   modules = { patched = "patched.lua" },
   patches = {
      ["fix-build.diff"] = [[
--- a/patched.lua
+++ b/patched.lua
@@ -1 +1 @@
-return 1
+return 2
]],
   },
   extra_files = { ["extra.lua"] = "return 'extra'" },
   macosx_deployment_target = "10.9",
}
