#!/usr/bin/env bash
# Makes (or reuses) every outside client the test suite drives — the Azure CLI, and the official Python and
# JavaScript Key Vault clients, all pinned, cached under ~/.cache/keyhaven/; Debian's headless Chromium for the
# portal's browser test, installed with apt when missing and allowed (root) — and prints the variables the tests
# read:
#
#   eval "$(scripts/test-clients.sh)" && cargo test --workspace --locked
#
# The first run takes a few minutes (mostly the Azure CLI); later runs return at once.
set -euo pipefail
cd "$(dirname "$0")"
chromium="$(command -v chromium-headless-shell || command -v chromium || true)"
if [ -z "$chromium" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing: chromium-headless-shell (apt)" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium-headless-shell; } >&2
  chromium="$(command -v chromium-headless-shell || command -v chromium || true)"
fi
if [ -n "$chromium" ]; then
  echo "export KEYHAVEN_CHROMIUM=$chromium"
else
  echo "no Chromium: the portal's browser test will fail (apt-get install chromium-headless-shell)" >&2
fi
az="$(./az-venv.sh)"
echo "export KEYHAVEN_AZ=$az"
./sdk-clients.sh
