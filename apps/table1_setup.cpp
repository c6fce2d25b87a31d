// table1_setup: the setup table. The profile's hyperparameters (the report's, scaled where the
// profile's note says why) and the parameter counts of each method on each data set, as PEFT
// counts them (a LoRA model's "all" counts the head twice: PEFT keeps a copy). Trains nothing.
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
        paper::Table hyper;
        hyper.columns = {"setting", "value"};
        hyper.add({"model", p.model.filename().string()});
        hyper.add({"learning rate", paper::cell(c.learning_rate)});
        hyper.add({"batch size (train / eval)", std::to_string(c.batch_size) + " / " + std::to_string(c.eval_batch_size)});
        hyper.add({"epochs", std::to_string(c.epochs)});
        hyper.add({"weight decay", paper::cell(c.weight_decay)});
        hyper.add({"warm-up steps", std::to_string(c.warmup_steps)});
        hyper.add({"max length", std::to_string(c.max_length)});
        hyper.add({"LoRA r / alpha / dropout", std::to_string(c.lora.r) + " / " + paper::cell(c.lora.lora_alpha) +
                                                   " / " + paper::cell(c.lora.lora_dropout)});
        hyper.add({"LoRA targets", targets});
        hyper.add({"LoRA+ ratio", paper::cell(c.loraplus_ratio)});
        hyper.add({"seeds", seeds});
        for (const auto& [name, d] : p.data)
          hyper.add({name + " rows (train / eval)",
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
          auto n = adapter::peft_parameter_counts(*lora, c.lora);
          for (const char* method : {"LoRA", "LoRA+"})
            counts.add({name, std::to_string(labels), method, std::to_string(n.trainable), std::to_string(n.all),
                        paper::cell(100.0 * static_cast<double>(n.trainable) / static_cast<double>(n.all))});
        }
        s.write_csv("counts", counts);

        std::ostringstream tex;
        tex << "% made by table1_setup (profile " << p.name << ")\n\\begin{tabular}{ll}\n\\hline\nsetting & value\\\\\n\\hline\n";
        for (const auto& row : hyper.rows) tex << paper::tex_escape(row[0]) << " & \\texttt{" << paper::tex_escape(row[1]) << "}\\\\\n";
        tex << "\\hline\n\\end{tabular}\n\\quad\n\\begin{tabular}{llrr}\n\\hline\ndata & method & trainable & all\\\\\n\\hline\n";
        for (const auto& row : counts.rows)
          tex << paper::data_title(row[0]) << " & " << row[2] << " & " << paper::count_text(std::stod(row[3])) << " & "
              << paper::count_text(std::stod(row[4])) << "\\\\\n";
        tex << "\\hline\n\\end{tabular}\n";
        s.write_result("table1_setup.tex", tex.str());
      });
}
