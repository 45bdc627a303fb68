-- Shared by every case (the harness puts it before the case's own script).
-- Arguments after `--`: tag (a digit that keeps ids of different runs apart), max_id (largest
-- courier id to read), extra (a case's own argument).
local threads = {}
local next_thread = 0
json_headers = { ["Content-Type"] = "application/json" }
statuses = {}

function setup(thread)
  thread:set("thread_id", next_thread)
  next_thread = next_thread + 1
  table.insert(threads, thread)
end

function init(args)
  tag = args[1] or "0"
  max_id = tonumber(args[2] or "1000")
  extra = args[3] or ""
  math.randomseed(os.time() + thread_id * 7919)
  if case_init then case_init() end
end

-- Only cases that define response() (they need the body) count statuses themselves.
function count_status(status)
  statuses[status] = (statuses[status] or 0) + 1
end

function done(summary, latency, requests)
  local merged = {}
  for _, thread in ipairs(threads) do
    for status, count in pairs(thread:get("statuses") or {}) do
      merged[status] = (merged[status] or 0) + count
    end
  end
  local parts = {}
  for status, count in pairs(merged) do
    table.insert(parts, string.format('"%d": %d', status, count))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH_JSON {"requests": %d, "duration_us": %d, "bytes": %d, "p50_us": %d, "p90_us": %d, '
      .. '"p99_us": %d, "max_us": %d, "mean_us": %.1f, "errors": {"connect": %d, "read": %d, '
      .. '"write": %d, "status": %d, "timeout": %d}, "statuses": {%s}}\n',
    summary.requests, summary.duration, summary.bytes, latency:percentile(50), latency:percentile(90),
    latency:percentile(99), latency.max, latency.mean, e.connect, e.read, e.write, e.status, e.timeout,
    table.concat(parts, ", ")))
end
