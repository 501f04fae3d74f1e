#!/usr/bin/env bash
# peer-roundup.sh: Roundup 2.6.0, the peer of issue 19, for scripts/bench.sh --peer roundup.
#
#   scripts/peer-roundup.sh venv VENV                               # once: a venv with roundup 2.6.0 (PyPI)
#   scripts/peer-roundup.sh tracker VENV TRACKER SMTP_PORT ADDRESS  # a fresh tracker for one run
#
# The tracker is Roundup's classic template with the sqlite backend, set up as a helpdesk that
# a new user would try: its address is ADDRESS, its mail goes by SMTP to 127.0.0.1:SMTP_PORT (no
# TLS, no login), and the mail gateway takes mail from unknown senders (it registers them and
# opens an issue). Everything else is Roundup's default, so it sends the mail it normally sends
# (nosy messages; no acknowledgement of a new issue to its author: [nosy] messages_to_author =
# no). Two changes a new user has to make are made here:
# - the classic schema ships Anonymous's "Email Access" commented out; the gateway registers an
#   unknown sender only when Anonymous has it (and "Register", which it has);
# - roundup-mailgw 2.6.0 passes "host:PORT" to imaplib as a host name, so IMAP on another port
#   than 143 fails; the tracker's interfaces.py (which Roundup loads for this) passes the port.
set -euo pipefail
verb=${1:?usage: $0 venv VENV | tracker VENV TRACKER SMTP_PORT ADDRESS}
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
tracker) ;;
*) echo "peer-roundup.sh: unknown verb $verb" >&2; exit 2 ;;
esac
VENV_DIR=${1:?VENV}
TRACKER_DIR=${2:?TRACKER}
SMTP_PORT=${3:?SMTP_PORT}
HELPDESK_ADDRESS=${4:?ADDRESS}
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
"$VENV_DIR/bin/python" - "$TRACKER_DIR" "$HELPDESK_ADDRESS" "$SMTP_PORT" <<'EOF'
import sys
import roundup.instance
home, addr, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
tr = roundup.instance.open(home)
c = tr.config
assert c['TRACKER_EMAIL'] == addr, c['TRACKER_EMAIL']
assert c['MAIL_HOST'] == '127.0.0.1' and c['MAIL_PORT'] == port
assert not c['MAIL_TLS'] and not c['MAIL_USERNAME']
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
