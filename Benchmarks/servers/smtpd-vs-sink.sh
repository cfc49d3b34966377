#!/usr/bin/env bash
# `linkstamp smtpd` vs Postfix's smtp-source straight into smtp-sink, and vs the pipe-filter path
# (one `linkstamp filter` process per message), in one run (issue 12's speed benchmark).
#
#   Benchmarks/servers/smtpd-vs-sink.sh [LINKSTAMP_BINARY]       # default .build/release/linkstamp
#
# Installs and builds nothing (prints what is missing). The message is message-4k.eml (4,129
# bytes: an X-MSYS-API header with campaign, metadata, tags, open and click tracking; a text and
# an HTML part with four links), sent with `smtp-source -F` (the file as is, CRLF line ends).
# Each configuration is measured with 1 and with 10 recipients per message:
#
#   direct  smtp-source -> smtp-sink
#   smtpd   smtp-source -> linkstamp smtpd --relay (journal on) -> smtp-sink: one copy per
#           recipient, each relayed (pipelined, reused relay connections)
#   pipe    pipe-path.py: per message, one `linkstamp filter --events` process fed the message
#           on stdin (as pipe(8) runs it), its Batch SMTP output handed to smtp-sink over SMTP
#
# The thing measured runs on CPU 0 (linkstamp smtpd; the pipe path's driver and its filter
# processes); smtp-source and smtp-sink run on CPU 1 in every configuration. smtp-source keeps
# SESSIONS sessions open (-d; smtpd_max_messages_per_connection is raised so that the door does
# not close them after its default 100). Messages/s are messages accepted by the first server per
# second of smtp-source's wall clock (`date +%s.%N` around it). Each run is sized from a short
# calibration run to last about SECONDS_PER_RUN seconds; ROUNDS rounds, the order rotating per round.
#
# Environment: ROUNDS (3), SECONDS_PER_RUN (4), SESSIONS (8), PIPE_WORKERS (4), SINK_PORT
# (18025), SMTPD_PORT (18026), BASELINE (a second linkstamp binary, e.g. the one before a change:
# its door runs too, on SMTPD_PORT + 1 and CPU 0, and gets its own row, measured in the same
# rounds; empty: none), PIPE (1; 0 leaves the pipe path out). Prints a Markdown table on stdout,
# progress on stderr.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
bin=${1:-$root/.build/release/linkstamp}
rounds=${ROUNDS:-3}
seconds=${SECONDS_PER_RUN:-4}
sessions=${SESSIONS:-8}
workers=${PIPE_WORKERS:-4}
sink_port=${SINK_PORT:-18025}
smtpd_port=${SMTPD_PORT:-18026}
baseline=${BASELINE:-}
baseline_port=$((smtpd_port + 1))
with_pipe=${PIPE:-1}
message="$here/message-4k.eml"
PATH="$PATH:/usr/sbin:/usr/lib/postfix/sbin"

missing=()
for tool in smtp-source smtp-sink taskset python3 awk sort; do
    command -v "$tool" > /dev/null || missing+=("$tool")
done
[ -x "$bin" ] || missing+=("$bin (build it: swift build -c release --product linkstamp)")
[ -z "$baseline" ] || [ -x "$baseline" ] || missing+=("$baseline (BASELINE)")
if [ "${#missing[@]}" -gt 0 ]; then
    echo "smtpd-vs-sink: missing: ${missing[*]}" >&2
    echo "  on Debian: DEBIAN_FRONTEND=noninteractive apt-get install postfix util-linux python3" \
        "(choose 'No configuration'; the system Postfix need not run)" >&2
    exit 69
fi

work=$(mktemp -d)
chmod 755 "$work"
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
log() { echo "smtpd-vs-sink: $*" >&2; }

cat > "$work/linkstamp.conf" << EOF
tracking_domain                   = click.bench.invalid
key_ring                          = keys
smtpd_max_messages_per_connection = 1000000
EOF
"$bin" keygen --config "$work/linkstamp.conf" > /dev/null 2>&1

# smtp-sink: accepts everything, keeps nothing (as root it needs a user to switch to).
user=nobody
taskset -c 1 smtp-sink -u "$user" "127.0.0.1:$sink_port" 256 2> "$work/sink.log" &
pids+=($!)
taskset -c 0 "$bin" smtpd --config "$work/linkstamp.conf" --listen "127.0.0.1:$smtpd_port" \
    --relay "127.0.0.1:$sink_port" --events "$work/events.jsonl" --hostname door.bench.invalid \
    2> "$work/smtpd.log" &
pids+=($!)
ports=("$sink_port" "$smtpd_port")
if [ -n "$baseline" ]; then
    taskset -c 0 "$baseline" smtpd --config "$work/linkstamp.conf" --listen "127.0.0.1:$baseline_port" \
        --relay "127.0.0.1:$sink_port" --events "$work/baseline-events.jsonl" --hostname door.bench.invalid \
        2> "$work/baseline.log" &
    pids+=($!)
    ports+=("$baseline_port")
fi
for _ in $(seq 1 100); do
    python3 -c "import socket,sys; [socket.create_connection(('127.0.0.1', p), 1).close() for p in sys.argv[1:]]" \
        "${ports[@]}" 2> /dev/null && break
    sleep 0.1
done

