// table3_claims: the report's claims, each tested. For every claim a quantity measured on this
// profile's runs (those of figures 1-3 and 6, reused), its mean and 95% interval over seeds,
// a stated threshold and the verdict the rule gives (paper/claims.h). Writes table3_claims.csv
// (its runs), table3_claims_verdicts.csv (the claims),
// the LaTeX table table3_claims.tex and table3_claims_numbers.tex (one macro per number and
// verdict, for the discussion in the paper's text).
#include <algorithm>
#include <cmath>
#include <functional>
#include <sstream>

#include "common/paper_app.h"
#include "loraft/paper/claims.h"
#include "loraft/paper/figures.h"

namespace {

using namespace loraft;
using Runs = std::vector<const paper::Run*>;

double accuracy(const paper::Run& r) { return r.final_metric("eval_accuracy"); }

// f(a[i], b[i]) for the runs of each seed, summarised over the seeds.
analysis::SeedSummary paired(const Runs& a, const Runs& b,
                             const std::function<double(const paper::Run&, const paper::Run&)>& f) {
  std::vector<double> values;
  for (std::size_t i = 0; i < std::min(a.size(), b.size()); ++i) values.push_back(f(*a[i], *b[i]));
  return analysis::t_interval(values);
}

analysis::SeedSummary accuracy_difference(const Runs& a, const Runs& b) {
  return paired(a, b, [](const paper::Run& x, const paper::Run& y) { return accuracy(x) - accuracy(y); });
}

analysis::SeedSummary time_ratio(const Runs& a, const Runs& b) {
  return paired(a, b, [](const paper::Run& x, const paper::Run& y) { return x.train_seconds() / y.train_seconds(); });
}

// \newcommand{\claim<Kind><Id>}{text}
std::string macro(const std::string& kind, const std::string& id, const std::string& text) {
  return "\\newcommand{\\claim" + kind + id + "}{" + text + "}\n";
}

std::string fixed(double v, int digits) {
  std::ostringstream s;
  s.setf(std::ios::fixed);
  s.precision(digits);
  s << v;
  return s.str();
}

}  // namespace

