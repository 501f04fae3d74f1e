#!/usr/bin/env bash
# test-package.sh: the Debian package and the operator's kit, tested on this machine, as root.
#
#   scripts/test-package.sh            # scripts/test.sh runs it after cargo test
#
# Builds the package (scripts/package.sh --debug: the dev profile cargo test has just compiled;
# a release build would compile everything again), installs it with dpkg -i and checks its files,
# modes, owners, user, conffile and maintainer scripts; runs `loket --version`; adjusts a copy of
# the packaged config to a private mail stack on loopback (scripts/mailstack.sh) and runs
# `loket check` and, briefly, `loket run` as the user loket, with a mail through it and a SIGHUP;
# MDA mode: the installed Postfix example (examples/postfix: master.cf, main.cf, transport) added
# to the mail stack's Postfix, mail over SMTP piped to `loket ingest` as loket (stored once, a
# duplicate, the daemon's acknowledgement, garbage bounced and quarantined, a bounce, a deferral
# while the database is unwritable);
# checks the unit with systemd-analyze verify; checks packaging/prometheus/loket.rules.yml
# (promtool check rules, plus a structure check) and packaging/grafana/loket-dashboard.json (JSON,
# structure), and that every loket_* metric they name is served by the running daemon; then
# removes the package (the config stays), purges it (the config goes, the database stays) and
# cleans up after itself (the database directory and the user, which it created).
#
# Needs (scripts/install-deps.sh installs them): the mail stack's packages, systemd (for
# systemd-analyze; no running systemd needed), python3-yaml. promtool: from PATH, else taken out
# of Debian's prometheus package with `apt-get download` (only the promtool binary is unpacked,
# nothing is installed or started); without it the rules get the structure check only.
#
# Refuses to run where Loket is installed or /etc/loket or /var/lib/loket exist: it would install
# over them and purge them. Skips (exit 0, with a message) when not root.
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: FAILED: $*" >&2; exit 1; }
info() { echo "$PROG: $*"; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

if ((EUID != 0)); then
    echo "$PROG: SKIPPED: the package test must run as root (dpkg -i, a system user, a mail stack)"
    exit 0
fi
if [[ $(dpkg-query -W -f='${Status}' loket 2>/dev/null || true) != "" ]] &&
    [[ $(dpkg-query -W -f='${Status}' loket) != "unknown ok not-installed" ]]; then
    die "the package loket is known to dpkg on this machine ($(dpkg-query -W -f='${Status}' loket)); not testing over it"
fi
for path in /etc/loket /var/lib/loket /usr/bin/loket; do
    [[ ! -e $path ]] || die "$path exists: Loket seems installed here; not testing over it"
done
had_user=0
getent passwd loket >/dev/null && had_user=1
had_group=0
getent group loket >/dev/null && had_group=1

start=$SECONDS
work=$(mktemp -d /tmp/loket-package-test.XXXXXX)
# The user loket reads the adjusted config in here.
chmod 0755 "$work"
daemon_pid=""
cleanup() {
    local status=$?
    set +e
    if [[ -n $daemon_pid ]] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid"
        wait "$daemon_pid" 2>/dev/null
    fi
    [[ -f $work/mailstack/ports.env ]] && scripts/mailstack.sh stop "$work/mailstack" >/dev/null 2>&1
    if [[ $(dpkg-query -W -f='${Status}' loket 2>/dev/null) == *" installed" ||
        $(dpkg-query -W -f='${Status}' loket 2>/dev/null) == *config-files* ]]; then
        dpkg --purge loket >/dev/null 2>&1
    fi
    # Everything below did not exist before the test (checked above).
    rm -rf /var/lib/loket /etc/loket
    ((had_user)) || userdel loket 2>/dev/null
    ((had_group)) || groupdel loket 2>/dev/null
    if ((status == 0)); then
        rm -rf "$work"
    else
        echo "$PROG: FAILED after $((SECONDS - start))s; logs kept in $work" >&2
    fi
}
trap cleanup EXIT

# expect_stat PATH MODE OWNER:GROUP
expect_stat() {
    local got
    got=$(stat -c '%a %U:%G' "$1") || die "$1 is missing"
    [[ $got == "$2 $3" ]] || die "$1 is $got, expected $2 $3"
}

# ---------------------------------------------------------------------------------------------
info "building the package (scripts/package.sh --debug)"
t=$SECONDS
scripts/package.sh --debug --out "$work" >"$work/package.log" 2>&1 ||
    { cat "$work/package.log" >&2; die "scripts/package.sh failed"; }
deb=$(tail -n 1 "$work/package.log")
[[ -f $deb ]] || die "scripts/package.sh printed no .deb path"
build_secs=$((SECONDS - t))
info "built ${deb##*/} in ${build_secs}s"

dpkg -i "$deb" >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; die "dpkg -i failed"; }
grep -q 'installed, not started' "$work/install.log" || die "postinst printed no next steps"
[[ $(dpkg-query -W -f='${Status}' loket) == "install ok installed" ]] || die "loket is not installed"

