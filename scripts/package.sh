#!/usr/bin/env bash
# package.sh: build the Debian package of Loket, in one command.
#
#   scripts/package.sh [--debug] [--out DIR]   # -> DIR/loket_<version>_<arch>.deb (default target/debian)
#
# Builds the binary (release; --debug: the dev profile, for the package test in CI, which reuses
# what `cargo test` compiled) and examples/dist_assets.rs, stages the package tree and packs it
# with dpkg-deb. Prints the path of the .deb as its last line. The version is the crate's with
# Debian revision -1; Maintainer is "$DEBFULLNAME <$DEBEMAIL>" (a placeholder without them).
#
# Why dpkg-deb on a staged tree rather than cargo-deb: dpkg-deb comes with dpkg on every Debian
# machine, so nothing is compiled or downloaded to package. `cargo install cargo-deb --locked`
# took 3m17s (69 crates) on our 2-core build machine, and every CI run on a fresh machine would
# pay it. Three package files are not plain copies anyway: the conffile is the text the built
# binary's `loket init` writes, and the man pages and completions come from the binary's clap
# definitions; cargo-deb would only have moved the staging into Cargo.toml metadata. The
# maintainer scripts are those dh_installsystemd --no-enable would write (deb-systemd-helper and
# deb-systemd-invoke, from the essential init-system-helpers) plus the user and the modes.
# dpkg-shlibdeps (dpkg-dev) computes the library dependencies; it and strip (binutils) are
# installed with apt-get when missing (as root).
#
# The package (root:root unless said; the unit is packaging/loket.service with ExecStart at
# /usr/bin/loket):
#   /usr/bin/loket                                   0755, stripped
#   /lib/systemd/system/loket.service                not enabled or started: the config needs editing first
#   /etc/loket/                                      0750 root:loket  (dpkg-statoverride, set by postinst)
#   /etc/loket/loket.toml                            conffile, `loket init --lang id`, 0640 root:loket
#   /usr/share/man/man1/loket.1.gz, loket-*.1.gz     clap_mangen
#   /usr/share/bash-completion/completions/loket, /usr/share/zsh/vendor-completions/_loket,
#   /usr/share/fish/vendor_completions.d/loket.fish  clap_complete
#   /usr/share/doc/loket/                            copyright, README.md.gz, the docs/*.md guides (.gz),
#                                                    examples/ (the operator's kit: Prometheus rules,
#                                                    Grafana dashboard, postfix/ for MDA mode)
# postinst creates the system user loket and /var/lib/loket (0700 loket:loket), which no file of
# the package is in: dpkg never removes it. purge removes /etc/loket and keeps /var/lib/loket (the
# database), saying so.
set -euo pipefail

