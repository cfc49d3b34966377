#!/usr/bin/env bash
# CI: the Exim wiring of README.md against Debian's Exim 4, end to end on 127.0.0.1:19225
# (scripts/mta/exim-test.sh). Debian's exim4 packages conflict with Postfix's
# (mail-transport-agent), which 60-postfix.sh installs: so this step does not install them but
# downloads them with `apt-get download`, unpacks them with `dpkg-deb -x` into a private folder
# and installs only their library dependencies. Nothing of Exim runs after the step.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/mta/lib.sh
root=${LINKSTAMP_EXIM_ROOT:-/var/cache/linkstamp-ci/exim4}
if [ ! -x "$root/usr/sbin/exim4" ]; then
    [ -n "$mta_apt_updated" ] || apt-get update -qq -o DPkg::Lock::Timeout=300
    debs=$(mktemp -d)
    (cd "$debs" && apt-get download -qq exim4-daemon-light exim4-base exim4-config)
    rm -rf "$root.tmp" && mkdir -p "$root.tmp"
    libs=()
    for deb in "$debs"/*.deb; do
        dpkg-deb -x "$deb" "$root.tmp"
        # library dependencies: first alternative of each Depends entry that is a lib* package
        while read -r dep; do
            case "$dep" in lib*) libs+=("$dep") ;; esac
        done < <(dpkg-deb -f "$deb" Depends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g')
    done
    apt_get_install "${libs[@]}"
    rm -rf "$debs" "$root" && mkdir -p "$(dirname "$root")" && mv "$root.tmp" "$root"
fi
command -v python3 >/dev/null || apt_get_install python3
EXIM_ROOT=$root exec unshare -m bash scripts/mta/exim-test.sh
