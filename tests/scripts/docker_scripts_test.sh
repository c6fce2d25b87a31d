#!/usr/bin/env bash
# Offline test of the Docker image's scripts, on archives and folders it makes itself:
#   scripts/install-libtorch.sh   a good SHA-256 unpacks (also through --url file://), a second
#                                 run does nothing, a bad SHA-256 or size is refused with one
#                                 line and exit 2, a foreign prefix is never deleted
#   scripts/docker-entrypoint.sh  the links into the cache folder, the downloads named by the
#                                 full profile (stub fetch scripts), exit status and errors
# Needs bash, cmake (to write zips), unzip, curl, jq and sha256sum; prints one line per check
# and "N passed, N failed". Exit status 0 when all pass.
# The checks' `bash -c '...' _ ARGS` bodies are single-quoted on purpose: they expand their own
# arguments.
# shellcheck disable=SC2016
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
install="$repo/scripts/install-libtorch.sh"
entry="$repo/scripts/docker-entrypoint.sh"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/loraft-docker-test.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

passed=0
failed=0
ok() { echo "ok - $1"; passed=$((passed + 1)); }
fail() { echo "FAIL - $1"; failed=$((failed + 1)); }
# check NAME COMMAND...: passes when COMMAND succeeds.
check() { local name="$1"; shift; if "$@"; then ok "$name"; else fail "$name"; fi; }
# run OUT ERR COMMAND...: runs COMMAND with its stdout and stderr in files; sets $rc.
run() { local out="$1" err="$2"; shift 2; rc=0; "$@" >"$out" 2>"$err" || rc=$?; }

for tool in cmake unzip curl jq sha256sum; do
  command -v "$tool" >/dev/null || { echo "docker_scripts_test: error: $tool is not installed" >&2; exit 1; }
done

# --- a small LibTorch-shaped zip -------------------------------------------------------------
# make_zip DIR ZIP [NAME]: a zip of a folder NAME (default libtorch) like the official archive's.
make_zip() {
  local src="$1" zip="$2" name="${3:-libtorch}"
  mkdir -p "$src/$name/share/cmake/Torch" "$src/$name/lib" "$src/$name/include"
  echo "# stand-in" >"$src/$name/share/cmake/Torch/TorchConfig.cmake"
  echo "$zip" >"$src/$name/lib/libtorch.so"
  echo "// header" >"$src/$name/include/torch.h"
  (cd "$src" && cmake -E tar cf "$zip" --format=zip "$name")
}
make_zip "$tmp/src1" "$tmp/one.zip"
make_zip "$tmp/src2" "$tmp/two.zip"
make_zip "$tmp/src3" "$tmp/other.zip" notlibtorch
sha_one="$(sha256sum "$tmp/one.zip" | cut -d' ' -f1)"
sha_two="$(sha256sum "$tmp/two.zip" | cut -d' ' -f1)"
sha_other="$(sha256sum "$tmp/other.zip" | cut -d' ' -f1)"
size_one="$(stat -c %s "$tmp/one.zip")"
zeros="0000000000000000000000000000000000000000000000000000000000000000"
prefix="$tmp/opt/libtorch"
o="$tmp/out" e="$tmp/err"

# --- install-libtorch.sh ----------------------------------------------------------------------
run "$o" "$e" "$install" --from "$tmp/one.zip" --sha256 "$zeros" --prefix "$prefix"
check "bad sha256 exits 2" test "$rc" = 2
check "bad sha256 is one line naming both hashes" \
  bash -c '[[ $(wc -l <"$1") == 1 ]] && grep -q "$2" "$1" && grep -q "$3" "$1"' _ "$e" "$sha_one" "$zeros"
check "bad sha256 installs nothing" test ! -e "$prefix"

run "$o" "$e" "$install" --from "$tmp/one.zip" --sha256 "$sha_one" --size 1 --prefix "$prefix"
check "wrong size exits 2 with one line" bash -c '[[ $1 == 2 && $(wc -l <"$2") == 1 ]]' _ "$rc" "$e"

