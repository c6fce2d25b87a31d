#!/usr/bin/env bash
# Fetches the full IMDB (aclImdb) and AG News data sets listed in data/datasets.tsv, checks
# every listed checksum, and installs them as the readers expect:
#   <dest>/imdb/aclImdb/{train,test}/{pos,neg}/<id>_<rating>.txt  (+ README)
#   <dest>/ag_news/{train,test}.csv, classes.txt, readme.txt
# Without internet, --mirror points at an archive or folder already on disk instead.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest="$repo/data/datasets.tsv"
dest="$repo/data/full"
mirrors=()
mirror_sha=""
no_verify=0
offline=0
force=0
datasets=()

usage() {
  cat <<EOF
usage: scripts/fetch-data.sh [options] [imdb] [ag_news]

Downloads the full data sets (default: both) into --dest, verifies them against
data/datasets.tsv and unpacks them into the layout loraft's readers expect.

options:
  --dest DIR           install folder (default: data/full of this repository)
  --mirror PATH        use an archive (.tar.gz, .tgz, .tar.xz, .tar) or a folder already on
                       disk instead of downloading; may be repeated. A data set found in a
                       mirror is taken only from there (nothing of it is downloaded), so a
                       mirror without a test split installs the train split alone.
  --mirror-sha256 HEX  trust a mirror archive with this SHA-256 even if the manifest does
                       not list it
  --no-verify          install unlisted mirror archives and files whose checksums differ
                       from the manifest (a warning each; not recommended)
  --offline            never download; a data set not found in a mirror is an error
  --manifest FILE      the manifest (default: data/datasets.tsv)
  --force              reinstall a data set that is already complete
  -h, --help           this help

exit status: 0 success (a missing split is a warning), 1 failure, 2 bad usage
EOF
}

say() { printf 'fetch-data: %s\n' "$*" >&2; }
warn() { printf 'fetch-data: warning: %s\n' "$*" >&2; }
die() { printf 'fetch-data: error: %s\n' "$*" >&2; exit 1; }

while (($#)); do
  case "$1" in
    --dest) dest="${2:?--dest needs a folder}"; shift 2 ;;
    --mirror) mirrors+=("${2:?--mirror needs a path}"); shift 2 ;;
    --mirror-sha256) mirror_sha="$(tr 'A-F' 'a-f' <<<"${2:?--mirror-sha256 needs a hash}")"; shift 2 ;;
    --no-verify) no_verify=1; shift ;;
    --offline) offline=1; shift ;;
    --manifest) manifest="${2:?--manifest needs a file}"; shift 2 ;;
    --force) force=1; shift ;;
    -h|--help) usage; exit 0 ;;
    imdb|ag_news) datasets+=("$1"); shift ;;
    *) printf 'fetch-data: error: unknown argument %s (see --help)\n' "$1" >&2; exit 2 ;;
  esac
