// The paper machinery: profiles, the update-rank measurement, and the smoke profile through
// every figure and table program (what `make paper PROFILE=smoke` runs), checked against the
// run folders the programs name.
#include <cmath>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <gtest/gtest.h>
#include <torch/torch.h>

#include "loraft/core/error.h"
#include "loraft/io/json.h"
#include "loraft/io/safetensors.h"
#include "loraft/paper/claims.h"
#include "loraft/paper/profile.h"
#include "loraft/paper/table.h"
#include "loraft/paper/update_rank.h"
#include "support/test_support.h"

namespace {

namespace fs = std::filesystem;
using loraft::io::Json;
using loraft::testing::fixture;
using loraft::testing::source_dir;

struct Csv {
  std::vector<std::string> columns;
  std::vector<std::map<std::string, std::string>> rows;
};

Csv read_csv(const fs::path& path) {
  std::ifstream in(path);
  EXPECT_TRUE(in) << path;
  Csv csv;
  std::string line;
  // RFC 4180 cells: a quoted cell may hold commas, and "" stands for one quote.
  auto split = [](const std::string& l) {
    std::vector<std::string> cells(1);
    bool quoted = false;
    for (std::size_t i = 0; i < l.size(); ++i) {
      const char c = l[i];
      if (quoted && c == '"' && i + 1 < l.size() && l[i + 1] == '"') cells.back() += '"', ++i;
      else if (c == '"') quoted = !quoted;
      else if (c == ',' && !quoted) cells.emplace_back();
      else cells.back() += c;
    }
    return cells;
  };
  std::getline(in, line);
  csv.columns = split(line);
  while (std::getline(in, line)) {
    auto cells = split(line);
    EXPECT_EQ(cells.size(), csv.columns.size()) << path << ": " << line;
    std::map<std::string, std::string> row;
    for (std::size_t i = 0; i < cells.size() && i < csv.columns.size(); ++i) row[csv.columns[i]] = cells[i];
    csv.rows.push_back(row);
  }
  return csv;
}

double num(const std::map<std::string, std::string>& row, const std::string& key) {
  return std::stod(row.at(key));
}

// RFC 4180: cells with a comma, a quote or a line end are quoted, quotes doubled.
TEST(Table, CsvQuotesOnlyWhatNeedsItAndRefusesRaggedRows) {
  loraft::paper::Table t;
  t.columns = {"label", "value"};
  t.add({"r=8, alpha=16", "0.5"});
  t.add({"say \"hi\"", "line\nbreak"});
  EXPECT_EQ(t.csv(), "label,value\n\"r=8, alpha=16\",0.5\n\"say \"\"hi\"\"\",\"line\nbreak\"\n");
  EXPECT_THROW(t.add({"only one"}), loraft::ConfigError);
  EXPECT_EQ(loraft::paper::cell(4336770.0), "4.33677e+06");
  EXPECT_EQ(loraft::paper::cell(std::nan("")), "nan");
}

// The verdict rule on hand-made intervals: the whole interval on the claim's side holds, none
// of it does not hold, straddling is inconclusive.
TEST(Table, CountsReadAsAReaderTakesThemIn) {
  using loraft::paper::count_text;
  EXPECT_EQ(count_text(4336770), "4.34 M");
  EXPECT_EQ(count_text(25002), "25.0 k");
  EXPECT_EQ(count_text(2212), "2.21 k");
  EXPECT_EQ(count_text(860), "860");
  EXPECT_EQ(count_text(999.6), "1.00 k");
  EXPECT_EQ(count_text(66955010), "67.0 M");
  EXPECT_EQ(count_text(125000000), "125 M");
}

TEST(Claims, VerdictFollowsTheIntervalAndTheThreshold) {
  using loraft::paper::Claim;
  using loraft::paper::Rule;
  using loraft::paper::Verdict;
  auto verdict = [](Rule rule, double threshold, double lo, double hi) {
    Claim c;
    c.rule = rule;
    c.threshold = threshold;
    c.value.n = 3;
    c.value.mean = (lo + hi) / 2;
    c.value.ci_low = lo;
    c.value.ci_high = hi;
    return c.verdict();
  };
  EXPECT_EQ(verdict(Rule::below, 1.0, 0.6, 0.9), Verdict::holds);
  EXPECT_EQ(verdict(Rule::below, 1.0, 1.0, 1.2), Verdict::does_not_hold);
  EXPECT_EQ(verdict(Rule::below, 1.0, 0.9, 1.1), Verdict::inconclusive);
  EXPECT_EQ(verdict(Rule::above, 0.5, 0.6, 0.7), Verdict::holds);
  EXPECT_EQ(verdict(Rule::above, 0.5, 0.2, 0.5), Verdict::does_not_hold);
  EXPECT_EQ(verdict(Rule::above, 0.5, 0.4, 0.6), Verdict::inconclusive);
  EXPECT_EQ(verdict(Rule::within, 0.01, -0.005, 0.009), Verdict::holds);
  EXPECT_EQ(verdict(Rule::within, 0.01, 0.02, 0.05), Verdict::does_not_hold);
  EXPECT_EQ(verdict(Rule::within, 0.01, -0.05, -0.02), Verdict::does_not_hold);
  EXPECT_EQ(verdict(Rule::within, 0.01, -0.02, 0.0), Verdict::inconclusive);
  EXPECT_EQ(verdict(Rule::within, 0.01, 0.004, 0.004), Verdict::holds) << "one seed: the value itself";
}

TEST(Profile, ResolvesPathsAndTheSweep) {
  auto p = loraft::paper::Profile::load("smoke", source_dir());
  EXPECT_EQ(p.name, "smoke");
  EXPECT_TRUE(p.model.is_absolute());
  EXPECT_TRUE(fs::exists(p.vocab));
  ASSERT_EQ(p.data.count("imdb"), 1u);
  EXPECT_EQ(p.dataset("imdb").train_limit, 200);
  EXPECT_NE(p.dataset("imdb").train.find((source_dir() / "data/samples/imdb").string()), std::string::npos);
  EXPECT_DOUBLE_EQ(p.base.learning_rate, 5e-4);
  ASSERT_EQ(p.sweep.size(), 3u);
  EXPECT_EQ(p.sweep[0].lora.r, 1);
  EXPECT_DOUBLE_EQ(p.sweep[0].lora.lora_alpha, 4.0);
  EXPECT_DOUBLE_EQ(p.sweep[0].lora.lora_dropout, 0.1);  // from the base, not the point
  EXPECT_EQ(p.sweep[2].lora.target_modules.size(), 6u);
  EXPECT_EQ(p.config(loraft::train::Method::loraplus, 7).seed, 7u);
  EXPECT_THROW(p.dataset("sst2"), loraft::ConfigError);
}

TEST(Profile, MissingDownloadFailsFastNamingTheCommand) {
  loraft::testing::ScratchDir root;
  loraft::testing::write_text(root / "paper/profiles/big.json", R"({
    "model": "data/models/distilbert-base-uncased",
    "data": {"imdb": {"train": "imdb:data/full/imdb:train", "eval": "imdb:data/full/imdb:test"}},
    "fetch": {"data/models/distilbert-base-uncased": "scripts/fetch-model.sh"}})");
  try {
    loraft::paper::Profile::load("big", root.path());
    FAIL() << "a profile with a missing model loaded";
  } catch (const loraft::ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("data/models/distilbert-base-uncased"), std::string::npos) << what;
    EXPECT_NE(what.find("scripts/fetch-model.sh"), std::string::npos) << what;
  }
  // The report's own profile on a machine without its downloads: one error names all three.
  std::ifstream full_json(loraft::testing::source_dir() / "paper/profiles/full.json");
  loraft::testing::write_text(root / "paper/profiles/full.json",
                              std::string(std::istreambuf_iterator<char>(full_json), {}));
  try {
    loraft::paper::Profile::load("full", root.path());
    FAIL() << "the full profile loaded without its downloads";
  } catch (const loraft::ConfigError& e) {
    const std::string what = e.what();
    for (const char* item : {"data/models/distilbert-base-uncased (get it with: scripts/fetch-model.sh)",
                             "data/full/imdb (get it with: scripts/fetch-data.sh imdb)",
                             "data/full/ag_news/train.csv (get it with: scripts/fetch-data.sh ag_news)"})
      EXPECT_NE(what.find(item), std::string::npos) << "missing " << item << " in: " << what;
  }
  loraft::testing::write_text(root / "paper/profiles/typo.json", R"({"model": "m", "seed": [1]})");
  EXPECT_THROW(loraft::paper::Profile::load("typo", root.path()), loraft::ConfigError);
  EXPECT_THROW(loraft::paper::Profile::load("nonesuch", root.path()), loraft::ConfigError);
}