int main(int argc, char** argv) {
  return app::paper_main(argc, argv, "table3_claims", "Table 3: the report's claims, tested.", [](paper::Study& s) {
    const auto& p = s.profile();
    const auto& seeds = p.seeds;
    const Runs full_imdb = paper::run_seeds(s, {"full", p.config(train::Method::full, 0)}, "imdb", seeds);
    const Runs lora_imdb = paper::run_seeds(s, {"LoRA", p.config(train::Method::lora, 0)}, "imdb", seeds);
    const Runs plus_imdb = paper::run_seeds(s, {"LoRA+", p.config(train::Method::loraplus, 0)}, "imdb", seeds);
    const Runs full_ag = paper::run_seeds(s, {"full", p.config(train::Method::full, 0)}, "ag_news", seeds);
    const Runs lora_ag = paper::run_seeds(s, {"LoRA", p.config(train::Method::lora, 0)}, "ag_news", seeds);

    // "Almost the same accuracy" is taken as within 1 point (0.01); "far fewer parameters" as
    // under a tenth; "much less / not so big a difference in time" as the LoRA / full time
    // ratio below 1, and above 0.5 (LoRA saves less than half the time).
    using paper::Rule;
    const analysis::SeedSummary lora_full_imdb_time = time_ratio(lora_imdb, full_imdb);  // two claims test it
    std::vector<paper::Claim> claims{
        {"ImdbAccuracy", "IMDB: full fine-tuning and LoRA reach almost the same accuracy (fig. 1d)",
         "accuracy full - LoRA", Rule::within, 0.01, accuracy_difference(full_imdb, lora_imdb)},
        {"Params", "LoRA trains far fewer parameters (fig. 1b, 2b)", "trainable parameters LoRA / full", Rule::below,
         0.1, paired(lora_imdb, full_imdb, [](const paper::Run& a, const paper::Run& b) {
           return a.metric("trainable_parameters") / b.metric("trainable_parameters");
         })},
        {"ImdbTime", "LoRA takes less training time than full fine-tuning (fig. 1a)", "training time LoRA / full (IMDB)",
         Rule::below, 1.0, lora_full_imdb_time},
        {"TimeNotBig", "... but the difference in training time is not so big (conclusion)",
         "training time LoRA / full (IMDB)", Rule::above, 0.5, lora_full_imdb_time},
        {"AgAccuracy", "AG News: LoRA's accuracy is close to full fine-tuning's (fig. 2d)", "accuracy full - LoRA",
         Rule::within, 0.01, accuracy_difference(full_ag, lora_ag)},
        {"AgTime", "AG News needs more training time than IMDB (fig. 2a)", "full fine-tuning time AG News / IMDB",
         Rule::above, 1.0, time_ratio(full_ag, full_imdb)},
        {"PlusTime", "LoRA+ (ratio 2) trains faster than LoRA (fig. 6)", "training time LoRA+ / LoRA", Rule::below, 1.0,
         time_ratio(plus_imdb, lora_imdb)},
        {"PlusAccuracy", "LoRA+ has no obvious accuracy gain over LoRA (fig. 6)", "accuracy LoRA+ - LoRA",
         Rule::within, 0.01, accuracy_difference(plus_imdb, lora_imdb)}};

    // The sweep (figs. 3-5): the rank changes accuracy by little (the points that differ from
    // the base configuration in r alone, alpha scaled with r), and more target modules cost time.
    const auto arms = paper::sweep_arms(p);
    const auto& base = p.base.lora;
    std::vector<Runs> rank_runs;
    const Runs* base_runs = nullptr;
    const Runs* widest_runs = nullptr;
    std::size_t widest = base.target_modules.size();
    std::vector<Runs> sweep_runs;
    sweep_runs.reserve(arms.size());  // stable addresses for the pointers below
    for (const auto& arm : arms) {
      sweep_runs.push_back(paper::run_seeds(s, arm, "imdb", p.sweep_seed_list()));
      const auto& l = arm.config.lora;
      const bool same_else = l.target_modules == base.target_modules && l.lora_dropout == base.lora_dropout &&
                             l.lora_alpha / l.r == base.lora_alpha / base.r;
      if (same_else) rank_runs.push_back(sweep_runs.back());
      if (same_else && l.r == base.r) base_runs = &sweep_runs.back();
      if (l.r == base.r && l.target_modules.size() > widest) widest = l.target_modules.size(), widest_runs = &sweep_runs.back();
    }
    if (rank_runs.size() >= 2) {
      std::vector<double> ranges;
      for (std::size_t i = 0; i < rank_runs.front().size(); ++i) {
        double lo = 1, hi = 0;
        for (const auto& runs : rank_runs) lo = std::min(lo, accuracy(*runs[i])), hi = std::max(hi, accuracy(*runs[i]));
        ranges.push_back(hi - lo);
      }
      claims.push_back({"RankAccuracy", "The rank r moves accuracy little (fig. 3)",
                        "accuracy range over r = " + std::to_string(rank_runs.size()) + " ranks", Rule::below, 0.01,
                        analysis::t_interval(ranges)});
    }
    if (base_runs != nullptr && widest_runs != nullptr)
      claims.push_back({"TargetsTime", "More target modules cost training time (figs. 4-5)",
                        "training time all linear / q,v (r = " + std::to_string(base.r) + ")", Rule::above, 1.0,
                        time_ratio(*widest_runs, *base_runs)});

    s.write_runs_csv();
    s.write_csv("verdicts", paper::claims_table(claims));
    std::ostringstream tex, numbers;
    tex << "% made by table3_claims (profile " << p.name << ")\n"
        << "\\begin{tabular}{p{5.2cm}p{3.6cm}lrl}\n\\hline\nclaim & measured as & rule & mean [95\\% interval] & "
           "verdict\\\\\n\\hline\n";
    numbers << "% made by table3_claims (profile " << p.name << ")\n";
    for (const auto& c : claims) {
      const std::string value = fixed(c.value.mean, 3) + " [" + fixed(c.value.ci_low, 3) + ", " +
                                fixed(c.value.ci_high, 3) + "]";
      tex << paper::tex_escape(c.statement) << " & " << paper::tex_escape(c.quantity) << " & "
          << paper::tex_escape(c.rule_text()) << " & " << value << " & \\textbf{" << to_string(c.verdict())
          << "}\\\\\n";
      numbers << macro("Value", c.id, value) << macro("Verdict", c.id, to_string(c.verdict()))
              << macro("Seeds", c.id, std::to_string(c.value.n));
    }
    tex << "\\hline\n\\end{tabular}\n";
    s.write_result("table3_claims.tex", tex.str());
    s.write_result("table3_claims_numbers.tex", numbers.str());
  });
}
