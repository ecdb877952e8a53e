#!/usr/bin/env bash
# Edit-session lock throughput: silod over HTTP beside the raw limit of the same database,
# measured in one run. See tools/README.md ("lock_bench").
#
#   tools/lock_bench.sh [--db sqlite,postgres] [--clients 1,16,64] [--modes distinct,contested]
#                       [--duration 5] [--warmup 1] [--build DIR] [--out DIR] [--no-service]
#
# For each database it runs, cell by cell (mode x clients):
#   raw      lock_bench raw: the acquire and release write transactions through the project's
#            Database class and repositories, no HTTP (same driver, pragmas, durability)
#   pgbench  (PostgreSQL only) the same statements as a pgbench custom script
#   service  lock_bench service: SessionService::acquire/release called directly
#   http     lock_bench http against a silod started by this script
# Each target gets its own fresh database (file or PostgreSQL database) of the same kind, in the
# same directory / on the same PostgreSQL server. PostgreSQL is a throwaway cluster from
# scripts/pg-test-cluster.sh (fsync off, like the tests). Everything started here is stopped
# by PID on every exit path. Prints a markdown table; raw lines are kept in OUT/results.txt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
dbs=sqlite,postgres
clients=1,16,64
modes=distinct,contested
duration=5
warmup=1
build=$root/build-bench
out=
service=1

die() { echo "lock_bench.sh: $*" >&2; exit 1; }
while [ $# -gt 0 ]; do
  case $1 in
    --db) dbs=$2; shift 2 ;;
    --clients) clients=$2; shift 2 ;;
    --modes) modes=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-service) service=0; shift ;;
    -h|--help) sed -n '2,18p' "$0"; exit 0 ;;
    *) die "unknown option $1" ;;
  esac
done
[[ "$duration" =~ ^[0-9]+$ ]] && [ "$duration" -ge 1 ] || die "--duration must be whole seconds (pgbench -T)"

silod=$build/silod
bench=$build/tools/lock_bench
[ -x "$silod" ] || die "$silod not found (cmake --build $build --target silod lock_bench)"
[ -x "$bench" ] || die "$bench not found (cmake --build $build --target silod lock_bench)"

work=$(mktemp -d /tmp/lock_bench.XXXXXX)
chmod 0755 "$work"
[ -n "$out" ] || out=$work/out
mkdir -p "$out"
results=$out/results.txt
: >"$results"

silod_pid=
pg_dir=
cleanup() {
  if [ -n "$silod_pid" ]; then stop_pid "$silod_pid"; fi
  if [ -n "$pg_dir" ] && [ -d "$pg_dir" ]; then bash "$root/scripts/pg-test-cluster.sh" stop "$pg_dir" || true; fi
  rm -rf "$work/sqlite" "$work/silod" "$work/pgbench"
  rmdir "$work" 2>/dev/null || true  # kept when it holds the output (no --out)
}
trap cleanup EXIT
trap 'exit 130' INT TERM

stop_pid() {
  local pid=$1 i
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}


