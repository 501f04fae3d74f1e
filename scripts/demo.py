#!/usr/bin/env python3
"""Run the quick-start's tour by itself and print every mail Loket sends as it arrives.

    scripts/demo.py --config run/loket.toml --loket target/release/loket

Called by scripts/demo.sh (use that). Against a running scripts/quickstart.sh: a requester
writes, the technician answers with #resolve, an access request is approved by the approver's
SETUJU, a phishing report reaches the IT head, and `loket digest --send` mails the manager.
Each step waits (up to --timeout seconds) for the mails it should bring and fails, exit 1,
naming the step and the mail it waited for. Subjects carry a marker of this run, so the demo can
run again and again against the same quick-start (the tickets of earlier runs are left alone).
Mail is sent with scripts/sendmail.py, exactly as the quick-start's tour shows; mailboxes are read
over IMAP (password "secret", as every @example.test user of scripts/mailstack.sh has).
Standard library only.
"""
import argparse
import datetime
import imaplib
import os
import re
import secrets
import shlex
import subprocess
import sys
import time
import tomllib
from email import policy
from email.parser import BytesParser

HERE = os.path.dirname(os.path.abspath(__file__))
PASSWORD = "secret"


class StepFailed(Exception):
    pass


def text_body(msg) -> str:
    part = msg.get_body(preferencelist=("plain", "html"))
    if part is None:
        return ""
    try:
        return part.get_content()
    except (LookupError, ValueError):
        return part.get_payload(decode=True).decode("utf-8", errors="replace")


class Mail:
    def __init__(self, box: str, uid: int, raw: bytes):
        self.box = box
        self.uid = uid
        self.msg = BytesParser(policy=policy.default).parsebytes(raw)
        self.subject = str(self.msg.get("Subject", ""))
        self.sender = str(self.msg.get("From", ""))
        self.ticket = str(self.msg.get("X-Loket-Ticket", "")).strip()
        self.message_id = str(self.msg.get("Message-ID", "")).strip()
        self.body = text_body(self.msg)

    def show(self, lines: int = 4) -> None:
        print(f"  << mail to {self.box}, from {self.sender}")
        print(f"     Subject: {self.subject}")
        shown = 0
        for line in self.body.splitlines():
            line = line.rstrip()
            if not line.strip():
                continue
            print(f"     | {line[:100]}{' ...' if len(line) > 100 else ''}")
            shown += 1
            if shown == lines:
                break
        sys.stdout.flush()


class Watch:
    """The mailboxes of the people in the tour, each over its own IMAP connection. Mail that was
    there before the demo started is never looked at; mail of this run (its marker or one of its
    tickets) is printed once, as it arrives."""

    def __init__(self, port: int, users: list[str], marker: str):
        self.port = port
        self.marker = marker
        self.tickets: set[str] = set()
        self.conns: dict[str, imaplib.IMAP4] = {}
        self.last: dict[str, int] = {}
        self.seen: list[Mail] = []
        self.taken: set[tuple[str, int]] = set()
        self.digest_after: dict[str, int] = {}
        for u in users:
            try:
                c = imaplib.IMAP4("127.0.0.1", port, timeout=30)
                c.login(u, PASSWORD)
            except (OSError, imaplib.IMAP4.error) as e:
                raise StepFailed(f"logging in to IMAP 127.0.0.1:{port} as {u}: {e} "
                                 "(is the quick-start's mail stack running?)")
            self.conns[u] = c
            self.last[u] = self._max_uid(u)

    def _max_uid(self, u: str) -> int:
        c = self.conns[u]
        typ, _ = c.select("INBOX")
        if typ != "OK":
            return 0
        typ, data = c.uid("SEARCH", "ALL")
        uids = [int(x) for x in data[0].split()] if typ == "OK" and data and data[0] else []
        return max(uids, default=0)

    def mark(self, u: str) -> None:
        """From now on, count a mail to `u` without a ticket as the digest asked for."""
        self.poll()
        self.digest_after[u] = self.last[u]

    def ours(self, m: Mail) -> bool:
        if self.marker in m.subject:
            return True
        if m.ticket and m.ticket in self.tickets:
            return True
        after = self.digest_after.get(m.box)
        return after is not None and m.uid > after and not m.ticket

    def poll(self) -> None:
        for u, c in self.conns.items():
            typ, _ = c.select("INBOX")  # again: the fresh message count, also for a new INBOX
            if typ != "OK":
                continue
            typ, data = c.uid("SEARCH", f"UID {self.last[u] + 1}:*")
            if typ != "OK" or not data or not data[0]:
                continue
            for uid in sorted(int(x) for x in data[0].split()):
                if uid <= self.last[u]:
                    continue  # "n:*" also names the last message when it is older
                typ, fetched = c.uid("FETCH", str(uid), "(BODY.PEEK[])")
                parts = [p for p in fetched if isinstance(p, tuple)]
                if typ != "OK" or not parts:
                    break  # not readable yet: the next poll tries again
                self.last[u] = uid
                m = Mail(u, uid, parts[0][1])
                self.seen.append(m)
                if self.ours(m):
                    m.show()

    def wait(self, step: str, box: str, what: str, pred, timeout: float, hint: str = "") -> Mail:
        """The first mail of this run to `box` that `pred` accepts and no earlier wait took."""
        deadline = time.monotonic() + timeout
        while True:
            for m in self.seen:
                if m.box == box and (box, m.uid) not in self.taken and self.ours(m) and pred(m):
                    self.taken.add((box, m.uid))
                    return m
            if time.monotonic() > deadline:
                got = [f"{m.box}: {m.subject}" for m in self.seen if self.ours(m)]
                raise StepFailed(
                    f"step {step!r}: no {what} in {box}'s mailbox within {timeout:g} s"
                    + (f"; this run's mails so far: {got}" if got else "; no mail of this run arrived at all")
                    + (hint or " (is `loket run` of the quick-start running? see its terminal)"))
            self.poll()
            time.sleep(0.25)

    def close(self) -> None:
        for c in self.conns.values():
            try:
                c.logout()
            except (OSError, imaplib.IMAP4.error):
                pass


