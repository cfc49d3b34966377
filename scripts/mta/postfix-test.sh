#!/usr/bin/env bash
# The Postfix wirings of README.md against Debian's Postfix, end to end through real sockets.
# Run by scripts/ci.d/60-postfix.sh inside a private mount namespace (`unshare -m`): each test
# instance bind-mounts its own configuration folder over /etc/postfix, so `postfix`, `sendmail`
# and `postdrop` use it unchanged and the machine's /etc/postfix is never touched. Queue, mail
# and log live under one temp dir; ports: 19025 public smtpd, 19125 linkstamp smtpd, 19126
# re-injection smtpd, 19587 submission. Everything is stopped on exit.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

T=$(mktemp -d /tmp/linkstamp-postfix.XXXXXX)
chmod 755 "$T"
PF_INSTANCE=""
DOOR_PID=""

pf_stop() {
    if [ -n "$PF_INSTANCE" ]; then
        postfix stop >/dev/null 2>&1 || true
        umount /etc/postfix 2>/dev/null || true
        PF_INSTANCE=""
    fi
}
door_stop() {
    if [ -n "$DOOR_PID" ]; then
        kill -TERM "$DOOR_PID" 2>/dev/null || true
        wait "$DOOR_PID" 2>/dev/null || true
        DOOR_PID=""
    fi
}
finish() {
    local rc=$?
    door_stop
    pf_stop
    if [ "$rc" -ne 0 ] || [ "$MTA_FAILED" -ne 0 ]; then
        for log in "$T"/*/maillog "$T"/door.log; do
            [ -f "$log" ] && { echo "---- $log (last 40 lines)"; tail -n 40 "$log"; }
        done
    fi
    if [ -n "${KEEP_MTA_TMP:-}" ]; then echo "kept $T"; else rm -rf "$T"; fi
}
trap finish EXIT

mkdir -p "$T/etc.orig"
cp -a /etc/postfix/. "$T/etc.orig/"
rm -f "$T/etc.orig/main.cf"
mta_prepare_linkstamp "$T"
paths=$(mta_install_paths "$T")
ports='s/^smtp\([[:space:]]\{1,\}\)inet/127.0.0.1:19025 inet/
s/^submission\([[:space:]]\{1,\}\)inet/127.0.0.1:19587 inet/
s/127\.0\.0\.1:10025/127.0.0.1:19125/g
s/127\.0\.0\.1:10026/127.0.0.1:19126/g'

RCPTS=(reader cc bcc archive plain-bq plain-pipe local-bcc)
for i in $(seq -w 1 60); do RCPTS+=("r$i"); done

# pf_start NAME MASTER_SNIPPET [MAIN_SNIPPET]: a fresh Postfix with the README snippets (services
# they define replace the defaults; ports and paths mapped), delivering example.org to Maildirs.
pf_start() {
    local name=$1 master=$2 main=${3:-}
    local i="$T/$name"
    mkdir -p "$i/etc" "$i/queue" "$i/data" "$i/mail"
    chown postfix "$i/data"
    chown 65534:65534 "$i/mail"
    cp -a "$T/etc.orig/." "$i/etc/"
    mount --bind "$i/etc" /etc/postfix
    PF_INSTANCE=$name
    cat > /etc/postfix/main.cf <<EOF
# test instance $name (scripts/mta/postfix-test.sh)
compatibility_level = 3.6
queue_directory = $i/queue
data_directory = $i/data
maillog_file = $i/maillog
maillog_file_prefixes = $T
myhostname = relay.test.invalid
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
smtpd_banner = \$myhostname ESMTP
virtual_mailbox_domains = example.org
virtual_mailbox_base = $i/mail
virtual_mailbox_maps = texthash:/etc/postfix/vmailbox
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
default_transport = error:5.7.1 this test delivers nothing outside example.org
relay_transport = error:5.7.1 this test delivers nothing outside example.org
EOF
    if [ -n "$main" ]; then readme_snippet "$main" | sed -e "$paths" >> /etc/postfix/main.cf; fi
    for r in "${RCPTS[@]}"; do echo "$r@example.org example.org/$r/"; done > /etc/postfix/vmailbox
    postconf -F '*/*/chroot = n'
    # The README snippet replaces the services it defines; port 25 is never opened.
    local snippet
    snippet=$(readme_snippet "$master" | sed -e "$ports" -e "$paths")
    postconf -MX smtp/inet
    while read -r svc type _; do
        postconf -MX "$svc/$type" 2>/dev/null || true
    done < <(printf '%s\n' "$snippet" | grep -E '^[^#[:space:]]')
    printf '%s\n' "$snippet" >> /etc/postfix/master.cf
    if ! grep -q '^127.0.0.1:19025[[:space:]]' /etc/postfix/master.cf; then
        # the ordinary inbound smtpd of the default master.cf, on a test port
        echo '127.0.0.1:19025 inet n - n - - smtpd' >> /etc/postfix/master.cf
    fi
    script -qec "postfix check" /dev/null
    script -qec "postfix start" /dev/null >/dev/null
    mta_wait_port 19025
}

