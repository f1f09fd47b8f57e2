-- Oracle for version comparison: reads lines "A<TAB>B" on stdin and prints,
-- per line, the answers of Debian's luarocks.core.vers as a string of 0/1:
--   A<B  A==B  A<=B  then match_constraints(A, {op B}) for the ops
--   ==  ~=  <  <=  >  >=  ~>
local vers = require("luarocks.core.vers")
local ops = { "==", "~=", "<", "<=", ">", ">=", "~>" }
local function bit(b) return b and "1" or "0" end
for line in io.lines() do
  local a, b = line:match("^([^\t]*)\t([^\t]*)$")
  local va, vb = vers.parse_version(a), vers.parse_version(b)
  local out = { bit(va < vb), bit(va == vb), bit(va <= vb) }
  for _, op in ipairs(ops) do
    out[#out + 1] = bit(vers.match_constraints(vers.parse_version(a), { { op = op, version = vers.parse_version(b) } }))
  end
  print(table.concat(out))
end
