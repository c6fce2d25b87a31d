#pragma once
/// @file
/// @brief LoRA's configuration, as PEFT 0.13.2's `LoraConfig` names and writes it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <regex>
#include <string>
#include <vector>

#include "loraft/io/json.h"
#include "loraft/io/settings.h"

namespace loraft::adapter {

/// Which linear layers get a LoRA path and how it is scaled. Field names follow PEFT's
/// `LoraConfig`, so that adapter_config.json reads the same in both.
struct LoraConfig {
  std::int64_t r = 8;              ///< rank of the update B·A
  double lora_alpha = 32.0;        ///< scaling numerator: scaling = alpha / r (or / sqrt(r))
  double lora_dropout = 0.1;       ///< dropout on the adapter's input only
  bool use_rslora = false;         ///< rsLoRA: scaling = alpha / sqrt(r)
  /// DoRA (Liu et al. 2024, PEFT 0.13.2 `LoraConfig(use_dora=True)`): each wrapped layer also
  /// trains a magnitude per output row, `lora_magnitude_vector`, and its output is rescaled
  /// row by row to that magnitude (see LoraLinearImpl). Not a run setting of its own: a run
  /// asks for it with train::Method::dora.
  bool use_dora = false;
  /// Target modules. PEFT 0.13.2 has no default for DistilBERT (it raises "Please specify
  /// `target_modules`"); the report's runs must have named q_lin and v_lin, so that is
  /// loraft's default. Each entry matches a module whose dotted name equals it or ends with
  /// "." + entry (PEFT `check_target_module_exists`).
  std::vector<std::string> target_modules{"q_lin", "v_lin"};
  /// When set, target_modules is ignored and a module is targeted when its whole dotted name
  /// matches this regular expression (PEFT's string form of target_modules, `re.fullmatch`).
  std::optional<std::string> target_regex;
  /// Only these transformer layer indices (empty: all). The index is the number after
  /// `.<layers_pattern>.` in the module name, or, with an empty pattern, after the first
  /// `.<anything>.` followed by digits (PEFT's regexes). As in PEFT, an entry of
  /// target_modules equal to the whole module name bypasses this filter.
  std::vector<std::int64_t> layers_to_transform;
  std::string layers_pattern;  ///< e.g. "layer" for DistilBERT's `transformer.layer.<i>.`
  /// Modules trained in full next to the adapter. PEFT 0.13.2 adds ["classifier", "score"]
  /// for SEQ_CLS and matches them by plain suffix, so DistilBERT's `pre_classifier` AND
  /// `classifier` both train ("pre_classifier".endswith("classifier")).
  std::vector<std::string> modules_to_save{"classifier", "score"};
  std::string task_type = "SEQ_CLS";     ///< PEFT task type
  std::string base_model_name_or_path;   ///< recorded in adapter_config.json

  /// alpha / r, or alpha / sqrt(r) with rsLoRA (PEFT `LoraLayer.update_layer`).
  double scaling() const;
  /// ConfigError for r < 1, alpha <= 0, dropout outside [0, 1), an empty target list.
  void validate() const;

  /// The fields a run configuration records (io/settings.h), with their flags; task_type and
  /// base_model_name_or_path belong to adapter_config.json alone.
  template <class Self, class Visitor>
  static void fields(Self& c, Visitor&& v) {
    using io::setting;
    v(setting("r", c.r).flag("r", "LoRA rank"));
    v(setting("lora_alpha", c.lora_alpha).flag("lora-alpha", "LoRA alpha (scaling alpha/r)"));
    v(setting("lora_dropout", c.lora_dropout).flag("lora-dropout", "dropout on the LoRA input"));
    v(setting("use_rslora", c.use_rslora));
    v(setting("target_modules", c.target_modules).flag("target-modules", "LoRA targets (default q_lin v_lin)"));
    v(setting("target_regex", c.target_regex));
    v(setting("layers_to_transform", c.layers_to_transform));
    v(setting("layers_pattern", c.layers_pattern));
    v(setting("modules_to_save", c.modules_to_save));
  }
};

/// The longest regular expression a LoraConfig may hold (target_modules as a string, and the
/// layer expression made from layers_pattern): std::regex compiles recursively, and a pattern
/// nested thousands of parentheses deep overflows the stack.
inline constexpr std::size_t kMaxPatternSize = 1000;

/// `pattern` compiled as module names are matched against it: ECMAScript syntax, and with
/// libstdc++ in its polynomial mode, so that no pattern makes matching take exponential time
/// (`(.*.*)*z` would hang the backtracking matcher, as it hangs PEFT's re.fullmatch); that mode
/// refuses back-references. ConfigError naming the field (`target_modules`, `layers_pattern`)
/// for a pattern longer than kMaxPatternSize or one that does not compile.
std::regex compile_pattern(const std::string& pattern, const std::string& field);

/// The expression layers_to_transform picks layers with (PEFT's): `.*\.<layers_pattern>\.(\d+)\..*`,
/// or `.*\.[^.]*\.(\d+)\..*` for an empty layers_pattern; the layer index is its last group
/// (layers_pattern may hold groups of its own).
std::string layers_regex(const std::string& layers_pattern);

/// adapter_config.json as PEFT 0.13.2 writes it (every field of its LoraConfig, defaults for
/// those loraft does not use, target_modules sorted).
io::OrderedJson to_peft_json(const LoraConfig& config);

/// Reads a PEFT adapter_config.json. Target modules are accepted in any order (PEFT writes a
/// Python set). `use_dora` must be true or false (ConfigError otherwise, and for DoRA with a
/// megatron_config, as PEFT raises). Features loraft does not implement (bias training,
/// fan_in_fan_out, rank/alpha patterns, LoftQ, layer replication, peft_type other than LORA)
/// are a ConfigError naming the field, never silently ignored. `where` names the file in errors.
LoraConfig from_peft_json(const io::Json& json, const std::string& where);

}  // namespace loraft::adapter
