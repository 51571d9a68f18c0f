#!/usr/bin/env bash
# Creates (or reuses) a Python venv holding a pinned Azure CLI from PyPI and prints the path of its `az`.
#
#   export KEYHAVEN_AZ="$(scripts/az-venv.sh)"     # what the `az` integration test runs
#
# The venv lives outside the work tree (a venv is not relocatable, and CI clones afresh every run), under
# ${KEYHAVEN_AZ_VENV_ROOT:-${XDG_CACHE_HOME:-~/.cache}/keyhaven}/az-<version>, so it is made once per machine
# and pinned version. The first install takes a few minutes; afterwards this returns at once.
set -euo pipefail

AZ_VERSION="${KEYHAVEN_AZ_VERSION:-2.91.0}"
ROOT="${KEYHAVEN_AZ_VENV_ROOT:-${XDG_CACHE_HOME:-${HOME:?HOME is not set; set KEYHAVEN_AZ_VENV_ROOT}/.cache}/keyhaven}"
VENV="$ROOT/az-$AZ_VERSION"
PY="${PYTHON:-python3}"

log() { echo "az-venv: $*" >&2; }

if [ -x "$VENV/bin/az" ] && [ -f "$VENV/.complete" ]; then
  echo "$VENV/bin/az"
  exit 0
fi

command -v "$PY" >/dev/null || { log "needs $PY (3.10 or later) with the venv module"; exit 1; }
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    log "installing python3-venv (apt)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
  else
    log "$PY lacks the venv module: install python3-venv"
    exit 1
  fi
fi

log "installing azure-cli==$AZ_VERSION into $VENV (a few minutes, once)"
started=$SECONDS
rm -rf "$VENV"
mkdir -p "$ROOT"
"$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --upgrade pip >&2
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "azure-cli==$AZ_VERSION" >&2
# A smoke run that leaves no trace in ~/.azure.
check_dir="$(mktemp -d)"
AZURE_CONFIG_DIR="$check_dir" AZURE_CORE_COLLECT_TELEMETRY=false "$VENV/bin/az" version >/dev/null
rm -rf "$check_dir"
touch "$VENV/.complete"
log "done in $((SECONDS - started)) s"
echo "$VENV/bin/az"
