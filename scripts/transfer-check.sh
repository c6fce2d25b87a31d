#!/usr/bin/env bash
# Does pretraining transfer? Fine-tunes the mini encoder (data/models/mini-distilbert) and a
# random initialisation of the same architecture (the very weights pretraining started from:
# its seed, no step taken) with full fine-tuning and LoRA on the shipped IMDB and AG News
# samples, same configuration and seeds, and prints the test accuracies as a Markdown table.
#
#   scripts/transfer-check.sh [--jobs N] [--seeds "S ..."] [--model DIR]
#     --jobs N      N runs at a time (default 1)
#     --seeds LIST  fine-tuning seeds; the table shows the mean accuracy over them (default 42)
#     --model DIR   the pretrained MLM folder to judge (default data/models/mini-distilbert)
#
# Runs go to runs/transfer (finished runs are reused); needs `make` to have built the apps.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
mini="$root/data/models/mini-distilbert"
runs="$root/runs/transfer"
jobs=1
seeds=42
while [[ $# -gt 0 ]]; do
  case "$1" in
    --jobs) jobs="${2:?--jobs needs a number}"; shift 2 ;;
    --seeds) seeds="${2:?--seeds needs a list}"; shift 2 ;;
    --model) mini=$(cd "${2:?--model needs a folder}" && pwd); shift 2 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "transfer-check: error: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -f "$mini/model.safetensors" ]] || { echo "transfer-check: error: $mini missing: run make pretrain" >&2; exit 2; }

# The random initialisation: the pretraining recipe's architecture and seed, learning rate 0.
# One folder per architecture (the config's hash), so a new recipe never meets a stale one.
random="$runs/random-init-$(sha256sum "$mini/config.json" | cut -c1-16)"
if [[ ! -f "$random/model.safetensors" ]]; then
  arch=$(jq -r '"--layers \(.n_layers) --dim \(.dim) --heads \(.n_heads) --hidden-dim \(.hidden_dim) --max-positions \(.max_position_embeddings) --dropout \(.dropout)"' "$mini/config.json")
  seed=$(jq -r '.run_config.pretrain.seed' "$mini/pretraining.json")
  # shellcheck disable=SC2086
  "$build/apps/loraft-pretrain" --corpus "ag_news:$root/data/samples/ag_news/train.csv" $arch \
    --seed "$seed" --lr 0 --max-steps 1 --batch-size 1 --threads 1 \
    --runs-dir "$runs/pretrain" --out "$random" >/dev/null
fi

one_run() {  # data init method seed -> prints "data init method seed accuracy"
  local data=$1 init=$2 method=$3 seed=$4 model train eval
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
    --method "$method" --lr "$lr" --epochs 3 --batch-size 16 --seed "$seed" --threads 1 \
    --runs-dir "$runs" 2>/dev/null)
  echo "$data $init $method $seed $(jq -r '.eval_accuracy' <<<"$out")"
}
export -f one_run
export root build mini random runs

results=$(for data in imdb ag_news; do for method in full lora; do for init in pretrained random; do
  for seed in $seeds; do echo "$data $init $method $seed"; done; done; done; done | xargs -P "$jobs" -L 1 bash -c 'one_run "$@"' _)

mean() {  # data init method -> mean accuracy over the seeds
  awk -v d="$1" -v i="$2" -v m="$3" '$1==d && $2==i && $3==m {s+=$5; n++} END {printf "%.3f", s/n}' <<<"$results"
}
echo "Test accuracy, mean over seeds $seeds:"
echo
echo "| data set | method | pretrained | random init |"
echo "|---|---|---|---|"
for data in imdb ag_news; do for method in full lora; do
  printf '| %s | %s | %s | %s |\n' "$data" "$method" "$(mean $data pretrained $method)" "$(mean $data random $method)"
done; done
echo
echo "Per seed (data set, start, method, seed, accuracy):"
sort <<<"$results"
