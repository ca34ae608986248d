#!/usr/bin/env bash
# Coverage-guided fuzzing: every target of fuzz/Cargo.toml (or those named) for
# FUZZ_SECONDS each under libFuzzer. Seeds: tests/fuzz/corpus/TARGET/ and
# tests/fuzz/regressions/TARGET/ (read only) plus the real files the structured fuzzer
# also uses, copied at run time into fuzz/corpus/TARGET/, which keeps what libFuzzer
# finds between runs (ignored by git). An input that crashes, hangs (over 5 s) or
# outgrows 1 GiB is copied into tests/fuzz/regressions/TARGET/, which every test run
# replays (tests/integration/fuzz.rs). Needs the nightly toolchain and cargo-fuzz.
# Usage: fuzz/run.sh [TARGET...]; FUZZ_SECONDS=60, FUZZ_NICE=15.
set -uo pipefail
cd "$(dirname "$0")/.."
seconds="${FUZZ_SECONDS:-60}"
nice="${FUZZ_NICE:-15}"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  mapfile -t targets < <(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^facecam-fuzz$')
fi
fuzz=(nice -n "$nice" cargo +nightly fuzz)
# No sanitizer: the targets are safe Rust, where libFuzzer's own checks (panics, the
# time and memory limits, a malloc over the limit) are the failures; ASan would also
# have to live beside libtorch's uninstrumented C++ in every binary.
opts=(--sanitizer none --release --debug-assertions --target-dir fuzz/target)
"${fuzz[@]}" build "${opts[@]}" || exit 1
bins="fuzz/target/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"

# The real files a target starts from besides its corpus folder (as the structured fuzzer).
extra_seeds() {
  case "$1" in
    voc) ls samples/street/*.xml ;;
    onnx) echo models/facecam-int8.onnx ;;
    mat) ls ../shared/data/widerface-val-gt/ground_truth/wider_easy_val.mat 2>/dev/null ;;
  esac
}

failed=()
for t in "${targets[@]}"; do
  corpus="fuzz/corpus/$t" artifacts="fuzz/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  extra_seeds "$t" | while read -r f; do cp -n "$f" "$corpus/"; done
  seeds=()
  for d in "tests/fuzz/corpus/$t" "tests/fuzz/regressions/$t"; do
    [ -d "$d" ] && seeds+=("$d")
  done
  echo "== $t: $seconds s"
  # The binary itself: `cargo fuzz run` would check the build again for every target.
  nice -n "$nice" "$bins/$t" "$corpus" "${seeds[@]}" \
    -max_total_time="$seconds" -timeout=5 -rss_limit_mb=1024 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" 2>&1 | tee "fuzz/artifacts/$t.log" | grep -E '^(#[0-9]+|==[0-9]+==|stat::|SUMMARY|Done)' | tail -n 8
  for f in "$artifacts"/crash-* "$artifacts"/timeout-* "$artifacts"/oom-*; do
    [ -e "$f" ] || continue
    mkdir -p "tests/fuzz/regressions/$t"
    # Moved, so a later run reports only what it found itself.
    mv "$f" "tests/fuzz/regressions/$t/"
    echo "$t: $f saved as tests/fuzz/regressions/$t/$(basename "$f")"
    failed+=("$t")
  done
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "failing inputs found (tests/fuzz/regressions/): ${failed[*]}" >&2
  exit 1
fi
echo "no failing input in ${#targets[@]} target(s)"
