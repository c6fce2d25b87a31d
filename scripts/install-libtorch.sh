#!/usr/bin/env bash
# Installs the official LibTorch build that the Docker image uses (CUDA 12.6, new C++ ABI),
# after checking the archive against the pinned size and SHA-256.
#
#   scripts/install-libtorch.sh [--prefix DIR]            download the pinned archive, unpack into DIR
#   scripts/install-libtorch.sh --from FILE [--prefix DIR] the same archive already on disk (offline)
#   scripts/install-libtorch.sh --url URL --sha256 HEX    another archive, checked against HEX
#
# options:
#   --prefix DIR    where LibTorch goes (default /opt/libtorch): DIR/share/cmake/Torch is what
#                   CMake's find_package(Torch) needs, e.g. -DCMAKE_PREFIX_PATH=DIR
#   --from FILE     use this zip instead of downloading
#   --url URL       download this zip instead of the pinned one (needs --sha256)
#   --sha256 HEX    expected SHA-256 (default: the pinned archive's); given alone, no size check
#   --size BYTES    expected size in bytes (default: the pinned archive's, with the pinned hash)
#   --force         reinstall even if DIR already holds this archive
#
# A second run with the same archive does nothing. A prefix is only ever replaced if it is
# empty or was installed by this script (it holds .loraft-libtorch.sha256). Exit status:
# 0 installed or already there, 1 failure (download, unpacking), 2 bad usage or an archive
# whose size or SHA-256 is not the expected one.
set -euo pipefail

# The pin (docs/gpu.md, "The Docker image"): LibTorch 2.7.1 for CUDA 12.6, cxx11 ABI.
# SHA-256: cTuningLabs/cmeta-aops tool/torch-cpp-prebuilt/api_v1.py, whose table of 2.7.1
# archives also holds the cpu and cu128 digests that cp2k/cp2k
# tools/toolchain/scripts/stage6/install_libtorch.sh and kamisaberi/xtorch cmake/linux.cmake
# pin independently. Size: the Content-Length a public download log of this URL shows, and a
# second public manifest lists the same number (2688021042).
pinned_url="https://download.pytorch.org/libtorch/cu126/libtorch-cxx11-abi-shared-with-deps-2.7.1%2Bcu126.zip"
pinned_sha256="4a7ffb0c0f6c3b02fb14e7790143dfb2fbb2973c41f107357da57bcddd196077"
pinned_size="2688021042"

prefix="/opt/libtorch"
from=""
url=""
sha256=""
size=""
size_given=0
force=0

usage() { sed -n '2,21p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
say() { printf 'install-libtorch: %s\n' "$*" >&2; }
die() { printf 'install-libtorch: error: %s\n' "$*" >&2; exit "${2:-1}"; }
bad() { die "$1" 2; }

while (($#)); do
  case "$1" in
    --prefix) prefix="${2:?--prefix needs a folder}"; shift 2 ;;
    --from) from="${2:?--from needs a file}"; shift 2 ;;
    --url) url="${2:?--url needs a URL}"; shift 2 ;;
    --sha256) sha256="${2:?--sha256 needs a hash}"; shift 2 ;;
    --size) size="${2:?--size needs a byte count}"; size_given=1; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) bad "unknown argument $1 (see --help)" ;;
  esac
done

[[ -z "$from" || -z "$url" ]] || bad "--from and --url exclude each other"
[[ -z "$url" || -n "$sha256" ]] || bad "--url needs --sha256: only the pinned archive has a known hash"
[[ -z "$from" || -f "$from" ]] || bad "--from $from: no such file"
if [[ -z "$sha256" ]]; then
  sha256="$pinned_sha256"
  ((size_given)) || size="$pinned_size"
fi
sha256="$(tr 'A-F' 'a-f' <<<"$sha256")"
[[ "$sha256" =~ ^[0-9a-f]{64}$ ]] || bad "--sha256 $sha256 is not 64 hex digits"
[[ -z "$size" || "$size" =~ ^[0-9]+$ ]] || bad "--size $size is not a byte count"
[[ -n "$prefix" && "$prefix" != "/" ]] || bad "--prefix must be a folder other than /"
url="${url:-$pinned_url}"

stamp="$prefix/.loraft-libtorch.sha256"
config="share/cmake/Torch/TorchConfig.cmake"

if ((! force)) && [[ -f "$stamp" && -f "$prefix/$config" ]] && [[ "$(cat "$stamp")" == "$sha256" ]]; then
  say "already installed in $prefix (sha256 $sha256); --force reinstalls"
  exit 0
fi
# Never delete a folder this script did not make: a mistyped --prefix must not cost a tree.
if [[ -e "$prefix" && ! -f "$stamp" ]]; then
  [[ -d "$prefix" && -z "$(ls -A "$prefix")" ]] ||
    bad "$prefix exists and was not installed by this script; remove it or choose another --prefix"
fi

for tool in unzip sha256sum; do
  command -v "$tool" >/dev/null || die "$tool is not installed (scripts/install-deps.sh lists it)"
done

parent="$(dirname "$prefix")"
mkdir -p "$parent"
# Staging beside the prefix, so that the final move is a rename on the same file system.
staging="$(mktemp -d "$parent/.libtorch.staging.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

archive="$from"
if [[ -z "$archive" ]]; then
  command -v curl >/dev/null || die "curl is not installed (scripts/install-deps.sh lists it)"
  archive="$staging/libtorch.zip"
  say "downloading $url"
  curl -fL --retry 3 --connect-timeout 30 -o "$archive" "$url" ||
    die "download failed: $url (offline? download it elsewhere and pass --from FILE)"
fi

if [[ -n "$size" ]]; then
  got_size="$(stat -c %s "$archive")"
  [[ "$got_size" == "$size" ]] ||
    bad "$archive: $got_size bytes, expected $size (damaged, truncated or a different archive)"
fi
got="$(sha256sum "$archive" | cut -d' ' -f1)"
[[ "$got" == "$sha256" ]] ||
  bad "$archive: sha256 $got, expected $sha256 (damaged or a different archive)"
say "sha256 ok ($sha256)"

say "unpacking into $prefix"
unzip -q "$archive" -d "$staging/unpacked" || die "cannot unpack $archive"
if [[ -z "$from" ]]; then
  rm -f "$archive"  # the download is not needed once unpacked: frees its 2.5 GiB early
fi
[[ -f "$staging/unpacked/libtorch/$config" ]] ||
  die "$archive holds no libtorch/$config: not a LibTorch archive"
printf '%s\n' "$sha256" >"$staging/unpacked/libtorch/.loraft-libtorch.sha256"

# Replace the old install only once the new one is complete.
if [[ -e "$prefix" ]]; then
  mv "$prefix" "$staging/old"
fi
mv "$staging/unpacked/libtorch" "$prefix"
say "installed in $prefix: cmake -DCMAKE_PREFIX_PATH=$prefix (Makefile: CMAKE_ARGS=-DCMAKE_PREFIX_PATH=$prefix)"