info "checking files, modes and owners"
expect_stat /usr/bin/loket 755 root:root
expect_stat /etc/loket 750 root:loket
expect_stat /etc/loket/loket.toml 640 root:loket
expect_stat /var/lib/loket 700 loket:loket
expect_stat /lib/systemd/system/loket.service 644 root:root
for f in /usr/share/man/man1/loket.1.gz /usr/share/man/man1/loket-tickets-list.1.gz \
    /usr/share/bash-completion/completions/loket /usr/share/zsh/vendor-completions/_loket \
    /usr/share/fish/vendor_completions.d/loket.fish /usr/share/doc/loket/copyright \
    /usr/share/doc/loket/examples/loket.rules.yml /usr/share/doc/loket/examples/loket-dashboard.json \
    /usr/share/doc/loket/examples/postfix/master.cf /usr/share/doc/loket/examples/postfix/main.cf \
    /usr/share/doc/loket/examples/postfix/transport; do
    expect_stat "$f" 644 root:root
done
IFS=: read -r _ _ uid _ _ home shell < <(getent passwd loket)
((uid < 1000)) || die "loket is not a system user (uid $uid)"
[[ $home == /var/lib/loket && $shell == /usr/sbin/nologin ]] || die "user loket: home $home, shell $shell"
dpkg-query -W -f='${Conffiles}\n' loket | grep -q '^ /etc/loket/loket.toml [0-9a-f]\{32\}$' ||
    die "/etc/loket/loket.toml is not a conffile"
/usr/bin/loket init --lang id "$work/init.toml" >/dev/null
cmp -s /etc/loket/loket.toml "$work/init.toml" || die "/etc/loket/loket.toml is not what loket init writes"
zcat /usr/share/man/man1/loket.1.gz | grep -q '^\.TH loket 1' || die "loket.1.gz is not a man page"
zcat /usr/share/man/man1/loket.1.gz | grep -q 'loket\\-tickets(1)' || die "loket.1 does not list the subcommands"
bash -n /usr/share/bash-completion/completions/loket || die "the bash completion does not parse"
grep -q '^ *complete -F _loket .* loket$' /usr/share/bash-completion/completions/loket || die "bash completion: no complete line"
head -n 1 /usr/share/zsh/vendor-completions/_loket | grep -q '^#compdef loket' || die "zsh completion: no #compdef"
grep -q '^complete -c loket ' /usr/share/fish/vendor_completions.d/loket.fish || die "fish completion: no complete -c loket"
cmp -s packaging/prometheus/loket.rules.yml /usr/share/doc/loket/examples/loket.rules.yml || die "shipped rules differ"
for f in master.cf main.cf transport; do
    cmp -s "packaging/postfix/$f" "/usr/share/doc/loket/examples/postfix/$f" ||
        die "the shipped postfix/$f differs from packaging/postfix/$f"
