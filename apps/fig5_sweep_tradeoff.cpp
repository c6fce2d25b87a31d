// fig5_sweep_tradeoff: the report's figure 5. Training time against accuracy for each point of
// the profile's LoRA sweep on IMDB (the same runs as figures 3 and 4).
#include "common/paper_app.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(argc, argv, "fig5_sweep_tradeoff", "Figure 5: time vs accuracy over the LoRA sweep (IMDB).",
                         [](paper::Study& s) {
                           paper::run_sweep(s);
                           s.plot("F = RESULTS.'/fig5_sweep_tradeoff_final.csv'\n"
                                  "set title 'IMDB: training time vs accuracy over the LoRA sweep (profile " + s.profile().name + ", " +
                                  paper::seeds_phrase(s.profile().sweep_seed_list().size()) + ")'\n"
                                  "set xlabel 'training time (s, steps x median step)'\nset ylabel 'accuracy'\nset yrange [0<*:*<1]\nunset key\nset offsets graph 0.08, graph 0.08, graph 0.1, graph 0.1\n"
                                  "plot F using 'time_mean':'acc_mean':'time_lo':'time_hi':'acc_lo':'acc_hi' with xyerrorbars lt 1 notitle, \\\n"
                                  "     F using 'time_mean':'acc_mean':2 with labels offset 0,1 font ',8' notitle\n",
                                  6.0, 4.0);
                         });
}
