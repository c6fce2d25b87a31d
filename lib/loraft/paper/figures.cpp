#include "loraft/paper/figures.h"

#include <map>

#include "loraft/core/error.h"

namespace loraft::paper {

std::vector<const Run*> run_seeds(Study& study, const Arm& arm, const std::string& data,
                                  const std::vector<std::uint64_t>& seeds) {
  std::vector<const Run*> out;
  for (auto seed : seeds) {
    auto config = arm.config;
    config.seed = seed;
    out.push_back(&study.run(arm.label, data, config));
  }
  return out;
}

Table epoch_table(const Study& study, const std::vector<Arm>& arms, const std::string& data) {
  Table t;
  t.columns = {"series", "label", "epoch", "loss_mean", "loss_lo", "loss_hi", "acc_mean", "acc_lo", "acc_hi"};
  for (std::size_t k = 0; k < arms.size(); ++k) {
    std::map<double, std::pair<std::vector<double>, std::vector<double>>> by_epoch;
    for (const Run* r : study.select(arms[k].label, data))
      for (const auto& e : r->summary.at("epochs")) {
        auto& [loss, acc] = by_epoch[e.at("epoch").get<double>()];
        loss.push_back(e.at("eval_loss").get<double>());
        acc.push_back(e.at("eval_accuracy").get<double>());
      }
    for (const auto& [epoch, values] : by_epoch) {
      auto loss = analysis::t_interval(values.first);
      auto acc = analysis::t_interval(values.second);
      t.add({std::to_string(k), arms[k].label, cell(epoch), cell(loss.mean), cell(loss.ci_low),
             cell(loss.ci_high), cell(acc.mean), cell(acc.ci_low), cell(acc.ci_high)});
    }
  }
  return t;
}

Table final_table(const Study& study, const std::vector<Arm>& arms, const std::string& data) {
  Table t;
  t.columns = {"series", "label", "n", "acc_mean", "acc_lo", "acc_hi", "loss_mean", "loss_lo",
               "loss_hi", "time_mean", "time_lo", "time_hi", "trainable", "rss_mean", "rss_lo", "rss_hi"};
  for (std::size_t k = 0; k < arms.size(); ++k) {
    auto runs = study.select(arms[k].label, data);
    auto acc = over_seeds(runs, [](const Run& r) { return r.final_metric("eval_accuracy"); });
    auto loss = over_seeds(runs, [](const Run& r) { return r.final_metric("eval_loss"); });
    auto time = over_seeds(runs, [](const Run& r) { return r.train_seconds(); });
    auto rss = over_seeds(runs, [](const Run& r) { return r.metric("peak_rss_mib"); });
    t.add({std::to_string(k), arms[k].label, std::to_string(runs.size()), cell(acc.mean), cell(acc.ci_low),
           cell(acc.ci_high), cell(loss.mean), cell(loss.ci_low), cell(loss.ci_high), cell(time.mean),
           cell(time.ci_low), cell(time.ci_high),
           cell(runs.empty() ? 0.0 : runs.front()->metric("trainable_parameters")), cell(rss.mean),
           cell(rss.ci_low), cell(rss.ci_high)});
  }
  return t;
}

std::string gnuplot_labels(const std::string& name, const std::vector<Arm>& arms) {
  std::string s = "array " + name + "[" + std::to_string(arms.size()) + "] = [";
  for (std::size_t k = 0; k < arms.size(); ++k) s += (k ? ", \"" : "\"") + arms[k].label + "\"";
  return s + "]\n";
}

std::string gnuplot_interval_bars(const std::string& data, const std::string& x, const std::string& prefix) {
  return data + " using '" + x + "':'" + prefix + "_lo':(0):(column('" + prefix + "_hi')-column('" + prefix +
         "_lo')) with vectors heads size screen 0.008,90 lc rgb '#222222' lw 1.5 notitle";
}

std::string seeds_phrase(std::size_t n) {
  return n == 1 ? std::string("1 seed") : std::to_string(n) + " seeds, 95% intervals";
}

std::string tex_escape(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '_' || c == '%' || c == '&' || c == '#' || c == '$' || c == '{' || c == '}') out += '\\';
    out += c;
  }
  return out;
}

std::string data_title(const std::string& data) {
  if (data == "imdb") return "IMDB";
  if (data == "ag_news") return "AG News";
  return data;
}


