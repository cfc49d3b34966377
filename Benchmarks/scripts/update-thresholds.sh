#!/usr/bin/env bash
# Records the allocation counts of every benchmark as the committed thresholds
# (Benchmarks/Thresholds/*.p90.json). Run after a change that is meant to allocate differently,
# and commit the files with it. Only mallocCountTotal is recorded: wall clock is never gated.
set -euo pipefail
cd "$(dirname "$0")/.."
swift package --allow-writing-to-package-directory benchmark thresholds update \
    --metric mallocCountTotal --no-progress "$@"
