-- Assign a new order, then unassign it once its assignment has answered: couriers never run out.
-- The order id comes back in the assign answer; it is unassigned by whichever connection is next.
local pending = {}
local n = 0

function request()
  local order = table.remove(pending)
  if order then
    return wrk.format("POST", "/api/v1/delivery/unassign", json_headers, '{"order_id":"' .. order .. '"}')
  end
  n = n + 1
  return wrk.format("POST", "/api/v1/delivery/assign", json_headers,
    string.format('{"order_id":"bench-%s-%d-%d"}', tag, thread_id, n))
end

function response(status, headers, body)
  count_status(status)
  if status == 200 and string.find(body, "delivery_deadline", 1, true) then
    local order = string.match(body, '"order_id"%s*:%s*"([^"]+)"')
    if order then table.insert(pending, order) end
  end
end
