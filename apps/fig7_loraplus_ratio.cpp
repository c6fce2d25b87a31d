// fig7_loraplus_ratio: beyond the report. LoRA+ with lr(B)/lr(A) over the profile's ratios
// (1 is plain LoRA; the LoRA+ paper recommends ~16) on IMDB, with PEFT's weight decay (none on
// the LoRA+ groups: PEFT 0.13.2's create_loraplus_optimizer) and with the corrected decay,
// over the profile's sweep seeds.
#include "common/paper_app.h"
#include "loraft/core/error.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(argc, argv, "fig7_loraplus_ratio", "Figure 7: LoRA+ ratio and weight decay (IMDB).",
                         [](paper::Study& s) {
                           const auto& p = s.profile();
                           if (p.loraplus_ratios.empty())
                             throw ConfigError("profile " + p.name + " lists no loraplus_ratios", p.file.string());
                           const std::vector<optim::LoraPlusDecay> decays{optim::LoraPlusDecay::peft_faithful,
                                                                          optim::LoraPlusDecay::corrected};
                           std::vector<paper::Arm> arms;
                           for (auto decay : decays)
                             for (double ratio : p.loraplus_ratios) {
                               auto c = p.config(train::Method::loraplus, 0);
                               c.loraplus_ratio = ratio;
                               c.loraplus_decay = decay;
                               arms.push_back({"ratio " + paper::cell(ratio) + " " + optim::to_string(decay), c});
                             }
                           for (const auto& arm : arms) paper::run_seeds(s, arm, "imdb", p.sweep_seed_list());
                           s.write_runs_csv();
                           paper::Table t = paper::final_table(s, arms, "imdb");
                           t.columns.insert(t.columns.end(), {"ratio", "decay", "decay_series"});
                           for (std::size_t k = 0; k < arms.size(); ++k)
                             t.rows[k].insert(t.rows[k].end(),
                                              {paper::cell(arms[k].config.loraplus_ratio),
                                               optim::to_string(arms[k].config.loraplus_decay),
                                               std::to_string(k / p.loraplus_ratios.size())});
                           s.write_csv("final", t);
                           s.plot("F = RESULTS.'/fig7_loraplus_ratio_final.csv'\n"
                                  "array D[2] = [\"PEFT decay (none on LoRA+ groups)\", \"corrected decay\"]\n"
                                  "set multiplot layout 1,2 title 'IMDB: LoRA+ learning-rate ratio (profile " + p.name + ", " +
                                  paper::seeds_phrase(p.sweep_seed_list().size()) + ")'\n"
                                  "set logscale x 2\nset xlabel 'lr(B) / lr(A)'\n"
                                  "set offsets graph 0.05, graph 0.05, graph 0.05, graph 0.05\nset key bottom right\n"
                                  "set title '(a) accuracy'\nset ylabel 'accuracy'\nset yrange [0<*:*<1]\n"
                                  "plot for [d=0:1] F using 'ratio':(column('decay_series')==d ? column('acc_mean') : NaN):'acc_lo':'acc_hi' "
                                  "with yerrorlines lt d+1 title D[d+1]\n"
                                  "set title '(b) evaluation loss'\nset ylabel 'cross-entropy (nats)'\nset key top right\n"
                                  "plot for [d=0:1] F using 'ratio':(column('decay_series')==d ? column('loss_mean') : NaN):'loss_lo':'loss_hi' "
                                  "with yerrorlines lt d+1 title D[d+1]\n",
                                  8.0, 4.0);
                         });
}
