#!/usr/bin/env bash
# Installs the Debian 12 packages loraft needs, if any is missing.
#   scripts/install-deps.sh           install what is missing (as root), else print the command
#   scripts/install-deps.sh --check   only report; exit 1 if something is missing
#   scripts/install-deps.sh --tex     also TeX Live and latexmk, for the paper's PDF (make paper)
#   LORAFT_EXTRA_PACKAGES="..."       more packages to check
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config ccache
  libtorch-dev            # LibTorch 1.13 (CPU)
  libopenblas0-pthread    # LibTorch's matrix products: Debian's reference BLAS is ~80x slower
  libhdf5-dev             # token cache
  libeigen3-dev           # analysis of weight updates
  libboost-program-options-dev
  libgtest-dev libbenchmark-dev
  libutf8proc-dev         # Unicode normalisation and categories for the tokenizer
  nlohmann-json3-dev
  libssl-dev              # SHA-256
  doxygen gnuplot-nox
  xz-utils ca-certificates curl jq
)
# shellcheck disable=SC2206
packages+=(${LORAFT_EXTRA_PACKAGES:-})
if [[ "${1:-}" == "--tex" ]]; then
  packages+=(latexmk texlive-latex-base texlive-latex-recommended)
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
  echo "loraft needs these Debian packages: ${missing[*]}" >&2
  echo "run as root:  apt-get update && $cmd" >&2
  exit 1
fi
echo "installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
# shellcheck disable=SC2086
apt-get install -y -q --no-install-recommends "${missing[@]}"
