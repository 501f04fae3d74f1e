#!/usr/bin/env bash
# install-deps.sh: install what scripts/mailstack.sh needs, on Debian 12 (or similar), as root.
#
#   sudo scripts/install-deps.sh
#
# Idempotent and harmless to re-run: packages are installed only when one is missing (so no network
# access and no `apt-get update` happen when everything is already there), the system user `vmail`
# (owner of the test mailboxes) is created only if it does not exist.
#
# Installed: dovecot-imapd dovecot-lmtpd postfix openssl (plus python3 if there is no python3 at
# all, for scripts/sendmail.py and scripts/readmail.py); for scripts/test-package.sh, systemd (its
# systemd-analyze verifies the unit; nothing is started: without systemd as PID 1 it only
# unpacks) and python3-yaml (the Prometheus rules' structure check).
#
# Notes:
#  - DEBIAN_FRONTEND=noninteractive: Postfix installs without its debconf questions (it then has
#    no active system-wide configuration, which is fine: mailstack.sh runs private instances).
#  - The packages try to start their system services through invoke-rc.d; without systemd/init that
#    is refused ("policy-rc.d denied execution") and nothing keeps running. That is expected. Where the
#    services DID start (a machine with systemd), they listen on the standard ports (25, 143, 993),
#    which do not clash with the mail stack's defaults, so they are left alone.
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }

((EUID == 0)) || die "must run as root (apt-get, useradd)"
command -v dpkg-query >/dev/null && command -v apt-get >/dev/null ||
    die "needs a Debian-based system with apt-get"

# installed PKG: true if dpkg considers PKG fully installed.
installed() {
    [[ $(dpkg-query -W -f='${Status}' "$1" 2>/dev/null) == "install ok installed" ]]
}

want=(dovecot-imapd dovecot-lmtpd postfix openssl systemd python3-yaml)
command -v python3 >/dev/null || want+=(python3)

missing=()
for pkg in "${want[@]}"; do
    installed "$pkg" || missing+=("$pkg")
done

if ((${#missing[@]})); then
    echo "$PROG: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y "${missing[@]}"
    for pkg in "${missing[@]}"; do
        installed "$pkg" || die "$pkg is still not installed"
    done
else
    echo "$PROG: packages already installed: ${want[*]}"
fi

# vmail owns every mailbox (Dovecot's static userdb maps all users to it). A system account: no login,
# no home. --user-group gives it a group of the same name, used as gid by Dovecot.
if id -u vmail >/dev/null 2>&1; then
    echo "$PROG: user vmail exists (uid $(id -u vmail))"
else
    useradd --system --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin --comment "Loket test mailboxes" vmail
    echo "$PROG: created system user vmail (uid $(id -u vmail))"
fi
