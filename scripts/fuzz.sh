#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz (clang, AddressSanitizer + UndefinedBehaviorSanitizer,
# the whole library instrumented, in a build folder of their own) and runs each for a while on a
# corpus seeded from the project's real files (`make fuzz`; docs/reliability.md, "Fuzzing").
#
#   scripts/fuzz.sh [--seconds N] [--build-only] [TARGET...]     (default: every target)
#
# Environment: FUZZ_SECONDS per target (60; --seconds wins), FUZZ_BUILD_DIR (build-fuzz), JOBS
# (nproc), WERROR (ON), FUZZ_CC / FUZZ_CXX (clang-14 / clang++-14), TMPDIR (where the targets
# write their inputs; /dev/shm when unset).
# Under FUZZ_BUILD_DIR/fuzz: corpus/TARGET (the seeds, plus what libFuzzer found worth keeping,
# kept from run to run), findings/TARGET (crash-*, leak-*, timeout-*, oom-*: the inputs that
# failed) and logs/TARGET.log. Prints, per target, the executions (libFuzzer's final
# stat::number_of_executed_units), the seconds and the result. Exit status: 0 nothing found,
# 1 a target found something, 2 bad usage or a failed build.
# Replay: FUZZ_BUILD_DIR/tests/fuzz/TARGET_fuzz FILE... runs the given inputs once each (e.g. a
# finding, or tests/fuzz/regressions/TARGET/*); `ctest -L fuzz` in FUZZ_BUILD_DIR replays every
# tests/fuzz/regressions folder.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${FUZZ_BUILD_DIR:-build-fuzz}"
[[ "$build" == /* ]] || build="$root/$build"
seconds="${FUZZ_SECONDS:-60}"
jobs="${JOBS:-$(nproc)}"
build_only=0
targets=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --seconds) seconds="${2:?--seconds needs a number}"; shift 2 ;;
    --build-only) build_only=1; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fuzz: error: unknown option $1 (see --help)" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
[[ "$seconds" =~ ^[1-9][0-9]*$ ]] || { echo "fuzz: error: seconds must be a positive integer, not '$seconds'" >&2; exit 2; }

# --- build ----------------------------------------------------------------------------------
# The library is instrumented through CMAKE_CXX_FLAGS (coverage for libFuzzer, ASan, UBSan with
# every report fatal); the targets add libFuzzer's main() at link time (tests/fuzz/CMakeLists.txt).
flags="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"
if [[ ! -f "$build/build.ninja" ]]; then
  CC="${FUZZ_CC:-clang-14}" CXX="${FUZZ_CXX:-clang++-14}" cmake -S "$root" -B "$build" -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_FLAGS="$flags" -DLORAFT_WERROR="${WERROR:-ON}" \
    -DLORAFT_FUZZ=ON -DLORAFT_BUILD_TESTS=OFF -DLORAFT_BUILD_APPS=OFF -DLORAFT_BUILD_BENCH=OFF ||
    { echo "fuzz: error: configuring $build failed (clang missing? scripts/install-deps.sh --fuzz)" >&2; exit 2; }
fi
[[ -f "$build/tests/fuzz/targets.txt" ]] ||
  { echo "fuzz: error: $build is not a fuzz build (configured without LORAFT_FUZZ=ON): use another FUZZ_BUILD_DIR" >&2; exit 2; }
mapfile -t all < "$build/tests/fuzz/targets.txt"
[[ ${#targets[@]} -gt 0 ]] || targets=("${all[@]}")
for t in "${targets[@]}"; do
  [[ " ${all[*]} " == *" $t "* ]] || { echo "fuzz: error: no target '$t' (targets: ${all[*]})" >&2; exit 2; }
done
cmake --build "$build" -j "$jobs" --target "${targets[@]/%/_fuzz}" || { echo "fuzz: error: build failed" >&2; exit 2; }
[[ $build_only == 0 ]] || exit 0

# --- seeds ----------------------------------------------------------------------------------
out="$build/fuzz"
mkdir -p "$out/corpus" "$out/findings" "$out/logs"
n=0
seed() {  # seed DIR FILE...: copies files into the corpus DIR
  local dir=$1 f
  shift
  for f in "$@"; do
    n=$((n + 1))
    cp "$f" "$dir/seed-$n-$(basename "$f")"
  done
}
seed_with_byte() {  # seed_with_byte DIR OCTAL FILE...: the file's bytes plus one option byte
  local dir=$1 byte=$2 f
  shift 2
  for f in "$@"; do
    n=$((n + 1))
    { cat "$f"; printf '%b' "\\0$byte"; } > "$dir/seed-$n-$(basename "$f")"
  done
}
slices() {  # slices FILE DIR: a few 25-line pieces of a large text file, as files in DIR
  local file=$1 dir=$2 start
  mkdir -p "$dir"
  for start in 1 200 400 800; do
    sed -n "${start},$((start + 24))p" "$file" > "$dir/$(basename "$file" .csv)-$start.csv"
  done
}
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
fixtures="$root/tests/fixtures"
samples="$root/data/samples"
slices "$samples/ag_news/train.csv" "$scratch/ag"
slices "$samples/ag_news/test.csv" "$scratch/ag"
mapfile -t ag_slices < <(find "$scratch/ag" -type f | sort)

seeds_for() {  # seeds_for TARGET DIR
  local t=$1 dir=$2 f b64 a b
  case "$t" in
    safetensors) mapfile -t f < <(find "$fixtures" -name '*.safetensors' | sort); seed "$dir" "${f[@]}" ;;
    json)
      mapfile -t f < <(find "$fixtures" "$root/paper/profiles" "$root/data/models" \( -name '*.json' -o -name '*.jsonl' \) -size -64k | sort)
      seed "$dir" "${f[@]}" ;;
    model_config) mapfile -t f < <(find "$fixtures" "$root/data/models" -name config.json | sort); seed "$dir" "${f[@]}" ;;
    adapter_config) mapfile -t f < <(find "$fixtures" -name adapter_config.json | sort); seed "$dir" "${f[@]}" ;;
    vocab) mapfile -t f < <(find "$fixtures" "$root/data/models" -name vocab.txt | sort); seed "$dir" "${f[@]}" ;;
    bert_tokenizer)
      # The crafted and fuzz cases of the tokenizer fixtures (each text one seed), the pairs
      # (text NUL text_pair) and a few reviews.
      while read -r b64; do
        n=$((n + 1)); base64 -d <<< "$b64" > "$dir/seed-$n-case"
      done < <(jq -r 'select(.source == "crafted" or .source == "fuzz") | .text | @base64' "$fixtures/tokenizer/cases.jsonl")
      while read -r a b; do
        n=$((n + 1)); { base64 -d <<< "$a"; printf '\0'; base64 -d <<< "$b"; } > "$dir/seed-$n-pair"
      done < <(jq -r '[.text, .text_pair] | map(@base64) | join(" ")' "$fixtures/tokenizer/pairs.jsonl")
      mapfile -t f < <(find "$samples/imdb/train/neg" -name '*.txt' | sort | head -n 5); seed "$dir" "${f[@]}" ;;
    csv) seed_with_byte "$dir" 000 "${ag_slices[@]}" ;;  # ',' with quoting
    table)
      seed_with_byte "$dir" 014 "${ag_slices[@]}"  # CSV without header, classes by name (12)
      seed_with_byte "$dir" 022 "$fixtures/distilbert-tiny/inputs.jsonl"  # JSON lines, unlabelled (18)
      ;;
    ag_news) seed "$dir" "${ag_slices[@]}" ;;
    imdb)
      mapfile -t f < <(find "$samples/imdb/train/neg" "$samples/imdb/train/pos" -name '*.txt' | sort | head -n 20)
      for a in "${f[@]}"; do
        n=$((n + 1)); { basename "$a"; cat "$a"; } > "$dir/seed-$n-review"
      done ;;
    token_cache) ;;  # the target writes a valid cache into the corpus itself (LORAFT_FUZZ_SEED_DIR)
    run_metrics) seed "$dir" "$root"/tests/fuzz/seeds/run_metrics/* "$fixtures/distilbert-tiny/inputs.jsonl" ;;
    run_summary) seed "$dir" "$root"/tests/fuzz/seeds/run_summary/* "$fixtures/manifest.json" ;;
    paper_profile) seed "$dir" "$root"/paper/profiles/*.json ;;
  esac
  # Every input that once failed is a seed too.
  if [[ -d "$root/tests/fuzz/regressions/$t" ]]; then
    seed "$dir" "$root/tests/fuzz/regressions/$t"/*
  fi
}

max_len_for() {
  case "$1" in
    safetensors|vocab) echo 262144 ;;   # whole weights files and the 30,522-token vocab.txt
    json|adapter_config|csv|table|ag_news|token_cache) echo 65536 ;;
    *) echo 16384 ;;
  esac
}

uses_json_dict() {
  case "$1" in
    json|model_config|adapter_config|safetensors|table|run_metrics|run_summary|paper_profile) return 0 ;;
    *) return 1 ;;
  esac
}

# --- fuzzing --------------------------------------------------------------------------------
export LORAFT_NUM_THREADS=1 OMP_NUM_THREADS=1 LORAFT_LOG=error
# The targets write every input to a file under $TMPDIR: in memory that is several times faster.
# A folder of this run's own, removed at the end, also takes what a crashed target leaves behind.
if [[ -z "${TMPDIR:-}" && -d /dev/shm && -w /dev/shm ]]; then TMPDIR=/dev/shm; fi
TMPDIR=$(mktemp -d "${TMPDIR:-/tmp}/loraft-fuzz.XXXXXX")
export TMPDIR
trap 'rm -rf "$scratch" "$TMPDIR"' EXIT
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}"
# Leaks inside libhdf5 itself on damaged files (the reason is in the file).
export LSAN_OPTIONS="${LSAN_OPTIONS:-suppressions=$root/tests/fuzz/lsan.supp}"
results=()
found=0
for t in "${targets[@]}"; do
  corpus="$out/corpus/$t"
  findings="$out/findings/$t"
  log="$out/logs/$t.log"
  mkdir -p "$corpus" "$findings"
  seeds_for "$t" "$corpus"
  before=$(find "$findings" -type f | wc -l)
  args=(-max_total_time="$seconds" -max_len="$(max_len_for "$t")" -rss_limit_mb=4096 -timeout=10
        -print_final_stats=1 -artifact_prefix="$findings/")
  if uses_json_dict "$t"; then args+=(-dict="$root/tests/fuzz/json.dict"); fi
  echo "== $t: ${seconds} s, corpus $corpus" >&2
  start=$SECONDS
  status=0
  LORAFT_FUZZ_SEED_DIR="$corpus" "$build/tests/fuzz/${t}_fuzz" "${args[@]}" "$corpus" > "$log" 2>&1 || status=$?
  took=$((SECONDS - start))
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | tail -n 1 | grep -o '[0-9]*$' || true)
  new=$(($(find "$findings" -type f | wc -l) - before))
  if [[ $status -eq 0 && $new -eq 0 ]]; then
    result=ok
  else
    found=1
    result="FOUND (exit $status): $(sed -n 's/.*Test unit written to //p' "$log" | tr '\n' ' ')see $log"
  fi
  results+=("$(printf '%-16s %12s %6s  %s' "$t" "${execs:--}" "$took" "$result")")
done

printf '%-16s %12s %6s  %s\n' target executions secs result
printf '%s\n' "${results[@]}"
if [[ $found == 1 ]]; then
  echo "fuzz: findings (inputs under $out/findings; replay one with $build/tests/fuzz/TARGET_fuzz FILE)" >&2
  exit 1
fi
echo "fuzz: nothing found in ${#targets[@]} target(s), ${seconds} s each" >&2