done
((${#datasets[@]})) || datasets=(imdb ag_news)
[[ -f "$manifest" ]] || die "manifest not found: $manifest"
for m in "${mirrors[@]}"; do [[ -e "$m" ]] || die "mirror not found: $m"; done

mkdir -p "$dest"
dest="$(cd "$dest" && pwd)"
staging="$(mktemp -d "$dest/.staging.XXXXXX")"
trap 'rm -rf "$staging"' EXIT

# --- helpers ---------------------------------------------------------------------------

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
md5_of() { md5sum "$1" | cut -d' ' -f1; }

# Manifest rows (tab-separated, "-" for none) of one data set, comments skipped.
rows() { awk -F'\t' -v d="$1" '$0 !~ /^#/ && NF >= 7 && $1 == d' "$manifest"; }

# verify FILE SHA256 MD5 LABEL: every hash that is not "-" must match.
verify() {
  local file="$1" sha="$2" md5="$3" label="$4" got
  if [[ "$sha" != "-" ]]; then
    got="$(sha256_of "$file")"
    if [[ "$got" != "$sha" ]]; then
      ((no_verify)) || die "$label: sha256 $got, expected $sha (damaged or different file; --no-verify to accept)"
      warn "$label: sha256 $got differs from the manifest's $sha (accepted: --no-verify)"
      return 0
    fi
  fi
  if [[ "$md5" != "-" ]]; then
    got="$(md5_of "$file")"
    if [[ "$got" != "$md5" ]]; then
      ((no_verify)) || die "$label: md5 $got, expected $md5 (damaged or different file; --no-verify to accept)"
      warn "$label: md5 $got differs from the manifest's $md5 (accepted: --no-verify)"
      return 0
    fi
  fi
  if [[ "$sha$md5" == "--" ]]; then warn "$label: no checksum in the manifest"; else say "$label: checksum ok"; fi
}

# download URL OUT: to OUT (atomically), unless --offline.
download() {
  local url="$1" out="$2"
  ((offline)) && die "$(basename "$out") is needed but --offline forbids downloading $url (use --mirror)"
  say "downloading $url"
  local tmp="$out.part"
  if command -v curl >/dev/null; then
    curl -fL --retry 3 --connect-timeout 30 -o "$tmp" "$url" || { rm -f "$tmp"; die "download failed: $url (no internet? try --mirror)"; }
  elif command -v wget >/dev/null; then
    wget -q -O "$tmp" "$url" || { rm -f "$tmp"; die "download failed: $url (no internet? try --mirror)"; }
  else
    die "neither curl nor wget is installed"
  fi
  mv "$tmp" "$out"
}

is_archive() { [[ -f "$1" ]] && [[ "$1" =~ \.(tar\.gz|tgz|tar\.xz|txz|tar\.bz2|tar)$ ]]; }

# The first mirror holding data set $1 (archive members or folder layout), or nothing.
find_mirror() {
  local want="$1" m pattern
  if [[ "$want" == imdb ]]; then pattern='(^|/)(train|test)/(pos|neg)/[0-9]+_[0-9]+\.txt$'
  else pattern='(^|/)(train|test)\.csv$'; fi
  for m in "${mirrors[@]}"; do
    # grep -c rather than -q: -q stops reading early, the writer dies of SIGPIPE, and
    # pipefail would turn the match into a failure.
    local n=0
    if is_archive "$m"; then
      n="$(tar -tf "$m" 2>/dev/null | grep -Ec "$pattern" || true)"
    elif [[ -d "$m" ]]; then
      n="$( { cd "$m" && find . -maxdepth 4 -type f 2>/dev/null | sed 's|^\./||' | grep -Ec "$pattern"; } || true)"
    fi
    if [[ "${n:-0}" -gt 0 ]]; then echo "$m"; return; fi
  done
}

# check_archive DATASET ARCHIVE: its sha256 must be listed for DATASET (archive or mirror
# row) or given with --mirror-sha256, unless --no-verify.
check_archive() {
  local ds="$1" archive="$2" got kind file sha note
  got="$(sha256_of "$archive")"
  while IFS=$'\t' read -r _ kind file _ sha _ _ note; do
    if [[ "$sha" == "$got" ]]; then
      say "$ds: $(basename "$archive") is the listed $kind $file ($note): sha256 ok"
      return 0
    fi
  done < <(rows "$ds")
  if [[ -n "$mirror_sha" ]]; then
    [[ "$got" == "$mirror_sha" ]] || die "$ds: $archive has sha256 $got, not the --mirror-sha256 $mirror_sha"
    say "$ds: $(basename "$archive") matches --mirror-sha256"
    return 0
  fi
  ((no_verify)) || die "$ds: $archive (sha256 $got) is not listed in $(basename "$manifest"); pass --mirror-sha256 $got if you trust it, or --no-verify"
  warn "$ds: $archive (sha256 $got) is unverified (accepted: --no-verify)"
}

# unpack ARCHIVE: into a fresh folder under the staging area; prints that folder.
unpack() {
  local out
  out="$(mktemp -d "$staging/unpack.XXXXXX")"
  say "unpacking $(basename "$1")"
  tar -xf "$1" -C "$out" || die "cannot unpack $1"
  echo "$out"
}

# The folder under $1 that holds train/ or test/ with the marker $2 (pos or a csv), or nothing.
find_root() {
  local base="$1" marker="$2" hit
  hit="$( { cd "$base" && find . -maxdepth 5 -path "*/$marker" 2>/dev/null | sed 's|^\./||' | sort | awk 'NR == 1'; } || true)"
  [[ -n "$hit" ]] || return 0
  echo "$base/$hit"
}

# replace TARGET NEW: puts NEW in TARGET's place, removing the old one only after the move.
replace() {
  local target="$1" new="$2"
  mkdir -p "$(dirname "$target")"
  if [[ -e "$target" ]]; then
    mv "$target" "$staging/old.$$"
    mv "$new" "$target"
    rm -rf "$staging/old.$$"
  else
    mv "$new" "$target"
  fi
}

count_txt() { [[ -d "$1" ]] && find "$1" -maxdepth 1 -type f -name '*.txt' | wc -l || echo 0; }

# --- IMDB ------------------------------------------------------------------------------

imdb_complete() {
  local r="$dest/imdb/aclImdb" s l
  for s in train test; do for l in pos neg; do
    [[ "$(count_txt "$r/$s/$l")" -gt 0 ]] || return 1
  done; done
}

fetch_imdb() {
  if imdb_complete && ((! force)); then
    say "imdb: already installed in $dest/imdb/aclImdb (--force to reinstall)"
    return
  fi
  local source mirror root copy=0
  mirror="$(find_mirror imdb)"
  if [[ -n "$mirror" ]]; then
    if is_archive "$mirror"; then
      check_archive imdb "$mirror"
      source="$(unpack "$mirror")"
    else
      warn "imdb: loose files in the folder $mirror cannot be checked against a checksum"
      source="$mirror"
      copy=1
    fi
    say "imdb: using the mirror $mirror"
  else
    local kind file url sha md5
    IFS=$'\t' read -r _ kind file url sha md5 _ _ < <(rows imdb | awk -F'\t' '$2 == "archive"' | awk 'NR == 1')
    [[ -n "${url:-}" ]] || die "imdb: no archive row in $manifest"
    mkdir -p "$dest/downloads"
    local archive="$dest/downloads/$file"
    if [[ ! -f "$archive" ]] || ! (no_verify=0; verify "$archive" "$sha" "$md5" "$file" 2>/dev/null); then
      download "$url" "$archive"
    fi
    verify "$archive" "$sha" "$md5" "imdb: $file"
    source="$(unpack "$archive")"
  fi

  # train/pos marks the split folder; fall back to test/pos for a test-only mirror.
  root="$(find_root "$source" "train/pos")"
  [[ -n "$root" ]] || root="$(find_root "$source" "test/pos")"
  [[ -n "$root" ]] || die "imdb: no {train,test}/{pos,neg} folders in ${mirror:-the archive}"
  root="$(dirname "$(dirname "$root")")"

  local new="$staging/aclImdb" s l missing=()
  mkdir -p "$new"
  for s in train test; do
    if [[ -d "$root/$s/pos" && -d "$root/$s/neg" ]]; then
      mkdir -p "$new/$s"
      for l in pos neg; do
        if ((copy)); then cp -R "$root/$s/$l" "$new/$s/$l"; else mv "$root/$s/$l" "$new/$s/$l"; fi
      done
    else
      missing+=("$s")
    fi
  done
  [[ -f "$root/README" ]] && cp "$root/README" "$new/README"
  replace "$dest/imdb/aclImdb" "$new"
  for s in train test; do
    [[ -d "$dest/imdb/aclImdb/$s" ]] &&
      say "imdb: $s: $(count_txt "$dest/imdb/aclImdb/$s/pos") pos, $(count_txt "$dest/imdb/aclImdb/$s/neg") neg (official: 12500 each)"
  done
  for s in "${missing[@]}"; do
    warn "imdb: the source has no $s split ($s/pos and $s/neg missing), so only the other split is installed; read_imdb(..., \"$s\") will fail until the official archive (https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz) is fetched"
  done
  say "imdb: installed in $dest/imdb/aclImdb"
}

# --- AG News ---------------------------------------------------------------------------

ag_complete() { [[ -f "$dest/ag_news/train.csv" && -f "$dest/ag_news/test.csv" ]]; }

fetch_ag_news() {
  if ag_complete && ((! force)); then
    say "ag_news: already installed in $dest/ag_news (--force to reinstall)"
    return
  fi
  local mirror source="" new="$staging/ag_news" missing=()
  mkdir -p "$new"
  mirror="$(find_mirror ag_news)"
  if [[ -n "$mirror" ]]; then
    if is_archive "$mirror"; then
      check_archive ag_news "$mirror"
      source="$(unpack "$mirror")"
    else
      source="$mirror"
    fi
    local hit
    hit="$(find_root "$source" "train.csv")"
    [[ -n "$hit" ]] || hit="$(find_root "$source" "test.csv")"
    source="$(dirname "$hit")"
    say "ag_news: using the mirror $mirror"
  fi
  local kind file url sha md5
  while IFS=$'\t' read -r _ kind file url sha md5 _ _; do
    [[ "$kind" == file ]] || continue
    local out="$new/$file"
    if [[ "$url" == repo:* ]]; then
      cp "$repo/${url#repo:}" "$out"
    elif [[ -n "$source" ]]; then
      if [[ -f "$source/$file" ]]; then cp "$source/$file" "$out"; else missing+=("$file"); continue; fi
    else
      download "$url" "$out"
    fi
    verify "$out" "$sha" "$md5" "ag_news: $file"
  done < <(rows ag_news)
  for f in train.csv test.csv; do
    [[ -f "$new/$f" ]] && say "ag_news: $f: $(wc -l <"$new/$f" | tr -d ' ') rows"
  done
  [[ -f "$new/train.csv" || -f "$new/test.csv" ]] || die "ag_news: neither train.csv nor test.csv found"
  replace "$dest/ag_news" "$new"
  for f in "${missing[@]}"; do
    warn "ag_news: the mirror has no $f, so it is not installed; fetch it from the manifest's URL"
  done
  say "ag_news: installed in $dest/ag_news"
}

for d in "${datasets[@]}"; do
  case "$d" in
    imdb) fetch_imdb ;;
    ag_news) fetch_ag_news ;;
  esac
done
