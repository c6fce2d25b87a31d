// fig8_update_rank: beyond the report. The premise of LoRA measured: singular-value spectra
// and effective rank of the full fine-tuning update W_ft - W_0 of every layer and linear
// matrix (IMDB, first seed), against the LoRA update (alpha/r)·B·A of the same data and seed.
#include <map>

#include "common/paper_app.h"
#include "loraft/paper/figures.h"
#include "loraft/paper/update_rank.h"

namespace {

using namespace loraft;

// Rows of `ranks` (x: the matrix's position among the full update's matrices, so that both
// kinds of one matrix share an x) and, for the full update, its relative spectrum.
void add_ranks(paper::Table& ranks, paper::Table& spectra, const std::vector<paper::UpdateRank>& updates,
               const std::string& kind, std::int64_t r, std::map<std::pair<std::int64_t, std::string>, int>& x_of) {
  for (const auto& u : updates) {
    const auto key = std::make_pair(u.layer, u.matrix);
    if (kind == "full") x_of.emplace(key, static_cast<int>(x_of.size()));
    const int x = x_of.count(key) ? x_of.at(key) : -1;
    const auto& sv = u.rank.singular_values;
    ranks.add({kind, std::to_string(x), std::to_string(u.layer), u.matrix,
               "L" + std::to_string(u.layer) + " " + u.matrix.substr(u.matrix.find('.') + 1),
               paper::cell(u.rank.effective_rank), paper::cell(u.rank.stable_rank),
               std::to_string(u.rank.energy_rank_90), paper::cell(analysis::energy_captured(sv, r)),
               paper::cell(u.rank.frobenius_norm)});
    if (kind != "full") continue;
    for (std::size_t i = 0; i < sv.size(); ++i)
      spectra.add({std::to_string(x), std::to_string(u.layer), u.matrix, std::to_string(i + 1),
                   paper::cell(sv[0] > 0 ? sv[i] / sv[0] : 0.0)});
  }
}

}  // namespace

int main(int argc, char** argv) {
  return app::paper_main(
      argc, argv, "fig8_update_rank", "Figure 8: rank of the full fine-tuning update vs LoRA's (IMDB).",
      [](paper::Study& s) {
        const auto& p = s.profile();
        const auto seed = p.seeds.front();
        const auto& full = s.run("full", "imdb", p.config(train::Method::full, seed));
        const auto& lora = s.run("LoRA", "imdb", p.config(train::Method::lora, seed));
        s.write_runs_csv();
        if (!s.writes()) return;  // a shard: the weights of the other shards' runs are not here
        const std::int64_t r = p.base.lora.r;
        paper::Table ranks, spectra;
        ranks.columns = {"kind", "x", "layer", "matrix", "name", "effective_rank", "stable_rank", "energy_rank_90",
                         "energy_at_r", "frobenius"};
        spectra.columns = {"series", "layer", "matrix", "index", "relative_singular_value"};
        std::map<std::pair<std::int64_t, std::string>, int> x_of;
        add_ranks(ranks, spectra, paper::full_update_ranks(p.model, full.run_dir / "final"), "full", r, x_of);
        add_ranks(ranks, spectra, paper::lora_update_ranks(lora.run_dir / "final"), "lora", r, x_of);
        s.write_csv("ranks", ranks);
        s.write_csv("spectra", spectra);
        const std::string n = std::to_string(x_of.size());
        std::string xtics = "set xtics (";
        for (const auto& [key, x] : x_of)
          xtics += (x ? ", \"L" : "\"L") + std::to_string(key.first) + " " + key.second.substr(key.second.find('.') + 1) +
                   "\" " + std::to_string(x);
        xtics += ") rotate by 60 right font ',7' noenhanced\n";
        s.plot("R = RESULTS.'/fig8_update_rank_ranks.csv'\nS = RESULTS.'/fig8_update_rank_spectra.csv'\n"
               "set multiplot layout 1,2 title 'IMDB: how low-rank is the fine-tuning update? (profile " + p.name +
               ", seed " + std::to_string(seed) + ", LoRA r = " + std::to_string(r) + ")'\n"
               "set title '(a) spectra of W_{ft} - W_0, every layer and matrix'\n"
               "unset key\nset logscale y\nset format y '10^{%L}'\nset xlabel 'singular value index'\nset ylabel 's_i / s_1'\n"
               "set arrow from " + std::to_string(r) + ", graph 0 to " + std::to_string(r) +
               ", graph 1 nohead dt 2 lc rgb '#888888'\n"
               "plot for [k=0:" + n + "-1] S using 'index':(column('series')==k ? column('relative_singular_value') : NaN) "
               "with lines lt (k%6)+1 lw 1 notitle\n"
               "unset arrow\nunset logscale y\nset format y '%g'\nset key top right\n"
               "set title '(b) effective rank of the update'\nset xlabel ''\nset ylabel 'effective rank (Roy-Vetterli)'\n"
               + xtics + "set xrange [-0.5:" + n + "-0.5]\nset yrange [0:*]\n"
               "plot R using 'x':(strcol('kind') eq 'full' ? column('effective_rank') : NaN) "
               "with points lt 1 pt 7 title 'full fine-tuning', \\\n"
               "     R using 'x':(strcol('kind') eq 'lora' ? column('effective_rank') : NaN) with points lt 2 pt 5 title 'LoRA B·A'\n",
               7.5, 4.0);
      });
}
