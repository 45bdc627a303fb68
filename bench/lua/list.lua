-- GET /api/v1/couriers?limit=50, after the id given as `extra` (keyset paging; 0 = first page).
local path
function case_init()
  path = "/api/v1/couriers?limit=50"
  if extra ~= "" and extra ~= "0" then path = path .. "&after_id=" .. extra end
end

function request()
  return wrk.format("GET", path)
end
