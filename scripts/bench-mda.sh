#!/usr/bin/env bash
# bench-mda.sh: `loket ingest` (MDA mode, one process per mail) for a new request and for a
# duplicate, as in BENCHMARKS.md "MDA mode: one process per mail".
#
#   scripts/bench-mda.sh NEW_BINARY [OLD_BINARY]
#
# Prints callgrind's instruction count of each case for each binary: a count that does not move
# with the machine's load. Wall times per process come from the benchmark program, over the
# generated stream of requests and replies: `scripts/bench.sh --no-write --only mda`.
# Works in a scratch folder of its own; needs valgrind. No mail server is involved: `loket
# ingest` only writes the store and the outbox.
set -euo pipefail
NEW=$(realpath "${1:?usage: $0 NEW_BINARY [OLD_BINARY]}")
OLD=${2:+$(realpath "$2")}
DIR=$(mktemp -d -t loket-mda-XXXXXX)
trap 'rm -rf "$DIR"' EXIT
cd "$DIR"

# mail.sh N: a new request with Message-ID <mda.N@example.test>.
cat >mail.sh <<'EOF'
#!/usr/bin/env bash
printf 'From: Rina <rina%s@example.test>\r\nTo: helpdesk@example.test\r\nSubject: Printer lantai 3 rusak %s\r\nMessage-ID: <mda.%s@example.test>\r\nDate: Thu, 03 Dec 2026 09:00:00 +0700\r\n\r\nPrinter di lantai 3 tidak bisa mencetak sejak pagi.\r\n' "$1" "$1" "$1"
EOF
chmod +x mail.sh

config() { # config NAME: a store of its own per binary
    cat >"$1.toml" <<EOF
[helpdesk]
address = "helpdesk@example.test"
[imap]
host = "127.0.0.1"
port = 1143
tls = "none"
username = "helpdesk@example.test"
password = "x"
[smtp]
host = "127.0.0.1"
port = 2525
tls = "none"
[database]
path = "$DIR/$1.db"
[security]
require_authenticated_commands = false
EOF
}
./mail.sh 0 >dup.eml
./mail.sh 5000 >new.eml
for b in new ${OLD:+old}; do
    bin=$NEW; [[ $b == old ]] && bin=$OLD
    config "$b"
    "$bin" ingest --config "$b.toml" <dup.eml >/dev/null 2>&1 # the duplicate's first copy
    for case in dup new; do
        n=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" ingest --config "$b.toml" \
            <"$case.eml" 2>&1 | sed -n 's/.*Collected : //p')
        echo "$b binary, $case: $n instructions"
    done
done
