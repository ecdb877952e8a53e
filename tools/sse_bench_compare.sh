#!/usr/bin/env bash
# Measures silod and nginx+nchan with tools/sse_bench in one run and prints a markdown table.
#
#   tools/sse_bench_compare.sh --silod-url http://127.0.0.1:PORT --silod-pid PID --token TOKEN \
#       [--n 1000,10000,19000] [--rounds 5] [--bench PATH] [--no-silod] [--no-nchan] \
#       [--out DIR] [-- extra sse_bench options for both servers]
#
# For each N, nchan runs first (a fresh nginx per N, started and stopped by
# tools/sse_bench_nchan.sh), then silod (already running, given by URL and PID; its token must
# be an editor's, and events.max_streams_per_user must be 0 or >= N). Each measurement is its
# own sse_bench process, so the client never holds descriptors from a previous N.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
silod_url=""; silod_pid=""; token=""; ns="1000,10000,19000"; rounds=5
bench=""; do_silod=1; do_nchan=1; out=""; extra=()
while [[ $# -gt 0 ]]; do
    case "$1" in
        --silod-url) silod_url="$2"; shift 2 ;;
        --silod-pid) silod_pid="$2"; shift 2 ;;
        --token) token="$2"; shift 2 ;;
        --n) ns="$2"; shift 2 ;;
        --rounds) rounds="$2"; shift 2 ;;
        --bench) bench="$2"; shift 2 ;;
        --no-silod) do_silod=0; shift ;;
        --no-nchan) do_nchan=0; shift ;;
        --out) out="$2"; shift 2 ;;
        --) shift; extra=("$@"); break ;;
        -h|--help) sed -n '2,11p' "$0"; exit 0 ;;
        *) echo "sse_bench_compare: unknown option $1" >&2; exit 2 ;;
    esac
done
if [[ $do_silod -eq 1 && ( -z "$silod_url" || -z "$silod_pid" ) ]]; then
    echo "sse_bench_compare: give --silod-url and --silod-pid (or --no-silod)" >&2; exit 2
fi

if [[ -z "$bench" ]]; then
    for cand in "$here/../build/tools/sse_bench" "${TMPDIR:-/tmp}/sse_bench"; do
        if [[ -x "$cand" && "$cand" -nt "$here/sse_bench.cpp" ]]; then bench="$cand"; break; fi
    done
fi
if [[ -z "$bench" ]]; then
    bench="${TMPDIR:-/tmp}/sse_bench"
    echo "sse_bench_compare: building $bench" >&2
    g++ -std=c++20 -O2 -Wall -Wextra "$here/sse_bench.cpp" -o "$bench" -pthread
fi
[[ -n "$out" ]] && mkdir -p "$out"

# kv LINE KEY -> value of KEY=value in a sse_bench result line ("-" when absent).
kv() { local v; v="$(tr ' ' '\n' <<<"$1" | sed -n "s/^$2=//p" | head -n1)"; echo "${v:--}"; }

declare -A res
IFS=',' read -r -a nlist <<<"$ns"
for n in "${nlist[@]}"; do
    if [[ $do_nchan -eq 1 ]]; then
        echo "sse_bench_compare: nchan N=$n" >&2
        line="$("$here/sse_bench_nchan.sh" --bench "$bench" --n "$n" --rounds "$rounds" ${extra[@]+"${extra[@]}"} | tail -n1)" || true
        echo "$line" >&2
        res[nchan,$n]="$line"
        [[ -n "$out" ]] && echo "$line" >>"$out/nchan.txt"
        sleep 2
    fi
    if [[ $do_silod -eq 1 ]]; then
        kill -0 "$silod_pid" 2>/dev/null || { echo "sse_bench_compare: silod pid $silod_pid is not running" >&2; exit 1; }
        echo "sse_bench_compare: silod N=$n" >&2
        targs=(); [[ -n "$token" ]] && targs=(--token "$token")
        line="$("$bench" --silod "$silod_url" --pid "$silod_pid" "${targs[@]}" --n "$n" --rounds "$rounds" ${extra[@]+"${extra[@]}"} | tail -n1)" || true
        echo "$line" >&2
        res[silod,$n]="$line"
        [[ -n "$out" ]] && echo "$line" >>"$out/silod.txt"
        sleep 3   # let silod notice the closed streams before the next baseline
    fi
done

echo
echo "| N | silod bytes/stream | nchan bytes/stream | silod fan-out ms (median) | nchan fan-out ms | silod dropped | nchan dropped |"
echo "|---|---|---|---|---|---|---|"
notes=()
for n in "${nlist[@]}"; do
    s="${res[silod,$n]:-}"; c="${res[nchan,$n]:-}"
    echo "| $n | $(kv "$s" rss_per_stream_bytes) | $(kv "$c" rss_per_stream_bytes) | $(kv "$s" fanout_median_ms) | $(kv "$c" fanout_median_ms) | $(kv "$s" dropped) | $(kv "$c" dropped) |"
    for who in silod nchan; do
        l="${res[$who,$n]:-}"; [[ -z "$l" ]] && continue
        f="$(kv "$l" failed_connects)"; m="$(kv "$l" missed)"; t="$(kv "$l" trigger_failed)"
        if [[ "$f" != "0" || "$m" != "0" || "$t" != "0" ]]; then
            notes+=("$who N=$n: failed_connects=$f missed=$m trigger_failed=$t $(kv "$l" fail_reasons)")
        fi
    done
done
if [[ ${#notes[@]} -gt 0 ]]; then
    echo
    for x in "${notes[@]}"; do echo "- $x"; done
fi
