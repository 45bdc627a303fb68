-- wrk script: assign+unassign pairs. An order is unassigned only after its assign answered 200.
-- Pairs per second = (unassign answers 200) / duration; the summary prints them.
local counter = 0
local queue = {}
pairs_done = 0
local threads = {}

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() + tid * 7919)
  prefix = string.format("bench-%d-%d-", tid, math.random(1, 1e9))
end

function request()
  local order = table.remove(queue)
  if order then
    return wrk.format("POST", "/api/v1/delivery/unassign", {["Content-Type"] = "application/json"},
      '{"order_id":"' .. order .. '"}')
  end
  counter = counter + 1
  return wrk.format("POST", "/api/v1/delivery/assign", {["Content-Type"] = "application/json"},
    '{"order_id":"' .. prefix .. counter .. '"}')
end

function response(status, headers, body)
  if status == 200 then
    if body:find('"delivery_deadline"', 1, true) then
      local order = body:match('"order_id":"([^"]+)"')
      table.insert(queue, order)
    elseif body:find('"unassigned"', 1, true) then
      pairs_done = pairs_done + 1
    end
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, thread in ipairs(threads) do
    total = total + thread:get("pairs_done")
  end
  io.write(string.format("pairs: %d  pairs/s: %.1f\n", total, total / (summary.duration / 1e6)))
end
