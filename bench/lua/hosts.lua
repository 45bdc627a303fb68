-- Spreads one wrk over several servers (the scale-out case): the harness puts
-- `bench_host` and `bench_ports = {...}` before common.lua and this after the case's script.
-- Thread i connects to bench_ports[i mod N + 1] (wrk's own setup has set thread.addr to the URL's
-- address already); with threads a multiple of N, every server gets the same number of connections,
-- and the latency percentiles come from one histogram over all of them.
local case_setup = setup
local spread_next = 0

function setup(thread)
  case_setup(thread)
  local port = bench_ports[spread_next % #bench_ports + 1]
  spread_next = spread_next + 1
  thread.addr = wrk.lookup(bench_host, tostring(port))[1]
end
