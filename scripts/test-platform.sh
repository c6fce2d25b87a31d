#!/usr/bin/env bash
# Builds loraft and runs the suite of `make test` on another Debian release, in a debootstrap
# chroot (make test-debian13, make test-debian-testing).
#   scripts/test-platform.sh debian13|debian-testing [--root DIR] [--build-only]
#     debian13        Debian 13 "trixie"
#     debian-testing  Debian testing (its Release file may be past Valid-Until: not checked)
#     --root DIR      the chroot (default build/platforms/<name>/root): made on the first run,
#                     reused after, made again when a run stopped before it was complete
#     --build-only    build only, no tests
#   JOBS=N            parallel jobs (default: all cores); CTEST_ARGS="..." more ctest arguments;
#   CTEST_EXCLUDE=RE  test labels left out (default slow, as make test)
#   WERROR=ON|OFF     warnings in loraft's own code are errors (default ON, as make test)
#   LORAFT_DEBIAN_MIRROR=URI  the Debian mirror (default: the one in apt's sources here)
# Needs root; installs debootstrap if it is missing. Packages come from scripts/install-deps.sh
# run inside the chroot. The build folder (build/platforms/<name>/build) and ccache's cache
# (build/platforms/<name>/ccache) are kept, so that a second run is incremental; logs go to
# build/platforms/<name>/logs. The mounts (/proc, /sys read-only, a small /dev, the source tree
# at /src) exist only in a mount namespace of this run and are unmounted at its end, whatever
# the end; a chroot with anything mounted inside it is never deleted.
# Exit status: 0 passed, 1 build or tests failed, 2 could not run (the reason on one line).
set -euo pipefail

me=test-platform
usage="usage: scripts/test-platform.sh debian13|debian-testing [--root DIR] [--build-only]"
die() { echo "$me: $*" >&2; exit 2; }
say() { echo "$me: $*" >&2; }
# shellcheck source=scripts/lib/chroot.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib/chroot.sh"

# ---------------------------------------------------------------------------------------------
# Inner part: runs in a private mount namespace (unshare), so that no mount outlives it.

in_chroot() { chroot "$root" /usr/bin/env -i "${env_inside[@]}" "$@"; }

