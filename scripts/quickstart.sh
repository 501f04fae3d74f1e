#!/usr/bin/env bash
# quickstart.sh: bring up Loket doing its main job, on one machine, with a private mail stack.
#
#   sudo scripts/quickstart.sh          # from anywhere; works in the repository root
#
# Steps:
#   1. scripts/install-deps.sh           (Dovecot, Postfix, openssl, user vmail; no-op when present)
#   2. scripts/mailstack.sh start run/mailstack
#        IMAP 127.0.0.1:1143, IMAPS :1993, LMTP :2424, SMTP :2525; every @example.test address
#        exists with password "secret"; nothing is ever sent off the machine.
#   3. writes run/loket.toml if it does not exist yet (helpdesk@example.test, IMAP IDLE, plain SMTP)
#   4. cargo build --release, then runs target/release/loket run --config run/loket.toml
#
# Ctrl-C stops Loket; when Loket exits (for any reason) the mail stack is stopped too, unless
# KEEP_MAILSTACK=1 is set. Mail, logs and the database stay in run/ across runs.
# The ports can be changed with IMAP_PORT / IMAPS_PORT / LMTP_PORT / SMTP_PORT; they are written into
# run/loket.toml only when that file is created, so delete it after changing ports.
#
# Loket runs as a child rather than via `exec`, so that this shell is still there to stop the mail
# stack afterwards. It stays in the foreground: Ctrl-C reaches Loket directly, exactly as with exec.
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }

# Work from the repository root: run/ and the relative paths in loket.toml are relative to it.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

((EUID == 0)) || die "must run as root: the mail stack's servers bind ports and drop privileges (try: sudo $0)"
command -v cargo >/dev/null ||
    die "cargo not found in PATH (with sudo, try: sudo env PATH=\"\$PATH\" $0)"

export IMAP_PORT=${IMAP_PORT:-1143} IMAPS_PORT=${IMAPS_PORT:-1993}
export LMTP_PORT=${LMTP_PORT:-2424} SMTP_PORT=${SMTP_PORT:-2525}
STACK=run/mailstack
CONFIG=run/loket.toml

scripts/install-deps.sh

# A stack left over from a run that was killed hard would hold the ports: stop it first (no-op if
# nothing runs).
mkdir -p run
scripts/mailstack.sh stop "$STACK"

stop_stack() {
    if [[ ${KEEP_MAILSTACK:-0} == 1 ]]; then
        echo "$PROG: mail stack left running (KEEP_MAILSTACK=1); stop it with: scripts/mailstack.sh stop $STACK"
    else
        scripts/mailstack.sh stop "$STACK" || true
    fi
}
# From here on, whatever ends this script (Ctrl-C, a failed build, Loket exiting) stops the stack.
trap stop_stack EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
scripts/mailstack.sh start "$STACK"

if [[ -e $CONFIG ]]; then
    echo "$PROG: keeping existing $CONFIG"
else
    cat >"$CONFIG" <<EOF
# Written by scripts/quickstart.sh for the local mail stack in $STACK (scripts/mailstack.sh).
# Every address @example.test exists there, password "secret"; nothing leaves the machine.

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
path = "run/loket.db"

# A local trial: the loopback mail stack writes no Authentication-Results, so From addresses
# are taken on trust. A real helpdesk sets this to true with authserv_id (see README).
[security]
require_authenticated_commands = false
EOF
    echo "$PROG: wrote $CONFIG"
fi

cargo build --release

port_arg=""
[[ $SMTP_PORT != 2525 ]] && port_arg=" --port $SMTP_PORT"
imap_arg=""
[[ $IMAP_PORT != 1143 ]] && imap_arg=" --port $IMAP_PORT"
cat <<EOF

================================================================================================
 Loket quick-start: mail stack up in $STACK, Loket starting with $CONFIG.

 Every address @example.test exists (password "secret"). Loket watches helpdesk@example.test.
 In another terminal, in $ROOT, write to the helpdesk as a user:

   scripts/sendmail.py$port_arg --from alice@example.test --to helpdesk@example.test \\
       --subject "Printer on floor 2 is broken" --body "It prints only blank pages since this morning."

 then look at what came back to alice (and what the helpdesk mailbox holds):

   scripts/readmail.py$imap_arg alice@example.test --body
   scripts/readmail.py$imap_arg helpdesk@example.test
EOF
if command -v swaks >/dev/null; then
    cat <<EOF

 or with swaks:
   swaks --server 127.0.0.1:$SMTP_PORT --from alice@example.test --to helpdesk@example.test \\
       --header "Subject: Printer broken" --body "It prints only blank pages."
EOF
fi
cat <<EOF

 Any IMAP client works too: 127.0.0.1:$IMAP_PORT (plain) or :$IMAPS_PORT (TLS, trust
 $STACK/tls/cert.pem), user = full address, password "secret"; SMTP 127.0.0.1:$SMTP_PORT, no auth.
 Server logs: $STACK/dovecot.log, $STACK/postfix.log.    Ctrl-C stops Loket and the mail stack.
================================================================================================

EOF

status=0
target/release/loket run --config "$CONFIG" || status=$?
exit "$status"
