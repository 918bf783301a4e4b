#!/usr/bin/env bash
# Soak test of `qualify serve` on loopback: builds the release binary, starts it on a
# free port with a fresh data folder, and drives a steady mixed load with wrk for a set
# time: valid requests (55 % POST /v1/score, 25 % POST /v1/contacts/{id}/messages over
# 5,000 contacts) and invalid ones (8 % malformed JSON, 6 % a bad key, 6 % a body over
# 64 KiB). Prints one JSON line: throughput, statuses, socket errors, latency (p50, p99,
# max), the server's resident memory (VmRSS) after a warm-up and at the end, and samples
# of it along the way. Needs `wrk` and `curl` (Debian packages); installs nothing.
#
#   host/benches/soak.sh [SECONDS] [RATE]      # defaults: 600 s, 6000 requests/s
#
# Fails (exit 1) on any 5xx other than 503 with Retry-After, on a panic in the server's
# log, if the server dies, if its memory grows by more than MAX_GROWTH_MIB (default 64)
# between the end of the warm-up and the end of the run, or by more than LATE_GROWTH_MIB
# (default 8) over the run's last third (a leak keeps growing; caches level off). The
# server runs with CACHE_MIB (default 16) of store page cache: the cache fills as the
# data grows and is part of the first bound, so say which you ran with.
#
# The rate: wrk has no -R (that is wrk2's), so each connection waits `delay` ms before
# its next request: rate ~ CONNS x 1000 / (delay + latency). The default RATE is about
# 70 % of this mix's capacity on the 2-core machine of BENCHMARKS.md (score ~11,900/s,
# messages ~4,450/s, refusals far cheaper: ~8,900/s for the mix). wrk shares the cores
# with the server, so read the achieved rate in the output, not the target.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-600}
RATE=${2:-6000}
CONNS=${CONNS:-32}
WARMUP=${WARMUP:-10}
MAX_GROWTH_MIB=${MAX_GROWTH_MIB:-64}
LATE_GROWTH_MIB=${LATE_GROWTH_MIB:-8}
CACHE_MIB=${CACHE_MIB:-16}
for tool in wrk curl; do
  if ! command -v "$tool" > /dev/null; then
    echo "soak.sh: needs $tool (Debian package '$tool'), which is not installed" >&2
    exit 2
  fi
done
cargo build --release -p qualify
BIN=target/release/qualify
WORK=$(mktemp -d)
SERVER=
SAMPLER=
cleanup() {
  [ -n "$SAMPLER" ] && kill "$SAMPLER" 2> /dev/null || true
  [ -n "$SERVER" ] && kill "$SERVER" 2> /dev/null && wait "$SERVER" 2> /dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# A free loopback port: nothing answers on it.
for _ in $(seq 50); do
  PORT=$((20000 + RANDOM % 20000))
  (exec 3<> "/dev/tcp/127.0.0.1/$PORT") 2> /dev/null || break
done
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$WORK/master.key"
echo soak-admin > "$WORK/admin.key"
# No rate limit: the soak measures the server, not the limiter (bad keys still get 401).
$BIN serve --addr "127.0.0.1:$PORT" --data "$WORK/data" --key-file "$WORK/master.key" \
  --admin-key-file "$WORK/admin.key" --no-rate-limit --cache-mib "$CACHE_MIB" > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" > /dev/null && break; sleep 0.1; done
KEY=$(curl -sf -XPOST -H 'Authorization: Bearer soak-admin' -H 'Content-Type: application/json' -d '{"tenant":"soak","tier":"enterprise"}' \
  "http://127.0.0.1:$PORT/admin/tenants" | sed 's/.*"api_key":"\([^"]*\)".*/\1/')
rss_kib() { awk '/^VmRSS/ { print $2 }' "/proc/$SERVER/status"; }

DELAY=$(( CONNS * 1000 / RATE - 1 ))
[ "$DELAY" -lt 0 ] && DELAY=0
cat > "$WORK/mix.lua" <<LUA
local key = "$KEY"
local lead = '{"tags":["Hit List"],"messages":[{"from":"lead","text":"We want to buy a 3 bed in Plano, around 450k, pre-approved"}]}'
local msg = '{"text":"We want to buy a 3 bed in Plano, around 450k, pre-approved","tags":["Hit List"]}'
local big = '{"text":"' .. string.rep("a", 70 * 1024) .. '"}'
local json = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. key }
local badkey = { ["Content-Type"] = "application/json", ["Authorization"] = "Bearer qfy_soak.nope" }
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  bad5xx = 0
  math.randomseed(os.time() + #threads * 7919)
end

function delay()
  return $DELAY
end

function request()
  local r = math.random(100)
  if r <= 55 then
    return wrk.format("POST", "/v1/score", json, lead)
  elseif r <= 80 then
    return wrk.format("POST", string.format("/v1/contacts/c%d/messages", math.random(1, 5000)), json, msg)
  elseif r <= 88 then
    return wrk.format("POST", "/v1/score", json, '{"tags": [')
  elseif r <= 94 then
    return wrk.format("POST", "/v1/score", badkey, lead)
  else
    return wrk.format("POST", "/v1/contacts/big/messages", json, big)
  end
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
  if status >= 500 and not (status == 503 and headers["retry-after"]) then
    bad5xx = bad5xx + 1
  end
end

function done(summary, latency, requests)
  local statuses, bad = {}, 0
  for _, t in ipairs(threads) do
    for s, n in pairs(t:get("counts")) do
      statuses[s] = (statuses[s] or 0) + n
    end
    bad = bad + t:get("bad5xx")
  end
  local parts = {}
  for s, n in pairs(statuses) do
    table.insert(parts, string.format('"%d":%d', s, n))
  end
  table.sort(parts)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format(
    'SOAK {"requests":%d,"seconds":%.1f,"requests_per_s":%.0f,"p50_ms":%.2f,"p99_ms":%.2f,"max_ms":%.2f,"statuses":{%s},"socket_errors":{"connect":%d,"read":%d,"write":%d,"timeout":%d},"bad_5xx":%d}\n',
    summary.requests, secs, summary.requests / secs, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000, table.concat(parts, ","),
    e.connect, e.read, e.write, e.timeout, bad))
