#!/usr/bin/env bash
# peer-roundup.sh: Roundup 2.6.0, the peer of issue 19, for scripts/bench.sh --peer roundup.
#
#   scripts/peer-roundup.sh venv VENV                               # once: a venv with roundup 2.6.0 (PyPI)
#   scripts/peer-roundup.sh tracker VENV TRACKER SMTP_PORT ADDRESS [ANSWER]  # a fresh tracker
#   scripts/peer-roundup.sh users VENV TRACKER < ADDRESSES          # register these requesters
#
# ANSWER (default no) is [nosy] messages_to_author: "yes" makes Roundup mail every message back
# to its author (the nearest it has to Loket's acknowledgement), so that over IMAP both send a
# mail per request inside the measured window; "no" is Roundup's default.
#
# `users` registers one user per address (username and address alike, one shared password), as
# a helpdesk's staff are after their first mail. Without it every requester is unknown, and the
# mail gateway registers each on its first mail with a random password hashed by PBKDF2-SHA512
# at Roundup's default 250,000 rounds: about 160 ms per new requester on this project's
# machines, most of what Roundup spends on a first mail.
#
# The tracker is Roundup's classic template with the sqlite backend, set up as a helpdesk that
# a new user would try: its address is ADDRESS, its mail goes by SMTP to 127.0.0.1:SMTP_PORT (no
# TLS, no login), and the mail gateway takes mail from unknown senders (it registers them and
# opens an issue). Everything else is Roundup's default, so it sends the mail it normally sends
# (nosy messages; unless ANSWER is yes, nothing to the author of a message). Two changes a new user has to make are made here:
# - the classic schema ships Anonymous's "Email Access" commented out; the gateway registers an
#   unknown sender only when Anonymous has it (and "Register", which it has);
# - roundup-mailgw 2.6.0 passes "host:PORT" to imaplib as a host name, so IMAP on another port
#   than 143 fails; the tracker's interfaces.py (which Roundup loads for this) passes the port.
set -euo pipefail
verb=${1:?usage: $0 venv VENV | tracker VENV TRACKER SMTP_PORT ADDRESS [ANSWER] | users VENV TRACKER}
shift
case $verb in
venv)
    VENV_DIR=${1:?VENV}
    if [[ -x $VENV_DIR/bin/roundup-mailgw ]] && "$VENV_DIR/bin/roundup-admin" -v </dev/null | grep -q '^2\.6\.0'; then
        exit 0
    fi
    python3 -m venv "$VENV_DIR"
    "$VENV_DIR/bin/python" -m pip install -q --disable-pip-version-check roundup==2.6.0
    "$VENV_DIR/bin/roundup-admin" -v </dev/null | grep -q '^2\.6\.0' \
        || { echo "peer-roundup.sh: roundup 2.6.0 did not install into $VENV_DIR" >&2; exit 1; }
    exit 0
    ;;
users)
    VENV_DIR=${1:?VENV}
    TRACKER_DIR=${2:?TRACKER}
    # The addresses come on stdin, so the script goes by -c.
    script=$(cat <<'EOF'
import sys
import roundup.instance
from roundup import password
tr = roundup.instance.open(sys.argv[1])
db = tr.open('admin')
try:
    # One hash for all: the cost measured is the mail gateway's, not setting up.
    pw = password.Password('known-user-Pw-1', config=db.config)
    roles = db.config.NEW_EMAIL_USER_ROLES
    n = 0
    for line in sys.stdin:
        addr = line.strip()
        if addr:
            db.user.create(username=addr, address=addr, password=pw, roles=roles)
            n += 1
    db.commit()
finally:
    db.close()
print('registered %d users' % n)
EOF
)
    exec "$VENV_DIR/bin/python" -c "$script" "$TRACKER_DIR"
    ;;
tracker) ;;
*) echo "peer-roundup.sh: unknown verb $verb" >&2; exit 2 ;;
esac
VENV_DIR=${1:?VENV}
TRACKER_DIR=${2:?TRACKER}
SMTP_PORT=${3:?SMTP_PORT}
HELPDESK_ADDRESS=${4:?ADDRESS}
ANSWER=${5:-no}
case $ANSWER in
    yes|no) ;;
    *) echo "ANSWER must be yes or no: $ANSWER" >&2; exit 2 ;;
esac
ADMIN_PASSWORD=admin-Pw-1
# Only used in links inside mails; nothing listens there.
TRACKER_WEB=http://127.0.0.1:8080/helpdesk/
case $SMTP_PORT in
    ''|*[!0-9]*) echo "SMTP_PORT must be a number: $SMTP_PORT" >&2; exit 2 ;;