done
(cd / && md5sum --quiet -c /var/lib/dpkg/info/loket.md5sums) || die "md5sums do not match the installed files"

version=$(dpkg-query -W -f='${Version}' loket)
got=$(/usr/bin/loket --version)
[[ $got == "loket ${version%-*}" ]] || die "loket --version says '$got', the package is $version"
info "$got (package $version)"

# ---------------------------------------------------------------------------------------------
info "the unit: systemd-analyze verify"
unit=/lib/systemd/system/loket.service
command -v systemd-analyze >/dev/null || die "systemd-analyze missing (scripts/install-deps.sh installs systemd)"
# It loads the unit offline (no running systemd needed) and exits 0 on warnings such as an unknown
# key: any line it prints about our unit fails the test.
systemd-analyze verify "$unit" >"$work/verify.log" 2>&1 || { cat "$work/verify.log" >&2; die "systemd-analyze verify failed"; }
if grep -q 'loket' "$work/verify.log"; then
    cat "$work/verify.log" >&2
    die "systemd-analyze verify warns about $unit"
fi
info "systemd-analyze verify: exit 0, $(grep -c . "$work/verify.log") lines of output, none about loket"
# shellcheck disable=SC2016 # $MAINPID is the unit's, not ours
for want in 'ExecStart=/usr/bin/loket run --config /etc/loket/loket.toml' \
    'ExecReload=/bin/kill -HUP $MAINPID' 'User=loket' 'StateDirectory=loket' 'StateDirectoryMode=0700' \
    'ProtectSystem=strict' 'NoNewPrivileges=yes' 'CapabilityBoundingSet=' 'SystemCallFilter=@system-service'; do
    grep -qxF "$want" "$unit" || die "$unit lacks the line $want"
done
cmp -s <(grep -v '^ExecStart=' "$unit") <(grep -v '^ExecStart=' packaging/loket.service) ||
    die "$unit differs from packaging/loket.service in more than ExecStart"

# ---------------------------------------------------------------------------------------------
info "loket check and loket run against a private mail stack"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
for attempt in 1 2 3; do
    if IMAP_PORT=$(port) IMAPS_PORT=$(port) LMTP_PORT=$(port) SMTP_PORT=$(port) \
        scripts/mailstack.sh start "$work/mailstack" >"$work/mailstack.log" 2>&1; then
        break
    fi
    ((attempt < 3)) || { cat "$work/mailstack.log" >&2; die "the mail stack did not start"; }
done
# shellcheck source=/dev/null
source "$work/mailstack/ports.env"
metrics_port=$(port)

printf 'secret\n' >"$work/imap.pass"
python3 - /etc/loket/loket.toml "$work/loket.toml" "$IMAP_PORT" "$SMTP_PORT" "$work/imap.pass" "$metrics_port" <<'EOF'
# The packaged config, pointed at the mail stack: every replaced key must be found exactly once.
import re, sys
src, dst, imap_port, smtp_port, pass_file, metrics_port = sys.argv[1:]
want = {
    ("helpdesk", "address"): '"helpdesk@example.test"',
    ("imap", "host"): '"127.0.0.1"', ("imap", "port"): imap_port, ("imap", "tls"): '"none"',
    ("imap", "username"): '"helpdesk@example.test"', ("imap", "password_file"): f'"{pass_file}"',
    ("smtp", "host"): '"127.0.0.1"', ("smtp", "port"): smtp_port, ("smtp", "tls"): '"none"',
    # The mail stack's Postfix offers no AUTH.
    ("smtp", "username"): None, ("smtp", "password_file"): None,
}
seen, out, section = {}, [], None
for line in open(src, encoding="utf-8"):
    m = re.match(r"\[\[?([a-z_.]+)\]\]?", line)
    if m:
        section = m.group(1)
    k = re.match(r"([a-z_]+)\s*=", line)
    key = (section, k.group(1)) if k else None
    if key in want:
        seen[key] = seen.get(key, 0) + 1
        out.append(f"# {line}" if want[key] is None else f"{key[1]} = {want[key]}\n")
    else:
        out.append(line)
