-- Oracle for the differential tests: loads each rockspec given on the
-- command line with Debian's LuaRocks (fetch.load_local_rockspec, the
-- loader LuaRocks itself uses) and prints one JSON line per file:
--   {"file": F, "ok": <rockspec>}   or   {"file": F, "error": MESSAGE}
-- The rockspec is projected to the shape of `rockstore rockspec --json`:
-- LuaRocks' bookkeeping (local_abs_filename, variables, rocks_provided,
-- format_is_at_least, source.dir_set) is dropped, dependency queries become
-- {name, namespace, constraints = [{op, version}]}.
-- Encoding: a table with keys exactly 1..n (n >= 1) is an array, other
-- tables are objects (an empty one {}), functions are null.

local cfg = require("luarocks.core.cfg")
assert(cfg.init())
local fs = require("luarocks.fs")
fs.init()
local fetch = require("luarocks.fetch")
-- configure_paths() needs a tree; any will do, nothing is written.
cfg.root_dir = cfg.root_dir or "/nonexistent-oracle-tree"

local function is_array(t)
  local n = 0
  for _ in pairs(t) do n = n + 1 end
  if n == 0 then return false end
  for i = 1, n do
    if t[i] == nil then return false end
  end
  return true
end

local function encode_string(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    if c == '"' then return '\\"' elseif c == '\\' then return '\\\\' end
    return string.format("\\u%04x", c:byte())
  end) .. '"'
end

local encode
local function encode_key(k)
  if math.type(k) == "integer" then return encode_string(string.format("%d", k)) end
  return encode_string(tostring(k))
end

encode = function(v, force_array)
  local t = type(v)
  if t == "string" then return encode_string(v)
  elseif t == "boolean" then return tostring(v)
  elseif t == "number" then
    if math.type(v) == "integer" then return string.format("%d", v) end
    if v ~= v or v == math.huge or v == -math.huge then return "null" end
    return string.format("%.17g", v)
  elseif t == "table" then
    if force_array or is_array(v) then
      local out = {}
      for i = 1, #v do out[i] = encode(v[i]) end
      return "[" .. table.concat(out, ",") .. "]"
    end
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    table.sort(keys, function(a, b) return tostring(a) < tostring(b) end)
    local out = {}
    for _, k in ipairs(keys) do out[#out + 1] = encode_key(k) .. ":" .. encode(v[k]) end
    return "{" .. table.concat(out, ",") .. "}"
  end
  return "null"
end

local function project_dep(q)
  local constraints = {}
  for i, c in ipairs(q.constraints) do
    constraints[i] = "{" .. '"op":' .. encode(c.op) .. ',"version":' .. encode(c.version.string)
      .. (c.no_upgrade and ',"no_upgrade":true' or "") .. "}"
  end
  return "{" .. '"name":' .. encode(q.name) .. ',"namespace":' .. (q.namespace and encode(q.namespace) or "null")
    .. ',"constraints":[' .. table.concat(constraints, ",") .. "]}"
end

local dep_lists = { dependencies = true, build_dependencies = true, test_dependencies = true }
local dropped = { local_abs_filename = true, variables = true, rocks_provided = true, format_is_at_least = true }

local function project(rs)
  local keys = {}
  for k in pairs(rs) do
    if not dropped[k] then keys[#keys + 1] = k end
  end
  table.sort(keys)
  local out = {}
  for _, k in ipairs(keys) do
    local v = rs[k]
    local text
    if dep_lists[k] then
      local deps = {}
      for i, q in ipairs(v) do deps[i] = project_dep(q) end
      text = "[" .. table.concat(deps, ",") .. "]"
    elseif k == "source" then
      v.dir_set = nil
      text = encode(v)
    else
      text = encode(v)
    end
    out[#out + 1] = encode_string(k) .. ":" .. text
  end
  return "{" .. table.concat(out, ",") .. "}"
end

for _, file in ipairs(arg) do
  local ok, rs, err = pcall(fetch.load_local_rockspec, file)
  if ok and rs then
    print('{"file":' .. encode(file) .. ',"ok":' .. project(rs) .. "}")
  else
    print('{"file":' .. encode(file) .. ',"error":' .. encode(tostring(ok and err or rs)) .. "}")
  end
end