TEST(UpdateRank, LoraUpdateIsScaledBTimesAWithRankAtMostR) {
  const auto adapter = fixture("lora/adapter");
  auto ranks = loraft::paper::lora_update_ranks(adapter);
  ASSERT_EQ(ranks.size(), 4u);  // 2 layers x q_lin, v_lin
  auto tensors = loraft::io::load_safetensors(adapter / "adapter_model.safetensors");
  for (const auto& u : ranks) {
    EXPECT_LE(u.rank.numerical_rank, 4);
    EXPECT_LE(u.rank.effective_rank, 4.0 + 1e-9);
    // The same spectrum from LibTorch: scaling alpha / r = 16 / 4.
    std::string a_key, b_key;
    for (const auto& [name, t] : tensors) {
      const std::string at = "layer." + std::to_string(u.layer) + "." + u.matrix + ".";
      if (name.find(at + "lora_A") != std::string::npos) a_key = name;
      if (name.find(at + "lora_B") != std::string::npos) b_key = name;
    }
    ASSERT_FALSE(a_key.empty());
    auto delta = torch::matmul(tensors[b_key].to(torch::kDouble), tensors[a_key].to(torch::kDouble)) * 4.0;
    auto sv = torch::linalg_svdvals(delta);
    ASSERT_GT(sv[0].item<double>(), 0.0) << "the fixture adapter has a trained B";
    for (int i = 0; i < 4; ++i) EXPECT_NEAR(u.rank.singular_values[i], sv[i].item<double>(), 1e-9);
  }
}

