#!/usr/bin/env python3
"""Send one test mail into the local Loket mail stack (scripts/mailstack.sh) over plain SMTP.

    scripts/sendmail.py --from alice@example.test --to helpdesk@example.test \
        --subject "Printer on floor 2 is broken" --body "It shows error E42 since this morning."

    echo "long body..." | scripts/sendmail.py --from alice@example.test --to helpdesk@example.test -s Hi
    scripts/sendmail.py ... --header "In-Reply-To: <id@example.test>" --attach screenshot.png

Defaults: host 127.0.0.1, port $SMTP_PORT or 2525. Without --body the body is read from stdin.
Prints the Message-ID it used, so replies/threads can be followed. Standard library only.
Only addresses @example.test get delivered; the stack bounces everything else back to the sender.
"""
import argparse
import mimetypes
import os
import smtplib
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--from", dest="sender", required=True, help="envelope and From: address")
    ap.add_argument("--to", action="append", required=True, help="recipient (repeatable)")
    ap.add_argument("--cc", action="append", default=[], help="Cc recipient (repeatable)")
    ap.add_argument("-s", "--subject", default="(no subject)")
    ap.add_argument("-b", "--body", help="text body; read from stdin when omitted")
    ap.add_argument("--header", action="append", default=[], metavar="'Name: value'",
                    help="extra header, e.g. 'In-Reply-To: <x@y>' (repeatable)")
    ap.add_argument("--attach", action="append", default=[], metavar="FILE", help="attach a file (repeatable)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=int(os.environ.get("SMTP_PORT", "2525")))
    args = ap.parse_args()

    body = args.body if args.body is not None else sys.stdin.read()
    domain = args.sender.rpartition("@")[2] or "example.test"

    msg = EmailMessage()
    msg["From"] = args.sender
    msg["To"] = ", ".join(args.to)
    if args.cc:
        msg["Cc"] = ", ".join(args.cc)
    msg["Subject"] = args.subject
    msg["Date"] = formatdate(localtime=True)
    msg["Message-ID"] = make_msgid(domain=domain)
    for h in args.header:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            ap.error(f"--header needs 'Name: value', got {h!r}")
        msg[name.strip()] = value.strip()
    msg.set_content(body)
    for path in args.attach:
        ctype, _ = mimetypes.guess_type(path)
        maintype, _, subtype = (ctype or "application/octet-stream").partition("/")
        with open(path, "rb") as f:
            msg.add_attachment(f.read(), maintype=maintype, subtype=subtype,
                               filename=os.path.basename(path))

    try:
        with smtplib.SMTP(args.host, args.port, timeout=30) as smtp:
            refused = smtp.send_message(msg, from_addr=args.sender, to_addrs=args.to + args.cc)
    except smtplib.SMTPRecipientsRefused as e:
        for rcpt, (code, text) in e.recipients.items():
            print(f"sendmail.py: refused {rcpt}: {code} {text.decode(errors='replace')}", file=sys.stderr)
        return 1
    except (OSError, smtplib.SMTPException) as e:
        print(f"sendmail.py: could not send via {args.host}:{args.port}: {e}", file=sys.stderr)
        print("  is the mail stack running? (scripts/mailstack.sh status run/mailstack)", file=sys.stderr)
        return 1
    for rcpt, (code, text) in refused.items():
        print(f"sendmail.py: refused {rcpt}: {code} {text.decode(errors='replace')}", file=sys.stderr)
    print(f"sent {msg['Message-ID']} from {args.sender} to {', '.join(args.to + args.cc)}")
    return 1 if refused else 0


if __name__ == "__main__":
    sys.exit(main())
