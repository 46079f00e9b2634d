#!/usr/bin/env bash
# Start a throw-away PostgreSQL server on loopback for tests and print its URL.
# Installs Debian's `postgresql` if initdb is missing. Idempotent: a server already
# running in the data dir is reused. Use it as:  eval "$(scripts/postgres.sh)"
# which exports BERTH_TEST_POSTGRES_URL. Stop it with:  scripts/postgres.sh stop
set -euo pipefail
dir=${BERTH_PG_DIR:-/tmp/berth-pg}
port=${BERTH_PG_PORT:-54329}
url="postgresql+psycopg://berth@127.0.0.1:${port}/berth"

find_bin() {
  local name=$1
  command -v "$name" 2>/dev/null && return
  ls /usr/lib/postgresql/*/bin/"$name" 2>/dev/null | sort -V | tail -n 1
}

if [ -z "$(find_bin initdb)" ]; then
  echo "postgres.sh: installing postgresql from Debian" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq postgresql >/dev/null
fi
initdb=$(find_bin initdb)
pg_ctl=$(find_bin pg_ctl)
bindir=$(dirname "$(readlink -f "$initdb")")

as_pg() {
  if [ "$(id -u)" = 0 ]; then
    su postgres -s /bin/sh -c "$*"
  else
    sh -c "$*"
  fi
}

if [ "${1:-}" = stop ]; then
  as_pg "'$pg_ctl' -D '$dir/data' -m fast stop" >&2 || true
  exit 0
fi

mkdir -p "$dir"
[ "$(id -u)" = 0 ] && chown postgres "$dir"
if [ ! -f "$dir/data/PG_VERSION" ]; then
  as_pg "'$initdb' -D '$dir/data' -U postgres --auth=trust -E UTF8 >'$dir/initdb.log' 2>&1"
fi
if ! as_pg "'$pg_ctl' -D '$dir/data' status" >/dev/null 2>&1; then
  as_pg "'$pg_ctl' -D '$dir/data' -l '$dir/server.log' -w -t 60 \
    -o \"-c listen_addresses=127.0.0.1 -p $port -k '$dir' -c fsync=off\" start" >&2
fi
if ! as_pg "'$bindir/psql' -h 127.0.0.1 -p $port -U postgres -tAc \
    \"SELECT 1 FROM pg_roles WHERE rolname='berth'\"" | grep -q 1; then
  as_pg "'$bindir/psql' -h 127.0.0.1 -p $port -U postgres -qc 'CREATE ROLE berth LOGIN SUPERUSER'"
  as_pg "'$bindir/psql' -h 127.0.0.1 -p $port -U postgres -qc 'CREATE DATABASE berth OWNER berth'"
fi
echo "export BERTH_TEST_POSTGRES_URL=$url"
