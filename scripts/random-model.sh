#!/usr/bin/env bash
# A stand-in for distilbert-base-uncased when its download is not at hand: the same
# architecture (6 layers, dim 768, 12 heads, feed-forward 3072, 512 positions, the
# bert-base-uncased vocabulary) with random weights, moved by a single masked-LM step on the
# shipped IMDB sample, written as a transformers MLM checkpoint folder like the real download.
# The gpu-smoke profile runs on it, so that the full-size GPU path runs end to end offline;
# its accuracies say nothing about DistilBERT.
#
#   scripts/random-model.sh [--dest DIR] [--device cpu|cuda]   (default data/models/distilbert-base-random)
#
# Needs the built loraft-pretrain (make build; BUILD_DIR names another build folder).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
dest="$root/data/models/distilbert-base-random"
device=cpu
die() { echo "random-model: error: $*" >&2; exit 2; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dest) dest="${2:?--dest needs a folder}"; shift 2 ;;
    --device) device="${2:?--device needs cpu or cuda}"; shift 2 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument $1" ;;
  esac
done
[[ -x "$build/apps/loraft-pretrain" ]] || die "$build/apps/loraft-pretrain not built: run make build"
if [[ -f "$dest/model.safetensors" ]]; then
  echo "random-model: $dest already there" >&2
  exit 0
fi

runs=$(mktemp -d)
trap 'rm -rf "$runs"' EXIT
# distilbert-base-uncased's config.json: DistilBertConfig() defaults, which these flags restate.
"$build/apps/loraft-pretrain" --corpus "imdb:$root/data/samples/imdb:train" \
  --vocab "$root/data/vocab/bert-base-uncased/vocab.txt" \
  --layers 6 --dim 768 --heads 12 --hidden-dim 3072 --max-positions 512 --dropout 0.1 \
  --line-by-line --block-size 128 --validation-percent 1 --max-steps 1 --batch-size 2 \
  --seed 42 --device "$device" --runs-dir "$runs" --out "$dest"
echo "random-model: $dest" >&2
