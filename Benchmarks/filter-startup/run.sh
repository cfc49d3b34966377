#!/bin/sh
# The whole `linkstamp filter` process against `altermime --input=FILE --disclaimer=FILE`, on the
# same 4 KB message (message.eml: HTML + text, 19 links, open and click tracking on), one
# recipient, as whole processes, interleaved round by round (interleave.py), then with
# hyperfine as a cross-check. Postfix pipe(8) and Exim start one process per message, so this
# is the per-message cost of the stdin filter. `linkstamp-filter-parser` is the same filter run
# through the argument parser (`--config=FILE` is a form the fast path leaves to the parser).
#
#   Benchmarks/filter-startup/run.sh [LINKSTAMP_BINARY] [ROUNDS]
#
# Default binary: .build/release/linkstamp, built as README says:
#   swift build -c release --static-swift-stdlib --product linkstamp
# Needs the Debian packages altermime and (optionally) hyperfine.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
binary=$(realpath "${1:-$here/../../.build/release/linkstamp}")
rounds=${2:-200}
altermime=$(command -v altermime) || { echo "altermime missing (apt-get install altermime)" >&2; exit 1; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$here/message.eml" "$here/disclaimer.txt" "$work/"
cp "$here/linkstamp.conf" "$work/linkstamp.conf"
"$binary" keygen --config "$work/linkstamp.conf" >/dev/null
# altermime rewrites its input in place: every run starts from a fresh copy (cp, outside the clock).
cp "$work/message.eml" "$work/altermime.eml"
"$altermime" --input="$work/altermime.eml" --disclaimer="$work/disclaimer.txt" --log-stderr >/dev/null 2>&1 || true

echo "binary: $binary ($(stat -c %s "$binary") bytes)"
echo "message: $(stat -c %s "$work/message.eml") bytes; $rounds rounds, interleaved"
python3 "$here/interleave.py" "$rounds" \
    "cp=-::-::/bin/cp $work/message.eml $work/cp.eml" \
    "altermime=-::/bin/cp $work/message.eml $work/altermime.eml::$altermime --input=$work/altermime.eml --disclaimer=$work/disclaimer.txt" \
    "linkstamp-version=-::-::$binary --version" \
    "linkstamp-filter=$work/message.eml::-::$binary filter --config $work/linkstamp.conf -f news@acme.example -- reader@example.org" \
    "linkstamp-filter-parser=$work/message.eml::-::$binary filter --config=$work/linkstamp.conf -f news@acme.example -- reader@example.org"

if command -v hyperfine >/dev/null && [ "${HYPERFINE:-1}" = 1 ]; then
    # hyperfine 1.15 (Debian 12) has no --input: it runs both through sh and subtracts the shell.
    hyperfine --warmup 20 --runs "$rounds" --style basic \
        --prepare "/bin/cp $work/message.eml $work/altermime.eml" \
        -n altermime "$altermime --input=$work/altermime.eml --disclaimer=$work/disclaimer.txt" \
        -n linkstamp-filter "$binary filter --config $work/linkstamp.conf -f news@acme.example -- reader@example.org <$work/message.eml >/dev/null" \
        2>&1 | grep -E "^(Benchmark|  Time|  Range)|faster|±"
fi
