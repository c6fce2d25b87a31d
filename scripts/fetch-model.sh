#!/usr/bin/env bash
# Downloads a model checkpoint listed in data/models.json (default: distilbert-base-uncased:
# config.json, vocab.txt, model.safetensors) and checks every file's sha256 (and size, where
# the manifest gives one) before it is put in place.
#
#   scripts/fetch-model.sh                          download into data/models/<model>/
#   scripts/fetch-model.sh --mirror DIR             copy the files from a local folder instead
#   scripts/fetch-model.sh --revision REV           fetch resolve/REV instead of resolve/main
#   scripts/fetch-model.sh --model NAME --dest DIR --manifest FILE
#
# A file already in place with the right hash is kept. A file whose hash does not match is
# never put in place; the script then exits with status 1. A manifest entry with a null sha256
# is accepted on first download and its hash printed, so that it can be pinned in the manifest.
# Needs curl (downloads), sha256sum, and jq or python3 (to read the manifest).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
manifest="$root/data/models.json"
model="distilbert-base-uncased"
mirror=""
dest=""
revision=""

usage() { sed -n '2,16p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }
die() { echo "fetch-model: error: $*" >&2; exit 1; }

while [[ $# -gt 0 ]]; do
  case "$1" in
    --mirror) mirror="${2:?--mirror needs a folder}"; shift 2 ;;
    --dest) dest="${2:?--dest needs a folder}"; shift 2 ;;
    --model) model="${2:?--model needs a name}"; shift 2 ;;
    --manifest) manifest="${2:?--manifest needs a file}"; shift 2 ;;
    --revision) revision="${2:?--revision needs a commit or branch}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown argument: $1" ;;
  esac
done

[[ -f "$manifest" ]] || die "$manifest: manifest not found"
[[ -z "$mirror" || -d "$mirror" ]] || die "$mirror: mirror folder not found"

# Prints "url_base<TAB>destination" then one "name<TAB>sha256<TAB>size" line per file
# (null values as "-").
read_manifest() {
  if command -v jq >/dev/null 2>&1; then
    jq -r --arg m "$model" '
      if has($m) | not then error("no model \"" + $m + "\" in the manifest") else . end
      | .[$m] as $e
      | ([$e.url_base // "-", $e.destination // "-"] | @tsv),
        ($e.files[] | [.name, (.sha256 // "-"), ((.size // "-") | tostring)] | @tsv)' "$manifest"
  elif command -v python3 >/dev/null 2>&1; then
    python3 - "$manifest" "$model" <<'EOF'
import json, sys
manifest, model = sys.argv[1], sys.argv[2]
entries = json.load(open(manifest, encoding="utf-8"))
if model not in entries:
    sys.exit('no model "%s" in the manifest' % model)
e = entries[model]
dash = lambda v: "-" if v is None else str(v)
print("%s\t%s" % (dash(e.get("url_base")), dash(e.get("destination"))))
for f in e["files"]:
    print("%s\t%s\t%s" % (f["name"], dash(f.get("sha256")), dash(f.get("size"))))
EOF
  else
    die "reading $manifest needs jq or python3"
  fi
}

listing=$(read_manifest) || die "$manifest: cannot read model \"$model\""
IFS=$'\t' read -r url_base default_dest <<<"$(head -n 1 <<<"$listing")"
if [[ -z "$dest" ]]; then
  [[ "$default_dest" != "-" ]] || die "no destination for $model in the manifest; pass --dest"
  [[ "$default_dest" == /* ]] && dest="$default_dest" || dest="$root/$default_dest"
fi
if [[ -n "$revision" ]]; then
  url_base="${url_base%/resolve/*}/resolve/$revision"
fi
mkdir -p "$dest"

failed=0
while IFS=$'\t' read -r name sha size; do
  [[ -n "$name" ]] || continue
  target="$dest/$name"
  if [[ -f "$target" && "$sha" != "-" ]] && [[ "$(sha256sum "$target" | cut -d' ' -f1)" == "$sha" ]]; then
    echo "fetch-model: $name: already present, sha256 ok"
    continue
  fi
  tmp="$target.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  if [[ -n "$mirror" ]]; then
    [[ -f "$mirror/$name" ]] || { echo "fetch-model: error: $mirror/$name: not in the mirror" >&2; failed=1; continue; }
    cp "$mirror/$name" "$tmp"
  else
    [[ "$url_base" != "-" ]] || die "no url_base for $model in the manifest; use --mirror"
    echo "fetch-model: downloading $url_base/$name"
    if ! curl -fL --retry 3 --connect-timeout 30 -o "$tmp" "$url_base/$name"; then
      rm -f "$tmp"; echo "fetch-model: error: download of $name failed" >&2; failed=1; continue
    fi
  fi
  actual_size=$(stat -c %s "$tmp")
  if [[ "$size" != "-" && "$actual_size" != "$size" ]]; then
    rm -f "$tmp"
    echo "fetch-model: error: $name: $actual_size bytes, the manifest expects $size" >&2
    failed=1; continue
  fi
  actual_sha=$(sha256sum "$tmp" | cut -d' ' -f1)
  if [[ "$sha" == "-" ]]; then
    echo "fetch-model: $name: no sha256 in the manifest; this copy has sha256 $actual_sha ($actual_size bytes): pin it in $manifest"
  elif [[ "$actual_sha" != "$sha" ]]; then
    rm -f "$tmp"
    echo "fetch-model: error: $name: sha256 $actual_sha, the manifest expects $sha" >&2
    failed=1; continue
  fi
  mv -f "$tmp" "$target"
  trap - EXIT
  echo "fetch-model: $name: ok ($actual_size bytes)"
done < <(tail -n +2 <<<"$listing")

[[ $failed -eq 0 ]] || die "some files failed; nothing wrong was put in $dest"
echo "fetch-model: $model is in $dest"
