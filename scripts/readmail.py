#!/usr/bin/env python3
"""List the mails in a mailbox of the local Loket mail stack (scripts/mailstack.sh) over IMAP.

    scripts/readmail.py alice@example.test              # one line per mail: UID, date, from, subject
    scripts/readmail.py alice@example.test --body       # ... plus the text body of each mail
    scripts/readmail.py alice@example.test --raw 3      # the complete raw message with UID 3
    scripts/readmail.py alice@example.test --wait 2     # wait (up to --timeout s) for >= 2 mails first
    scripts/readmail.py alice@example.test --tls --cert run/mailstack/tls/cert.pem   # via IMAPS

Defaults: host 127.0.0.1, port $IMAP_PORT or 1143 (with --tls: $IMAPS_PORT or 1993), password
"secret" (every @example.test user has it), mailbox INBOX. Read-only: nothing is marked \\Seen.
Standard library only.
"""
import argparse
import imaplib
import os
import ssl
import sys
import time
from email import policy
from email.parser import BytesParser


def text_body(msg) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return "(no text body)"
    try:
        return part.get_content()
    except (LookupError, ValueError):
        return part.get_payload(decode=True).decode("utf-8", errors="replace")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("user", help="full address, e.g. alice@example.test")
    ap.add_argument("--password", default="secret")
    ap.add_argument("--mailbox", default="INBOX")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int)
    ap.add_argument("--tls", action="store_true", help="implicit TLS (IMAPS)")
    ap.add_argument("--cert", help="CA file to trust with --tls (the stack's DIR/tls/cert.pem; "
                    "default: run/mailstack/tls/cert.pem of this repository if present)")
    ap.add_argument("--body", action="store_true", help="print the text body of every mail")
    ap.add_argument("--raw", type=int, metavar="UID", help="print one complete raw message")
    ap.add_argument("--wait", type=int, default=0, metavar="N", help="wait until at least N mails exist")
    ap.add_argument("--timeout", type=float, default=30.0)
    args = ap.parse_args()

    if args.tls:
        port = args.port or int(os.environ.get("IMAPS_PORT", "1993"))
        if not args.cert:
            # The quick-start stack's certificate, when there is one.
            default = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "run", "mailstack", "tls", "cert.pem")
            if os.path.exists(default):
                args.cert = default
    else:
        port = args.port or int(os.environ.get("IMAP_PORT", "1143"))
    try:
        if args.tls:
            ctx = ssl.create_default_context(cafile=args.cert) if args.cert else ssl.create_default_context()
            imap = imaplib.IMAP4_SSL(args.host, port, ssl_context=ctx, timeout=30)
        else:
            imap = imaplib.IMAP4(args.host, port, timeout=30)
        imap.login(args.user, args.password)
    except ssl.SSLError as e:
        print(f"readmail.py: TLS to {args.host}:{port} failed: {e}", file=sys.stderr)
        print("  trust the stack's certificate with --cert DIR/tls/cert.pem", file=sys.stderr)
        return 1
    except imaplib.IMAP4.error as e:
        print(f"readmail.py: login as {args.user} refused: {e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"readmail.py: cannot connect to {args.host}:{port}: {e}", file=sys.stderr)
        print("  is the mail stack running? (scripts/mailstack.sh status run/mailstack)", file=sys.stderr)
        return 1

    deadline = time.monotonic() + args.timeout
    while True:
        typ, data = imap.select(args.mailbox, readonly=True)
        if typ != "OK":
            # A mailbox that does not exist yet is just empty (e.g. INBOX before the first delivery).
            count = 0
        else:
            count = int(data[0])
        if count >= args.wait or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    if count < args.wait:
        print(f"readmail.py: only {count} of {args.wait} mails after {args.timeout:g}s", file=sys.stderr)

    if typ == "OK" and args.raw is not None:
        typ, data = imap.uid("FETCH", str(args.raw), "(BODY.PEEK[])")
        parts = [d for d in data if isinstance(d, tuple)]
        if not parts:
            print(f"readmail.py: no message with UID {args.raw}", file=sys.stderr)
            return 1
        sys.stdout.write(parts[0][1].decode("utf-8", errors="replace"))
        imap.logout()
        return 0

    print(f"{args.user} {args.mailbox}: {count} message(s)")
    if typ == "OK" and count:
        typ, data = imap.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])")
        for item in data:
            if not isinstance(item, tuple):
                continue
            meta = item[0].decode()
            uid = meta.split("UID ", 1)[1].split()[0].rstrip(")")
            msg = BytesParser(policy=policy.default).parsebytes(item[1])
            print(f"[{uid}] {msg.get('Date', '-')} | from {msg.get('From', '-')} | to {msg.get('To', '-')}"
                  f" | {msg.get('Subject', '(no subject)')}")
            if args.body:
                for line in text_body(msg).rstrip().splitlines():
                    print(f"      {line}")
                print()
    imap.logout()
    return 0 if count >= args.wait else 1


if __name__ == "__main__":
    sys.exit(main())
