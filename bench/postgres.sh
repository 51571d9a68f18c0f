#!/usr/bin/env bash
# The PostgreSQL engine's point reads and grouped commits against a throwaway local server with fsync on:
#
#   bench/postgres.sh
#
# Starts PostgreSQL (as the postgres user when run as root) on a free loopback port, runs the engine's
# measurement binary (release build) and removes the server.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "PostgreSQL server binaries not found (apt-get install -y postgresql)" >&2; exit 1; }
cargo build --release -q -p keyhaven-store-postgres --features bench --bin keyhaven-pg-bench
dir=$(mktemp -d)
run=()
if [ "$(id -u)" = 0 ]; then
  chown postgres: "$dir"
  run=(setpriv --reuid=postgres --regid=postgres --clear-groups)
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(cd "$dir" && "${run[@]}" "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --locale=C >/dev/null)
cat >>"$dir/data/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = ''
fsync = on
synchronous_commit = on
CONF
stop() { (cd "$dir" && "${run[@]}" "$bin/pg_ctl" stop -m fast -D "$dir/data" >/dev/null) || true; rm -rf "$dir"; }
trap stop EXIT
(cd "$dir" && "${run[@]}" "$bin/pg_ctl" start -w -D "$dir/data" -l "$dir/server.log" >/dev/null)
"$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres bench
echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), fsync on, $(nproc) cores"
target/release/keyhaven-pg-bench "postgres://postgres@127.0.0.1:$port/bench"