TEST(UpdateRank, FullUpdateOfAModelWithItselfIsZero) {
  auto ranks = loraft::paper::full_update_ranks(fixture("distilbert-tiny"), fixture("distilbert-tiny"));
  EXPECT_EQ(ranks.size(), 12u);  // 2 layers x 6 linear matrices
  for (const auto& u : ranks) {
    EXPECT_EQ(u.rank.frobenius_norm, 0.0);
    EXPECT_EQ(u.rank.effective_rank, 0.0);
  }
}

const std::vector<std::string> kPrograms{"table1_setup",        "fig1_imdb",           "fig2_agnews",
                                         "fig6_loraplus",       "table2_results",      "fig9_methods",
                                         "fig3_sweep_accuracy", "fig4_sweep_time",     "fig5_sweep_tradeoff",
                                         "fig7_loraplus_ratio", "fig8_update_rank",    "table3_claims"};

// Every output a manifest lists exists; every row of <program>.csv is the run it names, as
// that run's folder records it.
void check_program(const fs::path& out, const std::string& program) {
  SCOPED_TRACE(program);
  const Json m = loraft::io::read_json(out / "results" / (program + ".manifest.json"));
  EXPECT_EQ(m.at("name"), program);
  EXPECT_EQ(m.at("profile").at("name"), "smoke");
  EXPECT_FALSE(m.at("git_describe").get<std::string>().empty());
  for (const auto& o : m.at("outputs")) EXPECT_GT(fs::file_size(out / o.get<std::string>()), 0u) << o;
  std::map<std::string, Json> runs;
  for (const auto& r : m.at("runs")) {
    const Json summary = loraft::io::read_json(out / r.at("run_dir").get<std::string>() / "summary.json");
    EXPECT_DOUBLE_EQ(summary.at("final").at("eval_accuracy").get<double>(), r.at("eval_accuracy").get<double>());
    runs[r.at("hash")] = summary;
    EXPECT_TRUE(fs::exists(out / r.at("run_dir").get<std::string>() / "final"));
    EXPECT_FALSE(fs::exists(out / r.at("run_dir").get<std::string>() / "checkpoints"));
  }
  if (program == "table1_setup") return;
  EXPECT_FALSE(runs.empty());
  const Csv csv = read_csv(out / "results" / (program + ".csv"));
  std::set<std::string> seen;
  for (const auto& row : csv.rows) {
    ASSERT_EQ(runs.count(row.at("run")), 1u) << row.at("run");
    seen.insert(row.at("run"));
    const Json& s = runs[row.at("run")];
    bool found = false;
    for (const auto& e : s.at("epochs"))
      if (std::abs(e.at("epoch").get<double>() - num(row, "epoch")) < 1e-9) {
        found = true;
        EXPECT_NEAR(num(row, "eval_accuracy"), e.at("eval_accuracy").get<double>(), 1e-6);
        EXPECT_NEAR(num(row, "eval_loss"), e.at("eval_loss").get<double>(), 1e-5 * std::abs(e.at("eval_loss").get<double>()));
      }
    EXPECT_TRUE(found) << "epoch " << row.at("epoch");
    EXPECT_NEAR(num(row, "train_time_s"), s.at("train_time_s").get<double>(), 1e-5 * s.at("train_time_s").get<double>());
    EXPECT_EQ(num(row, "trainable_parameters"), s.at("trainable_parameters").get<double>());
    EXPECT_NEAR(num(row, "peak_rss_mib"), s.at("peak_rss_mib").get<double>(), 1e-5 * s.at("peak_rss_mib").get<double>());
    EXPECT_GT(num(row, "peak_rss_mib"), 1.0) << "each run's own peak, from its child loraft-train";
  }
  EXPECT_EQ(seen.size(), runs.size()) << "every run of the manifest has rows";
}

