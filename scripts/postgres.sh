# Sourced by test.sh: a throwaway PostgreSQL server on 127.0.0.1, from Debian's packages.
# Sets PG_URL. The server is stopped when the calling shell exits.
# A free loopback port unless PG_PORT names one: other processes share the machine.
# PG_EXTRA_OPTS adds server options (e.g. "-c shared_preload_libraries=pg_stat_statements" to profile).
pg_port="${PG_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -z "$pg_bin" ]; then
  echo "Installing PostgreSQL from Debian's packages..."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq postgresql >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
fi
pg_dir=$(mktemp -d /tmp/gatehouse-pg.XXXXXX)
pg_user=postgres
id "$pg_user" >/dev/null 2>&1 || pg_user=$(id -un)
as_pg() { if [ "$(id -un)" = "$pg_user" ]; then "$@"; else runuser -u "$pg_user" -- "$@"; fi; }
chown "$pg_user" "$pg_dir"
as_pg "$pg_bin/initdb" -D "$pg_dir/data" -A trust -U postgres >/dev/null
as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -l "$pg_dir/log" -w \
  -o "-h 127.0.0.1 -p $pg_port -k $pg_dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off ${PG_EXTRA_OPTS:-}" start >/dev/null
gatehouse_on_exit+=('as_pg "$pg_bin/pg_ctl" -D "$pg_dir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pg_dir"')
trap 'for command in "${gatehouse_on_exit[@]}"; do eval "$command"; done' EXIT
PG_URL="postgres://postgres@127.0.0.1:$pg_port/gatehouse"
as_pg "$pg_bin/createdb" -h 127.0.0.1 -p "$pg_port" -U postgres gatehouse