bad = [k for k in want if seen.get(k) != 1]
if bad:
    sys.exit(f"keys not found exactly once in the packaged config: {bad}")
out.append(f'\n[metrics]\nlisten = "127.0.0.1:{metrics_port}"\n')
open(dst, "w", encoding="utf-8").write("".join(out))
EOF
chgrp loket "$work/loket.toml" "$work/imap.pass"
chmod 0640 "$work/loket.toml" "$work/imap.pass"
as_loket() { setpriv --reuid loket --regid loket --init-groups -- "$@"; }

as_loket /usr/bin/loket check --config "$work/loket.toml" >"$work/check.log" 2>&1 ||
    { cat "$work/check.log" >&2; die "loket check failed"; }
grep -q "^imap 127.0.0.1:$IMAP_PORT: login ok" "$work/check.log" || { cat "$work/check.log" >&2; die "loket check: no IMAP login"; }
grep -q "^smtp 127.0.0.1:$SMTP_PORT" "$work/check.log" || { cat "$work/check.log" >&2; die "loket check: no SMTP line"; }
info "loket check: $(grep -c . "$work/check.log") lines, IMAP and SMTP ok"

# The daemon as the unit runs it (user loket, the database in /var/lib/loket), for a few seconds.
(cd / && exec setpriv --reuid loket --regid loket --init-groups -- \
    /usr/bin/loket run --config "$work/loket.toml") >"$work/run.log" 2>&1 &
daemon_pid=$!
scrape() { python3 -c 'import sys, urllib.request; sys.stdout.write(urllib.request.urlopen(sys.argv[1], timeout=5).read().decode())' \
    "http://127.0.0.1:$metrics_port/metrics" 2>/dev/null; }
python3 scripts/sendmail.py --port "$SMTP_PORT" --from alice@example.test --to helpdesk@example.test \
    --subject "Printer lantai 2 rusak" --body "Hanya mencetak halaman kosong." >/dev/null
for _ in $(seq 60); do
    scrape >"$work/metrics.txt" || true
    grep -q '^loket_outbox_sent_total [1-9]' "$work/metrics.txt" && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/run.log" >&2; die "loket run exited"; }
    sleep 0.5
done
grep -q '^loket_messages_ingested_total 1$' "$work/metrics.txt" &&
    grep -q '^loket_outbox_sent_total [1-9]' "$work/metrics.txt" ||
    { cat "$work/run.log" "$work/metrics.txt" >&2; die "the packaged daemon did not take the mail and answer it within 30s"; }
[[ -f /var/lib/loket/loket.db ]] || die "no database at /var/lib/loket/loket.db"
expect_stat /var/lib/loket/loket.db 600 loket:loket
kill -HUP "$daemon_pid"
sleep 1
kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/run.log" >&2; die "loket run died on SIGHUP"; }
kill -TERM "$daemon_pid"
wait "$daemon_pid" || { cat "$work/run.log" >&2; die "loket run did not stop cleanly on SIGTERM"; }
daemon_pid=""
grep -q "SIGHUP: config and templates reloaded" "$work/run.log" || { cat "$work/run.log" >&2; die "loket run logged no reload on SIGHUP"; }
info "loket run: mail in, acknowledgement out, SIGHUP reload, SIGTERM stop"

