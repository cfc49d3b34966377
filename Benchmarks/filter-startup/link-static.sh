#!/bin/sh
# Relinks the release `linkstamp-filter` that `swift build -c release --static-swift-stdlib
# --product linkstamp-filter` made into a fully static executable (no dynamic loader): the same
# objects and link command, `-static-executable` instead of `-static-stdlib`, and libxml2's
# static dependencies (`pkg-config --static --libs libxml-2.0`: ICU, zlib, lzma).
#
#   Benchmarks/filter-startup/link-static.sh [SCRATCH_PATH] [OUTPUT]
#
# SCRATCH_PATH defaults to .build; OUTPUT to SCRATCH_PATH/release/linkstamp-filter-static.
# Needs Debian's libxml2-dev (libxml2.a), libicu-dev, zlib1g-dev and liblzma-dev.
set -eu
scratch=$(realpath "${1:-.build}")
release="$scratch/x86_64-unknown-linux-gnu/release"
[ -d "$release" ] || release=$(realpath "$scratch/release")
output=${2:-$release/linkstamp-filter-static}
list="$release/linkstamp-filter.product/Objects.LinkFileList"
[ -f "$list" ] || { echo "no $list: build the linkstamp-filter product first" >&2; exit 1; }
rm -f "$output"
# shellcheck disable=SC2046
swiftc -L/usr/lib/x86_64-linux-gnu $(pkg-config --static --libs libxml-2.0) -lstdc++ \
    -L "$release" -o "$output" -module-name linkstamp_filter -static-executable -emit-executable \
    -Xlinker --gc-sections -Xlinker --defsym -Xlinker main=linkstamp_filter_main \
    "@$list" -target x86_64-unknown-linux-gnu -g 2>&1 \
    | grep -v "the use of .mktemp. is dangerous\|statically linked applications requires at runtime" >&2 || true
[ -x "$output" ] || { echo "link failed" >&2; exit 1; }
echo "$output"
