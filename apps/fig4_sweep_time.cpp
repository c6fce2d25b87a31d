// fig4_sweep_time: the report's figure 4. Training time of each point of the profile's LoRA
// sweep on IMDB, 95% intervals over the sweep seeds (the same runs as figures 3 and 5).
#include "common/paper_app.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(argc, argv, "fig4_sweep_time", "Figure 4: training time over the LoRA sweep (IMDB).",
                         [](paper::Study& s) {
                           paper::run_sweep(s);
                           s.plot("F = RESULTS.'/fig4_sweep_time_final.csv'\n"
                                  "set title 'IMDB: training time over the LoRA sweep (profile " + s.profile().name + ", " +
                                  paper::seeds_phrase(s.profile().sweep_seed_list().size()) + ")'\n"
                                  "set ylabel 'training time (s, steps x median step)'\nset xtics rotate by 30 right\nunset key\nset yrange [0:*]\n"
                                  "plot F using 'series':'time_mean':xtic(2) with boxes lt 2 notitle, \\\n"
                                  "     " + paper::gnuplot_interval_bars("F", "series", "time") + "\n",
                                  6.5, 3.5);
                         });
}
