#!/usr/bin/env bash
# Runs every benchmark and checks its allocation count (mallocCountTotal) against
# Benchmarks/Thresholds/swift-<version>/ (this toolchain's folder), with the tolerance set in LinkstampBenchmarks.swift. Wall clock is
# never checked. Exit 0: within the thresholds; 2: more allocations than recorded (a
# regression); 4: fewer only (record them with update-thresholds.sh and commit); 1: the run
# itself failed. `swift package` folds the tool's own codes into 1, so the verdict line decides.
set -uo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=toolchain-thresholds.sh
. scripts/toolchain-thresholds.sh
if [ ! -d "$thresholds_path" ]; then
    echo "no allocation thresholds recorded for Swift $swift_version ($thresholds_path): run scripts/update-thresholds.sh and commit" >&2
    exit 1
fi
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
swift package benchmark thresholds check --metric mallocCountTotal --target LinkstampBenchmarks --no-progress --path "$thresholds_path" "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
if grep -q "is WORSE than the defined thresholds" "$log"; then exit 2; fi
if grep -q "is BETTER than the defined thresholds" "$log"; then exit 4; fi
if grep -q "is EQUAL to the defined thresholds" "$log"; then exit 0; fi
exit $(( status == 0 ? 0 : 1 ))
