#!/usr/bin/env bash
# The loss curve of a loraft-pretrain run as a PNG: 250-step means of the training MLM loss
# (and of the [CLS] bag-of-words loss when the run has one, --cls-bow-weight), the held-out
# MLM loss after each epoch and the unigram baseline of the same held-out tokens.
#
#   scripts/pretraining-curve.sh RUN_DIR OUT.png
#
# RUN_DIR is the run folder loraft-pretrain printed (runs/pretrain/<hash>); needs jq, gnuplot.
set -euo pipefail
[[ $# -eq 2 ]] || { sed -n '2,7p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
run=$1 out=$2
for f in metrics.jsonl summary.json config.json; do
  [[ -f "$run/$f" ]] || { echo "pretraining-curve: error: $run/$f missing (not a finished loraft-pretrain run)" >&2; exit 2; }
done
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# `loss` is the weighted sum when there is a second term; mlm_loss is then the MLM part.
jq -r 'select(.type == "step") | "\(.step)\t\(.mlm_loss // .loss)\t\(.cls_bow_loss // "")"' "$run/metrics.jsonl" |
  awk -F'\t' '{s += $2; b += $3; n++} n == 250 {print $1 - 125 "\t" s / n "\t" ($3 == "" ? "NaN" : b / n); s = 0; b = 0; n = 0}' >"$tmp/train.tsv"
bow=""
if [[ $(jq -r '.pretrain.cls_bow_weight // 0' "$run/config.json") != 0 ]]; then
  bow=", \"$tmp/train.tsv\" using 1:3 with lines lw 2 dt 3 title \"[CLS] bag-of-words loss (250-step means)\""
fi
jq -r 'select(.type == "eval") | "\(.step)\t\(.eval_loss)"' "$run/metrics.jsonl" >"$tmp/eval.tsv"
unigram=$(jq -r '.unigram_baseline.perplexity' "$run/summary.json")
batch=$(jq -r '.pretrain.batch_size' "$run/config.json")
block=$(jq -r '.block_size' "$run/config.json")
gnuplot <<GP
set terminal pngcairo size 800,450 font "DejaVu Sans,11"
set output "$out"
set title "MLM pretraining, run $(basename "$run")"
set xlabel "optimizer step (batch of $batch blocks of $block tokens)"
set ylabel "loss (nats)"
set grid
set key top right
set yrange [*:log($unigram) + 1]
plot "$tmp/train.tsv" using 1:2 with lines lw 2 title "training MLM loss (250-step means)", \\
     "$tmp/eval.tsv" using 1:2 with linespoints pt 7 ps 1.2 lw 2 title "held-out MLM loss", \\
     log($unigram) with lines dt 2 lw 2 title sprintf("unigram baseline (held-out perplexity %.0f)", $unigram)$bow
GP
echo "pretraining-curve: wrote $out"
