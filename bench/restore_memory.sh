#!/usr/bin/env bash
# Server memory while backing up and restoring a ~1 GiB vault.
#
#   bash bench/restore_memory.sh            (from the repository root)
#
# Starts target/release/keyhaven on a fresh data dir, fills vault `src` with
# RM_SECRETS secrets x RM_VERSIONS versions of RM_VALUE_BYTES bytes (default
# 4300 x 10 x 25000 = 1.075e9 bytes of secret values, the largest value the API
# takes is 25,600 bytes), backs it up (server-side job), restores that backup
# into the empty vault `dst` (PUT /restore?backupId=...), backs `dst` up and
# checks that its manifest digest equals src's (same objects, versions,
# attributes and values).
#
# The backup and the restore each run in a freshly started server (same data
# dir), so that a step's figure includes everything it needs, the store's
# page cache (64 MiB at most) too. For each it reports the server's RSS growth:
# the peak is reset just before the step (echo 5 > /proc/PID/clear_refs) and
# growth = VmHWM after the step - VmRSS before it. During the restore it also
# writes a small secret into src every 100 ms and reports those writes'
# latency (a restore must not stall the other vaults). Raw JSON lines go to
# bench/out/restore-memory-<UTC time>.jsonl.
#
# Tunables (environment): RM_SECRETS=4300 RM_VERSIONS=10 RM_VALUE_BYTES=25000
#   RM_CONCURRENCY=16 BENCH_SKIP_BUILD=1 (use the existing release binary)
#   KEYHAVEN_BIN=path (measure that binary instead, e.g. an older build)
# Needs: curl, jq, python3; ~6 GiB free disk under bench/out.

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
cd "$ROOT"

SECRETS="${RM_SECRETS:-4300}"
VERSIONS="${RM_VERSIONS:-10}"
VALUE_BYTES="${RM_VALUE_BYTES:-25000}"
CONCURRENCY="${RM_CONCURRENCY:-16}"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }
for t in curl jq python3; do command -v "$t" >/dev/null || die "$t is needed"; done

TARGET="${CARGO_TARGET_DIR:-$ROOT/target}"
KEYHAVEN="${KEYHAVEN_BIN:-$TARGET/release/keyhaven}"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ] && [ -z "${KEYHAVEN_BIN:-}" ]; then
  log "building keyhaven (cargo build --release)"
  cargo build --release --quiet --bin keyhaven || die "cargo build --release failed"
fi
[ -x "$KEYHAVEN" ] || die "no $KEYHAVEN"

mkdir -p "$BENCH/out"
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
RESULTS="$BENCH/out/restore-memory-$STAMP.jsonl"
WORK="$(mktemp -d "$BENCH/out/tmp.XXXXXX")"
KH_PID=""
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ -n "$KH_PID" ] && kill -0 "$KH_PID" 2>/dev/null; then
    kill -TERM "$KH_PID" 2>/dev/null || true
    wait "$KH_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "stopped by a signal"; exit 130' INT TERM

PORT="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
DATA="$WORK/data"
CA="$DATA/tls/ca.pem"
start_server() {
  KEYHAVEN_LOG=warn KEYHAVEN_THROTTLE_LIMIT=0 "$KEYHAVEN" serve --data-dir "$DATA" --listen "127.0.0.1:$PORT" \
    >> "$WORK/server.log" 2>&1 &
  KH_PID=$!
  for _ in $(seq 300); do [ -s "$DATA/admin-credential.json" ] && [ -s "$CA" ] && break; sleep 0.2; done
  [ -s "$DATA/admin-credential.json" ] || { cat "$WORK/server.log" >&2; die "no admin-credential.json"; }
  for _ in $(seq 150); do
    curl -s -o /dev/null --max-time 2 --cacert "$CA" "https://localhost:$PORT/healthz" && break; sleep 0.2
  done
  kill -0 "$KH_PID" || { cat "$WORK/server.log" >&2; die "keyhaven exited"; }
  sleep 2
}
stop_server() {
  kill -TERM "$KH_PID"; wait "$KH_PID" 2>/dev/null || true; KH_PID=""
}
log "starting keyhaven on 127.0.0.1:$PORT (data dir $DATA)"
start_server
CRED="$DATA/admin-credential.json"
KH_TOKEN="$(curl -sS --max-time 30 --cacert "$CA" \
  --data-urlencode grant_type=client_credentials \
  --data-urlencode "client_id=$(jq -r .clientId "$CRED")" \
  --data-urlencode "client_secret=$(jq -r .clientSecret "$CRED")" \
  --data-urlencode "scope=https://vault.localhost:$PORT/.default" \
  "https://localhost:$PORT/$(jq -r .tenantId "$CRED")/oauth2/v2.0/token" | jq -r .access_token)"
