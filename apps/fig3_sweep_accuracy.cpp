// fig3_sweep_accuracy: the report's figure 3. Test accuracy of each point of the profile's
// LoRA sweep on IMDB (rank, alpha, dropout, target modules), 95% intervals over the sweep seeds;
// points, not bars: accuracies differ by less than the distance from zero.
#include "common/paper_app.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(argc, argv, "fig3_sweep_accuracy", "Figure 3: accuracy over the LoRA sweep (IMDB).",
                         [](paper::Study& s) {
                           paper::run_sweep(s);
                           s.plot("F = RESULTS.'/fig3_sweep_accuracy_final.csv'\n"
                                  "set title 'IMDB: accuracy over the LoRA sweep (profile " + s.profile().name + ", " +
                                  paper::seeds_phrase(s.profile().sweep_seed_list().size()) + ")'\n"
                                  "set ylabel 'accuracy'\nset yrange [0<*:*<1]\nset xtics rotate by 30 right\nunset key\n"
                                  "set offsets 0.5, 0.5, graph 0.1, graph 0.1\n"
                                  "plot F using 'series':'acc_mean':xtic(2) with points lt 1 pt 7 ps 1.4 notitle, \\\n"
                                  "     " + paper::gnuplot_interval_bars("F", "series", "acc") + "\n",
                                  6.5, 3.5);
                         });
}