PROG=${0##*/}
die() { echo "$PROG: error: $*" >&2; exit 1; }
info() { echo "$PROG: $*" >&2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

profile=release
out=target/debian
while (($#)); do
    case $1 in
        --debug) profile=debug ;;
        --out) (($# >= 2)) || die "--out needs a directory"; out=$2; shift ;;
        -h | --help) sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown argument $1 (try --help)" ;;
    esac
    shift
done

# Tools. dpkg-deb is part of dpkg; the rest is installed when missing.
command -v dpkg-deb >/dev/null || die "needs a Debian-based system (dpkg-deb)"
command -v cargo >/dev/null || die "cargo not found in PATH"
want=()
command -v dpkg-shlibdeps >/dev/null || want+=(dpkg-dev)
command -v strip >/dev/null || want+=(binutils)
if ((${#want[@]})); then
    ((EUID == 0)) || die "missing ${want[*]}: install them (apt-get install ${want[*]}) or run as root"
    info "installing ${want[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y "${want[@]}" || { apt-get update && apt-get install -y "${want[@]}"; }
fi

# Build. --locked: the committed Cargo.lock.
cargo_profile=()
[[ $profile == release ]] && cargo_profile=(--release)
info "building loket and the man pages/completions generator ($profile)"
cargo build --locked "${cargo_profile[@]}" --bin loket --example dist_assets
bin=target/$profile/loket
gen=target/$profile/examples/dist_assets

version=$("$bin" --version | awk '{print $2}')
[[ $version =~ ^[0-9][0-9A-Za-z.+~-]*$ ]] || die "cannot read the version from '$bin --version'"
debversion=$version-1
arch=$(dpkg --print-architecture)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
pkg=$work/pkg
umask 022

# /usr/bin/loket, stripped as dh_strip would (the debug build drops ~130 MB of debug info).
install -D -m 0755 "$bin" "$pkg/usr/bin/loket"
strip --strip-unneeded --remove-section=.comment --remove-section=.note "$pkg/usr/bin/loket"

# The unit: packaging/loket.service, run from /usr/bin.
install -d "$pkg/lib/systemd/system"
sed 's|^ExecStart=/usr/local/bin/loket |ExecStart=/usr/bin/loket |' packaging/loket.service \
    >"$pkg/lib/systemd/system/loket.service"
grep -q '^ExecStart=/usr/bin/loket run ' "$pkg/lib/systemd/system/loket.service" ||
    die "packaging/loket.service: no ExecStart=/usr/local/bin/loket line to point at /usr/bin"
chmod 0644 "$pkg/lib/systemd/system/loket.service"

# The conffile: exactly what `loket init` writes (it creates the file 0640).
install -d -m 0750 "$pkg/etc/loket"
"$bin" init --lang id "$pkg/etc/loket/loket.toml" >/dev/null
chmod 0640 "$pkg/etc/loket/loket.toml"

# Man pages and completions from the clap definitions.
"$gen" "$work/gen"
install -d "$pkg/usr/share/man/man1"
for page in "$work"/gen/man/*.1; do
    gzip -9n <"$page" >"$pkg/usr/share/man/man1/${page##*/}.gz"
done
[[ -s $pkg/usr/share/man/man1/loket.1.gz ]] || die "dist_assets wrote no loket.1"
install -D -m 0644 "$work/gen/completions/loket.bash" "$pkg/usr/share/bash-completion/completions/loket"
install -D -m 0644 "$work/gen/completions/_loket" "$pkg/usr/share/zsh/vendor-completions/_loket"
install -D -m 0644 "$work/gen/completions/loket.fish" "$pkg/usr/share/fish/vendor_completions.d/loket.fish"

# Documentation and the operator's kit (Prometheus rules, Grafana dashboard, Postfix example).
doc=$pkg/usr/share/doc/loket
install -d "$doc/examples"
gzip -9n <README.md >"$doc/README.md.gz"
for guide in docs/admin-guide.md docs/technician-card.md docs/requester-note.md; do
    gzip -9n <"$guide" >"$doc/$(basename "$guide").gz"
done
install -m 0644 packaging/prometheus/loket.rules.yml "$doc/examples/"
install -m 0644 packaging/grafana/loket-dashboard.json "$doc/examples/"
# The Postfix example for MDA mode (pipe to `loket ingest`): master.cf, main.cf, transport.
install -d "$doc/examples/postfix"
install -m 0644 packaging/postfix/master.cf packaging/postfix/main.cf packaging/postfix/transport \
    "$doc/examples/postfix/"
cat >"$doc/copyright" <<'EOF'
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: loket
Comment: Built from the Loket repository by scripts/package.sh. The binary links Rust crates
 from crates.io under their own licences (see Cargo.lock in the source).

Files: *
Copyright: the Loket authors
License: see the Loket source repository
EOF

# Control files.
install -d -m 0755 "$pkg/DEBIAN"
echo /etc/loket/loket.toml >"$pkg/DEBIAN/conffiles"

# Library dependencies of the binary, as dpkg-shlibdeps sees them (it wants a debian/control).
mkdir -p "$work/shlibs/debian"
printf 'Source: loket\n\nPackage: loket\nArchitecture: any\n' >"$work/shlibs/debian/control"
shlibs=$(cd "$work/shlibs" && dpkg-shlibdeps -O "$pkg/usr/bin/loket" 2>/dev/null |
    sed -n 's/^shlibs:Depends=//p')
[[ -n $shlibs ]] || die "dpkg-shlibdeps found no dependencies for usr/bin/loket"

# The changelog Debian wants next to the copyright: which commit this is, dated by it.
maintainer="${DEBFULLNAME:-Loket maintainers} <${DEBEMAIL:-loket@localhost}>"
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
date_r=$(git log -1 --format=%cD 2>/dev/null || date -R)
git diff --quiet HEAD 2>/dev/null || commit="$commit with local changes"
printf 'loket (%s) unstable; urgency=medium\n\n  * Built by scripts/package.sh from commit %s.\n\n -- %s  %s\n' \
    "$debversion" "$commit" "$maintainer" "$date_r" | gzip -9n >"$doc/changelog.Debian.gz"

installed_kb=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
cat >"$pkg/DEBIAN/control" <<EOF
Package: loket
Version: $debversion
Architecture: $arch
Maintainer: $maintainer
Installed-Size: $installed_kb
Depends: $shlibs, passwd
Section: mail
Priority: optional
Homepage: https://example.invalid/loket
Description: e-mail driven IT helpdesk daemon
 Users mail the helpdesk address; Loket turns each new mail into a ticket,
 acknowledges it with a tag like [HD-42] and threads replies back onto their
 ticket. One binary, one SQLite database, IMAP in and SMTP out.
 .
 The service is installed but neither enabled nor started: edit
 /etc/loket/loket.toml, check it with "loket check", then enable it with
 "systemctl enable --now loket".
EOF

cat >"$pkg/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# loket postinst: the system user, the modes of /etc/loket, the state directory, systemd.
set -e

if [ "$1" = configure ]; then
    if ! getent group loket >/dev/null; then
        groupadd --system loket
    fi
    if ! getent passwd loket >/dev/null; then
        useradd --system --gid loket --home-dir /var/lib/loket --no-create-home \
            --shell /usr/sbin/nologin --comment "Loket e-mail helpdesk" loket
    fi
    # Registered overrides: dpkg keeps these owners and modes across upgrades.
    for spec in "0750 /etc/loket" "0640 /etc/loket/loket.toml"; do
        mode=${spec% *}; path=${spec#* }
        if ! dpkg-statoverride --list "$path" >/dev/null 2>&1; then
            dpkg-statoverride --update --add root loket "$mode" "$path"
        fi
    done
    # The database's directory: not a file of the package, so removing the package never
    # touches it. Only the directory itself is set, never what is in it.
    if [ ! -d /var/lib/loket ]; then
        install -d -m 0700 -o loket -g loket /var/lib/loket
    else
        chown loket:loket /var/lib/loket
        chmod 0700 /var/lib/loket
    fi
fi

# As dh_installsystemd --no-enable writes it: remember the unit, restart it on upgrade if running.
if [ "$1" = configure ] || [ "$1" = abort-upgrade ] || [ "$1" = abort-deconfigure ] || [ "$1" = abort-remove ]; then
    deb-systemd-helper unmask loket.service >/dev/null || true
    if deb-systemd-helper --quiet was-enabled loket.service; then
        deb-systemd-helper enable loket.service >/dev/null || true
    else
        deb-systemd-helper update-state loket.service >/dev/null || true
    fi
    if [ -d /run/systemd/system ]; then
        systemctl --system daemon-reload >/dev/null || true
        if [ -n "$2" ]; then
            deb-systemd-invoke try-restart loket.service >/dev/null || true
        fi
    fi
fi

if [ "$1" = configure ] && [ -z "$2" ]; then
    cat <<'MSG'
loket: installed, not started. Next:
  $EDITOR /etc/loket/loket.toml          # addresses, servers, technicians, managers
  runuser -u loket -- loket check --config /etc/loket/loket.toml
  systemctl enable --now loket
MSG
fi
exit 0
EOF

cat >"$pkg/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# loket prerm: stop the service before its binary goes (an upgrade restarts it in postinst).
set -e
if [ -d /run/systemd/system ] && [ "$1" = remove ]; then
    deb-systemd-invoke stop loket.service >/dev/null || true
fi
exit 0
EOF

cat >"$pkg/DEBIAN/postrm" <<'EOF'
#!/bin/sh
# loket postrm: purge removes the config in /etc/loket, never the database in /var/lib/loket.
set -e
if [ "$1" = remove ] && [ -d /run/systemd/system ]; then
    systemctl --system daemon-reload >/dev/null || true
fi
if [ "$1" = purge ]; then
    if command -v deb-systemd-helper >/dev/null; then
        deb-systemd-helper purge loket.service >/dev/null || true
    fi
    for path in /etc/loket/loket.toml /etc/loket; do
        if dpkg-statoverride --list "$path" >/dev/null 2>&1; then
            dpkg-statoverride --remove "$path"
        fi
    done
    # Everything in /etc/loket is configuration: loket.toml, password files, template overrides.
    rm -rf /etc/loket
    if [ -d /var/lib/loket ]; then
        echo "loket: purge kept /var/lib/loket, the ticket database (and the user loket that owns it)."
        echo "loket: to delete every ticket and mail for good: rm -r /var/lib/loket"
    fi
fi
exit 0
EOF
chmod 0755 "$pkg/DEBIAN/postinst" "$pkg/DEBIAN/prerm" "$pkg/DEBIAN/postrm"
chmod 0644 "$pkg/DEBIAN/control" "$pkg/DEBIAN/conffiles"

# md5sums as dh_md5sums writes them: every file but the conffiles (dpkg keeps their sums itself).
(cd "$pkg" && find . \( -path ./DEBIAN -o -path ./etc \) -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
    xargs -0 md5sum >DEBIAN/md5sums)
chmod 0644 "$pkg/DEBIAN/md5sums"

mkdir -p "$out"
deb=$out/loket_${debversion}_$arch.deb
# --root-owner-group: every file root:root in the archive, whoever builds; postinst sets the
# group loket. xz for a release; a quick gzip for the test's debug build.
compress=(-Zxz)
[[ $profile == debug ]] && compress=(-Zgzip -z1)
dpkg-deb --root-owner-group "${compress[@]}" --build "$pkg" "$deb" >/dev/null
info "built $deb ($(du -h "$deb" | cut -f1), $profile)"
echo "$deb"
