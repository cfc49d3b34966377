#!/usr/bin/env bash
# Records the allocation counts of every benchmark as the committed thresholds
# (Benchmarks/Thresholds/swift-<version>/*.p90.json, one folder per toolchain). Run after a change that is meant to allocate differently,
# and commit the files with it. Only mallocCountTotal is recorded: wall clock is never gated.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=toolchain-thresholds.sh
. scripts/toolchain-thresholds.sh
mkdir -p "$thresholds_path"
swift package --allow-writing-to-package-directory benchmark thresholds update \
    --metric mallocCountTotal --target LinkstampBenchmarks --no-progress --path "$thresholds_path" "$@"