# Starts silod on one database: $1 = label, $2 = the database: section of the YAML. Sets
# silod_pid, silod_port, silod_token.
start_silod() {
  local label=$1 dbyaml=$2
  local dir=$work/silod/$label
  mkdir -p "$dir"
  cat >"$dir/silod.yaml" <<EOF
server:
  host: 127.0.0.1
  port: 0
$dbyaml
storage:
  root_dir: $dir/files
schemas:
  directory: $root/schemas
workflows:
  directory: $root/workflows
auth:
  enabled: true
EOF
  # A clean SILO_* environment: only the YAML counts.
  local -a clean_env=(env)
  local v
  for v in $(compgen -e | grep '^SILO_' || true); do clean_env+=(-u "$v"); done
  echo "lock-bench-password-$RANDOM$RANDOM" | "${clean_env[@]}" "$silod" --config "$dir/silod.yaml" \
    user add lockbench --role editor >"$dir/user.log" 2>&1 || { cat "$dir/user.log" >&2; die "user add failed"; }
  silod_token=$("${clean_env[@]}" "$silod" --config "$dir/silod.yaml" token create --user lockbench --name lock_bench 2>"$dir/token.err" |
    grep -o 'silo_[A-Za-z0-9_-]*' | tail -n 1) || true
  [ -n "$silod_token" ] || { cat "$dir/token.err" >&2; die "token create failed"; }
  "${clean_env[@]}" "$silod" --config "$dir/silod.yaml" >"$dir/silod.log" 2>&1 &
  silod_pid=$!
  silod_port=
  local i
  for ((i = 0; i < 300; i++)); do
    silod_port=$(grep -o '"msg":"listening".*' "$dir/silod.log" 2>/dev/null | grep -o '"port":[0-9]*' | head -n 1 | cut -d: -f2) || true
    [ -n "$silod_port" ] && break
    kill -0 "$silod_pid" 2>/dev/null || { cat "$dir/silod.log" >&2; die "silod exited during start-up"; }
    sleep 0.1
  done
  [ -n "$silod_port" ] || { cat "$dir/silod.log" >&2; die "silod did not listen within 30 s"; }
  echo "lock_bench.sh: silod ($label) pid $silod_pid port $silod_port" >&2
}

# pgbench with the custom script, one cell, against the raw database $1.
run_pgbench() {
  local url=$1 mode=$2 n=$3 distinct object tps before after pairs lat
  if [ "$mode" = distinct ]; then distinct=1 object=Sketch001; else distinct=0 object=Shared; fi
  local logdir=$work/pgbench/$mode-$n
  rm -rf "$logdir"
  mkdir -p "$logdir"
  before=$(psql -qAt "$url" -c "SELECT last_id FROM event_head WHERE id = 1")
  echo "lock_bench.sh: pgbench $mode clients=$n" >&2
  (cd "$logdir" && pgbench -n -M extended -c "$n" -j "$((n < 2 ? n : 2))" -T "$duration" \
     -D distinct=$distinct -D object=$object -f "$here/lock_bench_pgbench.sql" -l "$url" >"$logdir/out" 2>&1) ||
    { cat "$logdir/out" >&2; die "pgbench failed"; }
  after=$(psql -qAt "$url" -c "SELECT last_id FROM event_head WHERE id = 1")
  tps=$(grep -o 'tps = [0-9.]*' "$logdir/out" | head -n 1 | cut -d' ' -f3)
  # Every successful pair appends two events; the log's 3rd column is the script latency (us).
  pairs=$(( (after - before) / 2 ))
  lat=$(cat "$logdir"/pgbench_log.* | awk '{print $3}' | sort -n |
    awk '{v[NR]=$1} END {if (NR==0) {print "0 0"; exit}; i50=int(0.5*(NR-1)+0.5)+1; i99=int(0.99*(NR-1)+0.5)+1; printf "%.3f %.3f", v[i50]/1000, v[i99]/1000}')
  echo "target=pgbench db=postgres mode=$mode clients=$n duration_s=$duration pairs=$pairs" \
    "pairs_per_s=$(awk -v p="$pairs" -v d="$duration" 'BEGIN{printf "%.1f", p/d}')" \
    "attempts_per_s=$tps pair_p50_ms=${lat% *} pair_p99_ms=${lat#* }" | tee -a "$results"
}

