#!/usr/bin/env bash
# `linkstamp serve` vs nginx on click redirects, in one run (issue 11's speed benchmark).
#
#   Benchmarks/servers/serve-vs-nginx.sh [LINKSTAMP_BINARY]      # default .build/release/linkstamp
#
# Installs and builds nothing (prints what is missing). Both servers run side by side, each pinned
# to CPU 0 (`taskset -c 0`); wrk runs on CPU 1, one thread. The URLs are real click URLs: the
# script runs `linkstamp filter` on corpus/newsletter.eml for 10 recipients (13 copies with the
# cc/bcc/archive ones) and wrk requests every distinct /f/ path of that output in turn
# (urls.lua), against both servers. linkstamp serve journals every click (`--events FILE`);
# nginx (`return 302`, nginx.conf.in) writes its access log. Each journal is emptied between
# runs (both append).
#
# 1. Peak: ROUNDS rounds, each a wrk run of DURATION seconds with CONNS connections against each
#    server, the order rotating per round; also serve's /healthz (no token, no journal: the
#    HTTP stack's own ceiling on one core).
# 2. Latency at half our peak: RATE = half of serve's median peak requests/s. Each connection
#    waits DELAY_MS after every response (urls.lua's `delay`), with enough connections to offer
#    RATE (estimated, then scaled once by a calibration run on serve); the same connection count
#    for both servers, ROUNDS rounds, alternating. wrk is a closed-loop client (no
#    wrk2 in Debian): latencies are measured per request, not corrected for coordinated omission.
#
# Environment: ROUNDS (3), DURATION (8 s), CONNS (32), DELAY_MS (2), SERVE_PORT (18080),
# NGINX_PORT (18081). Prints a Markdown table on stdout, progress on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/.build/release/linkstamp}
rounds=${ROUNDS:-3}
duration=${DURATION:-8}
conns=${CONNS:-32}
delay_ms=${DELAY_MS:-2}
serve_port=${SERVE_PORT:-18080}
nginx_port=${NGINX_PORT:-18081}

missing=()
for tool in wrk nginx taskset curl awk sort; do
    command -v "$tool" > /dev/null || missing+=("$tool")
done
[ -x "$bin" ] || missing+=("$bin (build it: swift build -c release --product linkstamp)")
if [ "${#missing[@]}" -gt 0 ]; then
    echo "serve-vs-nginx: missing: ${missing[*]}" >&2
    echo "  on Debian: apt-get install wrk nginx-light util-linux curl" >&2
    exit 69
fi

