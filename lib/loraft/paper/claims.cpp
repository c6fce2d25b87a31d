#include "loraft/paper/claims.h"

namespace loraft::paper {

const char* to_string(Verdict verdict) {
  switch (verdict) {
    case Verdict::holds: return "holds";
    case Verdict::does_not_hold: return "does not hold";
    case Verdict::inconclusive: return "inconclusive";
  }
  return "?";
}

Verdict Claim::verdict() const {
  const double lo = value.ci_low, hi = value.ci_high;
  auto judge = [](bool all_in, bool all_out) {
    return all_in ? Verdict::holds : all_out ? Verdict::does_not_hold : Verdict::inconclusive;
  };
  switch (rule) {
    case Rule::below: return judge(hi < threshold, lo >= threshold);
    case Rule::above: return judge(lo > threshold, hi <= threshold);
    case Rule::within: return judge(lo >= -threshold && hi <= threshold, hi < -threshold || lo > threshold);
  }
  return Verdict::inconclusive;
}

std::string Claim::rule_text() const {
  switch (rule) {
    case Rule::below: return "< " + cell(threshold);
    case Rule::above: return "> " + cell(threshold);
    case Rule::within: return "within +-" + cell(threshold);
  }
  return "?";
}

Table claims_table(const std::vector<Claim>& claims) {
  Table t;
  t.columns = {"id", "statement", "quantity", "rule", "n", "mean", "lo", "hi", "verdict"};
  for (const auto& c : claims)
    t.add({c.id, c.statement, c.quantity, c.rule_text(), std::to_string(c.value.n), cell(c.value.mean),
           cell(c.value.ci_low), cell(c.value.ci_high), to_string(c.verdict())});
  return t;
}

}  // namespace loraft::paper
