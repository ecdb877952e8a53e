#!/usr/bin/env bash
# Runs tools/sse_bench against a throwaway nginx + nchan (the reference SSE fan-out server).
#
#   tools/sse_bench_nchan.sh [--bench PATH] [--keep] [sse_bench options...]
#   e.g. tools/sse_bench_nchan.sh --n 10000 --rounds 5
#
# nginx runs from a fresh temp prefix (its own config, pid, error log; access_log off),
# listens on 127.0.0.1:<free port> only, never reads /etc/nginx and never touches port 80.
# It is started in the foreground-as-a-child (daemon off) so its PID is known exactly, and
# stopped by that PID when the run ends (also on error or Ctrl-C).
# Needs Debian packages: nginx-light (or nginx) and libnginx-mod-nchan.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench=""
keep=0
args=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --bench) bench="$2"; shift 2 ;;
        --keep) keep=1; shift ;;   # keep the temp prefix (config, error log) for inspection
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) args+=("$1"); shift ;;
    esac
done

# Locate or build the client.
if [[ -z "$bench" ]]; then
    for cand in "$here/../build/tools/sse_bench" "${TMPDIR:-/tmp}/sse_bench"; do
        if [[ -x "$cand" && "$cand" -nt "$here/sse_bench.cpp" ]]; then bench="$cand"; break; fi
    done
fi
if [[ -z "$bench" ]]; then
    bench="${TMPDIR:-/tmp}/sse_bench"
    echo "sse_bench_nchan: building $bench" >&2
    g++ -std=c++20 -O2 -Wall -Wextra "$here/sse_bench.cpp" -o "$bench" -pthread
fi

nginx_bin="$(command -v nginx || true)"
[[ -z "$nginx_bin" && -x /usr/sbin/nginx ]] && nginx_bin=/usr/sbin/nginx
[[ -n "$nginx_bin" ]] || { echo "sse_bench_nchan: nginx not found (apt-get install nginx-light libnginx-mod-nchan)" >&2; exit 2; }
nchan_so=""
for cand in /usr/lib/nginx/modules/ngx_nchan_module.so /usr/share/nginx/modules/ngx_nchan_module.so; do
    [[ -f "$cand" ]] && { nchan_so="$cand"; break; }
done
[[ -n "$nchan_so" ]] || { echo "sse_bench_nchan: ngx_nchan_module.so not found (apt-get install libnginx-mod-nchan)" >&2; exit 2; }

tmp="$(mktemp -d "${TMPDIR:-/tmp}/sse_bench_nchan.XXXXXX")"
chmod 755 "$tmp"
mkdir -p "$tmp/logs" "$tmp/temp"
port="$("$bench" --free-port)"
nginx_pid=""

cleanup() {
    local rc=$?
    if [[ -n "$nginx_pid" ]] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid" 2>/dev/null || true           # graceful: master stops its workers
        for _ in $(seq 1 100); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$nginx_pid" 2>/dev/null; then
            kill -TERM "$nginx_pid" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$nginx_pid" 2>/dev/null || break; sleep 0.1; done
        fi
        kill -0 "$nginx_pid" 2>/dev/null && kill -KILL "$nginx_pid" 2>/dev/null || true
        wait "$nginx_pid" 2>/dev/null || true
    fi
    if [[ $rc -ne 0 && -s "$tmp/logs/error.log" ]]; then
        echo "sse_bench_nchan: nginx error log (tail):" >&2
        tail -n 20 "$tmp/logs/error.log" >&2 || true
    fi
    if [[ $keep -eq 1 ]]; then echo "sse_bench_nchan: kept $tmp" >&2; else rm -rf "$tmp"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

cat > "$tmp/nginx.conf" <<EOF
load_module $nchan_so;
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile 20000;
pid $tmp/nginx.pid;
error_log $tmp/logs/error.log warn;

events {
    worker_connections 24000;   # nginx needs a few more than the streams (20000 held only ~18730); fds stay capped by worker_rlimit_nofile
    use epoll;
    multi_accept on;
}

http {
    access_log off;
    client_body_temp_path $tmp/temp/body;
    proxy_temp_path $tmp/temp/proxy;
    fastcgi_temp_path $tmp/temp/fastcgi;
    uwsgi_temp_path $tmp/temp/uwsgi;
    scgi_temp_path $tmp/temp/scgi;
    keepalive_timeout 65;

    server {
        listen 127.0.0.1:$port backlog=4096;

        # SSE subscribers: one shared channel, new subscribers start at the next message.
        location = /sub {
            nchan_subscriber eventsource;
            nchan_channel_id bench;
            nchan_subscriber_first_message newest;
        }

        # Publisher: POST /pub with any body broadcasts it to every subscriber.
        location = /pub {
            nchan_publisher;
            nchan_channel_id bench;
        }
    }
}
EOF

"$nginx_bin" -t -q -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/logs/error.log"
"$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/logs/error.log" </dev/null &
nginx_pid=$!

# Wait (bounded) until the listener accepts.
ready=0
for _ in $(seq 1 100); do
    kill -0 "$nginx_pid" 2>/dev/null || { echo "sse_bench_nchan: nginx exited at start" >&2; exit 1; }
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then ready=1; break; fi
    sleep 0.1
done
[[ $ready -eq 1 ]] || { echo "sse_bench_nchan: nginx did not listen on 127.0.0.1:$port" >&2; exit 1; }
sleep 0.5   # let the worker finish initialising before the RSS baseline

echo "sse_bench_nchan: nginx pid $nginx_pid on 127.0.0.1:$port (prefix $tmp)" >&2
set +e
"$bench" --nchan "http://127.0.0.1:$port" --pid "$nginx_pid" --with-children "${args[@]}"
rc=$?
set -e
exit $rc
