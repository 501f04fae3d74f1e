#!/usr/bin/env bash
# test-demo.sh: the quick-start and its demo still do what they promise (issue #20).
#
#   scripts/test-demo.sh                               # builds the debug binary first
#   LOKET_BIN=target/debug/loket scripts/test-demo.sh  # uses that binary, builds nothing
#
# Starts scripts/quickstart.sh in the background in a temporary LOKET_RUN_DIR on free loopback
# ports (so a quick-start of your own in run/ is not disturbed), waits until Loket's IMAP session
# is up, runs scripts/demo.sh against it, and stops everything and removes the directory whatever
# happens. Exit 0 only when the demo passed. About 20-30 s. Must run as root (the mail stack).
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"
((EUID == 0)) || die "must run as root: the quick-start starts a mail stack"

if [[ -n ${LOKET_BIN:-} ]]; then
    BIN=$LOKET_BIN
else
    cargo build --locked
    BIN=target/debug/loket
fi
[[ -x $BIN ]] || die "$BIN is not an executable file (build it, or set LOKET_BIN)"
BIN=$(cd "$(dirname "$BIN")" && pwd -P)/$(basename "$BIN")

started=$SECONDS
TMP=$(mktemp -d /tmp/loket-test-demo.XXXXXX)
# Dovecot delivers as vmail, which must traverse the directory (mktemp makes it 0700).
chmod 711 "$TMP"
QS_PID=""

cleanup() {
    local status=$?
    if [[ -n $QS_PID ]] && kill -0 "$QS_PID" 2>/dev/null; then
        # The quick-start leads its own session: TERM reaches it and Loket; Loket stops cleanly,
        # then the quick-start stops its mail stack.
        kill -TERM -- "-$QS_PID" 2>/dev/null || true
        local i
        for ((i = 0; i < 150; i++)); do
            kill -0 "$QS_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$QS_PID" 2>/dev/null; then
            echo "$PROG: the quick-start did not stop within 15 s after SIGTERM; killing it" >&2
            kill -KILL -- "-$QS_PID" 2>/dev/null || true
        fi
        wait "$QS_PID" 2>/dev/null || true
    fi
    scripts/mailstack.sh stop "$TMP/mailstack" >/dev/null 2>&1 || true
    if ((status != 0)) && [[ -f $TMP/quickstart.log ]]; then
        echo "---- last lines of the quick-start's output ($TMP/quickstart.log) ----" >&2
        tail -n 25 "$TMP/quickstart.log" >&2
    fi
    rm -rf "$TMP"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Four free loopback ports (the kernel's choice; none of the standard ones).
read -r imap imaps lmtp smtp < <(python3 -c '
import socket
socks = [socket.socket() for _ in range(4)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
')
echo "$PROG: quick-start in $TMP (IMAP $imap, SMTP $smtp) with $BIN"

IMAP_PORT=$imap IMAPS_PORT=$imaps LMTP_PORT=$lmtp SMTP_PORT=$smtp LOKET_RUN_DIR=$TMP LOKET_BIN=$BIN \
    setsid scripts/quickstart.sh >"$TMP/quickstart.log" 2>&1 </dev/null &
QS_PID=$!

# Ready when Loket's IMAP session is up (the mail stack is up before Loket starts).
deadline=$((SECONDS + 40))
until grep -q 'IMAP session ready' "$TMP/quickstart.log" 2>/dev/null; do
    kill -0 "$QS_PID" 2>/dev/null || die "step 'start': the quick-start exited before Loket was ready"
    ((SECONDS < deadline)) || die "step 'start': Loket's IMAP session not ready within 40 s"
    sleep 0.2
done
echo "$PROG: quick-start ready after $((SECONDS - started)) s"

LOKET_RUN_DIR=$TMP LOKET_BIN=$BIN DEMO_TIMEOUT=${DEMO_TIMEOUT:-20} scripts/demo.sh ||
    die "scripts/demo.sh failed against the quick-start (see above)"
grep -q 'scripts/demo.sh need the demo config\| ERROR \|panicked' "$TMP/quickstart.log" &&
    die "the quick-start's output shows an error or warning"
echo "$PROG: passed in $((SECONDS - started)) s"
