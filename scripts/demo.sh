#!/usr/bin/env bash
# demo.sh: the quick-start's tour, run by itself, so a newcomer sees the whole helpdesk in a minute.
#
#   scripts/quickstart.sh        # in one terminal (as root): mail stack + Loket with the demo config
#   scripts/demo.sh              # in another, in the repository root
#
# Against the running quick-start: a requester writes and gets the acknowledgement; the level-1
# technician answers with text and #resolve and the requester gets the answer; an access request
# waits for the approver, who answers SETUJU; a phishing report reaches the IT head at once; and
# `loket digest --send` mails the manager the digest. Each mail is printed as it arrives (to whom,
# from whom, subject, first lines). A step whose mail does not come within $DEMO_TIMEOUT seconds
# (default 30) ends the demo with exit 1, naming the step and the mail. Every run marks its
# subjects, so it can be repeated against the same quick-start.
#
# LOKET_RUN_DIR (default run) and LOKET_BIN (default target/release/loket) must be those the
# quick-start was started with; the ports are read from LOKET_RUN_DIR/loket.toml.
# Needs no root: it only sends and reads mail over loopback. The work is done by scripts/demo.py.
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

RUN=${LOKET_RUN_DIR:-run}
RUN=${RUN%/}
CONFIG=$RUN/loket.toml
BIN=${LOKET_BIN:-target/release/loket}

[[ -e $CONFIG ]] || die "$CONFIG not found: start the quick-start first (scripts/quickstart.sh), or set LOKET_RUN_DIR"
[[ -x $BIN ]] || die "$BIN not found or not executable: the quick-start builds it; or set LOKET_BIN"
command -v python3 >/dev/null || die "python3 not found"
grep -q '^authserv_id' "$CONFIG" && grep -q '^\[\[technicians\]\]' "$CONFIG" ||
    die "$CONFIG is not the demo config (no technicians or no authserv_id; an older quick-start wrote it?): stop the quick-start, delete $CONFIG and start it again"

exec python3 scripts/demo.py --config "$CONFIG" --loket "$BIN"