work=$(mktemp -d)
pids=()
cleanup() {
    # SIGTERM, then SIGKILL what is still running 5 s later (a server that does not drain must
    # not keep the benchmark, or its ports, alive).
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
    for _ in $(seq 1 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2> /dev/null && alive=1; done
        [ "$alive" = 0 ] && break
        sleep 0.1
    done
    for pid in "${pids[@]}"; do
        if kill -0 "$pid" 2> /dev/null; then
            echo "${0##*/}: pid $pid did not stop within 5 s of SIGTERM: SIGKILL" >&2
            kill -KILL "$pid" 2> /dev/null || true
        fi
        wait "$pid" 2> /dev/null || true
    done
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
log() { echo "serve-vs-nginx: $*" >&2; }

# The configuration: a key ring of its own; the rate limit out of the way (every request comes
# from 127.0.0.1).
cat > "$work/linkstamp.conf" << EOF
tracking_domain           = click.bench.invalid
key_ring                  = keys
rate_limit_requests       = 1000000
rate_limit_window_seconds = 1
EOF
"$bin" keygen --config "$work/linkstamp.conf" > /dev/null 2>&1
"$bin" filter --config "$work/linkstamp.conf" -f news@acme.example -- \
    $(for i in $(seq 1 10); do echo "reader$i@example.org"; done) \
    < "$root/corpus/newsletter.eml" > "$work/batch.smtp" 2> /dev/null
# Quoted-printable soft line breaks joined, then every distinct click path.
tr -d '\r' < "$work/batch.smtp" | sed -e ':a' -e '/=$/{N;s/=\n//;ba' -e '}' \
    | grep -o 'https://click.bench.invalid/f/[A-Za-z0-9_/-]*' | sed 's|^https://click.bench.invalid||' \
    | sort -u > "$work/paths.txt"
paths=$(wc -l < "$work/paths.txt")
[ "$paths" -gt 0 ] || { log "no click URL in the filter's output"; exit 70; }

sed -e "s|@WORK@|$work|g" -e "s|@PORT@|$nginx_port|g" "$here/nginx.conf.in" > "$work/nginx.conf"
mkdir -p "$work/nginx-body" "$work/nginx-proxy" "$work/nginx-fastcgi" "$work/nginx-uwsgi" "$work/nginx-scgi"

taskset -c 0 "$bin" serve --config "$work/linkstamp.conf" --listen "127.0.0.1:$serve_port" \
    --events "$work/events.jsonl" 2> "$work/serve.log" &
pids+=($!)
taskset -c 0 nginx -p "$work" -c "$work/nginx.conf" 2> "$work/nginx.stderr" &
pids+=($!)
first=$(head -n 1 "$work/paths.txt")
for port in "$serve_port" "$nginx_port"; do
    for _ in $(seq 1 100); do
        code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port$first" || true)
        [ "$code" = 302 ] && break
        sleep 0.1
    done
    if [ "$code" != 302 ]; then
        log "127.0.0.1:$port answered '$code', not 302"
        cat "$work/serve.log" "$work/nginx.stderr" "$work/nginx-error.log" >&2 2> /dev/null || true
        exit 70
    fi
done
# Every click path decodes and redirects (a 404 would be a faster, wrong answer).
while read -r path; do
    code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$serve_port$path")
    [ "$code" = 302 ] || { log "serve answered $code for $path"; exit 70; }
done < "$work/paths.txt"
log "$paths distinct click paths; serve on CPU 0 port $serve_port, nginx on CPU 0 port $nginx_port"

# run NAME PORT CONNS DELAY PHASE [PATHS]: one wrk run; appends "name phase rps p50_us p99_us
# errors" to results.
run() {
    local name=$1 port=$2 connections=$3 pause=$4 phase=$5 list=${6:-$work/paths.txt}
    : > "$work/events.jsonl"
    : > "$work/access.log"
    WRK_DELAY_MS=$pause taskset -c 1 wrk -t1 -c"$connections" -d"${duration}s" --timeout 5s \
        -s "$here/urls.lua" "http://127.0.0.1:$port" -- "$list" > "$work/wrk.out" 2>&1 || true
    local line
    line=$(grep '^RESULT' "$work/wrk.out" || true)
    [ -n "$line" ] || { cat "$work/wrk.out" >&2; exit 70; }
    echo "$line" | awk -v n="$name" -v p="$phase" '{
        for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
        printf "%s %s %.0f %d %d %d\n", n, p, v["requests"] / (v["duration_us"] / 1e6), v["p50_us"], v["p99_us"],
            v["errors"] + v["status_errors"]
    }' | tee -a "$work/results" | awk '{ printf "serve-vs-nginx:   %-6s %-5s %8s req/s  p50 %5d us  p99 %6d us  errors %d\n", $1, $2, $3, $4, $5, $6 }' >&2
}

# Warm-up (first connections, page cache, the journal file).
WRK_DELAY_MS=0 taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$here/urls.lua" "http://127.0.0.1:$serve_port" -- "$work/paths.txt" > /dev/null 2>&1 || true
WRK_DELAY_MS=0 taskset -c 1 wrk -t1 -c"$conns" -d2s -s "$here/urls.lua" "http://127.0.0.1:$nginx_port" -- "$work/paths.txt" > /dev/null 2>&1 || true
load_before=$(cut -d' ' -f1-3 /proc/loadavg)

# /healthz: the same server doing no work of ours (no token, no journal): the HTTP stack's own
# ceiling on one core.
echo /healthz > "$work/healthz.txt"
log "peak: $rounds rounds x ${duration}s, $conns connections"
for round in $(seq 1 "$rounds"); do
    case $((round % 3)) in
        1) order="serve nginx healthz" ;;
        2) order="nginx healthz serve" ;;
        0) order="healthz serve nginx" ;;
    esac
    for name in $order; do
        case $name in
            serve) run serve "$serve_port" "$conns" 0 peak ;;
            nginx) run nginx "$nginx_port" "$conns" 0 peak ;;
            healthz) run healthz "$serve_port" "$conns" 0 peak "$work/healthz.txt" ;;
        esac
    done