# ---------------------------------------------------------------------------------------------
# MDA mode: the Postfix example as the package installs it (/usr/share/doc/loket/examples/postfix),
# wired into the mail stack's own Postfix, delivering to /usr/bin/loket as user loket with the
# config at /etc/loket/loket.toml, the path the example names. What differs from a real server,
# and nothing else: the helpdesk address's domain (the stack delivers example.test only) and the
# transport map's place (the stack's config directory instead of /etc/postfix).
info "MDA mode: the packaged Postfix example, pipe to loket ingest"
t=$SECONDS
examples=/usr/share/doc/loket/examples/postfix
pf=$MAILSTACK_DIR/postfix
pflog=$MAILSTACK_DIR/postfix.log
scripts/mailstack.sh stop-postfix "$MAILSTACK_DIR" >>"$work/mailstack.log" 2>&1 || die "could not stop the mail stack's Postfix"
{ echo; cat "$examples/master.cf"; } >>"$pf/master.cf"
{ echo; sed "s|/etc/postfix/transport|$pf/transport|g" "$examples/main.cf"; } >>"$pf/main.cf"
sed 's/@example\.co\.id\([[:space:]]\)/@example.test\1/' "$examples/transport" >"$pf/transport"
grep -q '^helpdesk@example\.test[[:space:]]\+loket:$' "$pf/transport" || die "the transport example has no line for helpdesk.address"
postmap "hash:$pf/transport" || die "postmap $pf/transport failed"
# A typo in the example (an unknown parameter, a bad master.cf line) shows up as a warning here.
postconf -c "$pf" -n >/dev/null 2>"$work/postconf.log" || { cat "$work/postconf.log" >&2; die "postconf rejects the example"; }
[[ ! -s $work/postconf.log ]] || { cat "$work/postconf.log" >&2; die "postconf warns about the example"; }
[[ $(postconf -c "$pf" -h loket_destination_recipient_limit) == 1 ]] || die "loket_destination_recipient_limit is not 1"
# shellcheck disable=SC2016 # ${recipient} is Postfix's
postconf -c "$pf" -M loket/unix | grep -qF 'argv=/usr/bin/env LOKET_LOG=off /usr/bin/loket ingest --config /etc/loket/loket.toml --to ${recipient}' ||
    die "the loket service of master.cf does not run /usr/bin/loket ingest --config /etc/loket/loket.toml"
# The packaged config at its packaged place, adjusted as above (a changed conffile: dpkg -r keeps
# it, purge removes it, as checked below).
install -m 0640 -o root -g loket "$work/loket.toml" /etc/loket/loket.toml
scripts/mailstack.sh start-postfix "$MAILSTACK_DIR" >>"$work/mailstack.log" 2>&1 || die "the mail stack's Postfix did not start with the example"
# A fresh database: the first delivery creates it, so its owner shows who the pipe ran as. The
# daemon still logs in to [imap] (the config requires it); with the mail now piped, the
# helpdesk's mailbox stays empty, so the mail the daemon fetched above is taken out of it, or
# the daemon would fetch it into the fresh database again.
rm -f /var/lib/loket/loket.db /var/lib/loket/loket.db-wal /var/lib/loket/loket.db-shm
find "$MAILSTACK_DIR/mail/helpdesk@example.test/Maildir/cur" "$MAILSTACK_DIR/mail/helpdesk@example.test/Maildir/new" \
    -type f -delete || die "could not empty the helpdesk's mailbox"

# smtp_send FROM FILE: FILE's bytes to helpdesk@example.test through the stack's Postfix, from
# 127.0.0.2; prints the queue id Postfix answered with. Postfix treats that client as remote
# (local_header_rewrite_clients) and adds no From/Date/Message-ID, as an MX does for the world.
smtp_send() {
    python3 - "$SMTP_PORT" "$1" "$2" <<'PY'
import re, smtplib, sys
port, sender, path = sys.argv[1:]
with smtplib.SMTP("127.0.0.1", int(port), timeout=10, source_address=("127.0.0.2", 0)) as s:
    for step, (code, reply) in (("MAIL FROM", s.mail(sender)), ("RCPT TO", s.rcpt("helpdesk@example.test"))):
        if code != 250:
            sys.exit(f"{step}: {code} {reply.decode()}")
    code, reply = s.data(open(path, "rb").read())
    m = re.search(rb"queued as ([0-9A-Za-z]+)", reply)
    if code != 250 or not m:
        sys.exit(f"DATA: {code} {reply.decode()}")
    print(m.group(1).decode())
PY
}
# delivery QUEUE_ID [STATUS]: waits (10 s at most) for the first attempt of the loket service at
# that mail (with STATUS: the first with "status=STATUS") and prints its Postfix log line.
delivery() {
    local line
    for _ in $(seq 100); do
        line=$(grep -F " $1: to=<helpdesk@example.test>, relay=loket," "$pflog" | grep -F "status=${2:-}" | head -n 1 || true)
        [[ -n $line ]] && { echo "$line"; return 0; }
        sleep 0.1
    done
    tail -n 20 "$pflog" >&2
    die "Postfix logged no delivery of $1 through the loket service within 10s"
}
request=$work/mda-request.eml
printf '%s\r\n' "From: Bambang <bambang@example.test>" "To: helpdesk@example.test" \
    "Subject: Laptop tidak bisa login lewat MDA" "Message-ID: <mda-request.1@example.test>" \
    "Date: $(date -R)" "MIME-Version: 1.0" "Content-Type: text/plain; charset=utf-8" "" \
    "Sejak pagi laptop saya menolak kata sandi." >"$request"