void compare_methods(Study& study, const std::string& data, const std::vector<Arm>& arms,
                     const std::string& title) {
  for (const auto& arm : arms) run_seeds(study, arm, data, study.profile().seeds);
  study.write_runs_csv();
  const auto epochs = study.write_csv("epochs", epoch_table(study, arms, data)).filename().string();
  const auto final = study.write_csv("final", final_table(study, arms, data)).filename().string();
  const std::string n = std::to_string(arms.size());
  study.plot(gnuplot_labels("L", arms) +
             "E = RESULTS.'/" + epochs + "'\nF = RESULTS.'/" + final + "'\n"
             "set multiplot title '" + title + " (profile " + study.profile().name +
             ", " + seeds_phrase(study.profile().seeds.size()) + ")'\n"
             "set xrange [-0.6:" + n + "-0.4]\nunset key\nset size 0.333,0.46\nset origin 0,0.47\n"
             "set title '(a) training time'\nset ylabel 'seconds (steps x median step)'\nset yrange [0:*]\n"
             "plot F using 'series':'time_mean':(column('series')+1):xtic(2) with boxes lc variable notitle, \\\n"
             "     " + gnuplot_interval_bars("F", "series", "time") + "\n"
             "set origin 0.333,0.47\n"
             "set title '(b) trainable parameters'\nset ylabel 'parameters'\nset logscale y\nset yrange [*:*]\n"
             "plot F using 'series':'trainable':(column('series')+1):xtic(2) with boxes lc variable notitle, \\\n"
             "     F using 'series':'trainable':(column('trainable') >= 1e6 ? sprintf('%#.3g M', column('trainable')/1e6) : column('trainable') >= 1e3 ? sprintf('%#.3g k', column('trainable')/1e3) : sprintf('%d', column('trainable'))) with labels offset 0,0.8 notitle\n"
             "unset logscale y\nset origin 0.667,0.47\n"
             "set title '(e) peak memory of the run'\nset ylabel 'MiB (peak RSS)'\nset yrange [0:*]\n"
             "plot F using 'series':'rss_mean':(column('series')+1):xtic(2) with boxes lc variable notitle, \\\n"
             "     " + gnuplot_interval_bars("F", "series", "rss") + "\n"
             "set size 0.5,0.46\nset origin 0,0\n"
             "set xrange [*:*]\nset offsets 0.15, 0.15, 0, 0\nset xlabel 'epoch'\nset xtics 1\nset key bottom right box\n"
             "set title '(c) evaluation loss'\nset ylabel 'cross-entropy (nats)'\nset yrange [*:*]\n"
             "plot for [k=0:" + n + "-1] E using 'epoch':(column('series')==k ? column('loss_mean') : NaN):'loss_lo':'loss_hi' "
             "with yerrorlines lt k+1 title L[k+1]\n"
             "set origin 0.5,0\nset title '(d) accuracy'\nset ylabel 'accuracy'\nset yrange [0<*:*<1]\n"
             "plot for [k=0:" + n + "-1] E using 'epoch':(column('series')==k ? column('acc_mean') : NaN):'acc_lo':'acc_hi' "
             "with yerrorlines lt k+1 title L[k+1]\n",
             7.0, 5.2);
}


std::vector<Arm> sweep_arms(const Profile& profile) {
  std::vector<Arm> arms;
  for (const auto& point : profile.sweep) {
    auto config = profile.config(train::Method::lora, profile.seeds.front());
    config.lora = point.lora;
    arms.push_back({point.label, config});
  }
  return arms;
}

std::vector<Arm> method_arms(const Profile& profile) {
  std::vector<Arm> arms{{"full", profile.config(train::Method::full, 0)},
                        {"LoRA", profile.config(train::Method::lora, 0)},
                        {"LoRA+", profile.config(train::Method::loraplus, 0)},
                        {"DoRA", profile.config(train::Method::dora, 0)},
                        {"IA3", profile.config(train::Method::ia3, 0)},
                        {"bottleneck", profile.config(train::Method::adapter, 0)},
                        {"prompt tuning", profile.config(train::Method::prompt, 0)}};
  auto& prompt = arms.back().config;
  if (prompt.max_length - prompt.prompt.num_virtual_tokens < 2)
    throw ConfigError("max_length " + std::to_string(prompt.max_length) + " leaves no room for " +
                          std::to_string(prompt.prompt.num_virtual_tokens) + " virtual tokens",
                      profile.file.string(), "train.max_length above train.prompt.num_virtual_tokens + 1");
  prompt.max_length -= prompt.prompt.num_virtual_tokens;
  return arms;
}

std::vector<Arm> run_sweep(Study& study) {
  const auto arms = sweep_arms(study.profile());
  if (arms.empty())
    throw ConfigError("profile " + study.profile().name + " has no sweep points", study.profile().file.string(),
                      "a non-empty \"sweep\" list");
  for (const auto& arm : arms) run_seeds(study, arm, "imdb", study.profile().sweep_seed_list());
  study.write_runs_csv();
  Table t = final_table(study, arms, "imdb");
  t.columns.insert(t.columns.end(), {"r", "alpha", "dropout", "targets"});
  for (std::size_t k = 0; k < arms.size(); ++k) {
    const auto& l = arms[k].config.lora;
    std::string targets;
    for (const auto& m : l.target_modules) targets += (targets.empty() ? "" : " ") + m;
    t.rows[k].insert(t.rows[k].end(), {std::to_string(l.r), cell(l.lora_alpha), cell(l.lora_dropout), targets});
  }
  study.write_csv("final", t);
  return arms;
}

}  // namespace loraft::paper
