#pragma once
/// @file
/// @brief The report's claims as tests: each claim a measured quantity with its 95% interval
/// over seeds, a stated threshold, and a verdict that follows from them by a fixed rule.

#include <string>
#include <vector>

#include "loraft/analysis/stats.h"
#include "loraft/paper/table.h"

namespace loraft::paper {

/// What the numbers say about a claim.
enum class Verdict {
  holds,          ///< the whole 95% interval is on the claim's side of its threshold
  does_not_hold,  ///< the whole interval is on the other side
  inconclusive,   ///< the interval straddles the threshold
};

/// "holds", "does not hold" or "inconclusive".
const char* to_string(Verdict verdict);

/// How a claim's quantity is judged against its threshold(s).
enum class Rule {
  below,   ///< the claim: quantity < threshold
  above,   ///< the claim: quantity > threshold
  within,  ///< the claim: -threshold <= quantity <= threshold (e.g. "almost the same accuracy")
};

/// One claim of the report, measured.
struct Claim {
  std::string id;         ///< short stable name (the LaTeX macros' suffix): "ImdbAccuracy"
  std::string statement;  ///< the report's claim in words
  std::string quantity;   ///< what measures it, in words
  Rule rule = Rule::below;  ///< how it is judged
  double threshold = 0;   ///< the stated threshold
  analysis::SeedSummary value;  ///< the measured quantity (mean and 95% interval over seeds)

  /// The verdict of the rule on the interval [value.ci_low, value.ci_high] (a single seed's
  /// interval is its value): holds when the whole interval satisfies the claim, does not hold
  /// when none of it does, inconclusive otherwise.
  Verdict verdict() const;
  /// The rule in words with its threshold: "< 1", "> 0.5", "within ±0.01".
  std::string rule_text() const;
};

/// The claims as a table: id, statement, quantity, rule, threshold, n, mean, lo, hi, verdict.
Table claims_table(const std::vector<Claim>& claims);

}  // namespace loraft::paper
