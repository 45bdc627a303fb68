-- GET /api/v1/courier/{id} over random ids from 1 to max_id.
function request()
  return wrk.format("GET", "/api/v1/courier/" .. math.random(1, max_id))
end
