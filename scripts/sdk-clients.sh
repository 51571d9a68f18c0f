#!/usr/bin/env bash
# Creates (or reuses) the official Python and JavaScript Azure Key Vault clients, pinned, for the interop tests
# (the Python ones beside Playwright, which drives the portal's browser test through the system's Chromium; it
# downloads no browser), and prints the variables those tests read:
#
#   eval "$(scripts/sdk-clients.sh)"    # sets KEYHAVEN_SDK_PYTHON and KEYHAVEN_SDK_NODE_MODULES
#
# They live outside the work tree (CI clones afresh every run), under
# ${KEYHAVEN_SDK_ROOT:-${XDG_CACHE_HOME:-~/.cache}/keyhaven}, keyed by the pinned versions; made once per machine
# (about a minute), then this returns at once.
set -euo pipefail

PY_PINS="azure-identity==1.27.0 azure-keyvault-secrets==4.12.0 azure-keyvault-keys==4.11.3 azure-keyvault-certificates==4.12.0 azure-keyvault-administration==4.7.2 azure-storage-blob==12.31.1 cryptography==50.0.2 playwright==1.65.3"
JS_PINS="@azure/identity@4.13.1 @azure/keyvault-secrets@4.11.2 @azure/keyvault-certificates@4.10.3 azurite@3.37.0"

ROOT="${KEYHAVEN_SDK_ROOT:-${XDG_CACHE_HOME:-${HOME:?HOME is not set; set KEYHAVEN_SDK_ROOT}/.cache}/keyhaven}"
tag() { printf '%s' "$1" | sha256sum | cut -c1-12; }
PY_DIR="$ROOT/py-sdk-$(tag "$PY_PINS")"
JS_DIR="$ROOT/js-sdk-$(tag "$JS_PINS")"
log() { echo "sdk-clients: $*" >&2; }

if [ ! -f "$PY_DIR/.complete" ]; then
  log "installing the Python clients into $PY_DIR"
  rm -rf "$PY_DIR"
  python3 -m venv "$PY_DIR"
  # shellcheck disable=SC2086
  "$PY_DIR/bin/pip" install -q --disable-pip-version-check $PY_PINS >&2
  "$PY_DIR/bin/python" -c 'import azure.keyvault.certificates, azure.keyvault.administration, azure.storage.blob, azure.identity, cryptography, playwright.sync_api' >&2
  touch "$PY_DIR/.complete"
fi

if [ ! -f "$JS_DIR/.complete" ]; then
  command -v npm >/dev/null || { log "needs node and npm"; exit 1; }
  log "installing the JavaScript clients into $JS_DIR"
  rm -rf "$JS_DIR"
  mkdir -p "$JS_DIR"
  (cd "$JS_DIR" && npm init -y >/dev/null && npm install --silent --no-audit --no-fund $JS_PINS >&2)
  touch "$JS_DIR/.complete"
fi

echo "export KEYHAVEN_SDK_PYTHON=$PY_DIR/bin/python"
echo "export KEYHAVEN_SDK_NODE_MODULES=$JS_DIR/node_modules"
