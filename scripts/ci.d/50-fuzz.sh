#!/usr/bin/env bash
# CI: fuzz every target for FUZZ_SECONDS (default 20) with libFuzzer; fail on any finding (the
# input is then in Fuzz/Regressions/<target>/, where the test suite replays it).
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds=${FUZZ_SECONDS:-20}
failed=0
for target in $(scripts/fuzz --list); do
    scripts/fuzz "$target" "$seconds" || failed=1
done
exit "$failed"
