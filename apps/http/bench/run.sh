#!/usr/bin/env bash
# Measure courier-api with wrk: GET /api/v1/courier/{id} and assign+unassign pairs, 1 and 2 workers.
# Usage: apps/http/bench/run.sh [duration]   (needs wrk; starts its own embedded PostgreSQL in a temp dir)
set -euo pipefail
DURATION=${1:-15s}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=$(mktemp -d /tmp/courier-bench-XXXXXX)
PORT=${COURIER_BENCH_PORT:-18090}
API="$ROOT/.venv/bin/courier-api"
cleanup() { [[ -n "${PID:-}" ]] && kill -TERM "$PID" 2>/dev/null && wait "$PID" || true; rm -rf "$WORK"; }
trap cleanup EXIT

for WORKERS in 1 2; do
  COURIER_DATA_DIR="$WORK/data" COURIER_HTTP_PORT=$PORT COURIER_HTTP_WORKERS=$WORKERS \
    COURIER_RATE_LIMIT_SCOPE=off COURIER_DB_POOL_MAX=${COURIER_BENCH_POOL:-10} \
    "$API" >"$WORK/api.log" 2>"$WORK/api.err" &
  PID=$!
  until curl -sf "http://127.0.0.1:$PORT/readyz" >/dev/null; do sleep 0.2; done
  for i in $(seq 1 200); do
    curl -sf -o /dev/null -X POST "http://127.0.0.1:$PORT/api/v1/courier" \
      -d "{\"name\":\"Bench\",\"phone\":\"+7$(printf '%010d' $((WORKERS * 1000 + i)))\",\"status\":\"available\"}" || true
  done
  ID=$(curl -sf "http://127.0.0.1:$PORT/api/v1/couriers?limit=1" | sed -E 's/^\[\{"id":([0-9]+).*/\1/')
  DB_URL=$(cat "$WORK/data/postgres.url" | sed 's|/postgres?|/courier?|')
  "$ROOT/.venv/bin/python" "$HERE/ceiling.py" "$DB_URL" $((PORT + 1)) "$WORKERS" >"$WORK/ceiling.log" 2>&1 &
  CEILING=$!
  until curl -sf "http://127.0.0.1:$((PORT + 1))/api/v1/courier/$ID" >/dev/null; do sleep 0.2; done
  for ROUND in 1 2; do  # alternate, so both see the same background load
    echo "== $WORKERS worker(s), round $ROUND: courier-api GET /api/v1/courier/$ID"
    wrk -t2 -c64 -d"$DURATION" "http://127.0.0.1:$PORT/api/v1/courier/$ID" | grep -E "Requests/sec|Latency|Non-2xx"
    echo "== $WORKERS worker(s), round $ROUND: ceiling (bare Starlette + psycopg) GET /api/v1/courier/$ID"
    wrk -t2 -c64 -d"$DURATION" "http://127.0.0.1:$((PORT + 1))/api/v1/courier/$ID" | grep -E "Requests/sec|Latency|Non-2xx"
  done
  kill -TERM "$CEILING"; wait "$CEILING" || true
  echo "== $WORKERS worker(s): assign+unassign pairs"
  wrk -t2 -c64 -d"$DURATION" -s "$HERE/assign_unassign.lua" "http://127.0.0.1:$PORT" | grep -E "Requests/sec|Latency|Non-2xx|pairs"
  kill -TERM "$PID"; wait "$PID" || true; PID=
done
