#!/usr/bin/env bash
# What the audit log costs: secret GET and durable SET throughput at 32 connections with the audit log on
# (the default: every request's record fdatasync'd before its answer) and off (`audit = false`), in alternating
# runs on one machine, each on a fresh data directory; odd rounds run "on" first, even rounds "off" first, so that
# drift of the machine during a round does not favour one side. The summary ends with the median of the rounds,
# then gives the server's CPU per request (all threads, from /proc/PID/stat) by round and mode.
#
#   bash bench/audit.sh            (from the repository root)
#
# Tunables (environment): BENCH_SECRETS=1000 BENCH_VALUE_BYTES=32 BENCH_CONNS=32 BENCH_THREADS=2
#   BENCH_DURATION=10 BENCH_WARMUP=3 BENCH_ROUNDS=2 BENCH_SKIP_BUILD=1 KEYHAVEN_BIN=/path/to/keyhaven
set -euo pipefail

source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

SECRETS="${BENCH_SECRETS:-1000}"
VALUE_BYTES="${BENCH_VALUE_BYTES:-32}"
CONNS="${BENCH_CONNS:-32}"
THREADS="${BENCH_THREADS:-2}"
DURATION="${BENCH_DURATION:-10}"
WARMUP="${BENCH_WARMUP:-3}"
ROUNDS="${BENCH_ROUNDS:-2}"

bench_install
bench_build
bench_run_context audit-run tmp
bench_quiet_wait 120
bench_start_clock 1800
{ meta_common; echo "secrets=$SECRETS value_bytes=$VALUE_BYTES conns=$CONNS duration_s=$DURATION rounds=$ROUNDS"; } > "$OUT/meta.txt"

run_wrk() { # outfile conns duration url
  timeout $(( $3 + 30 )) wrk -t "$THREADS" -c "$2" -d "${3}s" --timeout 5s --latency \
    -s "$BENCH/request.lua" "$4" > "$1" 2>&1 || { cat "$1" >&2; die "wrk $1"; }
  if grep -q 'Non-2xx or 3xx responses' "$1"; then
    die "$(grep 'Non-2xx' "$1" | xargs) in $(basename "$1")"
  fi
}
rps() { awk '/^Requests\/sec:/ {print $2}' "$1"; }
# The server's CPU (all its threads, user + system) in clock ticks, and the requests a wrk output counts: their
# quotient is steadier on this kind of VM than throughput, whose consecutive runs move by ±15%.
TICK="$(getconf CLK_TCK)"
proc_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
requests() { awk '/requests in/ {print $1}' "$1"; }
cpu_us() { # dir step -> server CPU microseconds per request
  awk -v t="$(cat "$1/$2-ticks.txt")" -v n="$(requests "$1/$2.txt")" -v hz="$TICK" 'BEGIN { printf "%.1f", t / hz * 1e6 / n }'
}

WVALUE="$("$PY" -B -c "import sys; sys.path.insert(0,'$BENCH'); import kvtool; print(kvtool.value_of($VALUE_BYTES, 7))")"
printf 'audit = false\n' > "$WORK/audit-off.toml"

for round in $(seq "$ROUNDS"); do
  if [ $((round % 2)) -eq 1 ]; then modes="on off"; else modes="off on"; fi
  for mode in $modes; do
    dir="$OUT/round$round-$mode"; mkdir -p "$dir"
    if [ "$mode" = off ]; then KH_CONFIG="$WORK/audit-off.toml"; else KH_CONFIG=""; fi
    log "round $round, audit $mode: starting"
    keyhaven_start "$WORK/kh-$round-$mode" "$dir"
    keyhaven_token
    timeout 300 "$PY" "$BENCH/kvtool.py" --kind keyhaven --base "https://localhost:$KH_PORT" --cafile "$CA" \
      --auth-header Authorization --auth-value "Bearer $KH_TOKEN" seed --n "$SECRETS" --size "$VALUE_BYTES" > "$dir/seed.json"
    export BENCH_N="$SECRETS" BENCH_AUTH_HEADER=Authorization BENCH_AUTH_VALUE="Bearer $KH_TOKEN"
    url="https://127.0.0.1:$KH_PORT"
    export BENCH_METHOD=GET BENCH_PATH="/secrets/s%d?api-version=7.5" BENCH_BODY=""
    run_wrk "$dir/warmup-get.txt" "$CONNS" "$WARMUP" "$url"
    log "  GET c=$CONNS ${DURATION}s"
    t0="$(proc_ticks "$KH_PID")"
    run_wrk "$dir/get.txt" "$CONNS" "$DURATION" "$url"
    echo $(( $(proc_ticks "$KH_PID") - t0 )) > "$dir/get-ticks.txt"
    export BENCH_METHOD=PUT BENCH_BODY="{\"value\":\"$WVALUE\"}"
    run_wrk "$dir/warmup-set.txt" "$CONNS" "$WARMUP" "$url"
    log "  PUT c=$CONNS ${DURATION}s"
    t0="$(proc_ticks "$KH_PID")"
    run_wrk "$dir/set.txt" "$CONNS" "$DURATION" "$url"
    echo $(( $(proc_ticks "$KH_PID") - t0 )) > "$dir/set-ticks.txt"
    if [ "$mode" = on ]; then
      cat "$KH_DIR"/audit/*.jsonl | wc -l > "$dir/audit-lines.txt"
    fi
    stop_pid "$KH_PID"; KH_PID=""
  done
done
bench_finish_meta

{
  echo "| round | GET on (req/s) | GET off | GET on/off | SET on (req/s) | SET off | SET on/off |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for round in $(seq "$ROUNDS"); do
    gon="$(rps "$OUT/round$round-on/get.txt")"; goff="$(rps "$OUT/round$round-off/get.txt")"
    son="$(rps "$OUT/round$round-on/set.txt")"; soff="$(rps "$OUT/round$round-off/set.txt")"
    awk -v r="$round" -v a="$gon" -v b="$goff" -v c="$son" -v d="$soff" \
      'BEGIN { printf "| %s | %.0f | %.0f | %.2f | %.0f | %.0f | %.2f |\n", r, a, b, a/b, c, d, c/d }'
  done
  median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
  gm="$(for round in $(seq "$ROUNDS"); do awk -v a="$(rps "$OUT/round$round-on/get.txt")" -v b="$(rps "$OUT/round$round-off/get.txt")" 'BEGIN { printf "%.3f\n", a/b }'; done | median)"
  sm="$(for round in $(seq "$ROUNDS"); do awk -v a="$(rps "$OUT/round$round-on/set.txt")" -v b="$(rps "$OUT/round$round-off/set.txt")" 'BEGIN { printf "%.3f\n", a/b }'; done | median)"
  echo "| median | | | $gm | | | $sm |"
  echo
  echo "Server CPU per request (µs, all threads, user + system):"
  echo
  echo "| round | GET on | GET off | GET on − off | SET on | SET off | SET on − off |"
  echo "|---|---:|---:|---:|---:|---:|---:|"
  for round in $(seq "$ROUNDS"); do
    a="$(cpu_us "$OUT/round$round-on" get)"; b="$(cpu_us "$OUT/round$round-off" get)"
    c="$(cpu_us "$OUT/round$round-on" set)"; d="$(cpu_us "$OUT/round$round-off" set)"
    awk -v r="$round" -v a="$a" -v b="$b" -v c="$c" -v d="$d" \
      'BEGIN { printf "| %s | %.1f | %.1f | %+.1f | %.1f | %.1f | %+.1f |\n", r, a, b, a-b, c, d, c-d }'
  done
} | tee "$OUT/summary.md"
log "results in $OUT"
