#!/usr/bin/env bash
# One interleaved sitting of loraft's bench_model against the Python reference stack
# (transformers 4.46.3 + PEFT 0.13.2, tests/fixtures/tools/ref_throughput.py) on the same torch,
# at 2 threads, full-size DistilBERT, B=16, T=128 (docs/performance.md).
#   scripts/perf-compare.sh [host|debian13] [--rounds N] [--steps N] [--max-busy P] [--root DIR] [--out DIR]
#   scripts/perf-compare.sh debian13 --prepare
#     host       Debian 12 here: LibTorch / python3-torch 1.13.1, build/bench/bench_model
#     debian13   the Debian 13 chroot of scripts/test-platform.sh (build/platforms/debian13):
#                LibTorch / python3-torch 2.6, build/platforms/debian13/build/bench/bench_model
#     --prepare  (debian13) install python3-torch and the reference's Debian packages in the
#                chroot, build bench_model in its build folder, check the imports; no timing
#     --rounds N rounds (default 2); each round: bench_model (all benchmarks), then
#                ref_throughput.py --mode full, lora, eval (one process each), then bench_model
#                with BM_TrainStep/lora alone (LoRA's own peak RSS)
#     --steps N  the Python script's timed steps per mode (default 10)
#     --max-busy P  before each program, wait (at most 10 minutes) until other processes keep
#                at most P % of the machine busy over 10 s (default: no wait)
#     --root DIR (debian13) the chroot, if not build/platforms/debian13/root (test-platform.sh's
#                --root); bench_model is still this tree's build/platforms/debian13/build
#     --out DIR  raw JSON and logs (default build/perf/<line>-<UTC time>; for debian13 it must
#                be inside the source tree); bench_model and ref_throughput.py are copied there
#                first and run from the copies; DIR/load.txt logs, for every program, the load
#                and the share of the machine other processes used while it ran; a summary is
#                printed at the end and written to DIR/summary.md
#   REF=DIR     the reference environment (default /tmp/ref: site/ and shim/, see
#               tests/fixtures/tools/README.md); in the chroot it is bind-mounted read-only
#               at /tmp/ref
# Needs root for debian13 (chroot, mounts). The chroot's mounts (/proc, /sys read-only, a small
# /dev, the source tree at /src, $REF at /tmp/ref) live in a private mount namespace of this run
# and are unmounted at its end; the run holds test-platform.sh's lock on the chroot.
# Numbers compare only within one sitting: the machine is shared and noisy.
# Exit status: 0 done, 1 a run failed, 2 could not run (the reason on one line).
set -euo pipefail

me=perf-compare
usage="usage: scripts/perf-compare.sh [host|debian13] [--prepare] [--rounds N] [--steps N] [--max-busy P] [--root DIR] [--out DIR]"
die() { echo "$me: $*" >&2; exit 2; }
say() { echo "$me: $*" >&2; }
# shellcheck source=scripts/lib/chroot.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/chroot.sh"

# ---------------------------------------------------------------------------------------------
# How a program runs on this line: run_in <program> <args...> with the environment env_run.

env_run=()
run_in() {
  if [[ "$line" == host ]]; then
    env "${env_run[@]}" "$@"
  else
    chroot "$root" /usr/bin/env -i "${env_run[@]}" "$@"
  fi
}

# The CPU time of all processes, in clock ticks: "busy total" from /proc/stat's first line.
cpu_ticks() {
  awk '/^cpu / { b = $2 + $3 + $4 + $7 + $8 + $9; print b, b + $5 + $6; exit }' /proc/stat
}

# The percentage of the machine (all cores) kept busy over the next $1 seconds.
busy_percent() {
  local b0 t0 b1 t1
  read -r b0 t0 < <(cpu_ticks)
  sleep "$1"
  read -r b1 t1 < <(cpu_ticks)
  echo $(((b1 - b0) * 100 / (t1 - t0 > 0 ? t1 - t0 : 1)))
}

