#!/usr/bin/env bash
# SIGTERM and SIGINT stop the real `linkstamp smtpd` and `linkstamp serve` (drain, 421 4.3.2,
# exit 0). These tests run alone, bounded: inside the whole `swift test` run they can starve for
# a thread on a 2-core machine (see Tests/SMTPDoorTests/SignalTests.swift).
set -euo pipefail
cd "$(dirname "$0")/../.."
LINKSTAMP_SIGNAL_TESTS=1 timeout 300 swift test --skip-build --filter SignalTests
