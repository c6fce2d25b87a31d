#!/usr/bin/env bash
# Does pretraining transfer? Fine-tunes the mini encoder (data/models/mini-distilbert) and a
# random initialisation of the same architecture (the very weights pretraining started from:
# its seed, no step taken) with full fine-tuning and LoRA on the shipped IMDB and AG News
# samples, same configuration and seed, and prints the test accuracies as a Markdown table.
#
#   scripts/transfer-check.sh [--jobs N]     N runs at a time (default 1)
#
# Runs go to runs/transfer (finished runs are reused); needs `make` to have built the apps.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
mini="$root/data/models/mini-distilbert"
runs="$root/runs/transfer"
jobs=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs) jobs="${2:?--jobs needs a number}"; shift 2 ;;
    -h|--help) sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "transfer-check: error: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -f "$mini/model.safetensors" ]] || { echo "transfer-check: error: $mini missing: run make pretrain" >&2; exit 2; }

# The random initialisation: the pretraining recipe's architecture and seed, learning rate 0.
random="$runs/random-init"
if [[ ! -f "$random/model.safetensors" ]]; then
  arch=$(jq -r '"--layers \(.n_layers) --dim \(.dim) --heads \(.n_heads) --hidden-dim \(.hidden_dim) --max-positions \(.max_position_embeddings)"' "$mini/config.json")
  seed=$(jq -r '.run_config.pretrain.seed' "$mini/pretraining.json")
  # shellcheck disable=SC2086
  "$build/apps/loraft-pretrain" --corpus "ag_news:$root/data/samples/ag_news/train.csv" $arch \
    --seed "$seed" --lr 0 --max-steps 1 --batch-size 1 --threads 1 \
    --runs-dir "$runs/pretrain" --out "$random" >/dev/null
fi

one_run() {  # data init method -> prints "data init method accuracy"
  local data=$1 init=$2 method=$3 model train eval
  model=$([[ $init == pretrained ]] && echo "$mini" || echo "$random")
  if [[ $data == imdb ]]; then
    train="imdb:$root/data/samples/imdb:train"; eval="imdb:$root/data/samples/imdb:test"
  else
    train="ag_news:$root/data/samples/ag_news/train.csv"; eval="ag_news:$root/data/samples/ag_news/test.csv"
  fi
  local lr=1e-3
  [[ $method == full ]] && lr=2e-4
  local out
  out=$("$build/apps/loraft-train" --model "$model" --vocab "$mini/vocab.txt" --train "$train" --eval "$eval" \
    --method "$method" --lr "$lr" --epochs 3 --batch-size 16 --seed 42 --threads 1 \
    --runs-dir "$runs" 2>/dev/null)
  echo "$data $init $method $(jq -r '.eval_accuracy' <<<"$out")"
}
export -f one_run
export root build mini random runs

results=$(for data in imdb ag_news; do for method in full lora; do for init in pretrained random; do
  echo "$data $init $method"; done; done; done | xargs -P "$jobs" -L 1 bash -c 'one_run "$@"' _)

echo "| data set | method | pretrained | random init |"
echo "|---|---|---|---|"
for data in imdb ag_news; do for method in full lora; do
  p=$(awk -v d=$data -v m=$method '$1==d && $2=="pretrained" && $3==m {print $4}' <<<"$results")
  r=$(awk -v d=$data -v m=$method '$1==d && $2=="random" && $3==m {print $4}' <<<"$results")
  printf '| %s | %s | %.3f | %.3f |\n' "$data" "$method" "$p" "$r"
done; done
