-- The memory soak's mix, run in rounds until the soak's count is reached: mostly reads (the cheapest,
-- so a million requests fit the time), a list and an assign/unassign pair every 16 requests.
local pending = {}
local n = 0

function request()
  local order = table.remove(pending)
  if order then
    return wrk.format("POST", "/api/v1/delivery/unassign", json_headers, '{"order_id":"' .. order .. '"}')
  end
  n = n + 1
  if n % 16 == 0 then
    return wrk.format("POST", "/api/v1/delivery/assign", json_headers,
      string.format('{"order_id":"soak-%s-%d-%d"}', tag, thread_id, n))
  elseif n % 16 == 1 then
    return wrk.format("GET", "/api/v1/couriers?limit=50&after_id=" .. math.random(0, max_id))
  end
  return wrk.format("GET", "/api/v1/courier/" .. math.random(1, max_id))
end

function response(status, headers, body)
  count_status(status)
  if status == 200 and string.find(body, "delivery_deadline", 1, true) then
    local order = string.match(body, '"order_id"%s*:%s*"([^"]+)"')
    if order then table.insert(pending, order) end
  end
end
