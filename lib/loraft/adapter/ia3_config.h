#pragma once
/// @file
/// @brief (IA)³'s configuration, as PEFT 0.13.2's `IA3Config` names and writes it.

#include <string>
#include <vector>

#include "loraft/io/json.h"
#include "loraft/io/settings.h"

namespace loraft::adapter {

/// Which linear layers get an (IA)³ vector (Liu et al. 2022) and on which side it acts. Field
/// names follow PEFT's `IA3Config`, so that adapter_config.json reads the same in both.
struct Ia3Config {
  /// Target modules. PEFT 0.13.2 has no (IA)³ default for DistilBERT
  /// (`TRANSFORMERS_MODELS_TO_IA3_TARGET_MODULES_MAPPING` has no `distilbert` entry, and
  /// `IA3Model._prepare_adapter_config` raises "Please specify `target_modules`"); loraft's
  /// default is the analogue of the `bert` entry (key, value, output.dense). Each entry matches
  /// a module whose dotted name equals it or ends with "." + entry (PEFT `check_target_module_exists`).
  std::vector<std::string> target_modules{"k_lin", "v_lin", "lin2"};
  /// The targets whose vector scales the layer's input instead of its output (the paper's
  /// feed-forward rescaling). A target is feed-forward when its dotted name ends with an entry,
  /// by plain suffix without a dot (PEFT 0.13.2 `IA3Model._check_target_module_feedforward`).
  /// Every entry must also be a target_modules entry (`IA3Config.__post_init__` raises otherwise).
  std::vector<std::string> feedforward_modules{"lin2"};
  /// Modules trained in full next to the adapter. PEFT 0.13.2 adds ["classifier", "score"] for
  /// SEQ_CLS and matches by plain suffix, so DistilBERT's `pre_classifier` AND `classifier`
  /// both train (see is_module_to_save()).
  std::vector<std::string> modules_to_save{"classifier", "score"};
  /// Vectors start at 1, so the wrapped model starts equal to the base (PEFT
  /// `IA3Layer.reset_ia3_parameters`); false leaves PEFT's N(0, 1) draw, which PEFT discourages.
  bool init_ia3_weights = true;
  std::string task_type = "SEQ_CLS";    ///< PEFT task type
  std::string base_model_name_or_path;  ///< recorded in adapter_config.json

  /// ConfigError for an empty target list, an empty target name, or a feed-forward module that
  /// is not among the targets.
  void validate() const;

  /// The fields a run configuration records (io/settings.h), with their flags; task_type,
  /// init_ia3_weights and base_model_name_or_path belong to adapter_config.json alone.
  template <class Self, class Visitor>
  static void fields(Self& c, Visitor&& v) {
    using io::setting;
    v(setting("target_modules", c.target_modules)
          .flag("ia3-target-modules", "(IA)3 targets (default k_lin v_lin lin2)"));
    v(setting("feedforward_modules", c.feedforward_modules)
          .flag("ia3-feedforward-modules", "(IA)3 targets scaled on the input side (default lin2)"));
    v(setting("modules_to_save", c.modules_to_save));
  }
};

/// adapter_config.json as PEFT 0.13.2 writes it for an `IA3Config` (every field, keys sorted as
/// its `json.dumps(sort_keys=True)`; target_modules and feedforward_modules sorted, where PEFT
/// writes a Python set in hash order).
io::OrderedJson to_peft_json(const Ia3Config& config);

/// Reads a PEFT (IA)³ adapter_config.json. Target and feed-forward modules are accepted in any
/// order (PEFT writes sets). For task_type SEQ_CLS, modules_to_save always holds "classifier" and
/// "score", as PEFT's PeftModelForSequenceClassification adds them. A ConfigError naming the field for: peft_type other than IA3,
/// fan_in_fan_out true, target_modules or feedforward_modules given as a regular expression or
/// missing (PEFT has no DistilBERT default), a key IA3Config does not have (PEFT's dataclass
/// refuses it too), or a config validate() refuses. `where` names the file in errors.
Ia3Config ia3_from_peft_json(const io::Json& json, const std::string& where);

}  // namespace loraft::adapter
