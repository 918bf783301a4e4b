#!/usr/bin/env bash
# Runs every fuzz target of Qualify for a bounded time each (default 60 s), then lists
# what was found. Two modes, picked by what the machine has:
#
#   coverage-guided  needs a nightly toolchain (`rustup toolchain list` shows one) and
#                    cargo-fuzz (`cargo install cargo-fuzz`): libFuzzer with
#                    AddressSanitizer, the seed corpus in seeds/, dictionaries in dicts/,
#                    fork mode so one crash or hang does not end the run
#   smoke            stable Rust only: the `smoke` binary, random and mutated inputs
#                    from a seeded RNG, no coverage guidance
#
#   fuzz/run.sh [SECONDS] [TARGET...]     # MODE=smoke or MODE=libfuzzer to choose
#
# Crashes and hangs are saved under fuzz/artifacts/TARGET/; replay one with
#   cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/crash-...        (libFuzzer)
# A longer run of one target: fuzz/run.sh 3600 script
#   cargo run --release --no-default-features --features smoke --bin smoke -- \
#       --replay TARGET fuzz/artifacts/TARGET/crash-...                    (stable)
# Exit status: 0 when nothing was found, 1 otherwise. Nothing is installed here.
set -uo pipefail
cd "$(dirname "$0")"
SECONDS_EACH=${1:-60}
shift || true
TARGETS=("$@")
ALL=(extract redact sms webhook score_lead script http)
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL[@]}")

dict_of() {
  case $1 in
    script) echo dicts/rhai.dict ;;
    webhook | score_lead | http) echo dicts/json.dict ;;
    *) echo "" ;;
  esac
}

mode=${MODE:-}
if [ -z "$mode" ]; then
  if rustup toolchain list 2>/dev/null | grep -q '^nightly' && cargo fuzz --version >/dev/null 2>&1; then
    mode=libfuzzer
  else
    mode=smoke
    echo "run.sh: no nightly toolchain or no cargo-fuzz (cargo install cargo-fuzz): running the stable smoke mode" >&2
  fi
fi
echo "run.sh: $mode mode, ${SECONDS_EACH} s per target: ${TARGETS[*]}"

found=0
if [ "$mode" = libfuzzer ]; then
  # Built once, then each binary run directly: `cargo fuzz run` would rebuild whenever a
  # source file changed meanwhile, and that time would come out of nobody's budget.
  cargo +nightly fuzz build -O --debug-assertions || exit 2
  BIN_DIR="target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
  for t in "${TARGETS[@]}"; do
    mkdir -p "corpus/$t" "artifacts/$t"
    seeds=()
    [ -d "seeds/$t" ] && seeds=("seeds/$t")
    dict=$(dict_of "$t")
    args=(-max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=4096 -fork=1
      -ignore_crashes=1 -ignore_timeouts=1 -ignore_ooms=1 -print_final_stats=1
      -artifact_prefix="artifacts/$t/")
    [ -n "$dict" ] && args+=(-dict="$dict")
    echo "== $t"
    "$BIN_DIR/$t" "${args[@]}" "corpus/$t" "${seeds[@]}" > "artifacts/$t.log" 2>&1
    # Fork mode's last progress line: executions, coverage, corpus, exec/s, oom/timeout/crash.
    grep -E '^#[0-9]+: cov' "artifacts/$t.log" | tail -1
  done
else
  cargo build --release --no-default-features --features smoke --bin smoke || exit 2
  for t in "${TARGETS[@]}"; do
    # One process per target: a hang ends that target's run, not the others'.
    ./target/release/smoke --seconds "$SECONDS_EACH" "$t" 2> "artifacts-$t.log" || true
    mkdir -p "artifacts/$t" && mv "artifacts-$t.log" "artifacts/$t.log"
  done
fi

echo "== found"
for t in "${TARGETS[@]}"; do
  n=$(find "artifacts/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) 2>/dev/null | wc -l)
  echo "$t: $n"
  find "artifacts/$t" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'timeout-*' -o -name 'oom-*' -o -name 'leak-*' \) 2>/dev/null | head -5 | sed 's/^/  /'
  [ "$n" -gt 0 ] && found=1
done
exit $found
