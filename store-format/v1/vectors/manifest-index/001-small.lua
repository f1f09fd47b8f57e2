commands = {}
modules = {}
repository = {
   lpeg = {
      ["1.1.0-1"] = {
         {
            arch = "src"
         },
         {
            arch = "rockspec"
         }
      },
      ["0.12.2-1"] = {
         {
            arch = "rockspec"
         },
         {
            arch = "linux-x86_64"
         }
      }
   },
   ["lua-cjson"] = {
      ["2.1.0.10-1"] = {
         {
            arch = "rockspec"
         }
      }
   },
   ["a.b"] = {
      ["scm-1"] = {}
   }
}