msys_good='{"cc":["cc@example.org"],"bcc":["bcc@example.org"],"archive":["archive@example.org"],"options":{"click_tracking":true,"open_tracking":false}}'
msys_bad='{"metadata":"not an object"}'
fanout='{"sender":"news@acme.example","cc":["cc@example.org"],"copies":{"reader@example.org":{},"cc@example.org":{},"bcc@example.org":{"bcc":"own"},"archive@example.org":{}}}'

# ---- a. + c. before-queue: public smtpd -> linkstamp smtpd -> re-injection smtpd -> virtual
mta_log "Postfix before-queue wiring (README: wiring:postfix-before-queue:*)"
pf_start before-queue postfix-before-queue:master.cf
door=$(readme_snippet postfix-before-queue:door | sed -e "$ports" -e "$paths")
(cd / && exec runuser -u linkstamp -- sh -c "exec $door") 2> "$T/door.log" &
DOOR_PID=$!
mta_wait_port 19125
mta_wait_port 19126
mail="$T/before-queue/mail"

mta_check message bq-bad --msys "$msys_bad" > "$T/bq-bad.eml"
mta_check send 19025 news@acme.example reader@example.org "$T/bq-bad.eml" --expect 550 \
    --text "5.6.0 X-MSYS-API 'metadata' must be of type 'json object'" \
    || mta_fail "before-queue: a bad X-MSYS-API header is not refused with 550 5.6.0 on the client's connection"

mta_check message bq-good --msys "$msys_good" --bcc leak@example.org > "$T/bq-good.eml"
mta_check send 19025 news@acme.example reader@example.org "$T/bq-good.eml" --expect 250 --text "2.0.0" \
    || mta_fail "before-queue: a good message is not accepted"
mta_check expect "$mail" bq-good "$fanout" \
    || mta_fail "before-queue: the copies of a good message (one each for reader, cc, bcc, archive; Bcc only on the bcc copy, with its own address)"
mta_check expect "$mail" bq-bad '{"copies":{}}' --timeout 0 \
    || mta_fail "before-queue: a refused message was delivered"

# c. ordinary local submission still loses its Bcc: header
mta_check message bq-plain --bcc leak@example.org > "$T/bq-plain.eml"
sendmail -i -f news@acme.example -- plain-bq@example.org < "$T/bq-plain.eml"
mta_check expect "$mail" bq-plain '{"copies":{"plain-bq@example.org":{"tracked":false}}}' \
    || mta_fail "before-queue: a plain local submission kept its Bcc: header (or was not delivered once)"
grep -q '"injection"' "$T/log/events.jsonl" 2>/dev/null \
    || mta_fail "before-queue: no injection event in the door's --events file"
