#!/usr/bin/env bash
# Where the CPU goes per message in smtpd-vs-sink.sh's setup: smtp-sink and smtp-source (CPU 1)
# and the door (CPU 0), for the direct path and through the door, one run each:
#
#   Benchmarks/servers/smtpd-cpu-split.sh BINARY [RCPTS] [MESSAGES]     # default 10 recipients, 4000
#
# Prints per message the CPU time of smtp-sink and the door (user + system, /proc/PID/stat) and
# of smtp-source (`time`), and how busy each CPU was: with 10 recipients the door relays ten
# transactions per message, and smtp-sink's share on CPU 1 bounds the door's msg/s whatever the
# door costs. Loopback only; everything it starts is stopped on exit.
set -euo pipefail
bin=${1:?usage: $0 BINARY [RCPTS] [MESSAGES]}
rcpts=${2:-10}
count=${3:-4000}
here=$(cd "$(dirname "$0")" && pwd)
PATH="$PATH:/usr/sbin:/usr/lib/postfix/sbin"
for tool in smtp-source smtp-sink taskset awk; do
    command -v "$tool" > /dev/null || { echo "smtpd-cpu-split: missing $tool (apt-get install postfix util-linux)" >&2; exit 69; }
done
work=$(mktemp -d)
chmod 755 "$work"
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
printf 'tracking_domain = click.bench.invalid\nkey_ring = %s/keys\nsmtpd_max_messages_per_connection = 1000000\n' "$work" \
    > "$work/linkstamp.conf"
"$bin" keygen --config "$work/linkstamp.conf" > /dev/null 2>&1
taskset -c 1 smtp-sink -u nobody 127.0.0.1:18425 256 2> /dev/null &
sink=$!
pids+=("$sink")
taskset -c 0 "$bin" smtpd --config "$work/linkstamp.conf" --listen 127.0.0.1:18426 --relay 127.0.0.1:18425 \
    --events "$work/events.jsonl" --hostname door.bench.invalid 2> /dev/null &
door=$!
pids+=("$door")
sleep 1.5
ticks() { cut -d' ' -f14,15 "/proc/$1/stat" | awk '{ print $1 + $2 }'; }
hz=$(getconf CLK_TCK)
for target in 18425 18426; do
    s0=$(ticks "$sink"); d0=$(ticks "$door"); t0=$(date +%s.%N)
    /usr/bin/time -f "%U %S" -o "$work/source.time" taskset -c 1 smtp-source -d -s 8 -m "$count" -r "$rcpts" \
        -F "$here/message-4k.eml" "127.0.0.1:$target" > /dev/null 2>&1
    t1=$(date +%s.%N); s1=$(ticks "$sink"); d1=$(ticks "$door")
    read -r su ss < "$work/source.time"
    awk -v n="$count" -v t0="$t0" -v t1="$t1" -v s=$((s1 - s0)) -v d=$((d1 - d0)) -v su="$su" -v ss="$ss" \
        -v hz="$hz" -v path="$([ "$target" = 18425 ] && echo direct || echo door)" -v r="$rcpts" 'BEGIN {
        w = t1 - t0
        printf "%s, %d recipients: %d msg/s; per message: smtp-sink %.0f us, smtp-source %.0f us, door %.0f us; CPU 1 busy %.0f%%, door %.0f%%\n",
            path, r, n / w, s / hz * 1e6 / n, (su + ss) * 1e6 / n, d / hz * 1e6 / n, (s / hz + su + ss) / w * 100, d / hz / w * 100 }'
done
