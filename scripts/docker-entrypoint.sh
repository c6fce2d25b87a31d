#!/usr/bin/env bash
# Entry point of the Docker image (docs/gpu.md): keeps everything large or precious in the
# mounted cache folder, so that the image stays as built and results outlive the container.
#
#   docker run --gpus all -v ~/.cache/loraft:/cache loraft [COMMAND...]
#   LORAFT_CACHE=DIR scripts/docker-entrypoint.sh COMMAND...    (the same outside Docker)
#
# 1. Links these paths of the repository to the same paths under the cache folder:
#      data/full                           the full IMDB and AG News (scripts/fetch-data.sh)
#      data/models/distilbert-base-uncased the model (scripts/fetch-model.sh)
#      paper/build                         the paper's results, runs and PDF (make paper)
#      runs                                run folders of loraft-train and friends
#    and sets LORAFT_CACHE_DIR to the cache folder (token caches in <cache>/tokens).
# 2. Runs the download named in the full profile's "fetch" map (paper/profiles/full.json) for
#    each of its paths that is missing or empty; a failed download is a warning, since the
#    command may not need it (the full profile itself stops naming what is missing).
# 3. Runs COMMAND (exec, so that signals reach it).
#
# environment:
#   LORAFT_CACHE    the cache folder (default /cache); it must exist: without it the results
#                   would vanish with the container
#   LORAFT_FETCH    auto (default): download what is missing; never: do not download
#   LORAFT_ROOT     the repository (default: the one holding this script)
#   LORAFT_PROFILE  the profile whose "fetch" map is used (default paper/profiles/full.json)
# exit status: COMMAND's; 2 for bad usage (no command, no cache folder, a real folder where a
# link belongs).
set -euo pipefail

usage() { sed -n '2,26p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
say() { printf 'docker-entrypoint: %s\n' "$*" >&2; }
bad() { printf 'docker-entrypoint: error: %s\n' "$*" >&2; exit 2; }

case "${1:-}" in
  -h|--help) usage; exit 0 ;;
  "") bad "no command to run (the image's default is: make paper PROFILE=full)" ;;
esac

root="${LORAFT_ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
cache="${LORAFT_CACHE:-/cache}"
fetch="${LORAFT_FETCH:-auto}"
profile="${LORAFT_PROFILE:-paper/profiles/full.json}"

[[ -d "$root" ]] || bad "LORAFT_ROOT=$root is not a folder"
[[ -d "$cache" ]] || bad "no cache folder $cache: mount one (docker run -v ~/.cache/loraft:$cache ...) or set LORAFT_CACHE"
cache="$(cd "$cache" && pwd)"
case "$fetch" in
  auto|never) ;;
  *) bad "LORAFT_FETCH=$fetch (expected auto or never)" ;;
esac
[[ "$profile" == /* ]] || profile="$root/$profile"

# link REL: makes $root/REL a link to $cache/REL (created if missing). An empty folder in the
# way is replaced; a folder with files in it is left alone and refused, never deleted.
link() {
  local rel="$1" path="$root/$1" target="$cache/$1"
  mkdir -p "$target" "$(dirname "$path")"
  if [[ -L "$path" ]]; then
    [[ "$(readlink "$path")" == "$target" ]] && return 0
    rm "$path"
  elif [[ -d "$path" ]]; then
    [[ -z "$(ls -A "$path")" ]] ||
      bad "$path is a folder with files in it, not a link to $target: move its contents into $target first"
    rmdir "$path"
  elif [[ -e "$path" ]]; then
    bad "$path is a file, not a link to $target"
  fi
  ln -s "$target" "$path"
  say "$rel -> $target"
}

for rel in data/full data/models/distilbert-base-uncased paper/build runs; do
  link "$rel"
done
export LORAFT_CACHE_DIR="${LORAFT_CACHE_DIR:-$cache}"

# The downloads: path<TAB>command lines from the profile's "fetch" map.
if [[ "$fetch" == auto && -f "$profile" ]]; then
  command -v jq >/dev/null || bad "jq is not installed (scripts/install-deps.sh lists it)"
  fetches="$(jq -r '(.fetch // {}) | to_entries[] | "\(.key)\t\(.value)"' "$profile")" ||
    bad "$profile: cannot read its \"fetch\" map"
  while IFS=$'\t' read -r rel how; do
    [[ -n "$rel" ]] || continue
    if [[ -d "$root/$rel" && -n "$(ls -A "$root/$rel")" ]]; then
      continue
    fi
    read -r -a cmd <<<"$how"
    say "$rel is missing: ${cmd[*]}"
    # The scripts write to their default places under $root, which the links above send
    # into the cache.
    if ! (cd "$root" && "./${cmd[0]}" "${cmd[@]:1}"); then
      say "warning: '${cmd[*]}' failed; $rel stays missing (offline? see the script's --mirror)"
    fi
  done <<<"$fetches"
elif [[ "$fetch" == auto ]]; then
  say "warning: no profile $profile: nothing fetched"
fi

cd "$root"
exec "$@"