// scripts/paper.sh on the smoke profile into `out`, without the PDF; `env` ("NAME=value") added.
loraft::testing::ProcessResult paper_sh(const fs::path& out, std::vector<std::string> extra = {},
                                        const std::vector<std::string>& env = {}) {
  const auto binary = loraft::testing::program("fig1_imdb").parent_path().parent_path();
  std::vector<std::string> argv{"/usr/bin/env", "BUILD_DIR=" + binary.string()};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.insert(argv.end(), {"bash", (source_dir() / "scripts/paper.sh").string(), "--profile", "smoke", "--out",
                           out.string(), "--no-pdf"});
  argv.insert(argv.end(), extra.begin(), extra.end());
  return loraft::testing::run_process(argv);
}

// Every CSV of `want`/results equals the one of `got`, but for measured times and memory.
void expect_same_results(const fs::path& want_dir, const fs::path& got_dir) {
  std::size_t compared = 0;
  for (const auto& file : fs::directory_iterator(want_dir / "results")) {
    if (file.path().extension() != ".csv") continue;
    SCOPED_TRACE(file.path().filename().string());
    const Csv want = read_csv(file.path()), got = read_csv(got_dir / "results" / file.path().filename());
    ASSERT_EQ(got.columns, want.columns);
    ASSERT_EQ(got.rows.size(), want.rows.size());
    for (std::size_t i = 0; i < want.rows.size(); ++i) {
      // Table 3's claims about time are measured times too.
      if (want.rows[i].count("quantity") && want.rows[i].at("quantity").find("time") != std::string::npos) continue;
      for (const auto& c : want.columns) {
        if (c.find("time") != std::string::npos || c.find("rss") != std::string::npos) continue;
        EXPECT_EQ(got.rows[i].at(c), want.rows[i].at(c)) << "row " << i << ", " << c;
      }
    }
    ++compared;
  }
  EXPECT_GE(compared, 20u);
}

// `--shard 1/2` and `2/2` train disjoint parts of the runs into two folders and draw nothing;
// with the two runs folders copied together, the programs train nothing and every result
// equals `unsharded`'s, but for the measured times and memory.
void check_shards(const fs::path& unsharded) {
  loraft::testing::ScratchDir one, two, merged;
  for (const auto& [dir, shard] : {std::pair{&one, "1/2"}, std::pair{&two, "2/2"}}) {
    auto r = paper_sh(dir->path(), {"--shard", shard});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_FALSE(fs::exists(dir->path() / "results")) << shard << ": a shard draws nothing";
  }
  std::set<std::string> hashes;
  std::size_t folders = 0;
  fs::create_directories(merged.path() / "runs");
  for (const auto* dir : {&one, &two})
    for (const auto& run : fs::directory_iterator(dir->path() / "runs")) {
      ++folders;
      hashes.insert(run.path().filename().string());
      fs::copy(run.path(), merged.path() / "runs" / run.path().filename(), fs::copy_options::recursive);
    }
  EXPECT_EQ(hashes.size(), folders) << "the shards share no run";
  EXPECT_GT(std::min(std::distance(fs::directory_iterator(one.path() / "runs"), fs::directory_iterator()),
                     std::distance(fs::directory_iterator(two.path() / "runs"), fs::directory_iterator())),
            0)
      << "each shard has work";
  auto r = paper_sh(merged.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("  trained "), std::string::npos) << r.err;
  expect_same_results(unsharded, merged.path());
}

