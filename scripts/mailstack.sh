#!/usr/bin/env bash
# mailstack.sh: a real, private mail stack on 127.0.0.1 for Loket's end-to-end tests and quick-start.
#
#   scripts/mailstack.sh start  DIR   # generate config in DIR, start Dovecot + Postfix, wait until ready
#   scripts/mailstack.sh stop   DIR   # stop both servers of DIR and wait until they are gone (no-op if down)
#   scripts/mailstack.sh status DIR   # exit 0 = both running, 3 = both stopped, 1 = only one running
#
# What you get (all listeners on 127.0.0.1 only, nothing else is opened):
#   Dovecot   IMAP  (plain)         $IMAP_PORT   default 1143
#             IMAPS (implicit TLS)  $IMAPS_PORT  default 1993, self-signed cert in DIR/tls/cert.pem
#             LMTP                  $LMTP_PORT   default 2424 (Postfix delivers through it)
#   Postfix   SMTP  (plain, no AUTH) $SMTP_PORT  default 2525
#
# With OAUTH2_INTROSPECTION_URL=http://127.0.0.1:PORT/path set, Dovecot also accepts the SASL
# mechanisms XOAUTH2 and OAUTHBEARER, validating the bearer token by POSTing it to that URL, and
# Postfix offers AUTH (optional) checked by Dovecot the same way. Without it nothing changes.
#
# Users: every address at example.test exists without registration; log in with the full address and
# the password "secret" (plain text login is allowed; STARTTLS is offered on the IMAP port as well).
# Mail for example.test is delivered via LMTP into maildirs under DIR/mail/<address>/Maildir.
# Mail for ANY other domain is accepted from loopback and then bounced by Postfix's error transport: no
# SMTP client is even configured, so nothing can ever leave the machine. The bounce goes back to the
# sender, i.e. into its mailbox when the sender is at example.test.
#
# Several stacks may run at once (one per DIR, each with its own ports); every name that must be unique
# (Dovecot instance_name/base_dir/state_dir, Postfix queue/data dirs, syslog_name) is derived from DIR.
# `start` refuses (exit 1, message on stderr) when a port is already in use, when DIR is already running,
# or when a server does not come up within $START_TIMEOUT seconds (default 20). On success it prints one
# summary line on stdout (progress goes to stderr) and writes DIR/ports.env (shell syntax) so that tests
# and `stop`/`status` can find the ports again:
#   MAILSTACK_DIR IMAP_PORT IMAPS_PORT LMTP_PORT SMTP_PORT TLS_CERT
#
# Layout of DIR (created as needed; config files are regenerated on every start, mail is kept):
#   dovecot/dovecot.conf  dovecot/run (base_dir)  dovecot/state  dovecot.log
#   postfix/{main,master}.cf  postfix-queue/  postfix-data/  postfix.log  postfix.pid
#   tls/{cert,key}.pem    mail/<address>/Maildir    ports.env
#
# Requirements: run as root (the servers drop privileges themselves) on Debian 12 with
# dovecot-imapd, dovecot-lmtpd, postfix, openssl and the system user vmail: see scripts/install-deps.sh.
# Works without systemd and without syslog: both servers log into DIR.
#
# Pitfalls this script deals with (found on the project's machines):
#  - `postfix start` fails silently without syslog, so Postfix runs as `postfix -c DIR start-fg` in its
#    own session in the background, with maillog_file=/dev/stdout redirected into DIR/postfix.log.
#  - Postfix only accepts `-c DIR` if DIR is listed in alternate_config_directories of the default
#    /etc/postfix/main.cf: registered on start (under a lock, since stacks start in parallel) and removed
#    again on stop.
#  - PID 1 on these machines does not reap orphans, so a dead daemon stays a zombie and `kill -0` still
#    succeeds: liveness is decided from /proc/PID/stat (state Z counts as dead).
#  - Callers often capture our output through pipes (Rust's Command::output()): the daemons get
#    </dev/null and log files as stdio so they never keep the caller's pipe open.
#  - A mktemp directory is mode 0700; Dovecot delivers as vmail, so DIR gets o+x (traverse only) and
#    we check that vmail can reach DIR/mail before starting.
#  - Dovecot penalises failed logins per IP (up to 15 s); all tests share 127.0.0.1, so this is disabled.
set -euo pipefail

