#!/bin/sh
# The whole `linkstamp filter` process against `altermime --input=FILE --disclaimer=FILE`, on the
# same 4 KB message (message.eml: HTML + text, 19 links, open and click tracking on), one
# recipient, as whole processes, interleaved round by round (interleave.py), then with
# hyperfine as a cross-check. Postfix pipe(8) and Exim start one process per message, so this
# is the per-message cost of the stdin filter. `linkstamp-filter-parser` is the same filter run
# through the argument parser (`--config=FILE` is a form the fast path leaves to the parser).
#
#   Benchmarks/filter-startup/run.sh [LINKSTAMP_BINARY|-] [ROUNDS] [LINKSTAMP_FILTER_BINARY...]
#
# Default binary: .build/release/linkstamp, built as README says:
#   swift build -c release --static-swift-stdlib
# `-` leaves the `linkstamp` rows out. Each LINKSTAMP_FILTER_BINARY (a `linkstamp-filter`: the
# arguments after `linkstamp filter`) adds a row named after its file, e.g.
#   run.sh .build/release/linkstamp 40 .build/release/linkstamp-filter .build/release/linkstamp-filter-static
# Needs the Debian packages altermime and (optionally) hyperfine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
binary=${1:-$here/../../.build/release/linkstamp}
[ "$binary" = - ] || binary=$(realpath "$binary")
rounds=${2:-200}
[ $# -ge 2 ] && shift 2 || shift $#
altermime=$(command -v altermime) || { echo "altermime missing (apt-get install altermime)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/message.eml" "$here/disclaimer.txt" "$work/"
cp "$here/linkstamp.conf" "$work/linkstamp.conf"
filter_args="--config $work/linkstamp.conf -f news@acme.example -- reader@example.org"
if [ "$binary" != - ]; then
    "$binary" keygen --config "$work/linkstamp.conf" >/dev/null
elif [ $# -gt 0 ]; then
    # The first filter run creates the key ring.
    "$1" $filter_args <"$work/message.eml" >/dev/null
fi
# altermime rewrites its input in place: every run starts from a fresh copy (cp, outside the clock).
cp "$work/message.eml" "$work/altermime.eml"
"$altermime" --input="$work/altermime.eml" --disclaimer="$work/disclaimer.txt" --log-stderr >/dev/null 2>&1 || true

set -- "$@"
rows=""
names=""
for lean in "$@"; do
    lean=$(realpath "$lean")
    name=$(basename "$lean")
    echo "$name: $lean ($(stat -c %s "$lean") bytes)"
    names="$names $name=$lean"
done
[ "$binary" = - ] || echo "binary: $binary ($(stat -c %s "$binary") bytes)"
echo "message: $(stat -c %s "$work/message.eml") bytes; $rounds rounds, interleaved"
set -- "cp=-::-::/bin/cp $work/message.eml $work/cp.eml" \
    "altermime=-::/bin/cp $work/message.eml $work/altermime.eml::$altermime --input=$work/altermime.eml --disclaimer=$work/disclaimer.txt"
if [ "$binary" != - ]; then
    set -- "$@" "linkstamp-version=-::-::$binary --version" \
        "linkstamp-filter=$work/message.eml::-::$binary filter $filter_args" \
        "linkstamp-filter-parser=$work/message.eml::-::$binary filter --config=$work/linkstamp.conf -f news@acme.example -- reader@example.org"
fi
for pair in $names; do
    set -- "$@" "${pair%%=*}=$work/message.eml::-::${pair#*=} $filter_args"
done
python3 "$here/interleave.py" "$rounds" "$@"

if command -v hyperfine >/dev/null && [ "${HYPERFINE:-1}" = 1 ]; then
    # hyperfine 1.15 (Debian 12) has no --input: it runs both through sh and subtracts the shell.
    set -- --warmup 20 --runs "$rounds" --style basic \
        --prepare "/bin/cp $work/message.eml $work/altermime.eml" \
        -n altermime "$altermime --input=$work/altermime.eml --disclaimer=$work/disclaimer.txt"
    [ "$binary" = - ] || set -- "$@" -n linkstamp-filter "$binary filter $filter_args <$work/message.eml >/dev/null"
    for pair in $names; do
        set -- "$@" -n "${pair%%=*}" "${pair#*=} $filter_args <$work/message.eml >/dev/null"
    done
    hyperfine "$@" 2>&1 | grep -E "^(Benchmark|  Time|  Range)|faster|±"
fi
