#!/usr/bin/env bash
# Runs every benchmark and checks its allocation count against Benchmarks/Thresholds/
# (tolerance: the thresholds in LinkstampBenchmarks.swift). Exit 0: within them; 2: more
# allocations than recorded; 4: fewer (record them with update-thresholds.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
swift package benchmark thresholds check --metric mallocCountTotal --no-progress "$@"
