#!/usr/bin/env bash
# bench.sh: Loket's benchmark against the real mail stack (issue 9), in one command.
#
#   scripts/bench.sh                       # the full run (about 15 minutes on 2 cores)
#   scripts/bench.sh --messages 2000 --scale 0,100000 --latency-seconds 10   # a quick one
#   scripts/bench.sh --no-write ...        # print the report, leave BENCHMARKS.md alone
#   scripts/bench.sh --no-write --messages 2000 --only null --rounds 3   # loket run against the
#                                          # null helpdesk alone, alternating, median of 3 rounds
#   scripts/bench.sh --peer roundup --only mda   # MDA mode, one process per mail, beside Roundup
#                                          # 2.6.0's mail gateway over the same files (PyPI, a venv)
#   scripts/bench.sh --peer roundup --messages 1000 --only peer --rounds 3   # over IMAP: Roundup's
#                                          # gateway and loket run, alternating; --roundup-users new
#                                          # makes every requester new to Roundup (default: known)
#
# Builds the release binary and examples/bench.rs, starts a private mail stack
# (scripts/mailstack.sh) on free loopback ports, runs the benchmark against it, stops the stack and
# rewrites the benchmark's own section of BENCHMARKS.md (between its markers; everything else in the
# file is kept). Every other option is passed to the benchmark: see
# `target/release/examples/bench --help` (--messages, --rate, --latency-seconds, --idle-tickets,
# --scale, --scale-messages, --only, --rounds, --preload). Run as root, like scripts/test.sh.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

write=1
peer=
args=()
while (($#)); do
    case $1 in
    --no-write) write=0 ;;
    --peer) peer=${2:?--peer NAME (roundup)}; shift ;;
    --peer=*) peer=${1#--peer=} ;;
    *) args+=("$1") ;;
    esac
    shift
done
cmd_args=("${args[@]}")

bash scripts/install-deps.sh >&2

# The peer: Roundup 2.6.0 from PyPI in a virtual environment of its own, made once and kept
# (LOKET_PEER_DIR, default /var/tmp/loket-peers) so that later runs do not download it again.
case $peer in
'') ;;
roundup)
    venv=${LOKET_PEER_DIR:-/var/tmp/loket-peers}/roundup-2.6.0
    echo "bench.sh: Roundup 2.6.0 in $venv" >&2
    bash scripts/peer-roundup.sh venv "$venv" >&2
    args+=(--roundup "$venv")
    ;;
*) echo "bench.sh: --peer $peer: the peer known is roundup" >&2; exit 2 ;;
esac

echo "bench.sh: building (release)" >&2
cargo build --release --bin loket --example bench >&2

dir=$(mktemp -d /tmp/loket-bench-stack.XXXXXX)
# The mailboxes the mail stack delivers into (DIR/mail: Maildirs and Dovecot's indexes) go on a tmpfs
# of their own; Postfix's queue, which it fsyncs before it answers 250, stays on the disk, and so does
# Loket's database. On the disk, every delivery to a new mailbox made ext4 search its inode tables
# past the inodes that earlier runs and tests had deleted: perf showed that search as the largest
# single cost of the whole backlog run, and it depends on the history of the disk, not on Postfix,
# Dovecot or Loket (Dovecot already runs with mail_fsync=never: these mailboxes are throw-away).
# Without root (no mount) everything stays on the disk; the report names the file systems.
mounted=0
mkdir "$dir/mail"
if mount -t tmpfs -o size=8g,mode=0700 loket-bench-mail "$dir/mail" 2>/dev/null; then
    mounted=1
else
    echo "bench.sh: could not mount a tmpfs for the mailboxes; they stay on $(stat -f -c %T "$dir")" >&2
fi
cleanup() {
    bash scripts/mailstack.sh stop "$dir" >/dev/null 2>&1 || true
    if ((mounted)); then umount "$dir/mail" 2>/dev/null || true; fi
    rm -rf -- "$dir"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A port found free can be taken by someone else before the servers bind it: retry with new ones.
for attempt in 1 2 3; do
    if IMAP_PORT=$(free_port) IMAPS_PORT=$(free_port) LMTP_PORT=$(free_port) SMTP_PORT=$(free_port) \
        bash scripts/mailstack.sh start "$dir" >&2; then
        break
    fi
    ((attempt < 3)) || { echo "bench.sh: the mail stack did not start (3 attempts)" >&2; exit 1; }
    echo "bench.sh: mail stack start failed, retrying with other ports" >&2
done

cmd="scripts/bench.sh${peer:+ --peer $peer}$( ((write)) || printf ' --no-write')${cmd_args[*]:+ ${cmd_args[*]}}"
update=()
((write)) && update=(--update "$ROOT/BENCHMARKS.md")
target/release/examples/bench --stack "$dir" --loket "$ROOT/target/release/loket" \
    --command "$cmd" "${update[@]}" "${args[@]}"
