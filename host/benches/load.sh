#!/usr/bin/env bash
# Load check of `qualify serve` on loopback (issue 11): starts a release server on a
# fresh data folder, registers tenants, runs each scenario with wrk for a bounded time
# and prints one JSON line per scenario: {"scenario", "requests_per_s", "p50_ms",
# "p99_ms", "errors", "requests"} and, with one server, the server's CPU time and context
# switches per request ("server_cpu_us_per_request", "server_switches_per_request") and
# the upper bound of the bucket of the server's own latency histogram that holds the
# route's 99th percentile ("server_p99_le_ms": from the request middleware to the answer,
# without the time a request waits in the kernel, in tokio's queues or in wrk, which
# shares the cores).
# Needs `wrk` (Debian package) and a release build:
#
#   cargo build --release -p qualify && host/benches/load.sh [SECONDS] [CONNECTIONS]
#
# DATABASE_URL=postgres://… keeps the store in that (empty) PostgreSQL database instead of
# a data folder; REPLICAS=2 (with DATABASE_URL) starts two servers on it and splits the
# connections between them (two wrk at once; requests/s summed, the worse p50/p99).
# TENANT_CONCURRENCY and HTTP_THREADS set the server's `--tenant-concurrency` (default 2
# here) and `--http-threads` (default: the server's).
# BATCH_QUERY="?explain=false" is appended to the batch scenario's path.
# SCENARIOS="score batch_100" runs only those (default: all); PERF=FILE records the
# (first) server with `perf record -g` (or PERF_ARGS) into FILE while the scenarios run.
# Client and server share the machine's cores: compare scenarios of one run, not runs.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_EACH=${1:-10}
NO_RATE_LIMIT=${NO_RATE_LIMIT---no-rate-limit}
CONNS=${2:-64}
BIN=${BIN:-target/release/qualify}
WORK=$(mktemp -d)
REPLICAS=${REPLICAS:-1}
SERVERS=()
trap 'kill "${SERVERS[@]}" 2>/dev/null || true; rm -rf "$WORK"' EXIT

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/master.key"
echo load-admin > "$WORK/admin.key"
mkdir -p "$WORK/rules/hog"
cp -r rules/default "$WORK/rules/"
printf 'fn score(lead, cfg) { let n = 0; loop { n += 1; } }\n' > "$WORK/rules/hog/zz.rhai"
if [ -n "${DATABASE_URL:-}" ]; then STORE=(--database "$DATABASE_URL"); else STORE=(--data "$WORK/data"); fi
PORTS=()
for r in $(seq "$REPLICAS"); do
  P=$((20000 + RANDOM % 20000))
  $BIN serve --addr 127.0.0.1:$P "${STORE[@]}" --rules "$WORK/rules" \
    --key-file "$WORK/master.key" --admin-key-file "$WORK/admin.key" $NO_RATE_LIMIT \
    --tenant-concurrency "${TENANT_CONCURRENCY:-2}" ${HTTP_THREADS:+--http-threads "$HTTP_THREADS"} \
    > "$WORK/serve-$r.log" 2>&1 &
  SERVERS+=($!)
  PORTS+=($P)
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$P/healthz" >/dev/null && break; sleep 0.1; done
done
PORT=${PORTS[0]}
key() {
  curl -sf -XPOST -H 'Authorization: Bearer load-admin' -H 'Content-Type: application/json' -d "{\"tenant\":\"$1\",\"tier\":\"enterprise\"}" \
    "http://127.0.0.1:$PORT/admin/tenants" | sed 's/.*"api_key":"\([^"]*\)".*/\1/'
}
KEY=$(key load)
HOG=$(key hog)

lua() { # $1 file, $2 key, $3 body, $4 path template (%d: a random contact)
  cat > "$1" <<LUA
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer $2"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$3'
local path = "$4"
request = function()
  return wrk.format(nil, string.format(path, math.random(1, 5000)))
end
response = function(status, headers, body)
  if status >= 300 and not shown then
    shown = true
    io.stderr:write("first error: ", status, " ", body, "\n")
  end
end
LUA
}
LEAD='{"tags":["Hit List"],"messages":[{"from":"lead","text":"We want to buy a 3 bed in Plano, around 450k, pre-approved"}]}'
MSG='{"text":"We want to buy a 3 bed in Plano, around 450k, pre-approved","tags":["Hit List"]}'
# A hundred copies of the `score` scenario's lead (spaces and all).
BATCH=$(python3 -c 'import sys; print("{\"leads\":[" + ",".join([sys.argv[1]] * 100) + "]}")' "$LEAD")
lua "$WORK/score.lua" "$KEY" "$LEAD" "/v1/score"
lua "$WORK/messages.lua" "$KEY" "$MSG" "/v1/contacts/c%d/messages"
lua "$WORK/batch.lua" "$KEY" "$BATCH" "/v1/score/batch${BATCH_QUERY:-}"
lua "$WORK/hog.lua" "$HOG" '{}' "/v1/score"

