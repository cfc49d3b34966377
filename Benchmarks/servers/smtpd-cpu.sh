#!/usr/bin/env bash
# CPU time per message of `linkstamp smtpd` binaries, interleaved in one run (old vs new):
#
#   Benchmarks/servers/smtpd-cpu.sh RCPTS MESSAGES BINARY...
#
# Starts smtp-sink (CPU 1) and one door per binary (CPU 0, each on its own port, --events on),
# then for ROUNDS (3) rounds sends MESSAGES messages of message-4k.eml with RCPTS recipients
# through each door in turn (`smtp-source -d -s SESSIONS`, SESSIONS 8, CPU 1) and prints the
# door's user + system CPU time per message (from /proc/PID/stat, in clock ticks: size MESSAGES so
# that a run takes 0.5 s of CPU or more) and the wall-clock msg/s. CPU time per message moves far
# less with the load of other jobs than msg/s does. Ports PORT (18125) to PORT + number of binaries.
set -euo pipefail
[ $# -ge 3 ] || { echo "usage: $0 RCPTS MESSAGES BINARY..." >&2; exit 64; }
rcpts=$1
count=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
rounds=${ROUNDS:-3}
sessions=${SESSIONS:-8}
sink_port=${PORT:-18125}
PATH="$PATH:/usr/sbin:/usr/lib/postfix/sbin"
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill -TERM "$pid" 2> /dev/null || true; done
    sleep 1
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
printf 'tracking_domain = click.bench.invalid\nkey_ring = keys\nsmtpd_max_messages_per_connection = 1000000\n' \
    > "$work/linkstamp.conf"
"$1" keygen --config "$work/linkstamp.conf" > /dev/null 2>&1
taskset -c 1 smtp-sink -u nobody "127.0.0.1:$sink_port" 256 2> /dev/null &
pids+=($!)
doors=()
port=$((sink_port + 1))
for bin in "$@"; do
    taskset -c 0 "$bin" smtpd --config "$work/linkstamp.conf" --listen "127.0.0.1:$port" \
        --relay "127.0.0.1:$sink_port" --events "$work/events-$port.jsonl" --hostname door.bench.invalid \
        2> "$work/door-$port.log" &
    pids+=($!)
    doors+=($!)
    port=$((port + 1))
done
sleep 1.5
tick=$(getconf CLK_TCK)
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
for round in $(seq 1 "$rounds"); do
    port=$((sink_port + 1))
    index=0
    for bin in "$@"; do
        pid=${doors[$index]}
        read -r user0 system0 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        start=$(date +%s.%N)
        taskset -c 1 smtp-source -d -s "$sessions" -m "$count" -r "$rcpts" -F "$here/message-4k.eml" \
            -f news@acme.example -t reader@example.org -M bench.invalid "127.0.0.1:$port"
        end=$(date +%s.%N)
        read -r user1 system1 < <(awk '{ print $14, $15 }' "/proc/$pid/stat")
        awk -v b="$bin" -v r="$round" -v u=$((user1 - user0)) -v s=$((system1 - system0)) -v k="$tick" \
            -v n="$count" -v t0="$start" -v t1="$end" -v rc="$rcpts" 'BEGIN {
                printf "round %d  %-40s %d rcpt  CPU %.0f us/msg (user %.0f, system %.0f)  %.0f msg/s\n",
                    r, b, rc, (u + s) / k / n * 1e6, u / k / n * 1e6, s / k / n * 1e6, n / (t1 - t0) }'
        : > "$work/events-$port.jsonl"
        port=$((port + 1))
        index=$((index + 1))
    done
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
