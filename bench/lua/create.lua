-- POST /api/v1/courier with distinct phones: +8, the run's tag (2 digits), the thread, a counter.
local n = 0
function request()
  n = n + 1
  local body = string.format(
    '{"name":"Bench Created","phone":"+8%02d%d%07d","status":"available","transport_type":"car"}',
    tonumber(tag) % 100, thread_id, n)
  return wrk.format("POST", "/api/v1/courier", json_headers, body)
end
