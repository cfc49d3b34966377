# The SMTP door's STARTTLS tests make a throw-away certificate with the openssl CLI.
if ! command -v openssl >/dev/null 2>&1; then
    apt_install openssl
fi