# send CONFIG RCPTS COUNT: one timed run; prints "messages seconds".
send() {
    local config=$1 rcpts=$2 count=$3 start end
    case "$config" in
        direct | smtpd | baseline)
            local port=$sink_port
            [ "$config" = smtpd ] && port=$smtpd_port
            [ "$config" = baseline ] && port=$baseline_port
            start=$(date +%s.%N)
            taskset -c 1 smtp-source -d -s "$sessions" -m "$count" -r "$rcpts" -F "$message" \
                -f news@acme.example -t reader@example.org -M bench.invalid "127.0.0.1:$port" 2> "$work/source.err" \
                || { log "smtp-source into $config failed:"; cat "$work/source.err" "$work/smtpd.log" >&2; exit 70; }
            end=$(date +%s.%N)
            awk -v n="$count" -v s="$start" -v e="$end" 'BEGIN { printf "%d %.3f\n", n, e - s }'
            ;;
        pipe)
            : > "$work/pipe-events.jsonl"
            taskset -c 0 python3 "$here/pipe-path.py" "$bin" "$work/linkstamp.conf" "$message" \
                "127.0.0.1:$sink_port" "$count" "$rcpts" "$workers" "$work/pipe-events.jsonl" \
                > "$work/pipe.out" || { log "pipe path failed"; exit 70; }
            awk '/^RESULT/ { for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
                                   printf "%d %.3f\n", v["messages"], v["seconds"] }' "$work/pipe.out"
            ;;
    esac
}

# Checks that the door really relays: one message, every copy in the journal and accepted.
: > "$work/events.jsonl"
send smtpd 10 1 > /dev/null
injections=$(grep -c '"type":"injection"' "$work/events.jsonl" || true)
[ "$injections" = 10 ] || { log "expected 10 injection events, got $injections"; cat "$work/smtpd.log" >&2; exit 70; }

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
configs="direct smtpd"
[ -n "$baseline" ] && configs="$configs baseline"
[ "$with_pipe" = 1 ] && configs="$configs pipe"
declare -A size
for rcpts in 1 10; do
    for config in $configs; do
        # Calibration: a short run, then a count that lasts about $seconds seconds.
        if [ "$config" = pipe ]; then probe=$((workers * 3)); else probe=$((sessions * 20)); fi
        send "$config" "$rcpts" "$probe" > "$work/last"
        read -r n s < "$work/last"
        size[$config.$rcpts]=$(awk -v n="$n" -v s="$s" -v t="$seconds" -v m="$probe" \
            'BEGIN { c = int(n / s * t); print (c < m) ? m : c }')
    done
done
log "messages per run: $(for k in "${!size[@]}"; do printf '%s=%s ' "$k" "${size[$k]}"; done)"

: > "$work/results"
for round in $(seq 1 "$rounds"); do
    for rcpts in 1 10; do
        # Rotate the order per round.
        set -- $configs
        for _ in $(seq 2 "$round"); do set -- "${@:2}" "$1"; done
        for config in "$@"; do
            : > "$work/events.jsonl"
            : > "$work/baseline-events.jsonl"
            send "$config" "$rcpts" "${size[$config.$rcpts]}" > "$work/last"
            read -r n s < "$work/last"
            rate=$(awk -v n="$n" -v s="$s" 'BEGIN { printf "%.0f", n / s }')
            echo "$config $rcpts $rate $n $s" >> "$work/results"
            log "round $round: $config, $rcpts rcpt: $n messages in ${s}s = $rate msg/s"
        done
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

median() { sort -n | awk '{ a[NR] = $1 } END { print (NR % 2) ? a[(NR + 1) / 2] : int((a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
best() { sort -n | tail -n 1; }
rates() { awk -v c="$1" -v r="$2" '$1 == c && $2 == r { print $3 }' "$work/results"; }
echo
echo "Run $(date -u +%Y-%m-%dT%H:%M:%SZ): message-4k.eml (4,129 bytes, 4 links, open and click tracking)," \
    "$rounds rounds; smtp-source -d -s $sessions; linkstamp on CPU 0, smtp-source and smtp-sink on CPU 1;" \
    "pipe path: $workers filter processes at a time; load average before $load_before, after $load_after."
[ -n "$baseline" ] && echo && echo "Baseline binary: $baseline; smtpd: $bin."
echo
echo "| path | 1 recipient: msg/s, median (best) | vs direct | smtpd vs this | 10 recipients: msg/s, median (best) | vs direct | smtpd vs this |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
for config in $configs; do
    case $config in
        direct) label="smtp-source → smtp-sink (direct)" ;;
        smtpd) label="smtp-source → linkstamp smtpd → smtp-sink" ;;
        baseline) label="smtp-source → linkstamp smtpd (BASELINE binary) → smtp-sink" ;;
        pipe) label="one linkstamp filter process per message → smtp-sink" ;;
    esac
    row="| $label"
    for rcpts in 1 10; do
        m=$(rates "$config" "$rcpts" | median)
        b=$(rates "$config" "$rcpts" | best)
        d=$(rates direct "$rcpts" | median)
        o=$(rates smtpd "$rcpts" | median)
        row="$row | $m ($b) | $(awk -v a="$m" -v b="$d" 'BEGIN { printf "%.2fx", a / b }')"
        case $config in
            pipe) row="$row | $(awk -v a="$o" -v b="$m" 'BEGIN { printf "%.1fx", a / b }')" ;;
            baseline) row="$row | $(awk -v a="$o" -v b="$m" 'BEGIN { printf "%.2fx", a / b }')" ;;
            *) row="$row | " ;;
        esac
    done
    echo "$row |"
done
echo
echo "Targets: smtpd >= 0.5x direct; smtpd >= 10x the pipe path. With 10 recipients the door relays" \
    "10 copies (10 transactions) per message; direct, smtp-sink gets one transaction with 10 RCPT TO."