// `make paper` killed mid-run: every training child dies (SIGKILL) at its third step, so the
// first program stops (exit 2, its runs named) and the script with it; run again, it trains
// the runs from where they were and every result equals an uninterrupted `make paper`'s.
void check_killed_and_rerun(const fs::path& uninterrupted) {
  loraft::testing::ScratchDir out;
  auto killed = paper_sh(out.path(), {}, {"LORAFT_FAULT=step:3"});
  EXPECT_NE(killed.exit_code, 0) << killed.err;
  EXPECT_NE(killed.err.find("runs failed"), std::string::npos) << killed.err;
  auto again = paper_sh(out.path());
  ASSERT_EQ(again.exit_code, 0) << again.err;
  expect_same_results(uninterrupted, out.path());
}

TEST(Paper, SmokeProfileMakesEveryFigureAndTableFromItsRuns) {
  loraft::testing::ScratchDir out;
  auto r = paper_sh(out.path());
  ASSERT_EQ(r.exit_code, 0) << r.err;
  for (const auto& program : kPrograms) check_program(out.path(), program);
  for (const auto& program : kPrograms) {
    if (program.rfind("fig", 0) != 0) continue;
    for (const char* ext : {".pdf", ".png"}) EXPECT_GT(fs::file_size(out / "figures" / (program + ext)), 0u) << program << ext;
  }

  // The plotted means are the means of the runs' final accuracies.
  const Csv runs = read_csv(out / "results/fig1_imdb.csv");
  for (const auto& row : read_csv(out / "results/fig1_imdb_final.csv").rows) {
    double sum = 0;
    int n = 0;
    for (const auto& rr : runs.rows)
      if (rr.at("label") == row.at("label") && num(rr, "epoch") == 1.0) sum += num(rr, "eval_accuracy"), ++n;
    EXPECT_EQ(n, 1);
    EXPECT_NEAR(num(row, "acc_mean"), sum / n, 1e-6);
  }
  // LoRA's update has rank at most r; the full update is measured for every linear matrix.
  int full = 0;
  for (const auto& row : read_csv(out / "results/fig8_update_rank_ranks.csv").rows) {
    if (row.at("kind") == "lora") {
      EXPECT_LE(num(row, "effective_rank"), 8.0 + 1e-6);
    }
    full += row.at("kind") == "full";
  }
  EXPECT_EQ(full, 12);
  // Table 2 reuses the runs of figures 1, 2 and 6: it trains LoRA+ on AG News and the other
  // methods on both data sets; figure 9 then trains nothing.
  const Json table2_manifest = loraft::io::read_json(out / "results/table2_results.manifest.json");
  std::set<std::string> methods;
  for (const auto& run : table2_manifest.at("runs")) {
    const std::string label = run.at("label");
    methods.insert(label);
    const bool earlier = label == "full" || label == "LoRA" || (label == "LoRA+" && run.at("data") == "imdb");
    EXPECT_EQ(run.at("reused").get<bool>(), earlier) << run.dump();
  }
  EXPECT_EQ(methods, (std::set<std::string>{"full", "LoRA", "LoRA+", "DoRA", "IA3", "bottleneck", "prompt tuning"}));
  const Json fig9_manifest = loraft::io::read_json(out / "results/fig9_methods.manifest.json");
  EXPECT_EQ(fig9_manifest.at("runs").size(), table2_manifest.at("runs").size());
  for (const auto& run : fig9_manifest.at("runs")) EXPECT_TRUE(run.at("reused").get<bool>()) << run.dump();

  // Again with nothing changed: every run is reused, nothing trains.
  const auto fig1 = [&] {
    return loraft::testing::run_process({loraft::testing::program("fig1_imdb").string(), "--profile", "smoke",
                                         "--root", source_dir().string(), "--out", out.path().string()});
  };
  auto again = fig1();
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const Json fig1_runs = loraft::io::read_json(out / "results/fig1_imdb.manifest.json").at("runs");
  for (const auto& run : fig1_runs) EXPECT_TRUE(run.at("reused").get<bool>());

  // A run whose child fails ends alone (here its run folder is a file): the study tries the
  // others, draws nothing and exits 2 naming it; once the cause is gone only that run trains.
  ASSERT_EQ(fig1_runs.size(), 2u);
  const fs::path broken = out / fig1_runs[1].at("run_dir").get<std::string>();
  fs::remove_all(broken);
  std::ofstream(broken) << "not a folder\n";
  const auto drawn = fs::last_write_time(out / "figures/fig1_imdb.png");
  auto failed = fig1();
  EXPECT_EQ(failed.exit_code, 2) << failed.err;
  EXPECT_NE(failed.err.find("1 of 2 runs failed (imdb LoRA seed 42: exit 2)"), std::string::npos) << failed.err;
  EXPECT_NE(failed.err.find("reused " + fig1_runs[0].at("hash").get<std::string>()), std::string::npos) << failed.err;
  EXPECT_EQ(fs::last_write_time(out / "figures/fig1_imdb.png"), drawn) << "nothing drawn";
  fs::remove(broken);
  auto fixed = fig1();
  ASSERT_EQ(fixed.exit_code, 0) << fixed.err;
  EXPECT_NE(fixed.err.find("trained " + fig1_runs[1].at("hash").get<std::string>()), std::string::npos) << fixed.err;

  // Table 1 sets the report's settings beside the profile's.
  std::map<std::string, std::map<std::string, std::string>> setup;
  for (const auto& row : read_csv(out / "results/table1_setup.csv").rows) setup[row.at("setting")] = row;
  EXPECT_EQ(setup.at("epochs").at("report"), "3");
  EXPECT_EQ(setup.at("epochs").at("value"), "1");
  EXPECT_EQ(setup.at("imdb rows (train / eval)").at("report"), "25000 / 25000");
  EXPECT_EQ(setup.at("imdb rows (train / eval)").at("value"), "200 / 100");
  EXPECT_NE(loraft::testing::read_text(out / "results/table1_setup_note.tex").find("\\newcommand{\\profileNote}{Seconds, for CI"),
            std::string::npos);

  // Table 3: every verdict follows its rule from the interval in the same row, and the
  // quantities are those of the runs (one seed: differences and ratios of table 2's means).
  const Csv claims = read_csv(out / "results/table3_claims_verdicts.csv");
  std::map<std::string, std::map<std::string, std::string>> by_id;
  for (const auto& row : claims.rows) {
    by_id[row.at("id")] = row;
    const std::string rule = row.at("rule");
    const double lo = num(row, "lo"), hi = num(row, "hi");
    const double t = std::stod(rule.substr(rule.find_first_of("0123456789")));
    std::string want;
    if (rule.rfind("<", 0) == 0) want = hi < t ? "holds" : lo >= t ? "does not hold" : "inconclusive";
    else if (rule.rfind(">", 0) == 0) want = lo > t ? "holds" : hi <= t ? "does not hold" : "inconclusive";
    else want = lo >= -t && hi <= t ? "holds" : (hi < -t || lo > t) ? "does not hold" : "inconclusive";
    EXPECT_EQ(row.at("verdict"), want) << row.at("id");
  }
  EXPECT_EQ(by_id.size(), 10u) << "8 claims of the report and 2 of the sweep";
  std::map<std::string, std::map<std::string, std::string>> table2;
  for (const auto& row : read_csv(out / "results/table2_results_final.csv").rows) table2[row.at("data") + "/" + row.at("label")] = row;
  EXPECT_NEAR(num(by_id.at("ImdbAccuracy"), "mean"),
              num(table2.at("imdb/full"), "acc_mean") - num(table2.at("imdb/LoRA"), "acc_mean"), 1e-6);
  EXPECT_NEAR(num(by_id.at("AgAccuracy"), "mean"),
              num(table2.at("ag_news/full"), "acc_mean") - num(table2.at("ag_news/LoRA"), "acc_mean"), 1e-6);
  EXPECT_NEAR(num(by_id.at("Params"), "mean"),
              num(table2.at("imdb/LoRA"), "trainable") / num(table2.at("imdb/full"), "trainable"), 1e-5);
  EXPECT_LT(num(by_id.at("Params"), "mean"), 0.5);

  check_shards(out.path());
  check_killed_and_rerun(out.path());
}

}  // namespace
