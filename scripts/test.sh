#!/usr/bin/env bash
# test.sh: every test of Loket, on a fresh Debian machine, as root.
#
#   scripts/test.sh [extra cargo test arguments]
#
# Installs what the end-to-end tests need (scripts/install-deps.sh: Dovecot, Postfix, openssl, the
# user vmail; a no-op when present), then runs `cargo test` over the unit tests, the corpus test and
# the end-to-end tests. Each end-to-end test binary starts its own private mail stack on free
# loopback ports (scripts/mailstack.sh) and stops it when it ends; nothing listens elsewhere.
# Then scripts/test-package.sh builds the Debian package, installs, checks and purges it, and checks
# the Prometheus rules and Grafana dashboard (about a minute after cargo test), and
# scripts/test-demo.sh runs the quick-start with the debug binary cargo test built and its tour,
# scripts/demo.sh, against it (about 20 s). With arguments (`scripts/test.sh --test foundation`)
# only cargo test runs, with them.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT"

((EUID == 0)) || { echo "test.sh: must run as root (installs packages, starts mail servers)" >&2; exit 1; }
scripts/install-deps.sh
# --locked: the committed Cargo.lock is what is tested.
cargo test --locked "$@"
if (($# == 0)); then
    scripts/test-package.sh
    # cargo test built target/debug/loket for the end-to-end tests (CARGO_BIN_EXE_loket).
    LOKET_BIN=target/debug/loket scripts/test-demo.sh
fi
