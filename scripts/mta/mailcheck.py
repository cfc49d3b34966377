#!/usr/bin/env python3
"""Client and checker of the real-MTA tests (scripts/ci.d/60-postfix.sh, 61-exim.sh).

  mailcheck.py message SUBJECT [--msys JSON] [--bcc ADDR] > FILE
      a test message (CRLF, 7bit HTML with one link to https://acme.example/offer)
  mailcheck.py send PORT FROM RCPT[,RCPT...] FILE [--expect CODE] [--text TEXT]
      sends FILE over SMTP to 127.0.0.1:PORT; checks the final reply (default 250)
  mailcheck.py expect MAILROOT SUBJECT SPEC_JSON [--timeout S]
      waits for the copies of SUBJECT in every file under MAILROOT and checks them against
      SPEC_JSON: {"copies": {"addr": {"bcc": "own"|null, "tracked": bool}}, "cc": [addr...],
      "sender": envelope sender (checked against Return-Path)}
      (each listed address exactly one copy, no other address any)

Stdlib only. Every failed check prints `FAIL: ...` and the command exits 1.
"""
import email
import email.policy
import json
import os
import smtplib
import sys
import time

TRACKED = "https://click.example.com/f/"
ORIGINAL = "https://acme.example/offer"


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def make_message(subject, msys=None, bcc=None):
    lines = [
        "From: News <news@acme.example>",
        "To: Reader <reader@example.org>",
        "Subject: " + subject,
        "Date: Mon, 07 Dec 2026 06:00:00 +0000",
        "Message-ID: <%s@acme.example>" % subject,
        "MIME-Version: 1.0",
    ]
    if bcc:
        lines.append("Bcc: " + bcc)
    if msys is not None:
        lines.append("X-MSYS-API: " + msys)
    lines += [
        "Content-Type: text/html; charset=us-ascii",
        "Content-Transfer-Encoding: 7bit",
        "",
        "<html><body>",
        '<p>Hello. <a href="%s">See the offer</a>.</p>' % ORIGINAL,
        "</body></html>",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def send(port, sender, rcpts, data, expect, text):
    code, reply = 250, ""
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=120) as s:
            s.ehlo("client.test.invalid")
            s.mail(sender)
            for r in rcpts:
                c, m = s.rcpt(r)
                if c >= 400:
                    fail("RCPT TO:<%s> on port %d got %d %s" % (r, port, c, m.decode(errors="replace")))
            code, msg = s.data(data)
            reply = msg.decode(errors="replace")
    except smtplib.SMTPDataError as e:
        code, reply = e.smtp_code, e.smtp_error.decode(errors="replace")
    except (smtplib.SMTPException, OSError) as e:
        fail("SMTP session with 127.0.0.1:%d failed: %r" % (port, e))
    print("port %d: %d %s" % (port, code, reply.replace("\n", " | ")))
    if code != expect:
        fail("expected reply %d at the end of DATA on port %d, got %d %s" % (expect, port, code, reply))
    if text and text not in reply:
        fail("expected reply text %r on port %d, got %d %r" % (text, port, code, reply))


def recipient_of(msg):
    for name in ("Delivered-To", "Envelope-to", "X-Original-To"):
        v = msg.get(name)
        if v:
            return str(v).strip().strip("<>").lower()
    return None


def collect(root, subject):
    found = []
    for dirpath, _, files in os.walk(root):
        for f in files:
            path = os.path.join(dirpath, f)
            try:
                with open(path, "rb") as fh:
                    msg = email.message_from_binary_file(fh, policy=email.policy.compat32)
            except OSError:
                continue
            if str(msg.get("Subject", "")).strip() == subject:
                found.append((path, msg))
    return found


def html_of(msg):
    for part in msg.walk():
        if part.get_content_type() == "text/html":
            payload = part.get_payload(decode=True) or b""
            return payload.decode("utf-8", errors="replace")
    return ""


