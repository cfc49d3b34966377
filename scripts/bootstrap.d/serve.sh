# `linkstamp serve`'s demo step and tests follow links with curl.
if ! command -v curl >/dev/null 2>&1; then
    apt_install curl
fi