# The last line: what was tested.
describe() {
  local os compiler cmake_version torch_dir torch std
  os=$(sed -n 's/^PRETTY_NAME="\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$root/etc/os-release")
  os="$os, debian_version $(cat "$root/etc/debian_version")"
  compiler="g++ $(in_chroot g++ -dumpfullversion 2>/dev/null || echo '?')"
  cmake_version=$(in_chroot cmake --version 2>/dev/null | awk 'NR == 1 { print $3 }')
  torch_dir=$(sed -n 's/^Torch_DIR:[A-Z]*=//p' "$pdir/build/CMakeCache.txt" 2>/dev/null || true)
  torch=$(sed -n 's/^set(PACKAGE_VERSION "\(.*\)")$/\1/p' \
    "$root$torch_dir/TorchConfigVersion.cmake" 2>/dev/null || true)
  # shellcheck disable=SC2016  # dpkg-query's format, not the shell's
  [[ -n "$torch" ]] || torch=$(in_chroot dpkg-query -W -f='${Version}' libtorch-dev 2>/dev/null || true)
  std=$(grep -o -m 1 -- '-std=[a-z+]*[0-9]*' "$pdir/build/compile_commands.json" 2>/dev/null || true)
  echo "$os; $compiler; CMake ${cmake_version:-?}; LibTorch ${torch:-?}${std:+ ($std)}"
}

# The last two lines: the time of each step, what was tested and how it went ($1).
finish() {
  say "times: chroot ${t_chroot} s, packages ${t_packages} s, build ${t_build} s, tests ${t_tests} s"
  say "$name $1: $(describe)"
}

inner() {
  name=$LORAFT_TP_NAME root=$LORAFT_TP_ROOT suite=$LORAFT_TP_SUITE mirror=$LORAFT_TP_MIRROR
  pdir=$src/build/platforms/$name  # this platform's build folder, ccache and logs
  local inside=/src/build/platforms/$name
  local logs=$pdir/logs
  mkdir -p "$logs" "$pdir/ccache"
  trap release_mounts EXIT
  trap 'say "$name: interrupted"; exit 130' INT
  trap 'say "$name: terminated"; exit 143' TERM

  mapfile -t env_inside < <(chroot_env)
  env_inside+=(TERM="${TERM:-dumb}" CCACHE_DIR="$inside/ccache" "CCACHE_SLOPPINESS=pch_defines,time_macros")

  local t0
  t_chroot=0 t_packages=0 t_build=0 t_tests=0

  # The chroot: debootstrap (minbase) unless a complete one is there.
  if [[ ! -f "$root/.loraft-ready" ]]; then
    t0=$SECONDS
    mkdir -p "$root"
    echo "$name" >"$root/.loraft-chroot"
    local ds_script=()
    if [[ ! -e /usr/share/debootstrap/scripts/$suite ]]; then
      ds_script=(/usr/share/debootstrap/scripts/sid)  # an older debootstrap lacks newer names
    fi
    say "making the $name chroot in $root (log: $logs/debootstrap.log)"
    if ! debootstrap --variant=minbase --include=ca-certificates "$suite" "$root" "$mirror" \
         "${ds_script[@]}" >"$logs/debootstrap.log" 2>&1; then
      local err
      err=$(grep -E '^E:' "$logs/debootstrap.log" | tail -n 1 || true)
      die "debootstrap failed${err:+: $err} (log: $logs/debootstrap.log)"
    fi
    t_chroot=$((SECONDS - t0))
  fi
  if [[ "$name" == debian-testing ]]; then
    # testing's Release files on a frozen mirror are past their Valid-Until date
    echo 'Acquire::Check-Valid-Until "false";' >"$root/etc/apt/apt.conf.d/99loraft-no-valid-until"
  fi
  if [[ -f /etc/resolv.conf ]]; then cp -L /etc/resolv.conf "$root/etc/resolv.conf"; fi

  mount_chroot_system "$root" "$src"

  # Packages: the project's own install script, inside.
  t0=$SECONDS
  if ! in_chroot bash /src/scripts/install-deps.sh --check 2>/dev/null; then
    rm -f "$root/.loraft-ready"
    say "installing loraft's packages in the chroot (log: $logs/packages.log)"
    if ! in_chroot bash /src/scripts/install-deps.sh >"$logs/packages.log" 2>&1 ||
       ! in_chroot apt-get clean >>"$logs/packages.log" 2>&1; then
      tail -n 15 "$logs/packages.log" >&2
      die "installing packages in the chroot failed (log: $logs/packages.log)"
    fi
  fi
  if [[ ! -f "$root/.loraft-ready" ]]; then
    printf 'platform=%s\nsuite=%s\nmirror=%s\nmade=%s\n' "$name" "$suite" "$mirror" \
      "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >"$root/.loraft-ready"
  fi
  t_packages=$((SECONDS - t0))

  # Build, in its own folder kept between runs.
  t0=$SECONDS
  local jobs=${JOBS:-$(nproc)}
  local log=$logs/build.log
  say "building in $pdir/build (log: $log)"
  : >"$log"
  # Configured on every run (a no-op when nothing changed), so that WERROR always applies.
  if ! in_chroot cmake -S /src -B "$inside/build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
       -DLORAFT_WERROR="${WERROR:-ON}" 2>&1 | tee -a "$log"; then
    t_build=$((SECONDS - t0))
    finish "FAILED (configure, log: $log)"
    exit 1
  fi
  if ! in_chroot cmake --build "$inside/build" -j "$jobs" 2>&1 | tee -a "$log"; then
    t_build=$((SECONDS - t0))
    finish "FAILED (build, log: $log)"
    exit 1
  fi
  t_build=$((SECONDS - t0))

  local result="built"
  if [[ "${LORAFT_TP_BUILD_ONLY:-0}" != 1 ]]; then
    t0=$SECONDS
    log=$logs/test.log
    # shellcheck disable=SC2086  # CTEST_ARGS is a list of words
    if ! in_chroot ctest --test-dir "$inside/build" --output-on-failure \
         -LE "${CTEST_EXCLUDE:-slow}" -j "$jobs" ${CTEST_ARGS:-} 2>&1 | tee "$log"; then
      t_tests=$((SECONDS - t0))
      finish "FAILED (tests, log: $log)"
      exit 1
    fi
    t_tests=$((SECONDS - t0))
    result="passed ($(grep -o -m 1 '[0-9]* tests failed out of [0-9]*' "$log" || echo ctest))"
  fi
  finish "$result"
}

# ---------------------------------------------------------------------------------------------
# Outer part: arguments, the checks that end in one line, then the inner part in its own
# mount namespace.

outer() {
  local name="" build_only=0
  root=""
  while [[ $# -gt 0 ]]; do
    case "$1" in
      debian13 | debian-testing) name=$1 ;;
      --root) [[ $# -ge 2 ]] || die "$usage"; root=$2; shift ;;
      --root=*) root=${1#--root=} ;;
      --build-only) build_only=1 ;;
      -h | --help) echo "$usage"; exit 0 ;;
      *) die "unknown argument '$1'; $usage" ;;
    esac
    shift
  done
  [[ -n "$name" ]] || die "$usage"
  local suite
  case "$name" in
    debian13) suite=trixie ;;
    debian-testing) suite=testing ;;
  esac

  [[ $(id -u) -eq 0 ]] || die "must run as root (debootstrap, chroot, mounts): sudo $0 $name"
  local tool
  for tool in chroot unshare mountpoint flock; do
    command -v "$tool" >/dev/null || die "$tool is missing: apt-get install util-linux coreutils"
  done
  if ! command -v debootstrap >/dev/null; then
    say "installing debootstrap"
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q &&
           DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends debootstrap
         } >/dev/null 2>&1 || ! command -v debootstrap >/dev/null; then
      die "debootstrap is missing and could not be installed: apt-get install debootstrap"
    fi
  fi

  # The mirror: the Debian archive in apt's own sources (the entry for this machine's release).
  local mirror=${LORAFT_DEBIAN_MIRROR:-} codename
  if [[ -z "$mirror" ]]; then
    codename=$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release)
    # shellcheck disable=SC2016  # apt's format, not the shell's
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 'Created-By: Packages' \
               2>/dev/null | awk -v c="$codename" '$2 == c { print $1; exit }')
    [[ -n "$mirror" ]] ||
      die "no Debian mirror for '$codename' in apt's sources: set LORAFT_DEBIAN_MIRROR=URI"
  fi
  mirror=${mirror%/}
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  chmod 755 "$tmp"  # apt-helper downloads as the _apt user
  if ! /usr/lib/apt/apt-helper download-file "$mirror/dists/$suite/Release" "$tmp/Release" \
       >/dev/null 2>&1; then
    die "cannot reach $mirror/dists/$suite/Release: is the mirror reachable, the suite right?"
  fi
  codename=$(sed -n 's/^Codename: //p' "$tmp/Release")

  # The chroot's folder: refuse anything that is not ours, and anything mounted inside it.
  root=$(realpath -m "${root:-$src/build/platforms/$name/root}")
  [[ "$root" != / && "$src" != "$root" && "$src" != "$root"/* ]] ||
    die "--root $root would contain the source tree: name another folder"
  mkdir -p "$(dirname "$root")"
  exec 9>"$(dirname "$root")/.$(basename "$root").lock"
  flock -n 9 || die "another run is using $root"
  if mountpoint -q "$root/proc"; then
    die "$root/proc is already mounted (by hand or by another tool): umount it, then rerun"
  fi
  local mounted_now
  mounted_now=$(mounts_under "$root")
  [[ -z "$mounted_now" ]] ||
    die "$(head -n 1 <<<"$mounted_now") is mounted inside the chroot: umount it, then rerun"
  if [[ -d "$root" && -n "$(ls -A "$root")" ]]; then
    [[ -f "$root/.loraft-chroot" ]] ||
      die "$root is not empty and was not made by this script: name another --root"
    local made_for
    made_for=$(cat "$root/.loraft-chroot")
    [[ "$made_for" == "$name" ]] || die "$root holds the $made_for chroot, not $name: name another --root"
    if [[ ! -f "$root/.loraft-ready" ]]; then
      say "$root: incomplete chroot (a run stopped before it was complete): making it again"
      [[ -z "$(mounts_under "$root")" ]] || die "refusing to delete $root: something is mounted inside it"
      rm -rf --one-file-system -- "$root"
    fi
  fi

  # Defence in depth: whatever the inner part leaves in this namespace (nothing) is unmounted.
  trap 'unmount_under "$root"; rm -rf "$tmp"' EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
  [[ "$codename" != "$suite" ]] || codename=""
  say "$name: Debian $suite${codename:+ ($codename)} from $mirror"
  LORAFT_TP_NAME=$name LORAFT_TP_ROOT=$root LORAFT_TP_SUITE=$suite LORAFT_TP_MIRROR=$mirror \
  LORAFT_TP_BUILD_ONLY=$build_only \
    unshare --mount --propagation private -- bash "$src/scripts/test-platform.sh" --inner
}

main() {
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)
  if [[ "${1:-}" == --inner ]]; then
    inner
  else
    outer "$@"
  fi
}

# Everything above is only definitions, and bash reads this last line whole before it runs it:
# editing this file during a run cannot change the run.
main "$@"; exit
