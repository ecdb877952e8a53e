#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for tests.
#
#   scripts/pg-test-cluster.sh start DIR   # initdb into DIR/data, start on a free port
#   scripts/pg-test-cluster.sh stop DIR    # stop it by PID and remove DIR
#   scripts/pg-test-cluster.sh crash DIR   # stop it as a crash would (pg_ctl -m immediate), keep DIR
#   scripts/pg-test-cluster.sh resume DIR  # start a crashed cluster again on its port (fault tests)
#
# start writes DIR/url (postgresql://postgres@127.0.0.1:PORT/postgres, trust auth, for
# SILO_TEST_PG_URL), DIR/port, DIR/pid (the postmaster) and logs to DIR/log. The server listens
# on 127.0.0.1 only, with its Unix socket in DIR, fsync off and max_connections=300.
# Run as root, the cluster belongs to the `postgres` user (initdb refuses root); run as any
# other user, it belongs to that user (the superuser role is still named postgres).
# DIR and its parents must be reachable by that user: prefer a directory under /tmp.
set -euo pipefail

usage() { echo "usage: $0 start|stop|crash|resume DIR" >&2; exit 2; }
die() { echo "pg-test-cluster: $*" >&2; exit 1; }

[ $# -eq 2 ] || usage
cmd=$1
dir=$2

PGBIN=${PGBIN:-}
if [ -z "$PGBIN" ]; then
  for v in 15 16 17 14 13; do
    if [ -x "/usr/lib/postgresql/$v/bin/pg_ctl" ]; then PGBIN=/usr/lib/postgresql/$v/bin; break; fi
  done
fi
[ -n "$PGBIN" ] && [ -x "$PGBIN/pg_ctl" ] || die "PostgreSQL server binaries not found (set PGBIN)"

if [ "$(id -u)" -eq 0 ]; then
  id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' user"
  as_owner() { runuser -u postgres -- "$@"; }
  owner=postgres
else
  as_owner() { "$@"; }
  owner=$(id -un)
fi

free_port() {
  /usr/bin/python3 - <<'EOF'
import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])
s.close()
EOF
}

pg_start() {
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/log" -w -t 60 \
    -o "-p $1 -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
}

start() {
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ -e "$dir/data" ] && die "$dir/data exists already (stop the old cluster first)"
  if [ "$owner" = postgres ] && [ "$(id -u)" -eq 0 ]; then
    chown postgres: "$dir"
    chmod 0700 "$dir"
    as_owner test -w "$dir" ||
      die "user postgres cannot reach $dir (make its parents world-searchable, e.g. use /tmp)"
  fi
  # Unix socket paths are limited to ~107 bytes.
  [ ${#dir} -le 80 ] || die "path too long for a Unix socket directory: $dir"

  as_owner "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; die "initdb failed"; }

  local port attempt
  for attempt in 1 2 3 4 5; do
    port=$(free_port)
    if pg_start "$port"; then
      break
    fi
    # The port was probably taken between the probe and the start: try another one.
    [ "$attempt" -lt 5 ] || { tail -n 20 "$dir/log" >&2 || true; die "pg_ctl start failed"; }
    sleep 0.2
  done

  local pid
  pid=$(head -n 1 "$dir/data/postmaster.pid")
  [[ "$pid" =~ ^[0-9]+$ ]] || die "cannot read the postmaster PID"
  echo "$pid" >"$dir/pid"
  echo "$port" >"$dir/port"
  echo "postgresql://postgres@127.0.0.1:$port/postgres" >"$dir/url"
  chmod 0644 "$dir/pid" "$dir/port" "$dir/url"
  chmod 0755 "$dir"  # the url file must be readable by the tests
  cat "$dir/url"
}

# True while pid runs (a zombie left unreaped by a minimal init counts as gone).
alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null || echo X)
  [ "$state" != Z ] && [ "$state" != X ]
}

stop() {
  [ -d "$dir" ] || die "$dir does not exist"
  if [ -f "$dir/pid" ]; then
    local pid i
    pid=$(cat "$dir/pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || die "bad PID in $dir/pid"
    if alive "$pid"; then
      kill -INT "$pid" 2>/dev/null || true  # fast shutdown
      for ((i = 0; i < 300; i++)); do
        alive "$pid" || break
        sleep 0.1
      done
      if alive "$pid"; then
        echo "pg-test-cluster: postmaster $pid still running after 30 s, killing it" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 50; i++)); do
          alive "$pid" || break
          sleep 0.1
        done
      fi
    fi
  fi
  rm -rf "$dir"
}

crash() {
  [ -f "$dir/pid" ] || die "$dir holds no running cluster"
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m immediate -w -t 60 stop >/dev/null
}

resume() {
  [ -f "$dir/port" ] || die "$dir holds no cluster"
  pg_start "$(cat "$dir/port")" || { tail -n 20 "$dir/log" >&2 || true; die "pg_ctl start failed"; }
  head -n 1 "$dir/data/postmaster.pid" >"$dir/pid"
}

case $cmd in
  start) start ;;
  stop) stop ;;
  crash) crash ;;
  resume) resume ;;
  *) usage ;;
esac