run "$o" "$e" "$install" --from "$tmp/one.zip" --sha256 "$sha_one" --size "$size_one" --prefix "$prefix"
check "good sha256 and size install" test "$rc" = 0
check "TorchConfig.cmake in the prefix" test -f "$prefix/share/cmake/Torch/TorchConfig.cmake"
check "files of the archive in the prefix" cmp -s "$prefix/lib/libtorch.so" "$tmp/src1/libtorch/lib/libtorch.so"
check "the prefix records the archive's sha256" grep -qx "$sha_one" "$prefix/.loraft-libtorch.sha256"
check "no staging folder left" bash -c '! ls -A "$1" | grep -q staging' _ "$tmp/opt"

touch "$prefix/kept"
run "$o" "$e" "$install" --from "$tmp/one.zip" --sha256 "$sha_one" --prefix "$prefix"
check "second run with the same archive succeeds" test "$rc" = 0
check "second run says already installed" grep -q "already installed" "$e"
check "second run leaves the install alone" test -f "$prefix/kept"

run "$o" "$e" "$install" --from "$tmp/two.zip" --sha256 "$zeros" --prefix "$prefix"
check "bad sha256 over an install exits 2" test "$rc" = 2
check "bad sha256 leaves the old install" test -f "$prefix/kept"

run "$o" "$e" "$install" --url "file://$tmp/two.zip" --sha256 "$sha_two" --prefix "$prefix"
check "--url downloads, checks and replaces the install" test "$rc" = 0
check "the replaced install is the new archive" grep -qx "$sha_two" "$prefix/.loraft-libtorch.sha256"
check "the replaced install has no old files" test ! -e "$prefix/kept"

touch "$prefix/kept"
run "$o" "$e" "$install" --from "$tmp/two.zip" --sha256 "$sha_two" --prefix "$prefix" --force
check "--force reinstalls" bash -c '[[ $1 == 0 && ! -e $2 ]]' _ "$rc" "$prefix/kept"

run "$o" "$e" "$install" --url "file://$tmp/two.zip" --prefix "$prefix"
check "--url without --sha256 exits 2" test "$rc" = 2

run "$o" "$e" "$install" --from "$tmp/missing.zip" --prefix "$prefix"
check "--from a missing file exits 2" test "$rc" = 2

run "$o" "$e" "$install" --bogus
check "an unknown option exits 2" test "$rc" = 2

mkdir -p "$tmp/foreign"
echo precious >"$tmp/foreign/file"
run "$o" "$e" "$install" --from "$tmp/one.zip" --sha256 "$sha_one" --prefix "$tmp/foreign"
check "a foreign non-empty prefix is refused with exit 2" test "$rc" = 2
check "a foreign prefix is left as it was" grep -qx precious "$tmp/foreign/file"

run "$o" "$e" "$install" --from "$tmp/other.zip" --sha256 "$sha_other" --prefix "$tmp/opt/other"
check "an archive without libtorch/ fails (exit 1) and installs nothing" \
  bash -c '[[ $1 == 1 && ! -e $2 ]]' _ "$rc" "$tmp/opt/other"

run "$o" "$e" "$install" --help
check "--help prints the usage" grep -q -- "--prefix DIR" "$o"

# --- docker-entrypoint.sh -----------------------------------------------------------------------
# A stand-in repository: its fetch scripts record their arguments and put a file where the
# real ones would, so that the full profile's "fetch" map is followed without a network.
root="$tmp/root"
cache="$tmp/cache"
log="$tmp/fetch.log"
mkdir -p "$root/scripts" "$root/data/models/mini-distilbert" "$cache"
cat >"$root/scripts/fetch-data.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
echo "fetch-data \$*" >>"$log"
[[ "\${1:-}" != ag_news ]] || exit 1   # as if offline
mkdir -p "data/full/\$1" && echo data >"data/full/\$1/file"
EOF
cat >"$root/scripts/fetch-model.sh" <<EOF
#!/usr/bin/env bash
set -euo pipefail
echo "fetch-model \$*" >>"$log"
mkdir -p data/models/distilbert-base-uncased && echo model >data/models/distilbert-base-uncased/config.json
EOF
chmod +x "$root/scripts/fetch-data.sh" "$root/scripts/fetch-model.sh"
profile="$repo/paper/profiles/full.json"
env_run() { LORAFT_ROOT="$root" LORAFT_CACHE="$cache" LORAFT_PROFILE="$profile" "$@"; }

