# Shared by scripts/ci.d/60-postfix.sh and 61-exim.sh (sourced): the real-MTA end-to-end tests.
# Every wiring is taken from README.md, where each code block a test runs is preceded by an
# HTML comment `<!-- wiring:NAME -->`; the tests change only install paths and ports in it.
# All servers listen on 127.0.0.1, ports 19000-19999, with private folders under one temp dir.

export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
MTA_REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
MTA_FAILED=0

mta_log() { printf '%s\n' "mta: $*"; }
# mta_fail MESSAGE: records a failed check (the step exits non-zero at the end).
mta_fail() { printf '%s\n' "mta: FAIL: $*" >&2; MTA_FAILED=$((MTA_FAILED + 1)); }

# apt_get_install PACKAGE...: idempotent; `apt-get update` at most once per step.
mta_apt_updated=""
apt_get_install() {
    local missing=()
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ -z "$mta_apt_updated" ]; then
        apt-get update -qq -o DPkg::Lock::Timeout=300
        mta_apt_updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -o DPkg::Lock::Timeout=300 "${missing[@]}"
}

# readme_snippet NAME: prints the code block that follows `<!-- wiring:NAME -->` in README.md.
readme_snippet() {
    local out
    out=$(awk -v mark="<!-- wiring:$1 -->" '
        $0 == mark { found = 1; next }
        found == 1 && /^```/ { found = 2; next }
        found == 2 && /^```/ { exit }
        found == 2 { print }
    ' "$MTA_REPO/README.md")
    if [ -z "$out" ]; then echo "README.md has no block after <!-- wiring:$1 -->" >&2; return 1; fi
    printf '%s\n' "$out"
}

# mta_linkstamp_binary [NAME]: prints the path of the debug `linkstamp` (or NAME, e.g.
# `linkstamp-filter`), built when missing.
mta_linkstamp_binary() {
    local name=${1:-linkstamp}
    local bin="$MTA_REPO/.build/debug/$name"
    if [ ! -x "$bin" ]; then
        (cd "$MTA_REPO" && swift build --product "$name" >&2)
    fi
    printf '%s\n' "$bin"
}

# mta_ensure_user NAME: a system user with its own group (the filter user of the wirings).
mta_ensure_user() {
    getent passwd "$1" >/dev/null || useradd --system --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin --user-group "$1"
}

# mta_wait_port PORT [SECONDS]: waits until 127.0.0.1:PORT accepts connections.
mta_wait_port() {
    local port=$1 deadline=$((SECONDS + ${2:-20}))
    while [ $SECONDS -lt $deadline ]; do
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.2
    done
    echo "nothing listens on 127.0.0.1:$port after ${2:-20} s" >&2
    return 1
}

# mta_prepare_linkstamp DIR: a private installation for the filter user `linkstamp`:
# DIR/bin/linkstamp and DIR/bin/linkstamp-filter, DIR/linkstamp/linkstamp.conf (tracking_domain
# click.example.com, key ring beside it) and DIR/log/ for events, readable and writable by that user.
mta_prepare_linkstamp() {
    local dir=$1
    mta_ensure_user linkstamp
    mkdir -p "$dir/bin" "$dir/linkstamp" "$dir/log"
    cp "$(mta_linkstamp_binary)" "$dir/bin/linkstamp"
    cp "$(mta_linkstamp_binary linkstamp-filter)" "$dir/bin/linkstamp-filter"
    cat > "$dir/linkstamp/linkstamp.conf" <<EOF
tracking_domain = click.example.com
key_ring        = keys
EOF
    LINKSTAMP_CONFIG="$dir/linkstamp/linkstamp.conf" "$dir/bin/linkstamp" keygen >/dev/null
    chown -R linkstamp:linkstamp "$dir/linkstamp" "$dir/log"
}

# mta_install_paths DIR: sed program that maps the README's install paths into DIR.
mta_install_paths() {
    local dir=$1
    printf '%s\n' \
        "s#/usr/local/bin/linkstamp-exim#$dir/bin/linkstamp-exim#g" \
        "s#/usr/local/bin/linkstamp#$dir/bin/linkstamp#g" \
        "s#/etc/linkstamp/#$dir/linkstamp/#g" \
        "s#/var/log/linkstamp/#$dir/log/#g"
}

MTA_PY=${MTA_PY:-$(command -v python3 || true)}
mta_check() { "$MTA_PY" "$MTA_REPO/scripts/mta/mailcheck.py" "$@"; }
