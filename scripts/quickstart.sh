#!/usr/bin/env bash
# quickstart.sh: bring up Loket doing its main job, on one machine, with a private mail stack.
#
#   sudo scripts/quickstart.sh          # from anywhere; works in the repository root
#   scripts/demo.sh                     # then, in another terminal: the tour, by itself
#
# Steps:
#   1. scripts/install-deps.sh           (Dovecot, Postfix, openssl, user vmail; no-op when present)
#   2. scripts/mailstack.sh start run/mailstack
#        IMAP 127.0.0.1:1143, IMAPS :1993, LMTP :2424, SMTP :2525; every @example.test address
#        exists with password "secret"; nothing is ever sent off the machine.
#   3. writes run/loket.toml if it does not exist yet: the demo config of scripts/demo-config.sh
#      (technicians at levels 1 and 2, a manager, an IT head, an approver, the categories and
#      rules of loket.example.toml, auto-close after 2 minutes, the digest on demand)
#   4. cargo build --release; prints a tour (the commands to paste to play requester, technician,
#      approver and manager); runs target/release/loket run --config run/loket.toml
#
# Ctrl-C stops Loket; when Loket exits (for any reason) the mail stack is stopped too, unless
# KEEP_MAILSTACK=1 is set. Mail, logs and the database stay in run/ across runs.
# The ports can be changed with IMAP_PORT / IMAPS_PORT / LMTP_PORT / SMTP_PORT; they are written into
# run/loket.toml only when that file is created, so delete it after changing ports.
# LOKET_RUN_DIR=DIR puts everything in DIR instead of run/ (scripts/test-demo.sh uses a temporary
# one); LOKET_BIN=PATH runs that binary and builds nothing.
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

export IMAP_PORT=${IMAP_PORT:-1143} IMAPS_PORT=${IMAPS_PORT:-1993}
export LMTP_PORT=${LMTP_PORT:-2424} SMTP_PORT=${SMTP_PORT:-2525}
RUN=${LOKET_RUN_DIR:-run}
RUN=${RUN%/}
STACK=$RUN/mailstack
CONFIG=$RUN/loket.toml
if [[ -n ${LOKET_BIN:-} ]]; then
    BIN=$LOKET_BIN
    [[ -x $BIN ]] || die "LOKET_BIN=$BIN is not an executable file"
else
    BIN=target/release/loket
    command -v cargo >/dev/null ||
        die "cargo not found in PATH (with sudo, try: sudo env PATH=\"\$PATH\" $0)"
fi

scripts/install-deps.sh

# A stack left over from a run that was killed hard would hold the ports: stop it first (no-op if
# nothing runs).
mkdir -p "$RUN"
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
    grep -q '^\[\[technicians\]\]' "$CONFIG" ||
        echo "$PROG: warning: $CONFIG has no technicians (an older quick-start wrote it): the tour" \
            "and scripts/demo.sh need the demo config; stop, delete $CONFIG and start again" >&2
else
    scripts/demo-config.sh "$RUN" >"$CONFIG.tmp" || die "writing $CONFIG with scripts/demo-config.sh failed"
    mv "$CONFIG.tmp" "$CONFIG"
    echo "$PROG: wrote $CONFIG (scripts/demo-config.sh)"
fi

[[ -n ${LOKET_BIN:-} ]] || cargo build --release

# The tour names ports only where they are not the scripts' defaults.
smtp=""
[[ $SMTP_PORT != 2525 ]] && smtp=" --port $SMTP_PORT"
imap=""
[[ $IMAP_PORT != 1143 ]] && imap=" --port $IMAP_PORT"
authserv=$(sed -n 's/^authserv_id *= *"\([^"]*\)".*/\1/p' "$CONFIG" | head -n 1)
authserv=${authserv:-mx.example.test}
cat <<EOF

================================================================================================
 Loket quick-start: mail stack up in $STACK, Loket starting with $CONFIG.
 Every address @example.test exists (password "secret"). Loket watches helpdesk@example.test.
 The people ($CONFIG): technicians andi (level 1) and budi (level 2), manager dewi, IT head
 kepala.ti, approver rudi, all @example.test; anyone else is a requester.

 The whole tour by itself, in another terminal in $ROOT:   scripts/demo.sh

 Or by hand, in another terminal in $ROOT:

 1. Write as a requester; read the acknowledgement ([HD-n]) and the level-1 technician's notice:

   scripts/sendmail.py$smtp --from alice@example.test --to helpdesk@example.test \\
       --subject "Printer lantai 2 rusak" --body "Hanya mencetak halaman kosong sejak pagi."
   scripts/readmail.py$imap alice@example.test --body
   scripts/readmail.py$imap andi@example.test

 2. Answer as the technician with #resolve (the subject carries the tag of the acknowledgement).
    Commands count only from mail the trusted receiving server authenticated; on this mail stack
    the sender writes that server's header itself ([security] in $CONFIG says why):

   AR="Authentication-Results: $authserv; dkim=pass header.d=example.test"
   scripts/sendmail.py$smtp --from andi@example.test --to helpdesk@example.test --header "\$AR" \\
       --subject "Re: [HD-1] Printer lantai 2 rusak" \\
       --body \$'#resolve Toner diganti\\n\\nTonernya sudah kami ganti, printer normal lagi.'
   scripts/readmail.py$imap alice@example.test --body     # the answer; after 2 minutes, the closing mail

 3. An access request, approved by rudi with SETUJU (use the subject with [APV-...] he got):

   scripts/sendmail.py$smtp --from bob@example.test --to helpdesk@example.test \\
       --subject "Permintaan akses folder Keuangan" --body "Mohon hak akses baca ke folder Keuangan."
   scripts/readmail.py$imap rudi@example.test
   scripts/sendmail.py$smtp --from rudi@example.test --to helpdesk@example.test --header "\$AR" \\
       --subject "Re: [HD-2] [APV-...] Permohonan persetujuan: Permintaan akses folder Keuangan" \\
       --body SETUJU
   scripts/readmail.py$imap bob@example.test --body

    A subject with "phishing" or "email mencurigakan" reaches the IT head (kepala.ti) at once.

 4. The manager's digest, now (a digest covers the day before the date it is sent for, so
    tomorrow's shows today):

   $BIN digest --send --config $CONFIG --date \$(TZ=Asia/Jakarta date -d tomorrow +%F)
   scripts/readmail.py$imap dewi@example.test --body

 Tickets: $BIN tickets list --config $CONFIG      (tickets show HD-1 ... for one)
 Any IMAP client works too: 127.0.0.1:$IMAP_PORT (plain) or :$IMAPS_PORT (TLS, trust
 $STACK/tls/cert.pem), user = full address, password "secret"; SMTP 127.0.0.1:$SMTP_PORT, no auth.
 Server logs: $STACK/dovecot.log, $STACK/postfix.log.    Ctrl-C stops Loket and the mail stack.
================================================================================================

EOF

status=0
"$BIN" run --config "$CONFIG" || status=$?
exit "$status"
