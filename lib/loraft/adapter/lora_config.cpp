#include "loraft/adapter/lora_config.h"

#include <algorithm>
#include <cmath>

#include "loraft/core/error.h"

namespace loraft::adapter {

double LoraConfig::scaling() const {
  return use_rslora ? lora_alpha / std::sqrt(static_cast<double>(r))
                    : lora_alpha / static_cast<double>(r);
}

void LoraConfig::validate() const {
  if (r < 1) throw ConfigError("LoRA rank r must be positive", "LoraConfig.r", "r >= 1");
  if (!(lora_alpha > 0)) throw ConfigError("lora_alpha must be positive", "LoraConfig.lora_alpha");
  if (!(lora_dropout >= 0 && lora_dropout < 1))
    throw ConfigError("lora_dropout out of range", "LoraConfig.lora_dropout", "0 <= p < 1");
  if (!target_regex && target_modules.empty())
    throw ConfigError("no target modules", "LoraConfig.target_modules",
                      "module names such as q_lin, v_lin");
  if (target_regex) compile_pattern(*target_regex, "target_modules");
  if (!layers_pattern.empty()) compile_pattern(layers_regex(layers_pattern), "layers_pattern");
}

std::regex compile_pattern(const std::string& pattern, const std::string& field) {
  const std::string where = "LoraConfig." + field;
  const char* expected = "a std::regex (ECMAScript) pattern, as PEFT's re.fullmatch takes";
  if (pattern.size() > kMaxPatternSize)
    throw ConfigError(field + " is a pattern of " + std::to_string(pattern.size()) + " characters", where,
                      "at most " + std::to_string(kMaxPatternSize) + " characters");
  auto flags = std::regex::ECMAScript;
#ifdef __GLIBCXX__
  flags |= std::regex_constants::__polynomial;  // libstdc++'s linear-time (Thompson) matcher
#endif
  try {
    return std::regex(pattern, flags);
  } catch (const std::regex_error& e) {
    throw ConfigError(field + " \"" + pattern + "\" is not a regular expression (" + e.what() + ")", where,
                      expected);
  }
}

std::string layers_regex(const std::string& layers_pattern) {
  return layers_pattern.empty() ? R"(.*\.[^.]*\.(\d+)\..*)" : ".*\\." + layers_pattern + "\\.(\\d+)\\..*";
}

io::OrderedJson to_peft_json(const LoraConfig& c) {
  using io::OrderedJson;
  OrderedJson j;
  // Keys in the order PEFT's JSON (sort_keys=True) has them.
  j["alpha_pattern"] = OrderedJson::object();
  j["auto_mapping"] = nullptr;
  j["base_model_name_or_path"] = c.base_model_name_or_path.empty()
                                     ? OrderedJson(nullptr)
                                     : OrderedJson(c.base_model_name_or_path);
  j["bias"] = "none";
  j["fan_in_fan_out"] = false;
  j["inference_mode"] = true;
  j["init_lora_weights"] = true;
  j["layer_replication"] = nullptr;
  j["layers_pattern"] = c.layers_pattern.empty() ? OrderedJson(nullptr)
                                                 : OrderedJson(c.layers_pattern);
  j["layers_to_transform"] = c.layers_to_transform.empty() ? OrderedJson(nullptr)
                                                           : OrderedJson(c.layers_to_transform);
  j["loftq_config"] = OrderedJson::object();
  if (c.lora_alpha == std::floor(c.lora_alpha))
    j["lora_alpha"] = static_cast<std::int64_t>(c.lora_alpha);
  else
    j["lora_alpha"] = c.lora_alpha;
  j["lora_dropout"] = c.lora_dropout;
  j["megatron_config"] = nullptr;
  j["megatron_core"] = "megatron.core";
  j["modules_to_save"] = c.modules_to_save;
  j["peft_type"] = "LORA";
  j["r"] = c.r;
  j["rank_pattern"] = OrderedJson::object();
  j["revision"] = nullptr;
  if (c.target_regex) {
    j["target_modules"] = *c.target_regex;
  } else {
    std::vector<std::string> sorted = c.target_modules;
    std::sort(sorted.begin(), sorted.end());
    j["target_modules"] = sorted;
  }
  j["task_type"] = c.task_type;
  j["use_dora"] = c.use_dora;
  j["use_rslora"] = c.use_rslora;
  return j;
}

namespace {

void reject_if(bool unsupported, const std::string& field, const std::string& where,
               const std::string& expected) {
  if (unsupported)
    throw ConfigError("adapter uses " + field + ", which loraft does not implement", where,
                      expected);
}

bool non_empty(const io::Json& j, const char* key) {
  return j.contains(key) && !j[key].is_null() && !j[key].empty();
}

}  // namespace

LoraConfig from_peft_json(const io::Json& j, const std::string& where) {
  LoraConfig c;
  const std::string peft_type = j.value("peft_type", std::string("LORA"));
  reject_if(peft_type != "LORA", "peft_type " + peft_type, where, "LORA");
  reject_if(j.value("bias", std::string("none")) != "none", "bias training", where, "\"none\"");
  reject_if(j.value("fan_in_fan_out", false), "fan_in_fan_out", where, "false");
  reject_if(non_empty(j, "rank_pattern"), "rank_pattern", where, "{}");
  reject_if(non_empty(j, "alpha_pattern"), "alpha_pattern", where, "{}");
  reject_if(non_empty(j, "layer_replication"), "layer_replication", where, "null");
  reject_if(non_empty(j, "loftq_config"), "loftq_config", where, "{}");
  c.r = io::get_field<std::int64_t>(j, "r", where);
  c.lora_alpha = io::get_field<double>(j, "lora_alpha", where);
  c.lora_dropout = j.value("lora_dropout", 0.0);
  c.use_rslora = j.value("use_rslora", false);
  // peft/tuners/lora/config.py (0.13.2) LoraConfig.use_dora: a bool, default False.
  if (j.contains("use_dora") && !j["use_dora"].is_boolean())
    throw ConfigError("use_dora holds " + j["use_dora"].dump(), where, "true or false");
  c.use_dora = j.value("use_dora", false);
  // peft/tuners/lora/config.py (0.13.2) LoraConfig.__post_init__: "DoRA does not support megatron_core".
  if (c.use_dora && non_empty(j, "megatron_config"))
    throw ConfigError("DoRA does not support megatron_core", where, "use_dora false, or megatron_config null");
  const io::Json& targets = j.at("target_modules");
  if (targets.is_string())
    c.target_regex = targets.get<std::string>();
  else
    c.target_modules = targets.get<std::vector<std::string>>();
  if (j.contains("layers_to_transform") && !j["layers_to_transform"].is_null()) {
    const io::Json& layers = j["layers_to_transform"];
    // Integers only: nlohmann would cast a float such as 1e300 to an integer, undefined behaviour.
    for (const auto& l : layers.is_array() ? layers : io::Json::array({layers}))
      if (!l.is_number_integer())
        throw ConfigError("layers_to_transform holds " + l.dump(), where, "a layer index or a list of them");
    if (layers.is_number())
      c.layers_to_transform = {layers.get<std::int64_t>()};
    else
      c.layers_to_transform = layers.get<std::vector<std::int64_t>>();
  }
  if (j.contains("layers_pattern") && j["layers_pattern"].is_string())
    c.layers_pattern = j["layers_pattern"];
  c.modules_to_save = j.contains("modules_to_save") && !j["modules_to_save"].is_null()
                          ? j["modules_to_save"].get<std::vector<std::string>>()
                          : std::vector<std::string>{};
  c.task_type = j.value("task_type", std::string("SEQ_CLS"));
  if (j.contains("base_model_name_or_path") && j["base_model_name_or_path"].is_string())
    c.base_model_name_or_path = j["base_model_name_or_path"];
  try {
    c.validate();
  } catch (const ConfigError& e) {
    throw ConfigError(e.problem(), where, e.expected());
  }
  return c;
}

}  // namespace loraft::adapter
