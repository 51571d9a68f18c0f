#!/usr/bin/env bash
# Runs a fuzz target on stable Rust with libFuzzer (libfuzzer-sys) and SanitizerCoverage passes.
#
#   bash fuzz/run.sh [TARGET] [SECONDS] [extra libFuzzer flags...]
#
# TARGET: vault_snapshot (default) or object_blob; SECONDS: run time (default 120). The corpus grows in
# fuzz/corpus/TARGET (seeded from the golden vectors in crates/keyhaven-blob/testdata on every run); crashes
# land in fuzz/artifacts/TARGET/. Replay one with: bash fuzz/run.sh TARGET 0 fuzz/artifacts/TARGET/crash-...
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
TARGET="${1:-vault_snapshot}"
SECONDS_TO_RUN="${2:-120}"
shift $(( $# > 2 ? 2 : $# ))

# Coverage-guided instrumentation without nightly: the same passes cargo-fuzz asks for, spelled as stable flags.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=3 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
export CARGO_TARGET_DIR="${FUZZ_TARGET_DIR:-$PWD/target}"
# An explicit --target keeps RUSTFLAGS (and so the instrumentation) away from build scripts and proc macros.
HOST="$(rustc -vV | sed -n 's/^host: //p')"
cargo build --release --quiet --target "$HOST" --bin "$TARGET"

SEEDS="$PWD/seeds/$TARGET"
mkdir -p "corpus/$TARGET" "artifacts/$TARGET" "$SEEDS"
python3 - "$TARGET" "$SEEDS" <<'PY'
import pathlib, sys, zlib
target, out = sys.argv[1], pathlib.Path(sys.argv[2])
td = pathlib.Path("../crates/keyhaven-blob/testdata")
unhex = lambda p: bytes.fromhex("".join(p.read_text().split()))
if target == "vault_snapshot":
    golden = unhex(td / "vault-snapshot-v1.hex")
    (out / "golden").write_bytes(b"\x00" + golden)
    # The golden vector's plaintext stream: its records and manifest as frames (sealing mode).
    recs = [b"first record", b"", bytes(j % 251 for j in range(2500)), b'{"name":"golden-secret"}']
    frame = lambda t, b: bytes([t]) + len(b).to_bytes(4, "big") + b
    manifest = b'{"format":"keyhaven.vault-snapshot-test/1","records":4}'
    (out / "golden-plaintext").write_bytes(b"\x01" + b"".join(frame(1, r) for r in recs) + frame(2, manifest))
    (out / "empty-manifest").write_bytes(b"\x01" + frame(2, b""))
elif target == "object_blob":
    (out / "golden").write_bytes(b"\x00" + unhex(td / "golden-secret-v1.hex"))
    payload = (td / "golden-secret-v1.payload.json").read_bytes()
    c = zlib.compressobj(1, zlib.DEFLATED, -15)
    (out / "golden-payload").write_bytes(b"\x01" + c.compress(payload) + c.flush())
else:
    sys.exit(f"unknown target {target}")
PY

BIN="$CARGO_TARGET_DIR/$HOST/release/$TARGET"
if [ "$#" -gt 0 ] && [ -f "$1" ]; then
  exec "$BIN" "$@"   # replay given inputs
fi
exec "$BIN" -max_total_time="$SECONDS_TO_RUN" -max_len=70000 -rss_limit_mb=2048 -timeout=10 \
  -artifact_prefix="artifacts/$TARGET/" -print_final_stats=1 "$@" "corpus/$TARGET" "$SEEDS"
