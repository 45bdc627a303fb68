#!/usr/bin/env bash
# Server CPU time per request (from /proc, so other load on the machine matters little): courier-api
# against the bare Starlette + psycopg ceiling, one worker each, GET /api/v1/courier/1 under wrk -c64.
# Usage: apps/http/bench/cpu.sh [duration] [rounds]     (API_ENV="COURIER_X=y ..." to vary courier-api)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK=$(mktemp -d /tmp/courier-cpu-XXXXXX)
PORT=${COURIER_BENCH_PORT:-18300}
cleanup() {
  for pid in ${API:-} ${CEILING:-}; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT
# shellcheck disable=SC2086
env ${API_ENV:-} COURIER_DATA_DIR="$WORK/data" COURIER_HTTP_PORT=$PORT COURIER_RATE_LIMIT_SCOPE=off \
  "$ROOT/.venv/bin/courier-api" >"$WORK/api.log" 2>&1 &
API=$!
until curl -sf "localhost:$PORT/readyz" >/dev/null; do sleep 0.2; done
curl -sf -XPOST "localhost:$PORT/courier" -d '{"name":"Ivan","phone":"+79990001122","status":"available"}' >/dev/null
DB=$(sed 's|/postgres?|/courier?|' "$WORK/data/postgres.url")
"$ROOT/.venv/bin/python" "$HERE/ceiling.py" "$DB" $((PORT + 1)) 1 >"$WORK/ceiling.log" 2>&1 &
CEILING=$!
until curl -sf "localhost:$((PORT + 1))/api/v1/courier/1" >/dev/null; do sleep 0.2; done
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
HZ=$(getconf CLK_TCK)
for round in $(seq 1 "${2:-3}"); do
  for target in courier-api ceiling; do
    if [[ $target == courier-api ]]; then pid=$API; port=$PORT; else pid=$CEILING; port=$((PORT + 1)); fi
    before=$(ticks "$pid")
    out=$(wrk -t2 -c64 -d"${1:-6s}" "http://127.0.0.1:$port/api/v1/courier/1")
    after=$(ticks "$pid")
    requests=$(awk '/requests in/ {print $1}' <<<"$out")
    rate=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    awk -v t=$((after - before)) -v r="$requests" -v hz="$HZ" -v name="$target" -v rate="$rate" -v round="$round" \
      'BEGIN { printf "round %s %-12s %9s req/s  %5.0f us CPU/request\n", round, name, rate, t / hz / r * 1e6 }'
  done
done
