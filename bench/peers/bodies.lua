-- wrk script: POST the request bodies of a file (one JSON document a line), in turn, one per
-- request, each thread starting at its own offset so the 16 connections send different rows.
-- Usage: BODIES=path [TOKEN=...] wrk -s bench/peers/bodies.lua URL   (see bench/peers/load.py)
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do
  if #line > 0 then bodies[#bodies + 1] = line end
end
assert(#bodies > 0, "no request bodies in " .. os.getenv("BODIES"))

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local token = os.getenv("TOKEN")
if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end

local counter = 0
local threads = 0

function setup(thread)
  thread:set("offset", threads * 7919)
  threads = threads + 1
end

function request()
  counter = counter + 1
  local i = ((offset or 0) + counter) % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
