#!/usr/bin/env bash
# fuzz.sh: fuzz the whole inbound path (parse, dedupe, thread, rules, decide, store, outbox) with
# libFuzzer via cargo-fuzz, seeded from the real-world corpus in tests/corpus.
#
#   scripts/fuzz.sh [SECONDS]        # default 1800 (30 minutes)
#
# cargo-fuzz wants a nightly toolchain; this machine has stable rustc only. RUSTC_BOOTSTRAP=1 lets
# stable accept the unstable flags cargo-fuzz passes, and `-s none` leaves out the sanitizer
# runtime (not shipped with stable): coverage-guided fuzzing with panics as findings, without ASan
# (the code under test is safe Rust; bundled SQLite is C, and its memory errors would go unseen).
# Findings land in fuzz/artifacts/inbound/; once fixed, keep each as a regression file under
# tests/corpus/fuzz/ (name it *.eml), which tests/corpus.rs walks with the rest of the corpus.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
cd "$ROOT/fuzz"
SECONDS_TO_RUN=${1:-1800}
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

# Seeds: every corpus file, renamed after its path so equal names in different folders survive.
SEEDS=corpus/inbound
mkdir -p "$SEEDS"
find "$ROOT/tests/corpus" -type f -name '*.eml' | while read -r f; do
    rel=${f#"$ROOT/tests/corpus/"}
    cp "$f" "$SEEDS/${rel//\//_}"
done

export RUSTC_BOOTSTRAP=1
cargo fuzz build -s none --release inbound
# -rss_limit_mb: the store is rebuilt every 5,000 inputs; 2 GB is far above what it needs.
cargo fuzz run -s none --release inbound "$SEEDS" -- \
    -max_total_time="$SECONDS_TO_RUN" -rss_limit_mb=2048 -max_len=262144 -print_final_stats=1