# Waits (at most 10 minutes) until other processes keep at most --max-busy % of the machine
# busy over 10 s, if --max-busy was given.
wait_quiet() {
  [[ -n "$max_busy" ]] || return 0
  local waited=0 busy note=""
  while busy=$(busy_percent 10) && ((busy > max_busy && waited < 600)); do
    waited=$((waited + 10))
  done
  if ((waited > 0)); then note=" (waited $waited s)"; fi
  echo "  others busy before: ${busy} % of the machine over 10 s$note" >>"$out/load.txt"
}

# One program's run: step <label> <output file> <program> <args...>; its stderr goes to
# <output file without .json>.log. load.txt gets the load averages, and the share of the
# machine other processes used during the run: (all busy ticks - this run's own CPU time)
# / all ticks.
step() {
  local label=$1 file=$2
  shift 2
  wait_quiet
  say "$label, load $(cut -d ' ' -f 1-3 /proc/loadavg)"
  echo "$label: start $(date -u +%H:%M:%S) load $(cut -d ' ' -f 1-3 /proc/loadavg)" >>"$out/load.txt"
  local b0 t0 b1 t1 ok=1 times hz others
  hz=$(getconf CLK_TCK)
  read -r b0 t0 < <(cpu_ticks)
  # shellcheck disable=SC2034  # TIMEFORMAT is read by bash's time
  local TIMEFORMAT='%R %U %S'
  { time run_in "$@" >"$out/$file" 2>"$out/${file%.json}.log"; } 2>"$out/time.tmp" || ok=0
  times=$(tail -n 1 "$out/time.tmp")
  rm -f "$out/time.tmp"
  read -r b1 t1 < <(cpu_ticks)
  others=$(awk -v b="$((b1 - b0))" -v t="$((t1 - t0))" -v hz="$hz" -v tm="$times" \
    'BEGIN { split(tm, x, " "); own = (x[2] + x[3]) * hz; o = (b - own) / (t > 0 ? t : 1) * 100;
             printf "%.0f", (o < 0 ? 0 : o) }')
  echo "$label: end   $(date -u +%H:%M:%S) load $(cut -d ' ' -f 1-3 /proc/loadavg); wall ${times%% *} s;" \
    "others used $others % of the machine" >>"$out/load.txt"
  if [[ "$ok" == 0 ]]; then
    tail -n 5 "$out/${file%.json}.log" >&2
    say "$label failed"
    return 1
  fi
}

# The sitting itself. $bench_src and $tool_src are the programs on this machine; they are
# copied into $out first (a rebuild during the sitting cannot change what runs), and run from
# there as $out_in, the path of $out as the runner sees it.
sitting() {
  local r mode
  cp "$bench_src" "$out/bench_model"
  cp "$tool_src" "$out/ref_throughput.py"
  local bench=$out_in/bench_model tool=$out_in/ref_throughput.py
  say "$line: $rounds rounds, $steps Python steps per mode, out: $out"
  {
    echo "line=$line"
    echo "date_utc=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "git_head=$(git -C "$src" rev-parse HEAD 2>/dev/null || echo '?')"
    echo "git_dirty_files=$(git -C "$src" status --porcelain 2>/dev/null | wc -l)"
    echo "cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)"
    echo "nproc=$(nproc)"
    echo "bench_model=$bench_src (built $(date -u -r "$bench_src" +%Y-%m-%dT%H:%M:%SZ)," \
      "sha256 $(sha256sum <"$bench_src" | cut -c 1-16))"
    echo "versions=$(run_in /usr/bin/python3 -c \
      'import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)' \
      2>/dev/null || echo 'import failed')"
    echo "max_busy=${max_busy:-none}"
  } >"$out/env.txt"
  cat "$out/env.txt" >&2
  for ((r = 1; r <= rounds; r++)); do
    step "round $r: loraft bench_model (all)" "loraft-r$r.json" "$bench" --benchmark_format=json || return 1
    for mode in full lora eval; do
      step "round $r: Python $mode" "py-$mode-r$r.json" \
        /usr/bin/python3 "$tool" --mode "$mode" --steps "$steps" || return 1
    done
    step "round $r: loraft bench_model (LoRA alone, its own peak RSS)" "loraft-lora-r$r.json" \
      "$bench" --benchmark_format=json --benchmark_filter=BM_TrainStep/lora/ || return 1
  done
}

