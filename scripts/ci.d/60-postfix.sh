#!/usr/bin/env bash
# CI: the Postfix wirings of README.md (before-queue through `linkstamp smtpd`, after-queue
# pipe(8), Bcc kept on re-injection only, more recipients than destination_recipient_limit)
# against Debian's Postfix, end to end on 127.0.0.1 ports 19000-19999 (scripts/mta/postfix-test.sh).
# Installs Postfix with debconf "No configuration": the system instance is never configured
# nor started; the test runs private instances in its own mount namespace and stops them.
set -euo pipefail
cd "$(dirname "$0")/../.."
. scripts/mta/lib.sh
if [ ! -x /usr/sbin/postfix ] || [ ! -x /usr/sbin/sendmail ]; then
    echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
    apt_get_install postfix
fi
command -v python3 >/dev/null || apt_get_install python3
command -v runuser >/dev/null || apt_get_install util-linux
exec unshare -m bash scripts/mta/postfix-test.sh