qid=$(smtp_send bambang@example.test "$request") || die "submitting the request over SMTP failed"
line=$(delivery "$qid")
[[ $line == *"status=sent (delivered via loket service (created ticket 1, acknowledgement queued))" ]] ||
    die "the request was not stored as HD-1 with an acknowledgement queued: $line"
expect_stat /var/lib/loket/loket.db 600 loket:loket
qid=$(smtp_send bambang@example.test "$request") || die "submitting the request again failed"
line=$(delivery "$qid")
[[ $line == *"status=sent (delivered via loket service (duplicate: already stored))" ]] ||
    die "the second delivery of the request was not taken as a duplicate: $line"
as_loket /usr/bin/loket tickets list --config /etc/loket/loket.toml >"$work/mda-tickets.txt" || die "loket tickets list failed"
[[ $(grep -c 'Laptop tidak bisa login lewat MDA' "$work/mda-tickets.txt") == 1 &&
    $(grep -c '^HD-' "$work/mda-tickets.txt") == 1 ]] ||
    { cat "$work/mda-tickets.txt" >&2; die "loket tickets list does not show the request as exactly one ticket"; }

# loket ingest only queues the acknowledgement: the daemon sends it (its sender task looks at
# the outbox at least every 5 s; no IMAP mail is involved, the pipe took the helpdesk's mail).
(cd / && exec setpriv --reuid loket --regid loket --init-groups -- \
    /usr/bin/loket run --config /etc/loket/loket.toml) >"$work/mda-run.log" 2>&1 &