done

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
best() { sort -n | tail -n 1; }
serve_peak=$(awk '$1 == "serve" && $2 == "peak" { print $3 }' "$work/results" | median)
rate=$((serve_peak / 2))
# Connections that offer RATE when each waits delay_ms (+ ~0.1 ms of service) per request.
half_conns=$(awk -v r="$rate" -v d="$delay_ms" 'BEGIN { c = int(r * (d + 0.1) / 1000 + 0.5); print (c < 1) ? 1 : c }')
# Calibration: wrk's pacing (timer granularity, the latency itself) offers less than the
# estimate; scale the connection count once on serve, then keep it for both servers.
run serve "$serve_port" "$half_conns" "$delay_ms" calibration
achieved=$(awk '$2 == "calibration" { print $3 }' "$work/results")
half_conns=$(awk -v c="$half_conns" -v r="$rate" -v a="$achieved" 'BEGIN { n = int(c * r / (a > 0 ? a : r) + 0.5); print (n < 1) ? 1 : n }')
log "half of serve's median peak: $rate req/s, offered as $half_conns connections x one request per ${delay_ms} ms (+ latency)"
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="serve nginx"; else order="nginx serve"; fi
    for name in $order; do
        if [ "$name" = serve ]; then port=$serve_port; else port=$nginx_port; fi
        run "$name" "$port" "$half_conns" "$delay_ms" half
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

column() { awk -v n="$1" -v p="$2" -v c="$3" '$1 == n && $2 == p { print $c }' "$work/results"; }
nginx_peak=$(column nginx peak 3 | median)
ratio=$(awk -v a="$serve_peak" -v b="$nginx_peak" 'BEGIN { printf "%.2f", a / b }')
echo
echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ): $rounds rounds, interleaved; each server on CPU 0, wrk (1 thread) on CPU 1;" \
    "$paths distinct click URLs; load average before $load_before, after $load_after."
echo
echo "| server | peak req/s, median (best) | p50 / p99 at peak, median | at ~$rate req/s offered: achieved req/s, median | p50 / p99 there, median (worst p99) | errors |"
echo "| --- | ---: | ---: | ---: | ---: | ---: |"
for name in serve nginx healthz; do
    case $name in
        serve) label="linkstamp serve: click 302 (journal on)" ;;
        nginx) label="nginx: return 302 (access log on)" ;;
        healthz) label="linkstamp serve: /healthz (no token, no journal)" ;;
    esac
    if [ "$name" = healthz ]; then
        printf "| %s | %s (%s) | %.2f / %.2f ms | | | |\n" "$label" \
            "$(column "$name" peak 3 | median)" "$(column "$name" peak 3 | best)" \
            "$(column "$name" peak 4 | median | awk '{ print $1 / 1000 }')" \
            "$(column "$name" peak 5 | median | awk '{ print $1 / 1000 }')"
        continue
    fi
    printf "| %s | %s (%s) | %.2f / %.2f ms | %s | %.2f / %.2f ms (%.2f ms) | %d |\n" "$label" \
        "$(column "$name" peak 3 | median)" "$(column "$name" peak 3 | best)" \
        "$(column "$name" peak 4 | median | awk '{ print $1 / 1000 }')" \
        "$(column "$name" peak 5 | median | awk '{ print $1 / 1000 }')" \
        "$(column "$name" half 3 | median)" \
        "$(column "$name" half 4 | median | awk '{ print $1 / 1000 }')" \
        "$(column "$name" half 5 | median | awk '{ print $1 / 1000 }')" \
        "$(column "$name" half 5 | best | awk '{ print $1 / 1000 }')" \
        "$(awk -v n="$name" '$1 == n && $2 != "calibration" { s += $6 } END { print s + 0 }' "$work/results")"
done
echo
echo "serve / nginx peak requests/s (medians): ${ratio}x (target >= 0.5x); p99 target at half our peak: < 5 ms."
