#!/usr/bin/env bash
# The GPU check, as one script: build loraft against the GPU machine's own PyTorch (its
# package holds LibTorch and its CMake config), run the CUDA tests and the CPU suite, the
# model benchmark on CUDA (float32 and bf16) beside the same shapes through that machine's
# PyTorch + transformers + PEFT, and the paper's gpu-smoke and mini profiles on the GPU.
# Everything it measures goes to OUT (the device tool's $OUT), with a log per step.
#
#   scripts/device-check.sh --prepare        here, once: the Debian 12 packages the GPU machine
#                                            lacks, as .deb files in .device/debs (git-ignored)
#   scripts/device-check.sh [--out DIR] [--skip STEP]... [--local]
#                                            on the GPU machine (carry .device); STEP is one of
#                                            build tests bench reference distributed paper
#
# --local runs the same steps here against this machine's packages and LibTorch, on the CPU
# where the step allows (a rehearsal of the script, not of the GPU). A failing step is logged
# and the script goes on, so that one run on the GPU brings back everything it can; its exit
# status is the number of failed steps.
# The step functions run through step(), which shellcheck cannot see:
# shellcheck disable=SC2317,SC2329
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
debs="$root/.device/debs"
out="${OUT:-$root/.device/out}"
local_run=0
prepare=0
skip=()
die() { echo "device-check: error: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --prepare) prepare=1; shift ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --skip) skip+=("${2:?--skip needs a step}"); shift 2 ;;
    --local) local_run=1; shift ;;
    -h|--help) sed -n '2,18p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done

# What the GPU machine lacks to build loraft: the -dev packages of scripts/install-deps.sh
# other than LibTorch, and the run-time libraries they link (the closure of their Depends,
# less the base system every Linux with a C++ compiler has). gnuplot is left out (its closure
# is large): there the paper's programs write their figures' .gp scripts and skip drawing.
dev_packages=(libhdf5-dev libeigen3-dev libboost-program-options-dev libboost1.74-dev
  libboost-program-options1.74-dev libgtest-dev googletest libbenchmark-dev libutf8proc-dev
  nlohmann-json3-dev libssl-dev libaec-dev zlib1g-dev libcurl4-openssl-dev pkgconf pkgconf-bin jq)
runtime_roots=(libhdf5-103-1 libhdf5-cpp-103-1 libboost-program-options1.74.0 libbenchmark1debian
  libutf8proc2 libssl3 libpkgconf3 libjq1 libonig5)
base_system='^(libc6|libc6-dev|libgcc-s1|libstdc\+\+6|gcc-12-base|libcrypt1|zlib1g|debconf|dpkg|perl-base|tar|install-info|libselinux1|libpcre2-8-0|libzstd1|liblzma5|libbz2-1.0|libmd0|libtinfo6|readline-common|libreadline8)$'

if [[ $prepare == 1 ]]; then
  command -v apt-get >/dev/null || die "--prepare needs apt-get (Debian 12)"
  mkdir -p "$debs"
  mapfile -t closure < <(apt-cache depends --recurse --no-recommends --no-suggests --no-conflicts \
      --no-breaks --no-replaces --no-enhances "${runtime_roots[@]}" 2>/dev/null |
    grep -v '^ ' | grep -v '^<' | sort -u | grep -Ev "$base_system")
  (cd "$debs" && apt-get download "${dev_packages[@]}" "${closure[@]}") >/dev/null ||
    die "apt-get download failed (run apt-get update first)"
  echo "device-check: $(find "$debs" -name '*.deb' | wc -l) packages, $(du -sh "$debs" | cut -f1) in .device/debs" >&2
  exit 0
fi

mkdir -p "$out"
log="$out/device-check.log"
: > "$log"
failed=0
note() { echo "== $*" | tee -a "$log" >&2; }
skipped() { local s; for s in "${skip[@]}"; do [[ $s == "$1" ]] && return 0; done; return 1; }
# step NAME COMMAND...: runs COMMAND with its output in OUT/NAME.log, counts a failure.
step() {
  local name=$1; shift
  if skipped "$name"; then note "$name: skipped"; return 0; fi
  note "$name: $*"
  local t0=$SECONDS
  if "$@" >"$out/$name.log" 2>&1; then
    note "$name: ok ($((SECONDS - t0)) s)"
  else
    note "$name: FAILED ($((SECONDS - t0)) s), see $name.log"; tail -n 20 "$out/$name.log" >&2
    failed=$((failed + 1))
  fi
}

device=cuda
build="$root/build-device"
cmake_args=(-G Ninja -DCMAKE_BUILD_TYPE=Release)
if [[ $local_run == 1 ]]; then
  device=cpu
  build="$root/build"