daemon_pid=$!
inbox=$MAILSTACK_DIR/mail/bambang@example.test/Maildir
ack=""
for _ in $(seq 100); do
    ack=$(grep -l -s '^In-Reply-To: <mda-request\.1@example\.test>' "$inbox"/new/* "$inbox"/cur/* | head -n 1 || true)
    [[ -n $ack ]] && break
    kill -0 "$daemon_pid" 2>/dev/null || { cat "$work/mda-run.log" >&2; die "loket run exited"; }
    sleep 0.1
done
[[ -n $ack ]] || { cat "$work/mda-run.log" >&2; die "no acknowledgement of the MDA request in bambang's mailbox within 10s"; }
grep -q '^Subject: .*\[HD-1\]' "$ack" || { cat "$ack" >&2; die "the acknowledgement's subject has no [HD-1]"; }

# Not mail: EX_DATAERR, Postfix bounces it to the sender, Loket keeps its bytes in quarantine.
printf 'this is not a mail message\r\njust some bytes\r\n' >"$work/mda-garbage.txt"
qid=$(smtp_send joko@example.test "$work/mda-garbage.txt") || die "submitting the garbage over SMTP failed"
line=$(delivery "$qid")
[[ $line == *"status=bounced (data format error. Command output: quarantined: not an e-mail message"* ]] ||
    die "the garbage was not refused as not mail with a bounce: $line"
as_loket /usr/bin/loket quarantine list --config /etc/loket/loket.toml >"$work/mda-quarantine.txt" || die "loket quarantine list failed"
grep -q 'not an e-mail message' "$work/mda-quarantine.txt" ||
    { cat "$work/mda-quarantine.txt" >&2; die "the garbage is not in loket quarantine list"; }

# A bounce (empty envelope sender) keeps its empty Return-Path (null_sender=): Loket takes it
# for a bounce, not for a new request.
printf '%s\r\n' "From: Mail Delivery System <postoffice@example.test>" "To: helpdesk@example.test" \
    "Subject: Undelivered Mail Returned to Sender" "Message-ID: <mda-bounce.1@example.test>" \
    "Date: $(date -R)" "" "A message could not be delivered." >"$work/mda-bounce.eml"
qid=$(smtp_send "" "$work/mda-bounce.eml") || die "submitting the bounce over SMTP failed"
line=$(delivery "$qid")
[[ $line == *"status=sent (delivered via loket service (quarantined: "* ]] ||
    die "the bounce was not kept aside as one: $line"

# A temporary failure (the database unwritable): EX_TEMPFAIL, Postfix defers and keeps the mail;
# once the database is writable again, the next attempt stores it.
sed -e 's/mda-request\.1@/mda-request.2@/' -e 's/^Subject: .*/Subject: Wifi lantai 3 putus/' \
    "$request" >"$work/mda-deferred.eml"
chmod 0400 /var/lib/loket/loket.db
qid=$(smtp_send bambang@example.test "$work/mda-deferred.eml") || { chmod 0600 /var/lib/loket/loket.db; die "submitting the third request failed"; }
line=$(delivery "$qid") || { chmod 0600 /var/lib/loket/loket.db; exit 1; }
chmod 0600 /var/lib/loket/loket.db
[[ $line == *"dsn=4.3.0, status=deferred (temporary failure. Command output: "*"loket: temporary failure: "* ]] ||
    die "an unwritable database did not defer the mail: $line"
postqueue -c "$pf" -j | grep -qF "\"queue_id\": \"$qid\"" || die "the deferred mail $qid is not in Postfix's queue"
! grep -q " $qid: .*status=bounced" "$pflog" || die "the deferred mail $qid was bounced"
postqueue -c "$pf" -i "$qid" || die "postqueue -i $qid failed"
line=$(delivery "$qid" sent)
[[ $line == *"status=sent (delivered via loket service (created ticket 2, acknowledgement queued))" ]] ||
    die "the deferred mail $qid was not stored as HD-2 on its next attempt: $line"
kill -TERM "$daemon_pid"
wait "$daemon_pid" || { cat "$work/mda-run.log" >&2; die "loket run (MDA) did not stop cleanly on SIGTERM"; }
daemon_pid=""
info "MDA mode in $((SECONDS - t))s: the request stored once (HD-1) by the pipe as loket and acknowledged by the daemon; garbage bounced and quarantined; a bounce kept aside; deferred while the database was unwritable, then stored"

# ---------------------------------------------------------------------------------------------
info "the operator's kit: Prometheus rules and Grafana dashboard"
rules=packaging/prometheus/loket.rules.yml
dashboard=packaging/grafana/loket-dashboard.json
promtool=$(command -v promtool || true)
if [[ -z $promtool ]]; then
    mkdir -p "$work/prometheus"
    if (cd "$work/prometheus" && apt-get download prometheus >"$work/promtool.log" 2>&1); then
        dpkg-deb --fsys-tarfile "$work"/prometheus/prometheus_*.deb |
            tar -x -C "$work/prometheus" ./usr/bin/promtool
        promtool=$work/prometheus/usr/bin/promtool
    fi
fi
if [[ -n $promtool ]]; then
    "$promtool" check rules "$rules" || die "promtool check rules $rules"
else
    info "WARNING: no promtool (apt-get download prometheus failed: $(tail -n 1 "$work/promtool.log")); structure check only"
fi
python3 -m json.tool "$dashboard" >/dev/null || die "$dashboard is not JSON"
python3 - "$rules" "$dashboard" "$work/metrics.txt" <<'EOF' || die "rules or dashboard check"
# Structure of both files, and every loket_* metric they name is one the daemon served.
import json, re, sys, yaml
rules_path, dash_path, metrics_path = sys.argv[1:]
served = set(re.findall(r"^# TYPE (loket_[a-z0-9_]+) ", open(metrics_path).read(), re.M))
assert len(served) >= 14, f"the scrape has only {sorted(served)}"
exprs = []
doc = yaml.safe_load(open(rules_path))
names = set()
for group in doc["groups"]:
    assert group["name"] and group["rules"], group
    for rule in group["rules"]:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert rule["alert"] not in names, f"duplicate alert {rule['alert']}"
        names.add(rule["alert"])
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), rule
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule
        if "for" in rule:
            assert re.fullmatch(r"\d+[smhd]", rule["for"]), rule
        exprs.append((rule["alert"], rule["expr"]))
