#!/usr/bin/env bash
# demo-config.sh: print the quick-start's demo config, a helpdesk with every role filled.
#
#   scripts/demo-config.sh RUN_DIR > RUN_DIR/loket.toml     # IMAP_PORT / SMTP_PORT from the environment
#
# Written for the private mail stack of scripts/mailstack.sh (every @example.test address exists,
# password "secret"). scripts/quickstart.sh writes it; scripts/demo.sh reads it to know who plays
# which role. The people:
#   helpdesk@example.test   the helpdesk address Loket watches
#   andi@example.test       technician, level 1, every category
#   budi@example.test       technician, level 2, every category (also the SAP alias' assignee)
#   dewi@example.test       manager: the digest, resolution breaches, overdue approvals; the
#                           manager of the department "Umum" (approval = "manager")
#   kepala.ti@example.test  IT head: told at once of security incidents
#   rudi@example.test       approver of every access request (SETUJU / TOLAK by mail)
#   anyone else             a requester (alice@example.test, bob@example.test, ...)
# The categories, rules, impact x urgency matrix and classification are those of loket.example.toml,
# copied from it at the time of writing (addresses moved to example.test), so the demo shows the
# helpdesk as shipped. Durations are short so that a quick-start left running shows its timed work
# within minutes: auto-close 2 minutes after resolution, SLA targets of minutes around the clock.
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }

(($# == 1)) || die "usage: $PROG RUN_DIR   (prints the config; the database goes to RUN_DIR/loket.db)"
RUN_DIR=${1%/}
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
EXAMPLE=$ROOT/loket.example.toml
IMAP_PORT=${IMAP_PORT:-1143}
SMTP_PORT=${SMTP_PORT:-2525}
[[ $IMAP_PORT =~ ^[0-9]+$ && $SMTP_PORT =~ ^[0-9]+$ ]] ||
    die "IMAP_PORT ($IMAP_PORT) and SMTP_PORT ($SMTP_PORT) must be port numbers"
[[ -r $EXAMPLE ]] || die "$EXAMPLE not found: the demo takes its categories and rules from it"

# The SOP part of the example: from the impact x urgency matrix to the end (matrix, classify,
# categories, rules). The example's priorities stand before it; the demo has its own, shorter ones.
START='# Impact (outer key) x urgency (inner key)'
grep -qF "$START" "$EXAMPLE" ||
    die "$EXAMPLE no longer has the line '$START...' where the demo starts copying; adjust $PROG"
sop=$(sed -n "/^$START/,\$p" "$EXAMPLE")
# Sari (the example's SAP technician) is not in the demo: her rule goes to Budi.
sop=${sop//\"sari@example.co.id\"/\"budi@example.test\"}
if grep -q 'example\.co\.id' <<<"$sop"; then
    die "the rules of $EXAMPLE name an address the demo does not know: $(grep -o '[a-z.]*@example\.co\.id' <<<"$sop" | sort -u | tr '\n' ' ')"
fi
# Every access request waits for the approver (in the example only data center and CCTV access
# do, by the requester's manager).
sop=$(awk '{ print } /^name = "access-request"$/ { print "approval = \"rudi@example.test\"      # demo: every access request needs Rudi'"'"'s SETUJU" }' <<<"$sop")
[[ $(grep -c '^approval = "rudi@example.test"' <<<"$sop") == 1 ]] ||
    die "$EXAMPLE has no single [[categories]] entry name = \"access-request\"; adjust $PROG"

cat <<EOF
# Written by scripts/demo-config.sh (called by scripts/quickstart.sh) for the local mail stack in
# $RUN_DIR/mailstack (scripts/mailstack.sh). Every address @example.test exists there, password
# "secret"; nothing leaves the machine. Delete this file and start the quick-start again to get
# the current demo config (and other ports).

[helpdesk]
address = "helpdesk@example.test"
name = "IT Helpdesk"
tag_prefix = "HD"
language = "id"
timezone = "Asia/Jakarta"

[imap]
host = "127.0.0.1"
port = $IMAP_PORT
tls = "none"
username = "helpdesk@example.test"
password = "secret"
mailbox = "INBOX"
idle = true
poll_interval = "30s"

[smtp]
host = "127.0.0.1"
port = $SMTP_PORT
tls = "none"

[database]
path = "$RUN_DIR/loket.db"

# Safe as in production: technicians' commands and approvers' answers count only from mail that
# carries an Authentication-Results header from the trusted receiving server "mx.example.test".
# The demo's mail stack writes no such header (Postfix here does no DKIM/SPF checks), so in the
# demo the sending script plays that trusted server: scripts/demo.sh (and the commands the
# quick-start prints) add "Authentication-Results: mx.example.test; dkim=pass header.d=example.test"
# to the technicians' and the approver's mail. A requester's mail needs nothing. A technician's mail
# without it is treated as an outsider's (try it: it opens a ticket of its own). A real server must
# also strip such headers arriving from outside: README, "Security".
[security]
require_authenticated_commands = true
authserv_id = "mx.example.test"

[lifecycle]
auto_close_after = "2m"             # resolved tickets close themselves after 2 minutes of silence
assignment = "round-robin"
scheduler_interval = "5s"           # timed work (auto-close, SLA steps) is found within 5 s

[calendar]
working_days = ["mon", "tue", "wed", "thu", "fri"]
start = "08:00"
end = "17:00"

[escalation]
warn_at = 0.75
security = ["kepala.ti@example.test"]
managers = ["dewi@example.test"]

[approvals]
remind_after = "5m"
escalate_after = "10m"

[[departments]]                     # for approval = "manager" (data center and CCTV access)
name = "Umum"
manager = "dewi@example.test"
members = ["*@example.test"]

[[technicians]]
email = "andi@example.test"
name = "Andi"
level = 1
categories = ["*"]

[[technicians]]
email = "budi@example.test"
name = "Budi"
level = 2
categories = ["*"]

[[managers]]
email = "dewi@example.test"
name = "Ibu Dewi"
categories = ["*"]

# On demand: \`loket digest --send\`. The scheduler's own digest would go out at 23:59 local time.
# Every day is a digest day, so \`--send --date TOMORROW\` is the digest of today.
[digest]
time = "23:59"
days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]

# Short targets, around the clock, so that warnings, breaches and escalations show within minutes
# (the example's: P1 15m/4h around the clock, P2 1h/8h and P3 4h/48h in business hours).
[[priorities]]
name = "P1"
label = "Critical"
response = "5m"
resolution = "30m"
always_on = true

[[priorities]]
name = "P2"
label = "High"
response = "10m"
resolution = "1h"
always_on = true

[[priorities]]
name = "P3"
label = "Normal"
response = "15m"
resolution = "2h"
always_on = true

# ---------------------------------------------------------------------------------------------
# From loket.example.toml:

$sop
EOF