end
LUA

URL="http://127.0.0.1:$PORT"
echo "soak.sh: warming up ${WARMUP} s, then ${DURATION} s at ~${RATE} requests/s (${CONNS} connections, ${DELAY} ms between requests)" >&2
wrk -t2 -c"$CONNS" -d"${WARMUP}s" --timeout 10s -s "$WORK/mix.lua" "$URL" > /dev/null
RSS_START=$(rss_kib)
( while sleep 10; do echo "$(rss_kib)"; done ) > "$WORK/rss.samples" 2> /dev/null &
SAMPLER=$!
wrk -t2 -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency -s "$WORK/mix.lua" "$URL" > "$WORK/wrk.out" 2>&1 || true
kill "$SAMPLER" 2> /dev/null || true
SAMPLER=
if ! kill -0 "$SERVER" 2> /dev/null; then
  echo "soak.sh: FAIL: the server died; its log:" >&2
  tail -20 "$WORK/serve.log" >&2
  exit 1
fi
RSS_END=$(rss_kib)
RESULT=$(grep '^SOAK ' "$WORK/wrk.out" | sed 's/^SOAK //')
if [ -z "$RESULT" ]; then
  echo "soak.sh: FAIL: wrk printed no result:" >&2
  cat "$WORK/wrk.out" >&2
  exit 1
fi
SAMPLES=$(paste -sd, "$WORK/rss.samples")
GROWTH_KIB=$((RSS_END - RSS_START))
echo "${RESULT%\}},\"target_rate\":$RATE,\"rss_start_mib\":$((RSS_START / 1024)),\"rss_end_mib\":$((RSS_END / 1024)),\"rss_samples_kib\":[${SAMPLES}],\"data_mib\":$(du -sm "$WORK/data" | cut -f1),\"cache_mib\":$CACHE_MIB}"

status=0
BAD=$(echo "$RESULT" | sed 's/.*"bad_5xx":\([0-9]*\).*/\1/')
if [ "$BAD" != 0 ]; then
  echo "soak.sh: FAIL: $BAD answers were 5xx other than 503 with Retry-After" >&2
  status=1
fi
if grep -q panicked "$WORK/serve.log"; then
  echo "soak.sh: FAIL: the server panicked:" >&2
  grep -m3 -A3 panicked "$WORK/serve.log" >&2
  status=1
fi
if [ "$GROWTH_KIB" -gt $((MAX_GROWTH_MIB * 1024)) ]; then
  echo "soak.sh: FAIL: resident memory grew by $((GROWTH_KIB / 1024)) MiB (bound ${MAX_GROWTH_MIB} MiB)" >&2
  status=1
fi
# Growth over the last third of the samples (one every 10 s).
N=$(wc -l < "$WORK/rss.samples")
if [ "$N" -ge 3 ]; then
  FROM=$(sed -n "$((N - N / 3))p" "$WORK/rss.samples")
  TO=$(tail -n 1 "$WORK/rss.samples")
  LATE_KIB=$((TO - FROM))
  echo "soak.sh: resident memory over the last third: $((LATE_KIB / 1024)) MiB (bound ${LATE_GROWTH_MIB} MiB)" >&2
  if [ "$LATE_KIB" -gt $((LATE_GROWTH_MIB * 1024)) ]; then
    echo "soak.sh: FAIL: memory still growing in the last third of the run" >&2
    status=1
  fi
fi
exit $status