for wanted in ("LoketOutboxStuck", "LoketOutboxOldestMailOld", "LoketImapUnreachable",
               "LoketSmtpUnreachable", "LoketQuarantineGrowing", "LoketSlaBreached"):
    assert wanted in names, f"no alert {wanted}"
dash = json.load(open(dash_path))
assert dash["title"] and dash["uid"] and dash["panels"], "dashboard without title, uid or panels"
ids = [p["id"] for p in dash["panels"]]
assert len(ids) == len(set(ids)), "panel ids repeat"
for p in dash["panels"]:
    assert {"x", "y", "w", "h"} <= set(p["gridPos"]), p["title"]
    if p["type"] == "row":
        continue
    assert p["datasource"]["uid"] == "${datasource}", p["title"]
    assert p["targets"], p["title"]
    for t in p["targets"]:
        exprs.append((p["title"], t["expr"]))
exprs.append(("$instance", dash["templating"]["list"][1]["query"]["query"]))
named = set()
for where, expr in exprs:
    found = set(re.findall(r"\bloket_[a-z0-9_]+", expr))
    # `up` is Prometheus's own metric of the scrape; everything else must be Loket's.
    assert found or expr.startswith('up{job="loket"}'), f"{where}: no Loket metric in {expr}"
    missing = found - served
    assert not missing, f"{where}: {sorted(missing)} not served by loket"
    named |= found
print(f"{len(names)} alerts, {len(dash['panels'])} panels, {len(named)} metrics, all served")
EOF

# ---------------------------------------------------------------------------------------------
info "dpkg -r, then dpkg --purge"
dpkg -r loket >"$work/remove.log" 2>&1 || { cat "$work/remove.log" >&2; die "dpkg -r failed"; }
[[ ! -e /usr/bin/loket && ! -e $unit ]] || die "dpkg -r left the binary or the unit"
[[ -f /etc/loket/loket.toml ]] || die "dpkg -r removed the conffile (only purge may)"
[[ -f /var/lib/loket/loket.db ]] || die "dpkg -r removed the database"
dpkg --purge loket >"$work/purge.log" 2>&1 || { cat "$work/purge.log" >&2; die "dpkg --purge failed"; }
[[ ! -e /etc/loket ]] || die "purge left /etc/loket"
[[ -f /var/lib/loket/loket.db ]] || die "purge removed the database"
expect_stat /var/lib/loket 700 loket:loket
grep -q 'purge kept /var/lib/loket' "$work/purge.log" || { cat "$work/purge.log" >&2; die "purge did not say the database is kept"; }
! dpkg-statoverride --list | grep -q /etc/loket || die "purge left dpkg-statoverride entries"
[[ $(dpkg-query -W -f='${Status}' loket 2>/dev/null || true) != *installed* ]] || die "loket still known as installed"
info "purge: $(grep 'purge kept' "$work/purge.log")"

info "passed in $((SECONDS - start))s (package build ${build_secs}s)"
