# Chroot helpers shared by scripts/test-platform.sh and scripts/perf-compare.sh (sourced; the
# sourcing script defines say, die and root). Mounts are made in a private mount namespace of
# the run (unshare) and undone, the latest first, when it ends.
# shellcheck shell=bash

# Mount points at or under $1, in the order of /proc/mounts (this process's namespace).
mounts_under() {
  local mnt
  while read -r _ mnt _; do
    mnt=$(printf '%b' "${mnt//\\/\\0}")  # /proc/mounts writes a space as \040
    if [[ "$mnt" == "$1" || "$mnt" == "$1"/* ]]; then
      printf '%s\n' "$mnt"
    fi
  done </proc/mounts
}

# Unmounts everything at or under $1, the latest mount first.
# shellcheck disable=SC2317,SC2329  # called by EXIT traps
unmount_under() {
  local m
  while read -r m; do
    if [[ -z "$m" ]] || ! mountpoint -q "$m"; then continue; fi
    umount "$m" 2>/dev/null || umount -l "$m" || say "could not unmount $m"
  done < <(mounts_under "$1" | tac)
}

mounted=()
# shellcheck disable=SC2317,SC2329  # called by the EXIT trap
release_mounts() {
  local i
  for ((i = ${#mounted[@]} - 1; i >= 0; i--)); do
    if mountpoint -q "${mounted[i]}"; then
      umount "${mounted[i]}" 2>/dev/null || umount -l "${mounted[i]}" ||
        say "could not unmount ${mounted[i]}"
    fi
  done
  unmount_under "${root:?}"  # anything a program inside mounted by itself and left
}

do_mount() {  # do_mount <target> <mount arguments...>
  local target=$1
  shift
  [[ -e "$target" ]] || mkdir -p "$target"
  if mountpoint -q "$target"; then die "$target is already mounted: umount it, then rerun"; fi
  mount "$@" "$target"
  mounted+=("$target")
}

# The chroot's system mounts: /proc, /sys read-only, a small /dev with the host's few character
# devices bound in (debootstrap in a container may leave the chroot's /dev empty; binding the
# whole host /dev would expose too much), /dev/pts for apt, and the source tree $2 at /src.
mount_chroot_system() {
  local r=$1 dev
  do_mount "$r/proc" -t proc proc
  do_mount "$r/sys" --bind /sys
  mount -o remount,bind,ro "$r/sys"
  do_mount "$r/dev" -t tmpfs -o mode=755,size=16m tmpfs
  for dev in null zero full random urandom tty; do
    touch "$r/dev/$dev"
    do_mount "$r/dev/$dev" --bind "/dev/$dev"
  done
  ln -s /proc/self/fd "$r/dev/fd"
  ln -s /proc/self/fd/0 "$r/dev/stdin"
  ln -s /proc/self/fd/1 "$r/dev/stdout"
  ln -s /proc/self/fd/2 "$r/dev/stderr"
  mkdir -m 1777 "$r/dev/shm"
  do_mount "$r/dev/pts" -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts
  ln -s pts/ptmx "$r/dev/ptmx"
  do_mount "$r/src" --bind "$2"
}

# The environment of programs in the chroot, one NAME=value a line: a plain PATH, HOME,
# locale, no prompts from apt, and the host's proxy settings.
chroot_env() {
  local v
  printf '%s\n' PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive
  for v in http_proxy https_proxy no_proxy HTTP_PROXY HTTPS_PROXY NO_PROXY; do
    if [[ -n "${!v:-}" ]]; then printf '%s\n' "$v=${!v}"; fi
  done
}