esac
MAIL_DOMAIN=${HELPDESK_ADDRESS#*@}
if [[ -e $TRACKER_DIR ]] && [[ -n $(ls -A "$TRACKER_DIR" 2>/dev/null) ]]; then
    echo "peer-roundup.sh: $TRACKER_DIR is not empty" >&2
    exit 1
fi

# 2.+3. classic template, sqlite backend; config.ini values are passed as
# SECTION_OPTION=value (comma separated, no spaces).
OPTS="tracker_web=$TRACKER_WEB"
OPTS="$OPTS,tracker_email=$HELPDESK_ADDRESS"   # [tracker] email: the helpdesk address
OPTS="$OPTS,mail_domain=$MAIL_DOMAIN"          # [mail] domain: for admin_email/dispatcher_email
OPTS="$OPTS,mail_host=127.0.0.1"               # [mail] host: SMTP server
OPTS="$OPTS,mail_port=$SMTP_PORT"              # [mail] port
OPTS="$OPTS,mail_tls=no"                       # [mail] tls (default no; explicit)
OPTS="$OPTS,mail_username="                    # [mail] username empty => no SMTP AUTH
OPTS="$OPTS,mail_local_hostname=localhost"     # [mail] local_hostname: EHLO name, avoids getfqdn()/DNS
OPTS="$OPTS,nosy_messages_to_author=$ANSWER"   # [nosy] messages_to_author
"$VENV_DIR/bin/roundup-admin" -i "$TRACKER_DIR" install classic sqlite "$OPTS" </dev/null >/dev/null

# Let unknown senders use the mail gateway: the classic schema gives the
# Anonymous role "Register" on user but ships the "Email Access" grant
# commented out; mailgw auto-creates a user only if Anonymous has both.
SCHEMA="$TRACKER_DIR/schema.py"
sed -i "s/^#\s*db\.security\.addPermissionToRole('Anonymous', 'Email Access')/db.security.addPermissionToRole('Anonymous', 'Email Access')/" "$SCHEMA"
grep -q "^db\.security\.addPermissionToRole('Anonymous', 'Email Access')" "$SCHEMA" \
    || { echo "could not enable Anonymous Email Access in $SCHEMA" >&2; exit 1; }
grep -q "^db\.security\.addPermissionToRole('Anonymous', 'Register', 'user')" "$SCHEMA" \
    || { echo "Anonymous lacks Register permission in $SCHEMA" >&2; exit 1; }

cat >"$TRACKER_DIR/interfaces.py" <<'PYEOF'
# Lets "imap/imaps user:pw@host:PORT" use a non-standard port. Stock 2.6.0
# passes "host:PORT" to imaplib.IMAP4() as the host name, so it fails.
import imaplib
from roundup import mailgw as _mailgw

class MailGW(_mailgw.MailGW):
    def do_imap(self, server, user='', password='', mailbox='', **kw):
        host, sep, port = server.rpartition(':')
        if not (sep and host and port.isdigit()):
            return _mailgw.MailGW.do_imap(self, server, user, password,
                                          mailbox, **kw)
        name = 'IMAP4_SSL' if kw.get('ssl') else 'IMAP4'
        orig = getattr(imaplib, name)
        class WithPort(orig):
            def __init__(self, _host, *a, **k):
                orig.__init__(self, host, int(port), *a, **k)
        setattr(imaplib, name, WithPort)
        try:
            return _mailgw.MailGW.do_imap(self, host, user, password,
                                          mailbox, **kw)
        finally:
            setattr(imaplib, name, orig)
PYEOF

# Create the database and the admin user (admin email = admin_email@domain).
"$VENV_DIR/bin/roundup-admin" -i "$TRACKER_DIR" initialise "$ADMIN_PASSWORD" </dev/null

# Sanity checks: config as intended, Anonymous may register via email.
"$VENV_DIR/bin/python" - "$TRACKER_DIR" "$HELPDESK_ADDRESS" "$SMTP_PORT" "$ANSWER" <<'EOF'
import sys
import roundup.instance
home, addr, port, answer = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
tr = roundup.instance.open(home)
c = tr.config
assert c['TRACKER_EMAIL'] == addr, c['TRACKER_EMAIL']
assert c['MAIL_HOST'] == '127.0.0.1' and c['MAIL_PORT'] == port
assert not c['MAIL_TLS'] and not c['MAIL_USERNAME']
assert c['MESSAGES_TO_AUTHOR'] == answer, c['MESSAGES_TO_AUTHOR']
db = tr.open('admin')
try:
    anon = db.user.lookup('anonymous')
    assert db.security.hasPermission('Email Access', anon)
    assert db.security.hasPermission('Register', anon, 'user')
finally:
    db.close()
print('tracker ready: %s  mail=%s  smtp=%s:%s  admin_email=%s'
      % (home, addr, c['MAIL_HOST'], port, c['ADMIN_EMAIL']))
EOF
