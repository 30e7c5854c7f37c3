-- wrk script of bench/intake.py: POST one request per call, each with its own e-mail.
-- Usage: wrk ... -s bench/intake.lua <url> -- <mode> <tag>   (mode: intake | floor | empty)
local threads = {}
local next_id = 0

function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end

function init(args)
  mode = args[1] or "intake"
  tag = args[2] or "0"
  counter = 0
  created = 0
end

function request()
  counter = counter + 1
  if mode == "empty" then
    return wrk.format("POST", "/bench/empty", {["Content-Type"] = "application/json"}, "{}")
  end
  local body = string.format(
    '{"organisation":"framsteget","type":"access","email":"bench-%s-%d-%d@example.se",' ..
    '"full_name":"Bench Person","language":"sv","format":"html"}', tag, id, counter)
  local path = mode == "floor" and "/bench/floor" or "/api/v1/requests"
  return wrk.format("POST", path, {["Content-Type"] = "application/json"}, body)
end

function response(status, headers, body)
  if status == 201 or status == 200 then
    created = created + 1
  end
end

function done(summary, latency, requests)
  local ok = 0
  for _, thread in ipairs(threads) do
    ok = ok + thread:get("created")
  end
  io.write(string.format(
    'WRKJSON {"requests":%d,"ok":%d,"duration_us":%d,"non2xx":%d,"socket_errors":%d,' ..
    '"p50_us":%d,"p95_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, ok, summary.duration, summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    latency:percentile(50), latency:percentile(95), latency:percentile(99), latency.max))
end
