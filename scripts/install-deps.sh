#!/usr/bin/env bash
# Installs the Debian 12 packages loraft needs, if any is missing (also on Ubuntu 24.04, the
# base of the Docker image; the release is read from /etc/os-release).
#   scripts/install-deps.sh           install what is missing (as root), else print the command
#   scripts/install-deps.sh --check   only report; exit 1 if something is missing
#   scripts/install-deps.sh --tex     also TeX Live and latexmk, for the paper's PDF (make paper)
#   scripts/install-deps.sh --fuzz    also clang 14 with libFuzzer and the sanitizers (make fuzz)
#   LORAFT_EXTRA_PACKAGES="..."       more packages to check
#   LORAFT_TORCH=external             LibTorch comes from elsewhere (scripts/install-libtorch.sh,
#                                     the Docker image): skip Debian's LibTorch and OpenBLAS
set -euo pipefail

# ID-VERSION_ID of the running system, e.g. debian-12 or ubuntu-24.04 (LORAFT_OS_RELEASE: another
# os-release file, for tests).
os_field() { sed -n "s/^$1=//p" "${LORAFT_OS_RELEASE:-/etc/os-release}" 2>/dev/null | tr -d '"' | head -n 1; }
distro="$(os_field ID)-$(os_field VERSION_ID)"
[[ "$distro" != *- ]] || distro="$distro$(os_field VERSION_CODENAME)"  # testing: debian-forky
case "${LORAFT_TORCH:-debian}" in
  debian|external) ;;
  *) echo "install-deps: error: LORAFT_TORCH=${LORAFT_TORCH} (expected debian or external)" >&2; exit 2 ;;
esac

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-pthread    # LibTorch's matrix products: Debian's reference BLAS is ~80x slower
  libhdf5-dev             # token cache
  libgloo-dev             # data parallel: the headers of ProcessGroupGloo (libtorch_cpu has its code)
  libeigen3-dev           # analysis of weight updates
  libboost-program-options-dev
  libgtest-dev libbenchmark-dev
  libutf8proc-dev         # Unicode normalisation and categories for the tokenizer
  nlohmann-json3-dev
  libssl-dev              # SHA-256
  doxygen gnuplot-nox
  xz-utils ca-certificates curl jq
  unzip                   # scripts/install-libtorch.sh
  shellcheck              # scripts/lint.sh (the lint test)
)
# Every name above is the same on Debian 13 and on Ubuntu 24.04 (noble, with universe, as in the
# CUDA images); a release with other names gets a case here. Other systems are tried with
# Debian 12's names.
case "$distro" in
  debian-12|debian-13|ubuntu-24.04) ;;
  *) echo "install-deps: warning: untested system $distro: trying Debian 12's package names" >&2 ;;
esac
if [[ "${LORAFT_TORCH:-debian}" == external ]]; then
  # The official LibTorch builds bring their own BLAS (MKL) and CUDA libraries.
  kept=()
  for p in "${packages[@]}"; do
    [[ "$p" == libtorch-dev || "$p" == libopenblas0-pthread ]] || kept+=("$p")
  done
  packages=("${kept[@]}")
fi
# shellcheck disable=SC2206
packages+=(${LORAFT_EXTRA_PACKAGES:-})
if [[ "${1:-}" == "--tex" ]]; then
  packages+=(latexmk texlive-latex-base texlive-latex-recommended lmodern)
  shift
fi
if [[ "${1:-}" == "--fuzz" ]]; then
  # clang++-14; libclang_rt.fuzzer and the ASan/UBSan runtimes; llvm-symbolizer for the reports
  # (Debian 12's names; with another clang, scripts/fuzz.sh takes FUZZ_CC and FUZZ_CXX).
  packages+=(clang-14 libclang-rt-14-dev llvm-14)
  shift
fi

missing=()
for p in "${packages[@]}"; do
  [[ "$p" == \#* ]] && continue
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$p" 2>/dev/null || true)
  [[ "$status" == ii* ]] || missing+=("$p")
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi
cmd="apt-get install -y --no-install-recommends ${missing[*]}"
if [[ "${1:-}" == "--check" ]]; then
  echo "missing packages: ${missing[*]}" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "loraft needs these packages ($distro): ${missing[*]}" >&2
  echo "run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends "${missing[@]}"