run "$o" "$e" env_run "$entry" bash -c 'echo "pwd=$PWD"; echo "cache_dir=$LORAFT_CACHE_DIR"'
check "the entrypoint runs the command" test "$rc" = 0
for rel in data/full data/models/distilbert-base-uncased paper/build runs; do
  check "$rel links to the cache" test "$(readlink "$root/$rel")" = "$cache/$rel"
  check "$rel exists in the cache" test -d "$cache/$rel"
done
check "the command runs in the repository" grep -qx "pwd=$root" "$o"
check "token caches go to the cache folder" grep -qx "cache_dir=$cache" "$o"
check "the profile's downloads were run" \
  bash -c 'grep -qx "fetch-model " "$1" && grep -qx "fetch-data imdb" "$1" && grep -qx "fetch-data ag_news" "$1"' _ "$log"
check "downloads land in the cache through the links" \
  bash -c '[[ -f $1/data/full/imdb/file && -f $1/data/models/distilbert-base-uncased/config.json ]]' _ "$cache"
check "a failed download is a warning, not a failure" grep -q "warning: .*data/full/ag_news stays missing" "$e"
check "the shipped folders stay" test -d "$root/data/models/mini-distilbert"

: >"$log"
run "$o" "$e" env_run "$entry" true
check "a second run succeeds" test "$rc" = 0
check "a second run fetches only what is still missing" \
  bash -c '[[ $(wc -l <"$1") == 1 ]] && grep -qx "fetch-data ag_news" "$1"' _ "$log"

: >"$log"
run "$o" "$e" env LORAFT_FETCH=never LORAFT_ROOT="$root" LORAFT_CACHE="$cache" "$entry" true
check "LORAFT_FETCH=never downloads nothing" bash -c '[[ $1 == 0 && ! -s $2 ]]' _ "$rc" "$log"

run "$o" "$e" env LORAFT_FETCH=never LORAFT_ROOT="$root" LORAFT_CACHE="$cache" "$entry" bash -c 'exit 7'
check "the command's exit status is the entrypoint's" test "$rc" = 7

run "$o" "$e" env LORAFT_ROOT="$root" LORAFT_CACHE="$tmp/no-such-cache" "$entry" true
check "a missing cache folder exits 2 with one line" bash -c '[[ $1 == 2 && $(wc -l <"$2") == 1 ]]' _ "$rc" "$e"

run "$o" "$e" env LORAFT_ROOT="$root" LORAFT_CACHE="$cache" "$entry"
check "no command exits 2" test "$rc" = 2

run "$o" "$e" env LORAFT_FETCH=sometimes LORAFT_ROOT="$root" LORAFT_CACHE="$cache" "$entry" true
check "a bad LORAFT_FETCH exits 2" test "$rc" = 2

rm "$root/runs"
mkdir -p "$root/runs/old"
echo result >"$root/runs/old/summary.json"
run "$o" "$e" env LORAFT_FETCH=never LORAFT_ROOT="$root" LORAFT_CACHE="$cache" "$entry" true
check "a folder with files where a link belongs exits 2" test "$rc" = 2
check "that folder is left as it was" grep -qx result "$root/runs/old/summary.json"

rm -r "$root/runs"
mkdir "$root/runs"
run "$o" "$e" env LORAFT_FETCH=never LORAFT_ROOT="$root" LORAFT_CACHE="$cache" "$entry" true
check "an empty folder where a link belongs becomes the link" \
  bash -c '[[ $1 == 0 && $(readlink "$2") == "$3" ]]' _ "$rc" "$root/runs" "$cache/runs"

echo "$passed passed, $failed failed"
[[ "$failed" == 0 ]]
