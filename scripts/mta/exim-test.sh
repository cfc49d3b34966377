#!/usr/bin/env bash
# The Exim wiring of README.md against Debian's Exim 4, end to end through real sockets.
# Run by scripts/ci.d/61-exim.sh inside a private mount namespace (`unshare -m`) with EXIM_ROOT
# set to the folder Debian's exim4 packages were unpacked into (they conflict with Postfix's
# package, so they are not installed). A private folder is bind-mounted over /etc/exim4, so the
# unpacked exim finds its configuration where Debian's build looks, for the daemon and for
# `exim -bS` run by the filter user alike. Spool, mail and logs live under one temp dir; the
# daemon listens on 127.0.0.1:19225 and is stopped on exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

EXIM="$EXIM_ROOT/usr/sbin/exim4"
T=$(mktemp -d /tmp/linkstamp-exim.XXXXXX)
chmod 755 "$T"
EXIM_PID=""

finish() {
    local rc=$?
    if [ -n "$EXIM_PID" ]; then kill -TERM "$EXIM_PID" 2>/dev/null || true; wait "$EXIM_PID" 2>/dev/null || true; fi
    umount /etc/exim4 2>/dev/null || true
    if [ "$rc" -ne 0 ] || [ "$MTA_FAILED" -ne 0 ]; then
        for log in "$T"/eximlog/mainlog "$T"/eximlog/paniclog "$T"/eximlog/rejectlog; do
            [ -s "$log" ] && { echo "---- $log (last 40 lines)"; tail -n 40 "$log"; }
        done
    fi
    if [ -n "${KEEP_MTA_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap finish EXIT

mta_prepare_linkstamp "$T"
mta_ensure_user Debian-exim   # the exim user compiled into Debian's exim4
paths=$(mta_install_paths "$T")
exim_path="s#/usr/sbin/exim #$EXIM #g"

mkdir -p "$T/etc" "$T/spool" "$T/eximlog" "$T/mail/outbound" "$T/mail/local"
chown Debian-exim:Debian-exim "$T/spool" "$T/eximlog"
chown -R nobody "$T/mail"
readme_snippet exim:linkstamp-exim | sed -e "$paths" -e "$exim_path" > "$T/bin/linkstamp-exim"
chmod 755 "$T/bin/linkstamp-exim"

{
    cat <<EOF
# test configuration (scripts/mta/exim-test.sh): the README's parts plus a stand-in for the
# dnslookup router (every non-local domain is written to a Maildir instead of sent)
primary_hostname = relay.test.invalid
qualify_domain = relay.test.invalid
domainlist local_domains = relay.test.invalid
hostlist relay_from_hosts = 127.0.0.1
exim_path = $EXIM
spool_directory = $T/spool
log_file_path = $T/eximlog/%slog
pid_file_path = $T/exim.pid
daemon_smtp_ports = 19225
local_interfaces = 127.0.0.1
rfc1413_query_timeout = 0s
keep_environment =
tls_advertise_hosts =
host_lookup =
never_users = root
acl_smtp_rcpt = acl_check_rcpt
acl_smtp_data = acl_check_data
EOF
    readme_snippet exim:main
    cat <<EOF

begin acl
acl_check_rcpt:
  accept hosts = +relay_from_hosts
  accept domains = +local_domains
  deny
acl_check_data:
  accept

begin routers
EOF
    readme_snippet exim:router | sed -e "$paths"
    cat <<EOF

outbound:
  driver = accept
  domains = ! +local_domains
  transport = outbound_maildir

local:
  driver = accept
  domains = +local_domains
  transport = local_maildir

begin transports
EOF
    readme_snippet exim:transport | sed -e "$paths"
    cat <<EOF

outbound_maildir:
  driver = appendfile
  directory = $T/mail/outbound
  maildir_format
  user = nobody
  envelope_to_add
  return_path_add

local_maildir:
  driver = appendfile
  directory = $T/mail/local
  maildir_format
  user = nobody
  envelope_to_add
  return_path_add

begin retry
*  *  F,1h,1m
EOF
} > "$T/etc/exim4.conf"
mkdir -p /etc/exim4
mount --bind "$T/etc" /etc/exim4
"$EXIM" -bV >/dev/null || { mta_fail "exim does not accept the configuration"; "$EXIM" -bV; exit 1; }
"$EXIM" -bdf -q5s &
EXIM_PID=$!
mta_wait_port 19225
mail="$T/mail"

mta_log "Exim wiring (README: wiring:exim:*)"
msys_good='{"cc":["cc@example.org"],"bcc":["bcc@example.org"],"archive":["archive@example.org"],"options":{"click_tracking":true,"open_tracking":false}}'
msys_bad='{"metadata":"not an object"}'

mta_check message exim-good --msys "$msys_good" --bcc leak@example.org > "$T/good.eml"
mta_check send 19225 news@acme.example reader@example.org,r1@example.org "$T/good.eml" \
    || mta_fail "exim: a good message is not accepted"
mta_check expect "$mail" exim-good '{"sender":"news@acme.example","cc":["cc@example.org"],"copies":{"reader@example.org":{},"r1@example.org":{},"cc@example.org":{},"bcc@example.org":{"bcc":"own"},"archive@example.org":{}}}' \
    || mta_fail "exim: the copies of a good message (one each for 2 recipients, cc, bcc, archive; Bcc only on the bcc copy)"
grep -q 'P=local-bsmtp' "$T/eximlog/mainlog" \
    || mta_fail "exim: the copies did not come back through exim -bS (no P=local-bsmtp in the mainlog)"

mta_check message exim-bad --msys "$msys_bad" > "$T/bad.eml"
mta_check send 19225 news@acme.example reader@example.org "$T/bad.eml" \
    || mta_fail "exim: the daemon refused a message (the pipe wiring accepts first, then bounces)"
mta_check expect "$mail" exim-bad '{"copies":{}}' --timeout 0 \
    || mta_fail "exim: a message with a bad header was delivered"
deadline=$((SECONDS + 30))
until grep -rqs "X-MSYS-API 'metadata' must be of type 'json object'" "$mail/outbound" || [ $SECONDS -ge $deadline ]; do
    sleep 0.5
done
bounce=$(grep -rls "X-MSYS-API 'metadata' must be of type 'json object'" "$mail/outbound" | head -n 1)
if [ -z "$bounce" ]; then
    mta_fail "exim: no bounce with the filter's 5.6.0 text reached the sender"
elif ! grep -q '^Envelope-to: news@acme.example' "$bounce" || ! grep -q '^Return-path: <>' "$bounce"; then
    mta_fail "exim: the bounce ($bounce) is not a null-sender message to news@acme.example"
fi

# Inbound mail (a local domain) and bounces (null sender) are not filtered.
mta_check message exim-inbound --msys "$msys_good" > "$T/inbound.eml"
mta_check send 19225 news@acme.example postmaster@relay.test.invalid "$T/inbound.eml" \
    || mta_fail "exim: inbound mail for a local domain is not accepted"
mta_check expect "$mail" exim-inbound '{"copies":{"postmaster@relay.test.invalid":{"tracked":false}}}' \
    || mta_fail "exim: inbound mail for a local domain went through Linkstamp (or was not delivered once)"
mta_check message exim-null > "$T/null.eml"
mta_check send 19225 "" reader@example.org "$T/null.eml" \
    || mta_fail "exim: a null-sender message is not accepted"
mta_check expect "$mail" exim-null '{"copies":{"reader@example.org":{"tracked":false}}}' \
    || mta_fail "exim: a null-sender message (a bounce) went through Linkstamp (or was not delivered once)"

if [ "$MTA_FAILED" -ne 0 ]; then
    echo "exim: $MTA_FAILED check(s) failed" >&2
    exit 1
fi
mta_log "the Exim wiring of README.md works"
