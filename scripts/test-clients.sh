#!/usr/bin/env bash
# Makes (or reuses) every outside client the test suite drives — the Azure CLI, and the official Python and
# JavaScript Key Vault clients, all pinned, cached under ~/.cache/keyhaven/ — and prints the variables the tests
# read:
#
#   eval "$(scripts/test-clients.sh)" && cargo test --workspace --locked
#
# The first run takes a few minutes (mostly the Azure CLI); later runs return at once.
set -euo pipefail
cd "$(dirname "$0")"
az="$(./az-venv.sh)"
echo "export KEYHAVEN_AZ=$az"
./sdk-clients.sh