report() { # $1 scenario, wrk output on stdin
  awk -v name="$1" '
    / requests in / { total = $1 }
    /Requests\/sec/ { rps = $2 }
    /^ +50%/ { p50 = $2 } /^ +99%/ { p99 = $2 }
    /Non-2xx/ { errors = $5 }
    function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
    END { printf "{\"scenario\":\"%s\",\"requests_per_s\":%s,\"p50_ms\":%.2f,\"p99_ms\":%.2f,\"errors\":%d,\"requests\":%d}\n", name, rps, ms(p50), ms(p99), errors + 0, total + 0 }'
}
usage() { # CPU time (clock ticks) and context switches of the server, over all its threads
  local pid=${SERVERS[0]}
  echo "$(awk '{print $14 + $15}' "/proc/$pid/stat") $(cat /proc/"$pid"/task/*/status 2>/dev/null | awk '/ctxt_switches/ {s += $2} END {print s + 0}')"
}
with_usage() { # $1 usage before, $2 after, $3 route, a report line on stdin: adds the
  # server's CPU time and context switches per request, and the 99th percentile of the
  # server's own latency histogram for the route (the bucket it falls in: from the
  # middleware to the answer, without the client's or the kernel's queueing), one server
  python3 -c '
import json, os, re, sys
line = json.loads(sys.stdin.read())
(t0, s0), (t1, s1) = ([int(x) for x in a.split()] for a in sys.argv[1:3])
n = max(line["requests"], 1)
line["server_cpu_us_per_request"] = round((t1 - t0) * 1e6 / os.sysconf("SC_CLK_TCK") / n, 1)
line["server_switches_per_request"] = round((s1 - s0) / n, 2)
def buckets(path):
    out = {}
    for l in open(path):
        m = re.match(r"qualify_http_request_duration_seconds_bucket\{(.*)\} (\S+)", l)
        if m and ("route=\"%s\"" % sys.argv[3]) in m.group(1):
            le = re.search(r"le=\"([^\"]+)\"", m.group(1)).group(1)
            out[le] = out.get(le, 0) + float(m.group(2))
    return out
b0, b1 = buckets(sys.argv[4]), buckets(sys.argv[5])
delta = sorted(((float(le), b1[le] - b0.get(le, 0)) for le in b1), key=lambda x: x[0])
if delta and delta[-1][1] > 0:
    total = delta[-1][1]
    line["server_p99_le_ms"] = next(le * 1000 for le, c in delta if c >= 0.99 * total)
print(json.dumps(line, separators=(",", ":")))' "$1" "$2" "$3" "$WORK/before.prom" "$WORK/after.prom"
}
run() { # $1 scenario, $2 lua, $3 route (as /metrics labels it): the connections split
  # over the replicas
  if [ "$REPLICAS" -eq 1 ]; then
    local before after
    curl -sf "http://127.0.0.1:$PORT/metrics" > "$WORK/before.prom" || true
    before=$(usage)
    wrk -t2 -c"$CONNS" -d"${SECONDS_EACH}s" --latency -s "$2" "http://127.0.0.1:$PORT" | report "$1" > "$WORK/one.json"
    after=$(usage)
    curl -sf "http://127.0.0.1:$PORT/metrics" > "$WORK/after.prom" || true
    with_usage "$before" "$after" "$3" < "$WORK/one.json"
    return
  fi
  local n=0 pids=()
  for P in "${PORTS[@]}"; do
    n=$((n + 1))
    wrk -t1 -c"$((CONNS / REPLICAS))" -d"${SECONDS_EACH}s" --latency -s "$2" "http://127.0.0.1:$P" \
      | report "$1" > "$WORK/part-$n.json" &
    pids+=($!)
  done
  wait "${pids[@]}"
  python3 - "$WORK"/part-*.json <<'PY'
import json, sys
parts = [json.load(open(f)) for f in sys.argv[1:]]
print(json.dumps({"scenario": parts[0]["scenario"], "replicas": len(parts),
                  "requests_per_s": round(sum(p["requests_per_s"] for p in parts), 2),
                  "p50_ms": max(p["p50_ms"] for p in parts), "p99_ms": max(p["p99_ms"] for p in parts),
                  "errors": sum(p["errors"] for p in parts)}, separators=(",", ":")))
PY
  rm -f "$WORK"/part-*.json
}
SCENARIOS=${SCENARIOS:-score messages batch_100 score_beside_a_hog}
wanted() { [[ " $SCENARIOS " == *" $1 "* ]]; }
if [ -n "${PERF:-}" ]; then
  perf record ${PERF_ARGS:--g} -o "$PERF" -p "${SERVERS[0]}" 2> "$WORK/perf.log" &
  PERFER=$!
fi
if wanted score; then run score "$WORK/score.lua" /v1/score; fi
if wanted messages; then run messages "$WORK/messages.lua" /v1/contacts/:contact/messages; fi
if wanted batch_100; then run batch_100 "$WORK/batch.lua" /v1/score/batch; fi
if wanted score_beside_a_hog; then
  # A tenant whose hook spins until its limit, alongside the others.
  wrk -t1 -c8 -d"$((SECONDS_EACH + 2))s" -s "$WORK/hog.lua" "http://127.0.0.1:$PORT" > /dev/null &
  HOGGER=$!
  sleep 1
  run score_beside_a_hog "$WORK/score.lua" /v1/score
  wait $HOGGER || true
fi
if [ -n "${PERF:-}" ]; then kill -INT "$PERFER"; wait "$PERFER" || true; fi
