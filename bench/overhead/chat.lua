-- wrk script: POST a distinct chat completion request every time, report JSON at the end.
-- Arguments (after --): stems_file model bearer_key path
-- The stems file holds one JSON-escaped prompt a line (bench/overhead/prompts.py writes it);
-- each request is a stem plus a counter, so no two requests carry the same text.

local stems = {}
local model, key, path
local counter = 0

function init(args)
  local file = assert(io.open(args[1], "r"))
  for line in file:lines() do
    stems[#stems + 1] = line
  end
  file:close()
  model, key, path = args[2], args[3], args[4]
  counter = 0
end

function request()
  counter = counter + 1
  local stem = stems[(counter % #stems) + 1]
  local body = '{"model":"' .. model .. '","messages":[{"role":"user","content":"' .. stem
    .. ' Ticket ' .. counter .. '."}],"temperature":0}'
  local headers = {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key}
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"bytes":%d,' ..
    '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p90":%d,"p99":%d,"p999":%d,"max":%d,"mean":%.1f}}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency:percentile(99.9),
    latency.max, latency.mean))
end
