#!/usr/bin/env bash
# Regenerates every figure and table of the paper for one profile, then the PDF report.
#
#   scripts/paper.sh [--profile smoke|mini|full|FILE] [--out DIR] [--no-pdf] [--shard i/n]
#
# Each program resolves its runs through the run folders under DIR/runs: finished runs are
# reused, an interrupted run resumes from its last checkpoint, so running this again after an
# interruption continues where it stopped, and with nothing changed it trains nothing.
# Outputs: DIR/results (CSV, LaTeX tables, manifests), DIR/figures (PDF, PNG), DIR/paper.pdf
# when latexmk and TeX Live are installed (scripts/install-deps.sh --tex).
# --shard i/n: only the i-th of n disjoint parts of the runs, no figures (n machines share the
# work; copy their DIR/runs folders together, then run once without --shard).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="${BUILD_DIR:-$root/build}"
profile=mini
out=""
pdf=1
shard=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --profile) profile="${2:?--profile needs a name}"; shift 2 ;;
    --out) out="${2:?--out needs a folder}"; shift 2 ;;
    --no-pdf) pdf=0; shift ;;
    --shard) shard=(--shard "${2:?--shard needs i/n}"); pdf=0; shift 2 ;;
    -h|--help) sed -n '2,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "paper: error: unknown argument $1" >&2; exit 2 ;;
  esac
done
out="${out:-$root/paper/build/$(basename "$profile" .json)}"
mkdir -p "$out"

# Table 1 trains nothing; figures 1, 2 and 6 train the method comparisons that table 2 then
# reuses and extends to every method, and figure 9 draws; figures 3-5 share the sweep; figure 8 reuses the first seed of figure 1; table 3 (the
# report's claims, tested) reuses the runs of figures 1-3 and 6.
apps=(table1_setup fig1_imdb fig2_agnews fig6_loraplus table2_results fig9_methods fig3_sweep_accuracy
      fig4_sweep_time fig5_sweep_tradeoff fig7_loraplus_ratio fig8_update_rank table3_claims)
start=$SECONDS
for i in "${!apps[@]}"; do
  app=${apps[$i]}
  echo "== [$((i + 1))/${#apps[@]}] $app (profile $profile, $((SECONDS - start)) s so far)" >&2
  "$build/apps/$app" --profile "$profile" --root "$root" --out "$out" "${shard[@]}"
done
if [[ ${#shard[@]} -gt 0 ]]; then
  echo "paper: shard ${shard[1]} of profile $profile: its runs in $out/runs ($((SECONDS - start)) s)" >&2
  exit 0
fi
echo "paper: figures and tables of profile $profile in $out ($((SECONDS - start)) s)" >&2

[[ $pdf == 1 ]] || exit 0
if ! command -v latexmk >/dev/null || ! command -v pdflatex >/dev/null; then
  echo "paper: latexmk/TeX Live not installed: stopping after the figures (scripts/install-deps.sh --tex installs them)" >&2
  exit 0
fi
git -C "$root" describe --always --dirty --tags 2>/dev/null > "$out/results/revision.txt" || echo unknown > "$out/results/revision.txt"
cp "$root/paper/paper.tex" "$out/paper.tex"
(cd "$out" && latexmk -pdf -interaction=nonstopmode -halt-on-error -quiet paper.tex >/dev/null) ||
  { echo "paper: error: LaTeX failed, see $out/paper.log" >&2; exit 1; }
# Vector fonts only: a Type 3 font is a bitmap that blurs when zoomed (pdffonts: poppler-utils).
if command -v pdffonts >/dev/null && pdffonts "$out/paper.pdf" | grep -q "Type 3"; then
  echo "paper: error: $out/paper.pdf has Type 3 (bitmap) fonts: install lmodern (scripts/install-deps.sh --tex)" >&2
  exit 1
fi
echo "paper: $out/paper.pdf" >&2