def expect(root, subject, spec, timeout):
    copies = {a.lower(): v for a, v in spec["copies"].items()}
    deadline = time.time() + timeout
    found = collect(root, subject)
    while len(found) < len(copies) and time.time() < deadline:
        time.sleep(0.5)
        found = collect(root, subject)
    time.sleep(1.5)  # a duplicate copy would arrive right behind the others
    found = collect(root, subject)
    errors = []
    by_rcpt = {}
    for path, msg in found:
        by_rcpt.setdefault(recipient_of(msg), []).append((path, msg))
    for addr in copies:
        n = len(by_rcpt.get(addr, []))
        if n != 1:
            errors.append("%s received %d copies of %r, expected exactly 1" % (addr, n, subject))
    for addr, items in by_rcpt.items():
        if addr not in copies:
            errors.append("unexpected copy of %r for %s (%s)" % (subject, addr, items[0][0]))
    for addr, want in copies.items():
        for path, msg in by_rcpt.get(addr, [])[:1]:
            bccs = msg.get_all("Bcc") or []
            if want.get("bcc") == "own":
                if [b.strip().lower() for b in bccs] != [addr]:
                    errors.append("%s: expected exactly one 'Bcc: %s', found %r (%s)" % (addr, addr, bccs, path))
            elif bccs:
                errors.append("%s: expected no Bcc header, found %r (%s)" % (addr, bccs, path))
            with open(path, "rb") as fh:
                head = fh.read().replace(b"\r\n", b"\n").split(b"\n\n", 1)[0].split(b"\n")
            if any(line.startswith(b"From ") for line in head):
                errors.append("%s: a 'From ' line in the header: the MTA's pipe prefix got into the copy (%s)" % (addr, path))
            if spec.get("sender") is not None:
                rp = str(msg.get("Return-Path", "")).strip().lower()
                if rp != "<%s>" % spec["sender"].lower():
                    errors.append("%s: envelope sender (Return-Path) %r, expected <%s> (%s)" % (addr, rp, spec["sender"], path))
            html = html_of(msg)
            if want.get("tracked", True):
                if TRACKED not in html or ORIGINAL in html:
                    errors.append("%s: link not rewritten to %s… (%s)" % (addr, TRACKED, path))
            elif ORIGINAL not in html:
                errors.append("%s: expected the original link %s (%s)" % (addr, ORIGINAL, path))
            if msg.get("X-MSYS-API") is not None and want.get("tracked", True):
                errors.append("%s: X-MSYS-API header still present (%s)" % (addr, path))
            cc = " ".join(msg.get_all("Cc") or []).lower()
            for c in spec.get("cc", []):
                if c.lower() not in cc:
                    errors.append("%s: Cc header %r lacks %s (%s)" % (addr, cc, c, path))
    for e in errors:
        print("FAIL: " + e, file=sys.stderr)
    if errors:
        sys.exit(1)
    print("%r: %d copies, one for each of %d recipients, checked" % (subject, len(found), len(copies)))


def main(argv):
    if len(argv) < 2:
        fail(__doc__)
    cmd, args = argv[1], argv[2:]

    def opt(name, default=None):
        if name in args:
            i = args.index(name)
            value = args[i + 1]
            del args[i:i + 2]
            return value
        return default

    if cmd == "message":
        msys, bcc = opt("--msys"), opt("--bcc")
        sys.stdout.buffer.write(make_message(args[0], msys, bcc))
    elif cmd == "send":
        code, text = int(opt("--expect", "250")), opt("--text")
        port, sender, rcpts, path = int(args[0]), args[1], args[2].split(","), args[3]
        with open(path, "rb") as fh:
            send(port, sender, rcpts, fh.read(), code, text)
    elif cmd == "expect":
        timeout = float(opt("--timeout", "60"))
        expect(args[0], args[1], json.loads(args[2]), timeout)
    else:
        fail("unknown command " + cmd)


if __name__ == "__main__":
    main(sys.argv)
