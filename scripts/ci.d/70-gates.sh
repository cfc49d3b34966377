#!/usr/bin/env bash
# CI gates that wall-clock noise cannot fool (wall clock is never gated):
# 1. instructions of a fixed workload under callgrind, against the counts committed for this
#    toolchain (scripts/instruction-gate; a rise above 3 % fails);
# 2. allocation counts of every benchmark, against Benchmarks/Thresholds/swift-<version>/
#    (more allocations fail; fewer pass with a note to record them).
set -euo pipefail
cd "$(dirname "$0")/../.."
if ! command -v valgrind >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    $SUDO apt-get update -qq
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind
fi
echo "== instruction counts (callgrind)"
scripts/instruction-gate
echo "== allocation thresholds (package-benchmark, mallocCountTotal)"
status=0
Benchmarks/scripts/check-thresholds.sh > /tmp/linkstamp-thresholds.log 2>&1 || status=$?
tail -n 40 /tmp/linkstamp-thresholds.log
case "$status" in
    0) echo "allocation counts: equal to the thresholds" ;;
    4) echo "allocation counts: fewer than the thresholds (record them with Benchmarks/scripts/update-thresholds.sh)" ;;
    2) echo "allocation counts ROSE above the thresholds" >&2; exit 1 ;;
    *) echo "the allocation benchmark run failed (status $status)" >&2; exit 1 ;;
esac