else
  python=$(command -v python3) || die "no python3 with PyTorch on this machine"
  torch_prefix=$("$python" -c 'import torch; print(torch.utils.cmake_prefix_path)') || die "python3 has no torch"
  # Unpacked into a prefix, not into /: the machine's own system stays as it is.
  prefix=/tmp/loraft-prefix
  [[ -d "$debs" ]] || die ".device/debs missing: run scripts/device-check.sh --prepare here and carry .device"
  mkdir -p "$prefix"
  for f in "$debs"/*.deb; do dpkg-deb -x "$f" "$prefix" 2>/dev/null || dpkg -x "$f" "$prefix"; done
  lib="$prefix/usr/lib/x86_64-linux-gnu"
  export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" LIBRARY_PATH="$lib"
  export PKG_CONFIG_PATH="$lib/pkgconfig:$prefix/usr/share/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$prefix"
  export PATH="$PATH:$prefix/usr/bin"
  cmake_args+=("-DCMAKE_PREFIX_PATH=$torch_prefix;$prefix/usr;$lib/cmake;$prefix/usr/share/cmake"
    "-DHDF5_ROOT=$lib/hdf5/serial" -DHDF5_C_COMPILER_EXECUTABLE=NOTFOUND
    "-DPKG_CONFIG_EXECUTABLE=$prefix/usr/bin/pkgconf" "-DCMAKE_CUDA_ARCHITECTURES=90"
    "-DTORCH_CUDA_ARCH_LIST=9.0")
  export LORAFT_NO_PLOT=1  # no gnuplot there: the .gp scripts come back instead
fi

{
  note "machine"
  uname -a; nproc; free -g | head -2
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  g++ --version | head -1; cmake --version | head -1
  [[ $local_run == 1 ]] || "$python" -c 'import torch, transformers, peft; print("torch", torch.__version__, "cuda", torch.version.cuda, "cxx11abi", torch._C._GLIBCXX_USE_CXX11_ABI, "transformers", transformers.__version__, "peft", peft.__version__)'
} >>"$log" 2>&1

configure_and_build() {
  [[ -f "$build/build.ninja" ]] || cmake -S "$root" -B "$build" "${cmake_args[@]}" || return 1
  grep -E '^(Torch_DIR|CMAKE_CXX_COMPILER:)' "$build/CMakeCache.txt"
  cmake --build "$build" -j "$(nproc)"
}
step build configure_and_build
step tests_cuda bash -c "cd '$build' && ctest --output-on-failure -L cuda"
step tests_cpu bash -c "cd '$build' && ctest --output-on-failure -LE 'slow|cuda' -j $(( $(nproc) / 2 > 1 ? $(nproc) / 2 : 1 ))"

bench() {
  "$build/bench/bench_model" "--device=$device" "--autocast=$1" --benchmark_format=json \
    --benchmark_out="$out/bench_model_${device}_$1.json" --benchmark_out_format=json
}
step bench_fp32 bench none
[[ $device == cuda ]] && step bench_bf16 bench bf16

# The same shapes through the machine's own Python stack, in the same run (its transformers
# and PEFT are that image's versions, not the fixtures' 4.46.3 / 0.13.2: say so beside them).
reference() {
  [[ -f "$root/tests/fixtures/tools/ref_throughput.py" ]] || { echo "no tests/fixtures/tools/ref_throughput.py"; return 1; }
  local mode
  for mode in full lora eval; do
    "$python" "$root/tests/fixtures/tools/ref_throughput.py" --mode "$mode" --device "$device" --steps 20 &&
    "$python" "$root/tests/fixtures/tools/ref_throughput.py" --mode "$mode" --device "$device" --autocast bf16 --steps 20 ||
      return 1
  done > "$out/reference_throughput.jsonl"
}
[[ $local_run == 1 ]] || step reference reference

# The paper on the GPU: gpu-smoke (full-size random model) and the mini profile with its device
# set to CUDA (a profile file beside the others; runs land under OUT's paper folders).
paper_on() {
  local profile=$1 file=$2
  BUILD_DIR="$build" "$root/scripts/paper.sh" --profile "$file" --out "$root/paper/build/$profile" --no-pdf &&
    tar -C "$root/paper/build/$profile" -czf "$out/paper-$profile.tar.gz" results figures
}
gpu_smoke() {
  BUILD_DIR="$build" "$root/scripts/random-model.sh" --device "$device" && paper_on gpu-smoke "$root/paper/profiles/gpu-smoke.json"
}
mini_on_device() {
  jq --arg d "$device" '.train.device = $d' "$root/paper/profiles/mini.json" > "$root/paper/profiles/mini-$device.json" &&
    paper_on "mini-$device" "$root/paper/profiles/mini-$device.json"
}
# Data parallel on the device: 2 ranks (Gloo, both on the one GPU) against 1 process, the tiny
# fixture model with its LoRA dropout off; both final metrics lines go to OUT.
distributed() {
  local args=(--model "$root/tests/fixtures/distilbert-tiny" --train "ag_news:$root/data/samples/ag_news/train.csv"
              --eval "ag_news:$root/data/samples/ag_news/test.csv" --train-limit 256 --eval-limit 100 --epochs 1
              --max-length 64 --lr 1e-3 --r 4 --lora-alpha 16 --lora-dropout 0 --dropout-seeding per_batch
              --device "$device" --cache-dir "$out/dist-cache")
  "$build/apps/loraft-train" "${args[@]}" --runs-dir "$out/dist-one" > "$out/dist-one.json" &&
    "$build/apps/loraft-launch" --nproc 2 --master-port 29611 -- "$build/apps/loraft-train" "${args[@]}" \
      --dist-backend gloo --runs-dir "$out/dist-two" > "$out/dist-two.json" &&
    cat "$out/dist-one.json" "$out/dist-two.json"
}
step distributed distributed

if [[ $local_run == 1 ]]; then
  note "paper: skipped with --local (make paper runs the profiles here)"
else
  step paper_gpu_smoke gpu_smoke
  step paper_mini mini_on_device
fi

note "device-check: $failed step(s) failed; results in $out"
exit "$failed"
