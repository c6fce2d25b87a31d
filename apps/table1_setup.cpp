// table1_setup: the setup table. The profile's hyperparameters (the report's, scaled where the
// profile's note says why) and the parameter counts of each method on each data set, as PEFT
// counts them (a LoRA model's "all" counts the head twice: PEFT keeps a copy). Trains nothing.
#include <map>
#include <sstream>

#include "common/paper_app.h"
#include "loraft/adapter/lora.h"
#include "loraft/data/source.h"
#include "loraft/model/pretrained.h"
#include "loraft/paper/figures.h"

int main(int argc, char** argv) {
  using namespace loraft;
  return app::paper_main(
      argc, argv, "table1_setup", "Table 1: hyperparameters and parameter counts.", [](paper::Study& s) {
        const auto& p = s.profile();
        const auto& c = p.base;
        std::string targets, seeds;
        for (const auto& m : c.lora.target_modules) targets += (targets.empty() ? "" : " ") + m;
        for (auto seed : p.seeds) seeds += (seeds.empty() ? "" : " ") + std::to_string(seed);
        // The report's settings beside the profile's: the section "How this profile differs
        // from the report" is this table and the profile's note.
        paper::Table hyper;
        hyper.columns = {"setting", "report", "value"};
        hyper.add({"model", "distilbert-base-uncased (6 layers, dim 768, 67.0 M parameters)", p.model.filename().string()});
        hyper.add({"learning rate", "5e-05", paper::cell(c.learning_rate)});
        hyper.add({"batch size (train / eval)", "16 / 16", std::to_string(c.batch_size) + " / " + std::to_string(c.eval_batch_size)});
        hyper.add({"epochs", "3", std::to_string(c.epochs)});
        hyper.add({"weight decay", "0.01", paper::cell(c.weight_decay)});
        hyper.add({"warm-up steps", "0", std::to_string(c.warmup_steps)});
        hyper.add({"max length", "128", std::to_string(c.max_length)});
        hyper.add({"LoRA r / alpha / dropout", "8 / 32 / 0.1",
                   std::to_string(c.lora.r) + " / " + paper::cell(c.lora.lora_alpha) + " / " + paper::cell(c.lora.lora_dropout)});
        hyper.add({"LoRA targets", "q_lin v_lin", targets});
        hyper.add({"LoRA+ ratio", "2", paper::cell(c.loraplus_ratio)});
        hyper.add({"seeds", "one run per setting", seeds});
        const std::map<std::string, std::string> report_rows{{"imdb", "25000 / 25000"}, {"ag_news", "120000 / 7600"}};
        for (const auto& [name, d] : p.data)
          hyper.add({name + " rows (train / eval)", report_rows.count(name) ? report_rows.at(name) : "-",
                     (d.train_limit ? std::to_string(d.train_limit) : std::string("all")) + " / " +
                         (d.eval_limit ? std::to_string(d.eval_limit) : std::string("all"))});
        s.write_csv("", hyper);

        paper::Table counts;
        counts.columns = {"data", "labels", "method", "trainable", "all", "trainable_percent"};
        for (const auto& [name, d] : p.data) {
          const auto labels = static_cast<std::int64_t>(
              data::read_dataset(data::parse_dataset_spec(d.train, "table1")).label_names.size());
          model::LoadOptions load;
          load.allow_missing_head = true;
          load.num_labels = labels;
          auto full = model::load_sequence_classification(p.model, load);
          std::int64_t all = 0;
          for (const auto& t : full->parameters()) all += t.numel();
          counts.add({name, std::to_string(labels), "full", std::to_string(all), std::to_string(all), "100"});
          auto lora = model::load_sequence_classification(p.model, load);
          adapter::apply_lora(*lora, c.lora, 0);
          auto n = adapter::peft_parameter_counts(*lora, c.lora.modules_to_save);
          for (const char* method : {"LoRA", "LoRA+"})
            counts.add({name, std::to_string(labels), method, std::to_string(n.trainable), std::to_string(n.all),
                        paper::cell(100.0 * static_cast<double>(n.trainable) / static_cast<double>(n.all))});
        }
        s.write_csv("counts", counts);

        std::ostringstream tex;
        tex << "% made by table1_setup (profile " << p.name << ")\n\\begin{tabular}{lp{4.2cm}l}\n\\hline\nsetting & report & "
               "this profile\\\\\n\\hline\n";
        // A setting that differs from the report's is in bold.
        for (const auto& row : hyper.rows)
          tex << paper::tex_escape(row[0]) << " & " << paper::tex_escape(row[1]) << " & "
              << (row[1] == row[2] ? "\\texttt{" : "\\textbf{") << paper::tex_escape(row[2]) << "}\\\\\n";
        tex << "\\hline\n\\end{tabular}\n\n\\medskip\n\\begin{tabular}{llrr}\n\\hline\ndata & method & trainable & all\\\\\n\\hline\n";
        for (const auto& row : counts.rows)
          tex << paper::data_title(row[0]) << " & " << row[2] << " & " << paper::count_text(std::stod(row[3])) << " & "
              << paper::count_text(std::stod(row[4])) << "\\\\\n";
        tex << "\\hline\n\\end{tabular}\n";
        s.write_result("table1_setup.tex", tex.str());
        s.write_result("table1_setup_note.tex", "% made by table1_setup (profile " + p.name + ")\n\\newcommand{\\profileNote}{" +
                                                    paper::tex_escape(p.note) + "}\n");
      });
}