PROG=${0##*/}
START_TIMEOUT=${START_TIMEOUT:-20}
STOP_TIMEOUT=${STOP_TIMEOUT:-15}
DOMAIN=example.test
PASSWORD=secret
LOCK_FILE=/run/lock/loket-mailstack.lock

die() { echo "$PROG: error: $*" >&2; exit 1; }
info() { echo "$PROG: $*" >&2; }

usage() {
    echo "usage: $PROG start|stop|status|stop-dovecot|start-dovecot|stop-postfix|start-postfix DIR" >&2
    echo "  env for start: IMAP_PORT=1143 IMAPS_PORT=1993 LMTP_PORT=2424 SMTP_PORT=2525 START_TIMEOUT=20" >&2
    echo "                 OAUTH2_INTROSPECTION_URL (optional: accept OAuth2 tokens checked there)" >&2
    exit 2
}

# ---------------------------------------------------------------------------------------------------
# Process helpers. We never match processes by name: only pids recorded for this DIR, their sessions
# (both servers run in sessions of their own) and an identity check against /proc.

# alive PID: true if PID exists and is not a zombie.
alive() {
    local pid=$1 stat
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # `read` is a builtin: these helpers run in polling loops, forking cat for every pid is slow.
    read -r stat 2>/dev/null <"/proc/$pid/stat" || return 1
    stat=${stat##*) }          # drop "pid (comm) ", comm may contain spaces
    [[ ${stat%% *} != Z ]]
}

# read_pid FILE: first word of FILE, empty if missing.
read_pid() {
    local pid=""
    [[ -r $1 ]] && read -r pid _ <"$1" 2>/dev/null || true
    [[ $pid =~ ^[0-9]+$ ]] && echo "$pid" || true
}

# session_members SID...: live (non-zombie) pids whose session id is one of SID.
session_members() {
    local f stat pid state rest sid want
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$f" || continue
        pid=${f#/proc/}; pid=${pid%/stat}
        stat=${stat##*) }
        # fields after comm: state ppid pgrp session ...
        read -r state _ _ sid rest <<<"$stat"
        [[ $state == Z ]] && continue
        for want in "$@"; do
            [[ $sid == "$want" ]] && { echo "$pid"; break; }
        done
    done
}

# is_our_dovecot PID: the Dovecot master started with our config file.
is_our_dovecot() {
    alive "$1" && tr '\0' ' ' <"/proc/$1/cmdline" 2>/dev/null | grep -qF -- "-c $DOVECOT_CONF"
}

# is_our_postfix PID: a Postfix process (or its start-fg wrapper) running with MAIL_CONFIG = our config.
is_our_postfix() {
    alive "$1" && tr '\0' '\n' <"/proc/$1/environ" 2>/dev/null | grep -qxF -- "MAIL_CONFIG=$PF_CONF"
}

dovecot_pid() {
    local pid
    pid=$(read_pid "$DC_BASE/master.pid")
    [[ -n $pid ]] && is_our_dovecot "$pid" && echo "$pid" || true
}

# The start-fg wrapper (session leader, recorded by us) or, failing that, Postfix's own master pid.
# STARTED_PF_PID is the wrapper this very run started: between fork and exec its /proc environ does
# not show MAIL_CONFIG yet, so it is trusted by pid alone (it cannot have been reused meanwhile).
STARTED_PF_PID=""
postfix_pids() {
    local pid
    if [[ -n $STARTED_PF_PID ]] && alive "$STARTED_PF_PID"; then echo "$STARTED_PF_PID"; fi
    for pid in $(read_pid "$DIR/postfix.pid") $(read_pid "$PF_QUEUE/pid/master.pid"); do
        [[ $pid == "$STARTED_PF_PID" ]] && continue
        is_our_postfix "$pid" && echo "$pid"
    done
    true
}

# wait_gone TIMEOUT SID...: wait until no live process is left in the sessions; TERM the stragglers
# half-way, KILL them at the end. Returns 1 if something survived even SIGKILL.
wait_gone() {
    local timeout=$1; shift
    local i left
    for ((i = 0; i < timeout * 10; i++)); do
        left=$(session_members "$@")
        [[ -z $left ]] && return 0
        if ((i == timeout * 5)); then
            # shellcheck disable=SC2086
            kill -TERM $left 2>/dev/null || true
        fi
        sleep 0.1
    done
    left=$(session_members "$@")
    # shellcheck disable=SC2086
    [[ -n $left ]] && kill -KILL $left 2>/dev/null || true
    sleep 0.2
    [[ -z $(session_members "$@") ]]
}

# ---------------------------------------------------------------------------------------------------
# Ports

# port_in_use PORT: something accepts TCP connections on 127.0.0.1:PORT. A bash /dev/tcp probe needs
# no iproute2/netcat; a listener on 0.0.0.0 or a dual-stack [::] would also answer here, and those
# are exactly the ones that would make our bind on 127.0.0.1 fail.
port_in_use() {
    timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1"' _ "$1" 2>/dev/null
}

# greeting PORT QUIT: first line the server sends on 127.0.0.1:PORT, then politely say QUIT (the
# command is sent without waiting for the answer; both Dovecot and Postfix cope).
greeting() {
    timeout 3 bash -c '
        exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 1
        IFS= read -r -t 2 line <&3 || exit 1
        printf "%s\r\n" "$2" >&3 2>/dev/null || true
        printf "%s\n" "${line%$'"'"'\r'"'"'}"
    ' _ "$1" "$2" 2>/dev/null
}

check_port_var() {
    local name=$1 val=${!1}
    [[ $val =~ ^[0-9]+$ ]] && ((val >= 1 && val <= 65535)) || die "$name=$val is not a TCP port number"
}

# ---------------------------------------------------------------------------------------------------
# Paths derived from DIR

set_paths() {
    DIR=$1
    # Postfix expands $, Dovecot expands % and splits userdb args on blanks: keep DIR boring.
    [[ $DIR =~ ^[A-Za-z0-9._/@+=,:-]+$ ]] || die "DIR '$DIR' must consist of [A-Za-z0-9._/@+=,:-] only"
    # A short stable id of DIR for the names that must be unique per instance.
    ID=$(printf %s "$DIR" | sha1sum | cut -c1-10)
    DOVECOT_CONF=$DIR/dovecot/dovecot.conf
    DC_BASE=$DIR/dovecot/run
    DC_STATE=$DIR/dovecot/state
    PF_CONF=$DIR/postfix
    PF_QUEUE=$DIR/postfix-queue
    # Dovecot's base_dir and Postfix's queue hold UNIX sockets, whose absolute path must fit in 107
    # bytes (e.g. Postfix's .../postfix-queue/public/postlog is used by absolute path). For a long DIR
    # they move to /run/loket-mailstack/ID; DIR/dovecot/run and DIR/postfix-queue become symlinks.
    RUNTIME_DIR=""
    if ((${#DIR} > 60)); then
        RUNTIME_DIR=/run/loket-mailstack/$ID
        DC_BASE=$RUNTIME_DIR/dovecot
        PF_QUEUE=$RUNTIME_DIR/postfix-queue
    fi
    PF_DATA=$DIR/postfix-data
    TLS_DIR=$DIR/tls
    MAIL_DIR=$DIR/mail
}

# link_runtime TARGET LINK: with a short runtime dir, point DIR's usual place at it (for humans).
link_runtime() {
    [[ -n $RUNTIME_DIR ]] || return 0
    if [[ -L $2 || ! -e $2 ]]; then ln -sfn "$1" "$2"; fi
}

# ---------------------------------------------------------------------------------------------------
# alternate_config_directories in the default /etc/postfix/main.cf

# edit_alternate add|remove: add or remove $PF_CONF, under a lock because stacks start in parallel.
# Entries of removed stacks (a directory ending in /postfix that no longer exists, e.g. a deleted test
# tempdir) are pruned so the list does not grow forever; any other entry is kept as it was.
edit_alternate() {
    local action=$1
    mkdir -p "${LOCK_FILE%/*}"
    (
        flock -w 30 9 || die "could not lock $LOCK_FILE"
        local cur new=() tok changed=0
        cur=$(env -u MAIL_CONFIG postconf -h alternate_config_directories 2>/dev/null || true)
        for tok in ${cur//,/ }; do
            if [[ $tok == "$PF_CONF" ]]; then
                [[ $action == remove ]] && { changed=1; continue; }
                action=present
            elif [[ $tok == /*/postfix && ! -d $tok ]]; then
                changed=1; continue
            fi
            new+=("$tok")
        done
        if [[ $action == add ]]; then
            new+=("$PF_CONF"); changed=1
        fi
        if ((changed)); then
            env -u MAIL_CONFIG postconf -e "alternate_config_directories = ${new[*]}"
        fi
    ) 9>>"$LOCK_FILE"
}

# ---------------------------------------------------------------------------------------------------
# Config generation

make_cert() {
    # Self-signed server certificate for IMAPS. Made to be accepted by strict verifiers too (rustls /
    # webpki, Python 3.13's VERIFY_X509_STRICT): CA:FALSE (webpki rejects a CA cert used as end entity,
    # which is what a plain `openssl req -x509` makes), SAN for localhost and 127.0.0.1 (no CN fallback),
    # serverAuth EKU, key identifiers. Clients trust it by loading DIR/tls/cert.pem as their only root.
    [[ -s $TLS_DIR/cert.pem && -s $TLS_DIR/key.pem ]] && return 0
    mkdir -p "$TLS_DIR"
    cat >"$TLS_DIR/openssl.cnf" <<EOF
[req]
distinguished_name = dn
x509_extensions = ext
prompt = no
[dn]
CN = localhost
O = Loket test mail stack
[ext]
basicConstraints = critical, CA:FALSE
subjectAltName = DNS:localhost, IP:127.0.0.1
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -config "$TLS_DIR/openssl.cnf" \
        -keyout "$TLS_DIR/key.pem.tmp" -out "$TLS_DIR/cert.pem.tmp" 2>"$TLS_DIR/openssl.log" ||
        die "openssl failed, see $TLS_DIR/openssl.log"
    chmod 600 "$TLS_DIR/key.pem.tmp"
    chmod 644 "$TLS_DIR/cert.pem.tmp"
    mv "$TLS_DIR/key.pem.tmp" "$TLS_DIR/key.pem"
    mv "$TLS_DIR/cert.pem.tmp" "$TLS_DIR/cert.pem"
}

# OAuth2 (only with OAUTH2_INTROSPECTION_URL set): Dovecot also accepts XOAUTH2 and OAUTHBEARER,
# validating each token by POSTing it to that URL (RFC 7662 introspection: the answer must say
# "active": true and name the user in "username"); Postfix then offers AUTH through Dovecot's
# auth service, so SMTP logins are checked the same way. Password logins work as before.
oauth2_dovecot_conf() {
    [[ -n ${OAUTH2_INTROSPECTION_URL:-} ]] || return 0
    cat >"$DIR/dovecot/dovecot-oauth2.conf.ext" <<EOF
introspection_url = $OAUTH2_INTROSPECTION_URL
introspection_mode = post
username_attribute = username
active_attribute = active
active_value = true
timeout_msecs = 5000
EOF
    cat <<EOF
# OAuth2 bearer tokens, checked at the introspection endpoint (OAUTH2_INTROSPECTION_URL).
passdb {
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = $DIR/dovecot/dovecot-oauth2.conf.ext
}
# Postfix asks Dovecot to check SMTP AUTH (smtpd_sasl_type = dovecot).
service auth {
  unix_listener auth-postfix {
    mode = 0666
  }
}
EOF
}

write_dovecot_conf() {
    local vmail_uid=$1 vmail_gid=$2 dh="" mechs="plain login" static_mechs="" oauth2=""
    if [[ -n ${OAUTH2_INTROSPECTION_URL:-} ]]; then
        mechs="plain login xoauth2 oauthbearer"
        # Without this the static passdb would take any token for the password and fail it.
        static_mechs="  mechanisms = plain login"
        mkdir -p "$DIR/dovecot"
        oauth2=$(oauth2_dovecot_conf)
    fi
    # Without ssl_dh Dovecot 2.3 simply offers no DHE ciphers; use Debian's parameters when present.
    [[ -r /usr/share/dovecot/dh.pem ]] && dh="ssl_dh = </usr/share/dovecot/dh.pem"
    mkdir -p "$DIR/dovecot" "$DC_BASE" "$DC_STATE"
    link_runtime "$DC_BASE" "$DIR/dovecot/run"
    # Standalone: nothing from /etc/dovecot is included, so the system config cannot interfere.
    cat >"$DOVECOT_CONF" <<EOF
# Generated by scripts/mailstack.sh on every start; edits are overwritten.
instance_name = loket-$ID
base_dir = $DC_BASE
state_dir = $DC_STATE
log_path = $DIR/dovecot.log
info_log_path = $DIR/dovecot.log
protocols = imap lmtp
listen = 127.0.0.1
hostname = loket-mailstack.localdomain
# Unique per instance: start checks it to be sure the answering server is ours.
login_greeting = Loket mailstack $ID ready.

ssl = yes
ssl_cert = <$TLS_DIR/cert.pem
ssl_key = <$TLS_DIR/key.pem
$dh

# Plain logins on loopback are fine for a test stack.
disable_plaintext_auth = no
auth_mechanisms = $mechs
auth_verbose = yes
# Tests try wrong passwords on purpose; the default 2 s delay per failure only slows them down.
auth_failure_delay = 0
# Any user (the full address) with password "$PASSWORD"; every address has a home under DIR/mail.
passdb {
  driver = static
  args = password=$PASSWORD
$static_mechs
}
$oauth2
userdb {
  driver = static
  args = uid=$vmail_uid gid=$vmail_gid home=$MAIL_DIR/%u allow_all_users=yes
}
# Dovecot refuses uids below first_valid_uid (default 500); vmail is a system user.
first_valid_uid = $vmail_uid
mail_location = maildir:~/Maildir
# Throw-away test data: no fsync, faster deliveries.
mail_fsync = never

namespace inbox {
  inbox = yes
  mailbox Drafts {
    special_use = \\Drafts
  }
  mailbox Sent {
    special_use = \\Sent
  }
  mailbox Trash {
    special_use = \\Trash
  }
  mailbox Junk {
    special_use = \\Junk
  }
}

protocol imap {
  # All test connections come from 127.0.0.1; the default of 10 per user+IP is easy to hit.
  mail_max_userip_connections = 200
}
protocol lmtp {
  postmaster_address = postmaster@$DOMAIN
}

service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $IMAP_PORT
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $IMAPS_PORT
    ssl = yes
  }
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = $LMTP_PORT
  }
}
# Disable the per-IP failed-login penalty (every test client is 127.0.0.1).
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
EOF
}

write_postfix_conf() {
    local reject="error:5.7.1 outbound mail is disabled in the Loket test mail stack (only @$DOMAIN exists)"
    local sasl="smtpd_sasl_auth_enable = no"
    if [[ -n ${OAUTH2_INTROSPECTION_URL:-} ]]; then
        # AUTH offered (and checked by Dovecot, see oauth2_dovecot_conf) but not required.
        sasl="smtpd_sasl_auth_enable = yes
smtpd_sasl_type = dovecot
smtpd_sasl_path = $DC_BASE/auth-postfix"
    fi
    mkdir -p "$PF_CONF"
    cat >"$PF_CONF/main.cf" <<EOF
# Generated by scripts/mailstack.sh on every start; edits are overwritten.
compatibility_level = 3.6
# Per-instance names: queue (holds pid/ and the master lock), data dir, log name.
queue_directory = $PF_QUEUE
data_directory = $PF_DATA
syslog_name = postfix-loket-$ID
# No syslog here: postlogd writes to its stdout, which is DIR/postfix.log.
maillog_file = /dev/stdout

myhostname = loket-mailstack.localdomain
inet_interfaces = loopback-only
inet_protocols = ipv4
smtpd_banner = \$myhostname ESMTP loket-mailstack-$ID

# Only virtual mailboxes at $DOMAIN, all of them exist, all delivered to Dovecot over LMTP.
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
virtual_mailbox_domains = $DOMAIN
virtual_mailbox_maps =
virtual_transport = lmtp:inet:127.0.0.1:$LMTP_PORT

# Nothing ever leaves the machine: every other destination bounces through the error transport
# (and master.cf has no smtp/relay/local/virtual client service at all).
default_transport = $reject
relay_transport = $reject
local_transport = $reject

# Only loopback clients may submit, and only they may "relay" (into the error transport).
mynetworks = 127.0.0.0/8
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_client_restrictions = permit_mynetworks, reject
$sasl
smtpd_tls_security_level = none
lmtp_tls_security_level = none
smtpd_error_sleep_time = 0

# Retry soon if Dovecot's LMTP was briefly unavailable (defaults are minutes).
queue_run_delay = 5s
minimal_backoff_time = 5s
maximal_backoff_time = 30s

biff = no
append_dot_mydomain = no
readme_directory = no
EOF
    # Own master.cf instead of Debian's: Debian chroots most services into the queue dir (which then
    # needs copies of /etc files), listens on port 25 and has SMTP client services. Here: only the
    # loopback listener on SMTP_PORT, no chroot, no client that could send mail out.
    cat >"$PF_CONF/master.cf" <<EOF
# Generated by scripts/mailstack.sh on every start; edits are overwritten.
# service type  private unpriv  chroot  wakeup  maxproc command + args
127.0.0.1:$SMTP_PORT inet n - n - - smtpd
pickup    unix  n       -       n       60      1       pickup
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
lmtp      unix  -       -       n       -       -       lmtp
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
}

# ---------------------------------------------------------------------------------------------------
# Commands

# stop_postfix: stops this DIR's Postfix and waits until it is gone; true if it was running.
stop_postfix() {
    local pids sids=() mpid pid
    pids=$(postfix_pids)
    [[ -n $pids ]] || { rm -f "$DIR/postfix.pid"; return 1; }
    info "stopping postfix ($DIR)"
    mpid=$(read_pid "$PF_QUEUE/pid/master.pid")
    if [[ -n $mpid ]] && is_our_postfix "$mpid"; then
        kill -TERM "$mpid" 2>/dev/null || true   # master terminates its children, then exits
    else
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
    fi
    # The wrapper's session contains every Postfix process of this instance.
    for pid in $pids $mpid; do sids+=("$pid"); done
    wait_gone "$STOP_TIMEOUT" "${sids[@]}" || info "warning: some postfix processes of $DIR survived"
    rm -f "$DIR/postfix.pid"
    return 0
}

# launch_postfix: starts Postfix in the foreground of its own session (setsid without fork: $! is
# the session id), logging into DIR/postfix.log.
launch_postfix() {
    info "starting postfix ($DIR)"
    {
        echo "==== $(date '+%F %T') start-fg"
        exec setsid postfix -c "$PF_CONF" start-fg
    } </dev/null >>"$DIR/postfix.log" 2>&1 &
    STARTED_PF_PID=$!
    echo "$STARTED_PF_PID" >"$DIR/postfix.pid"
}

do_stop() {
    local dpid stopped=0
    # Postfix first: it is the one that would otherwise try to deliver into a vanishing Dovecot.
    stop_postfix && stopped=1

    dpid=$(dovecot_pid)
    if [[ -n $dpid ]]; then
        info "stopping dovecot ($DIR)"
        kill -TERM "$dpid" 2>/dev/null || true
        # Dovecot daemonizes with setsid(): its session id is the master pid.
        wait_gone "$STOP_TIMEOUT" "$dpid" || info "warning: some dovecot processes of $DIR survived"
        stopped=1
    fi
    # A dead master can linger as a zombie here (PID 1 does not reap); Dovecot's own "already running"
    # check would then trip over the stale pid file on the next start.
    rm -f "$DC_BASE/master.pid"

    if [[ -f $PF_CONF/main.cf ]] && command -v postconf >/dev/null; then
        edit_alternate remove
    fi
    # Short runtime dir of a long DIR (see set_paths): only sockets, pids and the (test) queue.
    if [[ -n $RUNTIME_DIR && -d $RUNTIME_DIR ]]; then
        rm -rf -- "$RUNTIME_DIR"
        local l
        for l in "$DIR/dovecot/run" "$DIR/postfix-queue"; do
            if [[ -L $l ]]; then rm -f "$l"; fi
        done
    fi
    ((stopped)) && info "stopped ($DIR)" || info "not running ($DIR)"
}

fail_start() {
    echo "$PROG: error: $*" >&2
    local f
    for f in "$DIR/dovecot-start.log" "$DIR/dovecot.log" "$DIR/postfix-check.log" "$DIR/postfix.log"; do
        [[ -s $f ]] || continue
        echo "---- last lines of $f ----" >&2
        tail -n 15 "$f" >&2
    done
    do_stop >/dev/null 2>&1 || true
    exit 1
}

do_start() {
    local p name
    IMAP_PORT=${IMAP_PORT:-1143}
    IMAPS_PORT=${IMAPS_PORT:-1993}
    LMTP_PORT=${LMTP_PORT:-2424}
    SMTP_PORT=${SMTP_PORT:-2525}
    for name in IMAP_PORT IMAPS_PORT LMTP_PORT SMTP_PORT; do check_port_var "$name"; done
    [[ $(printf '%s\n' "$IMAP_PORT" "$IMAPS_PORT" "$LMTP_PORT" "$SMTP_PORT" | sort -u | wc -l) == 4 ]] ||
        die "the four ports must differ: IMAP_PORT=$IMAP_PORT IMAPS_PORT=$IMAPS_PORT LMTP_PORT=$LMTP_PORT SMTP_PORT=$SMTP_PORT"

    ((EUID == 0)) || die "must run as root (the servers bind, chown and drop privileges themselves)"
    for p in dovecot postfix postconf openssl flock setsid runuser timeout sha1sum; do
        command -v "$p" >/dev/null || die "'$p' not found; run scripts/install-deps.sh first"
    done
    [[ -x /usr/lib/dovecot/lmtp ]] || die "dovecot-lmtpd is not installed; run scripts/install-deps.sh first"
    id -u vmail >/dev/null 2>&1 || die "system user 'vmail' missing; run scripts/install-deps.sh first"

    if [[ -n $(dovecot_pid) || -n $(postfix_pids) ]]; then
        die "a mail stack is already running in $DIR (run: $PROG stop $DIR)"
    fi
    for name in IMAP_PORT IMAPS_PORT LMTP_PORT SMTP_PORT; do
        port_in_use "${!name}" && die "port ${!name} ($name) on 127.0.0.1 is already in use"
    done

    # Dovecot delivers and reads mail as vmail, which must be able to traverse DIR. A mktemp dir is
    # 0700: allow traversal (not listing) for others.
    chmod o+x "$DIR"
    mkdir -p "$MAIL_DIR"
    chown "$(id -u vmail):$(id -g vmail)" "$MAIL_DIR"
    chmod 700 "$MAIL_DIR"
    runuser -u vmail -- test -w "$MAIL_DIR" -a -x "$MAIL_DIR" 2>/dev/null ||
        die "user vmail cannot reach $MAIL_DIR (a parent directory of DIR is not world-traversable, e.g. /root); choose another DIR"

    make_cert
    write_dovecot_conf "$(id -u vmail)" "$(id -g vmail)"
    write_postfix_conf
    rm -f "$DIR/ports.env" "$DIR/dovecot-start.log" "$DIR/postfix-check.log"
    # Keep one previous generation of the logs; a fresh log makes failures easy to read.
    local f
    for f in "$DIR/dovecot.log" "$DIR/postfix.log"; do
        if [[ -f $f ]]; then mv -f "$f" "$f.1"; fi
    done

    # Postfix queue dir must be root-owned; data_directory must belong to postfix, or the master
    # cannot take its lock there. `postfix check` creates the queue subdirectories.
    mkdir -p "$PF_QUEUE" "$PF_DATA"
    link_runtime "$PF_QUEUE" "$DIR/postfix-queue"
    chown root:root "$PF_QUEUE"; chmod 755 "$PF_QUEUE"
    chown postfix:postfix "$PF_DATA"; chmod 700 "$PF_DATA"
    edit_alternate add
    # Postfix commands report fatal errors on stderr only when it is a terminal (otherwise to the
    # missing syslog): give `check` a pseudo-terminal via script(1), so its errors reach the log.
    if command -v script >/dev/null; then
        script -qec "postfix -c '$PF_CONF' check" /dev/null </dev/null >"$DIR/postfix-check.log" 2>&1
    else
        postfix -c "$PF_CONF" check </dev/null >"$DIR/postfix-check.log" 2>&1
    fi || fail_start "postfix -c $PF_CONF check failed"
    # We just ran the (slow, ~0.3-2 s) integrity check: tell start-fg to skip its own copy of it.
    touch "$PF_QUEUE/quick-start"

    # Dovecot forks into the background itself; it binds every listener before doing so, so a taken
    # port makes this command fail right here.
    info "starting dovecot ($DIR)"
    # None of ours runs (checked above): a pid file left by a killed one would read as "died".
    rm -f "$DC_BASE/master.pid"
    dovecot -c "$DOVECOT_CONF" </dev/null >"$DIR/dovecot-start.log" 2>&1 ||
        fail_start "dovecot did not start"

    launch_postfix

    # Wait until the servers greet with OUR banner (not just "something listens"), bounded.
    # Each listener is probed until it has answered once (keeps the probe noise in the logs down).
    local deadline=$((SECONDS + START_TIMEOUT)) line imap=0 lmtp=0 imaps=0 smtp=0 dc_gone=0
    while :; do
        # `dovecot` returns before its master has written master.pid (seen here in 10 of 15 starts):
        # no pid file yet means "still starting"; a pid file without a live master for 0.5 s (five
        # looks, not one: the master may be caught mid-start) means it died.
        if [[ -z $(dovecot_pid) && -e $DC_BASE/master.pid ]]; then
            ((++dc_gone < 5)) || fail_start "dovecot exited during start-up"
        else
            dc_gone=0
        fi
        [[ -n $(postfix_pids) ]] || fail_start "postfix exited during start-up"
        ((imap)) || { line=$(greeting "$IMAP_PORT" "a LOGOUT") && [[ $line == *"Loket mailstack $ID ready"* ]] && imap=1; }
        ((lmtp)) || { line=$(greeting "$LMTP_PORT" QUIT) && [[ $line == *"Loket mailstack $ID ready"* ]] && lmtp=1; }
        ((imaps)) || { port_in_use "$IMAPS_PORT" && imaps=1; }
        ((smtp)) || { line=$(greeting "$SMTP_PORT" QUIT) && [[ $line == *"loket-mailstack-$ID"* ]] && smtp=1; }
        # Ready includes the pid file: `stop` finds Dovecot through it.
        ((imap && lmtp && imaps && smtp)) && [[ -n $(dovecot_pid) ]] && break
        ((SECONDS < deadline)) ||
            fail_start "not ready within ${START_TIMEOUT}s (imap=$imap imaps=$imaps lmtp=$lmtp smtp=$smtp dovecot_pid=$(dovecot_pid))"
        sleep 0.1
    done

    cat >"$DIR/ports.env" <<EOF
MAILSTACK_DIR=$DIR
IMAP_PORT=$IMAP_PORT
IMAPS_PORT=$IMAPS_PORT
LMTP_PORT=$LMTP_PORT
SMTP_PORT=$SMTP_PORT
TLS_CERT=$TLS_DIR/cert.pem
EOF
    echo "mailstack up: imap=127.0.0.1:$IMAP_PORT imaps=127.0.0.1:$IMAPS_PORT lmtp=127.0.0.1:$LMTP_PORT smtp=127.0.0.1:$SMTP_PORT cert=$TLS_DIR/cert.pem dir=$DIR"
}

# stop-dovecot / start-dovecot: take only the IMAP/LMTP server down and up again, for tests of how
# Loket survives a mail server restart. Postfix keeps running and queues what it cannot deliver.
do_stop_dovecot() {
    local dpid
    dpid=$(dovecot_pid)
    if [[ -n $dpid ]]; then
        info "stopping dovecot ($DIR)"
        kill -TERM "$dpid" 2>/dev/null || true
        wait_gone "$STOP_TIMEOUT" "$dpid" || die "dovecot of $DIR did not stop"
    fi
    rm -f "$DC_BASE/master.pid"
}

do_start_dovecot() {
    [[ -r $DIR/ports.env ]] || die "$DIR/ports.env missing: start the whole stack first"
    # shellcheck disable=SC1091
    . "$DIR/ports.env"
    [[ -z $(dovecot_pid) ]] || die "dovecot of $DIR is already running"
    info "starting dovecot ($DIR)"
    dovecot -c "$DOVECOT_CONF" </dev/null >"$DIR/dovecot-start.log" 2>&1 || die "dovecot did not start"
    local deadline=$((SECONDS + START_TIMEOUT)) line
    while :; do
        line=$(greeting "$IMAP_PORT" "a LOGOUT") && [[ $line == *"Loket mailstack $ID ready"* ]] &&
            [[ -n $(dovecot_pid) ]] && break
        ((SECONDS < deadline)) || die "dovecot not ready within ${START_TIMEOUT}s"
        sleep 0.1
    done
}

# stop-postfix / start-postfix: an SMTP outage while IMAP stays up (mail already delivered stays
# readable; new mail and Loket's outgoing mail wait).
do_stop_postfix() {
    stop_postfix || info "postfix of $DIR was not running"
}

do_start_postfix() {
    [[ -r $DIR/ports.env ]] || die "$DIR/ports.env missing: start the whole stack first"
    # shellcheck disable=SC1091
    . "$DIR/ports.env"
    [[ -z $(postfix_pids) ]] || die "postfix of $DIR is already running"
    edit_alternate add
    touch "$PF_QUEUE/quick-start"
    launch_postfix
    local deadline=$((SECONDS + START_TIMEOUT)) line
    while :; do
        line=$(greeting "$SMTP_PORT" QUIT) && [[ $line == *"loket-mailstack-$ID"* ]] && break
        [[ -n $(postfix_pids) ]] || die "postfix exited during start-up (see $DIR/postfix.log)"
        ((SECONDS < deadline)) || die "postfix not ready within ${START_TIMEOUT}s"
        sleep 0.1
    done
}

do_status() {
    local dpid ppids ports=""
    dpid=$(dovecot_pid)
    ppids=$(postfix_pids)
    [[ -r $DIR/ports.env ]] && ports=$(grep -E '_PORT=' "$DIR/ports.env" | tr '\n' ' ')
    local dstate=stopped pstate=stopped
    [[ -n $dpid ]] && dstate="running (pid $dpid)"
    [[ -n $ppids ]] && pstate="running (pid ${ppids//$'\n'/,})"
    echo "dovecot: $dstate; postfix: $pstate; ${ports:-no ports.env}"
    if [[ -n $dpid && -n $ppids ]]; then return 0; fi
    if [[ -z $dpid && -z $ppids ]]; then return 3; fi
    return 1
}

# ---------------------------------------------------------------------------------------------------

(($# == 2)) || usage
cmd=$1
case $cmd in
start)
    [[ $2 =~ ^[A-Za-z0-9._/@+=,:-]+$ ]] || die "DIR '$2' must consist of [A-Za-z0-9._/@+=,:-] only"
    mkdir -p "$2"
    set_paths "$(cd "$2" && pwd -P)"
    do_start
    ;;
stop | status | stop-dovecot | start-dovecot | stop-postfix | start-postfix)
    if [[ ! -d $2 ]]; then
        [[ $cmd == stop ]] && { info "not running ($2 does not exist)"; exit 0; }
        echo "dovecot: stopped; postfix: stopped; no such directory $2"; exit 3
    fi
    set_paths "$(cd "$2" && pwd -P)"
    "do_${cmd//-/_}"
    ;;
*) usage ;;
esac