# The summary of the sitting in $1, as Markdown tables.
summarize() {
  /usr/bin/python3 - "$1" <<'EOF'
import glob, json, os, statistics, sys
out = sys.argv[1]

def load(path):
    with open(path) as f:
        text = f.read().strip()
    if os.path.basename(path).startswith("py-"):
        return json.loads(text.splitlines()[-1])
    return json.loads(text)

def rounds(pattern):
    runs = []
    for p in sorted(glob.glob(os.path.join(out, pattern))):
        try:
            runs.append(load(p))
        except (ValueError, IndexError):
            print(f"(skipped {os.path.basename(p)}: empty or incomplete)")
    return runs

names = {"BM_EvalForward": "eval", "BM_TrainStep/full": "full", "BM_TrainStep/lora": "lora",
         "BM_TrainStep/loraplus": "loraplus"}
rows = {}  # (step, stack) -> one dict per round
ctx, pytorch, attn = {}, "?", {}
for run in rounds("loraft-r*.json"):
    ctx = run["context"]
    for b in run["benchmarks"]:
        name = names.get(b["name"].split("/iterations")[0])
        if name:
            rows.setdefault((name, "loraft"), []).append({
                "s": b["s_per_step"], "sps": b["samples_per_s"], "mfu": b["mfu"], "gemm": b["gemm_gflops"],
                "rss": b["peak_rss_mib"], "vs_full": b.get("vs_full"), "it": b["iterations"]})
lora_alone = [b for run in rounds("loraft-lora-r*.json") for b in run["benchmarks"]]
for mode in ("full", "lora", "eval"):
    for p in rounds(f"py-{mode}-r*.json"):
        fl = p["analytic_gflop_per_step"]
        rows.setdefault((mode, "python"), []).append({
            "s": p["median_s"], "mean": p["mean_s"], "sps": p["samples_per_s"], "mfu": p["mfu_vs_gemm"],
            "mfu_mean": fl / p["mean_s"] / p["gemm_2048_gflops"], "gemm": p["gemm_2048_gflops"],
            "rss": p["peak_rss_mb"], "steps": p["step_seconds"]})
        attn[mode] = p.get("attn_implementation")
        pytorch = p["torch"]

def rng(vals, fmt):
    vals = [v for v in vals if v is not None]
    if not vals:
        return "-"
    if len(vals) == 1:
        return fmt.format(vals[0])
    return (fmt + " (" + fmt + "–" + fmt + ")").format(statistics.mean(vals), min(vals), max(vals))

print(f"loraft: torch {ctx.get('torch')}, attention {ctx.get('attention')}, threads {ctx.get('threads')}; "
      f"Python: torch {pytorch}, attn_implementation {attn}")
print()
print("| step | stack | s/step per round | samples/s | GEMM GFLOP/s | MFU | peak RSS MiB |")
print("|---|---|---|---|---|---|---|")
for mode in ("full", "lora", "loraplus", "eval"):
    for stack in ("loraft", "python"):
        rs = rows.get((mode, stack))
        if not rs:
            continue
        if stack == "loraft":
            secs = " / ".join(f"{r['s']:.3f}" for r in rs) + " (mean)"
        else:
            secs = " / ".join(f"{r['s']:.3f} [{r['mean']:.3f}]" for r in rs) + " (median [mean])"
        rss = rng([r["rss"] for r in rs], "{:.0f}")
        if stack == "loraft" and mode in ("lora", "loraplus"):
            rss += " (process peak, includes full's)"
            if mode == "lora" and lora_alone:
                rss += f"; alone: {rng([b['peak_rss_mib'] for b in lora_alone], '{:.0f}')}"
        print(f"| {mode} | {stack} | {secs} | {rng([r['sps'] for r in rs], '{:.2f}')} | "
              f"{rng([r['gemm'] for r in rs], '{:.1f}')} | {rng([100 * r['mfu'] for r in rs], '{:.1f}')} % | {rss} |")
print()
if lora_alone:
    print("loraft LoRA step in its own process: " + " / ".join(f"{b['s_per_step']:.3f}" for b in lora_alone)
          + " s (mean)")
vs = [r["vs_full"] for r in rows.get(("lora", "loraft"), [])]
vsp = [r["vs_full"] for r in rows.get(("loraplus", "loraft"), [])]
print(f"loraft vs_full: LoRA {' / '.join(f'{v:.3f}' for v in vs)}; LoRA+ {' / '.join(f'{v:.3f}' for v in vsp)}")
pf, pl = rows.get(("full", "python"), []), rows.get(("lora", "python"), [])
if pf and pl:
    print("Python LoRA/full (median): " + " / ".join(f"{b['s'] / a['s']:.3f}" for a, b in zip(pf, pl)))
print()
print("| step | loraft/Python time per round (loraft mean / Python mean) | MFU loraft/Python per round (both mean-based) |")
print("|---|---|---|")
for mode in ("full", "lora", "eval"):
    lr, pr = rows.get((mode, "loraft"), []), rows.get((mode, "python"), [])
    if lr and pr:
        t = [a["s"] / b["mean"] for a, b in zip(lr, pr)]
        m = [a["mfu"] / b["mfu_mean"] for a, b in zip(lr, pr)]
        print(f"| {mode} | {' / '.join(f'{x:.3f}' for x in t)} | {' / '.join(f'{x:.2f}' for x in m)} |")
print()
print("Python per-step spread (min–max of the timed steps):")
for mode in ("full", "lora", "eval"):
    for i, r in enumerate(rows.get((mode, "python"), []), 1):
        print(f"  {mode} round {i}: {min(r['steps']):.3f}–{max(r['steps']):.3f} s over {len(r['steps'])} steps")
EOF
}

