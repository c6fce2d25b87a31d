// table2_results: every method on every data set: accuracy, evaluation loss, training time,
// trainable parameters and peak memory, mean and 95% interval over the profile's seeds. The
// runs of full, LoRA and LoRA+ are those of figures 1, 2 and 6, and all of them those of figure
// 9 (reused when those ran first). Also writes
// table2_results_numbers.tex: one LaTeX macro per number, for the paper's text.
#include <sstream>

#include "common/paper_app.h"
#include "loraft/paper/figures.h"

namespace {

using namespace loraft;

// \newcommand name for a method and data set: \accLoRAplusImdb -> letters only.
std::string macro(const std::string& what, const std::string& method, const std::string& data) {
  std::string name = "\\" + what;
  for (const std::string& part : {method, paper::data_title(data)})
    for (char c : part)
      if (std::isalpha(static_cast<unsigned char>(c))) name += c;
      else if (c == '+') name += "plus";
  return name;
}

std::string pm(const std::string& mean, const std::string& lo, const std::string& hi, int digits) {
  auto fmt = [&](const std::string& v) {
    std::ostringstream s;
    s.setf(std::ios::fixed);
    s.precision(digits);
    s << std::stod(v);
    return s.str();
  };
  return fmt(mean) + " {\\scriptsize [" + fmt(lo) + ", " + fmt(hi) + "]}";
}

}  // namespace

int main(int argc, char** argv) {
  return app::paper_main(
      argc, argv, "table2_results", "Table 2: every method on every data set, over seeds.", [](paper::Study& s) {
        const auto& p = s.profile();
        const std::vector<paper::Arm> arms = paper::method_arms(p);
        std::vector<std::pair<std::string, paper::Table>> finals;
        for (const auto& [data, setting] : p.data) {
          for (const auto& arm : arms) paper::run_seeds(s, arm, data, p.seeds);
          finals.emplace_back(data, paper::final_table(s, arms, data));
        }
        s.write_runs_csv();
        paper::Table all;
        all.columns = finals.front().second.columns;
        all.columns.insert(all.columns.begin(), "data");
        std::ostringstream tex, numbers;
        tex << "% made by table2_results (profile " << p.name << ")\n"
            << "\\begin{tabular}{llllrrl}\n\\hline\ndata & method & accuracy & eval loss & time (s) & trainable & "
               "peak RSS of the run (MiB)\\\\\n\\hline\n";
        numbers << "% made by table2_results (profile " << p.name << ")\n";
        for (const auto& [data, table] : finals) {
          for (const auto& row : table.rows) {
            auto r = row;
            r.insert(r.begin(), data);
            all.add(r);
            // columns: series label n acc_mean acc_lo acc_hi loss_mean loss_lo loss_hi time_mean time_lo time_hi
            // trainable rss_mean rss_lo rss_hi
            tex << paper::data_title(data) << " & " << row[1] << " & " << pm(row[3], row[4], row[5], 3) << " & "
                << pm(row[6], row[7], row[8], 3) << " & " << std::stod(row[9]) << " & " << paper::count_text(std::stod(row[12])) << " & "
                << pm(row[13], row[14], row[15], 0) << "\\\\\n";
            numbers << "\\newcommand{" << macro("acc", row[1], data) << "}{" << pm(row[3], row[4], row[5], 3) << "}\n"
                    << "\\newcommand{" << macro("time", row[1], data) << "}{" << row[9] << "}\n"
                    << "\\newcommand{" << macro("params", row[1], data) << "}{" << paper::count_text(std::stod(row[12])) << "}\n"
                    << "\\newcommand{" << macro("rss", row[1], data) << "}{" << pm(row[13], row[14], row[15], 0) << "}\n";
          }
        }
        tex << "\\hline\n\\end{tabular}\n";
        numbers << "\\newcommand{\\paperProfile}{" << p.name << "}\n\\newcommand{\\paperSeeds}{" << p.seeds.size() << "}\n";
        s.write_csv("final", all);
        s.write_result("table2_results.tex", tex.str());
        s.write_result("table2_results_numbers.tex", numbers.str());
      });
}
