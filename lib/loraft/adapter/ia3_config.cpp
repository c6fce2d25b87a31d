#include "loraft/adapter/ia3_config.h"

#include <algorithm>
#include <set>

#include "loraft/core/error.h"
#include "loraft/core/strings.h"

namespace loraft::adapter {
namespace {

std::vector<std::string> sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

// A list of module names under `key`. PEFT also takes a string there (a regular expression,
// `re.fullmatch`), which loraft does not implement; null means "PEFT's default for the model
// type", and PEFT 0.13.2 has none for DistilBERT (IA3Model._prepare_adapter_config raises
// "Please specify `<key>` in `peft_config`").
std::vector<std::string> module_list(const io::Json& j, const std::string& key, const std::string& where) {
  const std::string at = where + ": " + key;
  auto it = j.find(key);
  if (it == j.end() || it->is_null())
    throw ConfigError(key + " is missing, and PEFT 0.13.2 has no (IA)3 default for DistilBERT", at,
                      "a list of module names such as k_lin, v_lin, lin2");
  if (it->is_string())
    throw ConfigError(key + " is the regular expression \"" + it->get<std::string>() +
                          "\", which loraft does not implement",
                      at, "a list of module names");
  if (!it->is_array() || !std::all_of(it->begin(), it->end(), [](const io::Json& e) { return e.is_string(); }))
    throw ConfigError(key + " holds " + it->dump(), at, "a list of module names");
  return it->get<std::vector<std::string>>();
}

// validate()'s errors name the field as "Ia3Config.<field>".
constexpr const char* kConfigPrefix = "Ia3Config.";

}  // namespace

void Ia3Config::validate() const {
  const std::string targets_field = std::string(kConfigPrefix) + "target_modules";
  const std::string feedforward_field = std::string(kConfigPrefix) + "feedforward_modules";
  if (target_modules.empty())
    throw ConfigError("target_modules is empty", targets_field, "module names such as k_lin, v_lin, lin2");
  for (const auto* list : {&target_modules, &feedforward_modules})
    if (std::any_of(list->begin(), list->end(), [](const std::string& t) { return t.empty(); }))
      throw ConfigError("an empty module name", list == &target_modules ? targets_field : feedforward_field,
                        "module names such as k_lin, v_lin, lin2");
  // peft/tuners/ia3/config.py (0.13.2) IA3Config.__post_init__: "`feedforward_modules` should be
  // a subset of `target_modules`" (as sets of names, compared exactly).
  const std::set<std::string> targets(target_modules.begin(), target_modules.end());
  for (const std::string& f : feedforward_modules)
    if (!targets.count(f))
      throw ConfigError("feedforward module " + f + " is not among the target modules (" + join(target_modules) + ")",
                        feedforward_field, "a subset of target_modules");
}

io::OrderedJson to_peft_json(const Ia3Config& c) {
  using io::OrderedJson;
  OrderedJson j;
  // Every field of PEFT 0.13.2's IA3Config, in the order its JSON (sort_keys=True) has them.
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] = c.base_model_name_or_path.empty() ? OrderedJson(nullptr)
                                                                   : OrderedJson(c.base_model_name_or_path);
  j["fan_in_fan_out"] = false;
  j["feedforward_modules"] = sorted(c.feedforward_modules);
  j["inference_mode"] = true;
  j["init_ia3_weights"] = c.init_ia3_weights;
  j["modules_to_save"] = c.modules_to_save;
  j["peft_type"] = "IA3";
  j["revision"] = nullptr;
  j["target_modules"] = sorted(c.target_modules);
  j["task_type"] = c.task_type;
  return j;
}

Ia3Config ia3_from_peft_json(const io::Json& j, const std::string& where) {
  if (!j.is_object()) throw ConfigError("adapter config is not a JSON object", where, "adapter_config.json");
  // peft/config.py (0.13.2) PeftConfig.from_peft_type builds `IA3Config(**kwargs)`: a key the
  // dataclass lacks is a TypeError there, and a feature of another PEFT version here.
  static const std::set<std::string> known{"auto_mapping",    "base_model_name_or_path", "fan_in_fan_out",
                                           "feedforward_modules", "inference_mode",     "init_ia3_weights",
                                           "modules_to_save", "peft_type",               "revision",
                                           "target_modules",  "task_type"};
  for (const auto& item : j.items())
    if (!known.count(item.key()))
      throw ConfigError("adapter config has the key " + item.key() + ", which PEFT 0.13.2's IA3Config lacks",
                        where + ": " + item.key(), "the fields of IA3Config");
  const io::Json peft_type = j.value("peft_type", io::Json(nullptr));
  if (peft_type != "IA3")
    throw ConfigError("peft_type is " + peft_type.dump() + ", not IA3", where + ": peft_type", "\"IA3\"");
  const io::Json fan_in_fan_out = j.value("fan_in_fan_out", io::Json(false));
  if (fan_in_fan_out != false)
    throw ConfigError("adapter uses fan_in_fan_out = " + fan_in_fan_out.dump() + ", which loraft does not implement",
                      where + ": fan_in_fan_out", "false (DistilBERT's layers are nn.Linear)");
  Ia3Config c;
  c.target_modules = module_list(j, "target_modules", where);
  c.feedforward_modules = module_list(j, "feedforward_modules", where);
  c.modules_to_save = j.contains("modules_to_save") && !j["modules_to_save"].is_null()
                          ? module_list(j, "modules_to_save", where)
                          : std::vector<std::string>{};
  const io::Json init = j.value("init_ia3_weights", io::Json(true));
  if (!init.is_boolean())
    throw ConfigError("init_ia3_weights holds " + init.dump(), where + ": init_ia3_weights", "true or false");
  c.init_ia3_weights = init.get<bool>();
  if (j.contains("task_type") && j["task_type"].is_string()) c.task_type = j["task_type"];
  // peft/peft_model.py (0.13.2) PeftModelForSequenceClassification.__init__: for SEQ_CLS the heads
  // "classifier" and "score" train and are saved whatever the file lists (PEFT extends the list,
  // so a list it reads back holds them twice; here each is kept once).
  if (c.task_type == "SEQ_CLS")
    for (const char* head : {"classifier", "score"})
      if (std::find(c.modules_to_save.begin(), c.modules_to_save.end(), head) == c.modules_to_save.end())
        c.modules_to_save.push_back(head);
  if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
    c.base_model_name_or_path = j["base_model_name_or_path"];
  try {
    c.validate();
  } catch (const ConfigError& e) {  // "Ia3Config.<field>" -> "<file>: <field>"
    throw ConfigError(e.problem(), where + ": " + e.where().substr(std::string(kConfigPrefix).size()), e.expected());
  }
  return c;
}

}  // namespace loraft::adapter