[ -n "$KH_TOKEN" ] && [ "$KH_TOKEN" != null ] || die "no token"
export KH_TOKEN
for v in src dst; do
  code="$(curl -sS -o /dev/null -w '%{http_code}' --cacert "$CA" -X PUT -H "Authorization: Bearer $KH_TOKEN" \
    -H 'Content-Type: application/json' -d '{}' "https://localhost:$PORT/_keyhaven/vaults/$v")"
  [ "$code" = 201 ] || die "creating vault $v: $code"
done

tool() { python3 "$BENCH/restore_memory.py" --port "$PORT" --cafile "$CA" --pid "$KH_PID" "$@"; }
rss() { awk "/^$1:/ {print \$2}" "/proc/$KH_PID/status"; }

log "seeding src: $SECRETS secrets x $VERSIONS versions x $VALUE_BYTES bytes"
tool --vault src seed --secrets "$SECRETS" --versions "$VERSIONS" --size "$VALUE_BYTES" \
  --concurrency "$CONCURRENCY" | tee -a "$RESULTS"
echo "{\"step\":\"seeded\",\"rss_kb\":$(rss VmRSS),\"store_kb\":$(du -sk "$DATA/keyhaven.redb" | cut -f1)}" | tee -a "$RESULTS"
# Each measured step runs in a freshly started server, so that its growth includes everything it needs (the
# store's page cache too) and nothing an earlier step left behind.
stop_server; start_server
log "backup of src (fresh server, RSS $(rss VmRSS) kB)"
B="$(tool --vault src backup)"; echo "$B" | tee -a "$RESULTS"
JOB="$(jq -r .job <<<"$B")"; DIGEST="$(jq -r .digest <<<"$B")"
stop_server; start_server
log "restore into dst (fresh server, RSS $(rss VmRSS) kB)"
tool --vault dst restore --backup-id "$JOB" --probe-vault src | tee -a "$RESULTS"
log "checking dst against src"
tool --vault dst verify --digest "$DIGEST" | tee -a "$RESULTS"
echo "{\"step\":\"end\",\"rss_kb\":$(rss VmRSS),\"hwm_kb\":$(rss VmHWM),\"data_dir_kb\":$(du -sk "$DATA" | cut -f1),\"commit\":\"$(git -C "$ROOT" rev-parse --short HEAD)\",\"binary\":\"$KEYHAVEN\"}" | tee -a "$RESULTS"

python3 - "$RESULTS" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {r["step"]: r for r in rows}
mib = lambda kb: f"{kb / 1024:.1f} MiB"
s = by["seed"]
print(f"\nvault: {s['secrets']} secrets x {s['versions']} versions x {s['value_bytes']} B = "
      f"{s['plaintext_bytes'] / 2**30:.2f} GiB of values; backup file {by['backup']['bytes'] / 2**30:.2f} GiB")
print(f"{'step':<8} {'seconds':>8} {'RSS before':>12} {'peak (HWM)':>12} {'growth':>10} {'RSS after':>12}")
for k in ("backup", "restore"):
    r = by[k]
    print(f"{k:<8} {r['seconds']:>8} {mib(r['rss_start_kb']):>12} {mib(r['hwm_kb']):>12} "
          f"{mib(r['growth_kb']):>10} {mib(r['rss_end_kb']):>12}")
r = by["restore"]
print(f"writes into another vault during the restore: {r['other_vault_writes']}, "
      f"p50 {r['other_vault_write_p50_ms']} ms, max {r['other_vault_write_max_ms']} ms")
print(f"restored vault matches the source: {by['verify']['matches']}")
EOF
log "raw results: $RESULTS"