def shell_quote(a: str) -> str:
    """As one would type it in bash: $'...' for text with line breaks."""
    if "\n" in a:
        return "$'" + a.replace("\\", "\\\\").replace("'", "\\'").replace("\n", "\\n") + "'"
    return shlex.quote(a)


def send(smtp_port: int, sender: str, to: str, subject: str, body: str, headers=()) -> str:
    """Sends with scripts/sendmail.py, shows the command as one could type it; the Message-ID."""
    cmd = [os.path.join(HERE, "sendmail.py"), "--port", str(smtp_port), "--from", sender, "--to", to,
           "--subject", subject, "--body", body]
    for h in headers:
        cmd += ["--header", h]
    shown = ["scripts/sendmail.py"] + cmd[1:]
    print("  $ " + " ".join(shell_quote(a) for a in shown))
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode != 0:
        raise StepFailed(f"sending as {sender}: {p.stderr.strip() or p.stdout.strip()}")
    m = re.search(r"sent (<[^>]+>)", p.stdout)
    return m.group(1) if m else ""


def heading(n: int, total: int, text: str) -> None:
    print(f"\n== {n}/{total} {text}")
    sys.stdout.flush()


def people(cfg: dict, path: str) -> dict:
    """Who plays which role, from the demo config (scripts/demo-config.sh)."""
    techs = cfg.get("technicians", [])
    l1 = next((t["email"] for t in techs if t.get("level") == 1), None)
    l2 = next((t["email"] for t in techs if t.get("level") == 2), None)
    managers = [m["email"] for m in cfg.get("managers", [])]
    security = cfg.get("escalation", {}).get("security", [])
    approver = next((c.get("approval") for c in cfg.get("categories", [])
                     if c.get("name") == "access-request" and "@" in c.get("approval", "")), None)
    sec = cfg.get("security", {})
    missing = [name for name, v in [("a level-1 technician", l1), ("a level-2 technician", l2),
                                    ("a manager", managers), ("an IT head (escalation.security)", security),
                                    ("an approver for category access-request", approver),
                                    ("security.authserv_id", sec.get("authserv_id"))] if not v]
    if missing:
        raise StepFailed(f"{path} has no {', '.join(missing)}: it is not the demo config (an older "
                         "quick-start wrote it?). Stop the quick-start, delete the file and start it again.")
    return {"helpdesk": cfg["helpdesk"]["address"], "l1": l1, "l2": l2, "manager": managers[0],
            "head": security[0], "approver": approver, "authserv": sec["authserv_id"],
            "auth_required": sec.get("require_authenticated_commands", True)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", required=True, help="the quick-start's loket.toml")
    ap.add_argument("--loket", required=True, help="the loket binary (for `loket digest --send`)")
    ap.add_argument("--timeout", type=float, default=float(os.environ.get("DEMO_TIMEOUT", "30")),
                    help="seconds each step waits for its mail (default $DEMO_TIMEOUT or 30)")
    args = ap.parse_args()

    try:
        with open(args.config, "rb") as f:
            cfg = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        print(f"demo: cannot read {args.config}: {e}", file=sys.stderr)
        return 1
    started = time.monotonic()
    watch = None
    try:
        p = people(cfg, args.config)
        smtp_port, imap_port = int(cfg["smtp"]["port"]), int(cfg["imap"]["port"])
        tz = cfg["helpdesk"].get("timezone", "Asia/Jakarta")
        marker = f"demo {secrets.token_hex(3)}"
        requester, asker, reporter = "alice@example.test", "bob@example.test", "citra@example.test"
        # The trusted receiving server's verdict (see [security] in the config): in the demo the
        # sending script writes it, as the server would for mail it authenticated.
        trusted = [f"Authentication-Results: {p['authserv']}; dkim=pass header.d=example.test header.s=demo"]
        watch = Watch(imap_port, [requester, asker, reporter, p["l1"], p["l2"], p["approver"],
                                  p["manager"], p["head"]], marker)
        print(f"Loket demo, run marker '({marker})' in the subjects; config {args.config}")
        if not p["auth_required"]:
            print("  note: security.require_authenticated_commands = false in this config")
        T = args.timeout
        total = 5

        heading(1, total, f"a requester writes: {requester} -> {p['helpdesk']}")
        subject = f"Printer lantai 2 rusak ({marker})"
        send(smtp_port, requester, p["helpdesk"], subject,
             "Printer di lantai 2 hanya mencetak halaman kosong sejak pagi.")
        ack = watch.wait("1 request", requester, "acknowledgement with a [HD-n] tag",
                         lambda m: bool(m.ticket), T,
                         " (is `loket run` of the quick-start running? see its terminal; after "
                         "helpdesk.ack_rate_limit runs within ack_rate_window, 30 an hour, Loket "
                         "holds the requester's acknowledgements back: `loket tickets show` says so)")
        tag = ack.ticket
        watch.tickets.add(tag)
        note = watch.wait("1 request", p["l1"], f"notification of {tag} for the level-1 technician",
                          lambda m: m.ticket == tag, T)

        heading(2, total, f"the technician {p['l1']} answers {tag} with #resolve")
        send(smtp_port, p["l1"], p["helpdesk"], f"Re: {note.subject}",
             f"#resolve Toner diganti\n\nHalo Alice,\nTonernya sudah kami ganti ({marker}); "
             "printer mencetak normal lagi.\n\nSalam,\nAndi",
             trusted + [f"In-Reply-To: {note.message_id}", f"References: {note.message_id}"])
        watch.wait("2 #resolve", requester, f"mail on {tag} with the technician's note 'Toner diganti'",
                   lambda m: m.ticket == tag and "Toner diganti" in m.body, T)
        print(f"  ({tag} is resolved; it closes itself after lifecycle.auto_close_after without a "
              "reply, and the closing mail asks for a rating)")

        heading(3, total, f"an access request: {asker} asks, {p['approver']} approves with SETUJU")
        send(smtp_port, asker, p["helpdesk"], f"Permintaan akses folder Keuangan ({marker})",
             "Mohon hak akses baca ke folder bersama Keuangan untuk laporan bulanan.")
        req = watch.wait("3 approval", p["approver"], "approval request with an [APV-...] code",
                         lambda m: "[APV-" in m.subject, T)
        tag2 = req.ticket
        watch.tickets.add(tag2)
        watch.wait("3 approval", asker, f"acknowledgement of {tag2}", lambda m: m.ticket == tag2, T)
        send(smtp_port, p["approver"], p["helpdesk"], f"Re: {req.subject}",
             "SETUJU\n\nSilakan diberikan.",
             trusted + [f"In-Reply-To: {req.message_id}", f"References: {req.message_id}"])
        watch.wait("3 approval", asker, f"mail telling {asker} that {tag2} was approved",
                   lambda m: m.ticket == tag2, T)
        watch.wait("3 approval", p["l1"], f"notification of the approved {tag2} for the technician",
                   lambda m: m.ticket == tag2, T)

        heading(4, total, f"a security incident: {reporter} reports phishing, the IT head {p['head']} hears at once")
        send(smtp_port, reporter, p["helpdesk"], f"Email mencurigakan minta password ({marker})",
             "Saya menerima email yang meminta password email kantor saya lewat sebuah link.")
        alert = watch.wait("4 security", p["head"], "security alert", lambda m: bool(m.ticket), T)
        watch.tickets.add(alert.ticket)

        heading(5, total, f"the manager's digest: loket digest --send (to {p['manager']})")
        # The digest sent on a day covers the day(s) before; every day is a digest day in the demo
        # config, so the digest "sent tomorrow" is today's, with this run's tickets in it.
        try:
            import zoneinfo
            today = datetime.datetime.now(zoneinfo.ZoneInfo(tz)).date()
        except Exception:
            today = datetime.date.today()
        tomorrow = (today + datetime.timedelta(days=1)).isoformat()
        watch.mark(p["manager"])
        cmd = [args.loket, "digest", "--send", "--date", tomorrow, "--manager", p["manager"],
               "--config", args.config]
        print("  $ " + " ".join(shlex.quote(a) for a in cmd))
        r = subprocess.run(cmd, capture_output=True, text=True)
        for line in r.stdout.splitlines():
            print(f"  {line}")
        if r.returncode != 0:
            raise StepFailed(f"step '5 digest': loket digest --send exited {r.returncode}: {r.stderr.strip()}")
        watch.wait("5 digest", p["manager"], "digest (a mail without X-Loket-Ticket)", lambda m: True, T)

        # Mail that is still on its way (the technicians' copies) is shown too.
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            watch.poll()
            time.sleep(0.25)
        print(f"\nDemo passed in {time.monotonic() - started:.1f} s: tickets {', '.join(sorted(watch.tickets))}."
              f" More: {args.loket} tickets show {tag} --config {args.config}")
        return 0
    except StepFailed as e:
        print(f"\ndemo: FAILED: {e}", file=sys.stderr)
        return 1
    finally:
        if watch:
            watch.close()


if __name__ == "__main__":
    sys.exit(main())
