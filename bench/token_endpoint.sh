#!/usr/bin/env bash
# What remembering verified client credentials saves: token requests per second with one valid credential, with
# the verified-credential cache on (`token-cache-secs = 60`, the default) and off (`0`: argon2id on every request),
# each on a fresh data directory, and how many argon2id checks the server ran (its /healthz counters).
#
#   bash bench/token_endpoint.sh            (from the repository root)
#
# Tunables (environment): BENCH_CONNS=16 BENCH_THREADS=2 BENCH_DURATION=10 BENCH_SKIP_BUILD=1
#   KEYHAVEN_BIN=/path/to/keyhaven (measure that binary; no build)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
CONNS="${BENCH_CONNS:-16}"
THREADS="${BENCH_THREADS:-2}"
DURATION="${BENCH_DURATION:-10}"
log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
for c in wrk curl jq python3; do command -v "$c" >/dev/null || die "needs $c (apt-get install $c)"; done

if [ -n "${KEYHAVEN_BIN:-}" ]; then
  KEYHAVEN="$KEYHAVEN_BIN"
else
  KEYHAVEN="target/release/keyhaven"
  [ "${BENCH_SKIP_BUILD:-0}" = 1 ] || cargo build --release --quiet
fi
[ -x "$KEYHAVEN" ] || die "no $KEYHAVEN"

OUT="bench/out/token-endpoint-$(date -u +%Y%m%dT%H%M%SZ)"
mkdir -p "$OUT"
WORK="$(mktemp -d bench/out/tmp.XXXXXX)"
PID=""
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; rm -rf "$WORK"; }
trap cleanup EXIT
{ echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ) nproc=$(nproc) loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "keyhaven_binary=$KEYHAVEN commit=$(git rev-parse --short HEAD) conns=$CONNS duration_s=$DURATION"; } > "$OUT/meta.txt"

token() { # resource -> access token
  curl -sS --max-time 30 --cacert "$DIR/tls/ca.pem" --data "$(form "$1")" \
    "https://localhost:$PORT/$(jq -r .tenantId "$DIR/admin-credential.json")/oauth2/v2.0/token" | jq -r .access_token
}
form() { # resource -> form body
  local cred="$DIR/admin-credential.json"
  python3 -c 'import sys, urllib.parse as u; print(u.urlencode({"grant_type": "client_credentials",
    "client_id": sys.argv[1], "client_secret": sys.argv[2], "scope": sys.argv[3] + "/.default"}))' \
    "$(jq -r .clientId "$cred")" "$(jq -r .clientSecret "$cred")" "$1"
}
counters() { curl -sS --cacert "$DIR/tls/ca.pem" -H "Authorization: Bearer $MTOKEN" "https://localhost:$PORT/healthz" | jq -c .tokenEndpoint; }

for cache in 60 0; do
  DIR="$WORK/kh-$cache"; mkdir -p "$DIR"
  PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
  printf 'token-cache-secs = %s\n' "$cache" > "$WORK/cache-$cache.toml"
  KEYHAVEN_LOG=warn "$KEYHAVEN" serve --data-dir "$DIR" --listen "127.0.0.1:$PORT" --config "$WORK/cache-$cache.toml" \
    > "$OUT/server-$cache.log" 2>&1 &
  PID=$!
  for _ in $(seq 150); do [ -s "$DIR/admin-credential.json" ] && curl -s -o /dev/null --cacert "$DIR/tls/ca.pem" \
    "https://localhost:$PORT/healthz" && break; sleep 0.2; done
  MTOKEN="$(token "https://localhost:$PORT")"
  before="$(counters)"
  log "token-cache-secs = $cache: ${DURATION}s at $CONNS connections"
  BENCH_BODY="$(form "https://vault.localhost:$PORT")" wrk -t "$THREADS" -c "$CONNS" -d "${DURATION}s" --latency \
    -s bench/token_request.lua "https://localhost:$PORT/$(jq -r .tenantId "$DIR/admin-credential.json")/oauth2/v2.0/token" \
    > "$OUT/wrk-$cache.txt" 2>&1
  grep -q 'Non-2xx' "$OUT/wrk-$cache.txt" && die "$(grep 'Non-2xx' "$OUT/wrk-$cache.txt")"
  after="$(counters)"
  echo "$cache $(awk '/^Requests\/sec:/ {print $2}' "$OUT/wrk-$cache.txt") $(awk '/^ +50%/ {print $2}' "$OUT/wrk-$cache.txt") \
$(awk '/^ +99%/ {print $2}' "$OUT/wrk-$cache.txt") $(jq -n --argjson a "$after" --argjson b "$before" \
'$a.secretVerifications - $b.secretVerifications') $(jq -n --argjson a "$after" --argjson b "$before" \
'$a.cachedVerifications - $b.cachedVerifications')" >> "$OUT/results.txt"
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=""
done
{ echo "| token-cache-secs | tokens/s | p50 | p99 | argon2id checks | answered from the cache |"
  echo "|---:|---:|---:|---:|---:|---:|"
  while read -r c r p50 p99 v h; do echo "| $c | $r | $p50 | $p99 | $v | $h |"; done < "$OUT/results.txt"; } | tee "$OUT/summary.md"
log "results in $OUT"