door_stop
pf_stop

# ---- b. + c. + e. after-queue pipe(8): submission -> linkstamp filter --relay ->
# re-injection smtpd (cleanup_keepbcc) -> virtual; local sendmail -> pickup (default cleanup)
mta_log "Postfix after-queue pipe wiring (README: wiring:postfix-pipe:*)"
pf_start pipe postfix-pipe:master.cf postfix-pipe:main.cf
mta_wait_port 19587
mta_wait_port 19126
mail="$T/pipe/mail"
many=""
spec='{"sender":"news@acme.example","cc":["cc@example.org"],"copies":{"cc@example.org":{},"bcc@example.org":{"bcc":"own"},"archive@example.org":{}'
for i in $(seq -w 1 60); do many+="${many:+,}r$i@example.org"; spec+=",\"r$i@example.org\":{}"; done
spec+='}}'
mta_check message pipe-many --msys "$msys_good" > "$T/pipe-many.eml"
mta_check send 19587 news@acme.example "$many" "$T/pipe-many.eml" \
    || mta_fail "pipe: a good message is not accepted on the submission port"
mta_check expect "$mail" pipe-many "$spec" --timeout 120 \
    || mta_fail "pipe: 60 envelope recipients (more than Postfix's default destination_recipient_limit of 50) plus cc, bcc, archive: not exactly one copy each (the bcc copy with only its own Bcc:)"
grep -q "disconnect from localhost\[127.0.0.1\] ehlo=1 mail=63 rcpt=63 data=63 quit=1" "$T/pipe/maillog" \
    || mta_fail "pipe: the filter did not send the 63 copies over one connection to the re-injection smtpd"

mta_check message pipe-bad --msys "$msys_bad" > "$T/pipe-bad.eml"
mta_check send 19587 news@acme.example reader@example.org "$T/pipe-bad.eml" \
    || mta_fail "pipe: the submission port refused a message (the pipe wiring accepts first, then bounces)"
deadline=$((SECONDS + 30))
until grep -q "dsn=5.6.0.*X-MSYS-API 'metadata' must be of type 'json object'" "$T/pipe/maillog" 2>/dev/null \
    || [ $SECONDS -ge $deadline ]; do sleep 0.5; done
grep -q "status=bounced (.*X-MSYS-API 'metadata' must be of type 'json object'" "$T/pipe/maillog" \
    || mta_fail "pipe: a bad header is not bounced with dsn=5.6.0 and the filter's text"
mta_check expect "$mail" pipe-bad '{"copies":{}}' --timeout 0 \
    || mta_fail "pipe: a bounced message was delivered"

# c. a LOCAL submission with Bcc: (pickup, default cleanup) loses the header
mta_check message pipe-local --bcc local-bcc@example.org > "$T/pipe-local.eml"
sendmail -t -i -f news@acme.example < "$T/pipe-local.eml"
mta_check expect "$mail" pipe-local '{"copies":{"reader@example.org":{"tracked":false},"local-bcc@example.org":{"tracked":false}}}' \
    || mta_fail "pipe: a local 'sendmail -t' message kept its Bcc: header (or was not delivered once per recipient)"

mta_check message pipe-plain --bcc leak@example.org > "$T/pipe-plain.eml"
mta_check send 19025 news@acme.example plain-pipe@example.org "$T/pipe-plain.eml" \
    || mta_fail "pipe: the unfiltered smtpd did not accept a plain message"
mta_check expect "$mail" pipe-plain '{"copies":{"plain-pipe@example.org":{"tracked":false}}}' \
    || mta_fail "pipe: a plain message over SMTP kept its Bcc: header (or was not delivered once)"
pf_stop

if [ "$MTA_FAILED" -ne 0 ]; then
    echo "postfix: $MTA_FAILED check(s) failed" >&2
    exit 1
fi
mta_log "every Postfix wiring of README.md works"
