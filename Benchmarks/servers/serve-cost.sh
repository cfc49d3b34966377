#!/usr/bin/env bash
# What one click costs `linkstamp serve`, load-independent figures beside serve-vs-nginx.sh's
# requests/s (which, on a machine shared with other jobs, measure the scheduler more than the
# servers: neither server saturates its core then).
#
#   Benchmarks/servers/serve-cost.sh BINARY...        # e.g. /tmp/linkstamp-before .build/release/linkstamp
#
# 1. CPU time per request (user + system, from /proc/PID/stat) at peak: wrk, 32 connections, 5 s,
#    on the same 84 click URLs as serve-vs-nginx.sh (journal on), each binary and nginx (`return
#    302`, access log on) in turn, ROUNDS rounds (default 3). Server on CPU 0, wrk on CPU 1.
# 2. With CALLGRIND=1: user-space instructions per click request of each binary under callgrind
#    (a copy without debug info; valgrind cannot read Swift's), N requests (default 2000) on one
#    keep-alive connection after 100 of warm-up, counted from the first request to the last.
# Prints one line per measurement on stdout. Needs wrk, nginx, taskset, curl, python3 (and
# valgrind for 2).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
rounds=${ROUNDS:-3}
[ "$#" -gt 0 ] || { echo "usage: ${0##*/} BINARY..." >&2; exit 64; }
work=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; wait "$pid" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/linkstamp.conf" << EOC
tracking_domain           = click.bench.invalid
key_ring                  = keys
rate_limit_requests       = 1000000
rate_limit_window_seconds = 1
EOC
"$1" keygen --config "$work/linkstamp.conf" > /dev/null 2>&1
"$1" filter --config "$work/linkstamp.conf" -f news@acme.example -- \
    $(for i in $(seq 1 10); do echo "reader$i@example.org"; done) \
    < "$root/corpus/newsletter.eml" > "$work/batch.smtp" 2> /dev/null
tr -d '\r' < "$work/batch.smtp" | sed -e ':a' -e '/=$/{N;s/=\n//;ba' -e '}' \
    | grep -o 'https://click.bench.invalid/f/[A-Za-z0-9_/-]*' | sed 's|^https://click.bench.invalid||' \
    | sort -u > "$work/paths.txt"

ticks() {
    local total=0 pid
    for pid in "$@"; do
        set -- $(cut -d' ' -f14,15 "/proc/$pid/stat")
        total=$((total + $1 + $2))
    done
    echo "$total"
}
hz=$(getconf CLK_TCK)
wait_up() { for _ in $(seq 1 600); do curl -s -o /dev/null "http://127.0.0.1:$1/healthz" && return 0; sleep 0.1; done; return 1; }
peak() { WRK_DELAY_MS=0 taskset -c 1 wrk -t1 -c32 -d"$2"s -s "$here/urls.lua" "http://127.0.0.1:$1" -- "$work/paths.txt" 2>&1 | grep '^RESULT' || true; }

sed -e "s|@WORK@|$work|g" -e "s|@PORT@|18191|g" "$here/nginx.conf.in" > "$work/nginx.conf"
mkdir -p "$work/nginx-body" "$work/nginx-proxy" "$work/nginx-fastcgi" "$work/nginx-uwsgi" "$work/nginx-scgi"
taskset -c 0 nginx -p "$work" -c "$work/nginx.conf" 2> "$work/nginx.stderr" &
master=$!
pids+=("$master")
sleep 1
nginx_pids="$master $(pgrep -P "$master" | tr '\n' ' ')"
for round in $(seq 1 "$rounds"); do
    for bin in "$@" nginx; do
        if [ "$bin" = nginx ]; then
            port=18191
            measured=$nginx_pids
        else
            port=18190
            taskset -c 0 "$bin" serve --config "$work/linkstamp.conf" --listen "127.0.0.1:$port" \
                --events "$work/events.jsonl" 2> "$work/serve.log" &
            server=$!
            wait_up "$port"
            peak "$port" 1 > /dev/null
            measured=$server
        fi
        : > "$work/events.jsonl"
        : > "$work/access.log"
        before=$(ticks $measured)
        result=$(peak "$port" 5)
        after=$(ticks $measured)
        requests=$(echo "$result" | sed 's/.*requests=\([0-9]*\).*/\1/')
        echo "cpu round=$round server=$bin requests=$requests req_per_s=$((requests / 5)) cpu_s=$(awk -v t=$((after - before)) -v h="$hz" 'BEGIN { printf "%.2f", t / h }') cpu_us_per_request=$(awk -v t=$((after - before)) -v h="$hz" -v n="$requests" 'BEGIN { printf "%.1f", t / h * 1e6 / n }') load=$(cut -d' ' -f1 /proc/loadavg)"
        if [ "$bin" != nginx ]; then kill "$server"; wait "$server" 2> /dev/null || true; fi
    done
done

[ "${CALLGRIND:-0}" = 1 ] || exit 0
n=${N:-2000}
cat > "$work/client.py" << 'EOP'
import socket, sys
port, n, paths = int(sys.argv[1]), int(sys.argv[2]), [l.strip() for l in open(sys.argv[3]) if l.strip()]
s = socket.create_connection(('127.0.0.1', port))
buf = b''
for i in range(n):
    s.sendall(f"GET {paths[i % len(paths)]} HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: bench\r\n\r\n".encode())
    while b'\r\n\r\n' not in buf:
        data = s.recv(65536)
        if not data: sys.exit('closed')
        buf += data
    head, _, buf = buf.partition(b'\r\n\r\n')
    if not head.startswith(b'HTTP/1.1 302'): sys.exit(head[:80])
EOP
for bin in "$@"; do
    objcopy --strip-debug "$bin" "$work/stripped"
    rm -f "$work"/callgrind.*
    valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$work/callgrind.%p" "$work/stripped" serve \
        --config "$work/linkstamp.conf" --listen 127.0.0.1:18192 --events "$work/events.jsonl" 2> "$work/valgrind.log" &
    server=$!
    wait_up 18192
    python3 "$work/client.py" 18192 100 "$work/paths.txt"
    callgrind_control -i on "$server" > /dev/null
    python3 "$work/client.py" 18192 "$n" "$work/paths.txt"
    callgrind_control -d "$server" > /dev/null
    sleep 1
    kill "$server"; wait "$server" 2> /dev/null || true
    total=$(callgrind_annotate "$(ls "$work"/callgrind.*.1 | head -n 1)" 2> /dev/null | awk '/PROGRAM TOTALS/ && !done { gsub(",", "", $1); print $1; done = 1 }')
    echo "instructions server=$bin requests=$n per_request=$((total / n))"
done
