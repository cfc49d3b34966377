#!/usr/bin/env bash
# Linkstamp next to its peers, on the same inputs, in one run:
#   Benchmarks/peers/run.sh [--recipients N] [--passes K]
# Makes Benchmarks/peers/.venv with the pinned peers (requirements.txt), builds linkstamp in
# release, runs bench.py, and writes Benchmarks/results.json and Benchmarks/results.svg.
# The shared corpus is found at <project>/../shared/corpus (LINKSTAMP_CORPUS overrides it).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

stamp="$venv/.requirements"
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
    echo "peers: making $venv" >&2
    "$python" -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    cp "$here/requirements.txt" "$stamp"
fi

# altermime (C, Debian) is the peer of the per-process row (one `linkstamp filter` per message).
if ! command -v altermime >/dev/null 2>&1; then
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
    echo "peers: installing altermime (Debian)" >&2
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq altermime >&2 ||
        { $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq altermime >&2; }
fi

echo "peers: building linkstamp (release)" >&2
swift build --package-path "$root" -c release --product linkstamp >&2
linkstamp="$(swift build --package-path "$root" -c release --show-bin-path)/linkstamp"

exec "$venv/bin/python" "$here/bench.py" --linkstamp "$linkstamp" "$@"