prefix=LB$RANDOM
# One database: for every cell, raw, (pgbench,) service and http back to back, so that they
# see the same machine (other load on the 2 cores comes and goes). db_args TARGET gives the
# database arguments of lock_bench raw/service.
run_cells() {
  local db=$1 mode n
  for mode in ${modes//,/ }; do
    for n in ${clients//,/ }; do
      local cell=(--clients "$n" --modes "$mode" --duration "$duration" --warmup "$warmup" --label "$db")
      if [ "$db" = postgres ]; then cell+=(--db-pid "$(cat "$pg_dir/pid")"); fi
      "$bench" raw $(db_args raw) "${cell[@]}" 2>/dev/null | tee -a "$results"
      if [ "$db" = postgres ]; then run_pgbench "$(url_of lb_raw)" "$mode" "$n"; fi
      if [ "$service" = 1 ]; then "$bench" service $(db_args service) "${cell[@]}" 2>/dev/null | tee -a "$results"; fi
      "$bench" http --port "$silod_port" --token "$silod_token" --server-pid "$silod_pid" --prefix "$prefix" \
        "${cell[@]}" | tee -a "$results"
    done
  done
  stop_pid "$silod_pid"
  silod_pid=
}

for db in ${dbs//,/ }; do
  case $db in
    sqlite)
      mkdir -p "$work/sqlite"
      db_args() { echo "--driver sqlite --path $work/sqlite/$1.db"; }
      start_silod sqlite "database:
  driver: sqlite
  path: $work/sqlite/silod.db"
      run_cells sqlite
      ;;
    postgres)
      pg_dir=$work/pg
      bash "$root/scripts/pg-test-cluster.sh" start "$pg_dir" >/dev/null
      base=$(cat "$pg_dir/url")
      for d in lb_raw lb_service lb_silod; do psql -qAt "$base" -c "CREATE DATABASE $d" >/dev/null; done
      url_of() { echo "${base%/*}/$1"; }
      db_args() { echo "--driver postgres --url $(url_of "lb_$1")"; }
      start_silod postgres "database:
  driver: postgres
  url: \"$(url_of lb_silod)\""
      run_cells postgres
      bash "$root/scripts/pg-test-cluster.sh" stop "$pg_dir"
      pg_dir=
      ;;
    *) die "unknown database $db" ;;
  esac
done

# The table: one row per database x mode x clients.
python3 - "$results" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    kv = dict(p.split("=", 1) for p in line.split() if "=" in p)
    if "target" not in kv: continue
    db = "sqlite" if kv["db"] == "sqlite" else "postgres"
    rows.setdefault((db, kv["mode"], int(kv["clients"])), {})[kv["target"]] = kv
def f(kv, k, fmt="{:.0f}"):
    return fmt.format(float(kv[k])) if kv and k in kv else "–"
print("| db | mode | clients | raw pairs/s | pgbench pairs/s | service pairs/s | http pairs/s | http/raw | http attempts/s | http p50/p99 ms | raw p50/p99 ms | CPU ms/pair raw / http |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for (db, mode, n) in sorted(rows, key=lambda k: (k[0] != "sqlite", k[1] != "distinct", k[2])):
    r = rows[(db, mode, n)]
    raw, http = r.get("raw"), r.get("http")
    ratio = "–"
    if raw and http and float(raw["pairs_per_s"]) > 0:
        ratio = "{:.2f}".format(float(http["pairs_per_s"]) / float(raw["pairs_per_s"]))
    lat = lambda kv: (f(kv, "req_p50_ms", "{:.2f}") + " / " + f(kv, "req_p99_ms", "{:.2f}")) if kv else "–"
    # CPU attributed to the processes of the run (loop or client, silod, PostgreSQL), per pair.
    tot = lambda kv: "{:.2f}".format(sum(float(kv.get(k, 0)) for k in
        ("cpu_self_ms_per_pair", "cpu_server_ms_per_pair", "cpu_db_ms_per_pair"))) if kv else "–"
    cpu = tot(raw) + " / " + tot(http) + " (silod " + f(http, "cpu_server_ms_per_pair", "{:.2f}") + ")"
    print(f"| {db} | {mode} | {n} | {f(raw,'pairs_per_s')} | {f(r.get('pgbench'),'pairs_per_s')} | "
          f"{f(r.get('service'),'pairs_per_s')} | {f(http,'pairs_per_s')} | {ratio} | {f(http,'attempts_per_s')} | "
          f"{lat(http)} | {lat(raw)} | {cpu} |")
EOF
echo "lock_bench.sh: raw lines in $results" >&2