# ---------------------------------------------------------------------------------------------
# The chroot, inside a private mount namespace (the outer part runs this script again there).

inner() {
  trap release_mounts EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  if [[ -f /etc/resolv.conf && "$prepare" == 1 ]]; then cp -L /etc/resolv.conf "$root/etc/resolv.conf"; fi
  mount_chroot_system "$root" "$src"
  do_mount "$root/tmp/ref" --bind "$ref"
  mount -o remount,bind,ro "$root/tmp/ref"

  mapfile -t env_run < <(chroot_env)
  if [[ "$prepare" == 1 ]]; then
    say "installing the reference's Debian packages in the chroot"
    run_in apt-get update -q
    run_in apt-get install -y -q --no-install-recommends python3-torch python3-numpy python3-regex \
      python3-yaml python3-requests python3-filelock python3-tqdm python3-packaging python3-fsspec \
      python3-psutil python3-typing-extensions
    run_in apt-get clean
    say "building bench_model in build/platforms/debian13/build"
    run_in cmake --build /src/build/platforms/debian13/build --target bench_model -j "$(nproc)"
    env_run+=(PYTHONPATH=/tmp/ref/site:/tmp/ref/shim HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1)
    run_in /usr/bin/python3 -c \
      'import torch, transformers, peft; print(torch.__version__, transformers.__version__, peft.__version__)'
    return 0
  fi
  env_run+=(LORAFT_NUM_THREADS=2 PYTHONPATH=/tmp/ref/site:/tmp/ref/shim HF_HUB_OFFLINE=1
            TRANSFORMERS_OFFLINE=1 PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1)
  bench_src=$src/build/platforms/debian13/build/bench/bench_model
  tool_src=$src/tests/fixtures/tools/ref_throughput.py
  [[ -x "$bench_src" ]] || die "$bench_src is missing: run scripts/perf-compare.sh debian13 --prepare"
  out_in=/src${out#"$src"}
  sitting
}

# ---------------------------------------------------------------------------------------------

main() {
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  line=host rounds=2 steps=10 out="" prepare=0 max_busy="" root=""
  ref=$(realpath -m "${REF:-/tmp/ref}")
  if [[ "${1:-}" == --inner ]]; then
    line=debian13 root=$PC_ROOT rounds=$PC_ROUNDS steps=$PC_STEPS out=$PC_OUT prepare=$PC_PREPARE
    max_busy=$PC_MAX_BUSY
    inner
    return
  fi
  while [[ $# -gt 0 ]]; do
    case "$1" in
      host | debian13) line=$1 ;;
      --prepare) prepare=1 ;;
      --rounds) [[ $# -ge 2 ]] || die "$usage"; rounds=$2; shift ;;
      --steps) [[ $# -ge 2 ]] || die "$usage"; steps=$2; shift ;;
      --max-busy) [[ $# -ge 2 ]] || die "$usage"; max_busy=$2; shift ;;
      --out) [[ $# -ge 2 ]] || die "$usage"; out=$2; shift ;;
      --root) [[ $# -ge 2 ]] || die "$usage"; root=$(realpath -m "$2"); shift ;;
      -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
      *) die "unknown argument '$1'; $usage" ;;
    esac
    shift
  done
  [[ "$rounds" =~ ^[1-9][0-9]*$ && "$steps" =~ ^[1-9][0-9]*$ ]] || die "--rounds and --steps take a positive integer"
  [[ -z "$max_busy" || "$max_busy" =~ ^[0-9]+$ ]] || die "--max-busy takes a whole percentage"
  [[ -f "$ref/site/transformers/__init__.py" && -d "$ref/shim" ]] ||
    die "no reference environment at $ref (site/, shim/): see tests/fixtures/tools/README.md, or set REF"
  if [[ "$prepare" == 0 ]]; then
    out=$(realpath -m "${out:-$src/build/perf/$line-$(date -u +%Y%m%dT%H%M%SZ)}")
    if [[ "$line" == debian13 && "$out" != "$src"/* ]]; then
      die "--out must be inside the source tree for debian13 (the chroot sees it under /src)"
    fi
    mkdir -p "$out"
  fi

  if [[ "$line" == host ]]; then
    [[ "$prepare" == 0 ]] || die "--prepare is for debian13 (the host needs tests/fixtures/tools/README.md's recipe)"
    bench_src=$src/build/bench/bench_model
    tool_src=$src/tests/fixtures/tools/ref_throughput.py
    out_in=$out
    [[ -x "$bench_src" ]] || die "$bench_src is missing: build loraft first (make)"
    env_run=(LORAFT_NUM_THREADS=2 "PYTHONPATH=$ref/site:$ref/shim" HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
             PYTHONHASHSEED=0 PYTHONDONTWRITEBYTECODE=1)
    sitting || exit 1
  else
    [[ $(id -u) -eq 0 ]] || die "must run as root (chroot, mounts): sudo $0 debian13"
    local tool
    for tool in chroot unshare mountpoint flock; do
      command -v "$tool" >/dev/null || die "$tool is missing: apt-get install util-linux coreutils"
    done
    root=${root:-$src/build/platforms/debian13/root}
    [[ -f "$root/.loraft-ready" ]] || die "no ready chroot at $root: run scripts/test-platform.sh debian13 first"
    exec 9>"$(dirname "$root")/.$(basename "$root").lock"  # test-platform.sh's lock
    flock -n 9 || die "another run (test-platform.sh?) is using $root"
    local now
    now=$(mounts_under "$root")
    [[ -z "$now" ]] || die "$(head -n 1 <<<"$now") is mounted inside the chroot: umount it, then rerun"
    trap 'unmount_under "$root"' EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    PC_ROOT=$root PC_ROUNDS=$rounds PC_STEPS=$steps PC_OUT=$out PC_PREPARE=$prepare PC_MAX_BUSY=$max_busy \
      REF=$ref unshare --mount --propagation private -- bash "$src/scripts/perf-compare.sh" --inner || exit 1
    [[ "$prepare" == 0 ]] || exit 0
  fi
  summarize "$out" | tee "$out/summary.md"
}

# bash reads this last line whole before it runs it: editing this file during a run cannot
# change the run.
main "$@"; exit
