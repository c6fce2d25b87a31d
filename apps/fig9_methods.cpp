// fig9_methods: beyond the report. Every method (full, LoRA, LoRA+, DoRA, IA3, bottleneck, prompt tuning)
// on both data sets: accuracy against trainable parameters and against training time, with 95%
// intervals over the profile's seeds. The runs are table 2's (reused when it ran first).
#include "common/paper_app.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(
      argc, argv, "fig9_methods", "Figure 9: every method, accuracy vs trainable parameters and vs time.",
      [](paper::Study& s) {
        const auto& p = s.profile();
        const auto arms = paper::method_arms(p);
        // One colour per method, named in the first panel's key (labels at the points collide where
        // methods of similar size and time cluster).
        const std::string n = std::to_string(arms.size());
        std::string names = "array M[" + n + "] = [";
        for (std::size_t i = 0; i < arms.size(); ++i) names += (i > 0 ? ", \"" : "\"") + arms[i].label + "\"";
        std::string script = names + "]\nset multiplot layout " +
                             std::to_string(p.data.size()) + ",2 title 'Every method (profile " + p.name + ", " +
                             paper::seeds_phrase(p.seeds.size()) + ")'\n"
                             "set yrange [0<*:*<1]\nset ylabel 'accuracy'\n"
                             "set key bottom right font ',8' spacing 0.9 box opaque\n"
                             "set offsets graph 0.1, graph 0.1, graph 0.1, graph 0.1\n";
        char panel = 'a';
        for (const auto& [data, setting] : p.data) {
          for (const auto& arm : arms) paper::run_seeds(s, arm, data, p.seeds);
          const auto file = s.write_csv(data, paper::final_table(s, arms, data)).filename().string();
          const std::string title = paper::data_title(data);
          const std::string by_params(1, panel++), by_time(1, panel++);
          const std::string only = "(column('series')==i-1 ? column('acc_mean') : NaN)";
          script += "F = RESULTS.'/" + file + "'\n"
                    "set title '(" + by_params + ") " + title + ": accuracy vs trainable parameters'\n"
                    "set logscale x\nset xlabel 'trainable parameters (log scale)'\n"
                    "plot for [i=1:" + n + "] F using 'trainable':" + only + ":'acc_lo':'acc_hi' "
                    "with yerrorbars lc i pt 7 title M[i]\n"
                    "unset key\nunset logscale x\n"
                    "set title '(" + by_time + ") " + title + ": accuracy vs training time'\n"
                    "set xlabel 'training time (s, steps x median step)'\n"
                    "plot for [i=1:" + n + "] F using 'time_mean':" + only + ":'time_lo':'time_hi':'acc_lo':'acc_hi' "
                    "with xyerrorbars lc i pt 7 title M[i]\n";
        }
        s.write_runs_csv();
        s.plot(script + "unset multiplot\n", 7.0, 3.2 * static_cast<double>(p.data.size()));
      });
}
