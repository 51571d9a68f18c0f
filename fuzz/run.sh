#!/usr/bin/env bash
# Runs one fuzz target with libFuzzer (docs/fuzzing.md).
#
#   bash fuzz/run.sh TARGET [SECONDS] [extra libFuzzer flags...]
#   bash fuzz/run.sh TARGET 0 fuzz/artifacts/TARGET/crash-...     # replay inputs
#
# TARGETs: x509_inspect, pem_import, pkcs12_import, jwk_import, attestation_token, object_blob, vault_snapshot. SECONDS: run time
# (default 120). Seeds are made fresh in fuzz/seeds/TARGET (fuzz/seeds.py); the corpus grows in fuzz/corpus/TARGET,
# crashes land in fuzz/artifacts/TARGET/ (all three ignored by git).
#
# With cargo-fuzz and a nightly toolchain (`cargo +nightly fuzz`), the target is built with AddressSanitizer,
# which also makes -malloc_limit_mb catch single oversized allocations; otherwise it is built on stable Rust with
# the same coverage instrumentation spelled as stable flags (FUZZ_STABLE=1 forces this).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
TARGET="${1:?usage: fuzz/run.sh TARGET [SECONDS] [libFuzzer flags...]}"
SECONDS_TO_RUN="${2:-120}"
shift $(( $# > 2 ? 2 : $# ))

case "$TARGET" in
  x509_inspect|jwk_import|attestation_token) MAX_LEN=4096 ;;
  pem_import|pkcs12_import) MAX_LEN=16384 ;;
  object_blob|vault_snapshot) MAX_LEN=70000 ;;
  *) echo "unknown target $TARGET" >&2; exit 2 ;;
esac

SEEDS="$PWD/seeds/$TARGET"
rm -rf "$SEEDS"
python3 seeds.py "$TARGET" "$SEEDS"
mkdir -p "corpus/$TARGET" "artifacts/$TARGET"

replay=0
if [ "$#" -gt 0 ] && [ -f "$1" ]; then replay=1; fi
FLAGS=(-rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10)
RUN=(-max_total_time="$SECONDS_TO_RUN" -max_len="$MAX_LEN" -artifact_prefix="artifacts/$TARGET/"
     -print_final_stats=1)

if [ -z "${FUZZ_STABLE:-}" ] && cargo +nightly fuzz --version >/dev/null 2>&1; then
  if [ "$replay" = 1 ]; then
    exec cargo +nightly fuzz run "$TARGET" "$@" -- "${FLAGS[@]}"
  fi
  exec cargo +nightly fuzz run "$TARGET" "corpus/$TARGET" "$SEEDS" -- "${FLAGS[@]}" "${RUN[@]}" "$@"
fi

# Stable: the passes cargo-fuzz asks for, spelled as stable flags (no sanitizer).
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
# An explicit --target keeps RUSTFLAGS (and so the instrumentation) away from build scripts and proc macros.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --quiet --target "$HOST" --bin "$TARGET"
BIN="$CARGO_TARGET_DIR/$HOST/release/$TARGET"
if [ "$replay" = 1 ]; then
  exec "$BIN" "${FLAGS[@]}" "$@"
fi
exec "$BIN" "${FLAGS[@]}" "${RUN[@]}" "$@" "corpus/$TARGET" "$SEEDS"
